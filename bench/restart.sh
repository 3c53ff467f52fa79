#!/bin/sh
# Time to serve after a restart, with N reports behind (default 100000 and
# 1000000): from the snapshot written at stop, then by a full replay of
# the report stream, back to back in one process (wall and CPU seconds);
# both must hold every decision in force before the stop.
# Usage: bench/restart.sh [N...]
# The environment passes on to the test (daemon/snapshot_test.go):
#   PHALANX_BENCH_DIR=DIR        keep the data there; a second run with it
#                                publishes nothing and restarts at once
#   PHALANX_BENCH_FULL=0         skip the full replay
#   PHALANX_BENCH_CPUPROFILE=F   CPU profile of the restart from the snapshot
#   PHALANX_BENCH_LOG=1          the member's log (each step of the load)
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 100000 1000000
for n in "$@"; do
	echo "== $n reports behind"
	PHALANX_BENCH=1 PHALANX_BENCH_REPORTS="$n" go test ./daemon -run '^TestSnapshotRestartBench$' -count=1 -v -timeout 2h |
		grep -E 'published|reusing|restart|PASS|FAIL|ok|loaded a snapshot'
done
