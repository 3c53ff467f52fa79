#!/usr/bin/env bash
# flood.sh: a flood of distinct IPv6 /64 attackers against one member, and
# the latency of a real attacker that comes after it. For each run: a fresh
# network namespace (so the daemon's nftables table is the namespace's, never
# the host's), a fresh data directory, a one-member daemon enforcing with
# nftables and tailing a log; N attackers, each from its own /64 and each
# with enough sshd failures to be banned, are appended to the log at once,
# then one real attacker after them. Prints, per run and in all:
#   real attacker   from the append of its lines to its /64 in the kernel set
#   flood           from the append to every ban in the table, then in the kernel
#   CPU             the daemon's user+system CPU seconds over the flood
#   bans/s          bans in the kernel divided by the flood's time to the kernel
# then, with --restart (default on the last run), stops the daemon, starts it
# again and checks that every ban is still in the kernel set.
# Run by hand, as root, from anywhere in the repository; not part of CI.
# Needs Go (unless --bin), ip, nft and jq.
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/flood.sh [--attackers N] [--failures K] [--after M] [--runs R] [--bin PATH] [--restart all|last|none] [--keep DIR]

  --attackers N   distinct /64 attackers in the flood (default 100000)
  --failures K    sshd failures per attacker (default 6; ssh-bf bans at 6)
  --after M       real attackers appended one by one once the flood is in
                  the kernel, with its bans in force (default 20)
  --runs R        runs, each in a fresh namespace and data directory (default 3)
  --bin PATH      the phalanx binary to measure (default: build this tree)
  --restart WHEN  the restart check after all runs, the last (default) or none
  --keep DIR      keep every run's log, data directory and daemon log in DIR
EOF2
}

attackers=100000
failures=6
after=20
runs=3
bin=""
restart=last
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--attackers) attackers="${2:?--attackers needs a number}"; shift 2 ;;
	--attackers=*) attackers="${1#*=}"; shift ;;
	--failures) failures="${2:?--failures needs a number}"; shift 2 ;;
	--failures=*) failures="${1#*=}"; shift ;;
	--after) after="${2:?--after needs a number}"; shift 2 ;;
	--after=*) after="${1#*=}"; shift ;;
	--runs) runs="${2:?--runs needs a number}"; shift 2 ;;
	--runs=*) runs="${1#*=}"; shift ;;
	--bin) bin="${2:?--bin needs a path}"; shift 2 ;;
	--bin=*) bin="${1#*=}"; shift ;;
	--restart) restart="${2:?--restart needs all, last or none}"; shift 2 ;;
	--restart=*) restart="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "flood.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
for v in "$attackers" "$failures" "$after" "$runs"; do
	case "$v" in '' | *[!0-9]*) echo "flood.sh: --attackers, --failures, --after and --runs want whole numbers, got '$v'" >&2; exit 2 ;; esac
