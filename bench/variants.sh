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
# discs, bars and per-pixel noise), "photo" (N 1920x1080 crops, at each
# photo's own resolution, taken in turn from real photographs), or "both"
# (the default: each set in turn, photo skipped with a note when there is
# none). Both matter: the synthetic noise is where two WebP encodes of
# nearly equal pixels drift furthest apart (bench/README.md, issue 20),
# the photos are what users upload.
#
# The photographs: BACKLOT_PHOTOS (a directory: every *.jpg and *.jpeg in
# it, each at least 1920x1080), BACKLOT_PHOTO (one file), or else eleven
# found here (the first N when N is smaller; none fetched for
# INPUTS=synthetic):
# SeaweedFS's weed/images/sample1.jpg (an iPhone photo, 2592x1936, which
# the S3 tests put in the module cache) and ten photographs from Debian's
# mate-backgrounds (nine 1920x1200 to 2560x1920 nature shots) and
# lomiri-wallpapers-20.04 (a 6028x3391 bird), fetched once with `apt-get
# download` into $XDG_CACHE_HOME/backlot/photos (~/.cache), never installed.
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

# debian_photos fills $1 with the Debian photographs (see above), once:
# a package that cannot be downloaded or unpacked leaves a note and its
# photos out, and is tried again next time.
debian_photos() {
	local dir=$1 dl missing=0
	[ -f "$dir/.complete" ] && return 0
	mkdir -p "$dir"
	dl=$(mktemp -d "$tmp/photos.XXXXXX")
	for spec in \
		"mate-backgrounds usr/share/backgrounds/mate/nature Aqua Blinds Garden LadyBird RainDrops Storm TwoWings Wood YellowFlower" \
		"lomiri-wallpapers-20.04 usr/share/backgrounds Kleiber_by_Lukas_Baubkus"; do
		set -- $spec
		local pkg=$1 sub=$2
		shift 2
		if ! (cd "$dl" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg-deb -x "$pkg"_*.deb root); then
			echo "photos: apt-get download $pkg failed (or its .deb did not unpack): its photos are left out" >&2
			missing=1
			continue
		fi
		for f in "$@"; do cp "$dl/root/$sub/$f.jpg" "$dir/" || { echo "photos: $pkg has no $sub/$f.jpg" >&2; missing=1; }; done
	done
	rm -rf "$dl"
	[ "$missing" = 0 ] && touch "$dir/.complete"
	return 0
}

case $inputs in
synthetic | photo | both) ;;
*) echo "INPUTS is synthetic, photo or both, not $inputs" >&2; exit 1 ;;
esac
photos=()
if [ "$inputs" = synthetic ]; then
	: # no photo wanted: nothing to find or fetch
elif [ -n "${BACKLOT_PHOTOS:-}" ]; then
	for f in "$BACKLOT_PHOTOS"/*; do
		case ${f,,} in *.jpg | *.jpeg) [ -f "$f" ] && photos+=("$f") ;; esac
	done
	[ ${#photos[@]} -gt 0 ] || { echo "photos: no *.jpg or *.jpeg in BACKLOT_PHOTOS=$BACKLOT_PHOTOS" >&2; exit 1; }
elif [ -n "${BACKLOT_PHOTO:-}" ]; then
	[ -f "$BACKLOT_PHOTO" ] || { echo "photos: BACKLOT_PHOTO=$BACKLOT_PHOTO is not a file" >&2; exit 1; }
	photos=("$BACKLOT_PHOTO")
else
	sample=$(ls -d "$(go env GOMODCACHE)"/github.com/seaweedfs/seaweedfs@*/weed/images/sample1.jpg 2>/dev/null | tail -n 1 || true)
	[ -f "$sample" ] && photos+=("$sample")
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/backlot/photos
	debian_photos "$cache"
	for f in "$cache"/*.jpg; do [ -f "$f" ] && photos+=("$f"); done
fi
if [ ${#photos[@]} -gt "$n" ]; then
	echo "photos: ${#photos[@]} photographs for N=$n inputs: the first $n are used" >&2
	photos=("${photos[@]:0:$n}")
fi
case $inputs in
synthetic) sets=synthetic ;;
photo)
	[ ${#photos[@]} -gt 0 ] || { echo "INPUTS=photo: no photo (BACKLOT_PHOTOS, BACKLOT_PHOTO, scripts/weed.sh's module or apt-get download)" >&2; exit 1; }
	sets=photo ;;
both)
	sets=synthetic
	if [ ${#photos[@]} -gt 0 ]; then sets="synthetic photo"; else echo "no photo (BACKLOT_PHOTOS, BACKLOT_PHOTO, scripts/weed.sh's module or apt-get download): synthetic inputs only" >&2; fi ;;
esac

(cd "$peer" && tar --exclude=node_modules --exclude=data -cf - .) | (mkdir -p "$tmp/node-seed" && tar -xf - -C "$tmp/node-seed")
(cd "$tmp/node-seed" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm-ci.log" 2>&1 || { tail -n 20 "$tmp/npm-ci.log" >&2; exit 1; }
(cd "$root" && go build -o "$tmp/variants" ./actors/resize/encbench/variants)
for set in $sets; do
	in=$tmp/in-$set
	if [ "$set" = photo ]; then
		mkdir -p "$in/photo"
		keys=()
		for k in "${!photos[@]}"; do
			cp "${photos[$k]}" "$in/photo/$k.jpg"
			keys+=("photo/$k.jpg")
		done
		"$tmp/variants" gen "$n" "$in" "${keys[@]}"
		echo "inputs: $n 1920x1080 crops of ${#photos[@]} photographs: ${photos[*]}"
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
