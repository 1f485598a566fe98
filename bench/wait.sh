#!/usr/bin/env bash
# wait.sh: what WAIT costs, and what one Redis primary takes per image.
# Run from anywhere: bash bench/wait.sh
#
# It starts everything itself and stops all of it on exit, by PID: a Redis
# primary and its replica (no persistence, as compare.sh's Redis), three
# Sentinels, and two `backlot serve` reaching the primary through the
# Sentinels, one with --redis-wait-replicas 1 (every batch, event and
# fencing token waits for the replica: WAIT 1) and one with 0 (no WAIT),
# on key prefixes of their own. For each workload it loads one, then the
# other (the order swaps each round), with `backlot bench`, and reads
# Redis's INFO around each run: commands (commandstats), bytes in and out,
# the replication stream, memory and the primary's CPU time, each divided
# by the images completed. The table shows each server's median run (by
# img/s) and those per-image figures.
#
# Environment (defaults):
#   WORKLOADS    "640x480:2000 1920x1080:600"  size:images, JPEG q90
#   PER_BATCH    2    images per upload
#   IN_FLIGHT    8    batches in flight
#   ROUNDS       3    measured runs per workload and server
#   OUT          <repo>/bench/results/wait-<UTC time>
#   BACKLOT_BIN  a prebuilt backlot binary (default: go build ./cmd/backlot)
#   BACKLOT_ARGS extra `backlot serve` flags for both
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workloads=${WORKLOADS:-"640x480:2000 1920x1080:600"}
per_batch=${PER_BATCH:-2}
in_flight=${IN_FLIGHT:-8}
rounds=${ROUNDS:-3}
out=${OUT:-$root/bench/results/wait-$(date -u +%Y%m%dT%H%M%SZ)}

say() { printf 'wait: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for tool in redis-server redis-cli jq python3; do
	command -v "$tool" >/dev/null || die "$tool is needed (redis-server, redis-cli: apt-get install redis-server)"
done

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
run_setup wait

# ---------------------------------------------------------------- Redis
pport=$(free_port)
rport=$(free_port)
mkdir "$tmp/primary" "$tmp/replica"
redis-server --port "$pport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/primary" >"$out/primary.log" 2>&1 &
ppid=$!
pids+=("$ppid")
wait_for "$out/primary.log" "Ready to accept connections" "$ppid" primary
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/replica" \
	--replicaof 127.0.0.1 "$pport" >"$out/replica.log" 2>&1 &
rpid=$!
pids+=("$rpid")
wait_for "$out/replica.log" "MASTER <-> REPLICA sync: Finished with success" "$rpid" replica
sentinels=()
for i in 1 2 3; do
	sport=$(free_port)
	mkdir "$tmp/sentinel$i"
	cat >"$tmp/sentinel$i/sentinel.conf" <<EOF
port $sport
bind 127.0.0.1
dir $tmp/sentinel$i
sentinel monitor backlot 127.0.0.1 $pport 2
sentinel down-after-milliseconds backlot 2000
sentinel failover-timeout backlot 10000
EOF
	redis-server "$tmp/sentinel$i/sentinel.conf" --sentinel >"$out/sentinel$i.log" 2>&1 &
	spid=$!
	pids+=("$spid")
	wait_for "$out/sentinel$i.log" "Sentinel ID is" "$spid" "sentinel $i"
	sentinels+=("127.0.0.1:$sport")
done
url="redis-sentinel://$(
	IFS=,
	echo "${sentinels[*]}"
)/0?master=backlot"

# ---------------------------------------------------------------- Backlot
declare -A node_url node_pid
for mode in wait nowait; do
	n=1
	[ "$mode" = nowait ] && n=0
	# shellcheck disable=SC2086 # BACKLOT_ARGS is a list of flags
	"$bin" serve --listen 127.0.0.1:0 --data "$tmp/data-$mode" --log-format json --redis "$url" \
		--redis-prefix "$mode" --node-id "$mode" --redis-wait-replicas "$n" ${BACKLOT_ARGS:-} \
		>"$out/backlot-$mode.log" 2>&1 &
	node_pid[$mode]=$!
	pids+=("${node_pid[$mode]}")
	wait_for "$out/backlot-$mode.log" '"msg":"backlot listening"' "${node_pid[$mode]}" "backlot ($mode)"
	node_url[$mode]=http://$(jq -r 'select(.msg == "backlot listening") | .addr' "$out/backlot-$mode.log" | head -n1)
