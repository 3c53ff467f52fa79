// Package benchaddr makes the deterministic sets of addresses and ranges
// that benchmarks and randomized tests share, so that the decision table,
// the middleware and a plain map are measured on the same data. It is test
// support: it must not be imported by non-test code.
package benchaddr

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
)

// Set is a generated data set.
type Set struct {
	Addrs   []netip.Addr   // distinct addresses, alternately IPv4 and IPv6
	Ranges  []netip.Prefix // distinct ranges, alternately IPv4 and IPv6
	Queries []netip.Addr   // 45% from Addrs, 5% inside Ranges, 50% random
}

// Generate makes a Set from the seed: the same seed, the same set.
func Generate(seed uint64, addrs, ranges, queries int) *Set {
	rng := rand.New(rand.NewPCG(2026, seed))
	d := &Set{}
	seen := make(map[netip.Addr]bool, addrs)
	for len(d.Addrs) < addrs {
		a := Public(rng, len(d.Addrs)%2 == 0)
		if !seen[a] {
			seen[a] = true
			d.Addrs = append(d.Addrs, a)
		}
	}
	seenP := make(map[netip.Prefix]bool, ranges)
	for len(d.Ranges) < ranges {
		v4 := len(d.Ranges)%2 == 0
		p := netip.PrefixFrom(Public(rng, v4), RangeBits(rng, v4)).Masked()
		if !seenP[p] {
			seenP[p] = true
			d.Ranges = append(d.Ranges, p)
		}
	}
	d.Queries = make([]netip.Addr, queries)
	for i := range d.Queries {
		switch r := rng.IntN(100); {
		case r < 45 && len(d.Addrs) > 0:
			d.Queries[i] = d.Addrs[rng.IntN(len(d.Addrs))]
		case r < 50 && len(d.Ranges) > 0:
			d.Queries[i] = In(rng, d.Ranges[rng.IntN(len(d.Ranges))])
		default:
			d.Queries[i] = Public(rng, rng.IntN(2) == 0)
		}
	}
	return d
}

// Public returns a random IPv4 address, or an IPv6 address in 2000::/3.
func Public(rng *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rng.Uint64()&^(7<<61)|1<<61)
	binary.BigEndian.PutUint64(b[8:], rng.Uint64())
	return netip.AddrFrom16(b)
}

// RangeBits draws a range length, /8../31 for IPv4 and /32../127 for IPv6,
// longer ones more often (the count doubles every 2 bits for IPv4, every 8
// for IPv6), so that, as in real block lists, there are a few wide ranges
// and many narrow ones: about 6% of random IPv4 addresses fall in a range.
func RangeBits(rng *rand.Rand, v4 bool) int {
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

// In returns a random address inside p.
func In(rng *rand.Rand, p netip.Prefix) netip.Addr {
	a := Public(rng, p.Addr().Is4())
	b, pb := a.AsSlice(), p.Addr().AsSlice()
	for i := range p.Bits() {
		m := byte(0x80) >> (i % 8)
		b[i/8] = b[i/8]&^m | pb[i/8]&m
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}
