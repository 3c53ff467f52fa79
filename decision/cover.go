package decision

// blocks is a bitmap over the blocks of one address family (IPv4 /20s,
// IPv6 /24s): a block's bit is set when some range in the table overlaps
// it. An address that is not in the exact index and whose block's bit is
// clear has no decision, and the lookup ends without walking the trie. Real
// block lists and the traffic they are checked against are both clustered,
// so most clean addresses stop here, after one read of a bitmap that stays
// in cache (128 KiB for IPv4, 2 MiB for IPv6, allocated with the first
// range of the family).
type blocks struct {
	width uint8 // prefix length of a block
	words []uint64
}

// has reports whether the block of the address whose top 64 bits are top
// (IPv4 addresses in the high 32 bits) may hold a range.
func (b *blocks) has(top uint64) bool {
	if b.words == nil {
		return false
	}
	j := top >> (64 - b.width)
	return b.words[j>>6]&(1<<(j&63)) != 0
}

// span returns the blocks the range k overlaps: first, and how many.
func (b *blocks) span(k key) (first, n uint64) {
	top := k.hi
	if k.fam == 0 {
		top = k.lo << 32
	}
	first = top >> (64 - b.width)
	n = 1
	if k.bits < b.width {
		n = 1 << (b.width - k.bits)
	}
	return first, n
}

// set sets or clears the bits of the blocks that the range k overlaps.
func (b *blocks) set(k key, on bool) {
	if b.words == nil {
		if !on {
			return
		}
		b.words = make([]uint64, 1<<(b.width-6))
	}
	first, n := b.span(k)
	for j := first; j < first+n; {
		w := &b.words[j>>6]
		if j&63 == 0 && first+n-j >= 64 { // a whole word
			if on {
				*w = ^uint64(0)
			} else {
				*w = 0
			}
			j += 64
			continue
		}
		if on {
			*w |= 1 << (j & 63)
		} else {
			*w &^= 1 << (j & 63)
		}
		j++
	}
}

func (t *Table) cover(fam uint8) *blocks {
	if fam == 0 {
		return &t.cover4
	}
	return &t.cover6
}

// uncover clears the bits that the range k, just removed from the trie,
// alone kept set.
func (t *Table) uncover(k key) {
	b := t.cover(k.fam)
	region := k
	if k.bits > b.width {
		region = maskKey(k, b.width)
	}
	p := region.prefix()
	if !t.ranges.OverlapsPrefix(p) {
		b.set(region, false)
		return
	}
	if region.bits == b.width {
		return // one block, still overlapped by another range
	}
	for range t.ranges.Supernets(p) {
		return // a wider range still covers every block of region
	}
	b.set(region, false)
	for sub := range t.ranges.Subnets(p) {
		b.set(keyOf(sub), true)
	}
}

// maskKey returns k shortened to bits.
func maskKey(k key, bits uint8) key {
	p, _ := k.prefix().Addr().Prefix(int(bits))
	return keyOf(p)
}