done
[ "$after" -le 4096 ] || { echo "flood.sh: --after takes at most 4096" >&2; exit 2; }
case "$restart" in all | last | none) ;; *) echo "flood.sh: --restart wants all, last or none" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "flood.sh: run as root (it creates network namespaces and nftables tables inside them)" >&2; exit 1; }
for c in ip nft jq; do
	command -v "$c" >/dev/null || { echo "flood.sh: $c not found (apt-get install iproute2 nftables jq)" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	tmp=$(cd "$keep" && pwd)
else
	tmp=$(mktemp -d)
fi
ns=""
pid=""
stop_daemon() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=""
	fi
}
probe_pids=""
stop_probes() {
	for p in $probe_pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	probe_pids=""
}
cleanup() {
	stop_probes
	stop_daemon
	if [ -n "$ns" ]; then ip netns delete "$ns" 2>/dev/null || true; fi
	if [ -z "$keep" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

if [ -z "$bin" ]; then
	command -v go >/dev/null || { echo "flood.sh: go not found (or pass --bin)" >&2; exit 1; }
	echo "building phalanx ..." >&2
	go build -o "$tmp/phalanx" ./cmd/phalanx
	bin="$tmp/phalanx"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

now() { date +%s.%N; }
# cpu PID: user+system CPU seconds of the process.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# inns CMD...: run CMD inside the run's namespace.
inns() { ip netns exec "$ns" "$@"; }
status() { inns "$bin" status --data "$data" -o json 2>/dev/null; }
# stat FILTER: a number from the status (jq FILTER), 0 when it does not answer.
stat() { local v; v=$(status | jq "$1" 2>/dev/null || true); case "$v" in '' | *[!0-9]*) echo 0 ;; *) echo "$v" ;; esac; }
# probe ADDR FILE: start probing whether the kernel drops what ADDR sends;
# sets probe_pids. ADDR is an address of the namespace's loopback: one
# shell connects from it to itself on a closed port about 150 times a
# second, writing the time before each try and "r" after each refusal.
# Once the input chain drops ADDR, the SYN goes unanswered and the last
# line stays a time: when the probe that found the ban began. (nft get
# element reads the whole set: about a second per look at 100,000.)
probe() {
	ip netns exec "$ns" bash -c 'exec 9<> <(:); while :; do echo "$EPOCHREALTIME"; { : <>"/dev/tcp/$0/9"; } 2>/dev/null; echo r; read -t 0.005 -u 9; done' "$1" >"$2" &
	probe_pids="$probe_pids $!"
}
# banned_at FILE: wait until FILE's probe is stuck on a try (half a second:
# longer than a busy machine keeps a shell waiting) and print when it began.
# The time is the probe's own, so looking every 0.2 s costs no precision;
# it looks with one fork a time (tail), in microseconds of bash's clock, so
# the watching takes little of the CPU that the daemon is measured on.
banned_at() {
	local last
	while :; do
		last=$(tail -n 1 "$1")
		case "$last" in [1-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]) ;; *) last="" ;; esac # a time, whole
		if [ -n "$last" ] && [ $((${EPOCHREALTIME/./} - ${last/./})) -gt 500000 ]; then
			echo "$last"
			return
		fi
		kill -0 "$pid" 2>/dev/null || { echo "flood.sh: the daemon stopped; see $dir/daemon.log" >&2; keep=1; exit 1; }
		sleep 0.2
	done
}
# kernel_nets: the /64s in set ban6n, one a line, sorted.
kernel_nets() { inns nft -j list set inet phalanx ban6n | jq -r '.nftables[] | .set? // empty | .elem[]? | .elem.val // .' | sort; }

# start_daemon: start the member in the namespace on $data and $log and
# wait until it serves.
start_daemon() {
	# ip netns exec execs the daemon: $! is the daemon's own pid.
	ip netns exec "$ns" "$bin" run --data "$data" --api 127.0.0.1:0 --enforce nftables --source "$log" >>"$dir/daemon.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do
		if status >/dev/null; then return 0; fi
		kill -0 "$pid" 2>/dev/null || { echo "flood.sh: the daemon stopped; see $dir/daemon.log" >&2; tail -5 "$dir/daemon.log" >&2; keep=1; exit 1; }
		sleep 0.1
	done
	echo "flood.sh: the daemon did not serve within 60 s; see $dir/daemon.log" >&2
	keep=1
	exit 1
}

# attack ADDR SEQ: the failures of one attacker, as sshd logs them.
attack() {
	awk -v k="$failures" -v ts="$(date '+%b %e %H:%M:%S')" -v a="$1" -v s="$2" 'BEGIN {
		for (j = 0; j < k; j++) printf "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", ts, s + j, a, 50000 + j
	}'
}
# quiet: wait until the daemon uses under 5% of a core for a second (its
# reports published and judged), at most 10 minutes.
quiet() {
	local a b
	for _ in $(seq 1 600); do
		a=$(cpu "$pid")
		sleep 1
		b=$(cpu "$pid")
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.05) }' && return 0
	done
}

