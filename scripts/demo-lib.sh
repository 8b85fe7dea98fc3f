# shellcheck shell=bash
# What the demos (demo.sh, demo-lua.sh) share: narration, timing, failure.

# Bold narration on a terminal, plain text in a log.
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() {
	printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"
}

# Seconds since $1 (from _tb_now_ms), one decimal.
since() {
	local ms=$(($(_tb_now_ms) - $1))
	printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

die() {
	printf '\n*** demo failed: %s\n' "$*" >&2
	exit 1
}

# stop_poolmond PID: SIGTERM, up to 5 s for it to exit, its status said
# (a poolmond that ignores it is killed by the cleanup).
stop_poolmond() {
	local rc
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "    poolmond ignored SIGTERM for 5 s (killed at cleanup)"
	else
		wait "$1" 2>/dev/null
		rc=$?
		echo "    poolmond exited with status $rc"
	fi
	sleep 0.3	# let tail print the last lines
}
