#!/usr/bin/env bash
# alliance.sh: the alliance's figures. Runs, one after the other,
#   1. TestAllianceLatency (cmd/phalanx): attack on A -> nftables element on
#      B and C, three real members in network namespaces, 1,000 attacks,
#      then 1,000 more with the report stream's leader killed (needs root);
#   2. TestSimulation50 (fabric): 50 members (hub of 3 + 47 leafs) at
#      10,000 reports/s for 30 s: delivery latency, rate, CPU, memory;
#   3. report's BenchmarkVerify: the ed25519 cost of 10,000 reports/s;
#   4. the fleet scenarios: TestFleetLatency and TestFleetCost (cmd/phalanx,
#      three members in namespaces, needs root), the sighting simulation of
#      50 members (sighting) and the arbiter's cost per sighting;
# and prints the RESULT lines. Run by hand on a quiet machine; not CI.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/alliance.sh [--only latency|sim|verify|fleet] [--attacks N] [--members N] [--rate N] [--seconds N] [--keep DIR]

  --only WHAT   run one part only
  --attacks N   attacks per part of TestAllianceLatency (default 1000);
                TestFleetLatency's attackers are a third of it (default 333)
  --members N   members in the simulation (default 50)
  --rate N      reports per second in all (default 10000)
  --seconds N   length of the simulation's measured window, and of each
                phase of TestFleetCost (default 30)
  --keep DIR    keep the full test logs in DIR
EOF
}

only=""
attacks=1000
members=50
rate=10000
seconds=30
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only="${2:?--only needs latency, sim, verify or fleet}"; shift 2 ;;
	--attacks) attacks="${2:?--attacks needs a number}"; shift 2 ;;
	--members) members="${2:?--members needs a number}"; shift 2 ;;
	--rate) rate="${2:?--rate needs a number}"; shift 2 ;;
	--seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "alliance.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
for n in "$attacks" "$members" "$rate" "$seconds"; do
	case "$n" in '' | *[!0-9]*) echo "alliance.sh: want whole numbers, got '$n'" >&2; exit 2 ;; esac
done
case "$only" in '' | latency | sim | verify | fleet) ;; *) echo "alliance.sh: --only wants latency, sim, verify or fleet" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
out="${keep:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "$keep" ] || trap 'rm -rf "$out"' EXIT

echo "load before: $(uptime)"
status=0

if [ -z "$only" ] || [ "$only" = latency ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "alliance.sh: TestAllianceLatency needs root (network namespaces, nftables)" >&2
		status=1
	else
		echo "== TestAllianceLatency ($attacks attacks per part)"
		echo "+ PHALANX_BENCH=1 PHALANX_BENCH_ATTACKS=$attacks go test ./cmd/phalanx -run '^TestAllianceLatency\$' -count=1 -v -timeout 30m"
		if ! PHALANX_BENCH=1 PHALANX_BENCH_ATTACKS="$attacks" go test ./cmd/phalanx -run '^TestAllianceLatency$' -count=1 -v -timeout 30m >"$out/latency.log" 2>&1; then
			status=1
			echo "TestAllianceLatency FAILED (log: $out/latency.log)"
		fi
		grep -E 'RESULT|part [12]:|killed|--- (PASS|FAIL)|missed' "$out/latency.log" | sed 's/^ *//' || true
	fi
fi

if [ -z "$only" ] || [ "$only" = sim ]; then
	echo "== TestSimulation50 ($members members, $rate reports/s, $seconds s)"
	echo "+ PHALANX_BENCH=1 PHALANX_SIM_MEMBERS=$members PHALANX_SIM_RATE=$rate PHALANX_SIM_SECONDS=$seconds go test ./fabric -run '^TestSimulation50\$' -count=1 -v -timeout 30m"
	if ! PHALANX_BENCH=1 PHALANX_SIM_MEMBERS="$members" PHALANX_SIM_RATE="$rate" PHALANX_SIM_SECONDS="$seconds" \
		go test ./fabric -run '^TestSimulation50$' -count=1 -v -timeout 30m >"$out/sim.log" 2>&1; then
		status=1
		echo "TestSimulation50 FAILED (log: $out/sim.log)"
	fi
	grep -E 'RESULT|simulation:|linked|--- (PASS|FAIL)|sim_test.go:[0-9]+: [^R]' "$out/sim.log" | grep -v 'level=' | sed 's/^ *//' || true
fi

if [ -z "$only" ] || [ "$only" = verify ]; then
	echo "== ed25519 verification (report.BenchmarkVerify)"
	echo "+ go test ./report -run '^\$' -bench '^BenchmarkVerify\$' -benchtime 2s -count 3"
	go test ./report -run '^$' -bench '^BenchmarkVerify$' -benchtime 2s -count 3 >"$out/verify.log" 2>&1 || status=1
	grep -E '^Benchmark|^cpu:' "$out/verify.log" || true
	# Every member verifies every report once (the second copy, fast path
	# or stream, is dropped as a duplicate before the signature check).
	awk -v rate="$rate" -v members="$members" '/^BenchmarkVerify/ { for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") { sum += $i; n++ } }
		END { if (n) { ns = sum / n; printf "verify: mean %.0f ns/op over %d runs -> %d reports/s cost %.3f cores per member; %d members: %.2f cores in all\n", ns, n, rate, ns * rate / 1e9, members, ns * rate / 1e9 * members } }' "$out/verify.log"
fi

if [ -z "$only" ] || [ "$only" = fleet ]; then
	fleet=$((attacks / 3))
	[ "$fleet" -ge 10 ] || fleet=10
	if [ "$(id -u)" != 0 ]; then
		echo "alliance.sh: TestFleetLatency and TestFleetCost need root (network namespaces, nftables)" >&2
		status=1
	else
		echo "== TestFleetLatency ($fleet attackers) and TestFleetCost ($seconds s a phase)"
		echo "+ PHALANX_BENCH=1 PHALANX_BENCH_FLEET=$fleet PHALANX_BENCH_SECONDS=$seconds go test ./cmd/phalanx -run '^TestFleet(Latency|Cost)\$' -count=1 -v -timeout 30m"
		if ! PHALANX_BENCH=1 PHALANX_BENCH_FLEET="$fleet" PHALANX_BENCH_SECONDS="$seconds" \
			go test ./cmd/phalanx -run '^TestFleet(Latency|Cost)$' -count=1 -v -timeout 30m >"$out/fleet.log" 2>&1; then
			status=1
			echo "TestFleetLatency/TestFleetCost FAILED (log: $out/fleet.log)"
		fi
		grep -E 'RESULT|sightings map|--- (PASS|FAIL)' "$out/fleet.log" | sed 's/^ *//' || true
	fi
	echo "== the fleet simulation (50 members, ground truth) and the arbiter's cost per sighting"
	echo "+ go test ./sighting -run '^TestFleetSimulation\$' -count=1 -v"
	go test ./sighting -run '^TestFleetSimulation$' -count=1 -v >"$out/fleetsim.log" 2>&1 || status=1
	grep -E 'banned on all|reports on the stream|--- (PASS|FAIL)' "$out/fleetsim.log" | sed 's/^ *//' | cut -c1-400 || true
	echo "+ go test ./arbiter -run '^\$' -bench 'Sighting|SightEntries|FleetFlood' -benchmem -count 3"
	go test ./arbiter -run '^$' -bench 'Sighting|SightEntries|FleetFlood' -benchmem -count 3 >"$out/arbiter.log" 2>&1 || status=1
	grep -E '^Benchmark' "$out/arbiter.log" || true
fi

echo "load after: $(uptime)"
exit "$status"
