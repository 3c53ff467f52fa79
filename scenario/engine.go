// Package scenario detects attacks in a stream of events: it groups events by
// source (an IPv4 address, or an IPv6 prefix such as a /64), pours them into
// per-source leaky buckets and distinct-user sets, and raises an alert when
// one overflows.
//
// It is pure: it does no I/O, reads no clock (an event's Time is "now"),
// starts no goroutines and does not log. It must stay bounded in memory and
// time whatever the input, because events describe attackers: per-source
// state has a bounded size, idle sources are forgotten as event time advances
// (a bounded amount of work per event), and Config.MaxSources caps the number
// of sources even under a flood of distinct addresses.
package scenario

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"phalanx"
)

// Stats are an Engine's running counters.
type Stats struct {
	Events     uint64 // events passed to Observe
	Counted    uint64 // events that at least one scenario counted
	Invalid    uint64 // events without a valid source address (ignored)
	Late       uint64 // counts of an event older than its bucket's clock (taken at the bucket's clock)
	Alerts     uint64 // alerts raised
	Suppressed uint64 // overflows inside a blackhole (no alert raised)
	Sources    int    // source groups tracked now
	Evicted    uint64 // idle groups forgotten; an idle group holds nothing, so nothing is lost
	CapDrops   uint64 // groups forgotten while not idle because MaxSources was reached (their counts are lost)
}

// Segments of the source table (see Engine).
const (
	probation = 0 // groups seen once since they were created
	protected = 1 // groups seen again
	noGroup   = -1
	// sweepBudget bounds how many idle groups one event may evict: more than
	// the one group an event can create, so idle groups never pile up, and
	// few enough that one event with a wild time cannot flush the table.
	sweepBudget = 4
	// maxNanos bounds event times to about ±146 years around 1970, so that
	// time plus any configured window never overflows.
	maxNanos = int64(1) << 62
)

// Engine runs scenarios over events. It is not safe for concurrent use.
//
// Source groups live in two least-recently-seen lists: probation for groups
// seen once, protected for groups seen again (at most half of MaxSources).
// When the table is full, the least recently seen probation group is
// dropped (counted in Stats.CapDrops), so a flood of one-shot addresses
// churns probation only and cannot push out a source that has come back. A
// new attacker is kept as long as fewer than about MaxSources/2 new sources
// arrive between its first two events; after that it competes only with
// sources that also came back.
//
// A group's scenario state is kept per family (the scenarios that name the
// same set of services and count the same kinds, see family): a group
// holds a family's state only from the first event that counts for one of
// the family's scenarios, so a source that only ever fails sshd logins
// costs the state of the ssh scenarios that count failed logins, not every
// scenario's (a slot of the ssh scenarios together was about 1 KB, and
// each new page of memory costs a flood dearly).
type Engine struct {
	specs    []compiled
	families []family
	v6bits   int
	max      int
	protMax  int
	seed     maphash.Seed

	byKind [64][]int32 // per kind, the families with a scenario that counts it

	index    map[srcKey]int32
	groups   []group
	famSlots []int32 // len(families) per group: its slot in each family's pool, or noSlot
	free     int32   // head of the free group list, linked through group.next
	lists    [2]list
	stats    Stats
}

type compiled struct {
	name      string
	distinct  bool
	ofPath    bool  // a distinct scenario over Event.Path
	windowed  bool  // a window scenario: its ring of recent events lives in stamps
	leak      int64 // ns per unit
	limit     int64 // leaky: Capacity×Leak, the most the drain deadline may lead the bucket clock
	window    int64 // distinct: how long a user is remembered; window: how far back events count
	capacity  int
	blackhole int64
	fam       int // index of its family in Engine.families
	bucket    int // index of its bucket in its family's state
	off       int // offset of its ring (lines or stamps) or set (users) in its family's state
	n         int // ring length (leaky, window) or set capacity (distinct)
}

