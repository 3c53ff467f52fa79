package daemon

import (
	"cmp"
	"net/netip"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"time"

	"github.com/gaissmai/bart"

	"phalanx"
	"phalanx/charter"
	"phalanx/decision"
	"phalanx/feed"
	"phalanx/lapi"
)

var _ feed.Applier = (*Daemon)(nil)
var _ feed.KeyChecker = (*lapi.Keys)(nil)

// applyChunk is how many decisions one call of apply takes when a feed or
// an import brings many: each call is one journal record and one enforcer
// transaction, and the slices apply builds stay this small, so that a
// million decisions never sit in memory in several copies at once, and
// the table's lock is released between chunks for detection's bans.
const applyChunk = 4096

// territorySet answers "would a ban of p touch territory?" for many
// prefixes under one charter, built once: the charter's own check
// (charter.IsTerritory) builds the list of territory prefixes on every
// call, which a million feed entries must not pay for.
type territorySet struct{ t bart.Lite }

func newTerritorySet(c *charter.Charter) *territorySet {
	s := &territorySet{}
	for _, p := range c.TerritoryPrefixes() {
		s.t.Insert(p)
	}
	return s
}

// has reports whether p overlaps territory; p must be normalised
// (phalanx.NormalizePrefix), as feeds and imports make it.
func (s *territorySet) has(p netip.Prefix) bool { return s.t.OverlapsPrefix(p) }

// refuseFeedValue says, cheaply and for each entry, whether a feed entry
// must not become a ban because it is wider than the charter allows (or
// the whole address space). Territory is refused by ApplyFeed, with a set
// built once per list.
func (d *Daemon) refuseFeedValue(p netip.Prefix) bool {
	return d.charter().c.Limits.TooWide(p)
}

// ApplyFeed makes the bans of one subscribed list equal prefixes, ending at
// until: new entries are added, entries no longer listed are lifted, the rest
// are extended. It refuses territory and ranges wider than the charter
// allows (territory always wins), and returns how many it refused; when it
// refuses every entry it changes nothing.
//
// Memory stays near the list itself: prefixes are filtered in place and
// looked up by binary search (no set of a million entries), and the
// decisions go to the table in chunks of applyChunk.
func (d *Daemon) ApplyFeed(name string, prefixes []netip.Prefix, until time.Time) (refused int) {
	now := d.now()
	c := &d.charter().c
	terr := newTerritorySet(c)
	if !slices.IsSortedFunc(prefixes, comparePrefix) {
		slices.SortFunc(prefixes, comparePrefix)
	}
	prefixes = slices.Compact(prefixes)
	kept := prefixes[:0]
	for _, p := range prefixes {
		if c.Limits.TooWide(p) || terr.has(p) {
			refused++
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return refused
	}
	scenario := "feed/" + name
	var stale []uint64
	d.table.All(func(x phalanx.Decision) bool {
		if x.Origin == phalanx.OriginFeed && x.Scenario == scenario {
			if _, listed := slices.BinarySearchFunc(kept, x.Value, comparePrefix); !listed {
				stale = append(stale, x.ID)
			}
		}
		return true
	})
	reason := "listed in feed " + name
	d.applyChunked(len(kept), stale, "feed decisions", func(i int) phalanx.Decision {
		return phalanx.Decision{ID: decision.FeedID(name, kept[i]), Origin: phalanx.OriginFeed, Type: "ban", Value: kept[i],
			Scenario: scenario, Start: now, Until: until, Reason: reason}
	})
	d.log.Info("feed applied", "feed", name, "bans", len(kept), "refused", refused, "lifted", len(stale), "until", until.Format(time.RFC3339))
	return refused
}

// applyChunked applies n decisions, made by mk(i) for i in [0, n), and
// lifts the decisions with ids remove, in calls of apply of at most
// applyChunk each (the lifts first).
func (d *Daemon) applyChunked(n int, remove []uint64, what string, mk func(i int) phalanx.Decision) {
	for len(remove) > 0 {
		k := min(len(remove), applyChunk)
		d.apply(nil, remove[:k], what)
		remove = remove[k:]
	}
	buf := make([]phalanx.Decision, 0, min(n, applyChunk))
	for i := 0; i < n; {
		buf = buf[:0]
		for ; i < n && len(buf) < applyChunk; i++ {
			buf = append(buf, mk(i))
		}
		applyBulk(d, buf, what)
	}
}

// applyBulk applies one chunk of a bulk load (a feed, an import's batch),
// first collecting garbage when the heap holds much more than the last
// collection found live. A load of a million decisions allocates several
// times what it keeps, and the runtime's default pacing lets the heap grow
// to twice what is live before it collects: with a table of a million
// decisions that is the difference between about 300 and 450 MB. A
// collection costs tens of milliseconds; a million decisions take a few
// dozen.
func applyBulk(d *Daemon, add []phalanx.Decision, what string) {
	s := [2]rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s[:])
	if s[0].Value.Kind() == rtmetrics.KindUint64 && s[1].Value.Kind() == rtmetrics.KindUint64 {
		live, held := s[0].Value.Uint64(), s[1].Value.Uint64()
		if held > live+live/4+bulkSlack {
			runtime.GC()
		}
	}
	d.apply(add, nil, what)
}

// bulkSlack is the garbage a bulk load may leave on top of a quarter of
// the live heap before applyBulk collects it.
const bulkSlack = 16 << 20

// comparePrefix orders prefixes by address, then length, as feed.Parse
// returns them.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
