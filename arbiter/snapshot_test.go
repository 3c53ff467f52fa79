package arbiter

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/report"
)

// snapshotStream is a mixed stream from a fleet alliance of 8 members:
// quorum and decisive alerts, sightings with user hashes, manual bans,
// pardons, batches, replayed and stale copies, bursts past the rate
// limit, with report times that advance a few seconds at a time (so quorum
// windows, fleet windows and rate limits span any point of it).
func snapshotStream(t testing.TB, seed uint64, n int) (*fleetFixture, []*report.Report, []time.Time) {
	f := newFleetFixture(t, 8, func(c *charter.Charter) {
		c.Limits.ReportsPerMinute = 20
		c.Policy.Quorum = 3
		c.Policy.EscalationWindow = time.Hour
	})
	rng := rand.New(rand.NewPCG(seed, 7))
	val := func() string { return fmt.Sprintf("203.0.113.%d/32", rng.IntN(40)) }
	src := func() string { return fmt.Sprintf("100.64.%d.%d/32", rng.IntN(3), rng.IntN(30)) }
	at := t0
	var rs []*report.Report
	var recv []time.Time
	add := func(r *report.Report, received time.Time) {
		rs = append(rs, r)
		recv = append(recv, received)
	}
	next := func(i int, typ report.Type, value, scenario string) *report.Report {
		id := f.ids[i]
		f.seq[id.ID]++
		r := &report.Report{Seq: f.seq[id.ID], Time: at, Type: typ, Scenario: scenario}
		if value != "" {
			r.Value = netip.MustParsePrefix(value)
		}
		if typ == report.TypeAlert {
			r.First, r.Last, r.Count = at.Add(-time.Minute), at, 5
		}
		return r
	}
	for len(rs) < n {
		at = at.Add(time.Duration(rng.IntN(20)) * time.Second)
		m := rng.IntN(len(f.ids))
		var r *report.Report
		switch k := rng.IntN(100); {
		case k < 40:
			r = next(m, report.TypeAlert, val(), "ssh-probe")
		case k < 48:
			r = next(m, report.TypeAlert, val(), "ssh-bf")
		case k < 75:
			var es []report.Sighting
			for range 1 + rng.IntN(3) {
				es = append(es, fails(src(), 1+rng.IntN(4), fmt.Sprintf("user%d", rng.IntN(5))))
			}
			f.seq[f.ids[m].ID]++
			r = &report.Report{Seq: f.seq[f.ids[m].ID], Time: at, Type: report.TypeSighting,
				First: at.Add(-time.Second), Last: at, Sightings: report.Canonical(es)}
		case k < 80:
			m = 0
			r = next(0, report.TypeManual, val(), "manual")
			r.Duration = time.Duration(1+rng.IntN(3)) * time.Hour
		case k < 83:
			m = 0
			r = next(0, report.TypePardon, val(), "manual")
		case k < 86:
			m = 0
			r = next(0, report.TypeBatch, "", "import")
			r.Reasons = []string{"list"}
			for range 1 + rng.IntN(4) {
				r.Batch = append(r.Batch, report.BatchEntry{Value: netip.MustParsePrefix(val())})
			}
		case k < 92 && len(rs) > 0:
			add(rs[rng.IntN(len(rs))], at) // a copy: replayed
			continue
		case k < 94:
			r = next(m, report.TypeAlert, val(), "ssh-probe")
			r.Sign(f.ids[m])
			add(r, at.Add(time.Hour)) // stale
			continue
		default:
			for range 25 { // a burst: the rate limit holds some
				r = next(m, report.TypeAlert, val(), "ssh-probe")
				r.Sign(f.ids[m])
				add(r, at)
			}
			continue
		}
		r.Sign(f.ids[m])
		add(r, at)
	}
	return f, rs[:n], recv[:n]
}