// family holds the scenarios that name the same set of services (or none:
// every service) and count the same set of kinds, and a pool of their
// state: a slot is a bucket per
// scenario, the evidence rings of its leaky scenarios, the rings of its
// window scenarios and the sets of its distinct ones. A group takes a slot
// on the first event that counts for one of the family's scenarios and
// gives it back when it is forgotten; a group holds at most one slot of a
// family, so a family never has more than MaxSources slots.
type family struct {
	services  []string // sorted, without duplicates; empty: every service
	specs     uint64   // bit i set: specs[i] belongs to the family
	kinds     uint64   // the kinds its scenarios count (the same for each)
	nBuckets  int      // per slot
	linesPer  int
	stampsPer int
	usersPer  int
	blocks    []block // the slots' state, blockSlots slots a block
	slots     int32   // slots handed out so far (in use or free)
	free      []int32 // slots given back, reused last in first out
}

// block holds the state of blockSlots slots of one family (fewer in the
// last block when MaxSources says so). A block, once allocated, is never
// copied: a flood of new sources adds blocks, where growing one array would
// copy every slot's state at each doubling (copying and clearing was most
// of the cost of a new source). With the default scenarios a slot is 56 to
// 320 bytes (320 for the failed logins of ssh, ssh-bf and ssh-slow-bf, or
// of mail), 2.4 KB for every family together.
type block struct {
	buckets []bucket // nBuckets per slot
	lines   []int64  // linesPer per slot: evidence rings of leaky scenarios
	stamps  []stamp  // stampsPer per slot: rings of window scenarios
	users   []user   // usersPer per slot: sets of distinct scenarios
}

const (
	blockShift = 10
	blockSlots = 1 << blockShift
	noSlot     = -1
)

// alloc returns a slot with every bucket reset; its rings and sets hold
// garbage that no bucket counts. maxSlots is Config.MaxSources.
func (f *family) alloc(maxSlots int) int32 {
	var si int32
	if n := len(f.free); n > 0 {
		si = f.free[n-1]
		f.free = f.free[:n-1]
	} else {
		si = f.slots
		f.slots++
		if int(si)>>blockShift == len(f.blocks) {
			n := min(blockSlots, maxSlots-int(si)) // a slot per group up to MaxSources
			f.blocks = append(f.blocks, block{buckets: make([]bucket, n*f.nBuckets),
				lines: make([]int64, n*f.linesPer), stamps: make([]stamp, n*f.stampsPer), users: make([]user, n*f.usersPer)})
		}
	}
	buckets, _, _, _ := f.state(si)
	for i := range buckets {
		buckets[i] = bucket{at: -maxNanos, full: -maxNanos, quiet: -maxNanos}
	}
	return si
}

// state returns slot si's buckets, evidence lines, stamps and users.
func (f *family) state(si int32) (buckets []bucket, lines []int64, stamps []stamp, users []user) {
	b := &f.blocks[si>>blockShift]
	i := int(si & (blockSlots - 1))
	return b.buckets[i*f.nBuckets : (i+1)*f.nBuckets], b.lines[i*f.linesPer : (i+1)*f.linesPer],
		b.stamps[i*f.stampsPer : (i+1)*f.stampsPer], b.users[i*f.usersPer : (i+1)*f.usersPer]
}

// famSlot returns group gi's slot in family fi, or noSlot.
func (e *Engine) famSlot(gi int32, fi int) int32 {
	return e.famSlots[int(gi)*len(e.families)+fi]
}

type group struct {
	prefix     netip.Prefix
	idleAt     int64 // from this time on every bucket is empty and no blackhole runs
	prev, next int32
	seg        uint8
}

// bucket is one scenario's state for one group. Times are Unix nanoseconds.
type bucket struct {
	at    int64 // the bucket's clock: the latest time it has counted; never goes back
	full  int64 // leaky: when the bucket will be empty (level = (full−at)/leak)
	first int64 // leaky: time of the first event since the bucket was last empty
	quiet int64 // end of the blackhole
	count int32 // leaky: events since the bucket was last empty or fired
	head  uint16
	n     uint16 // leaky: evidence lines held; distinct: users held
}

