package decision

import "math/bits"

// exactIndex holds the decisions on single addresses. It is an
// open-addressing hash table with linear probing whose slots are the
// records themselves, kept as two parallel arrays: a one-byte tag per slot
// (0 for empty, otherwise 1-255 from the key's hash) and the slot's entry,
// the first of its address's chain (the rest of a chain, other Types on the
// same address, sits in the arena). Home positions come from the hash's
// top bits (scaled to the table's size, which need not be a power of two),
// the tag from its low ones.
//
// The layout is for lookups, which must cost about one memory read. Half
// the addresses a member checks are clean, and a clean address reads only
// tags: about 1.5 MiB for a million addresses, small enough to stay in the
// last-level cache. A stored address reads its tags, then its entry, one
// 64-byte cache line with the full address to confirm the match and
// everything a lookup returns; a tag matches a wrong slot one time in 255.
// There is no second, dependent read (an index of entry numbers in front
// of an arena cost one, about 150 ns on a large table).
//
// The price is that entries move: when the table grows, and when a
// deletion shifts the slots after it back (there are no tombstones), or
// moves the next entry of a chain in from the arena. Each move updates the
// one place that names an entry by its slot, the expiry heap (see relink):
// byID names addresses by hash, and nothing else points at an index slot,
// since only a chain's first entry lives there. Kept at most 4/5 full, it
// grows by half; at a million addresses growing takes about 0.1 s under
// the write lock.
type exactIndex struct {
	tags []uint8
	ents []entry // len(ents) == len(tags)
	n    int
}

const minExactSlots = 16

// xref is the entry reference of index slot pos; arena slots are the
// references from 0, none is -1, index slots are -2 and below.
func xref(pos int) int32 { return int32(-2 - pos) }

// xpos is xref's inverse.
func xpos(i int32) int { return int(-2 - i) }

// at returns the entry that reference i names.
func (t *Table) at(i int32) *entry {
	if i >= 0 {
		return &t.ents[i]
	}
	return &t.exact.ents[-2-i]
}

func (x *exactIndex) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(x.tags)))
	return int(hi)
}

func (x *exactIndex) next(pos int) int {
	if pos++; pos == len(x.tags) {
		return 0
	}
	return pos
}

// tagOf maps the hash's bits 1-8 onto 1-255, without a branch.
func tagOf(h uint64) uint8 { return uint8((h>>1&0xff)*255>>8) + 1 }

// hashKey hashes an exact key with the table's random seed, so that nobody
// can choose addresses that crowd one stretch of the index; if they did, it
// would cost time, never a wrong answer. The hash is odd (see find).
func (t *Table) hashKey(hi, lo uint64, fam uint8) uint64 {
	return mum(mum(hi^t.seed[0], lo^t.seed[1])^t.seed[0], uint64(fam)^0x9e3779b97f4a7c15^t.seed[1]) | 1
}

// entryHash is hashKey of entry e.
func (t *Table) entryHash(e *entry) uint64 {
	return t.hashKey(e.hi, e.lo, e.flags&flag6)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// exactFind returns the index slot of k (hash h), or -1.
func (t *Table) exactFind(k key, h uint64) int {
	x := &t.exact
	if x.n == 0 {
		return -1
	}
	tag := tagOf(h)
	for pos := x.home(h); ; pos = x.next(pos) {
		g := x.tags[pos]
		if g == 0 {
			return -1
		}
		if g == tag && x.ents[pos].is(k) {
			return pos
		}
	}
}

// exactHead is exactFind for lookups: it returns the reference of the
// address's first entry, or none.
func (t *Table) exactHead(hi, lo uint64, fam uint8) int32 {
	x := &t.exact
	if x.n == 0 {
		return none
	}
	h := t.hashKey(hi, lo, fam)
	tag := tagOf(h)
	tags, ents := x.tags, x.ents[:len(x.tags)]
	n := len(tags)
	for pos := x.home(h); ; {
		g := tags[pos]
		if g == 0 {
			return none
		}
		if g == tag {
			if e := &ents[pos]; (e.lo^lo)|(e.hi^hi)|uint64((e.flags&flag6)^fam) == 0 {
				return xref(pos)
			}
		}
		if pos++; pos == n {
			pos = 0
		}
	}
}

// exactAdd takes an empty slot for the address k, which has none, and
// returns its reference. The caller fills the entry.
func (t *Table) exactAdd(k key) int32 {
	x := &t.exact
	if 5*(x.n+1) > 4*len(x.tags) {
		t.exactGrow()
	}
	h := t.hashKey(k.hi, k.lo, k.fam)
	pos := x.home(h)
	for x.tags[pos] != 0 {
		pos = x.next(pos)
	}
	x.tags[pos] = tagOf(h)
	x.n++
	return xref(pos)
}

// exactGrow makes the index half as large again and moves every entry to
// its new slot.
func (t *Table) exactGrow() {
	size := max(len(t.exact.tags)+len(t.exact.tags)/2, minExactSlots)
	if size > maxSlots-2 {
		// 2^31 addresses would take 128 GiB; nothing gets near.
		panic("decision: table full")
	}
	t.exactResize(size) // grow.go
}

// relink points the expiry heap at index slot pos, whose entry has just
// moved there.
func (t *Table) relink(pos int) {
	t.expiry[t.exact.ents[pos].heap] = xref(pos)
}

// exactRemove empties index slot pos and shifts the slots after it that
// may move closer to home (Knuth's algorithm R).
func (t *Table) exactRemove(pos int) {
	x := &t.exact
	i := pos
	x.tags[i], x.ents[i] = 0, entry{}
	x.n--
	for j := x.next(i); x.tags[j] != 0; j = x.next(j) {
		k := x.home(t.entryHash(&x.ents[j]))
		// Move slot j to i unless its home lies cyclically in (i, j].
		if i <= j && (k <= i || k > j) || i > j && k <= i && k > j {
			x.tags[i], x.ents[i] = x.tags[j], x.ents[j]
			x.tags[j], x.ents[j] = 0, entry{}
			t.relink(i)
			i = j
		}
	}
}