lat_a="$tmp/latency-a.txt"
lat_b="$tmp/latency-b.txt"
lat_c="$tmp/latency-c.txt"
: >"$lat_a"
: >"$lat_b"
: >"$lat_c"
cat <<'EOF2'
A: a real attacker appended right after the flood, until its /64 is in the kernel set (the pipeline reads the whole flood first)
B: a second one appended once A is in the kernel set (the flood's reports still being written, published and judged)
C: --after more, one at a time, once every ban of the flood is in the kernel set (the flood's bans in force)
EOF2
printf '%-4s %8s %8s %12s %13s %9s %9s %12s %13s\n' run "A s" "B s" "table s" "kernel s" "CPU s" "bans/s" "quiet s" "quiet CPU s"
for r in $(seq 1 "$runs"); do
	dir="$tmp/run$r"
	mkdir -p "$dir"
	data="$dir/data"
	log="$dir/auth.log"
	: >"$log"
	ns="phalanx-flood-$$-$r"
	ip netns add "$ns"
	inns ip link set lo up
	start_daemon
	# Wait until the tail reads the log (it starts at the file's end).
	for _ in $(seq 1 200); do
		echo "$(date '+%b %e %H:%M:%S') web1 CRON[9]: (root) CMD (true)" >>"$log"
		[ "$(stat .pipeline.lines)" -gt 0 ] && break
		sleep 0.05
	done

	# The flood: attacker i at 2001:db8:H:L::1, H = 0x100 + i / 65535 and
	# L = 1 + i % 65535 (no zero group: sshd writes addresses in canonical
	# form, and phalanx's parser takes nothing else).
	ts=$(date '+%b %e %H:%M:%S')
	awk -v n="$attackers" -v k="$failures" -v ts="$ts" 'BEGIN {
		for (i = 0; i < n; i++) {
			a = sprintf("2001:db8:%x:%x::1", 256 + int(i / 65535), 1 + i % 65535)
			for (j = 0; j < k; j++) printf "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", ts, 1000 + j, a, 40000 + j
		}
	}' >"$dir/flood.log"
	a=2001:db8:ffff:ffff::66
	b=2001:db8:ffff:fffe::66
	attack "$a" 7000 >"$dir/real-a.log"
	attack "$b" 8000 >"$dir/real-b.log"
	# The real attackers' addresses go on the namespace's loopback (after the
	# start: the host's own addresses then are territory) to probe the kernel.
	inns ip addr add "$a/128" dev lo nodad
	inns ip addr add "$b/128" dev lo nodad
	probe "$a" "$dir/probe-a.txt"

	cpu0=$(cpu "$pid")
	t0=$(now)
	cat "$dir/flood.log" "$dir/real-a.log" >>"$log"
	t1=$(now)
	t2=$(banned_at "$dir/probe-a.txt")
	# B's probe starts only now: during A, one probe runs.
	probe "$b" "$dir/probe-b.txt"
	until [ -s "$dir/probe-b.txt" ]; do sleep 0.01; done
	tb=$(now)
	cat "$dir/real-b.log" >>"$log"
	t3=$(banned_at "$dir/probe-b.txt")
	stop_probes
	inns ip addr del "$a/128" dev lo
	inns ip addr del "$b/128" dev lo
	want=$((attackers + 2))
	until [ "$(stat .decisions)" -ge "$want" ]; do sleep 0.05; done
	t4=$(now)
	# Counting the kernel's elements lists the set (about 0.5 s for 100,000):
	# checked every half second, the figure is good to about a second.
	until [ "$(kernel_nets | wc -l)" -ge "$want" ]; do sleep 0.5; done
	t5=$(now)
	cpu1=$(cpu "$pid")
	# C: attackers after the flood, one at a time, each in its own /64.
	for k in $(seq 1 "$after"); do
		c=$(printf '2001:db8:ffff:%x::66' $((0xe000 + k)))
		attack "$c" $((9000 + 10 * k)) >"$dir/real-c.log"
		inns ip addr add "$c/128" dev lo nodad
		probe "$c" "$dir/probe-c.txt"
		until [ -s "$dir/probe-c.txt" ]; do sleep 0.01; done
		tc=$(now)
		cat "$dir/real-c.log" >>"$log"
		t=$(banned_at "$dir/probe-c.txt")
		awk -v a="$tc" -v b="$t" 'BEGIN { printf "%.3f\n", b - a }' >>"$lat_c"
		stop_probes
		inns ip addr del "$c/128" dev lo
	done
	want=$((want + after))
	quiet
	t6=$(now)
	cpu2=$(cpu "$pid")
	awk -v r="$r" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v tb="$tb" -v t3="$t3" -v t4="$t4" -v t5="$t5" -v t6="$t6" -v c0="$cpu0" -v c1="$cpu1" -v c2="$cpu2" -v n="$((want - after))" 'BEGIN {
		printf "%-4s %8.3f %8.3f %12.2f %13.2f %9.2f %9.0f %12.0f %13.2f\n", r, t2 - t1, t3 - tb, t4 - t0, t5 - t0, c1 - c0, n / (t5 - t0), t6 - t0 - 1, c2 - c0
	}'
	awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f\n", b - a }' >>"$lat_a"
	awk -v a="$tb" -v b="$t3" 'BEGIN { printf "%.3f\n", b - a }' >>"$lat_b"
	status | jq -c '{decisions, enforcement, pipeline: {lines: .pipeline.lines, self_bans: .pipeline.self_bans}, reports}' >"$dir/status.json" || true

	if [ "$restart" = all ] || { [ "$restart" = last ] && [ "$r" = "$runs" ]; }; then
		awk -v n="$attackers" -v m="$after" 'BEGIN { for (i = 0; i < n; i++) printf "2001:db8:%x:%x::\n", 256 + int(i / 65535), 1 + i % 65535; print "2001:db8:ffff:ffff::"; print "2001:db8:ffff:fffe::"; for (k = 1; k <= m; k++) printf "2001:db8:ffff:%x::\n", 57344 + k }' | sort >"$dir/expected.txt"
		# missing FILE: expected /64s not in FILE.
		missing() { comm -23 "$dir/expected.txt" "$1" | wc -l; }
		stop_daemon
		kernel_nets >"$dir/kernel-stopped.txt"
		t7=$(now)
		start_daemon
		t8=$(now)
		kernel_nets >"$dir/kernel-restarted.txt"
		quiet
		kernel_nets >"$dir/kernel-settled.txt"
		awk -v r="$r" -v s="$(missing "$dir/kernel-stopped.txt")" -v k="$(missing "$dir/kernel-restarted.txt")" -v q="$(missing "$dir/kernel-settled.txt")" -v n="$want" -v t="$(awk -v a="$t7" -v b="$t8" 'BEGIN { print b - a }')" 'BEGIN {
			printf "restart after run %s (serving %.1f s after the start): of %d bans, missing from the kernel %d while stopped, %d once serving, %d once quiet\n", r, t, n, s, k, q
		}'
		if [ "$(missing "$dir/kernel-settled.txt")" -gt 0 ]; then
			echo "flood.sh: bans lost across the restart, e.g.:" >&2
			comm -23 "$dir/expected.txt" "$dir/kernel-settled.txt" | head -5 >&2
		fi
	fi
	stop_daemon
	ip netns delete "$ns"
	ns=""
done
for x in A B C; do
	f=$lat_a
	[ "$x" = B ] && f=$lat_b
	[ "$x" = C ] && f=$lat_c
	[ -s "$f" ] || continue
	sort -n "$f" | awk -v x="$x" '{ v[NR] = $1 } END {
		p50 = v[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
		printf "real attacker %s, %d samples: p50 %.3f s, p99 %.3f s, max %.3f s\n", x, NR, p50, v[i99], v[NR]
	}'
done
