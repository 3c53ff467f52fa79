package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Attackers of TestAllianceFaults, one per fault, and the bystander on the
// same interface; all on X's one interface in the test LAN.
var faultAttackers = []string{"10.77.0.71", "10.77.0.72", "10.77.0.73", "10.77.0.74", "10.77.0.75"}

// faultAlliance is the three-member alliance TestAllianceFaults injects
// faults into, and the attackers used so far.
type faultAlliance struct {
	*nsAlliance
	a, b, c  *nsMember
	attacked []string
}

// formFaultAlliance forms the alliance the way TestAllianceNamespaces does:
// init on A, then an invite and `run --join` for B and C, each in its own
// namespace on one bridge with the attacker's namespace X.
func formFaultAlliance(t *testing.T) *faultAlliance {
	t.Helper()
	al := newNSAlliance(t, []string{"a", "b", "c"}, append(slices.Clone(faultAttackers), neighbour)...)
	f := &faultAlliance{nsAlliance: al, a: al.members[0], b: al.members[1], c: al.members[2]}
	f.form("faultfleet")
	for _, m := range f.members {
		if err := dialFrom(f.x, neighbour, m.service(), 2*time.Second); err != nil {
			t.Fatalf("before any attack, %s cannot reach %s: %v", neighbour, m.service(), err)
		}
	}
	f.step("%s reaches A, B and C", neighbour)
	return f
}

// attack writes a brute force by addr to m's log and returns when.
func (f *faultAlliance) attack(m *nsMember, addr string) time.Time {
	f.t.Helper()
	m.waitTailing(f.t)
	appendTo(f.t, m.log, bruteForce(addr, 6)...)
	f.attacked = append(f.attacked, addr)
	return time.Now()
}

// converged waits until no decision is lost and the members agree, then
// checks it exactly: every attacker so far is in every member's nft set
// and has exactly one alliance decision on every member, the members list
// the same alliance decisions (value, origin, end), no member has a
// decision on anything but an attacker, and the neighbour is banned
// nowhere and still connects. It returns how long after since the members
// converged.
func (f *faultAlliance) converged(since time.Time, limit time.Duration) time.Duration {
	f.t.Helper()
	var sets [3][]string
	var took time.Duration
	deadline := time.Now().Add(limit)
	for {
		var lacks []string // what is missing where, for the failure message
		for i, m := range f.members {
			s, err := m.allianceDecisions()
			if err != nil {
				lacks = append(lacks, fmt.Sprintf("%s: decisions list: %v", m.name, err))
				continue
			}
			sets[i] = s
			for _, addr := range f.attacked {
				if !m.banned(addr) {
					lacks = append(lacks, fmt.Sprintf("%s not in %s's nft set", addr, m.name))
				}
				if !slices.ContainsFunc(s, func(k string) bool { return strings.HasPrefix(k, addr+" alliance ") }) {
					lacks = append(lacks, fmt.Sprintf("no alliance decision on %s in %s's table", addr, m.name))
				}
			}
		}
		took = time.Since(since)
		if len(lacks) == 0 && slices.Equal(sets[0], sets[1]) && slices.Equal(sets[0], sets[2]) {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("after %v, A, B and C have not converged on %v: %s; alliance decisions:\nA %v\nB %v\nC %v",
				limit, f.attacked, strings.Join(lacks, "; "), sets[0], sets[1], sets[2])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(sets[0]) != len(f.attacked) {
		f.t.Errorf("%d alliance decisions, want exactly one per attacker %v: %v", len(sets[0]), f.attacked, sets[0])
	}
	for _, m := range f.members {
		ds, err := m.decisions()
		if err != nil {
			f.t.Fatal(err)
		}
		for _, d := range ds {
			if !slices.Contains(f.attacked, d.Value) {
				f.t.Errorf("%s has a decision on %s, which attacked no one: %+v", m.name, d.Value, d)
			}
		}
		if m.banned(neighbour) {
			f.t.Errorf("the neighbour %s is in %s's nft set", neighbour, m.name)
		}
		if err := dialFrom(f.x, neighbour, m.service(), 2*time.Second); err != nil {
			f.t.Errorf("the neighbour %s cannot reach %s: %v", neighbour, m.service(), err)
		}
	}
	return took
}

// daemonLog returns m's daemon.log from offset on, and its size.
func daemonLog(m *nsMember, offset int64) (string, int64) {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(m.data), "daemon.log"))
	if offset > int64(len(b)) {
		offset = 0
	}
	return string(b[offset:]), int64(len(b))
}