// user is a member of a distinct scenario's set.
type user struct {
	hash uint64
	seen int64 // time of the user's latest event
	line int64
}

// stamp is an event in a window scenario's ring.
type stamp struct {
	seen int64 // the time it counted at
	line int64
}

type list struct {
	head, tail int32
	n          int
}

// New validates c and returns an engine for it.
func New(c Config) (*Engine, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		v6bits:  c.IPv6Prefix,
		max:     c.MaxSources,
		protMax: c.MaxSources / 2,
		seed:    maphash.MakeSeed(),
		index:   make(map[srcKey]int32, min(c.MaxSources, 1024)),
		free:    noGroup,
		lists:   [2]list{{head: noGroup, tail: noGroup}, {head: noGroup, tail: noGroup}},
	}
	for i, s := range c.Scenarios {
		services := slices.Clone(s.Services)
		slices.Sort(services)
		services = slices.Compact(services)
		var kinds uint64
		for _, k := range s.Kinds {
			kinds |= 1 << k // Validate admits only known kinds, all below 64
		}
		fi := slices.IndexFunc(e.families, func(f family) bool { return f.kinds == kinds && slices.Equal(f.services, services) })
		if fi < 0 {
			fi = len(e.families)
			e.families = append(e.families, family{services: services, kinds: kinds})
			for k := range 64 {
				if kinds&(1<<k) != 0 {
					e.byKind[k] = append(e.byKind[k], int32(fi))
				}
			}
		}
		f := &e.families[fi]
		cs := compiled{
			name:      s.Name,
			distinct:  s.Type == TypeDistinct,
			ofPath:    s.Of == OfPath,
			windowed:  s.Type == TypeWindow,
			leak:      int64(s.Leak),
			capacity:  s.Capacity,
			blackhole: int64(s.Blackhole),
		}
		cs.fam, cs.bucket = fi, f.nBuckets
		f.nBuckets++
		f.specs |= 1 << i // Validate admits at most 64 scenarios
		switch {
		case cs.distinct:
			cs.window = int64(s.Leak) * int64(s.Capacity)
			cs.off, cs.n = f.usersPer, s.Capacity
			f.usersPer += cs.n
		case cs.windowed:
			cs.window = int64(s.Window)
			cs.off, cs.n = f.stampsPer, s.Capacity
			f.stampsPer += cs.n
		default:
			cs.limit = int64(s.Leak) * int64(s.Capacity)
			// A bucket holds at most Capacity+1 units when it fires; older
			// lines have drained out, so a longer ring would add nothing.
			cs.off, cs.n = f.linesPer, min(MaxEvidence, s.Capacity+1)
			f.linesPer += cs.n
		}
		e.specs = append(e.specs, cs)
	}
	return e, nil
}

// Stats returns the running counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Sources = len(e.index)
	return s
}

