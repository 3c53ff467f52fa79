package arbiter

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/report"
)

// Bounds on the memory of fleet scenarios, besides the charter's
// fleet.max_sources and fleet.max_users.
const (
	// MaxMemberRecords bounds one member's sightings remembered per
	// source: past it, the member's two oldest are merged into one dated
	// at the later (so evidence is never dated earlier than it was made).
	MaxMemberRecords = 32
	// MaxSourceRecords bounds the sightings remembered per source: past it
	// the oldest is forgotten (counted in FleetStats.Truncated).
	MaxSourceRecords = 1024
	// SourceRecordsEach times fleet.max_sources bounds the sightings held
	// for all sources together; past it, whole sources are evicted as when
	// the table is full.
	SourceRecordsEach = 4
	// MaxUserRecords bounds the (member, source) pairs remembered per user
	// hash, MaxUserMemberRecords those of one member: past either, the
	// oldest goes.
	MaxUserRecords       = 64
	MaxUserMemberRecords = 8
	// UserRecordsEach times fleet.max_users bounds the pairs held for all
	// user hashes together.
	UserRecordsEach = 4
	// fleetSweep bounds the idle sources and hashes one report forgets.
	fleetSweep = 4
)

// FleetBan is one ban a fleet scenario decided: what an explanation needs
// to say which members saw what and when. The stream position is the
// sighting that completed it (the Outcome's report).
type FleetBan struct {
	// Decision: Origin alliance, Type "ban", Value the source, Scenario the
	// fleet scenario, Start the completing sighting's time, Until, Reason.
	Decision phalanx.Decision
	// User is the user-name hash (hex) of a by-user scenario; "" otherwise.
	User string
	// First and Last are the times of the oldest and newest sighting
	// counted (they lie within the scenario's window).
	First, Last time.Time
	// Contributions are the sightings counted, one per member, by first
	// time then member: for a by-user scenario, those of the members that
	// saw this source fail with the user (the reason says how many members
	// and sources the user failed on in all).
	Contributions []Contribution
}

// Contribution is what one member sighted towards a fleet ban.
type Contribution struct {
	Member string
	Source netip.Prefix // the source it saw
	// Events are the events counted, at most the scenario's member_cap;
	// for a by-user scenario, the member's sightings of the user from
	// Source.
	Events      int
	First, Last time.Time // its oldest and newest sighting counted
	Reports     []string  // the IDs of those sightings, oldest first
}

// EntryCounts say what became of a sighting's entries.
type EntryCounts struct {
	Counted   int // at least one scenario counted it
	Ignored   int // no scenario counts its kinds
	InForce   int // its source is banned already: not counted again
	Territory int // its source touches territory: dropped, never banned
	TooWide   int // its source is wider than the charter allows: dropped
}

// FleetStats are the arbiter's counters for sightings and fleet scenarios.
type FleetStats struct {
	Sightings     uint64 // sightings judged valid (verdict Sighted)
	Entries       uint64 // entries in them, judged as in EntryCounts:
	Counted       uint64
	Ignored       uint64
	InForce       uint64
	Territory     uint64
	TooWide       uint64
	Users         uint64            // user hashes counted
	UnsaltedUsers uint64            // user hashes ignored: the charter has no fleet salt
	Bans          uint64            // fleet bans decided
	Rejected      map[string]uint64 // sightings rejected or refused, by reason
	Sources       int               // sources followed now
	UserHashes    int               // user hashes followed now
	Records       int               // sightings held for sources now
	UserRecords   int               // (member, source) pairs held for user hashes now
	Evicted       uint64            // sources forgotten with their evidence because a cap was reached
	UsersEvicted  uint64            // user hashes likewise
	Expired       uint64            // sources and hashes forgotten when no window could still count them
	Coalesced     uint64            // sightings merged past MaxMemberRecords
	Truncated     uint64            // sightings and pairs forgotten past a per-source or per-hash cap
}

// fleet is what the arbiter keeps for fleet scenarios.
type fleet struct {
	conf       charter.Fleet // what it was made from, to notice amendments
	specs      []fleetSpec
	kinds      map[string]uint8 // kind name → the scenarios that count it (bit i: specs[i])
	srcMask    uint8            // by-source scenarios
	userMask   uint8            // by-user scenarios
	salted     bool
	srcWindow  int64 // the longest window of by-source scenarios
	userWindow int64 // of by-user scenarios
	emission   int64 // rate of entries: nanoseconds per entry
	burst      int64

	sources     slru[sourceKey, sourceState]
	users       slru[report.UserHash, userState]
	records     int // held by all sources
	userRecords int // held by all user hashes
	maxRecords  int
	maxUserRecs int

	// Scratch space indexed by a member's dense index.
	raw  []int32
	slot []int32

	stats *FleetStats // the arbiter's: counters outlive an amended fleet section
}

