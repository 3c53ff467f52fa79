package scenario

import (
	"net/netip"
	"testing"
	"time"

	"phalanx"
)

// BenchmarkObserve measures the steady state: 4096 known sources (half IPv4,
// half IPv6) whose events count in several scenarios but never fire.
func BenchmarkObserve(b *testing.B) {
	e := mustNew(b, DefaultConfig())
	const sources = 4096
	evs := make([]phalanx.Event, sources)
	for i := range evs {
		ev := &evs[i]
		if i%2 == 0 {
			ev.Source = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		} else {
			ev.Source = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 15: 1})
		}
		ev.Service = "sshd"
		ev.Kind = []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser, phalanx.KindPreauthClose}[i%3]
		ev.User = "root"
	}
	// Each source comes back every 4096 × 100 ms ≈ 410 s, slower than any
	// default leak and than ssh-bf's 5 in 10 minutes and ssh-slow-bf's 10
	// in an hour, so nothing fires; probe-only sources go idle and are
	// forgotten and re-created in between, as in real traffic.
	const step = 100 * time.Millisecond
	var buf []phalanx.Alert
	for i := range 2 * sources { // warm up: create every group
		ev := &evs[i%sources]
		ev.Time = t0.Add(time.Duration(i) * step)
		buf = e.Observe(ev, buf[:0])
	}
	b.ReportAllocs()
	i := 2 * sources
	for b.Loop() {
		ev := &evs[i%sources]
		ev.Time = t0.Add(time.Duration(i) * step)
		buf = e.Observe(ev, buf[:0])
		i++
	}
	if s := e.Stats(); s.Alerts != 0 || s.Sources > sources {
		b.Fatalf("stats %+v: want no alerts and at most %d sources", s, sources)
	}
}

// BenchmarkObserveFlood measures the worst case: every event comes from a new
// address and the table is full, so each one evicts a group.
func BenchmarkObserveFlood(b *testing.B) {
	c := DefaultConfig()
	e := mustNew(b, c)
	ev := phalanx.Event{Service: "sshd", Kind: phalanx.KindAuthFailure, User: "admin", Time: t0}
	var buf []phalanx.Alert
	n := uint32(0)
	next := func() {
		n++
		ev.Source = netip.AddrFrom4([4]byte{byte(1 + n>>24), byte(n >> 16), byte(n >> 8), byte(n)})
		ev.Time = ev.Time.Add(time.Microsecond)
		buf = e.Observe(&ev, buf[:0])
	}
	for range 2 * c.MaxSources {
		next()
	}
	b.ReportAllocs()
	for b.Loop() {
		next()
	}
	if s := e.Stats(); s.Sources != c.MaxSources {
		b.Fatalf("stats %+v: want a full table", s)
	}
}

// BenchmarkObserveFreshFlood measures what a flood costs a fresh engine:
// 100,000 IPv6 sources in distinct /64s send 6 sshd authentication failures
// each (an event a source, round after round), with the default scenarios
// and MaxSources, so the first 65,536 groups are created in fresh memory
// and the later ones take the slots of dropped groups. One op is the whole
// flood of 600,000 events; ns/event is reported too.
func BenchmarkObserveFreshFlood(b *testing.B) {
	const sources, rounds = 100_000, 6
	evs := make([]phalanx.Event, sources)
	for i := range evs {
		evs[i] = phalanx.Event{
			Source:  netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 16), 5: byte(i >> 8), 6: byte(i), 15: 1}),
			Service: "sshd",
			Kind:    phalanx.KindAuthFailure,
			User:    "root",
		}
	}
	var buf []phalanx.Alert
	b.ReportAllocs()
	for b.Loop() {
		e := mustNew(b, DefaultConfig())
		now := t0
		for r := range rounds {
			for i := range evs {
				ev := &evs[i]
				now = now.Add(time.Microsecond)
				ev.Time, ev.Line = now, int64(r*sources+i+1)
				buf = e.Observe(ev, buf[:0])
			}
		}
		if s := e.Stats(); s.Sources != DefaultConfig().MaxSources || s.Counted != sources*rounds {
			b.Fatalf("stats %+v: want a full table and every event counted", s)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sources*rounds), "ns/event")
}
