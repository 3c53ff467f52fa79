package daemon

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/atomicfile"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/identity"
	"phalanx/report"
)

// snapAlliance is a data directory prepared for startStoppable: this
// member founding, and four more members (the first founding too) whose
// reports the tests publish on the member's stream.
type snapAlliance struct {
	dir, data string
	self      *identity.Identity
	others    []*identity.Identity
	seq       map[string]uint64
	c         charter.Charter
}

// writtenSnapshot starts a member of a new test alliance, has it judge
// some traffic and write its snapshot, and returns the snapshot's path and
// bytes.
func writtenSnapshot(t *testing.T) (a *snapAlliance, d *Daemon, path string, good []byte) {
	t.Helper()
	a = newSnapAlliance(t, 600)
	d, _ = startStoppable(t, a.dir)
	publishAll(t, d, a.traffic(1, time.Now()))
	settle(t, d)
	if err := d.writeSnapshot(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(a.data, fileSnapshot)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a, d, path, good
}

func newSnapAlliance(t testing.TB, rate int) *snapAlliance {
	t.Helper()
	return newSnapAllianceIn(t, t.TempDir(), rate)
}

// newSnapAllianceIn is newSnapAlliance in dir.
func newSnapAllianceIn(t testing.TB, dir string, rate int) *snapAlliance {
	t.Helper()
	a := &snapAlliance{dir: dir, seq: map[string]uint64{}}
	a.data = filepath.Join(a.dir, "data")
	if err := os.MkdirAll(a.data, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if a.self, _, err = identity.LoadOrCreate(filepath.Join(a.data, fileIdentity)); err != nil {
		t.Fatal(err)
	}
	founder := charter.NewMember("self", a.self.Public)
	founder.Founding = true
	a.c = charter.Default("snap", founder)
	for i := range 4 {
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		m := charter.NewMember(fmt.Sprintf("m%d", i), id.Public)
		m.Founding = i == 0
		a.c.Members = append(a.c.Members, m)
		a.others = append(a.others, id)
	}
	a.c.Policy.Decisive = []string{"ssh-bf"}
	a.c.Policy.Quorum = 2
	a.c.Policy.Window = 10 * time.Minute
	a.c.Limits.ReportsPerMinute = rate
	if err := a.c.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := a.c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(a.data, fileCharter), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// report signs member i's next report.
func (a *snapAlliance) report(i int, typ report.Type, value, scenario string, at time.Time) report.Report {
	id := a.others[i]
	a.seq[id.ID]++
	r := report.Report{Seq: a.seq[id.ID], Time: at.UTC(), Type: typ, Scenario: scenario}
	if value != "" {
		r.Value = netip.MustParsePrefix(value)
	}
	if typ == report.TypeAlert {
		r.First, r.Last, r.Count = r.Time.Add(-time.Minute), r.Time, 5
		r.Evidence = []string{"Failed password for root from " + value}
	}
	if typ == report.TypeBatch {
		r.Reasons = []string{"list"}
		for k := range 3 {
			r.Batch = append(r.Batch, report.BatchEntry{Value: netip.MustParsePrefix(fmt.Sprintf("100.70.%d.%d/32", a.seq[id.ID]%250, k+1))})
		}
	}
	r.Sign(id)
	return r
}

// publish stores rs on d's stream and waits until d has consumed them.
func publishAll(t testing.TB, d *Daemon, rs []report.Report) uint64 {
	t.Helper()
	var last uint64
	for i := range rs {
		seq, err := d.fab.Publish(t.Context(), d.id.ID, rs[i].ID(), report.Marshal(&rs[i]))
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	waitUntil(t, 60*time.Second, "the member consumed what was published", func() bool { return d.consumed.Load() >= last })
	return last
}

func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// settle waits until d has published and consumed everything it has to:
// its enforcement records included, so that the stream no longer grows.
func settle(t testing.TB, d *Daemon) {
	t.Helper()
	stable := 0
	var prev uint64
	waitUntil(t, 60*time.Second, "the member settled", func() bool {
		last, err := d.fab.LastSeq()
		if err != nil {
			return false
		}
		d.recMu.Lock()
		queued := len(d.records)
		d.recMu.Unlock()
		if queued == 0 && d.ob.Published() == d.ob.Last() && d.inflight.Load() == 0 && d.consumed.Load() == last && last == prev {
			stable++
		} else {
			stable = 0
		}
		prev = last
		return stable >= 20
	})
}

// memberState is what the equivalence test compares: the arbiter's
// whole state, its digest, the decision table, how far each member's
// sequence arrived and the timeline's entries made from the stream.
type memberState struct {
	arb      []byte
	digest   [32]byte
	bans     int
	table    []phalanx.Decision
	lows     map[string]uint64
	timeline []string
}

func stateOf(t testing.TB, d *Daemon, at time.Time) memberState {
	t.Helper()
	var s memberState
	d.consumeMu.Lock()
	var b bytes.Buffer
	if err := d.arb.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	s.arb = b.Bytes()
	s.digest, s.bans = d.arb.Digest(at)
	d.consumeMu.Unlock()
	d.table.All(func(x phalanx.Decision) bool { s.table = append(s.table, x); return true })
	slices.SortFunc(s.table, func(x, y phalanx.Decision) int { return cmp.Compare(x.ID, y.ID) })
	s.lows = d.gaps.lows()
	d.timeline.mu.Lock()
	for _, e := range append(slices.Clone(d.timeline.entries[d.timeline.start:]), d.timeline.entries[:d.timeline.start]...) {
		if e.What == "enforced" {
			continue // made live, once the kernel (here the API) held a ban: a replay makes none
		}
		s.timeline = append(s.timeline, fmt.Sprintf("%s %s %s %s %s", e.Time.UTC().Format(time.RFC3339Nano), e.What, e.Value, e.ReportID, e.Detail))
	}
	d.timeline.mu.Unlock()
	return s
}

// snapshotTraffic is a mix of reports around now: decisive alerts, the
// first or second vote of quorum candidates (votes on both sides of a
// snapshot), manual bans, a pardon, a batch, replayed copies and a burst
// that the rate limit cuts.
func (a *snapAlliance) traffic(part int, now time.Time) []report.Report {
	var rs []report.Report
	at := now.Add(-2 * time.Second)
	for i := range 30 {
		rs = append(rs, a.report(1+i%3, report.TypeAlert, fmt.Sprintf("203.0.%d.%d/32", part, i), "ssh-bf", at))
	}
	for i := range 20 { // a first vote in part 1, a second (another member) in part 2
		rs = append(rs, a.report(1+part%3, report.TypeAlert, fmt.Sprintf("198.18.0.%d/32", i), "ssh-probe", at))
	}
	for i := range 5 {
		rs = append(rs, a.report(0, report.TypeManual, fmt.Sprintf("192.0.%d.%d/32", 100+part, i), "manual", at))
	}
	rs = append(rs, a.report(0, report.TypePardon, fmt.Sprintf("203.0.%d.3/32", part), "manual", at))
	rs = append(rs, a.report(0, report.TypeBatch, "", "import", at))
	for i := range 2 { // an earlier sequence again: replayed
		r := a.report(1, report.TypeAlert, fmt.Sprintf("203.0.%d.%d/32", part, 200+i), "ssh-bf", at)
		r.Seq, r.Sig = uint64(1+i), nil
		r.Sign(a.others[1])
		rs = append(rs, r)
	}
	for i := range 25 { // past the rate: some rate-limited, the rest spans the snapshot
		rs = append(rs, a.report(3, report.TypeAlert, fmt.Sprintf("198.19.%d.%d/32", part, i), "ssh-bf", at))
	}
	return rs
}

// TestSnapshotRestartEquivalence: a member that restarts from a snapshot
// taken in the middle of the stream ends with exactly the arbiter state
// (byte for byte), digest, decision table, sequences and timeline of one
// that replays the whole stream, with quorum votes and rate limits that
// span the snapshot's position; one with a damaged snapshot replays
// everything and ends the same.
func TestSnapshotRestartEquivalence(t *testing.T) {
	a := newSnapAlliance(t, 40)
	d1, stop1 := startStoppable(t, a.dir)
	now := time.Now()
	publishAll(t, d1, a.traffic(1, now))
	settle(t, d1)
	if err := d1.writeSnapshot(); err != nil {
		t.Fatal(err)
	}
	mid := d1.snap.pos.Load()
	path := filepath.Join(a.data, fileSnapshot)
	midSnap, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, d1, a.traffic(2, now))
	settle(t, d1)
	end := d1.consumed.Load()
	stop1()
	if p := snapshotPosition(t, path); p != end {
		t.Errorf("the snapshot written at stop is at %d, the stream at %d", p, end)
	}
	// A restart with nothing after the snapshot: a snapshot written then
	// names the same message at the same position.
	endSnap, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d0, stop0 := startStoppable(t, a.dir)
	if d0.snap.loaded != end || d0.consumed.Load() != end {
		t.Fatalf("the restart loaded the snapshot at %d and consumed to %d, want %d", d0.snap.loaded, d0.consumed.Load(), end)
	}
	if err := d0.writeSnapshot(); err != nil {
		t.Fatal(err)
	}
	stop0()
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h0, h1 := snapshotHeaderOf(t, endSnap), snapshotHeaderOf(t, again); h0.pos != h1.pos || !bytes.Equal(h0.msg, h1.msg) {
		t.Errorf("a snapshot written after loading one at %d names message %x at %d, the loaded one %x", h0.pos, h1.msg[:6], h1.pos, h0.msg[:6])
	}
	at := now.Add(time.Minute)

	if err := os.WriteFile(path, midSnap, 0o600); err != nil {
		t.Fatal(err)
	}
	d2, stop2 := startStoppable(t, a.dir)
	if d2.snap.loaded != mid {
		t.Fatalf("the restart loaded the snapshot at %d, want %d", d2.snap.loaded, mid)
	}
	fromSnap := stateOf(t, d2, at)
	stop2()

	damaged := bytes.Clone(midSnap)
	damaged[len(damaged)/2] ^= 1
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	d3, stop3 := startStoppable(t, a.dir)
	if d3.snap.loaded != 0 {
		t.Fatalf("a damaged snapshot was loaded")
	}
	full := stateOf(t, d3, at)
	stop3()

	if full.bans == 0 || len(full.table) == 0 || mid == 0 || mid >= end {
		t.Fatalf("nothing to compare: %d bans, %d decisions, snapshot at %d of %d", full.bans, len(full.table), mid, end)
	}
	rej := d3.arb.Rejected()
	if rej[arbiter.ReasonRateLimited] == 0 || rej[arbiter.ReasonReplayed] == 0 {
		t.Fatalf("the stream has no rate-limited or replayed report: %v", rej)
	}
	t.Logf("snapshot at %d of %d; %d bans in the digest, %d decisions; rejected %v", mid, end, full.bans, len(full.table), rej)
	if !bytes.Equal(fromSnap.arb, full.arb) {
		t.Error("the arbiter's state after the snapshot restart differs from the full replay's")
	}
	if fromSnap.digest != full.digest || fromSnap.bans != full.bans {
		t.Errorf("digest %x (%d bans) after the snapshot restart, %x (%d) after the full replay", fromSnap.digest[:6], fromSnap.bans, full.digest[:6], full.bans)
	}
	if !reflect.DeepEqual(fromSnap.table, full.table) {
		t.Errorf("decision tables differ: %d decisions after the snapshot restart, %d after the full replay", len(fromSnap.table), len(full.table))
		for i := range min(len(fromSnap.table), len(full.table)) {
			if !reflect.DeepEqual(fromSnap.table[i], full.table[i]) {
				t.Errorf("first difference:\n%+v\n%+v", fromSnap.table[i], full.table[i])
				break
			}
		}
	}
	if !reflect.DeepEqual(fromSnap.lows, full.lows) {
		t.Errorf("sequences: %v after the snapshot restart, %v after the full replay", fromSnap.lows, full.lows)
	}
	if !slices.Equal(fromSnap.timeline, full.timeline) {
		t.Errorf("timelines differ: %d entries after the snapshot restart, %d after the full replay", len(fromSnap.timeline), len(full.timeline))
	}
}

func snapshotVersionOf(t testing.TB, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := readSnapshotHeader(arbiter.NewSnapshotReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return h.version
}

func snapshotPosition(t testing.TB, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshotHeaderOf(t, b).pos
}

func snapshotHeaderOf(t testing.TB, data []byte) snapshotHeader {
	t.Helper()
	h, err := readSnapshotHeader(arbiter.NewSnapshotReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// resign rewrites a snapshot's header with change and signs it with id,
// as a member would have written it.
func resign(t testing.TB, data []byte, id *identity.Identity, change func(*snapshotHeader)) []byte {
	t.Helper()
	br := bytes.NewReader(data[:len(data)-64])
	h, err := readSnapshotHeader(arbiter.NewSnapshotReader(br))
	if err != nil {
		t.Fatal(err)
	}
	rest := data[len(data)-64-br.Len() : len(data)-64]
	change(&h)
	var out bytes.Buffer
	w := arbiter.NewSnapshotWriter(&out)
	writeSnapshotHeader(w, h)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out.Write(rest)
	sum := sha256.Sum256(append([]byte(snapshotContext), out.Bytes()...))
	out.Write(id.Sign(sum[:]))
	return out.Bytes()
}

// TestSnapshotRefusals: a snapshot that is damaged, truncated, signed by
// another key, of another version or member, made under another charter,
// past the stream's end or naming another message at its position is
// refused with its reason, and nothing of it is loaded.
func TestSnapshotRefusals(t *testing.T) {
	_, d, path, good := writtenSnapshot(t)
	stranger, _ := identity.Generate()
	last, _ := d.fab.LastSeq()
	cases := []struct {
		name, reason string
		data         []byte
		otherCharter bool
	}{
		{"flipped byte", "bad signature", func() []byte { b := bytes.Clone(good); b[100] ^= 0x40; return b }(), false},
		{"truncated", "bad signature", good[:len(good)-100], false},
		{"tiny", "truncated", good[:10], false},
		{"empty", "truncated", nil, false},
		{"another key", "bad signature", resign(t, good, stranger, func(*snapshotHeader) {}), false},
		{"unknown version", "unknown version", resign(t, good, d.id, func(h *snapshotHeader) { h.version = 9 }), false},
		{"another member", "made by member", resign(t, good, d.id, func(h *snapshotHeader) { h.member = stranger.ID }), false},
		{"another charter", "made under charter", good, true},
		{"past the stream", "ends at", resign(t, good, d.id, func(h *snapshotHeader) { h.pos = last + 5 }), false},
		{"recreated stream", "another message", resign(t, good, d.id, func(h *snapshotHeader) { h.msg = make([]byte, 32) }), false},
		{"not a snapshot", "not a snapshot", func() []byte {
			body := []byte("hello, this is not a snapshot at all")
			sum := sha256.Sum256(append([]byte(snapshotContext), body...))
			return append(body, d.id.Sign(sum[:])...)
		}(), false},
	}
	before := d.table.Len()
	arb := d.arb
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if c.otherCharter {
				cs := *d.charter()
				cs.hash = strings.Repeat("0", 64)
				old := d.cs.Swap(&cs)
				defer d.cs.Store(old)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, _, err = d.readSnapshot(t.Context(), f, d.ownSnapshots())
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err %v, want one saying %q", err, c.reason)
			}
			t.Logf("refused: %v", err)
			if d.table.Len() != before || d.arb != arb {
				t.Fatal("a refused snapshot changed the member's state")
			}
		})
	}
	// And the good one still loads (into a member that has it all already).
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := d.readSnapshot(t.Context(), f, d.ownSnapshots()); err != nil {
		t.Fatalf("the good snapshot: %v", err)
	}
	// And so does one of version 1 (no count of decisions), as a member
	// that ran the build before wrote it.
	if err := os.WriteFile(path, snapshotV1(t, d, good), 0o600); err != nil {
		t.Fatal(err)
	}
	f1, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	if _, n, err := d.readSnapshot(t.Context(), f1, d.ownSnapshots()); err != nil || n == 0 {
		t.Fatalf("a snapshot of version 1: %d decisions, %v", n, err)
	}
}

// snapshotV1 returns snapshot data (version 2) as version 1 wrote it:
// without the count of decisions, signed by d.
func snapshotV1(t *testing.T, d *Daemon, data []byte) []byte {
	t.Helper()
	body := data[:len(data)-64]
	br := bytes.NewReader(body)
	r := arbiter.NewSnapshotReader(br)
	h, err := readSnapshotHeader(r)
	if err != nil || h.version != 2 {
		t.Fatalf("header: version %d, %v", h.version, err)
	}
	if _, err := decodeSnapshotState(r, &d.charter().c); err != nil {
		t.Fatal(err)
	}
	off := len(body) - br.Len()
	_, k := binary.Uvarint(body[off:])
	if k <= 0 {
		t.Fatal("no count of decisions")
	}
	v1 := append(slices.Clone(body[:off]), body[off+k:]...)
	return resign(t, append(v1, make([]byte, 64)...), d.id, func(h *snapshotHeader) { h.version = 1 })
}

// FuzzSnapshotDecode: whatever the bytes after a good signature (a
// member's own damaged file, or a bug), decoding a snapshot returns an
// error or a state, never panics.
func FuzzSnapshotDecode(f *testing.F) {
	a := newSnapAlliance(f, 600)
	d, stop := startStoppable(f, a.dir)
	publishAll(f, d, a.traffic(1, time.Now()))
	settle(f, d)
	if err := d.writeSnapshot(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(a.data, fileSnapshot))
	if err != nil {
		f.Fatal(err)
	}
	stop()
	c := a.c
	f.Add(good[:len(good)-64])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := arbiter.NewSnapshotReader(bytes.NewReader(data))
		if _, err := readSnapshotHeader(r); err != nil {
			return
		}
		if _, err := decodeSnapshotState(r, &c); err != nil {
			return
		}
		h, _ := readSnapshotHeader(arbiter.NewSnapshotReader(bytes.NewReader(data)))
		readSnapshotDecisions(r, h.version, func(int) {}, func([]phalanx.Decision) {})
	})
}

// TestSnapshotRestartBench measures the time to serve after a restart with
// PHALANX_BENCH_REPORTS reports (default 100,000) behind, from the
// snapshot written at stop and by a full replay, back to back, and checks
// that both restarts hold every decision in force before the stop. A
// benchmark: run with PHALANX_BENCH=1 (bench/restart.sh).
//
// PHALANX_BENCH_DIR keeps the alliance's data there: a later run with the
// same directory skips publishing and restarts from what the last one left
// (its full replay writes the snapshot again at stop). PHALANX_BENCH_FULL=0
// skips the full replay; PHALANX_BENCH_CPUPROFILE=FILE writes a CPU
// profile of the restart from the snapshot; PHALANX_BENCH_LOG=1 shows the
// member's log.
func TestSnapshotRestartBench(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	n := 100_000
	if s := os.Getenv("PHALANX_BENCH_REPORTS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			t.Fatal(err)
		}
	}
	dir := os.Getenv("PHALANX_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "data", fileSnapshot)
	cutoff := time.Now().Add(time.Hour) // decisions compared: those in force past the bench's end
	var before forceSet
	if _, err := os.Stat(path); err == nil {
		t.Logf("reusing %s: no reports published", dir)
	} else {
		before = publishBench(t, dir, n, cutoff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	restart := func(what, profile string) forceSet {
		runtime.GC()
		cpu0 := cpuTime()
		t0 := time.Now()
		var pf *os.File
		if profile != "" {
			if pf, err = os.Create(profile); err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(pf); err != nil {
				t.Fatal(err)
			}
		}
		d, stop := startBenchMember(t, dir)
		took, cpu := time.Since(t0), cpuTime()-cpu0
		if pf != nil {
			pprof.StopCPUProfile()
			pf.Close()
		}
		got := streamInForce(d, cutoff)
		t.Logf("restart %s: serving after %v (%.2f CPU s), position %d, %d decisions (%d in force past the check), RSS %.0f MiB",
			what, took.Round(time.Millisecond), cpu.Seconds(), d.consumed.Load(), d.table.Len(), got.n, rssMiB(t))
		if strings.HasPrefix(what, "from") && d.snap.loaded == 0 {
			t.Error("the snapshot was not loaded")
		}
		if strings.HasPrefix(what, "from") && snapshotVersionOf(t, path) != snapshotVersion {
			// A kept directory's snapshot from an earlier build: the next
			// run loads one of this build's.
			if err := d.writeSnapshot(); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		return got
	}
	fromSnap := restart(fmt.Sprintf("from the snapshot (%.1f MB)", float64(fi.Size())/1e6), os.Getenv("PHALANX_BENCH_CPUPROFILE"))
	if before.n > 0 && fromSnap != before {
		t.Errorf("decisions in force: %d before the stop, %d after the restart from the snapshot (or different ones)", before.n, fromSnap.n)
	}
	if fromSnap.n == 0 {
		t.Error("no decision in force after the restart")
	}
	if os.Getenv("PHALANX_BENCH_FULL") == "0" {
		return
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	full := restart("replaying the whole stream", "")
	if full != fromSnap {
		t.Errorf("decisions in force: %d after the restart from the snapshot, %d after the full replay (or different ones)", fromSnap.n, full.n)
	}
}

// publishBench starts a member in dir, publishes n reports of four other
// members on its stream, waits until it has judged them, and stops it
// (which writes a snapshot). It returns the decisions in force at the stop.
func publishBench(t *testing.T, dir string, n int, cutoff time.Time) forceSet {
	t.Helper()
	a := newSnapAllianceIn(t, dir, charter.MaxReportsPerMin)
	// Bans that outlive a kept directory's next runs.
	a.c.Policy.Duration, a.c.Policy.MaxDuration = 7*24*time.Hour, 7*24*time.Hour
	data, err := a.c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(a.data, fileCharter), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d1, stop1 := startStoppable(t, a.dir)
	began := time.Now()
	const writers = 4
	errs := make(chan error, writers)
	var last atomic.Uint64
	for w := range writers {
		go func() {
			id := a.others[w]
			for i := w; i < n; i += writers {
				at := time.Now().UTC()
				v := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				r := report.Report{Seq: uint64(i/writers + 1), Time: at, Type: report.TypeAlert, Scenario: "ssh-bf",
					Value: netip.PrefixFrom(v, 32), First: at.Add(-time.Minute), Last: at, Count: 5,
					Evidence: []string{"Failed password for root from " + v.String() + " port 22 ssh2"}}
				r.Sign(id)
				seq, err := d1.fab.Publish(t.Context(), d1.id.ID, r.ID(), report.Marshal(&r))
				if err != nil {
					errs <- err
					return
				}
				for old := last.Load(); seq > old && !last.CompareAndSwap(old, seq); old = last.Load() {
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, time.Hour, "the member consumed the reports", func() bool { return d1.consumed.Load() >= last.Load() })
	settle(t, d1)
	t.Logf("published and judged %d reports in %v; %d decisions", n, time.Since(began).Round(time.Millisecond), d1.table.Len())
	before := streamInForce(d1, cutoff)
	stop1() // writes the snapshot
	return before
}

// startBenchMember is startStoppable with the member's log on stderr when
// PHALANX_BENCH_LOG is set.
func startBenchMember(t *testing.T, dir string) (*Daemon, func()) {
	t.Helper()
	if os.Getenv("PHALANX_BENCH_LOG") == "" {
		return startStoppable(t, dir)
	}
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{filepath.Join(dir, "auth.log")}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("starting the member")
	d, err := New(ctx, Options{DataDir: filepath.Join(dir, "data"), Config: cfg, Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; d.Close() }) }
	t.Cleanup(stop)
	<-d.Ready()
	waitUntil(t, time.Minute, "the member serves", func() bool { return d.caughtUp.Load() && d.Addr() != "" })
	return d, stop
}

// forceSet sums up the decisions the stream made that are in force at a
// time: how many, and a digest that does not depend on their order.
type forceSet struct {
	n   int
	sum [32]byte
}

// streamInForce is the forceSet of d's table: decisions of origins alliance and
// manual in force at at, each by value, origin, type, scenario and end.
func streamInForce(d *Daemon, at time.Time) forceSet {
	var s forceSet
	d.table.All(func(x phalanx.Decision) bool {
		if (x.Origin != phalanx.OriginAlliance && x.Origin != phalanx.OriginManual) || !x.Until.After(at) {
			return true
		}
		h := sha256.Sum256(fmt.Appendf(nil, "%s %s %s %s %d", x.Value, x.Origin, x.Type, x.Scenario, x.Until.UnixNano()))
		for i := range h {
			s.sum[i] += h[i] // a sum: equal sets give equal sums, whatever the order
		}
		s.n++
		return true
	})
	return s
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