type fleetSpec struct {
	name                   string
	byUser                 bool
	window                 int64
	members, events, cap   int
	sources, sourceMembers int
	windowText             string
}

// sourceKey is a source as a map key without pointers (a netip.Prefix
// holds one, for the zone), which hashes and compares faster and which the
// garbage collector need not scan.
type sourceKey struct {
	a    [16]byte
	bits uint8
	v4   bool
}

func keyOf(p netip.Prefix) sourceKey {
	return sourceKey{a: p.Addr().As16(), bits: uint8(p.Bits()), v4: p.Addr().Is4()}
}

func (k sourceKey) prefix() netip.Prefix {
	a := netip.AddrFrom16(k.a)
	if k.v4 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(k.bits))
}

type sourceState struct {
	recs   []sourceRecord // by time, ties in arrival order
	newest int64
	first  int32 // the member of the first sighting; another member's promotes the source
}

type sourceRecord struct {
	at     int64
	id     string // the sighting's report ID
	member int32  // dense member index
	n      [charter.MaxFleetScenarios]uint8
}

type userState struct {
	srcs   []userSource
	recs   []userRecord // by latest time, ties in arrival order
	newest int64
	first  int32
}

type userSource struct {
	p     netip.Prefix
	refs  int
	until int64 // a ban of p known to be in force before this time: no need to look again
}

// userRecord is one member's sightings of the user from one source.
type userRecord struct {
	first, at int64  // its oldest and newest sighting
	id        string // the newest sighting's ID
	member    int32
	src       int32 // index into userState.srcs
	n         int   // sightings
	mask      uint8 // the user scenarios whose kinds they had
}

// newFleet compiles c's fleet section; nil for none.
func newFleet(c *charter.Charter, stats *FleetStats) *fleet {
	if c.Fleet == nil {
		return nil
	}
	fc := *c.Fleet
	fc.Scenarios = slices.Clone(fc.Scenarios)
	for i := range fc.Scenarios {
		fc.Scenarios[i].Kinds = slices.Clone(fc.Scenarios[i].Kinds)
	}
	f := &fleet{
		conf:        fc,
		kinds:       map[string]uint8{},
		sources:     newSLRU[sourceKey, sourceState](max(fc.MaxSources, 2)),
		users:       newSLRU[report.UserHash, userState](max(fc.MaxUsers, 2)),
		maxRecords:  SourceRecordsEach * max(fc.MaxSources, 2),
		maxUserRecs: UserRecordsEach * max(fc.MaxUsers, 2),
		stats:       stats,
	}
	_, f.salted = fc.SaltBytes()
	epm := int64(max(fc.EntriesPerMinute, 1))
	f.emission = max(int64(time.Minute)/epm, 1)
	f.burst = (epm - 1) * f.emission
	for i, s := range fc.Scenarios {
		if i >= charter.MaxFleetScenarios {
			break // Validate refuses more
		}
		sp := fleetSpec{
			name: s.Name, byUser: s.IsByUser(), window: int64(s.Window), members: s.Members,
			events: s.Events, cap: min(max(s.MemberCap, 1), charter.MaxMemberCap),
			sources: s.Sources, sourceMembers: s.SourceMembers, windowText: shortDuration(s.Window),
		}
		bit := uint8(1) << i
		if sp.byUser {
			f.userMask |= bit
			f.userWindow = max(f.userWindow, sp.window)
		} else {
			f.srcMask |= bit
			f.srcWindow = max(f.srcWindow, sp.window)
		}
		for _, k := range s.Kinds {
			f.kinds[k] |= bit
		}
		f.specs = append(f.specs, sp)
	}
	return f
}