// blockFiles returns the message block files (*.blk) under dataDir whose
// directory is .../streams/PHALANX/msgs (the stream's own store, raft ==
// false) or a Raft group's log under .../_js_/S-*/msgs (raft == true),
// sorted by block number.
func blockFiles(t *testing.T, dataDir string, raft bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a running store removes files as it goes
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".blk") {
			return err
		}
		dir := filepath.Dir(path)
		parent := filepath.Base(filepath.Dir(dir))
		isStream := filepath.Base(dir) == "msgs" && parent == "PHALANX" && filepath.Base(filepath.Dir(filepath.Dir(dir))) == "streams"
		isRaft := filepath.Base(dir) == "msgs" && strings.HasPrefix(parent, "S-")
		if isStream && !raft || isRaft && raft {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dataDir, err)
	}
	num := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".blk"))
		return n
	}
	slices.SortFunc(out, func(x, y string) int { return num(x) - num(y) })
	return out
}

func fileSize(t *testing.T, name string) int64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// flipAt inverts n bytes of name from offset from on.
func flipAt(t *testing.T, name string, from, n int64) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if from+n > int64(len(b)) {
		t.Fatalf("%s has %d bytes, too few to flip %d at %d", name, len(b), n, from)
	}
	for i := from; i < from+n; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// blocks returns every block file of m's stream and of its Raft log with
// its size, once none has changed for a second (the store writes its cache
// out in the background, and a log may move on to a new block).
func (f *faultAlliance) blocks(m *nsMember) map[string]int64 {
	f.t.Helper()
	var last map[string]int64
	stable := time.Now()
	waitUntil(f.t, 20*time.Second, m.name+"'s block files to stop changing", func() bool {
		now := map[string]int64{}
		for _, raft := range []bool{false, true} {
			for _, blk := range blockFiles(f.t, m.data, raft) {
				if st, err := os.Stat(blk); err == nil {
					now[blk] = st.Size()
				}
			}
		}
		if !maps.Equal(now, last) {
			last, stable = now, time.Now()
		}
		return len(now) > 0 && time.Since(stable) >= time.Second
	})
	return last
}

