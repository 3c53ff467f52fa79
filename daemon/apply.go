package daemon

import (
	"context"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/fabric"
	"phalanx/report"
)

// sink receives the pipeline's output, on the goroutine that feeds lines.
type sink struct{ d *Daemon }

func (s sink) Event(ev *phalanx.Event) {
	s.d.evid.add(ev)
	s.d.met.events.WithLabelValues(ev.Service, ev.Kind.String()).Inc()
}

func (s sink) Alert(a *phalanx.Alert) {
	s.d.met.alerts.WithLabelValues(a.Scenario).Inc()
	s.d.timeline.add(a.Source, entry{Time: a.Last, What: "alert", Scenario: a.Scenario, Member: s.d.id.ID,
		Detail: itoa(a.Count) + " events"})
}

// Decision is self-defense: ban at once, then tell the alliance.
func (s sink) Decision(dec *phalanx.Decision, a *phalanx.Alert) {
	d := s.d
	d.ctr.selfBans.Add(1)
	stored, enforced := d.applyDecision(*dec)
	if enforced && !d.lineRead.IsZero() {
		d.met.enforce.WithLabelValues("self").Observe(time.Since(d.lineRead).Seconds())
	}
	d.timeline.add(dec.Value, entry{Time: dec.Start, What: "decision", Origin: string(dec.Origin), Scenario: dec.Scenario,
		Member: d.id.ID, Until: stored.Until, DecisionID: stored.ID})
	r := report.Report{
		Type:     report.TypeAlert,
		Time:     d.now().UTC(),
		Scenario: a.Scenario,
		Value:    dec.Value,
		First:    a.First,
		Last:     a.Last,
		Count:    a.Count,
		Reason:   dec.Reason,
		Evidence: d.evid.lines(a.Source, a.Addr),
	}
	d.enqueue(r)
}

func (s sink) Refused(a *phalanx.Alert, err error) {
	s.d.ctr.refused.Add(1)
	s.d.timeline.add(a.Source, entry{Time: a.Last, What: "refused", Scenario: a.Scenario, Member: s.d.id.ID, Detail: err.Error()})
	s.d.log.Info("refused a decision", "source", a.Source, "scenario", a.Scenario, "reason", err)
}

// enqueue hands a report to the publisher. It blocks when the publisher is
// far behind (the fabric is down): reports are never dropped.
func (d *Daemon) enqueue(r report.Report) {
	d.inflight.Add(1)
	select {
	case d.out <- r:
	default:
		d.log.Warn("report queue is full; waiting for the fabric")
		d.out <- r
	}
}

// publishLoop signs and publishes self reports in order, retrying each until
// the fabric has stored it.
func (d *Daemon) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-d.out:
			r.Seq = d.nextSq.Add(1)
			r.Sign(d.id)
			data := report.Marshal(&r)
			for {
				_, err := d.fab.Publish(ctx, d.id.ID, r.ID(), data)
				if err == nil {
					d.ctr.published.Add(1)
					d.met.reportsOut.Inc()
					d.inflight.Add(-1)
					break
				}
				if ctx.Err() != nil {
					return
				}
				d.ctr.publishErr.Add(1)
				d.met.publishErrs.Inc()
				d.log.Error("publish report (will retry; local bans stay in force)", "seq", r.Seq, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
	}
}

// consume judges one message of the report stream. It runs on the fabric's
// consumer goroutine only.
func (d *Daemon) consume(m fabric.Msg, catchUpTo uint64) {
	defer func() {
		if !d.caughtUp.Load() && m.Seq >= catchUpTo {
			d.markCaughtUp()
		}
	}()
	r, err := report.Unmarshal(m.Data)
	if err != nil {
		d.reject("?", report.Reason(err), "seq", m.Seq, "err", err)
		return
	}
	id := r.ID()
	if !d.seen.add(id) {
		d.ctr.duplicate.Add(1)
		return
	}
	d.ctr.consumed.Add(1)
	d.met.reportsIn.WithLabelValues(r.Member).Inc()
	if r.Member == d.id.ID && r.Seq > d.nextSq.Load() {
		// After a restart, continue our own sequence where the stream left it.
		d.nextSq.Store(r.Seq)
	}
	received := m.Time
	if received.IsZero() {
		received = d.now()
	}
	now := d.now()
	d.met.lag.WithLabelValues(r.Member).Set(received.Sub(r.Time).Seconds())
	out := d.arb.Apply(&r, received, now)
	d.met.verdicts.WithLabelValues(out.Verdict.String()).Inc()
	switch out.Verdict {
	case arbiter.Decided:
		d.ctr.decided.Add(1)
		if out.Decision.Until.After(now) {
			stored, enforced := d.applyDecision(out.Decision)
			if enforced && r.Member != d.id.ID {
				d.met.enforce.WithLabelValues("alliance").Observe(time.Since(r.Time).Seconds())
			}
			d.timeline.add(r.Value, entry{Time: r.Time, What: "report", Member: r.Member, Scenario: r.Scenario,
				ReportID: id, Evidence: r.Evidence, Detail: r.Reason})
			d.timeline.add(out.Decision.Value, entry{Time: out.Decision.Start, What: "decision", Origin: string(out.Decision.Origin),
				Scenario: out.Decision.Scenario, Until: out.Decision.Until, DecisionID: stored.ID, Member: r.Member})
		}
	case arbiter.Pardoned:
		d.ctr.pardoned.Add(1)
		d.pardon(out.Pardon)
		d.timeline.add(out.Pardon, entry{Time: r.Time, What: "pardon", Member: r.Member, ReportID: id, Detail: r.Reason})
	case arbiter.Corroborated:
		d.ctr.corroborated.Add(1)
		d.timeline.add(r.Value, entry{Time: r.Time, What: "report", Member: r.Member, Scenario: r.Scenario,
			ReportID: id, Evidence: r.Evidence, Detail: "corroborates the ban in force"})
	case arbiter.Pending:
		d.ctr.pending.Add(1)
		d.timeline.add(r.Value, entry{Time: r.Time, What: "report", Member: r.Member, Scenario: r.Scenario,
			ReportID: id, Evidence: r.Evidence, Detail: "pending quorum"})
	case arbiter.Noted:
		// Another member's enforcement: a timeline entry, kept only for
		// values banned here, so records cannot crowd out real entries.
		if r.Member != d.id.ID {
			if _, ok := d.table.Lookup(r.Value.Addr(), now); ok {
				d.timeline.add(r.Value, entry{Time: r.Time, What: "enforced", Member: r.Member, Detail: r.Scenario, ReportID: id})
			}
		}
	case arbiter.Refused:
		d.ctr.refused.Add(1)
		d.countReason(out.Reason)
		d.timeline.add(r.Value, entry{Time: r.Time, What: "refused", Member: r.Member, Scenario: r.Scenario, ReportID: id, Detail: out.Reason})
	default:
		d.reject(r.Member, out.Reason, "seq", r.Seq)
	}
}

