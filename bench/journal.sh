#!/usr/bin/env bash
# journal.sh: what reading sshd's entries from the systemd journal costs.
# Writes a journal of N entries with the real systemd-journal-remote, then
# measures the CPU time of journalctl writing it out (as package
# source/journal runs it, and in the other output formats for comparison)
# beside the CPU time of the package's Go decoder, and of both together
# through a Journal. Run by hand from anywhere in the repository; not part
# of CI. Needs journalctl (package systemd), systemd-journal-remote (package
# systemd-journal-remote), GNU time (package time) and Go.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/journal.sh [--entries N] [--keep DIR]

  --entries N  entries in the generated journal (default 200000)
  --keep DIR   keep the journal and journalctl's output in DIR
EOF
}

entries=200000
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--entries) entries="${2:?--entries needs a number}"; shift 2 ;;
	--entries=*) entries="${1#*=}"; shift ;;
	--keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
	--keep=*) keep="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "journal.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case "$entries" in '' | *[!0-9]*) echo "journal.sh: --entries wants a whole number, got '$entries'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."

remote=""
for p in systemd-journal-remote /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
	if command -v "$p" >/dev/null; then remote=$(command -v "$p"); break; fi
done
[ -n "$remote" ] || { echo "journal.sh: systemd-journal-remote not found: apt-get install systemd-journal-remote" >&2; exit 1; }
command -v journalctl >/dev/null || { echo "journal.sh: journalctl not found: apt-get install systemd" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "journal.sh: GNU time not found: apt-get install time" >&2; exit 1; }
command -v go >/dev/null || { echo "journal.sh: go not found" >&2; exit 1; }

if [ -n "$keep" ]; then
	mkdir -p "$keep"
	tmp=$(cd "$keep" && pwd)
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
fi
jdir="$tmp/journal"
rm -rf "$jdir"
mkdir -p "$jdir"

echo "writing $entries entries with systemd-journal-remote ..." >&2
# About 60% failed log-ins, 15% accepted, 25% other services.
awk -v n="$entries" 'BEGIN {
	for (i = 1; i <= n; i++) {
		k = i % 20
		if (k < 12) {
			id = "sshd-session"; unit = "ssh.service"
			msg = sprintf("Failed password for invalid user admin%d from 203.0.113.%d port %d ssh2", i % 97, i % 250, 1024 + i % 60000)
		} else if (k < 15) {
			id = "sshd-session"; unit = "ssh.service"
			msg = sprintf("Accepted publickey for deploy from 198.51.100.%d port %d ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0", i % 250, 1024 + i % 60000)
		} else if (k < 18) {
			id = "CRON"; unit = "cron.service"
			msg = sprintf("pam_unix(cron:session): session opened for user root(uid=0) by (uid=0) [%d]", i)
		} else {
			id = "systemd"; unit = "init.scope"
			msg = sprintf("Started session-%d.scope - Session %d of User deploy.", i, i)
		}
		printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n", 1700000000000000 + i * 1000, 1000000 + i * 1000
		printf "_MACHINE_ID=fedcba9876543210fedcba9876543210\n_HOSTNAME=web1\nPRIORITY=6\nSYSLOG_FACILITY=10\n"
		printf "SYSLOG_IDENTIFIER=%s\n_PID=%d\n_UID=0\n_GID=0\n_COMM=%s\n_EXE=/usr/sbin/%s\n_SYSTEMD_UNIT=%s\n_TRANSPORT=syslog\n", id, 1000 + i % 30000, id, id, unit
		printf "MESSAGE=%s\n\n", msg
	}
}' | "$remote" --output="$jdir/bench.journal" --split-mode=none - 2>/dev/null

fields=$(sed -n 's/^const outputFields = "\(.*\)"$/\1/p' source/journal/decode.go)
[ -n "$fields" ] || { echo "journal.sh: cannot find outputFields in source/journal/decode.go" >&2; exit 1; }

# measure NAME OUT CMD...: run CMD with stdout to OUT and print a row.
printf '%-44s %10s %9s %15s\n' "what" "entries" "CPU s" "entries/CPU-s"
row() { # name cpu
	awk -v name="$1" -v n="$entries" -v cpu="$2" 'BEGIN { printf "%-44s %10d %9.2f %15.0f\n", name, n, cpu, (cpu > 0 ? n / cpu : 0) }'
}
measure() {
	local name=$1 out=$2
	shift 2
	/usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >"$out"
	row "$name" "$(awk '{ print $1 + $2 }' "$tmp/time")"
}
base=(journalctl "--directory=$jdir" --merge --no-pager)
measure "journalctl -o export --output-fields (ours)" "$tmp/export.out" "${base[@]}" --output=export "--output-fields=$fields"
measure "journalctl -o export (all fields)" /dev/null "${base[@]}" --output=export
measure "journalctl -o json (all fields)" /dev/null "${base[@]}" --output=json

# The Go side: the decoder alone on journalctl's saved output, then a
# Journal end to end (journalctl plus decoder, through the pipe).
# The decoder runs 5 times (the first pays for growing the heap); the
# Journal reads the journal once.
bench=$(PHALANX_JOURNAL_EXPORT="$tmp/export.out" go test -run '^$' -bench 'BenchmarkDecodeExportFile' -benchtime 5x ./source/journal/ &&
	PHALANX_JOURNAL_DIR="$jdir" PHALANX_JOURNAL_ENTRIES="$entries" go test -run '^$' -bench 'BenchmarkJournalDir' -benchtime 1x ./source/journal/)
metric() { # benchmark unit
	echo "$bench" | awk -v b="$1" -v u="$2" '$1 ~ "^"b { for (i = 2; i < NF; i++) if ($(i + 1) == u) print $i }'
}
dec_eps=$(metric BenchmarkDecodeExportFile entries/cpu-s)
awk -v name="go decoder (source/journal) alone" -v n="$entries" -v eps="$dec_eps" 'BEGIN { printf "%-44s %10d %9.2f %15.0f\n", name, n, n / eps, eps }'
row "Journal end to end: journalctl's share" "$(metric BenchmarkJournalDir journalctl-cpu-s/op)"
row "Journal end to end: Go's share" "$(metric BenchmarkJournalDir go-cpu-s/op)"