// sameFleet reports whether two fleet sections mean the same.
func sameFleet(a, b *charter.Fleet) bool {
	if a.Salt != b.Salt || a.MaxSources != b.MaxSources || a.MaxUsers != b.MaxUsers ||
		a.EntriesPerMinute != b.EntriesPerMinute || len(a.Scenarios) != len(b.Scenarios) {
		return false
	}
	for i := range a.Scenarios {
		x, y := a.Scenarios[i], b.Scenarios[i]
		if x.Name != y.Name || x.IsByUser() != y.IsByUser() || x.Window != y.Window || x.Members != y.Members ||
			x.Events != y.Events || x.MemberCap != y.MemberCap || x.Sources != y.Sources ||
			x.SourceMembers != y.SourceMembers || !slices.Equal(x.Kinds, y.Kinds) {
			return false
		}
	}
	return true
}

// shortDuration writes 10m for 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		s = "0s"
	}
	return s
}

// grow sizes the scratch space for n members.
func (f *fleet) grow(n int) {
	for len(f.raw) < n {
		f.raw = append(f.raw, 0)
		f.slot = append(f.slot, 0)
	}
}

// sight judges the entries of a sighting that passed every check of a
// report, at report time t.
func (a *Arbiter) sight(r *report.Report, m *member, t int64, id string) Outcome {
	f := a.fleet
	f.grow(len(a.memberIDs))
	f.stats.Sightings++
	out := Outcome{Verdict: Sighted, Reason: ReasonSighted, Reports: []string{id}}
	ec := &out.Entries
	for i := range r.Sightings {
		e := &r.Sightings[i]
		f.stats.Entries++
		switch {
		case a.limits.TooWide(e.Source):
			ec.TooWide++
			continue
		case a.territory.OverlapsPrefix(e.Source):
			ec.Territory++
			continue
		case a.inForce(e.Source, t):
			ec.InForce++
			continue
		}
		var n [charter.MaxFleetScenarios]int
		var mask uint8
		for _, c := range e.Counts {
			bits := f.kinds[c.Kind]
			mask |= bits
			for s := range f.specs {
				if bits&(1<<s) != 0 {
					n[s] = min(n[s]+c.N, report.MaxCount)
				}
			}
		}
		if mask == 0 {
			ec.Ignored++
			continue
		}
		ec.Counted++
		if mask&f.srcMask != 0 {
			if b, ok := a.sightSource(e.Source, m, t, id, &n, mask&f.srcMask); ok {
				out.Fleet = append(out.Fleet, b)
			}
		}
		switch {
		case mask&f.userMask == 0 || len(e.Users) == 0:
		case !f.salted:
			// Without a salt members send no hashes; any that come are
			// not comparable across members.
			f.stats.UnsaltedUsers += uint64(len(e.Users))
		default:
			for _, u := range e.Users {
				f.stats.Users++
				out.Fleet = a.sightUser(out.Fleet, u, e.Source, m, t, id, mask&f.userMask)
			}
		}
	}
	f.stats.Counted += uint64(ec.Counted)
	f.stats.Ignored += uint64(ec.Ignored)
	f.stats.InForce += uint64(ec.InForce)
	f.stats.Territory += uint64(ec.Territory)
	f.stats.TooWide += uint64(ec.TooWide)
	f.stats.Bans += uint64(len(out.Fleet))
	if len(out.Fleet) > 0 {
		out.Reason = ReasonFleet
	}
	return out
}

// inForce reports a ban of exactly value in force at t.
func (a *Arbiter) inForce(value netip.Prefix, t int64) bool {
	rec := a.history[value]
	return rec != nil && t < rec.last.Until.UnixNano()
}

// margin is how far report times may lie from one another beyond a window
// and still meet: each may be Skew from when the fabric stored it.
func (a *Arbiter) margin() int64 { return 2 * int64(a.limits.Skew) }

