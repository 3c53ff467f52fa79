// This file is the engine as it was before each family of scenarios got its
// own state (every group held every scenario's state): the reference that
// TestEngineMatchesReference compares the engine with. Only its identifiers
// are renamed (ref…); its comments still use the engine's names.

package scenario

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"time"

	"phalanx"
)

// Segments of the source table (see Engine).
const (
	refProbation = 0 // groups seen once since they were created
	refProtected = 1 // groups seen again
	refNoGroup   = -1
	// sweepBudget bounds how many idle groups one event may evict: more than
	// the one group an event can create, so idle groups never pile up, and
	// few enough that one event with a wild time cannot flush the table.
	refSweepBudget = 4
	// maxNanos bounds event times to about ±146 years around 1970, so that
	// time plus any configured window never overflows.
	refMaxNanos = int64(1) << 62
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
type refEngine struct {
	specs   []refCompiled
	v6bits  int
	max     int
	protMax int
	seed    maphash.Seed

	index  map[netip.Prefix]int32
	groups []refGroup
	blocks []refBlock // the groups' scenario state, blockGroups groups a block
	free   int32      // head of the free slot list, linked through group.next
	lists  [2]refList

	linesPer int
	usersPer int
	stats    Stats
}

type refCompiled struct {
	name      string
	kinds     uint64 // bit k set: Kind(k) counts
	services  []string
	distinct  bool
	ofPath    bool  // a distinct scenario over Event.Path
	windowed  bool  // a window scenario: its ring of recent events lives in users
	leak      int64 // ns per unit
	limit     int64 // leaky: Capacity×Leak, the most the drain deadline may lead the bucket clock
	window    int64 // distinct: how long a user is remembered; window: how far back events count
	capacity  int
	blackhole int64
	off       int // offset of this scenario's ring or set inside its group's block
	n         int // ring length (leaky) or set capacity (distinct)
}

// block holds the scenario state of blockGroups groups (fewer in the last
// block when MaxSources says so). A block, once allocated, is never copied:
// a flood of new sources adds blocks, where growing one array would copy
// every group's state at each doubling (about 2.8 KB a group with the
// default scenarios; copying and clearing was most of the cost of a new
// source).
type refBlock struct {
	buckets []refBucket // len(specs) per group
	lines   []int64     // linesPer per group: evidence rings of leaky scenarios
	users   []refUser   // usersPer per group: sets of distinct scenarios and rings of window scenarios
}

const (
	refBlockShift  = 10
	refBlockGroups = 1 << refBlockShift
)

// state returns group gi's buckets, evidence lines and users.
func (e *refEngine) state(gi int32) (buckets []refBucket, lines []int64, users []refUser) {
	b := &e.blocks[gi>>refBlockShift]
	i := int(gi & (refBlockGroups - 1))
	ns := len(e.specs)
	return b.buckets[i*ns : (i+1)*ns], b.lines[i*e.linesPer : (i+1)*e.linesPer], b.users[i*e.usersPer : (i+1)*e.usersPer]
}

type refGroup struct {
	prefix     netip.Prefix
	idleAt     int64 // from this time on every bucket is empty and no blackhole runs
	prev, next int32
	seg        uint8
}

// bucket is one scenario's state for one group. Times are Unix nanoseconds.
type refBucket struct {
	at    int64 // the bucket's clock: the latest time it has counted; never goes back
	full  int64 // leaky: when the bucket will be empty (level = (full−at)/leak)
	first int64 // leaky: time of the first event since the bucket was last empty
	quiet int64 // end of the blackhole
	count int32 // leaky: events since the bucket was last empty or fired
	head  uint16
	n     uint16 // leaky: evidence lines held; distinct: users held
}

type refUser struct {
	hash uint64
	seen int64 // time of the user's latest event
	line int64
}

type refList struct {
	head, tail int32
	n          int
}

// New validates c and returns an engine for it.
func refNew(c Config) (*refEngine, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	e := &refEngine{
		v6bits:  c.IPv6Prefix,
		max:     c.MaxSources,
		protMax: c.MaxSources / 2,
		seed:    maphash.MakeSeed(),
		index:   make(map[netip.Prefix]int32, min(c.MaxSources, 1024)),
		free:    refNoGroup,
		lists:   [2]refList{{head: refNoGroup, tail: refNoGroup}, {head: refNoGroup, tail: refNoGroup}},
	}
	for _, s := range c.Scenarios {
		cs := refCompiled{
			name:      s.Name,
			services:  slices.Clone(s.Services),
			distinct:  s.Type == TypeDistinct,
			ofPath:    s.Of == OfPath,
			windowed:  s.Type == TypeWindow,
			leak:      int64(s.Leak),
			capacity:  s.Capacity,
			blackhole: int64(s.Blackhole),
		}
		for _, k := range s.Kinds {
			cs.kinds |= 1 << k // Validate admits only known kinds, all below 64
		}
		switch {
		case cs.distinct:
			cs.window = int64(s.Leak) * int64(s.Capacity)
			cs.off, cs.n = e.usersPer, s.Capacity
			e.usersPer += cs.n
		case cs.windowed:
			cs.window = int64(s.Window)
			cs.off, cs.n = e.usersPer, s.Capacity
			e.usersPer += cs.n
		default:
			cs.limit = int64(s.Leak) * int64(s.Capacity)
			// A bucket holds at most Capacity+1 units when it fires; older
			// lines have drained out, so a longer ring would add nothing.
			cs.off, cs.n = e.linesPer, min(MaxEvidence, s.Capacity+1)
			e.linesPer += cs.n
		}
		e.specs = append(e.specs, cs)
	}
	return e, nil
}

// Stats returns the running counters.
func (e *refEngine) Stats() Stats {
	s := e.stats
	s.Sources = len(e.index)
	return s
}

// Observe counts one event. Its Time is taken as now: the engine never reads
// a clock. Events may arrive somewhat out of order: each bucket keeps its own
// clock, and an event older than it counts at the bucket's clock, so time
// never goes back inside a bucket. Alerts the event raises are appended to
// dst, which is returned; alert times are in UTC.
func (e *refEngine) Observe(ev *phalanx.Event, dst []phalanx.Alert) []phalanx.Alert {
	e.stats.Events++
	if ev == nil {
		return dst
	}
	addr := phalanx.Normalize(ev.Source)
	if !addr.IsValid() {
		e.stats.Invalid++
		return dst
	}
	now := refNanos(ev.Time)
	e.sweep(now)

	var match uint64
	for i := range e.specs {
		if e.specs[i].counts(ev) {
			match |= 1 << i
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
	buckets, lines, users := e.state(gi)
	fired := len(dst)
	for i := range e.specs {
		if match&(1<<i) == 0 {
			continue
		}
		s := &e.specs[i]
		b := &buckets[i]
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
			ring := users[s.off:][:s.n]
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

func (s *refCompiled) counts(ev *phalanx.Event) bool {
	if ev.Kind >= 64 || s.kinds&(1<<ev.Kind) == 0 {
		return false
	}
	if len(s.services) > 0 && !slices.Contains(s.services, ev.Service) {
		return false
	}
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
func (e *refEngine) pour(s *refCompiled, b *refBucket, ring []int64, line, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
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
				First:    refToTime(b.first),
				Last:     refToTime(t),
				Count:    int(b.count),
				Evidence: refRingLines(ring, int(b.head), int(b.n)),
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
func (e *refEngine) countUser(s *refCompiled, b *refBucket, set []refUser, ev *phalanx.Event, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
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
	set[n] = refUser{hash: h, seen: t, line: ev.Line}
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
		First:    refToTime(set[0].seen),
		Last:     refToTime(t),
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
func (e *refEngine) countWindow(s *refCompiled, b *refBucket, ring []refUser, line, t int64, src netip.Prefix, addr netip.Addr, dst []phalanx.Alert) ([]phalanx.Alert, int64) {
	n := int(b.n)
	if n == len(ring) {
		ring[b.head] = refUser{seen: t, line: line}
		b.head = uint16((int(b.head) + 1) % len(ring))
	} else {
		ring[(int(b.head)+n)%len(ring)] = refUser{seen: t, line: line}
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
		First:    refToTime(oldest.seen),
		Last:     refToTime(t),
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
func refRingLines(ring []int64, head, n int) []int64 {
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

// touch returns the slot of the group for key, creating it if needed, and
// marks it most recently seen.
func (e *refEngine) touch(key netip.Prefix, now int64) int32 {
	if gi, ok := e.index[key]; ok {
		g := &e.groups[gi]
		e.unlink(gi)
		if g.seg == refProbation && e.lists[refProtected].n >= e.protMax && e.lists[refProtected].tail != refNoGroup {
			d := e.lists[refProtected].tail
			e.unlink(d)
			e.pushFront(refProbation, d)
		}
		if e.protMax > 0 {
			e.pushFront(refProtected, gi)
		} else {
			e.pushFront(refProbation, gi)
		}
		return gi
	}
	if len(e.index) >= e.max {
		victim := e.lists[refProbation].tail
		if victim == refNoGroup {
			victim = e.lists[refProtected].tail
		}
		if e.groups[victim].idleAt <= now {
			e.stats.Evicted++
		} else {
			e.stats.CapDrops++
		}
		e.remove(victim)
	}
	gi := e.alloc()
	e.groups[gi] = refGroup{prefix: key, idleAt: -refMaxNanos}
	buckets, _, _ := e.state(gi)
	for i := range buckets {
		buckets[i] = refBucket{at: -refMaxNanos, full: -refMaxNanos, quiet: -refMaxNanos}
	}
	e.index[key] = gi
	e.pushFront(refProbation, gi)
	return gi
}

// sweep forgets idle groups at the cold ends of both lists, a few per call.
// Every group is idle by its last event's time plus the longest window of
// any scenario, so idle groups are forgotten within that much event time
// once events stop coming in order.
func (e *refEngine) sweep(now int64) {
	for range refSweepBudget {
		gi := e.lists[refProbation].tail
		if gi == refNoGroup || e.groups[gi].idleAt > now {
			gi = e.lists[refProtected].tail
			if gi == refNoGroup || e.groups[gi].idleAt > now {
				return
			}
		}
		e.remove(gi)
		e.stats.Evicted++
	}
}

func (e *refEngine) alloc() int32 {
	if gi := e.free; gi != refNoGroup {
		e.free = e.groups[gi].next
		return gi
	}
	gi := int32(len(e.groups))
	if len(e.groups) == cap(e.groups) {
		// Grow by doubling, but never past MaxSources slots.
		n := min(e.max, max(2*len(e.groups), 64))
		e.groups = refGrowTo(e.groups, n)
	}
	e.groups = append(e.groups, refGroup{})
	if int(gi)>>refBlockShift == len(e.blocks) {
		n := min(refBlockGroups, e.max-int(gi)) // a group per slot up to MaxSources
		e.blocks = append(e.blocks, refBlock{buckets: make([]refBucket, n*len(e.specs)),
			lines: make([]int64, n*e.linesPer), users: make([]refUser, n*e.usersPer)})
	}
	return gi
}

// growTo returns s with capacity exactly n (append would round up).
func refGrowTo[E any](s []E, n int) []E {
	t := make([]E, len(s), n)
	copy(t, s)
	return t
}

func (e *refEngine) remove(gi int32) {
	g := &e.groups[gi]
	delete(e.index, g.prefix)
	e.unlink(gi)
	g.prefix = netip.Prefix{}
	g.next = e.free
	e.free = gi
}

func (e *refEngine) unlink(gi int32) {
	g := &e.groups[gi]
	l := &e.lists[g.seg]
	if g.prev != refNoGroup {
		e.groups[g.prev].next = g.next
	} else {
		l.head = g.next
	}
	if g.next != refNoGroup {
		e.groups[g.next].prev = g.prev
	} else {
		l.tail = g.prev
	}
	l.n--
}

func (e *refEngine) pushFront(seg uint8, gi int32) {
	g := &e.groups[gi]
	l := &e.lists[seg]
	g.seg, g.prev, g.next = seg, refNoGroup, l.head
	if l.head != refNoGroup {
		e.groups[l.head].prev = gi
	} else {
		l.tail = gi
	}
	l.head = gi
	l.n++
}

// nanos returns t in Unix nanoseconds, clamped to ±maxNanos.
func refNanos(t time.Time) int64 {
	const maxSec = refMaxNanos / int64(time.Second)
	if s := t.Unix(); s >= maxSec {
		return refMaxNanos
	} else if s <= -maxSec {
		return -refMaxNanos
	}
	return t.UnixNano()
}

func refToTime(n int64) time.Time { return time.Unix(0, n).UTC() }
