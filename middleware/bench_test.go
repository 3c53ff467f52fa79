package middleware

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/benchaddr"
	"phalanx/decision"
	"phalanx/lapi"
)

// The benchmark's data: 1,000,000 banned addresses, half IPv4 and half
// IPv6, and 100,000 ranges for the variant with ranges, from a fixed seed.
const (
	benchAddrs   = 1_000_000
	benchRanges  = 100_000
	benchQueries = 1 << 21 // 2Mi addresses, 48 MiB of netip.Addr: larger than any cache here
)

var benchOnce = sync.OnceValue(func() *benchaddr.Set {
	return benchaddr.Generate(5, benchAddrs, benchRanges, benchQueries)
})

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func benchGuard(b *testing.B, addrs []netip.Addr, ranges []netip.Prefix, until time.Time) *Guard {
	g, err := New(Config{URL: "http://127.0.0.1:1", APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	bans := make([]ban, 0, len(addrs)+len(ranges))
	for _, a := range addrs {
		bans = append(bans, ban{netip.PrefixFrom(a, a.BitLen()), unixUntil(until)})
	}
	for _, p := range ranges {
		bans = append(bans, ban{p, unixUntil(until)})
	}
	g.tab.replace(bans)
	stop := g.tick(b.Context()) // the clock Run keeps
	b.Cleanup(stop)
	return g
}

// BenchmarkBanned compares Guard.Banned with a plain map of the same
// banned addresses (the floor: no ranges, no expiry, no concurrency), on
// the same random queries, half of them banned, with the clock Run keeps
// ("guard-sysclock": reading the system clock instead). "guard+ranges" holds
// 100,000 ranges as well, which the map cannot answer; "table-check" is
// decision.Table.Check over the same addresses, for reference. MiB is the
// heap the loaded structure takes.
func BenchmarkBanned(b *testing.B) {
	d := benchOnce()
	mask := len(d.Queries) - 1
	until := time.Now().Add(24 * time.Hour)

	before := heapAlloc()
	floor := make(map[netip.Addr]struct{}, len(d.Addrs))
	for _, a := range d.Addrs {
		floor[a] = struct{}{}
	}
	floorBytes := heapAlloc() - before

	before = heapAlloc()
	g := benchGuard(b, d.Addrs, nil, until)
	guardBytes := heapAlloc() - before

	b.Run("map", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if _, ok := floor[d.Queries[i&mask]]; ok {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
		b.ReportMetric(float64(floorBytes)/(1<<20), "MiB")
	})
	b.Run("guard", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if g.Banned(d.Queries[i&mask]) {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
		b.ReportMetric(float64(guardBytes)/(1<<20), "MiB")
	})
	b.Run("guard-sysclock", func(b *testing.B) {
		// Without Run's ticker, as before Run: every hit reads the system
		// clock, whose serialising read waits for the lookup's cache miss.
		g.tab.clock.Store(0)
		defer g.tab.clock.Store(unixNow(time.Now()))
		hits := 0
		for i := 0; b.Loop(); i++ {
			if g.Banned(d.Queries[i&mask]) {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
	})
	b.Run("map-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i, hits := rand.IntN(len(d.Queries)), 0
			for pb.Next() {
				if _, ok := floor[d.Queries[i&mask]]; ok {
					hits++
				}
				i++
			}
			runtime.KeepAlive(hits)
		})
	})
	b.Run("guard-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i, hits := rand.IntN(len(d.Queries)), 0
			for pb.Next() {
				if g.Banned(d.Queries[i&mask]) {
					hits++
				}
				i++
			}
			runtime.KeepAlive(hits)
		})
	})
	g = nil
	before = heapAlloc()
	gr := benchGuard(b, d.Addrs, d.Ranges, until)
	rangedBytes := heapAlloc() - before
	b.Run("guard+ranges", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if gr.Banned(d.Queries[i&mask]) {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
		b.ReportMetric(float64(rangedBytes)/(1<<20), "MiB")
	})
	gr = nil
	tab := decision.NewTable()
	dec := phalanx.Decision{Origin: phalanx.OriginFeed, Type: "ban", Start: time.Now().Add(-time.Hour), Until: until}
	for _, a := range d.Addrs {
		dec.Value = netip.PrefixFrom(a, a.BitLen())
		tab.Add(dec)
	}
	b.Run("table-check", func(b *testing.B) {
		hits, now := 0, time.Now()
		for i := 0; b.Loop(); i++ {
			if _, _, ok := tab.Check(d.Queries[i&mask], now); ok {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
	})
	runtime.KeepAlive(floor)
	runtime.KeepAlive(tab)
}

// BenchmarkStartupPull measures a whole pull of 1,000,000 decisions from a
// member served on loopback: the request, decoding, and building the copy.
func BenchmarkStartupPull(b *testing.B) {
	d := benchOnce()
	keys, err := lapi.OpenKeys(filepath.Join(b.TempDir(), "bouncers.json"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := keys.Add("bench")
	if err != nil {
		b.Fatal(err)
	}
	tab := decision.NewTable()
	now := time.Now()
	dec := phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Scenario: "crowdsecurity/ssh-bf", Start: now, Until: now.Add(4 * time.Hour)}
	for _, a := range d.Addrs {
		dec.Value = netip.PrefixFrom(a, a.BitLen())
		tab.Add(dec)
	}
	srv := httptest.NewServer(lapi.New(lapi.Config{}, tab, lapi.NewJournal(0), keys, nil).Handler())
	defer srv.Close()
	g, err := New(Config{URL: srv.URL, APIKey: key})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := g.pull(context.Background(), true); err != nil {
			b.Fatal(err)
		}
	}
	if s := g.Stats(); s.Addresses != len(d.Addrs) {
		b.Fatalf("%d addresses in the copy, want %d", s.Addresses, len(d.Addrs))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(d.Addrs)), "ns/decision")
}
