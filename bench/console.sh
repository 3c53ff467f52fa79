#!/usr/bin/env bash
# console.sh: what the web console costs a member in memory with one
# browser connected. For each run, twice (without a browser, then with
# one): a fresh data directory, a one-member daemon (the binary, enforcement
# off: --enforce none, so no nftables table is made) tailing a log, and the
# same attack traffic appended to the log (N new attackers a second, each
# banned); with a browser, headless Chromium signs in with a one-time link
# and keeps the live view (the main view, its event stream open) in one tab
# while a second tab goes through the other views (alliance, attacks, act,
# sources, explain) every few seconds. Samples the daemon's VmRSS from
# /proc every second over the window and prints, per run:
#   RSS start    VmRSS when the window begins (after the warm-up)
#   RSS mean/max VmRSS over the window
#   HWM          VmHWM (peak RSS) at the end
#   CPU          the daemon's user+system CPU seconds over the window
# then the difference with a browser minus without, run by run.
# Run by hand from anywhere in the repository; not part of CI. Needs Go
# (unless --bin), chromium (Debian's package) and curl. Does not need root.
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/console.sh [--seconds S] [--warmup W] [--attackers N] [--runs R] [--bin PATH] [--keep DIR]

  --seconds S     the measured window, in seconds (default 60)
  --warmup W      seconds between the start (and the browser's sign-in) and the window (default 10)
  --attackers N   new attackers a second in the log, each banned (default 5)
  --runs R        pairs of runs (without, with a browser) (default 1)
  --bin PATH      the phalanx binary to measure (default: build this tree)
  --keep DIR      keep every run's log, data directory and daemon log in DIR
EOF2
}

seconds=60
warmup=10
attackers=5
runs=1
bin=""
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
	--seconds=*) seconds="${1#*=}"; shift ;;
	--warmup) warmup="${2:?--warmup needs a number}"; shift 2 ;;
	--warmup=*) warmup="${1#*=}"; shift ;;
	--attackers) attackers="${2:?--attackers needs a number}"; shift 2 ;;
	--attackers=*) attackers="${1#*=}"; shift ;;
	--runs) runs="${2:?--runs needs a number}"; shift 2 ;;
	--runs=*) runs="${1#*=}"; shift ;;
	--bin) bin="${2:?--bin needs a path}"; shift 2 ;;
	--bin=*) bin="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "console.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
for v in "$seconds" "$warmup" "$attackers" "$runs"; do
	case "$v" in '' | *[!0-9]*) echo "console.sh: --seconds, --warmup, --attackers and --runs want whole numbers, got '$v'" >&2; exit 2 ;; esac
done
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "console.sh: chromium not found: install Debian's chromium package" >&2; exit 1; }
command -v curl >/dev/null || { echo "console.sh: curl not found: install it" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -a "$work"/. "$keep"/ && echo "kept in $keep"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$bin" ]; then
	cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
	go build -o "$work/phalanx" ./cmd/phalanx
	bin="$work/phalanx"
fi

# kib FIELD PID: a VmRSS-like field of /proc/PID/status, in KiB.
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }
# cpu PID: user+system CPU seconds of PID.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# attack LOG N FROM: appends N attackers' six sshd failures each, the
# attackers numbered from FROM (10.X.Y.Z, distinct).
attack() {
	local log=$1 n=$2 from=$3 now i k a
	now=$(date '+%b %e %H:%M:%S')
	for ((i = from; i < from + n; i++)); do
		a="10.$((i >> 16 & 255)).$((i >> 8 & 255)).$((i & 255))"
		for k in 1 2 3 4 5 6; do
			echo "$now web1 sshd[$((1000 + k))]: Failed password for invalid user admin from $a port $((40000 + k)) ssh2"
		done
	done >>"$log"
}

# devtools PORTFILE: the browser's DevTools port, once it is up.
devtools() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ -s "$1" ] && { head -1 "$1"; return; }
		sleep 0.1
	done
	echo "console.sh: chromium did not start (no $1)" >&2
	exit 1
}

