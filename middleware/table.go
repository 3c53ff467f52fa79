package middleware

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// table is the guard's copy of the bans. Reads (banned) take no lock and
// may run at any time; changes come from one writer at a time (Run).
type table struct {
	v4     atomic.Pointer[exact4]
	v6     atomic.Pointer[exact6]
	ranges atomic.Pointer[rangeSet] // nil when there are no ranges

	// clock is the time in Unix seconds as Run's ticker last set it, or 0
	// when no ticker runs. Lookups read it rather than the system clock:
	// reading the clock (a serialising instruction on x86) costs more
	// than the lookup itself, as it waits for the lookup's cache miss.
	clock atomic.Uint32

	// Writer only.
	rw   *rangeWriter
	seed uint64
}

func newTable() *table {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on Linux
	t := &table{rw: newRangeWriter(), seed: binary.LittleEndian.Uint64(b[:])}
	t.v4.Store(newExact4(0, t.seed))
	t.v6.Store(newExact6(0, t.seed))
	return t
}

// unixUntil turns a time into an until: Unix seconds rounded up, within
// the range of a stored ban.
func unixUntil(t time.Time) uint32 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return uint32(min(max(s, untilDead+1), math.MaxUint32))
}

// unixNow turns the time of a lookup into seconds comparable with untils:
// a ban is active while unixNow(now) < until.
func unixNow(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), math.MaxUint32))
}

// banned reports whether a is banned at the table's clock, or at the time
// now returns when no ticker runs; now is called only when a has a ban to
// check.
func (t *table) banned(a netip.Addr, now func() time.Time) bool {
	a = a.Unmap()
	var u uint32
	switch {
	case a.Is4():
		u = t.v4.Load().until(key4(a))
	case a.Is6():
		hi, lo := halves(a)
		u = t.v6.Load().until(hi, lo)
	default:
		return false
	}
	r := t.ranges.Load()
	inRange := r != nil && r.may(a)
	if u <= untilDead && !inRange {
		return false
	}
	s := t.clock.Load()
	if s == 0 {
		s = unixNow(now())
	}
	if u > s {
		return true
	}
	return inRange && r.banned(a.WithZone(""), s)
}

// ban is one ban read from the stream: a normalised prefix and its until.
type ban struct {
	value netip.Prefix
	until uint32
}

// replace makes bans the whole copy (a startup pull). The new copy is
// built aside and swapped in: readers see the old one until then.
func (t *table) replace(bans []ban) {
	n4, n6 := 0, 0
	for _, b := range bans {
		if b.value.IsSingleIP() {
			if b.value.Addr().Is4() {
				n4++
			} else {
				n6++
			}
		}
	}
	v4, v6, rw := newExact4(n4, t.seed), newExact6(n6, t.seed), newRangeWriter()
	for _, b := range bans {
		a := b.value.Addr()
		switch {
		case !b.value.IsSingleIP():
			rw.set(b.value, b.until, true, false)
		case a.Is4():
			v4.set(key4(a), b.until, true) // room for all was made
		default:
			hi, lo := halves(a)
			v6.set(hi, lo, b.until, true)
		}
	}
	t.rw = rw
	t.ranges.Store(rw.publish())
	t.v4.Store(v4)
	t.v6.Store(v6)
}

// apply applies a delta: deleted prefixes leave, then added bans are
// stored (a later until already stored stays). A prefix both deleted and
// added is a decision replaced by another: it takes the added until at
// once, without a moment unbanned.
func (t *table) apply(added []ban, deleted []netip.Prefix) {
	var replaced map[netip.Prefix]uint32
	if len(deleted) > 0 && len(added) > 0 {
		gone := make(map[netip.Prefix]bool, len(deleted))
		for _, p := range deleted {
			gone[p] = true
		}
		kept := added[:0:0]
		for _, b := range added {
			if gone[b.value] {
				if replaced == nil {
					replaced = make(map[netip.Prefix]uint32)
				}
				replaced[b.value] = max(replaced[b.value], b.until)
				continue
			}
			kept = append(kept, b)
		}
		added = kept
	}
	for _, p := range deleted {
		if u, ok := replaced[p]; ok {
			t.set(ban{p, u}, false)
			continue
		}
		t.remove(p)
	}
	for _, b := range added {
		t.set(b, true)
	}
	if t.rw.dirty {
		t.ranges.Store(t.rw.publish())
	}
}

// set stores b; ranges are published by the caller.
func (t *table) set(b ban, keepLater bool) {
	a := b.value.Addr()
	switch {
	case !b.value.IsSingleIP():
		t.rw.set(b.value, b.until, keepLater, true)
	case a.Is4():
		x := t.v4.Load()
		if !x.set(key4(a), b.until, keepLater) {
			x = x.rebuilt(growTarget(x.live + 1))
			x.set(key4(a), b.until, keepLater)
			t.v4.Store(x)
		}
	default:
		hi, lo := halves(a)
		x := t.v6.Load()
		if !x.set(hi, lo, b.until, keepLater) {
			x = x.rebuilt(growTarget(x.live + 1))
			x.set(hi, lo, b.until, keepLater)
			t.v6.Store(x)
		}
	}
}

func (t *table) remove(p netip.Prefix) {
	a := p.Addr()
	switch {
	case !p.IsSingleIP():
		t.rw.remove(p)
	case a.Is4():
		t.v4.Load().remove(key4(a))
	default:
		t.v6.Load().remove(halves(a))
	}
}

// sweep drops the bans that ended at or before now, and shrinks indexes
// left mostly empty.
func (t *table) sweep(now time.Time) {
	s := unixNow(now)
	x4 := t.v4.Load()
	x4.sweep(s)
	if x4.sparse() {
		t.v4.Store(x4.rebuilt(growTarget(x4.live)))
	}
	x6 := t.v6.Load()
	x6.sweep(s)
	if x6.sparse() {
		t.v6.Store(x6.rebuilt(growTarget(x6.live)))
	}
	t.rw.sweep(s)
	if t.rw.dirty {
		t.ranges.Store(t.rw.publish())
	}
}

// counts returns the stored bans on addresses and ranges, ended ones
// included until swept. Writer only.
func (t *table) counts() (addrs, ranges int) {
	return t.v4.Load().live + t.v6.Load().live, t.rw.tab.Size()
}