// apply is the one way the table changes outside expiry: it deletes the
// decisions with the given ids, adds the given decisions, and passes what
// changed on to the journal (one record) and the enforcer (one
// transaction). It returns what the table holds for each added decision (the
// decision already there when it ends as late or later) and whether the
// kernel took a change.
func (d *Daemon) apply(add []phalanx.Decision, remove []uint64, what string) (stored []phalanx.Decision, enforced bool) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var added, deleted []phalanx.Decision
	for _, id := range remove {
		if x, ok := d.table.Delete(id); ok {
			deleted = append(deleted, x)
		}
	}
	for _, x := range add {
		before := d.table.Len()
		st, replaced := d.table.Add(x)
		stored = append(stored, st)
		if replaced != nil {
			deleted = append(deleted, *replaced)
		} else if d.table.Len() == before {
			continue // nothing changed
		}
		added = append(added, st)
	}
	if len(added) == 0 && len(deleted) == 0 {
		return stored, false
	}
	d.jour.Record(added, deleted)
	if d.enf == nil || !d.caughtUp.Load() {
		return stored, false
	}
	if err := d.enf.Apply(added, deleted, now); err != nil {
		d.ctr.enforceErr.Add(1)
		d.met.enforceErrs.Inc()
		d.log.Error("enforce "+what, "added", len(added), "removed", len(deleted), "err", err)
		return stored, false
	}
	return stored, true
}

// applyDecision stores one decision and enforces it.
func (d *Daemon) applyDecision(dec phalanx.Decision) (phalanx.Decision, bool) {
	stored, enforced := d.apply([]phalanx.Decision{dec}, nil, "decision")
	if enforced {
		d.timeline.add(stored[0].Value, entry{Time: d.now(), What: "enforced", Member: d.id.ID, Detail: "nftables", DecisionID: stored[0].ID})
	}
	return stored[0], enforced
}

// pardon lifts the bans on p and on every range or address inside it.
func (d *Daemon) pardon(p netip.Prefix) {
	var ids []uint64
	d.table.All(func(x phalanx.Decision) bool {
		if x.Value.Bits() >= p.Bits() && p.Contains(x.Value.Addr()) {
			ids = append(ids, x.ID)
		}
		return true
	})
	if len(ids) > 0 {
		d.apply(nil, ids, "pardon")
	}
}

// expireLoop drops ended decisions from the table every second; the kernel
// drops its elements by their own timeouts.
func (d *Daemon) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.mu.Lock()
			if gone := d.table.Expire(d.now()); len(gone) > 0 {
				d.jour.Record(nil, gone)
			}
			d.mu.Unlock()
		}
	}
}

// reject counts a rejected report by reason and logs it, at most once per
// member and minute: a flood of forgeries must not flood the log too.
func (d *Daemon) reject(member, reason string, args ...any) {
	d.ctr.rejected.Add(1)
	d.countReason(reason)
	now := time.Now()
	d.rejMu.Lock()
	last, seen := d.rejLogged[member]
	quiet := seen && now.Sub(last) < time.Minute
	if !quiet {
		if len(d.rejLogged) > 10000 {
			clear(d.rejLogged)
		}
		d.rejLogged[member] = now
	}
	d.rejMu.Unlock()
	if !quiet {
		d.log.Warn("rejected a report (further rejections for this member are counted, not logged, for a minute)",
			append([]any{"member", member, "reason", reason}, args...)...)
	}
}

func (d *Daemon) countReason(reason string) {
	d.met.rejected.WithLabelValues(reason).Inc()
	d.rejMu.Lock()
	d.rejByReason[reason]++
	d.rejMu.Unlock()
}
