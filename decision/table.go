// Package decision holds the decisions (bans and other remedies) a member
// applies, and answers "is this address banned, and by which decision?" with
// a longest-prefix match over exact addresses and ranges, IPv4 and IPv6.
//
// It is the index that enforcers and the decision API read, tens of
// thousands of times a second, so reads are concurrent and cheap: the
// decisions sit in an arena indexed by int32, single addresses in an
// open-addressing hash index with a one-byte tag per slot (a clean address
// reads only the tags), ranges in a multibit
// trie (github.com/gaissmai/bart) behind per-family bitmaps that let most
// clean addresses skip it.
//
// It must not decide anything: it stores what it is given (the arbiter and
// operators decide, and they check territory), does no I/O, reads no clock
// (every call that needs the time takes it), and starts no goroutines.
// Ended decisions stay until the owner calls Expire; lookups ignore them.
package decision

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/gaissmai/bart"

	"phalanx"
)

// allChunk is how many decisions All copies per hold of the read lock, so
// that iterating a large table never stalls writers (or the readers queued
// behind a writer) for long.
const allChunk = 512

// Table holds decisions keyed by prefix. The zero Table is not usable; call
// NewTable. A Table is safe for concurrent use: lookups share a read lock,
// changes take the write lock.
//
// Decisions come back normalised (see Normalize), with Start and Until in
// UTC and without monotonic clock readings.
type Table struct {
	mu sync.RWMutex

	ents     []entry // arena; slots are reused through the free list
	freeSlot int32   // head of the free list threaded through entry.next

	exact  exactIndex        // single addresses -> chain
	seed   [2]uint64         // hashKey's key
	ranges bart.Table[int32] // other prefixes -> chain
	cover4 blocks            // which IPv4 /20 blocks a range overlaps
	cover6 blocks            // which IPv6 /24 blocks a range overlaps
	byID   map[uint64]int32

	expiry []int32 // min-heap of slots by Until

	labels    []label
	labelRefs []int32
	labelIdx  map[label]int32
	labelFree []int32

	lastID uint64 // the highest ID issued or seen
	n      int
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		freeSlot: none,
		cover4:   blocks{width: 20},
		cover6:   blocks{width: 24},
		seed:     [2]uint64{rand.Uint64(), rand.Uint64()},
		byID:     make(map[uint64]int32),
		labelIdx: make(map[label]int32),
	}
}

