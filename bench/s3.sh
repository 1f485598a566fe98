#!/usr/bin/env bash
# s3.sh: what keeping image bytes in an object store costs against files.
# Run from anywhere: bash bench/s3.sh
#
# It starts everything itself and stops all of it on exit, by PID: a
# SeaweedFS (`weed mini`, as the tests run it: 127.0.0.1 only, telemetry
# off) with a bucket, and two `backlot serve` on the embedded store, one
# with files under --data (the default) and one with --blobs s3://. For
# each workload it loads one, then the other (the order swaps each
# round), with `backlot bench`, and prints each server's median run (by
# img/s): images/s, upload 202 p50, p95 to done, and the CPU time of the
# node and of SeaweedFS per image.
#
# Environment (defaults):
#   WORKLOADS    "640x480:1000 1920x1080:400"  size:images, JPEG q90 -> 100x100
#   PER_BATCH    2    images per upload
#   IN_FLIGHT    8    batches in flight
#   ROUNDS       3    measured runs per workload and server
#   OUT          <repo>/bench/results/s3-<UTC time>
#   BACKLOT_BIN  a prebuilt backlot binary (default: go build ./cmd/backlot)
#   WEED         the weed binary (default: scripts/weed.sh, built once)
#   BACKLOT_ARGS extra `backlot serve` flags for both
#   WEED_ARGS    extra `weed mini` flags (e.g. -s3.cacheCapacityMB=64)
#   WEED_ENV     environment for weed, as NAME=value words (e.g. GOGC=200)
#   FILES        upload these image files (comma-separated) instead of
#                generated ones; WORKLOADS then names them: "big:40"
#   PROFILE      seconds of CPU profile of the S3 node in each workload's
#                first S3 run, into OUT/<size>-s3.pprof (0: none)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workloads=${WORKLOADS:-"640x480:1000 1920x1080:400"}
per_batch=${PER_BATCH:-2}
in_flight=${IN_FLIGHT:-8}
rounds=${ROUNDS:-3}
out=${OUT:-$root/bench/results/s3-$(date -u +%Y%m%dT%H%M%SZ)}

