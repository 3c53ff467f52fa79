#!/usr/bin/env bash
# fail2ban.sh: the same fail2ban filters over the same mixed log (sshd from
# loggen, nginx from loggen -http, and the mail and FTP lines of fail2ban's
# own sample corpus, cycled), run by fail2ban's regex tester and by
# `phalanx fail2ban-check`, one filter at a time, and by phalanx once more
# with every filter as one group (as the daemon runs a log's jails); prints
# each filter's CPU seconds for both and the totals' ratios, then the
# cost of a line that no filter matches (BenchmarkNoMatch). Needs Debian's
# fail2ban package (its filters and samples) and GNU time; run by hand,
# not in CI.
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/fail2ban.sh [--lines N] [--filters "sshd postfix ..."] [--keep DIR]

  --lines N      lines in the mixed log (default 1000000)
  --filters F    the filters to compare (default: sshd postfix dovecot
                 nginx-http-auth apache-auth vsftpd proftpd pure-ftpd
                 nginx-botsearch exim); "all" runs every filter in filter.d
                 that has a sample file (slow for fail2ban-regex: plan on
                 about a minute per filter per million lines)
  --keep DIR     keep the log and each tool's output in DIR
EOF2
}

lines=1000000
filters="sshd postfix dovecot nginx-http-auth apache-auth vsftpd proftpd pure-ftpd nginx-botsearch exim"
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
	--filters) filters="${2:?--filters needs names}"; shift 2 ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "fail2ban.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$lines" in '' | *[!0-9]*) echo "fail2ban.sh: --lines wants a whole number" >&2; exit 2 ;; esac

samples=/usr/lib/python3/dist-packages/fail2ban/tests/files/logs
filterd=/etc/fail2ban/filter.d
for need in fail2ban-regex /usr/bin/time; do
	command -v "$need" >/dev/null || { echo "fail2ban.sh: $need is missing (apt-get install fail2ban time)" >&2; exit 1; }
done
[ -d "$samples" ] || { echo "fail2ban.sh: no $samples (apt-get install fail2ban)" >&2; exit 1; }

cd "$(dirname "$0")/.."
out="${keep:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "$keep" ] || trap 'rm -rf "$out"' EXIT

go build -o "$out/phalanx" ./cmd/phalanx
go build -o "$out/loggen" ./cmd/loggen
log="$out/mixed.log"
# Half sshd, a quarter nginx, a quarter mail and FTP sample lines.
"$out/loggen" -lines $((lines / 2)) -o "$out/sshd.log"
"$out/loggen" -http -lines $((lines / 4)) -o "$out/nginx.log"
grep -hv '^#' "$samples"/{postfix,dovecot,exim,vsftpd,proftpd,pure-ftpd} | grep -v '^$' > "$out/mail.src"
rest=$((lines - lines / 2 - lines / 4))
awk -v n="$rest" '{ l[NR] = $0 } END { for (i = 0; i < n; i++) print l[i % NR + 1] }' "$out/mail.src" > "$out/mail.log"
# Interleave the three so that every filter sees its own lines among others'.
paste -d '\n' "$out/sshd.log" "$out/nginx.log" "$out/mail.log" | grep -v '^$' > "$log"
echo "log: $(wc -l < "$log") lines, $(du -h "$log" | cut -f1)"

if [ "$filters" = all ]; then
	filters=""
	for f in "$filterd"/*.conf; do
		n=$(basename "$f" .conf)
		[ -e "$samples/$n" ] && filters="$filters $n"
	done
fi

cpu() { # command... → "user+sys" CPU seconds (and $out/time: user sys maxRSS-KB wall)
	/usr/bin/time -f '%U %S %M %e' -o "$out/time" "$@" >/dev/null 2>"$out/err" || { echo "FAILED: $* (see $out/err)" >&2; echo "NaN"; return; }
	awk '{ printf "%.2f", $1 + $2 }' "$out/time"
}

printf '%-18s %14s %14s %8s\n' filter "fail2ban CPU s" "phalanx CPU s" ratio
total_f=0
total_p=0
for f in $filters; do
	tf=$(cpu fail2ban-regex -o id "$log" "$filterd/$f.conf")
	tp=$(cpu "$out/phalanx" fail2ban-check "$f" "$log")
	ratio=$(awk -v a="$tf" -v b="$tp" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
	printf '%-18s %14s %14s %8s\n' "$f" "$tf" "$tp" "$ratio"
	total_f=$(awk -v a="$total_f" -v b="$tf" 'BEGIN { print a + b }')
	total_p=$(awk -v a="$total_p" -v b="$tp" 'BEGIN { print a + b }')
done
# phalanx once with every filter as one group, as the daemon runs the jails
# of one log (each line scanned for literals once).
group=$(echo $filters | tr ' ' ',')
tg=$(cpu "$out/phalanx" fail2ban-check "$group" "$log")
rss=$(awk '{ printf "%.0f", $3 / 1024 }' "$out/time")
# Start-up: the same filters compiled, over an empty log.
: > "$out/empty.log"
ts=$(cpu "$out/phalanx" fail2ban-check "$group" "$out/empty.log")
wall=$(awk '{ print $4 }' "$out/time")
awk -v f="$total_f" -v p="$total_p" -v g="$tg" -v n="$(wc -l < "$log")" 'BEGIN {
	printf "%-18s %14.2f %14.2f %7.1fx\n", "total", f, p, (p > 0 ? f / p : 0)
	printf "%-18s %14s %14.2f %7.1fx\n", "phalanx, grouped", "", g, (g > 0 ? f / g : 0)
	printf "lines per CPU-second, filters summed: fail2ban-regex %.0f, phalanx %.0f, phalanx grouped %.0f\n", (f > 0 ? n / f : 0), (p > 0 ? n / p : 0), (g > 0 ? n / g : 0)
}'
echo "phalanx grouped: peak RSS ${rss} MB; start-up (every filter compiled, empty log) ${ts} CPU s, ${wall} s wall"
# Lines that match nothing (cron, systemd, kernel, mail queue lines of
# 80-150 bytes) through every filter with a sample as one group: the
# prefilter's cost per line, in CPU time.
go test -run '^$' -bench 'NoMatch$' -count 3 ./fail2ban | awk '/^BenchmarkNoMatch/ { for (i = 1; i <= NF; i++) if ($i == "cpu-ns/line") print "line matching nothing, every filter loaded: " $(i - 1) " CPU ns" }'
