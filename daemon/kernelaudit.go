package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phalanx"
	"phalanx/nft"
)

// The kernel audit: the watch in firewall.go sees a table or chain removed
// (a firewall reload), not an element deleted or a set flushed by hand.
// Every auditEvery the member lists its hash sets and compares them with
// the decision table; when the kernel lacks bans the table holds, it
// reconciles the kernel with the table (and says so). status and the
// metrics show both counts. Listing costs grow with the square of a set's
// size, so tables above auditMaxDecisions are not audited (the status
// says so).

// auditor is an Enforcer that can compare its sets with the decisions.
type auditor interface {
	Audit(all []phalanx.Decision, now time.Time) (nft.Audit, error)
}

const (
	auditEvery        = time.Minute
	auditMaxDecisions = 100_000
)

// kernelAudit is the last audit's result.
type kernelAudit struct {
	mu      sync.Mutex
	at      time.Time // zero: none yet
	res     nft.Audit
	skipped string // why the last round did not audit ("" when it did)
	repairs int64  // reconciles the audit asked for
}

// auditLoop audits every auditEvery until ctx ends.
func (d *Daemon) auditLoop(ctx context.Context) {
	if _, ok := d.enf.(auditor); !ok || d.enfq == nil {
		return
	}
	t := time.NewTicker(auditEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.auditKernel()
		}
	}
}

// auditKernel audits once: with the enforcement worker held (no change
// reaches the kernel meanwhile) and nothing waiting for it, it lists the
// kernel's sets and compares them with the table's decisions, all of
// which the kernel then should hold.
func (d *Daemon) auditKernel() {
	a := d.enf.(auditor)
	q := d.enfq
	skip := func(why string) {
		d.kaudit.mu.Lock()
		d.kaudit.skipped = why
		d.kaudit.mu.Unlock()
	}
	if !d.caughtUp.Load() || !d.reconciled.Load() {
		skip("replaying the stream")
		return
	}
	if n := d.table.Len(); n > auditMaxDecisions {
		skip("too many decisions to list the kernel's sets every minute")
		return
	}
	q.run.Lock()
	defer q.run.Unlock()
	now := d.now()
	d.mu.Lock() // every decision of the snapshot has been pushed to the queue
	all := d.activeDecisions(now)
	d.mu.Unlock()
	q.mu.Lock()
	busy := len(q.ops) > 0 || q.dirty || q.restore
	q.mu.Unlock()
	if busy {
		skip("changes were waiting for the kernel")
		return
	}
	res, err := a.Audit(all, now)
	if err != nil {
		skip("listing failed: " + err.Error())
		d.log.Warn("audit the nftables sets against the decision table", "err", err)
		return
	}
	d.kaudit.mu.Lock()
	d.kaudit.at, d.kaudit.res, d.kaudit.skipped = now, res, ""
	if res.Missing > 0 {
		d.kaudit.repairs++
	}
	d.kaudit.mu.Unlock()
	if res.Missing == 0 {
		return
	}
	d.log.Warn("the kernel lacked bans the decision table holds (elements deleted or a set flushed from outside?): reloading the sets from the table",
		"missing", res.Missing, "want", res.Want)
	q.mu.Lock()
	q.dirty = true // the worker reconciles once this returns and releases q.run
	q.mu.Unlock()
	q.kick()
}

// auditCounts adds the last audit to the status's enforcement section.
func (d *Daemon) auditCounts(m map[string]int64) {
	d.kaudit.mu.Lock()
	defer d.kaudit.mu.Unlock()
	if d.kaudit.at.IsZero() {
		return
	}
	k := d.kaudit.res.Kernel
	m["kernel_exact"] = int64(k.Ban4 + k.Ban6 + k.Ban6Nets)
	m["kernel_ranges"] = int64(k.Ban4Ranges + k.Ban6Ranges)
	m["table_exact"] = int64(d.kaudit.res.Want)
	m["kernel_missing"] = int64(d.kaudit.res.Missing)
	m["audit_repairs"] = d.kaudit.repairs
	m["audited_unix"] = d.kaudit.at.Unix()
}

// auditCollectors are the audit's metrics.
func (d *Daemon) auditCollectors() []prometheus.Collector {
	gauge := func(name, help string, v func(nft.Audit) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			d.kaudit.mu.Lock()
			defer d.kaudit.mu.Unlock()
			return float64(v(d.kaudit.res))
		})
	}
	return []prometheus.Collector{
		gauge("phalanx_enforce_kernel_exact_elements", "Addresses and IPv6 /64s in the kernel's hash sets at the last audit (every minute, up to 100,000 decisions).",
			func(a nft.Audit) int { return a.Kernel.Ban4 + a.Kernel.Ban6 + a.Kernel.Ban6Nets }),
		gauge("phalanx_enforce_table_exact_elements", "Addresses and IPv6 /64s the decision table put in the kernel's hash sets, at the last audit.",
			func(a nft.Audit) int { return a.Want }),
		gauge("phalanx_enforce_kernel_missing_elements", "Of those, how many the kernel lacked at the last audit (then reloaded from the table).",
			func(a nft.Audit) int { return a.Missing }),
	}
}