say() { printf 's3: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for tool in jq python3 curl; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
run_setup s3
weed=${WEED:-$("$root/scripts/weed.sh")}

# ---------------------------------------------------------------- SeaweedFS
key=bench secret=bench-secret-key
mkdir -p "$tmp/weed/data"
cat >"$tmp/weed/s3.json" <<EOF
{"identities": [{"name": "bench", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
declare -A port
# Every port weed listens on, the admin's gRPC included (its default,
# 22535, would collide with another weed mini running meanwhile).
for p in master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc s3.port s3.port.grpc admin.port admin.port.grpc; do
	port[$p]=$(free_port)
done
args=()
for p in "${!port[@]}"; do args+=("-$p=${port[$p]}"); done
# shellcheck disable=SC2086 # WEED_ENV and WEED_ARGS are lists of words
(cd "$tmp/weed" && exec env ${WEED_ENV:-} "$weed" mini -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$tmp/weed/data" -master.telemetry=false \
	-admin.ui=false -admin.port.legacy=0 -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.iam=false -s3.config="$tmp/weed/s3.json" \
	-filer.localSocket="$tmp/weed/filer.sock" -s3.localSocket="$tmp/weed/s3.sock" "${args[@]}" ${WEED_ARGS:-}) >"$out/weed.log" 2>&1 &
wpid=$!
pids+=("$wpid")
endpoint=127.0.0.1:${port[s3.port]}
for _ in $(seq 600); do
	curl -fsS "http://$endpoint/healthz" >/dev/null 2>&1 && break
	kill -0 "$wpid" 2>/dev/null || die "weed exited; see $out/weed.log"
	sleep 0.1 # polling a process we cannot wait on otherwise
done
curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" -X PUT "http://$endpoint/bench" >/dev/null ||
	die "could not make the bucket"

# ---------------------------------------------------------------- Backlot
declare -A node_url node_pid
for mode in files s3; do
	extra=()
	[ "$mode" = s3 ] && extra=(--blobs s3://bench/p --s3-endpoint "http://$endpoint" --s3-path-style)
	# shellcheck disable=SC2086 # BACKLOT_ARGS is a list of flags
	[ "${PROFILE:-0}" != 0 ] && extra+=(--pprof)
	AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret "$bin" serve --listen 127.0.0.1:0 --data "$tmp/data-$mode" \
		--log-format json "${extra[@]}" ${BACKLOT_ARGS:-} >"$out/backlot-$mode.log" 2>&1 &
	node_pid[$mode]=$!
	pids+=("${node_pid[$mode]}")
	wait_for "$out/backlot-$mode.log" '"msg":"backlot listening"' "${node_pid[$mode]}" "backlot ($mode)"
	node_url[$mode]=http://$(jq -r 'select(.msg == "backlot listening") | .addr' "$out/backlot-$mode.log" | head -n1)
done
{
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "backlot: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo '?'); weed mini $(basename "$(dirname "$weed")") on $endpoint ${WEED_ENV:-} ${WEED_ARGS:-}"
	echo "workload: generated photo-like JPEG q90 -> 100x100 cover, $per_batch per batch, $in_flight batches in flight"
} | tee "$out/machine.txt" >&2

for w in $workloads; do
	size=${w%%:*} total=${w##*:}
	for ((r = 1; r <= rounds; r++)); do
		order="files s3"
		((r % 2 == 0)) && order="s3 files"
		for mode in $order; do
			rep=$out/$size-$mode-$r
			say "$size x $total against $mode, round $r of $rounds"
			prof=
			if [ "${PROFILE:-0}" != 0 ] && [ "$mode" = s3 ] && [ "$r" = 1 ]; then
				curl -fsS -o "$out/$size-s3.pprof" "${node_url[$mode]}/debug/pprof/profile?seconds=$PROFILE" &
				prof=$!
			fi
			src=(--size "$size")
			[ -n "${FILES:-}" ] && src=(--files "$FILES")
			"$bin" bench --url "${node_url[$mode]}" "${src[@]}" --total "$total" --per-batch "$per_batch" \
				--in-flight "$in_flight" --warmup 16 --label "$mode" --json "$rep.json" --progress off --calibrate=false \
				--pid "${node_pid[$mode]}" --pid "$wpid" >"$rep.txt" || true
			[ -n "$prof" ] && { wait "$prof" || true; }
		done
	done
done

# ---------------------------------------------------------------- table
python3 - "$out" "$workloads" "$rounds" <<'EOF' | tee "$out/table.md"
import json, sys
out, workloads, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
print('| workload | blobs | img/s (runs) | upload p50 ms | p95 to done ms | node CPU ms/image | weed CPU ms/image | node peak RSS MiB |')
print('| --- | --- | --- | --- | --- | --- | --- | --- |')
for w in workloads:
    size = w.split(':')[0]
    for mode in ('files', 's3'):
        runs = []
        for r in range(1, rounds + 1):
            try:
                rep = json.load(open(f'{out}/{size}-{mode}-{r}.json'))
            except Exception:
                continue
            procs = rep.get('processes') or []
            n = max(rep['images']['completed'], 1)
            cpu = [p.get('cpu_seconds', 0) * 1000 / n for p in procs]
            runs.append(dict(ips=rep['images_per_sec'], up=rep['upload_latency']['p50_ms'],
                             done=rep['completion_latency']['p95_ms'], cpu=cpu, errors=rep.get('error_total', 0),
                             rss=(procs[0].get('peak_rss_bytes', 0) / 2**20) if procs else 0))
        if not runs:
            continue
        all_ips = ', '.join(f"{x['ips']:.0f}" for x in runs)
        runs.sort(key=lambda x: x['ips'])
        m = runs[len(runs) // 2]
        node = f"{m['cpu'][0]:.1f}" if len(m['cpu']) > 0 else '?'
        weed = f"{m['cpu'][1]:.1f}" if len(m['cpu']) > 1 else '?'
        print(f"| {size} | {mode} | {m['ips']:.1f} ({all_ips}) | {m['up']:.1f} | {m['done']:.0f} | {node} | {weed} | {max(x['rss'] for x in runs):.0f} |"
              + (f" ({m['errors']} errors)" if m['errors'] else ''))
EOF
say "done: $out/table.md"
