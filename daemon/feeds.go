package daemon

import (
	"net/netip"
	"time"

	"phalanx"
	"phalanx/feed"
	"phalanx/lapi"
)

var _ feed.Applier = (*Daemon)(nil)
var _ feed.KeyChecker = (*lapi.Keys)(nil)

// refuseFeedValue says whether a feed entry must not become a ban: territory,
// or wider than the charter allows.
func (d *Daemon) refuseFeedValue(p netip.Prefix) bool {
	c := &d.charter().c
	if p.Bits() == 0 || c.IsTerritory(p) {
		return true
	}
	if p.Addr().Is4() {
		return p.Bits() < c.Limits.MaxPrefixV4
	}
	return p.Bits() < c.Limits.MaxPrefixV6
}

// ApplyFeed makes the bans of one subscribed list equal prefixes, ending at
// until: new entries are added, entries no longer listed are lifted, the rest
// are extended. Territory was already refused by the feed's refuse check;
// it is checked again here, because territory always wins.
func (d *Daemon) ApplyFeed(name string, prefixes []netip.Prefix, until time.Time) {
	now := d.now()
	scenario := "feed/" + name
	listed := make(map[netip.Prefix]bool, len(prefixes))
	var add []phalanx.Decision
	for _, p := range prefixes {
		if d.refuseFeedValue(p) {
			continue
		}
		listed[p] = true
		add = append(add, phalanx.Decision{Origin: phalanx.OriginFeed, Type: "ban", Value: p, Scenario: scenario,
			Start: now, Until: until, Reason: "listed in feed " + name})
	}
	var stale []uint64
	d.table.All(func(x phalanx.Decision) bool {
		if x.Origin == phalanx.OriginFeed && x.Scenario == scenario && !listed[x.Value] {
			stale = append(stale, x.ID)
		}
		return true
	})
	d.apply(add, stale, "feed decisions")
	d.log.Info("feed applied", "feed", name, "bans", len(add), "lifted", len(stale), "until", until.Format(time.RFC3339))
}