// Observe counts one event. Its Time is taken as now: the engine never reads
// a clock. Events may arrive somewhat out of order: each bucket keeps its own
// clock, and an event older than it counts at the bucket's clock, so time
// never goes back inside a bucket. Alerts the event raises are appended to
// dst, which is returned; alert times are in UTC.
func (e *Engine) Observe(ev *phalanx.Event, dst []phalanx.Alert) []phalanx.Alert {
	e.stats.Events++
	if ev == nil {
		return dst
	}
	addr := phalanx.Normalize(ev.Source)
	if !addr.IsValid() {
		e.stats.Invalid++
		return dst
	}
	now := nanos(ev.Time)
	e.sweep(now)

	var match uint64
	if ev.Kind < 64 {
		for _, fi := range e.byKind[ev.Kind] {
			f := &e.families[fi]
			if len(f.services) > 0 && !slices.Contains(f.services, ev.Service) {
				continue
			}
			for m := f.specs; m != 0; m &= m - 1 {
				i := bits.TrailingZeros64(m)
				if e.specs[i].counts(ev) {
					match |= 1 << i
				}
			}
		}
	}
	if match == 0 {
		return dst
	}
	e.stats.Counted++

	var key netip.Prefix
	if addr.Is4() {
		key = netip.PrefixFrom(addr, 32)
	} else {
		key, _ = addr.Prefix(e.v6bits) // Validate keeps the length in range
	}
	gi := e.touch(key, now)
	g := &e.groups[gi]
	slots := e.famSlots[int(gi)*len(e.families):][:len(e.families)]
	var (
		fam     = -1 // the family whose state is below
		buckets []bucket
		lines   []int64
		stamps  []stamp
		users   []user
	)
	fired := len(dst)
	for m := match; m != 0; m &= m - 1 { // in scenario order, as alerts are
		s := &e.specs[bits.TrailingZeros64(m)]
		if s.fam != fam {
			fam = s.fam
			f := &e.families[fam]
			if slots[fam] == noSlot {
				slots[fam] = f.alloc(e.max)
			}
			buckets, lines, stamps, users = f.state(slots[fam])
		}
		b := &buckets[s.bucket]
		t := now
		if t < b.at {
			t = b.at
			e.stats.Late++
		}
		b.at = t
		var idle int64
		switch {
		case s.distinct:
			set := users[s.off:][:s.n]
			dst, idle = e.countUser(s, b, set, ev, t, key, addr, dst)
		case s.windowed:
			ring := stamps[s.off:][:s.n]
			dst, idle = e.countWindow(s, b, ring, ev.Line, t, key, addr, dst)
		default:
			ring := lines[s.off:][:s.n]
			dst, idle = e.pour(s, b, ring, ev.Line, t, key, addr, dst)
		}
		g.idleAt = max(g.idleAt, idle)
	}
	for i := fired; i < len(dst); i++ {
		dst[i].Detail = ev.Detail
	}
	return dst
}

// counts reports whether s counts ev, whose kind and service s's family
// counts (every scenario of a family counts the same kinds).
func (s *compiled) counts(ev *phalanx.Event) bool {
	switch {
	case !s.distinct:
		return true
	case s.ofPath:
		return ev.Path != ""
	}
	return ev.User != ""
}

// pour adds one unit to a leaky bucket at time t and returns dst with any
// alert, and the time from which the bucket is idle.
//
// The level is kept as the time the bucket will be empty (full), so it
// drains continuously without a timer: level(t) = (full−t)/leak. An event
// lifts it by one unit; the level exceeds Capacity when full−t > limit.
func (e *Engine) pour(s *compiled, b *bucket, ring []int64, line, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
	if b.full <= t { // empty: a new burst starts
		b.full, b.first, b.count, b.n = t, t, 0, 0
	}
	b.full += s.leak
	b.count++
	ring[b.head] = line
	b.head++
	if int(b.head) == len(ring) {
		b.head = 0
	}
	if int(b.n) < len(ring) {
		b.n++
	}
	if b.full-t > s.limit {
		if t < b.quiet {
			e.stats.Suppressed++
			b.full = t + s.limit // hold the level at Capacity: the next event after the blackhole fires
		} else {
			dst = append(dst, phalanx.Alert{
				Scenario: s.name,
				Source:   src,
				Addr:     addr,
				First:    toTime(b.first),
				Last:     toTime(t),
				Count:    int(b.count),
				Evidence: ringLines(ring, int(b.head), int(b.n)),
			})
			e.stats.Alerts++
			b.full, b.count, b.n = t, 0, 0
			b.quiet = t + s.blackhole
		}
	}
	return dst, max(b.full, b.quiet)
}