// sightSource adds one entry's events to its source and evaluates the
// by-source scenarios the entry counts for (mask), in charter order.
func (a *Arbiter) sightSource(p netip.Prefix, m *member, t int64, id string, n *[charter.MaxFleetScenarios]int, mask uint8) (FleetBan, bool) {
	f := a.fleet
	key := keyOf(p)
	i, ok := f.sources.get(key)
	if !ok {
		for f.sources.len() >= f.sources.max {
			f.dropSource(f.sources.victim())
			f.stats.Evicted++
		}
		i = f.sources.add(key)
		st := f.sources.val(i)
		st.recs, st.newest, st.first = st.recs[:0], t, m.idx
	} else if f.sources.val(i).first != m.idx {
		f.sources.promote(i)
	} else {
		f.sources.touch(i)
	}
	st := f.sources.val(i)
	st.newest = max(st.newest, t)

	// Forget what no window can reach any more.
	cut := max(st.newest, a.high) - f.srcWindow - a.margin()
	drop := 0
	for drop < len(st.recs) && st.recs[drop].at < cut {
		drop++
	}
	if drop > 0 {
		st.recs = slices.Delete(st.recs, 0, drop)
		f.records -= drop
	}

	rec := sourceRecord{at: t, id: id, member: m.idx}
	for s, sp := range f.specs {
		if mask&(1<<s) != 0 {
			rec.n[s] = uint8(min(n[s], sp.cap))
		}
	}
	pos, _ := slices.BinarySearchFunc(st.recs, t+1, func(r sourceRecord, at int64) int { return cmpInt(r.at, at) })
	st.recs = slices.Insert(st.recs, pos, rec)
	f.records++
	f.limitMember(st, m.idx)
	if len(st.recs) > MaxSourceRecords {
		st.recs = slices.Delete(st.recs, 0, 1)
		f.records--
		f.stats.Truncated++
	}

	for s := range f.specs {
		if mask&(1<<s) == 0 {
			continue
		}
		lo, hi, fired := f.fires(st.recs, s, t)
		if !fired || a.limits.TooWide(p) || a.territory.OverlapsPrefix(p) {
			continue
		}
		b := a.sourceBan(p, s, st.recs[lo:hi+1], t)
		f.dropSource(i)
		f.evictRecords()
		return b, true
	}
	f.evictRecords()
	return FleetBan{}, false
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// limitMember merges member m's two oldest sightings of a source while it
// has more than MaxMemberRecords: the merged one keeps the later time and
// ID and the sum of the counts (each within its cap).
func (f *fleet) limitMember(st *sourceState, m int32) {
	count, first, second := 0, -1, -1
	for j := range st.recs {
		if st.recs[j].member != m {
			continue
		}
		count++
		switch {
		case first < 0:
			first = j
		case second < 0:
			second = j
		}
	}
	if count <= MaxMemberRecords {
		return
	}
	old, r := st.recs[first], &st.recs[second]
	for s, sp := range f.specs {
		r.n[s] = uint8(min(int(r.n[s])+int(old.n[s]), sp.cap))
	}
	st.recs = slices.Delete(st.recs, first, first+1)
	f.records--
	f.stats.Coalesced++
}

// fires looks for a window of scenario s's length that holds the sighting
// at t and enough events from enough members. It slides over the records
// dated within the window either side of t, ending the window at each
// record at or after t; each member adds at most the scenario's cap. It
// returns the first window that meets the thresholds, as record indexes.
func (f *fleet) fires(recs []sourceRecord, s int, t int64) (lo, hi int, ok bool) {
	sp := &f.specs[s]
	w := sp.window
	from, _ := slices.BinarySearchFunc(recs, t-w, func(r sourceRecord, at int64) int { return cmpInt(r.at, at) })
	to, _ := slices.BinarySearchFunc(recs, t+w+1, func(r sourceRecord, at int64) int { return cmpInt(r.at, at) })
	raw := f.raw
	total, members := 0, 0
	capped := func(v int32) int { return min(int(v), sp.cap) }
	lo, hi = from, -1
	for j := from; j < to; j++ {
		r := &recs[j]
		if k := r.n[s]; k > 0 {
			old := raw[r.member]
			raw[r.member] = old + int32(k)
			if old == 0 {
				members++
			}
			total += capped(old+int32(k)) - capped(old)
		}
		if j+1 < to && recs[j+1].at == r.at {
			continue // ties enter together
		}
		for recs[lo].at < r.at-w {
			x := &recs[lo]
			if k := x.n[s]; k > 0 {
				old := raw[x.member]
				raw[x.member] = old - int32(k)
				if old == int32(k) {
					members--
				}
				total += capped(old-int32(k)) - capped(old)
			}
			lo++
		}
		if r.at >= t && members >= sp.members && total >= sp.events {
			hi, ok = j, true
			break
		}
	}
	for j := from; j < to; j++ {
		raw[recs[j].member] = 0
	}
	return lo, hi, ok
}

// sourceBan bans p for scenario s on the sightings in window, completed
// by the sighting at t.
func (a *Arbiter) sourceBan(p netip.Prefix, s int, window []sourceRecord, t int64) FleetBan {
	f := a.fleet
	sp := &f.specs[s]
	var cs []Contribution
	slot := f.slot
	for _, r := range window {
		k := int(r.n[s])
		if k == 0 {
			continue
		}
		at := time.Unix(0, r.at).UTC()
		if slot[r.member] == 0 {
			cs = append(cs, Contribution{Member: a.memberIDs[r.member], Source: p, First: at})
			slot[r.member] = int32(len(cs))
		}
		c := &cs[slot[r.member]-1]
		c.Events = min(c.Events+k, sp.cap)
		c.Last = at
		if n := len(c.Reports); n == 0 || c.Reports[n-1] != r.id {
			c.Reports = append(c.Reports, r.id)
		}
	}
	for _, r := range window {
		slot[r.member] = 0
	}
	total := 0
	for _, c := range cs {
		total += c.Events
	}
	sortContributions(cs)
	who := make([]string, 0, min(len(cs), 16))
	for i, c := range cs {
		if i == 16 {
			who = append(who, fmt.Sprintf("and %d more", len(cs)-16))
			break
		}
		who = append(who, fmt.Sprintf("%s %d", c.Member, c.Events))
	}
	earlier := a.earlier(p, t)
	reason := fmt.Sprintf("%s: %d events from %d members within %s: %s%s", sp.name, total, len(cs), sp.windowText,
		strings.Join(who, ", "), a.escalationNote(earlier))
	return a.fleetBan(p, sp.name, "", t, earlier, reason, cs)
}

// fleetBan decides and records a fleet ban of p.
func (a *Arbiter) fleetBan(p netip.Prefix, scenario, user string, t int64, earlier int, reason string, cs []Contribution) FleetBan {
	a.dropCandidate(p)
	dec := a.ban(p, t, phalanx.OriginAlliance, scenario, a.duration(earlier), reason)
	b := FleetBan{Decision: dec, User: user, Contributions: cs}
	for i, c := range cs {
		if i == 0 || c.First.Before(b.First) {
			b.First = c.First
		}
		if c.Last.After(b.Last) {
			b.Last = c.Last
		}
	}
	return b
}

func sortContributions(cs []Contribution) {
	slices.SortStableFunc(cs, func(x, y Contribution) int {
		if c := x.First.Compare(y.First); c != 0 {
			return c
		}
		if c := strings.Compare(x.Member, y.Member); c != 0 {
			return c
		}
		return x.Source.Addr().Compare(y.Source.Addr())
	})
}

// dropSource forgets source slot i.
func (f *fleet) dropSource(i int32) {
	st := f.sources.val(i)
	f.records -= len(st.recs)
	st.recs = st.recs[:0]
	f.sources.remove(i)
}

// evictRecords evicts whole sources while the records are over their cap.
func (f *fleet) evictRecords() {
	for f.records > f.maxRecords {
		v := f.sources.victim()
		if v == noSlot {
			return
		}
		f.dropSource(v)
		f.stats.Evicted++
	}
}

// sightUser adds one (member, source) sighting of user hash u and
// evaluates the by-user scenarios it counts for (mask); bans go to dst.
func (a *Arbiter) sightUser(dst []FleetBan, u report.UserHash, p netip.Prefix, m *member, t int64, id string, mask uint8) []FleetBan {
	f := a.fleet
	i, ok := f.users.get(u)
	if !ok {
		for f.users.len() >= f.users.max {
			f.dropUser(f.users.victim())
			f.stats.UsersEvicted++
		}
		i = f.users.add(u)
		st := f.users.val(i)
		st.recs, st.srcs, st.newest, st.first = st.recs[:0], st.srcs[:0], t, m.idx
	} else if f.users.val(i).first != m.idx {
		f.users.promote(i)
	} else {
		f.users.touch(i)
	}
	st := f.users.val(i)
	st.newest = max(st.newest, t)

	cut := max(st.newest, a.high) - f.userWindow - a.margin()
	for j := 0; j < len(st.recs); {
		if st.recs[j].at < cut {
			f.removeUserRecord(st, j)
			continue
		}
		j++
	}

	src := -1
	for j := range st.srcs {
		if st.srcs[j].p == p {
			src = j
			break
		}
	}
	mine, oldest := -1, -1
	count := 0
	for j := range st.recs {
		r := &st.recs[j]
		if r.member != m.idx {
			continue
		}
		count++
		if oldest < 0 {
			oldest = j
		}
		if int(r.src) == src {
			mine = j
		}
	}
	var rec userRecord
	if mine >= 0 {
		rec = st.recs[mine]
		st.recs = slices.Delete(st.recs, mine, mine+1)
		rec.first = min(rec.first, t)
		if t >= rec.at {
			rec.at, rec.id = t, id
		}
		rec.n++
		rec.mask |= mask
	} else {
		if count >= MaxUserMemberRecords {
			f.removeUserRecord(st, oldest)
			f.stats.Truncated++
		}
		if len(st.recs) >= MaxUserRecords {
			f.removeUserRecord(st, 0)
			f.stats.Truncated++
		}
		if src < 0 {
			src = slices.IndexFunc(st.srcs, func(s userSource) bool { return s.refs == 0 })
			if src < 0 {
				st.srcs = append(st.srcs, userSource{})
				src = len(st.srcs) - 1
			}
			st.srcs[src] = userSource{p: p}
		}
		st.srcs[src].refs++
		rec = userRecord{first: t, at: t, id: id, member: m.idx, src: int32(src), n: 1, mask: mask}
		f.userRecords++
	}
	pos, _ := slices.BinarySearchFunc(st.recs, rec.at+1, func(r userRecord, at int64) int { return cmpInt(r.at, at) })
	st.recs = slices.Insert(st.recs, pos, rec)

	for s := range f.specs {
		if mask&(1<<s) == 0 {
			continue
		}
		lo, hi, fired := f.userFires(st, s, t)
		if fired {
			dst = a.userBans(dst, u, st, s, st.recs[lo:hi+1], t)
		}
	}
	for f.userRecords > f.maxUserRecs {
		v := f.users.victim()
		if v == noSlot {
			break
		}
		f.dropUser(v)
		f.stats.UsersEvicted++
	}
	return dst
}

func (f *fleet) removeUserRecord(st *userState, j int) {
	st.srcs[st.recs[j].src].refs--
	st.recs = slices.Delete(st.recs, j, j+1)
	f.userRecords--
}

func (f *fleet) dropUser(i int32) {
	st := f.users.val(i)
	f.userRecords -= len(st.recs)
	st.recs, st.srcs = st.recs[:0], st.srcs[:0]
	f.users.remove(i)
}

// userFires is fires for a by-user scenario: distinct members and distinct
// sources whose sightings had the scenario's kinds.
func (f *fleet) userFires(st *userState, s int, t int64) (lo, hi int, ok bool) {
	sp := &f.specs[s]
	bit := uint8(1) << s
	recs := st.recs
	w := sp.window
	from, _ := slices.BinarySearchFunc(recs, t-w, func(r userRecord, at int64) int { return cmpInt(r.at, at) })
	to, _ := slices.BinarySearchFunc(recs, t+w+1, func(r userRecord, at int64) int { return cmpInt(r.at, at) })
	var srcRefs [MaxUserRecords]uint8 // sources index below MaxUserRecords: each is held by a record
	raw := f.raw
	members, sources := 0, 0
	lo, hi = from, -1
	for j := from; j < to; j++ {
		r := &recs[j]
		if r.mask&bit != 0 {
			if raw[r.member]++; raw[r.member] == 1 {
				members++
			}
			if srcRefs[r.src]++; srcRefs[r.src] == 1 {
				sources++
			}
		}
		if j+1 < to && recs[j+1].at == r.at {
			continue
		}
		for recs[lo].at < r.at-w {
			x := &recs[lo]
			if x.mask&bit != 0 {
				if raw[x.member]--; raw[x.member] == 0 {
					members--
				}
				if srcRefs[x.src]--; srcRefs[x.src] == 0 {
					sources--
				}
			}
			lo++
		}
		if r.at >= t && members >= sp.members && sources >= sp.sources {
			hi, ok = j, true
			break
		}
	}
	for j := from; j < to; j++ {
		raw[recs[j].member] = 0
	}
	return lo, hi, ok
}

// userBans bans the sources in window that enough members saw failing
// with user hash u, in address order, skipping those banned already.
func (a *Arbiter) userBans(dst []FleetBan, u report.UserHash, st *userState, s int, window []userRecord, t int64) []FleetBan {
	f := a.fleet
	sp := &f.specs[s]
	bit := uint8(1) << s
	// A record is one (member, source) pair: the records of a source are
	// its distinct members.
	var seenBy [MaxUserRecords]uint8
	sources := 0
	for _, r := range window {
		if r.mask&bit != 0 {
			if seenBy[r.src]++; seenBy[r.src] == 1 {
				sources++
			}
		}
	}
	var banned []netip.Prefix
	for j, n := range seenBy[:len(st.srcs)] {
		us := &st.srcs[j]
		if int(n) < sp.sourceMembers || t < us.until {
			continue
		}
		if rec := a.history[us.p]; rec != nil && t < rec.last.Until.UnixNano() {
			us.until = rec.last.Until.UnixNano()
			continue
		}
		if !a.limits.TooWide(us.p) && !a.territory.OverlapsPrefix(us.p) {
			banned = append(banned, us.p)
		}
	}
	if len(banned) == 0 {
		return dst
	}
	slices.SortFunc(banned, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	members := 0
	slot := f.slot
	for _, r := range window {
		if r.mask&bit != 0 && slot[r.member] == 0 {
			slot[r.member] = 1
			members++
		}
	}
	for _, r := range window {
		slot[r.member] = 0
	}
	user := hex.EncodeToString(u[:])
	for _, p := range banned {
		var cs []Contribution
		var who []string
		for _, r := range window {
			if r.mask&bit == 0 || st.srcs[r.src].p != p {
				continue
			}
			cs = append(cs, Contribution{
				Member: a.memberIDs[r.member], Source: p, Events: r.n,
				First: time.Unix(0, r.first).UTC(), Last: time.Unix(0, r.at).UTC(), Reports: []string{r.id},
			})
		}
		sortContributions(cs)
		for _, c := range cs {
			who = append(who, c.Member)
		}
		earlier := a.earlier(p, t)
		reason := fmt.Sprintf("%s: user #%s failed on %d members from %d sources within %s; from %s on %s%s",
			sp.name, user[:8], members, sources, sp.windowText, p, strings.Join(who, ", "), a.escalationNote(earlier))
		dst = append(dst, a.fleetBan(p, sp.name, user, t, earlier, reason, cs))
		if si, ok := f.sources.get(keyOf(p)); ok {
			f.dropSource(si)
		}
	}
	return dst
}

// forgetFleet forgets a few sources and user hashes, from the cold ends,
// that no window can reach any more.
func (a *Arbiter) forgetFleet() {
	f := a.fleet
	if f == nil {
		return
	}
	margin := a.margin()
	for range fleetSweep {
		i := f.sources.tail(probation)
		if i == noSlot || f.sources.val(i).newest+f.srcWindow+margin >= a.high {
			i = f.sources.tail(protected)
			if i == noSlot || f.sources.val(i).newest+f.srcWindow+margin >= a.high {
				break
			}
		}
		f.dropSource(i)
		f.stats.Expired++
	}
	for range fleetSweep {
		i := f.users.tail(probation)
		if i == noSlot || f.users.val(i).newest+f.userWindow+margin >= a.high {
			i = f.users.tail(protected)
			if i == noSlot || f.users.val(i).newest+f.userWindow+margin >= a.high {
				break
			}
		}
		f.dropUser(i)
		f.stats.Expired++
	}
}

// pardonFleet forgets what the fleet holds of p and the values inside it.
func (a *Arbiter) pardonFleet(p netip.Prefix) {
	f := a.fleet
	if f == nil {
		return
	}
	inside := func(v netip.Prefix) bool { return v.Bits() >= p.Bits() && p.Contains(v.Addr()) }
	var gone []int32
	for k, i := range f.sources.index {
		if inside(k.prefix()) {
			gone = append(gone, i)
		}
	}
	slices.Sort(gone) // the free list's order, like everything else, must not follow the map's
	for _, i := range gone {
		f.dropSource(i)
	}
	for i := range f.users.slots {
		st := &f.users.slots[i].val
		for j := range st.srcs {
			if inside(st.srcs[j].p) {
				st.srcs[j].until = 0
			}
		}
		for j := 0; j < len(st.recs); {
			if inside(st.srcs[st.recs[j].src].p) {
				f.removeUserRecord(st, j)
				continue
			}
			j++
		}
	}
}

// FleetStats returns the counters of sightings and fleet scenarios.
func (a *Arbiter) FleetStats() FleetStats {
	s := a.fstats
	s.Rejected = make(map[string]uint64, len(a.fstats.Rejected))
	for k, v := range a.fstats.Rejected {
		s.Rejected[k] = v
	}
	if f := a.fleet; f != nil {
		s.Sources = f.sources.len()
		s.UserHashes = f.users.len()
		s.Records = f.records
		s.UserRecords = f.userRecords
	}
	return s
}
