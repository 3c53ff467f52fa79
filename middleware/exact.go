package middleware

import (
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// The exact indexes hold the banned single addresses: open addressing with
// linear probing, at most half full, readable without locks while the one
// writer (Run) changes them.
//
// A slot goes from empty to holding a key once, and keeps that key until
// the index is rebuilt: a deletion only marks the slot dead, so probe
// chains never move under a reader. The writer rebuilds an index (into a
// new one, published with an atomic pointer) when live and dead slots
// together would pass half of it, or when it has become mostly empty.
//
// Untils are Unix seconds in 32 bits (the year 2106 at most). An until of
// 0 marks an empty slot and 1 a dead one; a stored ban has 2 or more.
const (
	untilEmpty = 0
	untilDead  = 1
	minSlots   = 64
)

// slotsFor returns the number of slots for n entries: a power of two, at
// least twice n.
func slotsFor(n int) int {
	c := minSlots
	for c < 2*n {
		c <<= 1
	}
	return c
}

// growTarget is the number of entries a rebuild makes room for: a quarter
// more than are live, so that rebuilds are rare.
func growTarget(live int) int { return live + live/4 + 16 }

// mum is the folded 128-bit product of a and b, the mixing step of the hashes.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

const (
	mix0 = 0x9e3779b97f4a7c15
	mix1 = 0xd6e8feb86659fd93
)

// exact4 holds IPv4 addresses, one word per slot: the address in the high
// 32 bits, its until in the low 32. The word is read and written at once,
// so a reader sees a key with its own until.
type exact4 struct {
	slots []atomic.Uint64
	log   uint   // len(slots) == 1<<log
	seed  uint64 // random per copy: nobody can choose addresses that crowd one stretch
	used  int    // writer only: slots holding a key, live or dead
	live  int    // writer only: slots holding a ban
}

func newExact4(n int, seed uint64) *exact4 {
	c := slotsFor(n)
	return &exact4{slots: make([]atomic.Uint64, c), log: uint(bits.TrailingZeros(uint(c))), seed: seed}
}

func (x *exact4) home(a uint32) uint64 {
	return mum(uint64(a)^x.seed, mix0) >> (64 - x.log)
}

// until returns the until stored for a, or untilEmpty when a has no slot.
func (x *exact4) until(a uint32) uint32 {
	slots := x.slots
	m := uint64(len(slots) - 1)
	for i := x.home(a); ; i = (i + 1) & m {
		w := slots[i].Load()
		if w == 0 {
			return untilEmpty
		}
		if uint32(w>>32) == a {
			return uint32(w)
		}
	}
}

// set stores a ban on a until until (2 or more); with keepLater, a later
// until already stored stays. It reports false, changing nothing, when a
// needs a new slot and the index has none to spare: the caller rebuilds.
func (x *exact4) set(a, until uint32, keepLater bool) bool {
	m := uint64(len(x.slots) - 1)
	for i := x.home(a); ; i = (i + 1) & m {
		w := x.slots[i].Load()
		if w == 0 {
			if 2*(x.used+1) > len(x.slots) {
				return false
			}
			x.slots[i].Store(uint64(a)<<32 | uint64(until))
			x.used++
			x.live++
			return true
		}
		if uint32(w>>32) != a {
			continue
		}
		old := uint32(w)
		if old == untilDead {
			x.live++
		} else if keepLater && old >= until {
			return true
		}
		x.slots[i].Store(uint64(a)<<32 | uint64(until))
		return true
	}
}

// remove deletes the ban on a, if any.
func (x *exact4) remove(a uint32) {
	m := uint64(len(x.slots) - 1)
	for i := x.home(a); ; i = (i + 1) & m {
		w := x.slots[i].Load()
		if w == 0 {
			return
		}
		if uint32(w>>32) == a {
			if uint32(w) != untilDead {
				x.slots[i].Store(uint64(a)<<32 | untilDead)
				x.live--
			}
			return
		}
	}
}

// sweep marks dead the bans that ended at or before now.
func (x *exact4) sweep(now uint32) {
	for i := range x.slots {
		w := x.slots[i].Load()
		if u := uint32(w); u > untilDead && u <= now {
			x.slots[i].Store(w&^0xffffffff | untilDead)
			x.live--
		}
	}
}

// rebuilt returns a new index with the live bans of x and room for n.
func (x *exact4) rebuilt(n int) *exact4 {
	y := newExact4(max(n, x.live), x.seed)
	for i := range x.slots {
		w := x.slots[i].Load()
		if uint32(w) > untilDead {
			y.set(uint32(w>>32), uint32(w), false)
		}
	}
	return y
}

// sparse reports whether x has become mostly empty and should shrink.
func (x *exact4) sparse() bool { return len(x.slots) > minSlots && 16*x.live < len(x.slots) }

// slot6 is one IPv6 slot. The writer fills hi and lo before until, and a
// reader reads until first: an until other than 0 means hi and lo are set,
// and they never change while the index lives.
type slot6 struct {
	until  atomic.Uint64
	hi, lo atomic.Uint64
}

// exact6 holds IPv6 addresses as exact4 holds IPv4 ones.
type exact6 struct {
	slots []slot6
	log   uint
	seed  uint64
	used  int
	live  int
}

func newExact6(n int, seed uint64) *exact6 {
	c := slotsFor(n)
	return &exact6{slots: make([]slot6, c), log: uint(bits.TrailingZeros(uint(c))), seed: seed}
}

func (x *exact6) home(hi, lo uint64) uint64 {
	return mum(mum(hi^x.seed, lo^mix1)^x.seed, mix0) >> (64 - x.log)
}

func (x *exact6) until(hi, lo uint64) uint32 {
	slots := x.slots
	m := uint64(len(slots) - 1)
	for i := x.home(hi, lo); ; i = (i + 1) & m {
		s := &slots[i]
		u := s.until.Load()
		if u == untilEmpty {
			return untilEmpty
		}
		if s.lo.Load() == lo && s.hi.Load() == hi {
			return uint32(u)
		}
	}
}

func (x *exact6) set(hi, lo uint64, until uint32, keepLater bool) bool {
	m := uint64(len(x.slots) - 1)
	for i := x.home(hi, lo); ; i = (i + 1) & m {
		s := &x.slots[i]
		u := s.until.Load()
		if u == untilEmpty {
			if 2*(x.used+1) > len(x.slots) {
				return false
			}
			s.hi.Store(hi)
			s.lo.Store(lo)
			s.until.Store(uint64(until))
			x.used++
			x.live++
			return true
		}
		if s.lo.Load() != lo || s.hi.Load() != hi {
			continue
		}
		if u == untilDead {
			x.live++
		} else if keepLater && uint32(u) >= until {
			return true
		}
		s.until.Store(uint64(until))
		return true
	}
}

func (x *exact6) remove(hi, lo uint64) {
	m := uint64(len(x.slots) - 1)
	for i := x.home(hi, lo); ; i = (i + 1) & m {
		s := &x.slots[i]
		u := s.until.Load()
		if u == untilEmpty {
			return
		}
		if s.lo.Load() == lo && s.hi.Load() == hi {
			if u != untilDead {
				s.until.Store(untilDead)
				x.live--
			}
			return
		}
	}
}

func (x *exact6) sweep(now uint32) {
	for i := range x.slots {
		s := &x.slots[i]
		if u := s.until.Load(); u > untilDead && u <= uint64(now) {
			s.until.Store(untilDead)
			x.live--
		}
	}
}

func (x *exact6) rebuilt(n int) *exact6 {
	y := newExact6(max(n, x.live), x.seed)
	for i := range x.slots {
		s := &x.slots[i]
		if u := s.until.Load(); u > untilDead {
			y.set(s.hi.Load(), s.lo.Load(), uint32(u), false)
		}
	}
	return y
}

func (x *exact6) sparse() bool { return len(x.slots) > minSlots && 16*x.live < len(x.slots) }

// key4 returns an IPv4 address as a number.
func key4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// halves returns the two big-endian halves of an IPv6 address. It goes
// through AppendBinary rather than As16, whose copy (a 16-byte load over
// two 8-byte stores) the CPU cannot forward from its store buffer; the
// decision package measured that stall at far more than the lookup.
func halves(a netip.Addr) (hi, lo uint64) {
	var buf [16]byte
	b, _ := a.WithZone("").AppendBinary(buf[:0])
	if len(b) < 16 {
		return 0, 0
	}
	return be64(b[:8]), be64(b[8:16])
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}