func snapshotBytes(t testing.TB, a *Arbiter) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := a.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSnapshotEquivalence cuts a stream at several points: an arbiter
// restored from a snapshot at the cut judges the rest exactly as the one
// that judged everything (every outcome, the digest, and the snapshot it
// writes at the end, byte for byte), with small caps so that evictions
// happen too.
func TestSnapshotEquivalence(t *testing.T) {
	const n = 3000
	f, rs, recv := snapshotStream(t, 1, n)
	small := func(a *Arbiter) {
		a.maxCandidates, a.maxVotes, a.maxHistory = 24, 60, 30
	}
	full := New(&f.c)
	small(full)
	var outs []Outcome
	verdicts := map[Verdict]int{}
	for i, r := range rs {
		o := full.Apply(r, recv[i], recv[i])
		outs = append(outs, o)
		verdicts[o.Verdict]++
	}
	t.Logf("verdicts: %v; fleet %+v", verdicts, full.FleetStats())
	for _, v := range []Verdict{Decided, Pending, Rejected, Corroborated, Sighted, DecidedBatch, Pardoned} {
		if verdicts[v] == 0 {
			t.Fatalf("the stream has no %v report: it does not exercise the snapshot", v)
		}
	}
	if full.FleetStats().Bans == 0 {
		t.Fatal("no fleet ban in the stream")
	}
	end := snapshotBytes(t, full)
	endSum, endN := full.Digest(recv[n-1])

	for _, cut := range []int{0, 1, 137, 1000, 1777, 2999, 3000} {
		a := New(&f.c)
		small(a)
		for i := range cut {
			a.Apply(rs[i], recv[i], recv[i])
		}
		snap := snapshotBytes(t, a)
		b, err := ReadSnapshot(&f.c, bytes.NewReader(snap))
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if again := snapshotBytes(t, b); !bytes.Equal(again, snap) {
			t.Fatalf("cut %d: the restored arbiter writes another snapshot", cut)
		}
		for i := cut; i < n; i++ {
			if o := b.Apply(rs[i], recv[i], recv[i]); !reflect.DeepEqual(o, outs[i]) {
				t.Fatalf("cut %d: report %d judged\n%+v\nafter a restore, and\n%+v\nwithout", cut, i, o, outs[i])
			}
		}
		if sum, k := b.Digest(recv[n-1]); sum != endSum || k != endN {
			t.Errorf("cut %d: digest %x (%d bans), want %x (%d)", cut, sum[:6], k, endSum[:6], endN)
		}
		if got := snapshotBytes(t, b); !bytes.Equal(got, end) {
			t.Errorf("cut %d: final state differs from the full run's", cut)
		}
		if !reflect.DeepEqual(b.Rejected(), full.Rejected()) || !reflect.DeepEqual(b.FleetStats(), full.FleetStats()) {
			t.Errorf("cut %d: counters differ", cut)
		}
	}
}

// TestSnapshotRefused: a snapshot is not read under a charter with other
// members or another fleet section, nor when truncated or of another
// version.
func TestSnapshotRefused(t *testing.T) {
	f, rs, recv := snapshotStream(t, 2, 400)
	a := New(&f.c)
	for i, r := range rs {
		a.Apply(r, recv[i], recv[i])
	}
	snap := snapshotBytes(t, a)
	if _, err := ReadSnapshot(&f.c, bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	fewer := f.c
	fewer.Members = fewer.Members[:7]
	if _, err := ReadSnapshot(&fewer, bytes.NewReader(snap)); err == nil {
		t.Error("read under a charter with fewer members")
	}
	noFleet := f.c
	noFleet.Fleet = nil
	if _, err := ReadSnapshot(&noFleet, bytes.NewReader(snap)); err == nil {
		t.Error("read under a charter without a fleet section")
	}
	for _, k := range []int{0, 10, len(snap) / 2, len(snap) - 1} {
		if _, err := ReadSnapshot(&f.c, bytes.NewReader(snap[:k])); err == nil {
			t.Errorf("read a snapshot cut at %d of %d bytes", k, len(snap))
		}
	}
	other := bytes.Clone(snap)
	other[len(snapshotMagic)] = SnapshotVersion + 1
	if _, err := ReadSnapshot(&f.c, bytes.NewReader(other)); err == nil {
		t.Error("read a snapshot of another version")
	}
}

// FuzzReadSnapshot: whatever the bytes, reading a snapshot returns an
// arbiter or an error, never a panic, and an arbiter it returns writes the
// same bytes back (it took in nothing it cannot say).
func FuzzReadSnapshot(f *testing.F) {
	fx, rs, recv := snapshotStream(f, 3, 300)
	a := New(&fx.c)
	for i, r := range rs {
		a.Apply(r, recv[i], recv[i])
	}
	f.Add(snapshotBytes(f, a))
	f.Add(snapshotBytes(f, New(&fx.c)))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadSnapshot(&fx.c, bytes.NewReader(data))
		if err != nil {
			return
		}
		out := snapshotBytes(t, b)
		if b2, err := ReadSnapshot(&fx.c, bytes.NewReader(out)); err != nil {
			t.Fatalf("a snapshot written from a read one does not read: %v", err)
		} else if !bytes.Equal(snapshotBytes(t, b2), out) {
			t.Fatal("a snapshot does not write back the same")
		}
		// The arbiter it made judges without panicking.
		for i := range min(len(rs), 50) {
			b.Apply(rs[i], recv[i], recv[i])
		}
	})
}
