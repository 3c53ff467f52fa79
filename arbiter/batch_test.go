package arbiter

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"testing"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/identity"
	"phalanx/report"
)

// batchReport builds and signs the next batch of id with entries.
func (f *fixture) batchReport(id *identity.Identity, at time.Time, reasons []string, entries ...report.BatchEntry) *report.Report {
	f.seq[id.ID]++
	r := &report.Report{Seq: f.seq[id.ID], Time: at, Type: report.TypeBatch, Scenario: "import", Reasons: reasons, Batch: entries}
	r.Sign(id)
	return r
}

func entry(v string, d time.Duration, reason uint8) report.BatchEntry {
	return report.BatchEntry{Value: netip.MustParsePrefix(v), Duration: d, Reason: reason}
}

// TestBatch judges each entry of a batch as a manual ban: too wide and
// territory are refused and counted, the rest banned for their duration
// (the policy's when 0), capped at the manual maximum.
func TestBatch(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Policy.ManualMax = 48 * time.Hour })
	a := New(&f.c)
	r := f.batchReport(f.a, t0, []string{"", "abuse desk"},
		entry("10.0.0.0/8", time.Hour, 0),           // too wide (max /16)
		entry("192.0.2.10/32", time.Hour, 0),        // member A
		entry("198.51.100.7/32", time.Hour, 0),      // territory
		entry("203.0.113.9/32", time.Hour, 1),       //
		entry("203.0.114.0/24", 0, 0),               // the policy's duration
		entry("2001:db8:1::/48", 1000*time.Hour, 1), // capped
	)
	o := apply(a, r)
	expect(t, o, DecidedBatch, ReasonBatch)
	if o.Entries != (EntryCounts{Counted: 3, Territory: 2, TooWide: 1}) {
		t.Errorf("entries %+v, want 3 counted, 2 territory, 1 too wide", o.Entries)
	}
	by := "manual ban by " + f.a.ID
	want := []phalanx.Decision{
		{Origin: phalanx.OriginManual, Type: "ban", Value: netip.MustParsePrefix("203.0.113.9/32"), Scenario: "import",
			Start: t0, Until: t0.Add(time.Hour), Reason: by + ": abuse desk"},
		{Origin: phalanx.OriginManual, Type: "ban", Value: netip.MustParsePrefix("203.0.114.0/24"), Scenario: "import",
			Start: t0, Until: t0.Add(f.c.Policy.Duration), Reason: by},
		{Origin: phalanx.OriginManual, Type: "ban", Value: netip.MustParsePrefix("2001:db8:1::/48"), Scenario: "import",
			Start: t0, Until: t0.Add(48 * time.Hour), Reason: by + ": abuse desk"},
	}
	if !reflect.DeepEqual(o.Batch, want) {
		t.Errorf("bans\n%+v\nwant\n%+v", o.Batch, want)
	}
	if !reflect.DeepEqual(o.Reports, []string{r.ID()}) {
		t.Errorf("reports %v", o.Reports)
	}
	// The same batch again is a replay.
	expect(t, apply(a, r), Rejected, ReasonReplayed)
	// Only founding members ban by hand (the default policy).
	expect(t, apply(a, f.batchReport(f.b, t0, []string{""}, entry("203.0.113.10/32", 0, 0))), Refused, ReasonNotAllowed)
	// A forged batch is rejected.
	forged := f.batchReport(f.a, t0, []string{""}, entry("203.0.113.11/32", 0, 0))
	forged.Batch[0].Value = netip.MustParsePrefix("203.0.113.12/32")
	expect(t, apply(a, forged), Rejected, ReasonBadSignature)
}

