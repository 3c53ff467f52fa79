package daemon

import (
	"context"
	"time"

	"phalanx"
)

// Surviving firewall reloads: reloading the host's nftables service flushes
// the whole ruleset, phalanx's table included. An enforcer that can watch
// for that (nft.Enforcer) is watched, and the table restored with every
// ban in force as soon as a change removed part of it.

// restorer is an Enforcer that notices and repairs outside changes to its
// table.
type restorer interface {
	Watch(ctx context.Context, changed func()) error
	Restore(all []phalanx.Decision, now time.Time) (bool, error)
}

// guardFirewall restores the enforcer's table whenever Watch says part of
// it was removed, until ctx ends.
func (d *Daemon) guardFirewall(ctx context.Context) {
	r, ok := d.enf.(restorer)
	if !ok {
		return
	}
	kick := make(chan struct{}, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		err := r.Watch(ctx, func() {
			select {
			case kick <- struct{}{}:
			default:
			}
		})
		if err != nil {
			d.log.Error("cannot watch nftables for firewall reloads: a flush of the ruleset would lift the bans until the next start", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			d.restoreFirewall(r)
		}
	}
}

// restoreFirewall restores the table, if part of it is gone, with the bans
// in force. Enforcement waits meanwhile (it holds d.mu, as apply does).
func (d *Daemon) restoreFirewall(r restorer) {
	if !d.caughtUp.Load() {
		return // the catch-up's Reconcile loads everything anyway
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	var all []phalanx.Decision
	d.table.All(func(x phalanx.Decision) bool {
		if x.Active(now) {
			all = append(all, x)
		}
		return true
	})
	began := time.Now()
	restored, err := r.Restore(all, now)
	if err != nil {
		d.ctr.enforceErr.Add(1)
		d.met.enforceErrs.Inc()
		d.log.Error("restore the nftables table after an outside change", "err", err)
		return
	}
	if restored {
		d.ctr.restores.Add(1)
		d.log.Warn("the nftables table was removed or changed from outside (a firewall reload?): restored it with every ban in force",
			"bans", len(all), "took", time.Since(began).Round(time.Millisecond))
	}
}
