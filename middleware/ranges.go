package middleware

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// Ranges sit in a bart trie (prefix to until), behind a bitmap per family
// of the blocks that some range overlaps: IPv4 /20s, and IPv6 /48s hashed
// onto as many bits. An address whose block's bit is clear skips the trie,
// so most clean addresses cost one read of a 128 KiB bitmap that stays in
// cache. IPv6 ranges shorter than /32 (rare in ban lists) send every IPv6
// address to the trie.
const (
	blockBits  = 20
	blockWords = 1 << blockBits / 64
	block6Len  = 48 // IPv6 block length
	wide6Len   = 32 // IPv6 ranges shorter than this are not in the bitmap
)

type bitmap [blockWords]uint64

func (b *bitmap) has(j uint32) bool { return b[j>>6]&(1<<(j&63)) != 0 }

func (b *bitmap) set(j uint32) { b[j>>6] |= 1 << (j & 63) }

// rangeSet is one published copy of the ranges. It never changes: the
// writer builds the next one and swaps it in.
type rangeSet struct {
	tab        *bart.Table[uint32]
	has4, has6 *bitmap
	wide6      bool
}

func block4(a uint32) uint32 { return a >> (32 - blockBits) }

// block6 maps the top 48 bits of an IPv6 address (in the high bits of hi)
// onto the bitmap.
func block6(hi uint64) uint32 { return uint32((hi >> 16 * mix0) >> (64 - blockBits)) }

// may reports whether some range may hold a (unmapped).
func (r *rangeSet) may(a netip.Addr) bool {
	if a.Is4() {
		return r.has4.has(block4(key4(a)))
	}
	if r.wide6 {
		return true
	}
	hi, _ := halves(a)
	return r.has6.has(block6(hi))
}

// banned reports whether a range active at now holds a.
func (r *rangeSet) banned(a netip.Addr, now uint32) bool {
	u, ok := r.tab.Lookup(a)
	if !ok {
		return false
	}
	if u > now {
		return true
	}
	// The longest range has ended but is not swept yet: a shorter one may
	// still be active.
	for _, u := range r.tab.Supernets(netip.PrefixFrom(a, a.BitLen())) {
		if u > now {
			return true
		}
	}
	return false
}

// rangeWriter is the writer's side of the ranges: the trie last published
// (changed only by the ...Persist methods, as readers may hold it) and the
// bitmaps being kept for the next copy. A removal may clear bits that
// another range still needs, so after one the bitmaps are made again from
// the trie when published.
type rangeWriter struct {
	tab        *bart.Table[uint32]
	has4, has6 bitmap
	wide6      int
	stale      bool // a range was removed: remake the bitmaps
	dirty      bool // changed since the last publish
}

func newRangeWriter() *rangeWriter { return &rangeWriter{tab: new(bart.Table[uint32])} }

// mark sets the bits of the blocks p overlaps.
func (w *rangeWriter) mark(p netip.Prefix) {
	a := p.Addr()
	if a.Is4() {
		first, n := block4(key4(a)), uint32(1)
		if p.Bits() < blockBits {
			n = 1 << (blockBits - p.Bits())
		}
		for j := first; j < first+n; j++ {
			w.has4.set(j)
		}
		return
	}
	if p.Bits() < wide6Len {
		w.wide6++
		return
	}
	hi, _ := halves(a)
	n := uint64(1)
	if p.Bits() < block6Len {
		n = 1 << (block6Len - p.Bits())
	}
	for j := range n {
		w.has6.set(block6(hi + j<<16))
	}
}

// set stores a ban on p until until; with keepLater, a later until
// already stored stays. persist is false only while the trie is private
// (being built for a startup copy).
func (w *rangeWriter) set(p netip.Prefix, until uint32, keepLater, persist bool) {
	old, ok := w.tab.Get(p)
	if ok && (old == until || keepLater && old > until) {
		return
	}
	if !ok {
		w.mark(p)
	}
	if persist {
		w.tab = w.tab.InsertPersist(p, until)
	} else {
		w.tab.Insert(p, until)
	}
	w.dirty = true
}

func (w *rangeWriter) remove(p netip.Prefix) {
	if _, ok := w.tab.Get(p); !ok {
		return
	}
	w.tab = w.tab.DeletePersist(p)
	w.stale, w.dirty = true, true
}

// sweep removes the ranges that ended at or before now.
func (w *rangeWriter) sweep(now uint32) {
	var ended []netip.Prefix
	for p, u := range w.tab.All() {
		if u <= now {
			ended = append(ended, p)
		}
	}
	for _, p := range ended {
		w.remove(p)
	}
}

// publish returns the ranges as readers see them: nil when there are none.
func (w *rangeWriter) publish() *rangeSet {
	w.dirty = false
	if w.stale {
		w.has4, w.has6, w.wide6, w.stale = bitmap{}, bitmap{}, 0, false
		for p := range w.tab.All() {
			w.mark(p)
		}
	}
	if w.tab.Size() == 0 {
		return nil
	}
	h4, h6 := w.has4, w.has6
	return &rangeSet{tab: w.tab, has4: &h4, has6: &h6, wide6: w.wide6 > 0}
}
