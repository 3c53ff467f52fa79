#!/usr/bin/env bash
# http.sh: run one synthetic nginx access log (mixed traffic: browsers,
# crawlers, scanners, CVE probes, brute forces) through `phalanx replay`,
# fail2ban's regex tester with its nginx-botsearch filter, and CrowdSec's
# agent with the nginx collection (offline, from Debian's package), and
# print the CPU time, throughput and peak memory of each and phalanx's
# ratios to the others, then whom each flagged among loggen's known attackers
# and legitimate clients. Run by hand as root from anywhere in the
# repository; not part of CI. Columns as in bench/compare.sh (bench/README.md).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/http.sh [--lines N] [--seed N] [--skip-fail2ban] [--skip-crowdsec]
                     [--crowdsec-lines N] [--crowdsec-timeout S] [--keep DIR]

  --lines N              lines in the generated log (default 1000000)
  --seed N               loggen seed (default 1)
  --clients N            legitimate clients in the log (default loggen's, 2000)
  --skip-fail2ban        leave out fail2ban-regex
  --skip-crowdsec        leave out CrowdSec
  --crowdsec-lines N     give CrowdSec only the log's first N lines (default: all; it
                         managed about 300 lines per CPU-second here, an hour for 1M)
  --crowdsec-timeout S   give up on CrowdSec's agent after S seconds (default 3600)
  --keep DIR             keep the log, truth and each tool's output in DIR
EOF
}

lines=1000000
seed=1
clients=""
skip_f2b=0
skip_cs=0
cs_timeout=3600
cs_lines=""
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
	--lines=*) lines="${1#*=}"; shift ;;
	--seed) seed="${2:?--seed needs a number}"; shift 2 ;;
	--seed=*) seed="${1#*=}"; shift ;;
	--clients) clients="${2:?--clients needs a number}"; shift 2 ;;
	--clients=*) clients="${1#*=}"; shift ;;
	--skip-fail2ban) skip_f2b=1; shift ;;
	--skip-crowdsec) skip_cs=1; shift ;;
	--crowdsec-lines) cs_lines="${2:?--crowdsec-lines needs a number}"; shift 2 ;;
	--crowdsec-lines=*) cs_lines="${1#*=}"; shift ;;
	--crowdsec-timeout) cs_timeout="${2:?--crowdsec-timeout needs seconds}"; shift 2 ;;
	--crowdsec-timeout=*) cs_timeout="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "http.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$lines" in '' | *[!0-9]*) echo "http.sh: --lines wants a whole number, got '$lines'" >&2; exit 2 ;; esac
case "$seed" in '' | *[!0-9-]*) echo "http.sh: --seed wants a number, got '$seed'" >&2; exit 2 ;; esac
case "$cs_lines" in *[!0-9]*) echo "http.sh: --crowdsec-lines wants a whole number, got '$cs_lines'" >&2; exit 2 ;; esac
case "$cs_timeout" in '' | *[!0-9]*) echo "http.sh: --crowdsec-timeout wants whole seconds, got '$cs_timeout'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."

# --- tools --------------------------------------------------------------
# CrowdSec's Debian package registers with CrowdSec's central API while it
# is configured; offline that fails and leaves the package half-configured
# (every later apt-get then fails too). A non-empty credentials file made
# beforehand tells the package not to register (see its README.Debian), and
# the offline hub it ships still has the nginx collection.
crowdsec_installed() {
	[ "$(dpkg-query -W -f='${Status}' crowdsec 2>/dev/null || true)" = "install ok installed" ]
}
crowdsec_offline_preseed() {
	local capi=/etc/crowdsec/online_api_credentials.yaml
	if [ ! -s "$capi" ]; then
		mkdir -p /etc/crowdsec
		echo "# no Central API registration: offline machine (phalanx bench/http.sh)" >"$capi"
	fi
}

