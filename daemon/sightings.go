package daemon

import (
	"context"
	"net/netip"
	"time"

	"phalanx"
)

// Sightings: what this member saw from sources that raised no ban of their
// own, gathered per source (package sighting) and published as signed
// sighting reports once a second, so that the charter's fleet scenarios
// add up what every member sees. The load they put on the fabric grows
// with the number of suspicious sources, not with log lines.

// sightingInterval is how often a batch is published.
const sightingInterval = time.Second

// sight adds ev to the batch when the charter's fleet scenarios count its
// kind and its source is not banned already.
func (d *Daemon) sight(ev *phalanx.Event) {
	d.sightings.Add(d.charter().sight, ev, func(a netip.Addr) bool {
		_, banned := d.table.Lookup(a, d.now())
		return banned
	})
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
	reports, invalid := d.sightings.Take(d.id.ID, d.now())
	if invalid > 0 {
		d.log.Warn("sighting reports were not valid; dropped", "reports", invalid)
	}
	for _, r := range reports {
		d.enqueueRecord(r)
	}
}