// countUser adds ev's user to a distinct set at time t and returns dst with
// any alert, and the time from which the set is idle. The set is kept in
// order of each user's latest event, oldest first.
func (e *Engine) countUser(s *compiled, b *bucket, set []user, ev *phalanx.Event, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
	n := int(b.n)
	// Forget users not seen within the window.
	old := 0
	for old < n && set[old].seen+s.window <= t {
		old++
	}
	if old > 0 {
		n = copy(set, set[old:n])
	}
	v := ev.User
	if s.ofPath {
		v = ev.Path
	}
	h := maphash.String(e.seed, v)
	found := false
	for j := range n {
		if set[j].hash == h {
			copy(set[j:], set[j+1:n]) // move it to the end
			n--
			found = true
			break
		}
	}
	set[n] = user{hash: h, seen: t, line: ev.Line}
	n++
	b.n = uint16(n)
	idle := max(t+s.window, b.quiet)
	if found || n < s.capacity {
		return dst, idle
	}
	if t < b.quiet {
		e.stats.Suppressed++
		b.n = uint16(copy(set, set[1:n])) // drop the oldest: the next new user after the blackhole fires
		return dst, idle
	}
	ev16 := set[max(0, n-MaxEvidence):n]
	lines := make([]int64, len(ev16))
	for j := range ev16 {
		lines[j] = ev16[j].line
	}
	dst = append(dst, phalanx.Alert{
		Scenario: s.name,
		Source:   src,
		Addr:     addr,
		First:    toTime(set[0].seen),
		Last:     toTime(t),
		Count:    n,
		Evidence: lines,
	})
	e.stats.Alerts++
	b.n = 0
	b.quiet = t + s.blackhole
	return dst, max(t+s.window, b.quiet)
}

// countWindow adds one event at time t to a window scenario's ring of the
// latest Capacity events (oldest at head) and returns dst with any alert, and
// the time from which the ring is idle. The scenario fires when the ring is
// full and its oldest event is within the window of t.
func (e *Engine) countWindow(s *compiled, b *bucket, ring []stamp, line, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
	n := int(b.n)
	if n == len(ring) {
		ring[b.head] = stamp{seen: t, line: line}
		b.head = uint16((int(b.head) + 1) % len(ring))
	} else {
		ring[(int(b.head)+n)%len(ring)] = stamp{seen: t, line: line}
		n++
		b.n = uint16(n)
	}
	idle := max(t+s.window, b.quiet)
	oldest := ring[b.head]
	if n < len(ring) || t-oldest.seen >= s.window {
		return dst, idle
	}
	if t < b.quiet {
		e.stats.Suppressed++
		// Drop the oldest: the next event after the blackhole fires if the
		// window is still full.
		b.head = uint16((int(b.head) + 1) % len(ring))
		b.n--
		return dst, idle
	}
	lines := make([]int64, 0, min(n, MaxEvidence))
	for j := max(0, n-MaxEvidence); j < n; j++ {
		lines = append(lines, ring[(int(b.head)+j)%len(ring)].line)
	}
	dst = append(dst, phalanx.Alert{
		Scenario: s.name,
		Source:   src,
		Addr:     addr,
		First:    toTime(oldest.seen),
		Last:     toTime(t),
		Count:    n,
		Evidence: lines,
	})
	e.stats.Alerts++
	b.n, b.head = 0, 0
	b.quiet = t + s.blackhole
	return dst, max(t+s.window, b.quiet)
}

// ringLines returns the n most recent lines of ring, oldest first; head is
// where the next line would go.
func ringLines(ring []int64, head, n int) []int64 {
	out := make([]int64, n)
	start := head - n
	if start < 0 {
		start += len(ring)
	}
	for j := range out {
		out[j] = ring[(start+j)%len(ring)]
	}
	return out
}

// srcKey is a group's key in Engine.index: the 16 bytes of its prefix's
// address, masked (an IPv4 address as its IPv4-mapped form: the engine's
// IPv6 addresses are never IPv4-mapped, see phalanx.Normalize, and its
// prefix lengths are fixed by family). A pair of integers hashes faster
// than a netip.Prefix.
type srcKey struct{ hi, lo uint64 }

