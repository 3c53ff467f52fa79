package decision

import "maps"

// Grow makes room for n more decisions, so that adding a known number of
// them at once (a restart loading its snapshot) does not grow the indexes
// step by step: the index of single addresses is sized for them at once,
// as are the map of IDs and the expiry heap. It changes nothing a caller
// can see; n is a hint, and adding more than n is fine.
func (t *Table) Grow(n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.n + n
	if want > maxSlots/2 {
		return // Add panics long before; leave the growth to it
	}
	if want > len(t.byID) && want > 1024 {
		m := make(map[uint64]uint64, want)
		maps.Copy(m, t.byID)
		t.byID = m
	}
	if cap(t.expiry) < want {
		e := make([]int32, len(t.expiry), want)
		copy(e, t.expiry)
		t.expiry = e
	}
	// Every decision could be on a single address: size the index so
	// that want of them keep it at most 4/5 full (exactAdd's bound).
	if x := &t.exact; 5*want > 4*len(x.tags) {
		t.exactResize(want*5/4 + 1)
	}
}

// exactResize makes the index size slots large (at least what it holds
// now needs) and moves every entry to its new slot.
func (t *Table) exactResize(size int) {
	x := &t.exact
	oldTags, oldEnts := x.tags, x.ents
	x.tags = make([]uint8, max(size, minExactSlots))
	x.ents = make([]entry, len(x.tags))
	for p, g := range oldTags {
		if g == 0 {
			continue
		}
		e := &oldEnts[p]
		pos := x.home(t.entryHash(e))
		for x.tags[pos] != 0 {
			pos = x.next(pos)
		}
		x.tags[pos], x.ents[pos] = g, *e
		t.relink(pos)
	}
}
