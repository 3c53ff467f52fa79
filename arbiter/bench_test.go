package arbiter

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/report"
)

// BenchmarkApply judges signed alerts, each for a new address, half of them
// decisive and half towards a quorum of two members. The cost is mostly the
// ed25519 signature check.
func BenchmarkApply(b *testing.B) {
	f := newFixture(b, func(c *charter.Charter) { c.Limits.ReportsPerMinute = charter.MaxReportsPerMin })
	const n = 4096
	rs := make([]*report.Report, n)
	for i := range rs {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		v := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)}), 32).String()
		scenario := "ssh-bf"
		id := f.b
		if i%2 == 1 {
			scenario = "ssh-slow-bf"
			id = f.c2
		}
		rs[i] = f.alert(id, v, scenario, at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var a *Arbiter
	for i := 0; i < b.N; i++ {
		if i%n == 0 {
			b.StopTimer()
			a = New(&f.c)
			b.StartTimer()
		}
		r := rs[i%n]
		if o := a.Apply(r, r.Time, r.Time); o.Verdict == Rejected {
			b.Fatal(fmt.Sprint(o))
		}
	}
}

// workload is a mix of sightings for the benchmarks.
type workload struct {
	name  string
	pool  uint32 // sources drawn from this many addresses
	users uint32 // user names drawn from this many (0: no user hashes)
}

var workloads = []workload{
	// Background noise: sources rarely seen twice, no user names.
	{"noise", 1 << 22, 0},
	// A distributed attack: 20,000 sources each sighted by several of the
	// 20 members, trying 500 user names; many fleet bans.
	{"attack", 20_000, 500},
}

// sightingStream builds n signed sightings of 20 members with the given
// number of entries each, 2 failures per entry.
func sightingStream(b *testing.B, f *fleetFixture, w workload, n, entries int) []*report.Report {
	rs := make([]*report.Report, n)
	x := uint32(1)
	for i := range rs {
		es := make([]report.Sighting, entries)
		for j := range es {
			x = x*1664525 + 1013904223
			v := 1 + (x>>8)%w.pool
			var names []string
			if w.users > 0 {
				names = append(names, fmt.Sprint("user", v%w.users))
			}
			es[j] = fails(netip.AddrFrom4([4]byte{100, 64 + byte(v>>16), byte(v >> 8), byte(v)}).String()+"/32", 2, names...)
		}
		rs[i] = f.sighting(i%20, t0.Add(time.Duration(i)*10*time.Millisecond), es...)
	}
	return rs
}

// BenchmarkApplySighting judges signed sightings, whole: validation, ID,
// signature check, rate, and the entries. ns/entry is the cost per source
// sighted.
func BenchmarkApplySighting(b *testing.B) {
	for _, w := range workloads {
		for _, entries := range []int{1, 64, 512} {
			b.Run(fmt.Sprintf("%s/entries=%d", w.name, entries), func(b *testing.B) {
				f := newFleetFixture(b, 20, func(c *charter.Charter) {
					c.Fleet.EntriesPerMinute = charter.MaxEntriesPerMinute
					c.Limits.ReportsPerMinute = charter.MaxReportsPerMin
				})
				n := max(64, 16384/entries)
				rs := sightingStream(b, f, w, n, entries)
				b.ReportAllocs()
				b.ResetTimer()
				var a *Arbiter
				bans := 0
				for i := 0; i < b.N; i++ {
					if i%n == 0 {
						b.StopTimer()
						a = New(&f.c)
						b.StartTimer()
					}
					r := rs[i%n]
					o := a.Apply(r, r.Time, r.Time)
					if o.Verdict != Sighted {
						b.Fatal(o.Verdict, o.Reason)
					}
					bans += len(o.Fleet)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
				b.ReportMetric(float64(bans)/float64(b.N*entries), "bans/entry")
			})
		}
	}
}

// BenchmarkSightEntries is the arbiter's work on the entries alone, after
// a sighting passed the checks every report passes (and whose cost
// BenchmarkApplySighting includes): the fleet scenarios' cost per entry.
func BenchmarkSightEntries(b *testing.B) {
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			f := newFleetFixture(b, 20)
			const n, entries = 4096, 64
			rs := sightingStream(b, f, w, n, entries)
			ids := make([]string, n)
			for i, r := range rs {
				ids[i] = r.ID()
			}
			b.ReportAllocs()
			b.ResetTimer()
			var a *Arbiter
			bans := 0
			for i := 0; i < b.N; i++ {
				if i%n == 0 {
					b.StopTimer()
					a = New(&f.c)
					b.StartTimer()
				}
				r := rs[i%n]
				t := r.Time.UnixNano()
				a.high = max(a.high, t)
				bans += len(a.sight(r, a.members[r.Member], t, ids[i%n]).Fleet)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
			b.ReportMetric(float64(bans)/float64(b.N*entries), "bans/entry")
		})
	}
}

// BenchmarkFleetFlood sights 1,000,000 one-shot sources (the op) and
// reports the heap the arbiter holds after: bounded by fleet.max_sources,
// whatever the flood.
func BenchmarkFleetFlood(b *testing.B) {
	f := newFleetFixture(b, 3, func(c *charter.Charter) {
		c.Fleet.EntriesPerMinute = charter.MaxEntriesPerMinute
		c.Limits.ReportsPerMinute = charter.MaxReportsPerMin
	})
	const total = 1_000_000
	rs := make([]*report.Report, 0, total/report.MaxSightings+1)
	at := t0
	for i := 0; i < total; {
		var es []report.Sighting
		for ; i < total && len(es) < report.MaxSightings; i++ {
			es = append(es, report.Sighting{
				Source: netip.PrefixFrom(netip.AddrFrom4([4]byte{10 + byte(i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32),
				Counts: []report.Count{{Service: "sshd", Kind: "invalid-user", N: 1}},
				Users:  []report.UserHash{user(testSalt, fmt.Sprint(i))},
			})
		}
		at = at.Add(30 * time.Millisecond)
		rs = append(rs, f.sighting(0, at, es...))
	}
	var held float64
	b.ReportAllocs()
	for b.Loop() {
		a := New(&f.c)
		for _, r := range rs {
			if o := a.Apply(r, r.Time, r.Time); o.Verdict != Sighted {
				b.Fatal(o.Verdict, o.Reason)
			}
		}
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(a)
		a = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		held = float64(after.HeapInuse-before.HeapInuse) / (1 << 20)
		b.StartTimer()
	}
	b.ReportMetric(held, "MiB-held")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/entry")
}
