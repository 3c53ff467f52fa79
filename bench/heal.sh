#!/usr/bin/env bash
# heal.sh: how fast a member heals after a partition, and what TLS costs
# the fabric. Runs, one after the other,
#   1. TestHealBench (cmd/phalanx): hub members A, B, C and leaf member L,
#      real processes in network namespaces with TLS on every fabric link;
#      C's and L's links cut in turn at the bridge for 10, 20, 30 s, an
#      attacker banned on A meanwhile, the time from the link's return to
#      the attacker in the cut member's nftables set (needs root);
#   2. TestFabricTLSCost (cmd/phalanx): three clustered Fabrics in one
#      process at a fixed report rate, with TLS and without, back to back:
#      bytes on the routes and CPU per report;
#   3. TestAllianceCapture (cmd/phalanx): the bridge's frames captured while
#      an attack with a distinctive user name is banned alliance-wide: no
#      clear text (needs root).
# and prints the RESULT lines. Run by hand on a quiet machine; not CI.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: bench/heal.sh [--only heal|tls|capture] [--rounds N] [--cuts LIST] [--rate N] [--seconds N] [--keep DIR]

  --only WHAT   run one part only
  --rounds N    partitions per cut member (default 10)
  --cuts LIST   cut lengths, used in turn (default 10s,20s,30s)
  --rate N      reports per second of TestFabricTLSCost (default 200)
  --seconds N   length of each of its phases (default 10)
  --keep DIR    keep the full test logs in DIR
USAGE
}

only=""
rounds=10
cuts="10s,20s,30s"
rate=200
seconds=10
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only="${2:?--only needs heal, tls or capture}"; shift 2 ;;
	--rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
	--cuts) cuts="${2:?--cuts needs a list such as 10s,20s}"; shift 2 ;;
	--rate) rate="${2:?--rate needs a number}"; shift 2 ;;
	--seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "heal.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
for n in "$rounds" "$rate" "$seconds"; do
	case "$n" in '' | *[!0-9]*) echo "heal.sh: want whole numbers, got '$n'" >&2; exit 2 ;; esac
done
case "$only" in '' | heal | tls | capture) ;; *) echo "heal.sh: --only wants heal, tls or capture" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
out="${keep:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "$keep" ] || trap 'rm -rf "$out"' EXIT

echo "load before: $(uptime)"
status=0

if { [ -z "$only" ] || [ "$only" = heal ] || [ "$only" = capture ]; } && [ "$(id -u)" != 0 ]; then
	echo "heal.sh: TestHealBench and TestAllianceCapture need root (network namespaces, nftables)" >&2
	exit 1
fi

if [ -z "$only" ] || [ "$only" = heal ]; then
	echo "== TestHealBench ($rounds partitions per cut member, cuts $cuts)"
	echo "+ PHALANX_BENCH_HEAL=1 PHALANX_BENCH_HEAL_ROUNDS=$rounds PHALANX_BENCH_HEAL_CUTS=$cuts go test ./cmd/phalanx -run '^TestHealBench\$' -count=1 -v -timeout 60m"
	if ! PHALANX_BENCH_HEAL=1 PHALANX_BENCH_HEAL_ROUNDS="$rounds" PHALANX_BENCH_HEAL_CUTS="$cuts" \
		go test ./cmd/phalanx -run '^TestHealBench$' -count=1 -v -timeout 60m >"$out/heal.log" 2>&1; then
		status=1
		echo "TestHealBench FAILED (log: $out/heal.log)"
	fi
	grep -E 'RESULT|round [0-9]+:|--- (PASS|FAIL)' "$out/heal.log" | sed 's/^ *//' || true
fi

if [ -z "$only" ] || [ "$only" = tls ]; then
	echo "== TestFabricTLSCost ($rate reports/s, $seconds s a phase)"
	echo "+ PHALANX_BENCH_TLS=1 PHALANX_BENCH_TLS_RATE=$rate PHALANX_BENCH_TLS_SECONDS=$seconds go test ./cmd/phalanx -run '^TestFabricTLSCost\$' -count=1 -v -timeout 30m"
	if ! PHALANX_BENCH_TLS=1 PHALANX_BENCH_TLS_RATE="$rate" PHALANX_BENCH_TLS_SECONDS="$seconds" \
		go test ./cmd/phalanx -run '^TestFabricTLSCost$' -count=1 -v -timeout 30m >"$out/tls.log" 2>&1; then
		status=1
		echo "TestFabricTLSCost FAILED (log: $out/tls.log)"
	fi
	grep -E 'RESULT|--- (PASS|FAIL)' "$out/tls.log" | sed 's/^ *//' || true
fi

if [ -z "$only" ] || [ "$only" = capture ]; then
	echo "== TestAllianceCapture"
	echo "+ go test ./cmd/phalanx -run '^TestAllianceCapture\$' -count=1 -v"
	if ! go test ./cmd/phalanx -run '^TestAllianceCapture$' -count=1 -v >"$out/capture.log" 2>&1; then
		status=1
		echo "TestAllianceCapture FAILED (log: $out/capture.log)"
	fi
	grep -E 'captured|none of|clear text|--- (PASS|FAIL)' "$out/capture.log" | sed 's/^ *//' | cut -c1-400 || true
fi

echo "load after: $(uptime)"
exit "$status"
