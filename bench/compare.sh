#!/usr/bin/env bash
# compare.sh: run one synthetic sshd log through fail2ban's regex tester,
# sshguard's parser and `phalanx replay`, and print the CPU time and peak
# memory each takes. Run by hand as root from anywhere in the repository;
# not part of CI. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/compare.sh [--lines N] [--seed N] [--skip-fail2ban] [--keep DIR]

  --lines N        lines in the generated log (default 1000000)
  --seed N         loggen seed (default 1)
  --skip-fail2ban  leave out fail2ban-regex (about 35 CPU-seconds per 1M lines)
  --keep DIR       keep the log, truth and each tool's output in DIR
EOF
}

lines=1000000
seed=1
skip_f2b=0
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
	--lines=*) lines="${1#*=}"; shift ;;
	--seed) seed="${2:?--seed needs a number}"; shift 2 ;;
	--seed=*) seed="${1#*=}"; shift ;;
	--skip-fail2ban) skip_f2b=1; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$lines" in '' | *[!0-9]*) echo "compare.sh: --lines wants a whole number, got '$lines'" >&2; exit 2 ;; esac
case "$seed" in '' | *[!0-9-]*) echo "compare.sh: --seed wants a number, got '$seed'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."

# --- tools --------------------------------------------------------------
sshg_parser() {
	local p
	p=$(dpkg -L sshguard 2>/dev/null | grep '/sshg-parser$' | head -n1 || true)
	[ -n "$p" ] && [ -x "$p" ] && echo "$p"
}
need=()
{ [ "$skip_f2b" = 1 ] || command -v fail2ban-regex >/dev/null; } || need+=(fail2ban)
sshg_parser >/dev/null || need+=(sshguard)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "compare.sh: ${need[*]} missing; run as root so it can apt-get install them" >&2
		exit 1
	fi
	echo "installing ${need[*]} ..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
SSHG=$(sshg_parser) || { echo "compare.sh: sshg-parser not found in the sshguard package" >&2; exit 1; }
command -v go >/dev/null || { echo "compare.sh: go not found; install Go to build loggen and phalanx" >&2; exit 1; }

# --- build and generate ---------------------------------------------------
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	tmp=$(cd "$keep" && pwd)
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
fi
go build -o "$tmp/loggen" ./cmd/loggen
phalanx_build=ok
go build -o "$tmp/phalanx" ./cmd/phalanx 2>"$tmp/phalanx-build.err" || phalanx_build=failed

log="$tmp/auth.log"
echo "generating $lines lines (seed $seed) ..." >&2
"$tmp/loggen" -lines "$lines" -seed "$seed" -o "$log" -truth "$tmp/truth.json"

# --- measure --------------------------------------------------------------
rows=()
notes=()

# row TOOL USER SYS RSS_KIB: one table row.
row() {
	rows+=("$(awk -v t="$1" -v n="$lines" -v u="$2" -v s="$3" -v m="$4" 'BEGIN {
		cpu = u + s
		rate = cpu > 0 ? sprintf("%.0f", n / cpu) : "-"
		printf "%-16s %10d %12.2f %16s %14.1f", t, n, cpu, rate, m / 1024
	}')")
}

# fail_row TOOL MESSAGE: a row that says what went wrong.
fail_row() {
	rows+=("$(printf '%-16s %10d   error: %s' "$1" "$lines" "$2")")
}

# measure TOOL STDIN OUT -- CMD...: run CMD under /usr/bin/time, stdin from
# STDIN (or /dev/null), stdout to OUT; add a row.
measure() {
	local tool=$1 in=$2 out=$3
	shift 4
	local tf="$tmp/$tool.time" ef="$tmp/$tool.err" rc=0
	echo "running $tool ..." >&2
	/usr/bin/time -f '%U %S %M' -o "$tf" "$@" <"$in" >"$out" 2>"$ef" || rc=$?
	if [ "$rc" != 0 ]; then
		fail_row "$tool" "exit $rc: $(grep -v '^Command exited' "$ef" | tail -n1 | cut -c1-100)"
		return 1
	fi
	# /usr/bin/time writes its numbers on the last line of its file.
	local u s m
	read -r u s m < <(tail -n1 "$tf")
	row "$tool" "$u" "$s" "$m"
}

if [ "$skip_f2b" = 0 ]; then
	# -o id prints one address per matched failure and keeps no summary in
	# memory; the default summary mode holds every match and uses ~20x the RSS.
	if measure fail2ban-regex /dev/null "$tmp/fail2ban.out" -- \
		fail2ban-regex -o id --print-no-missed --print-no-ignored "$log" /etc/fail2ban/filter.d/sshd.conf; then
		notes+=("fail2ban-regex: $(wc -l <"$tmp/fail2ban.out") failures matched from $(sort -u "$tmp/fail2ban.out" | wc -l) addresses (raw matches; no maxretry applied)")
	fi
fi

if measure sshg-parser "$log" "$tmp/sshguard.out" -- "$SSHG"; then
	notes+=("sshg-parser: $(wc -l <"$tmp/sshguard.out") attacks from $(awk '{print $2}' "$tmp/sshguard.out" | sort -u | wc -l) addresses (raw attacks; no blocking threshold applied)")
fi

if [ "$phalanx_build" != ok ]; then
	fail_row "phalanx replay" "build failed: $(grep -v '^#' "$tmp/phalanx-build.err" | head -n1 | cut -c1-100)"
elif measure "phalanx replay" /dev/null "$tmp/phalanx.out" -- "$tmp/phalanx" replay "$log"; then
	summary=$(grep '"type":"summary"' "$tmp/phalanx.out" | tail -n1 || true)
	notes+=("phalanx replay: ${summary:-no summary line}")
fi

truth=$(awk '/"attackers"/{s="a"} /"attacker_prefixes"/{s="p"} /"legit"/{s="l"} /^    "/{n[s]++} END {printf "%d attackers, %d rotating IPv6 /64s, %d legitimate addresses", n["a"], n["p"], n["l"]}' "$tmp/truth.json")

echo
printf '%-16s %10s %12s %16s %14s\n' tool lines "CPU s" "lines/CPU-s" "peak RSS MB"
printf '%s\n' "${rows[@]}"
echo
echo "log: $lines lines, seed $seed; truth: $truth"
for n in "${notes[@]}"; do echo "$n"; done
if [ -n "$keep" ]; then echo "files kept in $tmp"; fi