need=()
{ [ "$skip_f2b" = 1 ] || command -v fail2ban-regex >/dev/null; } || need+=(fail2ban)
[ -x /usr/bin/time ] || need+=(time)
cs_install=0
if [ "$skip_cs" = 0 ] && ! crowdsec_installed; then cs_install=1; fi
if [ ${#need[@]} -gt 0 ] || [ "$cs_install" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "http.sh: ${need[*]} $([ "$cs_install" = 1 ] && echo crowdsec) missing; run as root so it can apt-get install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	if [ ${#need[@]} -gt 0 ]; then
		echo "installing ${need[*]} ..." >&2
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
	if [ "$cs_install" = 1 ]; then
		echo "installing crowdsec (without Central API registration) ..." >&2
		crowdsec_offline_preseed
		# A package left half-configured by an earlier, online-registering try.
		dpkg --configure crowdsec >/dev/null 2>&1 || true
		apt-get install -y -qq --no-install-recommends crowdsec >/dev/null || true
	fi
fi
command -v go >/dev/null || { echo "http.sh: go not found; install Go to build loggen and phalanx" >&2; exit 1; }

# --- build and generate ---------------------------------------------------
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	tmp=$(cd "$keep" && pwd)
else
	tmp=$(mktemp -d)
fi
lapi_pid=""
cleanup() {
	if [ -n "$lapi_pid" ]; then kill "$lapi_pid" 2>/dev/null || true; wait "$lapi_pid" 2>/dev/null || true; fi
	if [ -z "$keep" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

go build -o "$tmp/loggen" ./cmd/loggen
phalanx_build=ok
go build -o "$tmp/phalanx" ./cmd/phalanx 2>"$tmp/phalanx-build.err" || phalanx_build=failed

log="$tmp/access.log"
echo "generating $lines nginx lines (seed $seed) ..." >&2
if ! "$tmp/loggen" -http -lines "$lines" -seed "$seed" ${clients:+-clients "$clients"} -truth "$tmp/truth.json" >"$log" 2>"$tmp/loggen.err"; then
	echo "http.sh: loggen -http failed: $(tail -n1 "$tmp/loggen.err")" >&2
	exit 1
fi
actual=$(wc -l <"$log")

# --- measure --------------------------------------------------------------
rows=()
notes=()
declare -A rss

# row TOOL USER SYS RSS_KIB: one table row of a run over $nlines lines;
# remembers each tool's CPU seconds per line and RSS for the ratios.
nlines=$actual
declare -A perline
row() {
	perline[$1]=$(awk -v u="$2" -v s="$3" -v n="$nlines" 'BEGIN { printf "%.12f", (u + s) / n }')
	rss[$1]=$4
	rows+=("$(awk -v t="$1" -v n="$nlines" -v u="$2" -v s="$3" -v m="$4" 'BEGIN {
		cpu = u + s
		rate = cpu > 0 ? sprintf("%.0f", n / cpu) : "-"
		printf "%-16s %10d %12.2f %16s %14.1f", t, n, cpu, rate, m / 1024
	}')")
}

# fail_row TOOL MESSAGE: a row that says what went wrong.
fail_row() {
	rows+=("$(printf '%-16s %10d   %s' "$1" "$nlines" "$2")")
}

# measure TOOL STDIN OUT -- CMD...: run CMD under /usr/bin/time, stdin from
# STDIN (or /dev/null), stdout to OUT; add a row.
measure() {
	local tool=$1 in=$2 out=$3
	shift 4
	local tf="$tmp/$tool.time" ef="$tmp/$tool.err" rc=0
	echo "running $tool ..." >&2
	/usr/bin/time -f '%U %S %M' -o "$tf" "$@" <"$in" >"$out" 2>"$ef" || rc=$?
	if [ "$rc" = 124 ] && [ "$tool" = crowdsec ]; then
		fail_row "$tool" "did not finish within ${cs_timeout}s (--crowdsec-timeout); try fewer --lines"
		return 1
	elif [ "$rc" != 0 ]; then
		fail_row "$tool" "error: exit $rc: $(grep -v '^Command exited' "$ef" | tail -n1 | cut -c1-100)"
		return 1
	fi
	local u s m
	read -r u s m < <(tail -n1 "$tf")
	row "$tool" "$u" "$s" "$m"
}

if [ "$phalanx_build" != ok ]; then
	fail_row "phalanx replay" "error: build failed: $(grep -v '^#' "$tmp/phalanx-build.err" | head -n1 | cut -c1-100)"
elif measure "phalanx replay" /dev/null "$tmp/phalanx.out" -- "$tmp/phalanx" replay "nginx:$log"; then
	summary=$(grep '"type":"summary"' "$tmp/phalanx.out" | tail -n1 || true)
	grep '"type":"decision"' "$tmp/phalanx.out" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p' >"$tmp/phalanx.addrs" || true
	notes+=("phalanx replay: $(grep -c '"type":"decision"' "$tmp/phalanx.out" || true) decisions; ${summary:-no summary line}")
fi

if [ "$skip_f2b" = 0 ]; then
	# -o id prints one address per matched line and keeps no summary in
	# memory (the default summary mode holds every match).
	if measure fail2ban-regex /dev/null "$tmp/fail2ban.out" -- \
		fail2ban-regex -o id --print-no-missed --print-no-ignored "$log" /etc/fail2ban/filter.d/nginx-botsearch.conf; then
		cp "$tmp/fail2ban.out" "$tmp/fail2ban-regex.addrs"
		notes+=("fail2ban-regex nginx-botsearch: $(wc -l <"$tmp/fail2ban.out") lines matched from $(sort -u "$tmp/fail2ban.out" | wc -l) addresses (raw matches; no maxretry applied; the filter knows only some probe paths)")
	fi
else
	fail_row fail2ban-regex "skipped (--skip-fail2ban)"
fi

# crowdsec_run: CrowdSec's agent over the log in "time-machine" mode (-dsn),
# with its local API as a separate process (not measured) on a free
# loopback port, every file in $tmp/crowdsec except the hub items and data
# files of the Debian package.
crowdsec_run() {
	local why=""
	if ! crowdsec_installed; then
		why="crowdsec is not installed (apt-get install crowdsec, after the preseed in this script)"
	elif [ ! -e /etc/crowdsec/collections/nginx.yaml ]; then
		why="the crowdsecurity/nginx collection is not enabled in /etc/crowdsec/collections (Debian's offline hub has it: see /usr/share/crowdsec/hub)"
	fi
	if [ -n "$why" ]; then
		fail_row crowdsec "skipped: $why"
		notes+=("crowdsec: skipped: $why")
		return
	fi
	local d="$tmp/crowdsec" port=""
	mkdir -p "$d/data"
	# The scenarios' data files, in a directory of the run's own. Debian's
	# 1.4.6 ships path_traversal.txt, but http-path-traversal-probing asks
	# for http_path_traversal.txt: without it the agent logs a multi-kilobyte
	# error for every line (gigabytes per million lines) and runs ~100x
	# slower, which would measure the packaging bug, not CrowdSec.
	cp /usr/share/crowdsec/data/* "$d/data/"
	if [ ! -e "$d/data/http_path_traversal.txt" ] && [ -e "$d/data/path_traversal.txt" ]; then
		cp "$d/data/path_traversal.txt" "$d/data/http_path_traversal.txt"
		notes+=("crowdsec: gave it http_path_traversal.txt (a copy of path_traversal.txt), which Debian's package lacks")
	fi
	for p in $(seq 18080 18180); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
	done
	[ -n "$port" ] || { fail_row crowdsec "error: no free port in 18080-18180 for its local API"; return; }
	cat >"$d/config.yaml" <<EOF
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: $d/
  working_dir: .
config_paths:
  config_dir: /etc/crowdsec/
  data_dir: $d/data/
  simulation_path: /etc/crowdsec/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: /etc/crowdsec/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $d/acquis.yaml
  parser_routines: 1
db_config:
  log_level: info
  type: sqlite
  db_path: $d/crowdsec.db
  use_wal: true
api:
  client:
    insecure_skip_verify: false
    credentials_path: $d/credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:$port
    profiles_path: /etc/crowdsec/profiles.yaml
prometheus:
  enabled: false
EOF
	: >"$d/acquis.yaml"
	if ! cscli -c "$d/config.yaml" machines add bench --password "bench-$RANDOM-$RANDOM" -f "$d/credentials.yaml" >"$d/cscli.out" 2>&1; then
		fail_row crowdsec "error: cscli machines add: $(tail -n1 "$d/cscli.out" | cut -c1-100)"
		return
	fi
	crowdsec -c "$d/config.yaml" -no-cs >"$d/lapi.out" 2>&1 &
	lapi_pid=$!
	local deadline=$((SECONDS + 30))
	until cscli -c "$d/config.yaml" lapi status >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ] || ! kill -0 "$lapi_pid" 2>/dev/null; then
			fail_row crowdsec "error: its local API did not start: $(tail -n1 "$d/crowdsec.log" 2>/dev/null | cut -c1-100)"
			return
		fi
		sleep 0.2 # polling a separate process's readiness
	done
	local input=$log
	if [ -n "$cs_lines" ] && [ "$cs_lines" -lt "$actual" ]; then
		input="$d/access-head.log"
		head -n "$cs_lines" "$log" >"$input"
		nlines=$cs_lines
	fi
	# timeout(1) waits for the agent, so /usr/bin/time counts the agent's CPU and RSS.
	if measure crowdsec /dev/null "$d/agent.out" -- \
		timeout "$cs_timeout" crowdsec -c "$d/config.yaml" -dsn "file://$input" -type nginx -no-api; then
		cscli -c "$d/config.yaml" alerts list -o json -l 0 >"$d/alerts.json" 2>"$d/alerts.err" || true
		python3 -c 'import json,sys
for a in json.load(open(sys.argv[1])) or []:
    s = a.get("source") or {}
    v = s.get("value") or s.get("ip")
    if v: print(v)' "$d/alerts.json" >"$tmp/crowdsec.addrs" 2>/dev/null || true
		notes+=("crowdsec (agent only, $(crowdsec -version 2>&1 | sed -n 's/.*version: //p' | head -n1), Debian's offline hub): $(wc -l <"$tmp/crowdsec.addrs" 2>/dev/null || echo '?') alerts; its local API ran as a separate process, not measured")
	fi
	nlines=$actual
	kill "$lapi_pid" 2>/dev/null || true
	wait "$lapi_pid" 2>/dev/null || true
	lapi_pid=""
}
if [ "$skip_cs" = 0 ]; then
	crowdsec_run
else
	fail_row crowdsec "skipped (--skip-crowdsec)"
fi

# score TOOL: who among the truth file's attackers, evasive attackers and
# legitimate clients the tool flagged (an address, or a range covering it).
score() {
	[ -f "$tmp/$1.addrs" ] || return 0
	python3 - "$tmp/truth.json" "$tmp/$1.addrs" "$1" <<'PY' || true
import ipaddress, json, sys
truth = json.load(open(sys.argv[1]))
nets = []
for line in open(sys.argv[2]):
    line = line.strip()
    if line:
        try:
            nets.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            pass
def flagged(group):
    # an entry is an address ("addr") or a rotating IPv6 prefix ("prefix")
    who = [ipaddress.ip_network(x.get("addr") or x["prefix"], strict=False) for x in truth.get(group) or []]
    return sum(1 for w in who if any(w.overlaps(n) for n in nets if n.version == w.version)), len(who)
(a, na), (e, ne), (l, nl) = flagged("attackers"), flagged("evasive"), flagged("legit")
print(f"{sys.argv[3]}: {len(set(nets))} addresses/ranges flagged: {a} of {na} attackers, {e} of {ne} evasive attackers, {l} of {nl} legitimate clients")
PY
}

truth=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(", ".join("%d %s" % (len(t.get(k) or []), k) for k in ("attackers", "evasive", "legit")))' "$tmp/truth.json" 2>/dev/null || echo "unreadable truth file")

echo
printf '%-16s %10s %12s %16s %14s\n' tool lines "CPU s" "lines/CPU-s" "peak RSS MB"
printf '%s\n' "${rows[@]}"
echo
if [ -n "${perline[phalanx replay]:-}" ]; then
	for tool in fail2ban-regex crowdsec; do
		[ -n "${perline[$tool]:-}" ] || continue
		awk -v t="$tool" -v p="${perline[phalanx replay]}" -v o="${perline[$tool]}" -v pm="${rss[phalanx replay]}" -v om="${rss[$tool]}" 'BEGIN {
			printf "phalanx replay: %s the lines per CPU-second of %s, %.2fx its peak RSS\n",
				(p > 0 ? sprintf("%.1fx", o / p) : "-"), t, (om > 0 ? pm / om : 0)
		}'
	done
	if [ -n "$cs_lines" ] && [ -n "${perline[crowdsec]:-}" ]; then
		echo "(CrowdSec read the first $cs_lines lines only: --crowdsec-lines)"
	fi
	echo
fi
echo "log: $actual lines, seed $seed; truth: $truth"
for n in "${notes[@]}"; do echo "$n"; done
if command -v python3 >/dev/null; then
	echo
	echo "detection against the truth file (fail2ban: raw filter matches, no maxretry$([ -n "$cs_lines" ] && echo "; crowdsec: the first $cs_lines lines only")):"
	for tool in phalanx fail2ban-regex crowdsec; do score "$tool"; done
fi
if [ -n "$keep" ]; then echo "files kept in $tmp"; fi
