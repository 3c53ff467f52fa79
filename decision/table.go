// Package decision holds the decisions (bans and other remedies) a member
// applies, and answers "is this address banned, and by which decision?" with
// a longest-prefix match over exact addresses and ranges, IPv4 and IPv6.
//
// It is the index that enforcers and the decision API read, tens of
// thousands of times a second, so reads are concurrent and cheap: decisions
// on single addresses sit in the slots of an open-addressing hash index,
// with a one-byte tag per slot in front (a clean address reads only the
// tags, a banned one a single 64-byte slot after them); decisions on ranges
// sit in an arena indexed by int32, found through a multibit trie
// (github.com/gaissmai/bart) behind per-family bitmaps that let most clean
// addresses skip it.
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

	ents     []entry // arena of range entries and chain tails; slots are reused through the free list
	freeSlot int32   // head of the free list threaded through entry.next

	exact  exactIndex        // single addresses: their chains' first entries
	seed   [2]uint64         // hashKey's key
	ranges bart.Table[int32] // other prefixes -> chain
	cover4 blocks            // which IPv4 /20 blocks a range overlaps
	cover6 blocks            // which IPv6 /24 blocks a range overlaps
	byID   map[uint64]uint64 // where each decision is (see find)

	expiry []int32 // min-heap of slots by Until

	labels    []label
	reasons   map[uint64]string // by ID, the reasons kept out of labels
	labelRefs []int32
	labelIdx  map[label]int32
	labelFree []int32

	lastID uint64 // the highest ID below StableBase issued or seen
	n      int

	ages map[phalanx.Origin]*ageQueue // the order decisions were added, for origins Oldest was asked about (oldest.go)
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		freeSlot: none,
		cover4:   blocks{width: 20},
		cover6:   blocks{width: 24},
		seed:     [2]uint64{rand.Uint64(), rand.Uint64()},
		byID:     make(map[uint64]uint64),
		labelIdx: make(map[label]int32),
		reasons:  make(map[uint64]string),
	}
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
// another Type or Value, or that is above MaxID, is not used: d gets a
// fresh ID. Fresh IDs are below StableBase, out of the way of the derived
// IDs (ReportID, FeedID), and higher than every ID below StableBase that
// the table has seen (they wrap around, skipping IDs in use, only after
// 2^40 of them).
//
// A d with an invalid Value is not stored: Add returns the zero Decision.
func (t *Table) Add(d phalanx.Decision) (stored phalanx.Decision, replaced *phalanx.Decision) {
	p, ok := phalanx.NormalizePrefix(d.Value)
	if !ok {
		return phalanx.Decision{}, nil
	}
	d.Value = p
	k := keyOf(p)
	t.mu.Lock()
	defer t.mu.Unlock()

	same := none
	for i := t.chain(k); i != none; i = t.at(i).next {
		if t.labels[t.at(i).label].typ == d.Type {
			same = i
			break
		}
	}
	if d.ID > MaxID {
		d.ID = 0
	}
	if d.ID != 0 {
		if i, ok := t.find(d.ID); ok && i != same {
			d.ID = 0
		}
	}
	if d.ID == 0 {
		d.ID = t.freshID()
	} else if d.ID > t.lastID && d.ID < StableBase {
		t.lastID = d.ID
	}
	if same == none {
		return t.decision(t.insert(&d, k)), nil
	}
	e := t.at(same)
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
	i, ok := t.find(id)
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
	p, ok := phalanx.NormalizePrefix(p)
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
		e := t.at(i)
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
	for i := t.chain(k); i != none; i = t.at(i).next {
		if t.at(i).activeAt(ns, nn) {
			out = append(out, t.decision(i))
		}
	}
	for _, head := range t.ranges.Supernets(netip.PrefixFrom(addr, addr.BitLen())) {
		for i := head; i != none; i = t.at(i).next {
			if t.at(i).activeAt(ns, nn) {
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
		e := t.at(i)
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
	i, ok := t.find(id)
	if !ok {
		return phalanx.Decision{}, false
	}
	return t.decision(i), true
}

// find returns the entry of the decision with the given ID. byID holds,
// for a decision on a range, its arena slot shifted left by one (ranges
// never move); for one on an address, the address's hash, which is odd
// and leads to its chain, so that entries can move in the exact index
// without touching the map.
func (t *Table) find(id uint64) (int32, bool) {
	v, ok := t.byID[id]
	if !ok {
		return none, false
	}
	if v&1 == 0 {
		return int32(v >> 1), true
	}
	x := &t.exact
	if x.n == 0 {
		return none, false
	}
	tag := tagOf(v)
	for pos := x.home(v); x.tags[pos] != 0; pos = x.next(pos) {
		if x.tags[pos] != tag || t.entryHash(&x.ents[pos]) != v {
			continue
		}
		for i := xref(pos); i != none; i = t.at(i).next {
			if t.at(i).id == id {
				return i, true
			}
		}
	}
	return none, false
}

// whereIs is the byID value of entry i.
func (t *Table) whereIs(i int32) uint64 {
	if e := t.at(i); e.key().full() {
		return t.entryHash(e)
	}
	return uint64(i) << 1
}

// All calls fn for every stored decision, in no particular order, until fn
// returns false. It does not hold the lock while fn runs, so fn may call the
// table: a decision stored for the whole iteration is seen exactly once, one
// added or removed meanwhile may or may not be seen.
func (t *Table) All(fn func(phalanx.Decision) bool) {
	// Ranges come from the arena, where they never move, in slot order.
	// Addresses come chain by chain in the order of their hash, which
	// does not change while they are stored, although their index slots
	// do (see exactIndex): a chunk takes the chains whose hash lies in
	// [from, from+span), found between the home of from and the first
	// empty slot after the home of the interval's end.
	buf := make([]phalanx.Decision, 0, allChunk)
	arena := 0
	var from uint64
	done := false
	for !done {
		buf = buf[:0]
		t.mu.RLock()
		for ; arena < len(t.ents) && len(buf) < allChunk; arena++ {
			if e := &t.ents[arena]; e.flags&flagLive != 0 && !e.key().full() {
				buf = append(buf, t.decision(int32(arena)))
			}
		}
		if arena == len(t.ents) && len(buf) < allChunk {
			var last uint64
			buf, last = t.appendChains(buf, from)
			done = last == ^uint64(0)
			from = last + 1
		}
		t.mu.RUnlock()
		for _, d := range buf {
			if !fn(d) {
				return
			}
		}
	}
}

// appendChains appends the decisions on the addresses whose hash lies in
// [from, last], an interval that holds about allChunk of them, and returns
// last.
func (t *Table) appendChains(buf []phalanx.Decision, from uint64) ([]phalanx.Decision, uint64) {
	x := &t.exact
	last := ^uint64(0)
	if x.n == 0 {
		return buf, last
	}
	if span := ^uint64(0) / uint64(x.n) * allChunk; span/allChunk == ^uint64(0)/uint64(x.n) && span > 0 && from <= last-span {
		last = from + span - 1
	}
	a, b := x.home(from), x.home(last)
	for pos, steps := a, 0; steps < len(x.tags); pos, steps = x.next(pos), steps+1 {
		if x.tags[pos] == 0 {
			if (pos-a+len(x.tags))%len(x.tags) > b-a {
				break // past the last home of the interval and its cluster
			}
			continue
		}
		if h := t.entryHash(&x.ents[pos]); h >= from && h <= last {
			for i := xref(pos); i != none; i = t.at(i).next {
				buf = append(buf, t.decision(i))
			}
		}
	}
	return buf, last
}

// decision rebuilds the stored decision in slot i.
func (t *Table) decision(i int32) phalanx.Decision {
	var d phalanx.Decision
	t.fill(&d, i)
	d.Value = t.at(i).key().prefix()
	return d
}

// fillOn is decision for an entry whose prefix contains addr, which gives
// the prefix's address without building one from bytes (which the CPU
// must store and load again, and which measurably slows lookups).
func (t *Table) fillOn(d *phalanx.Decision, i int32, addr netip.Addr) {
	t.fill(d, i)
	if bits := int(t.at(i).bits); bits == addr.BitLen() {
		d.Value = netip.PrefixFrom(addr, bits)
	} else {
		d.Value, _ = addr.Prefix(bits)
	}
}

// fill sets every field of d but Value from slot i.
func (t *Table) fill(d *phalanx.Decision, i int32) {
	e := t.at(i)
	l := &t.labels[e.label]
	d.ID = e.id
	d.Origin = l.origin
	d.Type = l.typ
	d.Scenario = l.scenario
	d.Start = unstamp(e.startSec, e.startNsec)
	d.Until = unstamp(e.untilSec, e.untilNsec)
	d.Reason = l.reason
	if e.flags&flagReason != 0 {
		d.Reason = t.reasons[e.id]
	}
}

// freshID returns an ID below StableBase higher than any seen there,
// skipping IDs in use should the counter ever wrap.
func (t *Table) freshID() uint64 {
	for {
		t.lastID++
		if t.lastID >= StableBase {
			t.lastID = 1
		}
		if _, used := t.byID[t.lastID]; !used {
			return t.lastID
		}
	}
}

// insert stores d (normalised, ID set) on k, at the end of k's chain.
func (t *Table) insert(d *phalanx.Decision, k key) int32 {
	head := t.chain(k)
	var i int32
	if head == none && k.full() {
		i = t.exactAdd(k)
	} else {
		i = t.alloc()
	}
	*t.at(i) = entry{hi: k.hi, lo: k.lo, next: none, bits: k.bits, flags: flagLive | k.fam}
	t.store(i, d)
	switch {
	case head != none:
		last := head
		for t.at(last).next != none {
			last = t.at(last).next
		}
		t.at(last).next = i
	case !k.full():
		t.setRange(k, i)
	}
	t.push(i)
	t.n++
	return i
}

// overwrite puts d, a later-ending decision of the same Type and Value, in
// the place of the one in slot i.
func (t *Table) overwrite(i int32, d *phalanx.Decision) {
	e := t.at(i)
	t.release(e)
	t.store(i, d)
	t.down(int(e.heap)) // Until only grew
}

// store sets the fields of entry i that come from d, except the prefix.
func (t *Table) store(i int32, d *phalanx.Decision) {
	e := t.at(i)
	e.id = d.ID
	e.startSec, e.startNsec = stamp(d.Start)
	e.untilSec, e.untilNsec = stamp(d.Until)
	l := label{origin: d.Origin, typ: d.Type, scenario: d.Scenario, reason: d.Reason}
	e.flags &^= flagReason
	if _, ok := t.labelIdx[l]; !ok && len(t.labelIdx) >= maxLabels {
		l.reason = ""
		e.flags |= flagReason
		t.reasons[d.ID] = d.Reason
	}
	e.label = t.acquireLabel(l)
	t.byID[d.ID] = t.whereIs(i)
	if t.ages != nil {
		t.aged(d.Origin, d.ID)
	}
}

// release drops what entry e holds outside the entry: its ID, its label
// and any reason kept apart.
func (t *Table) release(e *entry) {
	if t.ages != nil {
		t.unaged(t.labels[e.label].origin)
	}
	delete(t.byID, e.id)
	if e.flags&flagReason != 0 {
		delete(t.reasons, e.id)
	}
	t.releaseLabel(e.label)
}

// remove deletes entry i from every index and frees its slot.
func (t *Table) remove(i int32) {
	e := t.at(i)
	t.heapRemove(int(e.heap))
	t.release(e)
	t.n--
	if i < none {
		// The first entry of an address's chain, in its index slot: the
		// next entry, if any, takes the slot.
		pos := xpos(i)
		if next := e.next; next != none {
			*e = t.ents[next]
			t.relink(pos)
			t.free(next)
			return
		}
		t.exactRemove(pos)
		return
	}
	k := e.key()
	if head := t.chain(k); head == i {
		t.setRange(k, e.next)
	} else {
		prev := head
		for t.at(prev).next != i {
			prev = t.at(prev).next
		}
		t.at(prev).next = e.next
	}
	t.free(i)
}

// free returns arena slot i to the free list.
func (t *Table) free(i int32) {
	t.ents[i] = entry{next: t.freeSlot}
	t.freeSlot = i
}

func (t *Table) alloc() int32 {
	if i := t.freeSlot; i != none {
		t.freeSlot = t.at(i).next
		return i
	}
	if len(t.ents) == maxSlots {
		// 2^31 decisions would take 128 GiB of arena; nothing gets near.
		panic("decision: table full")
	}
	t.ents = append(t.ents, entry{})
	return int32(len(t.ents) - 1)
}

// label is the low-cardinality part of a decision, interned: a table of a
// million bans from one scenario stores these strings once. Reason is part
// of it, so that an entry fits a cache line and a lookup reads nothing
// else: reasons are usually few (a scenario's or a feed's text). Once there
// are maxLabels labels, a decision whose label would be new keeps its
// Reason in Table.reasons instead, so that a table whose every decision has
// its own reason costs a map entry a decision, not a label; a lookup that
// returns such a decision reads the map too.
type label struct {
	origin   phalanx.Origin
	typ      string
	scenario string
	reason   string
}

const maxLabels = 4096

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
