package decision

import (
	"math"
	"net/netip"
)

// none marks the end of a chain and an empty free list.
const none int32 = -1

// maxSlots bounds the arena: slots are int32.
const maxSlots = math.MaxInt32

// Entry flags.
const (
	flag6      uint8 = 1 << iota // the value is an IPv6 prefix
	flagLive                     // the slot holds a stored decision
	flagReason                   // the Reason is in Table.reasons, not in the label
)

// entry is one stored decision, 64 bytes: one cache line, as the index
// slots that hold entries are aligned to lines (a large slice starts on a
// page). Everything a lookup returns is in it or in its interned label
// (Reason included, see label), so that a hit reads one line. Times are Unix seconds
// and nanoseconds, which hold every time.Time (UnixNano would overflow
// outside 1678-2262).
type entry struct {
	lo        uint64 // the prefix's address, big-endian halves; IPv4 in the low 32 bits of lo
	hi        uint64
	id        uint64
	startSec  int64
	untilSec  int64
	startNsec int32
	untilNsec int32
	label     int32 // index into Table.labels
	next      int32 // next entry in the same chain (in the arena), or the next free arena slot
	heap      int32 // position in Table.expiry
	bits      uint8
	flags     uint8
}

func (e *entry) activeAt(ns int64, nn int32) bool {
	return !before(ns, nn, e.startSec, e.startNsec) && before(ns, nn, e.untilSec, e.untilNsec)
}

func (e *entry) key() key { return key{hi: e.hi, lo: e.lo, bits: e.bits, fam: e.flags & flag6} }

// is reports whether e is stored on k.
func (e *entry) is(k key) bool {
	return e.hi == k.hi && e.lo == k.lo && e.bits == k.bits && e.flags&flag6 == k.fam
}

// key is a normalised prefix in the entry's form.
type key struct {
	hi, lo uint64
	bits   uint8
	fam    uint8 // flag6 or 0
}

func keyOf(p netip.Prefix) key {
	a := p.Addr()
	if a.Is4() {
		return key{lo: uint64(key4(a)), bits: uint8(p.Bits())}
	}
	hi, lo := halves(a)
	return key{hi: hi, lo: lo, bits: uint8(p.Bits()), fam: flag6}
}

func (k key) prefix() netip.Prefix {
	if k.fam == 0 {
		v := uint32(k.lo)
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), int(k.bits))
	}
	var b [16]byte
	putUint64(b[:8], k.hi)
	putUint64(b[8:], k.lo)
	return netip.PrefixFrom(netip.AddrFrom16(b), int(k.bits))
}

// full reports whether k is a single address.
func (k key) full() bool { return k.fam == 0 && k.bits == 32 || k.fam != 0 && k.bits == 128 }

// Entries are kept in chains, linked through entry.next: one chain per
// prefix, holding its decisions of different Types in the order they came.
// An address's chain starts in its exact index slot and goes on in the
// arena; a range's chain lies in the arena, its first entry named by the
// trie.

// chain returns the reference of k's first entry, or none.
func (t *Table) chain(k key) int32 {
	if !k.full() {
		if i, ok := t.ranges.Get(k.prefix()); ok {
			return i
		}
		return none
	}
	if pos := t.exactFind(k, t.hashKey(k.hi, k.lo, k.fam)); pos >= 0 {
		return xref(pos)
	}
	return none
}

// setRange makes arena slot i the first entry of the range k's chain; none
// removes the chain.
func (t *Table) setRange(k key, i int32) {
	p := k.prefix()
	if i != none {
		t.ranges.Insert(p, i)
		t.cover(k.fam).set(k, true)
		return
	}
	t.ranges.Delete(p)
	t.uncover(k)
}

// active returns the entry of the chain at head that is active at (ns, nn)
// and ends last, or none.
func (t *Table) active(head int32, ns int64, nn int32) int32 {
	best := none
	var b *entry
	for i := head; i != none; {
		e := t.at(i)
		if e.activeAt(ns, nn) && (b == nil || before(b.untilSec, b.untilNsec, e.untilSec, e.untilNsec)) {
			best, b = i, e
		}
		i = e.next
	}
	return best
}

// halves returns the two big-endian halves of an IPv6 address. It goes
// through AppendBinary rather than As16: the code Go 1.26 generates for
// As16 copies the array with a 16-byte load over two 8-byte stores, which
// the CPU cannot forward from its store buffer, and that stall measured
// about 190 ns per lookup here.
func halves(a netip.Addr) (hi, lo uint64) {
	var buf [16]byte
	b, _ := a.WithZone("").AppendBinary(buf[:0])
	if len(b) < 16 {
		return 0, 0
	}
	return getUint64(b[:8]), getUint64(b[8:16])
}

func key4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func getUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32)
	b[4], b[5], b[6], b[7] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
