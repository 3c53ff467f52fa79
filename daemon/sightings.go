package daemon

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/report"
)

// Sightings: what this member saw from sources that raised no ban of their
// own, gathered per source and published as signed sighting reports once a
// second, so that the charter's fleet scenarios add up what every member
// sees. The load they put on the fabric grows with the number of
// suspicious sources, not with log lines.

// Bounds of the sighting batch.
const (
	// sightingInterval is how often a batch is published.
	sightingInterval = time.Second
	// maxSightingSources bounds the sources one batch holds; past it new
	// sources wait for the next batch (counted as dropped).
	maxSightingSources = 8192
)

// sightingRules is what the charter in force asks members to sight.
type sightingRules struct {
	kinds uint64 // bit k: Kind(k) counts in a fleet scenario
	users uint64 // bit k: Kind(k) counts in a fleet scenario by user
	salt  []byte // nil: send no user hashes
	// territory is never sighted (the arbiter would drop it anyway).
	territory []netip.Prefix
}

func newSightingRules(c *charter.Charter, territory []netip.Prefix) *sightingRules {
	r := &sightingRules{territory: territory}
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

// sightingBatch gathers one interval's sightings.
type sightingBatch struct {
	mu          sync.Mutex
	entries     map[netip.Prefix]*report.Sighting
	first, last time.Time
	dropped     int64 // sources left out because the batch was full
	published   int64 // sighting reports published
	sighted     int64 // entries published
}

func newSightingBatch() *sightingBatch {
	return &sightingBatch{entries: map[netip.Prefix]*report.Sighting{}}
}

// sight adds ev to the batch when the charter's fleet scenarios count its
// kind and its source is not banned already. group is the source as the
// sightings name it (an IPv4 address, an IPv6 /64).
func (d *Daemon) sight(ev *phalanx.Event) {
	rules := d.charter().sight
	if rules == nil || ev.Kind >= 64 || rules.kinds&(1<<ev.Kind) == 0 || !ev.Source.IsValid() {
		return
	}
	addr := phalanx.Normalize(ev.Source)
	for _, t := range rules.territory {
		if t.Contains(addr) {
			return
		}
	}
	if _, banned := d.table.Lookup(addr, d.now()); banned {
		return // a banned source is not sighted again
	}
	group := netip.PrefixFrom(addr, 32)
	if addr.Is6() {
		group, _ = addr.Prefix(64)
	}
	var user report.UserHash
	hasUser := ev.User != "" && rules.salt != nil && rules.users&(1<<ev.Kind) != 0
	if hasUser {
		user = charter.UserHash(rules.salt, ev.User)
	}
	b := d.sightings
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[group]
	if e == nil {
		if len(b.entries) >= maxSightingSources {
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

// take empties the batch and returns its entries and window.
func (b *sightingBatch) take() ([]report.Sighting, time.Time, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.entries) == 0 {
		return nil, time.Time{}, time.Time{}
	}
	out := make([]report.Sighting, 0, len(b.entries))
	for _, e := range b.entries {
		out = append(out, *e)
	}
	first, last := b.first, b.last
	b.entries = make(map[netip.Prefix]*report.Sighting, len(b.entries))
	b.first, b.last = time.Time{}, time.Time{}
	return out, first, last
}

// sightingLoop publishes the batch every sightingInterval.
func (d *Daemon) sightingLoop(ctx context.Context) {
	t := time.NewTicker(sightingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.publishSightings()
		}
	}
}

// publishSightings signs and queues the batch gathered so far, in as many
// sighting reports as it takes.
func (d *Daemon) publishSightings() {
	entries, first, last := d.sightings.take()
	if len(entries) == 0 {
		return
	}
	entries = report.Canonical(entries)
	now := d.now().UTC()
	// A batch's window never reaches past the report's own time.
	if last.After(now) {
		last = now
	}
	if first.After(last) {
		first = last
	}
	var reports, sources int64
	for _, group := range report.PackSightings(entries, len(d.id.ID)) {
		r := report.Report{Type: report.TypeSighting, Member: d.id.ID, Time: now, First: first.UTC(), Last: last.UTC(), Sightings: group}
		check := r
		check.Seq = 1 // store numbers it
		if err := check.Validate(); err != nil {
			d.log.Warn("a sighting batch is not valid; dropped", "entries", len(group), "err", err)
			continue
		}
		d.enqueueRecord(r)
		reports++
		sources += int64(len(group))
	}
	d.sightings.mu.Lock()
	d.sightings.published += reports
	d.sightings.sighted += sources
	d.sightings.mu.Unlock()
}

// counters returns the batch's running totals for status.
func (b *sightingBatch) counters() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return map[string]int64{"published": b.published, "sources": b.sighted, "dropped": b.dropped, "pending": int64(len(b.entries))}
}
