#!/usr/bin/env bash
# Builds SeaweedFS's `weed` binary once, for the S3 tests
# (persistence/blob/s3blob/seaweedtest), and prints its path.
#
# `go install github.com/seaweedfs/seaweedfs/weed@VERSION` is refused (its
# go.mod has replace directives), so the module's zip is downloaded through the
# module proxy, unpacked into a temp dir and built there. The first build takes
# ~7 minutes and ~2.5 GB of module cache; the binary (~220 MB) is cached outside
# the clone, under the user's cache dir keyed by version, so only the first run
# pays. BACKLOT_WEED overrides the path (then nothing is built).
set -euo pipefail

GO=${GO:-go}
VERSION=${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}

if [ -n "${BACKLOT_WEED:-}" ]; then
  [ -x "$BACKLOT_WEED" ] || { echo "BACKLOT_WEED=$BACKLOT_WEED is not an executable" >&2; exit 1; }
  echo "$BACKLOT_WEED"; exit 0
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/backlot/seaweedfs/$VERSION
bin=$cache/weed
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
echo "building SeaweedFS weed $VERSION into $bin (first time only: ~7 minutes, ~2.5 GB of module cache)" >&2
zip=$(cd "$cache" && "$GO" mod download -json "github.com/seaweedfs/seaweedfs@$VERSION" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$zip" ] || { echo "go mod download gave no zip for seaweedfs@$VERSION" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
( cd "$work" && unzip -q "$zip" )
src="$work/github.com/seaweedfs/seaweedfs@$VERSION"
start=$(date +%s)
( cd "$src" && CGO_ENABLED=0 GOFLAGS= "$GO" build -o "$cache/weed.tmp" ./weed )
mv "$cache/weed.tmp" "$bin"
echo "built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
