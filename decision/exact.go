package decision

import "math/bits"

// exactIndex maps full-length prefixes (single addresses) to the first entry
// of their chain. It is an open-addressing hash table with linear probing,
// kept as two parallel arrays: a one-byte tag per slot (0 for empty,
// otherwise 1-255 from the key's hash) and the chain's first entry. Its
// home positions come from the hash's top bits, the tag from its low ones.
//
// The split is for lookups. Half the addresses a member checks are clean,
// and a clean address reads only tags: 2 MiB for a million addresses, small
// enough to stay in the last-level cache, where a slot of key and entry
// together (16 MiB) did not. A stored address reads its tag, then its head
// (a load the CPU issues on the predicted match, not after it), then the
// entry, which has the full address to confirm the match; a tag matches a
// wrong slot one time in 255. Kept at most half full; deletion shifts
// entries back, so there are no tombstones.
type exactIndex struct {
	tags  []uint8
	heads []int32
	log   uint // len(tags) == len(heads) == 1<<log
	n     int
}

const minExactLog = 4

func (x *exactIndex) mask() uint64 { return uint64(len(x.tags) - 1) }

func (x *exactIndex) home(h uint64) uint64 { return h >> (64 - x.log) }

// tagOf maps the hash's low byte onto 1-255, without a branch.
func tagOf(h uint64) uint8 { return uint8((h&0xff)*255>>8) + 1 }

// hashKey hashes an exact key with the table's random seed, so that nobody
// can choose addresses that crowd one stretch of the index; if they did, it
// would cost time, never a wrong answer.
func (t *Table) hashKey(hi, lo uint64, fam uint8) uint64 {
	return mum(mum(hi^t.seed[0], lo^t.seed[1])^t.seed[0], uint64(fam)^0x9e3779b97f4a7c15^t.seed[1])
}

// entryHash is hashKey of the entry in slot i.
func (t *Table) entryHash(i int32) uint64 {
	e := &t.ents[i]
	return t.hashKey(e.hi, e.lo, e.flags&flag6)
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
	tag := tagOf(h)
	for pos := x.home(h); ; pos = (pos + 1) & x.mask() {
		g := x.tags[pos]
		if g == 0 {
			return -1
		}
		if g == tag && t.ents[x.heads[pos]].is(k) {
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
	tag := tagOf(h)
	tags, heads := x.tags, x.heads[:len(x.tags)]
	m := x.mask()
	for pos := x.home(h); ; pos = (pos + 1) & m {
		g := tags[pos]
		if g == 0 {
			return none
		}
		if g == tag {
			i := heads[pos]
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
	if 2*(x.n+1) > len(x.tags) {
		t.exactGrow()
	}
	x.place(h, i)
	x.n++
}

func (x *exactIndex) place(h uint64, i int32) {
	pos := x.home(h)
	for x.tags[pos] != 0 {
		pos = (pos + 1) & x.mask()
	}
	x.tags[pos], x.heads[pos] = tagOf(h), i
}

// exactGrow doubles the index. Slots do not keep their hash, so each is
// hashed again from its entry.
func (t *Table) exactGrow() {
	x := &t.exact
	oldTags, oldHeads := x.tags, x.heads
	x.log = max(x.log+1, minExactLog)
	x.tags = make([]uint8, 1<<x.log)
	x.heads = make([]int32, 1<<x.log)
	for pos, g := range oldTags {
		if g != 0 {
			i := oldHeads[pos]
			x.place(t.entryHash(i), i)
		}
	}
}

// exactRemove empties the slot at pos and shifts the slots after it that
// may move closer to home (Knuth's algorithm R).
func (t *Table) exactRemove(pos int) {
	x := &t.exact
	m := x.mask()
	i := uint64(pos)
	x.tags[i] = 0
	x.n--
	for j := (i + 1) & m; x.tags[j] != 0; j = (j + 1) & m {
		k := x.home(t.entryHash(x.heads[j]))
		// Move slot j to i unless its home lies cyclically in (i, j].
		if i <= j && (k <= i || k > j) || i > j && k <= i && k > j {
			x.tags[i], x.heads[i] = x.tags[j], x.heads[j]
			x.tags[j] = 0
			i = j
		}
	}
}
