// Package sighting gathers what a member saw from sources that raised no
// ban of their own into batches of sighting entries (per IPv4 address or
// IPv6 /64: counts by service and kind, salted user-name hashes), and turns
// a batch into unsigned sighting reports. It is the member's half of the
// charter's fleet scenarios; the arbiter judges the reports. A source that
// logged in successfully on the member is vouched for: its events are not
// sighted for a day, so that the mistyped passwords of the member's own
// users (a whole office behind one NAT) never add up to a fleet ban.
//
// It must not decide anything: it never bans, never drops an event the
// local scenarios count, and never lets a user name leave in clear. It
// holds at most MaxSources entries per batch.
package sighting

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/report"
)

// Bounds of a batch.
const (
	// MaxSources bounds the sources one batch holds; past it new sources
	// wait for the next batch (counted as dropped).
	MaxSources = 8192
	// VouchFor is how long a source that logged in successfully on this
	// member is not sighted: a user of the member's own, or an office NAT
	// of them, whose mistyped passwords the fleet must not add up.
	VouchFor = 24 * time.Hour
	// MaxVouched bounds the sources vouched for at once; past it the one
	// vouched for longest ago is forgotten. Only a successful log-in adds
	// one, so an attacker cannot fill it from addresses it does not own.
	MaxVouched = 65536
)

// Rules are what a charter's fleet scenarios ask members to sight.
type Rules struct {
	kinds uint64 // bit k: Kind(k) counts in a fleet scenario
	users uint64 // bit k: Kind(k) counts in a fleet scenario by user
	salt  []byte // nil: send no user hashes
	// territory is never sighted (the arbiter would drop it anyway).
	territory []netip.Prefix
}

// NewRules returns the rules of charter c; territory is never sighted. A
// charter without a fleet section sights nothing.
func NewRules(c *charter.Charter, territory []netip.Prefix) *Rules {
	r := &Rules{territory: territory}
	if c.Fleet == nil {
		return r
	}
	for i := range c.Fleet.Scenarios {
		s := &c.Fleet.Scenarios[i]
		for _, name := range s.Kinds {
			k, err := phalanx.ParseKind(name)
			if err != nil || k >= 64 {
				continue
			}
			r.kinds |= 1 << k
			if s.IsByUser() {
				r.users |= 1 << k
			}
		}
	}
	if salt, ok := c.Fleet.SaltBytes(); ok {
		r.salt = salt
	}
	return r
}

// Group returns the source as sightings name it: an IPv4 address, an IPv6
// /64.
func Group(addr netip.Addr) netip.Prefix {
	addr = phalanx.Normalize(addr)
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p
	}
	return netip.PrefixFrom(addr, 32)
}

// Batch gathers one interval's sightings. It is safe for concurrent use.
type Batch struct {
	mu          sync.Mutex
	entries     map[netip.Prefix]*report.Sighting
	first, last time.Time
	dropped     int64 // sources left out because the batch was full
	published   int64 // sighting reports made
	sighted     int64 // entries in them
	// vouched holds when each source that logged in here did so last.
	vouched   map[netip.Prefix]time.Time
	unsighted int64 // events not sighted because their source is vouched for
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{entries: map[netip.Prefix]*report.Sighting{}, vouched: map[netip.Prefix]time.Time{}}
}

