package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/report"
)

// peerSnapshotAlliance forms a three-member alliance in which A saw
// attacks from attacks addresses, and waits until every member has judged
// the whole stream. It returns the alliance and the addresses.
func peerSnapshotAlliance(t *testing.T, attacks int) (*alliance, []string) {
	t.Helper()
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a := al.members[0]
	a.waitTailing()
	var addrs, lines []string
	for i := range attacks {
		addr := fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250)
		addrs = append(addrs, addr)
		lines = append(lines, attack(addr, 6)...)
	}
	appendLines(t, a.log, lines...)
	waitFor(t, 120*time.Second, "A's attackers banned on every member", func() bool {
		for _, m := range al.members {
			if !banned(m.d, addrs[len(addrs)-1]) {
				return false
			}
		}
		return true
	})
	al.quiet(t)
	return al, addrs
}

func statusOf(m *member) daemon.Status {
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	return st
}

// quiet waits until every member has judged the same stream, which has
// not grown for two seconds, and returns its last sequence.
func (al *alliance) quiet(t *testing.T) uint64 {
	t.Helper()
	var seq uint64
	since := time.Now()
	waitFor(t, 120*time.Second, "every member at the same stream position, the stream still", func() bool {
		s := statusOf(al.members[0]).FabricSeq
		for _, m := range al.members[1:] {
			if statusOf(m).FabricSeq != s {
				since = time.Now()
				return false
			}
		}
		if s != seq {
			seq, since = s, time.Now()
		}
		return s > 0 && time.Since(since) > 2*time.Second
	})
	return seq
}

// restartMember stops member i and starts it again on its data directory.
func (al *alliance) restartMember(t *testing.T, i int) {
	t.Helper()
	m := al.members[i]
	c, err := charter.Load(filepath.Join(m.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	me, _, _ := c.Member(m.d.ID())
	m.stop()
	al.members[i] = startWith(t, m.dir, m.log, func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = me.Fabric })
}

// joinFromPeers makes a new leaf member join the alliance, with the
// stream length from which it asks for a snapshot lowered to min.
func (al *alliance) joinFromPeers(t *testing.T, min uint64) *member {
	t.Helper()
	dir := al.leafDir(t, "joiner")
	return startHooked(t, dir, filepath.Join(dir, "auth.log"), nil, func(d *daemon.Daemon) { d.SetPeerSnapshotForTest(min, 15*time.Second) })
}

// sameBans checks that j holds the bans the alliance's first member
// holds: the same digest of the bans in force, and every address banned.
func sameBans(t *testing.T, al *alliance, j *member, addrs []string) {
	t.Helper()
	a := al.members[0]
	waitFor(t, 60*time.Second, "the joiner's digest equal to A's", func() bool {
		at := time.Now().Add(-2 * time.Second).Truncate(time.Second)
		x, n := a.d.DigestForTest(at)
		y, k := j.d.DigestForTest(at)
		return x == y && n == k && n > 0
	})
	for _, addr := range addrs {
		if banned(a.d, addr) != banned(j.d, addr) {
			t.Fatalf("%s: banned on A %v, on the joiner %v", addr, banned(a.d, addr), banned(j.d, addr))
		}
	}
}

// TestPeerSnapshotJoin: a member that joins an alliance with a long stream
// catches up from another member's snapshot; a member offering a damaged
// one (a byte flipped after signing) is refused and the next one's is
// taken; the joiner ends with the others' bans.
func TestPeerSnapshotJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al, addrs := peerSnapshotAlliance(t, 300)
	al.restartMember(t, 1) // B started under the charter of two: its snapshots are refused by its own check until it restarts
	seq := al.quiet(t)
	b, c := al.members[1], al.members[2]
	pc, err := c.d.WriteSnapshotForTest()
	if err != nil || pc == 0 {
		t.Fatalf("C's snapshot: position %d, err %v", pc, err)
	}
	pb, err := b.d.WriteSnapshotForTest()
	if err != nil || pb != pc {
		t.Fatalf("B's snapshot: position %d (C's %d), err %v", pb, pc, err)
	}
	path := filepath.Join(b.dir, "snapshot")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("stream at %d, snapshots at %d (%d bytes)", seq, pc, len(data))

	j := al.joinFromPeers(t, 100)
	st := statusOf(j)
	t.Logf("joiner: %v", st.Reports)
	if st.Reports["peer_snapshots_loaded"] != 1 || st.Reports["peer_snapshots_refused"] != 1 || st.Reports["peer_snapshots_discarded"] != 0 {
		t.Fatalf("peer snapshot outcomes %v: want one refused (B's, damaged), one loaded (C's)", st.Reports)
	}
	al.members = append(al.members, j)
	sameBans(t, al, j, addrs)

	// New reports reach it.
	addr := "203.0.113.199"
	appendLines(t, al.members[0].log, attack(addr, 6)...)
	waitFor(t, 30*time.Second, "a new ban on the joiner", func() bool { return banned(j.d, addr) })
}