func keyOf(p netip.Prefix) srcKey {
	b := p.Addr().As16()
	return srcKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// touch returns the slot of the group for key, creating it if needed, and
// marks it most recently seen.
func (e *Engine) touch(key netip.Prefix, now int64) int32 {
	k := keyOf(key)
	if gi, ok := e.index[k]; ok {
		g := &e.groups[gi]
		e.unlink(gi)
		if g.seg == probation && e.lists[protected].n >= e.protMax && e.lists[protected].tail != noGroup {
			d := e.lists[protected].tail
			e.unlink(d)
			e.pushFront(probation, d)
		}
		if e.protMax > 0 {
			e.pushFront(protected, gi)
		} else {
			e.pushFront(probation, gi)
		}
		return gi
	}
	if len(e.index) >= e.max {
		victim := e.lists[probation].tail
		if victim == noGroup {
			victim = e.lists[protected].tail
		}
		if e.groups[victim].idleAt <= now {
			e.stats.Evicted++
		} else {
			e.stats.CapDrops++
		}
		e.remove(victim)
	}
	gi := e.alloc()
	e.groups[gi] = group{prefix: key, idleAt: -maxNanos} // its family slots are noSlot: taken on first use
	e.index[k] = gi
	e.pushFront(probation, gi)
	return gi
}

// sweep forgets idle groups at the cold ends of both lists, a few per call.
// Every group is idle by its last event's time plus the longest window of
// any scenario, so idle groups are forgotten within that much event time
// once events stop coming in order.
func (e *Engine) sweep(now int64) {
	for range sweepBudget {
		gi := e.lists[probation].tail
		if gi == noGroup || e.groups[gi].idleAt > now {
			gi = e.lists[protected].tail
			if gi == noGroup || e.groups[gi].idleAt > now {
				return
			}
		}
		e.remove(gi)
		e.stats.Evicted++
	}
}

func (e *Engine) alloc() int32 {
	if gi := e.free; gi != noGroup {
		e.free = e.groups[gi].next
		return gi
	}
	gi := int32(len(e.groups))
	if len(e.groups) == cap(e.groups) {
		// Grow by doubling, but never past MaxSources slots.
		n := min(e.max, max(2*len(e.groups), 64))
		e.groups = growTo(e.groups, n)
		e.famSlots = growTo(e.famSlots, n*len(e.families))
	}
	e.groups = append(e.groups, group{})
	for range e.families {
		e.famSlots = append(e.famSlots, noSlot)
	}
	return gi
}

// growTo returns s with capacity exactly n (append would round up).
func growTo[E any](s []E, n int) []E {
	t := make([]E, len(s), n)
	copy(t, s)
	return t
}

func (e *Engine) remove(gi int32) {
	g := &e.groups[gi]
	delete(e.index, keyOf(g.prefix))
	e.unlink(gi)
	slots := e.famSlots[int(gi)*len(e.families):][:len(e.families)]
	for fi, si := range slots {
		if si != noSlot {
			f := &e.families[fi]
			f.free = append(f.free, si)
			slots[fi] = noSlot
		}
	}
	g.prefix = netip.Prefix{}
	g.next = e.free
	e.free = gi
}

func (e *Engine) unlink(gi int32) {
	g := &e.groups[gi]
	l := &e.lists[g.seg]
	if g.prev != noGroup {
		e.groups[g.prev].next = g.next
	} else {
		l.head = g.next
	}
	if g.next != noGroup {
		e.groups[g.next].prev = g.prev
	} else {
		l.tail = g.prev
	}
	l.n--
}

func (e *Engine) pushFront(seg uint8, gi int32) {
	g := &e.groups[gi]
	l := &e.lists[seg]
	g.seg, g.prev, g.next = seg, noGroup, l.head
	if l.head != noGroup {
		e.groups[l.head].prev = gi
	} else {
		l.tail = gi
	}
	l.head = gi
	l.n++
}

// nanos returns t in Unix nanoseconds, clamped to ±maxNanos.
func nanos(t time.Time) int64 {
	const maxSec = maxNanos / int64(time.Second)
	if s := t.Unix(); s >= maxSec {
		return maxNanos
	} else if s <= -maxSec {
		return -maxNanos
	}
	return t.UnixNano()
}

func toTime(n int64) time.Time { return time.Unix(0, n).UTC() }