done
{
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "backlot: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo '?'); redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2): primary $pport, replica $rport, sentinels ${sentinels[*]}"
	echo "workload: generated photo-like JPEG q90 -> 100x100 cover, $per_batch per batch, $in_flight batches in flight"
} | tee "$out/machine.txt" >&2

# snapshot FILE: the primary's INFO (all sections but the keyspace's).
snapshot() { redis-cli -p "$pport" INFO everything | tr -d '\r' >"$1"; }

for w in $workloads; do
	size=${w%%:*} total=${w##*:}
	for ((r = 1; r <= rounds; r++)); do
		order="wait nowait"
		((r % 2 == 0)) && order="nowait wait"
		for mode in $order; do
			rep=$out/$size-$mode-$r
			say "$size x $total against $mode, round $r of $rounds"
			snapshot "$rep.before"
			"$bin" bench --url "${node_url[$mode]}" --size "$size" --total "$total" --per-batch "$per_batch" \
				--in-flight "$in_flight" --warmup 16 --label "$mode" --json "$rep.json" --progress off \
				--pid "${node_pid[$mode]}" --pid "$ppid" >"$rep.txt" || true
			snapshot "$rep.after"
		done
	done
done

# ---------------------------------------------------------------- table
python3 - "$out" "$workloads" "$rounds" <<'EOF' | tee "$out/table.md"
import json, sys, statistics, re
out, workloads, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])

def info(path):
    d = {}
    for line in open(path):
        if ':' in line and not line.startswith('#'):
            k, v = line.strip().split(':', 1)
            d[k] = v
    return d

def calls(d):
    c = {}
    for k, v in d.items():
        if k.startswith('cmdstat_'):
            c[k[8:]] = int(re.search(r'calls=(\d+)', v).group(1))
    return c

print('| workload | WAIT | img/s | upload p50 ms | p95 to done ms | Redis cmds/image | of which WAIT | bytes in/image | bytes out/image | repl. stream B/image | memory B/image | primary CPU µs/image |')
print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for w in workloads:
    size = w.split(':')[0]
    for mode in ('wait', 'nowait'):
        runs = []
        for r in range(1, rounds + 1):
            base = f'{out}/{size}-{mode}-{r}'
            try:
                rep = json.load(open(base + '.json'))
            except Exception:
                continue
            b, a = info(base + '.before'), info(base + '.after')
            n = rep['images']['completed'] + (rep.get('warmup') or {}).get('images', 0)  # INFO spans the warmup too
            if n == 0:
                continue
            cb, ca = calls(b), calls(a)
            cmds = sum(ca.values()) - sum(cb.values()) - 1  # INFO itself
            waits = ca.get('wait', 0) - cb.get('wait', 0)
            diff = lambda k, f=float: (f(a[k]) - f(b[k])) / n
            runs.append(dict(
                ips=rep['images_per_sec'], up=rep['upload_latency']['p50_ms'], done=rep['completion_latency']['p95_ms'],
                cmds=cmds / n, waits=waits / n,
                bin=diff('total_net_input_bytes'), bout=diff('total_net_output_bytes'),
                repl=diff('master_repl_offset'), mem=diff('used_memory'),
                cpu=((float(a['used_cpu_sys']) + float(a['used_cpu_user'])) - (float(b['used_cpu_sys']) + float(b['used_cpu_user']))) / n * 1e6,
                errors=rep.get('error_total', 0)))
        if not runs:
            continue
        runs.sort(key=lambda x: x['ips'])
        m = runs[len(runs) // 2]
        print(f"| {size} | {'on (1 replica)' if mode == 'wait' else 'off'} | {m['ips']:.1f} | {m['up']:.1f} | {m['done']:.0f} | "
              f"{m['cmds']:.1f} | {m['waits']:.1f} | {m['bin']:.0f} | {m['bout']:.0f} | {m['repl']:.0f} | {m['mem']:.0f} | {m['cpu']:.0f} |"
              + (f" ({m['errors']} errors)" if m['errors'] else ''))
EOF
say "done: $out/table.md"