// Vouch records that addr logged in successfully at at: for VouchFor, its
// events are not sighted (the member's own scenarios still count them),
// and what the batch holds of it is dropped.
func (b *Batch) Vouch(addr netip.Addr, at time.Time) {
	if !addr.IsValid() {
		return
	}
	group := Group(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.vouched[group]; !ok && len(b.vouched) >= MaxVouched {
		b.pruneVouched(at)
	} else if ok && last.After(at) {
		return
	}
	b.vouched[group] = at
	delete(b.entries, group)
}

// pruneVouched forgets expired vouches, or else the oldest one.
func (b *Batch) pruneVouched(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	for g, at := range b.vouched {
		if now.Sub(at) > VouchFor {
			delete(b.vouched, g)
			continue
		}
		if oldestAt.IsZero() || at.Before(oldestAt) {
			oldest, oldestAt = g, at
		}
	}
	if len(b.vouched) >= MaxVouched {
		delete(b.vouched, oldest)
	}
}

// Add adds ev to the batch when r counts its kind and its source is
// neither territory nor banned already (banned may be nil).
func (b *Batch) Add(r *Rules, ev *phalanx.Event, banned func(netip.Addr) bool) {
	if r == nil || ev.Kind >= 64 || r.kinds&(1<<ev.Kind) == 0 || !ev.Source.IsValid() {
		return
	}
	addr := phalanx.Normalize(ev.Source)
	for _, t := range r.territory {
		if t.Contains(addr) {
			return
		}
	}
	if banned != nil && banned(addr) {
		return // a banned source is not sighted again
	}
	group := Group(addr)
	var user report.UserHash
	hasUser := ev.User != "" && r.salt != nil && r.users&(1<<ev.Kind) != 0
	if hasUser {
		user = charter.UserHash(r.salt, ev.User)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if at, ok := b.vouched[group]; ok {
		if d := ev.Time.Sub(at); d < VouchFor && d > -VouchFor {
			b.unsighted++
			return
		}
		delete(b.vouched, group)
	}
	e := b.entries[group]
	if e == nil {
		if len(b.entries) >= MaxSources {
			b.dropped++
			return
		}
		e = &report.Sighting{Source: group}
		b.entries[group] = e
	}
	kind := ev.Kind.String()
	i := slices.IndexFunc(e.Counts, func(c report.Count) bool { return c.Service == ev.Service && c.Kind == kind })
	switch {
	case i >= 0:
		e.Counts[i].N = min(e.Counts[i].N+1, report.MaxCount)
	case len(e.Counts) < report.MaxSightingCounts:
		e.Counts = append(e.Counts, report.Count{Service: ev.Service, Kind: kind, N: 1})
	}
	if hasUser && len(e.Users) < report.MaxSightingUsers && !slices.Contains(e.Users, user) {
		e.Users = append(e.Users, user)
	}
	if b.first.IsZero() || ev.Time.Before(b.first) {
		b.first = ev.Time
	}
	if ev.Time.After(b.last) {
		b.last = ev.Time
	}
}

// Take empties the batch and returns its entries as unsigned sighting
// reports of member, dated now (Seq unset: the signer numbers them), as
// many as the entries take. A batch's window never reaches past now.
// Reports that would not validate are left out and counted in invalid.
func (b *Batch) Take(member string, now time.Time) (out []report.Report, invalid int) {
	b.mu.Lock()
	if len(b.entries) == 0 {
		b.mu.Unlock()
		return nil, 0
	}
	entries := make([]report.Sighting, 0, len(b.entries))
	for _, e := range b.entries {
		entries = append(entries, *e)
	}
	first, last := b.first, b.last
	b.entries = make(map[netip.Prefix]*report.Sighting, len(b.entries))
	b.first, b.last = time.Time{}, time.Time{}
	b.mu.Unlock()

	now = now.UTC()
	last = last.UTC()
	if last.After(now) {
		last = now
	}
	first = first.UTC()
	if first.After(last) {
		first = last
	}
	var sources int64
	for _, group := range report.PackSightings(report.Canonical(entries), len(member)) {
		r := report.Report{Type: report.TypeSighting, Member: member, Time: now, First: first, Last: last, Sightings: group}
		check := r
		check.Seq = 1 // the signer numbers it
		if check.Validate() != nil {
			invalid++
			continue
		}
		out = append(out, r)
		sources += int64(len(group))
	}
	b.mu.Lock()
	b.published += int64(len(out))
	b.sighted += sources
	b.mu.Unlock()
	return out, invalid
}

// Counters returns the batch's running totals: reports made ("published"),
// entries in them ("sources"), sources dropped for a full batch, entries
// pending, sources vouched for and events not sighted because of it.
func (b *Batch) Counters() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return map[string]int64{"published": b.published, "sources": b.sighted, "dropped": b.dropped, "pending": int64(len(b.entries)),
		"vouched": int64(len(b.vouched)), "unsighted": b.unsighted}
}