// Normalize returns p as the table stores it: zone dropped, an IPv4-mapped
// IPv6 prefix of 96 bits or more turned into IPv4, host bits masked off. It
// reports false for an invalid prefix, which the table never stores. (An
// IPv6 prefix shorter than /96 stays IPv6 even if it covers the mapped
// space: it applies to IPv6 addresses only, as lookups unmap addresses.)
func Normalize(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

// Add inserts d, assigning an ID when d.ID is 0, and returns the decision as
// stored.
//
// A prefix holds at most one decision per Type. When one of d's Type and
// Value is already stored, the one that ends later wins: if that is d, it
// takes the other's place and the other is returned as replaced; otherwise
// (a tie included) d is dropped, stored is the decision already there and
// replaced is nil, which a caller can tell by stored.ID or stored.Until.
// Add does not read the clock: a stored decision counts until Expire
// removes it, even after it has ended.
//
// IDs are unique in the table. A d.ID that names a stored decision of
// another Type or Value is not reused: d gets a fresh ID. Fresh IDs are
// higher than every ID the table has seen.
//
// A d with an invalid Value is not stored: Add returns the zero Decision.
func (t *Table) Add(d phalanx.Decision) (stored phalanx.Decision, replaced *phalanx.Decision) {
	p, ok := Normalize(d.Value)
	if !ok {
		return phalanx.Decision{}, nil
	}
	d.Value = p
	k := keyOf(p)
	t.mu.Lock()
	defer t.mu.Unlock()

	same := none
	for i := t.chain(k); i != none; i = t.ents[i].next {
		if t.labels[t.ents[i].label].typ == d.Type {
			same = i
			break
		}
	}
	if d.ID != 0 {
		if i, ok := t.byID[d.ID]; ok && i != same {
			d.ID = 0
		}
	}
	if d.ID == 0 {
		d.ID = t.freshID()
	} else if d.ID > t.lastID {
		t.lastID = d.ID
	}
	if same == none {
		return t.decision(t.insert(&d, k)), nil
	}
	e := &t.ents[same]
	us, un := stamp(d.Until)
	if !before(e.untilSec, e.untilNsec, us, un) {
		return t.decision(same), nil
	}
	old := t.decision(same)
	t.overwrite(same, &d)
	return t.decision(same), &old
}

// Delete removes the decision with the given ID and returns it.
func (t *Table) Delete(id uint64) (phalanx.Decision, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.byID[id]
	if !ok {
		return phalanx.Decision{}, false
	}
	d := t.decision(i)
	t.remove(i)
	return d, true
}

// DeleteValue removes every decision (of any Type) on exactly the prefix p,
// once normalised, and returns them. Decisions on prefixes inside or around
// p stay.
func (t *Table) DeleteValue(p netip.Prefix) []phalanx.Decision {
	p, ok := Normalize(p)
	if !ok {
		return nil
	}
	k := keyOf(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []phalanx.Decision
	for i := t.chain(k); i != none; i = t.chain(k) {
		out = append(out, t.decision(i))
		t.remove(i)
	}
	return out
}

// Lookup returns the decision active at now on the longest prefix that
// contains addr: a decision on the exact address beats one on a range, a /24
// beats a /16. Prefixes whose decisions are all inactive (not started yet, or
// ended and not yet expired) are skipped. Among several active decisions on
// one prefix (of different Types), the one that ends last wins.
// An IPv4-mapped IPv6 addr is looked up as IPv4.
func (t *Table) Lookup(addr netip.Addr, now time.Time) (d phalanx.Decision, ok bool) {
	// The hot path fills the named result in place: building a Decision
	// and copying it out costs as much as the search (see Check).
	addr = addr.Unmap()
	ns, nn := stamp(now)
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i := t.lookup(addr, ns, nn); i != none {
		t.fillOn(&d, i, addr)
		ok = true
	}
	return d, ok
}

// Check answers the question Lookup answers, for callers that need only the
// decision's ID and Type (a per-request check such as forward-auth): it
// builds no Decision, which makes it about twice as fast on a hit. Get(id)
// returns the rest.
func (t *Table) Check(addr netip.Addr, now time.Time) (id uint64, typ string, ok bool) {
	addr = addr.Unmap()
	ns, nn := stamp(now)
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i := t.lookup(addr, ns, nn); i != none {
		e := &t.ents[i]
		id, typ, ok = e.id, t.labels[e.label].typ, true
	}
	return id, typ, ok
}

func (t *Table) lookup(addr netip.Addr, ns int64, nn int32) int32 {
	var head int32
	switch {
	case addr.Is4():
		v := key4(addr)
		head = t.exactHead(0, uint64(v), 0)
		if head != none {
			if i := t.active(head, ns, nn); i != none {
				return i
			}
		}
		if !t.cover4.has(uint64(v) << 32) {
			return none
		}
	case addr.Is6():
		hi, lo := halves(addr)
		head = t.exactHead(hi, lo, flag6)
		if head != none {
			if i := t.active(head, ns, nn); i != none {
				return i
			}
		}
		if !t.cover6.has(hi) {
			return none
		}
	default:
		return none
	}
	head, ok := t.ranges.Lookup(addr)
	if !ok {
		return none
	}
	if i := t.active(head, ns, nn); i != none {
		return i
	}
	// The longest matching range has nothing active: try the shorter ones.
	for _, head := range t.ranges.Supernets(netip.PrefixFrom(addr, addr.BitLen())) {
		if i := t.active(head, ns, nn); i != none {
			return i
		}
	}
	return none
}

// Covering returns every decision active at now whose prefix contains addr,
// longest prefix first (decisions on one prefix in the order they were
// added).
func (t *Table) Covering(addr netip.Addr, now time.Time) []phalanx.Decision {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return nil
	}
	k := keyOf(netip.PrefixFrom(addr, addr.BitLen()))
	ns, nn := stamp(now)
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []phalanx.Decision
	for i := t.chain(k); i != none; i = t.ents[i].next {
		if t.ents[i].activeAt(ns, nn) {
			out = append(out, t.decision(i))
		}
	}
	for _, head := range t.ranges.Supernets(netip.PrefixFrom(addr, addr.BitLen())) {
		for i := head; i != none; i = t.ents[i].next {
			if t.ents[i].activeAt(ns, nn) {
				out = append(out, t.decision(i))
			}
		}
	}
	return out
}

// Expire removes the decisions whose Until is at or before now and returns
// them, earliest Until first. Its cost is proportional to what it removes
// (about 1.5 µs a decision, under the write lock): call it often.
func (t *Table) Expire(now time.Time) []phalanx.Decision {
	ns, nn := stamp(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []phalanx.Decision
	for len(t.expiry) > 0 {
		i := t.expiry[0]
		e := &t.ents[i]
		if before(ns, nn, e.untilSec, e.untilNsec) {
			break
		}
		out = append(out, t.decision(i))
		t.remove(i)
	}
	return out
}

// Len returns the number of stored decisions, active or not.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

// Get returns the decision with the given ID.
func (t *Table) Get(id uint64) (phalanx.Decision, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok := t.byID[id]
	if !ok {
		return phalanx.Decision{}, false
	}
	return t.decision(i), true
}

// All calls fn for every stored decision, in no particular order, until fn
// returns false. It does not hold the lock while fn runs, so fn may call the
// table: a decision stored for the whole iteration is seen exactly once, one
// added or removed meanwhile may or may not be seen.
func (t *Table) All(fn func(phalanx.Decision) bool) {
	buf := make([]phalanx.Decision, 0, allChunk)
	for pos := 0; ; {
		buf = buf[:0]
		t.mu.RLock()
		for ; pos < len(t.ents) && len(buf) < allChunk; pos++ {
			if t.ents[pos].flags&flagLive != 0 {
				buf = append(buf, t.decision(int32(pos)))
			}
		}
		done := pos >= len(t.ents)
		t.mu.RUnlock()
		for _, d := range buf {
			if !fn(d) {
				return
			}
		}
		if done {
			return
		}
	}
}

// decision rebuilds the stored decision in slot i.
func (t *Table) decision(i int32) phalanx.Decision {
	var d phalanx.Decision
	t.fill(&d, i)
	d.Value = t.ents[i].key().prefix()
	return d
}

// fillOn is decision for an entry whose prefix contains addr, which gives
// the prefix's address without building one from bytes (which the CPU
// must store and load again, and which measurably slows lookups).
func (t *Table) fillOn(d *phalanx.Decision, i int32, addr netip.Addr) {
	t.fill(d, i)
	if bits := int(t.ents[i].bits); bits == addr.BitLen() {
		d.Value = netip.PrefixFrom(addr, bits)
	} else {
		d.Value, _ = addr.Prefix(bits)
	}
}

// fill sets every field of d but Value from slot i.
func (t *Table) fill(d *phalanx.Decision, i int32) {
	e := &t.ents[i]
	l := &t.labels[e.label]
	d.ID = e.id
	d.Origin = l.origin
	d.Type = l.typ
	d.Scenario = l.scenario
	d.Start = unstamp(e.startSec, e.startNsec)
	d.Until = unstamp(e.untilSec, e.untilNsec)
	d.Reason = e.reason
}

// freshID returns an ID higher than any seen, skipping IDs in use should
// the counter ever wrap.
func (t *Table) freshID() uint64 {
	for {
		t.lastID++
		if _, used := t.byID[t.lastID]; t.lastID != 0 && !used {
			return t.lastID
		}
	}
}

// insert stores d (normalised, ID set) on k, at the end of k's chain.
func (t *Table) insert(d *phalanx.Decision, k key) int32 {
	i := t.alloc()
	e := &t.ents[i]
	*e = entry{hi: k.hi, lo: k.lo, next: none, bits: k.bits, flags: flagLive | k.fam}
	t.store(i, d)
	if head := t.chain(k); head == none {
		t.setChain(k, i)
	} else {
		last := head
		for t.ents[last].next != none {
			last = t.ents[last].next
		}
		t.ents[last].next = i
	}
	t.push(i)
	t.n++
	return i
}

// overwrite puts d, a later-ending decision of the same Type and Value, in
// the place of the one in slot i.
func (t *Table) overwrite(i int32, d *phalanx.Decision) {
	e := &t.ents[i]
	delete(t.byID, e.id)
	t.releaseLabel(e.label)
	t.store(i, d)
	t.down(int(e.heap)) // Until only grew
}

// store sets the fields of slot i that come from d, except the prefix.
func (t *Table) store(i int32, d *phalanx.Decision) {
	e := &t.ents[i]
	e.id = d.ID
	e.startSec, e.startNsec = stamp(d.Start)
	e.untilSec, e.untilNsec = stamp(d.Until)
	e.label = t.acquireLabel(label{origin: d.Origin, typ: d.Type, scenario: d.Scenario})
	e.reason = d.Reason
	t.byID[d.ID] = i
}

// remove deletes the entry in slot i from every index and frees the slot.
func (t *Table) remove(i int32) {
	e := &t.ents[i]
	k := e.key()
	if head := t.chain(k); head == i {
		t.setChain(k, e.next)
	} else {
		prev := head
		for t.ents[prev].next != i {
			prev = t.ents[prev].next
		}
		t.ents[prev].next = e.next
	}
	t.heapRemove(int(e.heap))
	delete(t.byID, e.id)
	t.releaseLabel(e.label)
	*e = entry{next: t.freeSlot}
	t.freeSlot = i
	t.n--
}

func (t *Table) alloc() int32 {
	if i := t.freeSlot; i != none {
		t.freeSlot = t.ents[i].next
		return i
	}
	if len(t.ents) == maxSlots {
		// 2^31 decisions would take 160 GiB of arena; nothing gets near.
		panic("decision: table full")
	}
	t.ents = append(t.ents, entry{})
	return int32(len(t.ents) - 1)
}

// label is the low-cardinality part of a decision, interned: a table of a
// million bans from one scenario stores these strings once.
type label struct {
	origin   phalanx.Origin
	typ      string
	scenario string
}

func (t *Table) acquireLabel(l label) int32 {
	if i, ok := t.labelIdx[l]; ok {
		t.labelRefs[i]++
		return i
	}
	var i int32
	if n := len(t.labelFree); n > 0 {
		i = t.labelFree[n-1]
		t.labelFree = t.labelFree[:n-1]
		t.labels[i], t.labelRefs[i] = l, 1
	} else {
		i = int32(len(t.labels))
		t.labels = append(t.labels, l)
		t.labelRefs = append(t.labelRefs, 1)
	}
	t.labelIdx[l] = i
	return i
}

func (t *Table) releaseLabel(i int32) {
	if t.labelRefs[i]--; t.labelRefs[i] > 0 {
		return
	}
	delete(t.labelIdx, t.labels[i])
	t.labels[i] = label{}
	t.labelFree = append(t.labelFree, i)
}

// stamp splits a time into Unix seconds and nanoseconds, a form that covers
// every time.Time (UnixNano would overflow outside 1678-2262).
func stamp(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

// unstamp is stamp's inverse, in UTC; the zero time comes back as the zero
// time.Time.
func unstamp(sec int64, nsec int32) time.Time { return time.Unix(sec, int64(nsec)).UTC() }

// before reports whether (as, an) is earlier than (bs, bn).
func before(as int64, an int32, bs int64, bn int32) bool {
	return as < bs || as == bs && an < bn
}
