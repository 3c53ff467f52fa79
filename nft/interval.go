package nft

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Interval sets reject overlapping elements, and banned ranges nest (a /16
// and a /24 inside it, each with its own end). So the enforcer never loads
// prefixes as they are: it cuts them into disjoint pieces, each carrying the
// latest end of the prefixes that cover it, and joins neighbouring pieces
// that end at the same time. A /24 ending after the /16 around it becomes
// three pieces, the middle one outliving the others; a /24 ending sooner
// disappears into the /16. The kernel then expires every piece on time by
// itself, with no timers in the daemon, and the banned addresses at every
// moment are exactly the union of the prefixes still running.
//
// Pieces are cut per root, a prefix that no other banned prefix contains,
// and never joined across roots. A change to one prefix then only touches
// the pieces of the root around it, so one more range costs the same in a
// set of ten ranges as in a set of a million.

// span is a prefix with the time its ban ends.
type span struct {
	p     netip.Prefix
	until time.Time
}

// piece is a range of addresses, first to last inclusive, banned until a
// time. Pieces of one family never overlap.
type piece struct {
	first, last netip.Addr
	until       time.Time
}

// elem returns the piece as an interval set element.
func (p piece) elem(now time.Time) elem {
	return elem{key: p.first, end: p.last.Next(), timeout: timeoutFor(p.until, now)}
}

// lastAddr is the last address of the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

// rooted is a root prefix and the pieces cut from it and the prefixes
// inside it, in order.
type rooted struct {
	root   netip.Prefix
	pieces []piece
}

// cut cuts spans of one family (masked prefixes, each prefix at most once)
// into sorted, disjoint pieces, grouped by root: each address gets the
// latest until of the spans that contain it, and adjacent pieces of one root
// with equal untils are joined. spans is sorted in place.
func cut(spans []span) []rooted {
	slices.SortFunc(spans, func(a, b span) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.p.Bits(), b.p.Bits()) // the wider first
	})
	var (
		out   []rooted
		stack []piece    // the open prefixes, outermost first; first unused
		pos   netip.Addr // the first address not yet in a piece; invalid past the end of the space
	)
	emit := func(first, last netip.Addr, until time.Time) {
		if !first.IsValid() || last.Less(first) {
			return
		}
		ps := &out[len(out)-1].pieces
		if n := len(*ps); n > 0 && (*ps)[n-1].until.Equal(until) && (*ps)[n-1].last.Next() == first {
			(*ps)[n-1].last = last
			return
		}
		*ps = append(*ps, piece{first: first, last: last, until: until})
	}
	closeTop := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		emit(pos, top.last, top.until)
		pos = top.last.Next()
	}
	for _, s := range spans {
		first, last := s.p.Addr(), lastAddr(s.p)
		for len(stack) > 0 && stack[len(stack)-1].last.Less(first) {
			closeTop()
		}
		until := s.until
		if len(stack) > 0 {
			// s lies inside the top: the part of the top before s ends now.
			top := stack[len(stack)-1]
			emit(pos, first.Prev(), top.until)
			if top.until.After(until) {
				until = top.until
			}
		} else {
			out = append(out, rooted{root: s.p})
		}
		pos = first
		stack = append(stack, piece{last: last, until: until})
	}
	for len(stack) > 0 {
		closeTop()
	}
	return out
}

// flatten lists the pieces of all roots, in order.
func flatten(rs []rooted) []piece {
	n := 0
	for _, r := range rs {
		n += len(r.pieces)
	}
	out := make([]piece, 0, n)
	for _, r := range rs {
		out = append(out, r.pieces...)
	}
	return out
}

// pieces is cut, flattened.
func pieces(spans []span) []piece { return flatten(cut(spans)) }

// union returns the fewest disjoint ranges that cover the prefixes (any
// family mix), for sets without timeouts.
func union(ps []netip.Prefix) (v4, v6 []piece) {
	var s4, s6 []span
	seen := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		if seen[p] {
			continue
		}
		seen[p] = true
		if p.Addr().Is4() {
			s4 = append(s4, span{p: p})
		} else {
			s6 = append(s6, span{p: p})
		}
	}
	return joined(pieces(s4)), joined(pieces(s6))
}

// joined joins touching pieces with equal untils, across roots.
func joined(ps []piece) []piece {
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].until.Equal(p.until) && out[n-1].last.Next() == p.first {
			out[n-1].last = p.last
			continue
		}
		out = append(out, p)
	}
	return out
}
