package decision

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"phalanx"
)

// The large data set: 1,000,000 addresses and 100,000 ranges, half IPv4 and
// half IPv6, from a fixed seed. Only benchmarks build it.
const (
	benchAddrs   = 1_000_000
	benchRanges  = 100_000
	benchQueries = 1 << 22 // 4Mi addresses, 64 MiB of netip.Addr: larger than any cache here
)

type benchData struct {
	addrs   []netip.Addr   // the banned addresses
	ranges  []netip.Prefix // the banned ranges
	queries []netip.Addr   // 45% banned addresses, 5% inside ranges, 50% random
}

var benchOnce = sync.OnceValue(func() *benchData {
	rng := rand.New(rand.NewPCG(2026, 3))
	d := &benchData{}
	seen := make(map[netip.Addr]bool, benchAddrs)
	for len(d.addrs) < benchAddrs {
		a := randPublic(rng, len(d.addrs)%2 == 0)
		if !seen[a] {
			seen[a] = true
			d.addrs = append(d.addrs, a)
		}
	}
	seenP := make(map[netip.Prefix]bool, benchRanges)
	for len(d.ranges) < benchRanges {
		v4 := len(d.ranges)%2 == 0
		p := netip.PrefixFrom(randPublic(rng, v4), rangeBits(rng, v4)).Masked()
		if !seenP[p] {
			seenP[p] = true
			d.ranges = append(d.ranges, p)
		}
	}
	d.queries = make([]netip.Addr, benchQueries)
	for i := range d.queries {
		switch r := rng.IntN(100); {
		case r < 45:
			d.queries[i] = d.addrs[rng.IntN(len(d.addrs))]
		case r < 50:
			d.queries[i] = randIn(rng, d.ranges[rng.IntN(len(d.ranges))])
		default:
			d.queries[i] = randPublic(rng, rng.IntN(2) == 0)
		}
	}
	return d
})

// randPublic returns a random IPv4 address, or an IPv6 address in 2000::/3.
func randPublic(rng *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		v := rng.Uint32()
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	hi = hi&^(7<<61) | 1<<61
	putUint64(b[:8], hi)
	putUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// rangeBits draws a range length, /8../31 for IPv4 and /32../127 for IPv6,
// longer ones more often (the count doubles every 2 bits for IPv4, every 8
// for IPv6), so that, as in real block lists, there are a few wide ranges
// and many narrow ones: about 6% of random IPv4 addresses fall in a range.
func rangeBits(rng *rand.Rand, v4 bool) int {
	lo, hi, step := 8, 31, 2.0
	if !v4 {
		lo, hi, step = 32, 127, 8.0
	}
	// Inverse transform of a density proportional to 2^((b-lo)/step).
	n := float64(hi - lo + 1)
	u := rng.Float64()
	x := step * math.Log2(1+u*(math.Exp2(n/step)-1))
	return min(lo+int(x), hi)
}

func randIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	a := randPublic(rng, p.Addr().Is4())
	b, pb := a.AsSlice(), p.Addr().AsSlice()
	for i := range p.Bits() {
		m := byte(0x80) >> (i % 8)
		b[i/8] = b[i/8]&^m | pb[i/8]&m
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}

func loadTable(d *benchData) *Table {
	tab := NewTable()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	dec := phalanx.Decision{Origin: phalanx.OriginFeed, Type: "ban", Scenario: "bench", Start: now, Reason: "bench"}
	for i, a := range d.addrs {
		dec.Value = netip.PrefixFrom(a, a.BitLen())
		dec.Until = now.Add(time.Hour + time.Duration(i)*time.Millisecond)
		tab.Add(dec)
	}
	for i, p := range d.ranges {
		dec.Value = p
		dec.Until = now.Add(time.Hour + time.Duration(i)*time.Millisecond)
		tab.Add(dec)
	}
	return tab
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLookup compares Table.Lookup (and Check) with a plain map of the
// banned addresses, which cannot match ranges and builds no decision: it is
// the floor. All run on the same random queries, too many for any cache;
// MiB is the heap the loaded structure takes.
func BenchmarkLookup(b *testing.B) {
	d := benchOnce()
	now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	mask := len(d.queries) - 1

	before := heapAlloc()
	tab := loadTable(d)
	tableBytes := heapAlloc() - before

	before = heapAlloc()
	floor := make(map[netip.Addr]struct{}, len(d.addrs))
	for _, a := range d.addrs {
		floor[a] = struct{}{}
	}
	floorBytes := heapAlloc() - before

	b.Run("map", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if _, ok := floor[d.queries[i&mask]]; ok {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
		b.ReportMetric(float64(floorBytes)/(1<<20), "MiB")
	})
	b.Run("table", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if _, ok := tab.Lookup(d.queries[i&mask], now); ok {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
		b.ReportMetric(float64(tableBytes)/(1<<20), "MiB")
		b.ReportMetric(float64(tableBytes)/float64(len(d.addrs)+len(d.ranges)), "B/decision")
	})
	b.Run("table-check", func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if _, _, ok := tab.Check(d.queries[i&mask], now); ok {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
	})
	b.Run("map-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i, hits := rand.IntN(len(d.queries)), 0
			for pb.Next() {
				if _, ok := floor[d.queries[i&mask]]; ok {
					hits++
				}
				i++
			}
			runtime.KeepAlive(hits)
		})
	})
	b.Run("table-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(d.queries))
			for pb.Next() {
				tab.Lookup(d.queries[i&mask], now)
				i++
			}
		})
	})
	runtime.KeepAlive(tab)
	runtime.KeepAlive(floor)
}
