package charter

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// checkTerritoryCover refuses a charter whose territory (its territory
// list, every member's addresses and the built-in ranges, together)
// covers every IPv4 or every IPv6 address: a ban that overlaps territory
// is refused, so such a charter silently lifts every ban of that family,
// on every member.
func checkTerritoryCover(c *Charter) error {
	t := c.TerritoryPrefixes()
	for _, space := range []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)} {
		if coversFamily(space.Addr().BitLen(), t) {
			return fmt.Errorf("territory: together with the members' addresses it covers every address of %s, which lifts every ban; list only the networks that must never be banned", space)
		}
	}
	return nil
}

// coversFamily reports whether the prefixes of list with addresses of
// bits bits (32 or 128) together cover every such address: it sorts
// their ranges and looks for a gap.
func coversFamily(bits int, list []netip.Prefix) bool {
	type span struct{ first, last u128 } // without pointers: cheap to sort
	spans := make([]span, 0, len(list))
	for _, q := range list {
		if q.IsValid() && q.Addr().BitLen() == bits {
			first := toU128(q.Masked().Addr())
			spans = append(spans, span{first, first.fill(128 - bits + q.Bits())})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.cmp(b.first) })
	next, end := u128{}, u128{^uint64(0), ^uint64(0)} // the first address not covered yet, the family's last
	if bits == 32 {
		next, end = u128{lo: 0xffff << 32}, u128{lo: 0xffff_ffff_ffff} // IPv4 as IPv4-mapped IPv6
	}
	for _, s := range spans {
		if s.first.cmp(next) > 0 {
			return false // a gap before s
		}
		if s.last.cmp(next) >= 0 {
			if s.last == end {
				return true // s reaches the family's last address
			}
			next = s.last.inc()
		}
	}
	return false
}

// u128 is an IPv6 address (IPv4 as IPv4-mapped) as a number.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (x u128) cmp(y u128) int {
	if c := cmp.Compare(x.hi, y.hi); c != 0 {
		return c
	}
	return cmp.Compare(x.lo, y.lo)
}

// fill sets the bits after the first n to 1: the last address of the
// prefix of length n that starts at x.
func (x u128) fill(n int) u128 {
	switch {
	case n <= 0:
		return u128{^uint64(0), ^uint64(0)}
	case n < 64:
		return u128{x.hi | ^uint64(0)>>n, ^uint64(0)}
	case n < 128:
		return u128{x.hi, x.lo | ^uint64(0)>>(n-64)}
	}
	return x
}

func (x u128) inc() u128 {
	if x.lo == ^uint64(0) {
		return u128{x.hi + 1, 0}
	}
	return u128{x.hi, x.lo + 1}
}
