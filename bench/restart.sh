#!/bin/sh
# Time to serve after a restart, with N reports behind (default 100000 and
# 1000000): from the snapshot written at stop, then by a full replay of
# the report stream, back to back in one process (wall and CPU seconds).
# Usage: bench/restart.sh [N...]
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 100000 1000000
for n in "$@"; do
	echo "== $n reports behind"
	PHALANX_BENCH=1 PHALANX_BENCH_REPORTS="$n" go test ./daemon -run '^TestSnapshotRestartBench$' -count=1 -v -timeout 2h |
		grep -E 'published|restart|PASS|FAIL|ok'
done
