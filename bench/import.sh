#!/usr/bin/env bash
# import.sh: what `phalanx decisions import` costs end to end. Builds
# phalanx, starts a one-member daemon on loopback (enforcement off, its own
# data directory), writes a plain list of N addresses (IPv4 and IPv6 in
# turn), times `phalanx decisions import` of it (from reading the file to
# every ban in force), and prints the daemon's peak RSS. Run by hand from
# anywhere in the repository; not part of CI. Needs Go and GNU time
# (package time) for the client's figures.
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/import.sh [--rows N] [--format values|csv|json] [--keep DIR]

  --rows N      addresses in the list (default 100000)
  --format F    write the list as values (default), csv or json
  --keep DIR    keep the list, the data directory and the daemon's log in DIR
EOF2
}

rows=100000
format=values
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows="${2:?--rows needs a number}"; shift 2 ;;
	--rows=*) rows="${1#*=}"; shift ;;
	--format) format="${2:?--format needs values, csv or json}"; shift 2 ;;
	--format=*) format="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "import.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$rows" in '' | *[!0-9]*) echo "import.sh: --rows wants a whole number, got '$rows'" >&2; exit 2 ;; esac
case "$format" in values | csv | json) ;; *) echo "import.sh: --format wants values, csv or json" >&2; exit 2 ;; esac
command -v go >/dev/null || { echo "import.sh: go not found" >&2; exit 1; }

cd "$(dirname "$0")/.."
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	tmp=$(cd "$keep" && pwd)
else
	tmp=$(mktemp -d)
fi
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ -z "$keep" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

echo "building phalanx ..." >&2
go build -o "$tmp/phalanx" ./cmd/phalanx

echo "writing $rows rows as $format ..." >&2
list="$tmp/list.$format"
awk -v n="$rows" -v fmt="$format" 'BEGIN {
	if (fmt == "csv") print "value,duration,reason"
	if (fmt == "json") print "["
	for (i = 0; i < n; i++) {
		if (i % 2 == 0) v = sprintf("%d.%d.%d.%d", 11 + int(i / 16777216) % 64, int(i / 65536) % 256, int(i / 256) % 256, i % 256)
		else v = sprintf("2001:db8:%x:%x::%x", int(i / 65536) % 65536, int(i / 256) % 256, i % 256)
		if (fmt == "csv") printf "%s,4h,bench\n", v
		else if (fmt == "json") printf "%s{\"value\": \"%s\", \"duration\": \"4h\"}\n", (i ? "," : " "), v
		else print v
	}
	if (fmt == "json") print "]"
}' >"$list"

data="$tmp/data"
echo "starting a daemon on loopback ..." >&2
"$tmp/phalanx" run --data "$data" --api 127.0.0.1:0 --enforce none --source "$tmp/auth.log" >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	if "$tmp/phalanx" status --data "$data" >/dev/null 2>&1; then break; fi
	kill -0 "$pid" 2>/dev/null || { echo "import.sh: the daemon stopped; see $tmp/daemon.log" >&2; keep=1; exit 1; }
	sleep 0.1
done
before=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

start=$(date +%s.%N)
"$tmp/phalanx" decisions import --data "$data" "$list"
end=$(date +%s.%N)

peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
active=$("$tmp/phalanx" status --data "$data" -o json | awk -F: '/"decisions"/ {gsub(/[ ,]/, "", $2); print $2; exit}')
awk -v r="$rows" -v s="$start" -v e="$end" -v a="$active" -v b="$before" -v p="$peak" 'BEGIN {
	printf "rows %d, active decisions %d, %.2f s end to end (%.0f rows/s), daemon peak RSS %.1f MiB (idle %.1f MiB)\n", r, a, e - s, r / (e - s), p / 1024, b / 1024
}'