// TestPeerSnapshotQuorumDisagrees: a member offers a validly signed
// snapshot whose state holds a ban the stream never made: the joiner loads
// it, the other members' digests differ, so it throws it away, replays the
// whole stream and ends with the others' bans (not the lie).
func TestPeerSnapshotQuorumDisagrees(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al, addrs := peerSnapshotAlliance(t, 200)
	c := al.members[2]
	lie := "192.0.2.66"
	r := report.Report{Seq: 1 << 16, Time: time.Now().UTC(), Type: report.TypeAlert, Scenario: "ssh-bf",
		Value: netip.MustParsePrefix(lie + "/32"), First: time.Now().UTC().Add(-time.Minute), Last: time.Now().UTC(), Count: 5,
		Evidence: []string{"Failed password for root from " + lie}}
	r.Sign(c.d.IdentityForTest())
	decided, err := c.d.WriteLyingSnapshotForTest(&r)
	if err != nil || !decided {
		t.Fatalf("the lying snapshot: decided %v, err %v", decided, err)
	}

	j := al.joinFromPeers(t, 100)
	st := statusOf(j)
	t.Logf("joiner: %v", st.Reports)
	if st.Reports["peer_snapshots_discarded"] != 1 || st.Reports["peer_snapshots_loaded"] != 0 {
		t.Fatalf("peer snapshot outcomes %v: want the lying snapshot discarded", st.Reports)
	}
	al.members = append(al.members, j)
	sameBans(t, al, j, addrs)
	if banned(j.d, lie) {
		t.Fatal("the joiner kept the ban of the lying snapshot")
	}
}

// TestPeerSnapshotJoinBench measures a member joining an alliance whose
// stream holds 100,000 signed reports: caught up from another member's
// snapshot, then (another new member) replaying the whole stream. It logs
// the process's CPU seconds and the time until each serves. Run with
// PHALANX_BENCH_JOIN=1 (and -v); PHALANX_BENCH_JOIN_REPORTS changes the
// count.
func TestPeerSnapshotJoinBench(t *testing.T) {
	if os.Getenv("PHALANX_BENCH_JOIN") != "1" {
		t.Skip("set PHALANX_BENCH_JOIN=1 to measure a join behind 100,000 reports")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PHALANX_BENCH_JOIN_REPORTS")); err == nil && v > 0 {
		n = v
	}
	al := formAlliance(t, 4)
	al.sameCharter(t, 4)
	// D signs and publishes the reports (not through its outbox: D is
	// then no witness of a joiner's state, its own sequence being behind
	// the stream's; A, B and C are), and offers its snapshot.
	d := al.members[3]
	author := d.d.IdentityForTest()
	ctx := t.Context()
	began := time.Now()
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				seq := next.Add(1)
				if seq > uint64(n) {
					return
				}
				at := time.Now().UTC()
				v := netip.AddrFrom4([4]byte{100, 64 + byte(seq>>16), byte(seq >> 8), byte(seq)})
				r := report.Report{Seq: seq, Time: at, Type: report.TypeAlert, Scenario: "ssh-bf", Value: netip.PrefixFrom(v, 32),
					First: at.Add(-time.Minute), Last: at, Count: 5, Evidence: []string{"Failed password for root from " + v.String()}}
				r.Sign(author)
				if _, err := d.d.PublishForTest(ctx, author.ID, r.ID(), report.Marshal(&r)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seq := al.quiet(t)
	t.Logf("published %d reports in %v; stream at %d", n, time.Since(began).Round(time.Millisecond), seq)
	if p, err := d.d.WriteSnapshotForTest(); err != nil || p == 0 {
		t.Fatalf("D's snapshot: position %d, err %v", p, err)
	}

	for _, tc := range []struct {
		name string
		min  uint64
	}{{"from a snapshot", 1000}, {"full replay", 1 << 62}} {
		cpu0, wall0 := cpuSeconds(), time.Now()
		j := al.joinSlow(t, tc.min)
		cpu, wall := cpuSeconds()-cpu0, time.Since(wall0)
		st := statusOf(j)
		t.Logf("%s: serving after %v, %.2f CPU seconds (the whole test process), fabric seq %d, decisions %d, peer snapshots loaded %d",
			tc.name, wall.Round(time.Millisecond), cpu, st.FabricSeq, st.Decisions, st.Reports["peer_snapshots_loaded"])
		j.stop()
	}
}

// joinSlow is joinFromPeers for a join that may take minutes.
func (al *alliance) joinSlow(t *testing.T, min uint64) *member {
	t.Helper()
	dir := al.leafDir(t, "joiner")
	cfg := config.Default()
	cfg.Daemon.API, cfg.Daemon.Enforce, cfg.Daemon.Sources = "127.0.0.1:0", "none", []string{filepath.Join(dir, "auth.log")}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rctx, rcancel := context.WithCancel(context.Background())
	d, err := daemon.New(rctx, daemon.Options{DataDir: dir, Logger: logger, Config: cfg})
	if err != nil {
		rcancel()
		t.Fatal(err)
	}
	d.SetPeerSnapshotForTest(min, time.Minute)
	m := &member{t: t, d: d, cancel: rcancel, done: make(chan error, 1), dir: dir, log: filepath.Join(dir, "auth.log")}
	go func() { m.done <- d.Run(rctx) }()
	select {
	case <-d.Ready():
	case err := <-m.done:
		t.Fatalf("the joiner stopped before it was ready: %v", err)
	case <-time.After(10 * time.Minute):
		t.Fatal("the joiner not ready within 10 minutes")
	}
	waitFor(t, 10*time.Second, "API address", func() bool { return d.Addr() != "" })
	t.Cleanup(m.stop)
	return m
}

// cpuSeconds is the CPU time this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
