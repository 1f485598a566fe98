#!/usr/bin/env bash
# compare.sh: Backlot side by side with the Node.js reference stack
# (../shared/peers/node-seed: Express + multer + BullMQ on Redis + sharp in
# worker threads + SSE), on this machine, through the same public API and
# the same harness (`backlot bench`). Run from anywhere: bash bench/compare.sh
# (`make compare`).
#
# It starts everything itself and stops all of it on exit, by PID: a
# redis-server of its own on a free port (no persistence, as node-seed's
# README starts it), node-seed from a copy after `npm ci` (the peer is used
# as it is), and Backlot built from this tree. Both servers stay up for the
# whole run, but only one is loaded at a time: for each workload, a warmup
# and then the measured run against one, then the other (the order swaps
# each workload, so drift in the machine's other load hits both alike).
#
# Environment (defaults):
#   WORKLOADS     "640x480:3000 1920x1080:1500 4000x3000:300"  size:images, JPEG q90
#   PER_BATCH     2      images per upload
#   IN_FLIGHT     8      batches in flight (with RATE: the most outstanding)
#   RATE          (none) open loop: start this many batches per second whatever
#                        earlier ones do, latency counted from each batch's schedule
#                        (e.g. half of a closed-loop run's batches/s, for tail latency)
#   WARMUP        16     images before each measured run, not counted
#   ROUNDS        3      measured runs per workload and stack, alternating the
#                        stacks; the table shows each stack's median run (by img/s), and each
#                        latency and CPU column's own median over the runs
#   WIDTH HEIGHT  100    output box (cover, JPEG q85: both servers' defaults)
#   NODE_SEED     <repo>/../shared/peers/node-seed
#   OUT           <repo>/bench/results/<UTC time>   JSON reports, text reports, logs, table
#   BACKLOT_BIN   a prebuilt backlot binary (default: go build ./cmd/backlot, cgo as
#                 the environment has it; CGO_ENABLED=0 builds the pure-Go one)
#   BACKLOT_ARGS  extra `backlot serve` flags (e.g. "--workers 2")
#   PIPE_TIME     3s     -benchtime of the pipeline benchmark (one per size, servers idle)
# Each measured run lasts seconds to a minute: long enough that startup
# effects fade, short enough that the defaults (3 rounds) end within about ten minutes
# on 2 cores (npm ci included) even with a pure-Go JPEG decoder. img/s moves
# with whatever else the machine runs; CPU ms per image (server CPU time over
# completed images) moves far less, so read both.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workloads=${WORKLOADS:-"640x480:3000 1920x1080:1500 4000x3000:300"}
per_batch=${PER_BATCH:-2}
in_flight=${IN_FLIGHT:-8}
rate=${RATE:-}
warmup=${WARMUP:-16}
rounds=${ROUNDS:-3}
width=${WIDTH:-100}
height=${HEIGHT:-100}
peer=${NODE_SEED:-$root/../shared/peers/node-seed}
out=${OUT:-$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
pipe_time=${PIPE_TIME:-3s}

say() { printf 'compare: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in node npm redis-server jq python3; do
	command -v "$tool" >/dev/null || die "$tool is needed (redis-server: apt-get install redis-server)"
done
[ -f "$peer/server.js" ] || die "no node-seed at $peer (set NODE_SEED)"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
run_setup compare
"$bin" bench -h >/dev/null 2>&1 || die "$bin has no bench command"

# ---------------------------------------------------------------- node-seed
say "copying node-seed and running npm ci"
mkdir "$tmp/node-seed"
(cd "$peer" && tar --exclude=node_modules --exclude=data -cf - .) | tar -xf - -C "$tmp/node-seed"
chmod -R u+w "$tmp/node-seed" # shared/ is read-only, and so is the copy's mode
(cd "$tmp/node-seed" && npm ci --no-audit --no-fund --loglevel=error) >"$out/npm-ci.log" 2>&1 ||
	{ tail -n 30 "$out/npm-ci.log" >&2; die "npm ci failed"; }

rport=$(free_port)
mkdir "$tmp/redis"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/redis" \
	>"$out/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
wait_for "$out/redis.log" "Ready to accept connections" "$redis_pid" redis-server

nport=$(free_port)
(cd "$tmp/node-seed" && PORT=$nport REDIS_URL=redis://127.0.0.1:$rport DATA_DIR=$tmp/node-data exec ./run.sh) \
	>"$out/node.log" 2>&1 &
node_pid=$! # run.sh execs node: the same process
pids+=("$node_pid")
wait_for "$out/node.log" "listening on :$nport" "$node_pid" node-seed
node_url=http://127.0.0.1:$nport

# ---------------------------------------------------------------- Backlot
# shellcheck disable=SC2086 # BACKLOT_ARGS is a list of flags
"$bin" serve --listen 127.0.0.1:0 --data "$tmp/backlot-data" --log-format json ${BACKLOT_ARGS:-} \
	>"$out/backlot.log" 2>&1 &
backlot_pid=$!
pids+=("$backlot_pid")
wait_for "$out/backlot.log" '"msg":"backlot listening"' "$backlot_pid" backlot
backlot_url=http://$(jq -r 'select(.msg == "backlot listening") | .addr' "$out/backlot.log" | head -n1)

jpeg=go
if ldd "$bin" 2>/dev/null | grep -q turbojpeg; then jpeg=libjpeg-turbo; fi
{
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "backlot: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo '?'), $(go version 2>/dev/null | cut -d' ' -f3), JPEG decoder $jpeg, pid $backlot_pid, $backlot_url"
	echo "node-seed: node $(node --version), sharp $(jq -r .version "$tmp/node-seed/node_modules/sharp/package.json"), redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2), pid $node_pid (+ redis pid $redis_pid), $node_url"
	echo "workload: generated photo-like JPEG q90 -> ${width}x${height} cover, $per_batch per batch, ${rate:+open loop at $rate batches/s, at most }$in_flight batches in flight, warmup $warmup"
} | tee "$out/machine.txt" >&2

# ---------------------------------------------------------------- runs
status=0
bench() { # name url size total round pid...
	local name=$1 url=$2 size=$3 total=$4 round=$5
	shift 5
	local pidargs=() report=$out/$size-$name-$round cal=--calibrate=false
	for p in "$@"; do pidargs+=(--pid "$p"); done
	# Backlot's CPU per image beyond its own pipeline (timed by the bench
	# after the run); sharp's pipeline is another, so not for Node.
	[ "$name" = backlot ] && cal=--calibrate
	[ -n "$rate" ] && pidargs+=(--rate "$rate")
	# Each run starts with the dirty pages of the runs before it on disk:
	# else the kernel's writeback of one stack's files (every 5 s, once
	# 30 s old) lands in the next run, whichever stack it measures, as
	# stalls of a fsync (its p99 then measures the run before).
	sync
	say "$size x $total against $name, round $round of $rounds (load average $(cut -d' ' -f1 /proc/loadavg))"
	if ! "$bin" bench --url "$url" --size "$size" --total "$total" --per-batch "$per_batch" \
		--in-flight "$in_flight" --warmup "$warmup" --width "$width" --height "$height" \
		--label "$name" --json "$report.json" --progress lines "$cal" "${pidargs[@]}" \
		>"$report.txt"; then
		status=1
	fi
	cat "$report.txt" >&2
	# A Ctrl-C reaches the bench, which reports and exits 1; bash then lets
	# the script go on (the child did not die of the signal), so look.
	if jq -e '.interrupted == true' "$report.json" >/dev/null 2>&1; then
		die "interrupted"
	fi
	for p in "$redis_pid" "$node_pid" "$backlot_pid"; do
		kill -0 "$p" 2>/dev/null || die "server pid $p has exited; see the logs in $out"
	done
}

i=0
for w in $workloads; do
	size=${w%%:*} total=${w##*:}
	for ((r = 1; r <= rounds; r++)); do
		if ((i % 2 == 0)); then
			bench backlot "$backlot_url" "$size" "$total" "$r" "$backlot_pid"
			bench node "$node_url" "$size" "$total" "$r" "$node_pid" "$redis_pid"
		else
			bench node "$node_url" "$size" "$total" "$r" "$node_pid" "$redis_pid"
			bench backlot "$backlot_url" "$size" "$total" "$r" "$backlot_pid"
		fi
		i=$((i + 1))
	done
done

# ---------------------------------------------------------------- pipeline
# Backlot's own pipeline on as many goroutines as CPUs (open, decode,
# resize, encode, fsync'd write; no HTTP, store or SSE), each workload's
# size, with the servers idle: the ceiling its end-to-end img/s is read
# against (issue 5: >= 85 %). The same decoder as the binary.
say "pipeline: go test -bench ProcessParallel, $pipe_time per size, the servers idle"
pipe_sizes=$(for w in $workloads; do printf '%s ' "${w%%:*}"; done)
cgo=1
if [ "$jpeg" = go ]; then cgo=0; fi
if (cd "$root" && CGO_ENABLED=$cgo BACKLOT_BENCH_SIZES="$pipe_sizes" \
	go test -run '^$' -bench '^BenchmarkProcessParallel$' -benchtime "$pipe_time" ./actors/resize/) >"$out/pipeline.txt" 2>&1; then
	# BenchmarkProcessParallel/640x480-2  2790  1075466 ns/op  930.0 images/s ...
	pipeline=$(awk '$1 ~ /^BenchmarkProcessParallel\// {
		split($1, a, "/"); sub(/-[0-9]+$/, "", a[2])
		for (i = 2; i < NF; i++) if ($(i + 1) == "images/s") printf "%s%s:%s", (n++ ? "," : ""), "\"" a[2] "\"", $i
	} END { print "" }' "$out/pipeline.txt")
	pipeline="{$pipeline}"
else
	say "the pipeline benchmark failed (see $out/pipeline.txt); its columns stay empty"
	status=1
	pipeline='{}'
fi
grep '^Benchmark' "$out/pipeline.txt" >&2 || true

# ---------------------------------------------------------------- table
table() {
	printf 'workload\timages B/N\tBacklot img/s\tNode img/s\tBacklot/Node\tp50 done ms B\tp50 done ms N\tp95 done ms B\tp95 done ms N\tp99 done ms B\tp99 done ms N\tupload p50 ms B\tupload p50 ms N\tCPU ms/img B\tCPU ms/img N\tB beyond pipeline ms/img\tpeak RSS MiB B\tpeak RSS MiB N (node+redis)\terrors B/N\tpipeline img/s\tB/pipeline\n'
	for w in $workloads; do
		size=${w%%:*}
		b=("$out/$size"-backlot-*.json) n=("$out/$size"-node-*.json)
		if [ ! -s "${b[0]}" ] || [ ! -s "${n[0]}" ]; then
			printf '%s\t-\t(no report)\n' "$size"
			continue
		fi
		jq -r -n --slurpfile b <(cat "${b[@]}") --slurpfile n <(cat "${n[@]}") --argjson pipe "$pipeline" '
			def mib: (map(.peak_rss_bytes) | add // 0) / 1048576 | . * 10 | round / 10;
			def r1: . * 10 | round / 10;
			def cpu($r): if $r.images.completed > 0 then ($r.processes | map(.cpu_seconds) | add // 0) * 1000 / $r.images.completed | r1 else "-" end;
			def median: sort_by(.images_per_sec) | .[(length / 2 | floor)];
			def med(f): map(f) | sort | .[(length / 2 | floor)];
			def cpus: map(cpu(.)) | map(select(type == "number"));
			$b as $ball | $n as $nall | ($b | median) as $b | ($n | median) as $n |
			[ $b.workload.size, ($b.images.completed | tostring) + "/" + ($n.images.completed | tostring),
			  ($b.images_per_sec | r1), ($n.images_per_sec | r1),
			  (if $n.images_per_sec > 0 then ($b.images_per_sec / $n.images_per_sec * 100 | round / 100 | tostring) + "x" else "-" end),
			  ($ball | med(.completion_latency.p50_ms) | round), ($nall | med(.completion_latency.p50_ms) | round),
			  ($ball | med(.completion_latency.p95_ms) | round), ($nall | med(.completion_latency.p95_ms) | round),
			  ($ball | med(.completion_latency.p99_ms) | round), ($nall | med(.completion_latency.p99_ms) | round),
			  ($ball | med(.upload_latency.p50_ms) | r1), ($nall | med(.upload_latency.p50_ms) | r1),
			  ($ball | cpus | if length > 0 then sort | .[(length / 2 | floor)] else "-" end),
			  ($nall | cpus | if length > 0 then sort | .[(length / 2 | floor)] else "-" end),
			  ($ball | map(.processes[0].beyond_pipeline_ms_per_image // empty) | if length > 0 then sort | .[(length / 2 | floor)] | r1 else "-" end),
			  ($b.processes | mib), (($n.processes | mib | tostring) + " (" + ([$n.processes[] | .peak_rss_bytes / 1048576 | round | tostring] | join("+")) + ")"),
			  ($ball | map(.error_total) | add | tostring) + "/" + ($nall | map(.error_total) | add | tostring),
			  ($pipe[$b.workload.size] // "-"),
			  (if ($pipe[$b.workload.size] // 0) > 0 then ($b.images_per_sec / $pipe[$b.workload.size] * 100 | round | tostring) + " %" else "-" end)
			] | @tsv'
	done
}
{
	table | column -t -s $'\t'
	echo
	echo "Each row: img/s and peak RSS from each stack's median of $rounds measured runs by img/s, latencies and CPU each column's own"
	echo "median over the runs (open loop offers every run the same img/s, so no run is the median one; runs alternate between the stacks; every run's report is"
	echo "in $out). img/s: completed images / (first upload to last done); p50/p95/p99 done: per batch, upload start (open loop:"
	echo "its scheduled start) to its done event; upload p50: to the 202; CPU ms/img: the server's user+system CPU (all threads;"
	echo "Node: node + redis-server) per completed image; B beyond pipeline: Backlot's CPU ms/img minus its resize pipeline's own,"
	echo "timed by the bench after each run (--calibrate); peak RSS: VmHWM during the run; errors: all runs'. B = Backlot,"
	echo "N = node-seed. One machine, one at a time."
	echo "pipeline img/s: Backlot's resize pipeline alone on $(nproc) goroutines (go test -bench ProcessParallel, $out/pipeline.txt);"
	echo "B/pipeline: Backlot's end-to-end img/s over it. The bench client runs on the same CPUs (its CPU is in each report)."
} | tee "$out/table.txt"
say "reports: $out/*.json; table: $out/table.txt"
exit "$status"
