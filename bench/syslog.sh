#!/usr/bin/env bash
# syslog.sh: the syslog receiver's figures. Runs TestBenchReceive
# (source/syslog): a child process sends ~120-byte sshd lines on loopback
# (RFC 3164 newline-framed and RFC 5424 octet-counted over one TCP
# connection, paced at 250,000 lines/s and then as fast as it can; RFC 3164
# over UDP at 25k to 300k datagrams/s), the test process receives and counts
# them, and each run prints a RESULT line: sent, received, lost, lines/s and
# the receiver's CPU (getrusage of the receiving process alone). Loopback
# only. Run by hand on a quiet machine; not CI.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: bench/syslog.sh [--lines N] [--keep FILE]

  --lines N    lines per TCP run (default 2000000)
  --keep FILE  keep the full test output in FILE
USAGE
}

lines=2000000
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
	--lines=*) lines="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a file}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "syslog.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$lines" in '' | *[!0-9]*) echo "syslog.sh: --lines wants a whole number, got '$lines'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
PHALANX_BENCH=1 PHALANX_BENCH_LINES="$lines" go test -count=1 -run '^TestBenchReceive$' -v -timeout 20m ./source/syslog/ >"$out" 2>&1 || status=$?
[ -n "$keep" ] && cp "$out" "$keep"
grep -o 'RESULT.*' "$out" || true
if [ "$status" -ne 0 ]; then
	echo "syslog.sh: the benchmark failed (exit $status):" >&2
	tail -n 30 "$out" >&2
	exit "$status"
fi
