# lib.sh: what bench/compare.sh, s3.sh and wait.sh share, sourced after they set
# root, out, say and die. run_setup NAME makes $tmp (removed on exit with
# every process whose PID is in pids, newest first), creates $out and sets
# $bin (BACKLOT_BIN, or backlot built from this tree).

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # LOG TEXT PID WHAT
	if ! timeout 60 grep -q -m1 -F -- "$2" <(tail -n +1 -F --pid="$3" "$1" 2>/dev/null); then
		say "$4 did not start; the end of its log ($1):"
		tail -n 30 "$1" >&2 || true
		exit 1
	fi
}

# stop ends what the script started, newest first: SIGTERM by PID, then a
# 40 s deadline (Backlot's shutdown grace is 30 s) before SIGKILL.
stop() {
	local pid watchdog
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		(sleep 40 && kill -KILL "$pid" 2>/dev/null) &
		watchdog=$!
		wait "$pid" 2>/dev/null || true
		kill "$watchdog" 2>/dev/null || true
		wait "$watchdog" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

run_setup() { # NAME
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/backlot-$1.XXXXXX")
	pids=()
	trap stop EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$out"
	say "reports and logs go to $out"
	if [ -n "${BACKLOT_BIN:-}" ]; then
		bin=$BACKLOT_BIN
	else
		say "building backlot"
		(cd "$root" && go build -o "$tmp/backlot" ./cmd/backlot)
		bin=$tmp/backlot
	fi
}