# run NAME BROWSER DIR: one daemon, measured, in $work/DIR; prints its
# line and sets last_mean, last_max, last_hwm.
run() {
	local name=$1 browser=$2 dir="$work/$3" pid link base port chrome tab="" i t rss sum=0 n=0 max=0 start_rss cpu0 cpu1 next=1 views
	mkdir -p "$dir"
	: >"$dir/auth.log"
	"$bin" run --data "$dir/data" --api 127.0.0.1:0 --enforce none --source "$dir/auth.log" >"$dir/daemon.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for ((i = 0; i < 300; i++)); do
		link=$("$bin" console --data "$dir/data" 2>/dev/null | awk '/^login link:/ { print $3 }') && [ -n "$link" ] && break
		kill -0 "$pid" 2>/dev/null || { echo "console.sh: the daemon stopped; see $dir/daemon.log" >&2; cat "$dir/daemon.log" >&2; exit 1; }
		sleep 0.1
	done
	[ -n "$link" ] || { echo "console.sh: the daemon did not serve its console in 30 s" >&2; exit 1; }
	base=${link%%/ui/*}
	if [ "$browser" = yes ]; then
		"$chromium" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$dir/chromium" \
			--remote-debugging-port=0 --window-size=1400,900 "$link" >"$dir/chromium.log" 2>&1 &
		chrome=$!
		pids+=("$chrome")
		port=$(devtools "$dir/chromium/DevToolsActivePort")
	fi
	# The warm-up: traffic from the start, the browser signed in.
	for ((t = 0; t < warmup; t++)); do
		attack "$dir/auth.log" "$attackers" $((next))
		next=$((next + attackers))
		sleep 1
	done
	start_rss=$(kib VmRSS "$pid")
	cpu0=$(cpu "$pid")
	views=(alliance attacks act sources "explain?addr=10.0.0.1" "act?sort=value&order=asc")
	for ((t = 0; t < seconds; t++)); do
		attack "$dir/auth.log" "$attackers" $((next))
		next=$((next + attackers))
		if [ "$browser" = yes ] && ((t % 5 == 0)); then
			# The second tab: the next view, in place of the last.
			[ -n "$tab" ] && curl -fsS "http://127.0.0.1:$port/json/close/$tab" >/dev/null || true
			tab=$(curl -fsS -X PUT "http://127.0.0.1:$port/json/new?$base/ui/${views[$((t / 5 % ${#views[@]}))]}" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
		fi
		sleep 1
		rss=$(kib VmRSS "$pid")
		sum=$((sum + rss))
		n=$((n + 1))
		if ((rss > max)); then max=$rss; fi
	done
	cpu1=$(cpu "$pid")
	last_hwm=$(kib VmHWM "$pid")
	last_mean=$((sum / n))
	last_max=$max
	if [ "$browser" = yes ]; then
		# The live view kept its event stream open all along.
		curl -fsS "http://127.0.0.1:$port/json/list" | grep -q "\"url\": *\"$base/ui/\"" || echo "console.sh: warning: the live view's tab is gone" >&2
		kill "$chrome" 2>/dev/null || true
		wait "$chrome" 2>/dev/null || true
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	printf '%-16s RSS start %7.1f MiB  mean %7.1f MiB  max %7.1f MiB  HWM %7.1f MiB  CPU %6s s  bans %d\n' "$name" \
		"$(echo "$start_rss / 1024" | bc -l)" "$(echo "$last_mean / 1024" | bc -l)" "$(echo "$last_max / 1024" | bc -l)" \
		"$(echo "$last_hwm / 1024" | bc -l)" "$(echo "$cpu1 - $cpu0" | bc -l)" $((next - 1))
}

echo "window ${seconds}s after a ${warmup}s warm-up, $attackers new attackers a second; $bin"
for ((r = 1; r <= runs; r++)); do
	run "run $r: no browser" no "run$r-none"
	m0=$last_mean x0=$last_max h0=$last_hwm
	run "run $r: browser" yes "run$r-browser"
	printf '%-16s mean %+7.1f MiB  max %+7.1f MiB  HWM %+7.1f MiB\n' "run $r: the console" \
		"$(echo "($last_mean - $m0) / 1024" | bc -l)" "$(echo "($last_max - $x0) / 1024" | bc -l)" "$(echo "($last_hwm - $h0) / 1024" | bc -l)"
done
