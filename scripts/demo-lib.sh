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