// grown returns the blocks of now that are new or longer than in before.
func grown(before, now map[string]int64) []string {
	var out []string
	for name, size := range now {
		if was, ok := before[name]; !ok || size > was {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestAllianceFaults injects into a real three-member alliance the faults
// Jepsen used against NATS JetStream (2025): a member's fabric files
// corrupted and truncated while it is down, a member killed while cut off
// by a partition, a member paused past every timeout, and an acknowledged
// report vanishing from every replica of the stream. After each, no
// decision is lost anywhere, the members' alliance decisions are identical,
// and no innocent address is banned.
func TestAllianceFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member alliance in network namespaces and injects faults")
	}
	f := formFaultAlliance(t)
	a, b, c := f.a, f.b, f.c
	first := f.attack(a, faultAttackers[0])
	f.bannedBy(faultAttackers[0], first, 45*time.Second, "all up", a, b, c)
	f.step("A, B and C converged on %s in %v", faultAttackers[0], f.converged(first, 30*time.Second).Round(time.Millisecond))

	// Fault 1: B's store is damaged while B is down.
	b.p.kill()
	f.step("killed B with SIGKILL")
	blks := blockFiles(t, b.data, false)
	if len(blks) == 0 {
		t.Fatalf("no stream block (*.blk under streams/PHALANX/msgs) in %s", b.data)
	}
	newest := blks[len(blks)-1]
	half := fileSize(t, newest) / 2
	var flipped string
	if len(blks) > 1 {
		flipped = blks[len(blks)-2]
	} else if raft := blockFiles(t, b.data, true); len(raft) > 0 {
		// One stream block only: damage the stream's Raft log instead,
		// the other copy of the messages on B's disk.
		flipped = raft[len(raft)-1]
	}
	if flipped == "" {
		t.Fatalf("B has one stream block %s and no Raft log block to damage", newest)
	}
	size := fileSize(t, flipped)
	flipAt(t, flipped, size/3, min(64, size/3))
	if err := os.Truncate(newest, half); err != nil {
		t.Fatal(err)
	}
	f.step("damaged B's store: truncated %s to %d bytes, flipped %d bytes of %s (%d bytes) at %d",
		relTo(b.data, newest), half, min(64, size/3), relTo(b.data, flipped), size, size/3)
	wrote := f.attack(a, faultAttackers[1])
	f.bannedBy(faultAttackers[1], wrote, 45*time.Second, "B down, its store damaged", a, c)
	b.start(t)
	restarted := time.Now()
	f.step("B restarted on its damaged store and serves")
	f.step("fault 1 (damaged store): A, B and C converged %v after B's restart", f.converged(restarted, 60*time.Second).Round(time.Millisecond))

	// Fault 2: C is killed while cut off by a partition.
	f.l.setPort(t, c.port, false)
	f.step("cut C's link (hub port %s down)", c.port)
	wrote = f.attack(a, faultAttackers[2])
	f.bannedBy(faultAttackers[2], wrote, 45*time.Second, "C cut off", a, b)
	if c.banned(faultAttackers[2]) {
		t.Fatalf("C banned %s while cut off: the cut did not isolate it", faultAttackers[2])
	}
	c.p.kill()
	f.step("killed C with SIGKILL while cut off; it had not banned %s", faultAttackers[2])
	f.l.setPort(t, c.port, true)
	f.step("healed C's link")
	c.start(t)
	restarted = time.Now()
	f.step("C restarted and serves")
	f.step("fault 2 (kill during a partition): A, B and C converged %v after C's restart", f.converged(restarted, 60*time.Second).Round(time.Millisecond))

	// Fault 3: B is paused past NATS' ping and route timeouts and Raft's
	// election timeouts.
	if err := b.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	t.Cleanup(func() { b.p.cmd.Process.Signal(syscall.SIGCONT) })
	f.step("paused B with SIGSTOP")
	wrote = f.attack(c, faultAttackers[3])
	f.bannedBy(faultAttackers[3], wrote, 45*time.Second, "B paused", c, a)
	if b.banned(faultAttackers[3]) {
		t.Fatalf("B, paused, banned %s", faultAttackers[3])
	}
	waitUntil(t, 15*time.Second, "B's pause to last 10s", func() bool { return time.Since(paused) >= 10*time.Second })
	if err := b.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	f.step("resumed B with SIGCONT after %v", resumed.Sub(paused).Round(time.Millisecond))
	f.step("fault 3 (pause): A, B and C converged %v after B resumed", f.converged(resumed, 60*time.Second).Round(time.Millisecond))

	// Fault 4: an acknowledged report vanishes from every replica of the
	// stream. C is cut off, so that only A and B store A's report (an R3
	// stream acknowledges with a majority) and only their journals hold
	// its decision; all three are stopped, and on every member the newest
	// block of the stream and of the stream's Raft log (from which
	// nats-server re-derives the stream's messages at start-up) are cut
	// back to what they held before the report. C can then get the
	// decision only from A's outbox, by gap repair.
	before := map[*nsMember]map[string]int64{}
	for _, m := range f.members {
		before[m] = f.blocks(m)
	}
	f.step("before the report: A, B and C hold %d, %d and %d stream and Raft log blocks", len(before[a]), len(before[b]), len(before[c]))
	stA, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	f.l.setPort(t, c.port, false)
	f.step("cut C's link (hub port %s down)", c.port)
	wrote = f.attack(a, faultAttackers[4])
	f.bannedBy(faultAttackers[4], wrote, 45*time.Second, "C cut off", a, b)
	waitUntil(t, 30*time.Second, "A's report on "+faultAttackers[4]+" to be acknowledged by the stream", func() bool {
		st, err := a.status()
		return err == nil && st.Reports["published"] >= stA.Reports["published"]+2 // the alert and A's enforcement record
	})
	// The report is in a member's Raft log once the stream acknowledged
	// it, and in its stream's blocks once the member applied it (a
	// follower, B, may apply it later, under load).
	for _, m := range []*nsMember{a, b} {
		waitUntil(t, 30*time.Second, m.name+"'s stream blocks and its Raft log blocks to grow with the report (where this fault expects it)", func() bool {
			var stream, raft bool
			for _, name := range grown(before[m], f.blocks(m)) {
				stream = stream || slices.Contains(blockFiles(t, m.data, false), name)
				raft = raft || slices.Contains(blockFiles(t, m.data, true), name)
			}
			return stream && raft
		})
	}
	if c.banned(faultAttackers[4]) || c.hasDecision(faultAttackers[4]) {
		t.Fatalf("C has %s while cut off: the cut did not isolate it", faultAttackers[4])
	}
	for _, m := range f.members {
		m.p.kill()
	}
	f.step("the stream acknowledged A's report; killed A, B and C (C cut off, without the report)")
	logAt := map[*nsMember]int64{}
	for _, m := range f.members {
		var cut []string
		for _, name := range grown(before[m], f.blocks(m)) {
			if size, ok := before[m][name]; ok {
				err = os.Truncate(name, size)
				cut = append(cut, fmt.Sprintf("%s to %d bytes", relTo(m.data, name), size))
			} else {
				err = os.Remove(name)
				cut = append(cut, "removed "+relTo(m.data, name))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		_, logAt[m] = daemonLog(m, 0)
		if len(cut) == 0 {
			cut = append(cut, "nothing to cut (it never stored the report)")
		}
		f.step("%s: %s", strings.ToUpper(m.name), strings.Join(cut, ", "))
	}
	f.step("cut every member's stream and Raft log back to the blocks and sizes they had before the report")
	f.l.setPort(t, c.port, true)
	f.step("healed C's link")
	f.startAll(a, b, c)
	restarted = time.Now()
	f.step("A, B and C restarted and serve")
	// C, which never had the report, first: by gap repair from A's outbox.
	d, err := timeToBanSet(c.ns, faultAttackers[4], restarted, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "C to list a decision on "+faultAttackers[4], func() bool { return c.hasDecision(faultAttackers[4]) })
	f.step("%s in C's nft set %v after the restart", faultAttackers[4], d.Round(time.Millisecond))
	// The report came back from A's outbox: either C asked A for it (gap
	// repair) or A, finding its own report missing from the stream,
	// applied and republished it. Neither log line means the stream still
	// had it, so the fault was real.
	repaired := false
	for _, m := range []*nsMember{a, b, c} {
		logged, _ := daemonLog(m, logAt[m])
		for _, line := range strings.Split(logged, "\n") {
			fromPeer := m != a && strings.Contains(line, "repaired reports missing from the fabric") && strings.Contains(line, "member="+stA.Member)
			fromOwn := m == a && strings.Contains(line, "the fabric lost reports of this member")
			if fromPeer || fromOwn {
				repaired = true
				t.Logf("%s: %s", strings.ToUpper(m.name), line)
			}
		}
	}
	if !repaired {
		t.Errorf("C banned %s but no member restored A's report from A's outbox: the stream still delivered the report this fault removed (see the daemon logs)", faultAttackers[4])
	}
	f.step("fault 4 (acknowledged report lost by every replica): A, B and C converged %v after the restart", f.converged(restarted, 60*time.Second).Round(time.Millisecond))

	for _, m := range f.members {
		st, err := m.status()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: reports %v, rejected by reason %v", strings.ToUpper(m.name), st.Reports, st.Rejected)
		if st.Reports["enforce_errors"] != 0 {
			t.Errorf("%s counted %d enforcement errors; want none", m.name, st.Reports["enforce_errors"])
		}
	}
	f.step("done")
}

// relTo returns name relative to dir, for logs.
func relTo(dir, name string) string {
	if r, err := filepath.Rel(dir, name); err == nil {
		return r
	}
	return name
}
