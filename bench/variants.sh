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
# INPUTS picks the images: "synthetic" (resize.Synthetic: gradients,
# discs, bars and per-pixel noise), "photo" (N 1920x1080 crops, at the
# photo's own resolution, of a real iPhone photograph: BACKLOT_PHOTO, or
# SeaweedFS's weed/images/sample1.jpg, 2592x1936, which the S3 tests put
# in the module cache), or "both" (the default: each set in turn, photo
# skipped with a note when there is none). Both matter: the synthetic
# noise is where two WebP encodes of nearly equal pixels drift furthest
# apart (bench/README.md, issue 20), the photo is what users upload.
#
#   N (40) ROUNDS (3) INPUTS (both) NODE_SEED (<repo>/../shared/peers/node-seed)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${N:-40}
rounds=${ROUNDS:-3}
inputs=${INPUTS:-both}
peer=${NODE_SEED:-$root/../shared/peers/node-seed}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/backlot-variants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

photo=${BACKLOT_PHOTO:-}
if [ -z "$photo" ]; then
	photo=$(ls -d "$(go env GOMODCACHE)"/github.com/seaweedfs/seaweedfs@*/weed/images/sample1.jpg 2>/dev/null | tail -n 1 || true)
fi
case $inputs in
synthetic) sets=synthetic ;;
photo)
	[ -f "$photo" ] || { echo "INPUTS=photo: no photo (set BACKLOT_PHOTO, or run the S3 tests once: scripts/weed.sh)" >&2; exit 1; }
	sets=photo ;;
both)
	sets=synthetic
	if [ -f "$photo" ]; then sets="synthetic photo"; else echo "no photo (BACKLOT_PHOTO, or scripts/weed.sh's SeaweedFS module): synthetic inputs only" >&2; fi ;;
*) echo "INPUTS is synthetic, photo or both, not $inputs" >&2; exit 1 ;;
esac

(cd "$peer" && tar --exclude=node_modules --exclude=data -cf - .) | (mkdir -p "$tmp/node-seed" && tar -xf - -C "$tmp/node-seed")
(cd "$tmp/node-seed" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm-ci.log" 2>&1 || { tail -n 20 "$tmp/npm-ci.log" >&2; exit 1; }
(cd "$root" && go build -o "$tmp/variants" ./actors/resize/encbench/variants)
for set in $sets; do
	in=$tmp/in-$set
	if [ "$set" = photo ]; then
		mkdir -p "$in/photo" && cp "$photo" "$in/photo/source.jpg"
		"$tmp/variants" gen "$n" "$in" photo/source.jpg
		echo "inputs: $n 1920x1080 crops of $photo"
	else
		"$tmp/variants" gen "$n" "$in"
		echo "inputs: $n synthetic 1920x1080 images"
	fi
	for r in $(seq 1 "$rounds"); do
		rm -rf "$tmp/backlot" "$tmp/sharp"
		if [ $((r % 2)) = 1 ]; then order="backlot sharp"; else order="sharp backlot"; fi
		for who in $order; do
			case $who in
			backlot) res=$("$tmp/variants" run "$in" "$tmp/backlot") ;;
			sharp) res=$(NODE_SEED_MODULES="$tmp/node-seed/node_modules" node "$root/bench/variants/sharp-variants.js" "$in/v" "$tmp/sharp/v" | tail -n 1) ;;
			esac
			printf '%-9s round %d %-7s %s\n' "$set" "$r" "$who" "$res"
		done
	done
	printf '%-9s ssim (Backlot against sharp, luma): %s\n' "$set" "$("$tmp/variants" ssim "$tmp/backlot" "$tmp/sharp")"
done
