package daemon

import (
	"context"
	"time"

	"phalanx"
)

// Surviving firewall reloads: reloading the host's nftables service flushes
// the whole ruleset, phalanx's table included. An enforcer that can watch
// for that (nft.Enforcer) is watched, and the table restored with every
// ban in force as soon as a change removed part of it. The restore runs on
// the enforcement queue's worker (enforcer_queue.go), in order with the
// changes it applies, so detection never waits for it.

// restorer is an Enforcer that notices and repairs outside changes to its
// table.
type restorer interface {
	Watch(ctx context.Context, changed func()) error
	Restore(all []phalanx.Decision, now time.Time) (bool, error)
}

// guardFirewall asks the enforcement queue to restore the enforcer's table
// whenever Watch says part of it was removed, until ctx ends.
func (d *Daemon) guardFirewall(ctx context.Context) {
	r, ok := d.enf.(restorer)
	if !ok || d.enfq == nil {
		return
	}
	err := r.Watch(ctx, func() {
		if d.caughtUp.Load() { // before, the catch-up's reconcile loads everything anyway
			d.enfq.requestRestore()
		}
	})
	if err != nil {
		d.log.Error("cannot watch nftables for firewall reloads: a flush of the ruleset would lift the bans until the next start", "err", err)
	}
}