// TestBatchRate checks that a batch costs one report of the member's rate
// whatever it holds, and that Allowance says how many more would pass.
func TestBatchRate(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 3 })
	a := New(&f.c)
	var rows []report.BatchRow
	for i := range 3000 {
		rows = append(rows, report.BatchRow{Value: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), 32)})
	}
	reps := report.PackBatch("import", rows, len(f.a.ID))
	if len(reps) < 2 {
		t.Fatalf("%d batches", len(reps))
	}
	if got := a.Allowance(f.a.ID, t0); got != 3 {
		t.Errorf("allowance of a fresh member %d, want 3", got)
	}
	next := func(at time.Time) Outcome {
		r := reps[0]
		f.seq[f.a.ID]++
		r.Seq, r.Time = f.seq[f.a.ID], at
		r.Sign(f.a)
		return apply(a, &r)
	}
	total := 0
	for i := range 3 {
		o := next(t0)
		if o.Verdict != DecidedBatch {
			t.Fatalf("batch %d of 3: %v %s", i+1, o.Verdict, o.Reason)
		}
		total += len(o.Batch)
		if got, want := a.Allowance(f.a.ID, t0), 2-i; got != want {
			t.Errorf("allowance after %d batches %d, want %d", i+1, got, want)
		}
	}
	if total != 3*len(reps[0].Batch) {
		t.Errorf("%d bans from 3 batches of %d", total, len(reps[0].Batch))
	}
	expect(t, next(t0), Rejected, ReasonRateLimited)
	if got := a.Allowance(f.a.ID, t0.Add(20*time.Second)); got != 1 {
		t.Errorf("allowance 20s later %d, want 1", got)
	}
	if got := a.Allowance(f.x.ID, t0); got != 0 {
		t.Errorf("allowance of a stranger %d", got)
	}
	if fmt.Sprint(DecidedBatch) != "decided-batch" {
		t.Errorf("verdict name %q", DecidedBatch)
	}
}

// FuzzBatch judges batches made from fuzzed bytes: no ban touches territory
// or is too wide or outlasts the manual maximum, and every entry is
// accounted for.
func FuzzBatch(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte{192, 0, 2, 10, 32, 1, 203, 0, 113, 9, 32, 0, 198, 51, 100, 0, 24, 9})
	f.Add([]byte{10, 0, 0, 0, 8, 0})
	ids := []*identity.Identity{fx.a, fx.b, fx.x}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := New(&fx.c)
		if len(data) == 0 {
			return
		}
		id := ids[int(data[0])%len(ids)]
		data = data[1:]
		var rows []report.BatchRow
		for ; len(data) >= 6; data = data[6:] {
			addr := netip.AddrFrom4([4]byte(data[:4]))
			if data[5]&1 == 1 {
				addr = netip.AddrFrom16([16]byte{0x20, 0x01, data[0], data[1], data[2], data[3], 15: data[5]})
			}
			p, _ := addr.Prefix(int(data[4]) % (addr.BitLen() + 1))
			rows = append(rows, report.BatchRow{Value: p, Duration: time.Duration(data[5]) * time.Hour, Reason: string(data[:2])})
		}
		// Sorted and distinct, as PackBatch wants them.
		rows = slicesSortRows(rows)
		for i, r := range report.PackBatch("import", rows, len(id.ID)) {
			r.Seq, r.Time = uint64(i+1), t0
			r.Sign(id)
			o := apply(a, &r)
			if o.Verdict == 0 || o.Reason == "" {
				t.Fatalf("outcome without verdict or reason: %+v", o)
			}
			if o.Verdict != DecidedBatch {
				if id == fx.a {
					t.Fatalf("a founding member's batch: %v %s", o.Verdict, o.Reason)
				}
				continue
			}
			if id != fx.a {
				t.Fatal("a batch of a member who may not ban by hand was decided")
			}
			if n := o.Entries.Counted + o.Entries.Territory + o.Entries.TooWide; n != len(r.Batch) || o.Entries.Counted != len(o.Batch) {
				t.Fatalf("entries %+v for %d", o.Entries, len(r.Batch))
			}
			for _, d := range o.Batch {
				if fx.c.IsTerritory(d.Value) || fx.c.Limits.TooWide(d.Value) || d.Until.Sub(d.Start) > fx.c.Policy.ManualMax || !d.Until.After(d.Start) {
					t.Fatalf("decided %+v", d)
				}
			}
		}
	})
}

// slicesSortRows sorts rows by value and drops repeated values.
func slicesSortRows(rows []report.BatchRow) []report.BatchRow {
	sort.Slice(rows, func(i, j int) bool {
		x, y := rows[i].Value, rows[j].Value
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c < 0
		}
		return x.Bits() < y.Bits()
	})
	out := rows[:0]
	for _, r := range rows {
		if len(out) > 0 && out[len(out)-1].Value == r.Value {
			continue
		}
		out = append(out, r)
	}
	return out
}
