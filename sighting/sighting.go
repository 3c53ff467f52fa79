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
	"bytes"
	"net/netip"
	"slices"
	"strings"
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
	// Hold is how long a source's entry waits in the batch after its first
	// event before it is sighted: a user who mistypes a password logs in
	// a few seconds later, and the log-in (Vouch) then drops the entry
	// before any other member hears of it.
	Hold = 10 * time.Second
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
// charter without a fleet section sights nothing, and nothing is sighted
// for a scenario that needs more members than the charter lists: it cannot
// fire (a standalone member sights nothing). The rules are made again
// when the charter changes.
func NewRules(c *charter.Charter, territory []netip.Prefix) *Rules {
	r := &Rules{territory: territory}
	if c.Fleet == nil {
		return r
	}
	for i := range c.Fleet.Scenarios {
		s := &c.Fleet.Scenarios[i]
		if s.Members > len(c.Members) {
			continue
		}
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
	mu        sync.Mutex
	entries   map[netip.Prefix]*pending
	dropped   int64 // sources left out because the batch was full
	published int64 // sighting reports made
	sighted   int64 // entries in them
	// vouched holds when each source that logged in here did so last.
	vouched   map[netip.Prefix]time.Time
	unsighted int64 // events not sighted because their source is vouched for
	// The last user name hashed, with its salt and hash: attackers try
	// the same few names from many sources, and a hash costs an HMAC.
	lastUser string
	lastSalt []byte
	lastHash report.UserHash
}

// hash is charter.UserHash of user with salt, from the last one when it is
// the same; b.mu is held.
func (b *Batch) hash(salt []byte, user string) report.UserHash {
	if b.lastSalt == nil || user != b.lastUser || !bytes.Equal(salt, b.lastSalt) {
		b.lastUser, b.lastSalt, b.lastHash = strings.Clone(user), salt, charter.UserHash(salt, user)
	}
	return b.lastHash
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{entries: map[netip.Prefix]*pending{}, vouched: map[netip.Prefix]time.Time{}}
}

// pending is one source's entry with the times of its first and last
// events.
type pending struct {
	s           report.Sighting
	first, last time.Time
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
	hasUser := ev.User != "" && r.salt != nil && r.users&(1<<ev.Kind) != 0
	b.mu.Lock()
	defer b.mu.Unlock()
	if at, ok := b.vouched[group]; ok {
		if d := ev.Time.Sub(at); d < VouchFor && d > -VouchFor {
			b.unsighted++
			return
		}
		delete(b.vouched, group)
	}
	p := b.entries[group]
	if p == nil {
		if len(b.entries) >= MaxSources {
			b.dropped++
			return
		}
		p = &pending{s: report.Sighting{Source: group}, first: ev.Time, last: ev.Time}
		b.entries[group] = p
	}
	if ev.Time.Before(p.first) {
		p.first = ev.Time
	}
	if ev.Time.After(p.last) {
		p.last = ev.Time
	}
	e := &p.s
	kind := ev.Kind.String()
	i := slices.IndexFunc(e.Counts, func(c report.Count) bool { return c.Service == ev.Service && c.Kind == kind })
	switch {
	case i >= 0:
		e.Counts[i].N = min(e.Counts[i].N+1, report.MaxCount)
	case len(e.Counts) < report.MaxSightingCounts:
		e.Counts = append(e.Counts, report.Count{Service: ev.Service, Kind: kind, N: 1})
	}
	if hasUser && len(e.Users) < report.MaxSightingUsers {
		if user := b.hash(r.salt, ev.User); !slices.Contains(e.Users, user) {
			e.Users = append(e.Users, user)
		}
	}
}

// Take removes the entries whose first event is at least Hold before now
// and returns them as unsigned sighting reports of member, dated now (Seq
// unset: the signer numbers them), as many as the entries take. A
// report's window never reaches past now. Reports that would not validate
// are left out and counted in invalid.
func (b *Batch) Take(member string, now time.Time) (out []report.Report, invalid int) {
	b.mu.Lock()
	var entries []report.Sighting
	var first, last time.Time
	for g, p := range b.entries {
		if now.Sub(p.first) < Hold {
			continue
		}
		entries = append(entries, p.s)
		if first.IsZero() || p.first.Before(first) {
			first = p.first
		}
		if p.last.After(last) {
			last = p.last
		}
		delete(b.entries, g)
	}
	b.mu.Unlock()
	if len(entries) == 0 {
		return nil, 0
	}

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
