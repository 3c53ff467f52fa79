package decision

import "math/bits"

// exactIndex maps full-length prefixes (single addresses) to the first entry
// of their chain. It is an open-addressing hash table with linear probing
// whose slots are one word each: the hash's top 32 bits (which also give the
// slot's home position) and the entry's slot number plus one, 0 meaning
// empty. A lookup reads one cache line of it, then the entry, which has the
// full address to confirm the match; a miss reads no entry. Kept at most
// half full; deletion shifts entries back, so there are no tombstones.
type exactIndex struct {
	slots []uint64
	log   uint // len(slots) == 1<<log
	n     int
}

const minExactLog = 4

func (x *exactIndex) mask() uint64 { return uint64(len(x.slots) - 1) }

func (x *exactIndex) home(h uint64) uint64 { return h >> (64 - x.log) }

// slotHome is the home position of an occupied slot.
func (x *exactIndex) slotHome(s uint64) uint64 { return s >> (64 - x.log) }

func slotEntry(s uint64) int32 { return int32(uint32(s)) - 1 }

func packSlot(h uint64, i int32) uint64 { return h&^0xffffffff | uint64(uint32(i+1)) }

// hashKey hashes an exact key with the table's random seed, so that nobody
// can choose addresses that crowd one stretch of the index; if they did, it
// would cost time, never a wrong answer.
func (t *Table) hashKey(hi, lo uint64, fam uint8) uint64 {
	return mum(mum(hi^t.seed[0], lo^t.seed[1])^t.seed[0], uint64(fam)^0x9e3779b97f4a7c15^t.seed[1])
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// exactFind returns the position in the index of k's slot, or -1.
func (t *Table) exactFind(k key, h uint64) int {
	x := &t.exact
	if x.n == 0 {
		return -1
	}
	fp := h >> 32
	for pos := x.home(h); ; pos = (pos + 1) & x.mask() {
		s := x.slots[pos]
		if s == 0 {
			return -1
		}
		if s>>32 == fp && t.ents[slotEntry(s)].is(k) {
			return int(pos)
		}
	}
}

// exactHead is exactFind for lookups: it returns the chain's first entry.
func (t *Table) exactHead(hi, lo uint64, fam uint8) int32 {
	x := &t.exact
	if x.n == 0 {
		return none
	}
	h := t.hashKey(hi, lo, fam)
	fp := h >> 32
	for pos := x.home(h); ; pos = (pos + 1) & x.mask() {
		s := x.slots[pos]
		if s == 0 {
			return none
		}
		if s>>32 == fp {
			i := slotEntry(s)
			// One test of fields at both ends: the entry's two cache
			// lines are fetched together, and the caller finds both.
			if e := &t.ents[i]; (e.lo^lo)|(e.hi^hi)|uint64((e.flags&flag6)^fam) == 0 {
				return i
			}
		}
	}
}

// exactInsert adds a slot for a key (hash h) that has none.
func (t *Table) exactInsert(h uint64, i int32) {
	x := &t.exact
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.place(packSlot(h, i))
	x.n++
}

func (x *exactIndex) place(s uint64) {
	pos := x.slotHome(s)
	for x.slots[pos] != 0 {
		pos = (pos + 1) & x.mask()
	}
	x.slots[pos] = s
}

func (x *exactIndex) grow() {
	old := x.slots
	x.log = max(x.log+1, minExactLog)
	x.slots = make([]uint64, 1<<x.log)
	for _, s := range old {
		if s != 0 {
			x.place(s)
		}
	}
}

// remove empties the slot at pos and shifts the slots after it that may
// move closer to home (Knuth's algorithm R).
func (x *exactIndex) remove(pos int) {
	m := x.mask()
	i := uint64(pos)
	x.slots[i] = 0
	x.n--
	for j := (i + 1) & m; x.slots[j] != 0; j = (j + 1) & m {
		k := x.slotHome(x.slots[j])
		// Move slot j to i unless its home lies cyclically in (i, j].
		if i <= j && (k <= i || k > j) || i > j && k <= i && k > j {
			x.slots[i], x.slots[j] = x.slots[j], 0
			i = j
		}
	}
}
