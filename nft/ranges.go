package nft

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"
)

// rangeSet is what the enforcer knows about one interval ban set: the range
// bans it was given, and the pieces the kernel holds, grouped by the root
// they were cut from (see cut).
type rangeSet struct {
	items  *bart.Table[time.Time] // range bans and when they end
	loaded *bart.Table[[]piece]   // kernel pieces by root; some may have ended since
}

func newRangeSet() rangeSet {
	return rangeSet{items: new(bart.Table[time.Time]), loaded: new(bart.Table[[]piece])}
}

// fill cuts the items into pieces, records them as loaded and returns them.
func (rs rangeSet) fill() []piece {
	var spans []span
	for p, until := range rs.items.All() {
		spans = append(spans, span{p: p, until: until})
	}
	roots := cut(spans)
	for _, r := range roots {
		rs.loaded.Insert(r.root, r.pieces)
	}
	return flatten(roots)
}

// rangeEdit is one transaction's changes to a rangeSet. The items change at
// once (and are put back by rollback); the loaded pieces change on commit.
type rangeEdit struct {
	rs       rangeSet
	undo     []itemUndo
	touched  []netip.Prefix
	oldRoots []netip.Prefix
	newRoots []rooted
}

type itemUndo struct {
	p     netip.Prefix
	until time.Time
	had   bool
}

func (ed *rangeEdit) set(p netip.Prefix, until time.Time) {
	old, had := ed.rs.items.Get(p)
	ed.undo = append(ed.undo, itemUndo{p, old, had})
	ed.rs.items.Insert(p, until)
	ed.touched = append(ed.touched, p)
}

func (ed *rangeEdit) del(p netip.Prefix) {
	old, had := ed.rs.items.Get(p)
	if !had {
		return
	}
	ed.undo = append(ed.undo, itemUndo{p, old, had})
	ed.rs.items.Delete(p)
	ed.touched = append(ed.touched, p)
}

func (ed *rangeEdit) changed() bool { return len(ed.touched) > 0 }

// regions returns the disjoint prefixes whose pieces the changes affect:
// for each changed prefix, the widest prefix around it among the items (as
// they are now) and the loaded roots (as the kernel has them).
func (ed *rangeEdit) regions() []netip.Prefix {
	rs := make([]netip.Prefix, 0, len(ed.touched))
	for _, p := range ed.touched {
		r := p
		for q := range ed.rs.items.Supernets(p) {
			if q.Bits() < r.Bits() {
				r = q
			}
		}
		for q := range ed.rs.loaded.Supernets(p) {
			if q.Bits() < r.Bits() {
				r = q
			}
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b netip.Prefix) int {
		if c := cmp.Compare(a.Bits(), b.Bits()); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	var chosen bart.Table[struct{}]
	out := rs[:0]
	for _, r := range rs {
		covered := false
		for range chosen.Supernets(r) {
			covered = true
			break
		}
		if !covered {
			chosen.Insert(r, struct{}{})
			out = append(out, r)
		}
	}
	return out
}

// plan works out which pieces to delete and which to add in the affected
// regions, dropping items that have ended, and puts the element changes in
// the batch.
func (ed *rangeEdit) plan(b *batch, set string, now time.Time) {
	var stale, fresh []piece
	for _, r := range ed.regions() {
		var old []piece
		for root, ps := range ed.rs.loaded.Subnets(r) {
			ed.oldRoots = append(ed.oldRoots, root)
			old = append(old, ps...)
		}
		var spans []span
		var ended []netip.Prefix
		for p, until := range ed.rs.items.Subnets(r) {
			if !until.After(now) {
				ended = append(ended, p)
				continue
			}
			spans = append(spans, span{p: p, until: until})
		}
		for _, p := range ended {
			ed.del(p)
		}
		roots := cut(spans)
		ed.newRoots = append(ed.newRoots, roots...)
		s, f := diffPieces(old, flatten(roots))
		stale = append(stale, s...)
		fresh = append(fresh, f...)
	}
	// A delete fails the whole transaction when the element is not there
	// (a piece that has expired), so each is preceded by an add without
	// timeout: the pair always succeeds and leaves nothing behind. The
	// stale pieces never overlap anything else the kernel holds, so those
	// adds cannot clash; the new pieces go in after the deletes.
	del := make([]elem, 0, len(stale))
	for _, p := range stale {
		del = append(del, elem{key: p.first, end: p.last.Next()})
	}
	put := make([]elem, 0, len(fresh))
	for _, p := range fresh {
		put = append(put, p.elem(now))
	}
	b.add(set, del)
	b.del(set, del)
	b.add(set, put)
}

// commit records the planned pieces as loaded, after the kernel took them.
func (ed *rangeEdit) commit() {
	for _, r := range ed.oldRoots {
		ed.rs.loaded.Delete(r)
	}
	for _, r := range ed.newRoots {
		ed.rs.loaded.Insert(r.root, r.pieces)
	}
}

// rollback puts the items back as they were, after the kernel refused.
func (ed *rangeEdit) rollback() {
	for i := len(ed.undo) - 1; i >= 0; i-- {
		u := ed.undo[i]
		if u.had {
			ed.rs.items.Insert(u.p, u.until)
		} else {
			ed.rs.items.Delete(u.p)
		}
	}
}

type pieceKey struct {
	first, last netip.Addr
	until       int64
}

// diffPieces returns the pieces of have that want lacks, and those of want
// that have lacks (a piece whose end changed is in both).
func diffPieces(have, want []piece) (stale, fresh []piece) {
	in := make(map[pieceKey]bool, len(have))
	for _, p := range have {
		in[pieceKey{p.first, p.last, p.until.UnixNano()}] = true
	}
	for _, p := range want {
		k := pieceKey{p.first, p.last, p.until.UnixNano()}
		if in[k] {
			delete(in, k)
			continue
		}
		fresh = append(fresh, p)
	}
	for _, p := range have {
		if in[pieceKey{p.first, p.last, p.until.UnixNano()}] {
			stale = append(stale, p)
		}
	}
	return stale, fresh
}
