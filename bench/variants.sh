#!/usr/bin/env bash
# variants.sh: issue 20's side by side with sharp. The same N 1920x1080
# JPEGs (q90, photo-like, made by actors/resize/encbench/variants), each made into four
# WebP variants (100x100 and 320x320 cover, 800x800 and 1600x1600 inside,
# q85, effort/method 4) by Backlot's pipeline (resize.Process from one
# decode, two images at a time: a 2-core node's two resizers) and by sharp
# 0.35 from ../shared/peers/node-seed (one input cloned per variant, two
# images at a time, one libvips thread each). Pipelines only, no HTTP or
# queue on either side. Prints images/s and CPU ms per image of each,
# ROUNDS times alternating, then the SSIM of Backlot's outputs against
# sharp's, per variant.
#
#   N (40) ROUNDS (3) NODE_SEED (<repo>/../shared/peers/node-seed)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${N:-40}
rounds=${ROUNDS:-3}
peer=${NODE_SEED:-$root/../shared/peers/node-seed}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/backlot-variants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

(cd "$peer" && tar --exclude=node_modules --exclude=data -cf - .) | (mkdir -p "$tmp/node-seed" && tar -xf - -C "$tmp/node-seed")
(cd "$tmp/node-seed" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm-ci.log" 2>&1 || { tail -n 20 "$tmp/npm-ci.log" >&2; exit 1; }
(cd "$root" && go build -o "$tmp/variants" ./actors/resize/encbench/variants)
"$tmp/variants" gen "$n" "$tmp/in"
for r in $(seq 1 "$rounds"); do
	rm -rf "$tmp/backlot" "$tmp/sharp"
	if [ $((r % 2)) = 1 ]; then order="backlot sharp"; else order="sharp backlot"; fi
	for who in $order; do
		case $who in
		backlot) res=$("$tmp/variants" run "$tmp/in" "$tmp/backlot") ;;
		sharp) res=$(NODE_SEED_MODULES="$tmp/node-seed/node_modules" node "$root/bench/variants/sharp-variants.js" "$tmp/in/v" "$tmp/sharp/v" | tail -n 1) ;;
		esac
		printf 'round %d %-7s %s\n' "$r" "$who" "$res"
	done
done
printf 'ssim (Backlot against sharp, luma): %s\n' "$("$tmp/variants" ssim "$tmp/backlot" "$tmp/sharp")"
