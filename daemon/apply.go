package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/decision"
	"phalanx/fabric"
	"phalanx/outbox"
	"phalanx/report"
)

// sink receives the pipeline's output, on the goroutine that feeds lines.
type sink struct{ d *Daemon }

func (s sink) Event(ev *phalanx.Event) {
	s.d.evid.add(ev)
	s.d.sight(ev)
	s.d.met.events.WithLabelValues(ev.Service, ev.Kind.String()).Inc()
}

// Login: a source that logged in here is not sighted for a while.
func (s sink) Login(addr netip.Addr, _ string, at time.Time) { s.d.sightings.Vouch(addr, at) }

func (s sink) Alert(a *phalanx.Alert) {
	s.d.met.alerts.WithLabelValues(a.Scenario).Inc()
	s.d.timeline.add(a.Source, entry{Time: a.Last, What: "alert", Scenario: a.Scenario, Member: s.d.id.ID,
		Detail: itoa(a.Count) + " events"})
}

// Decision is self-defense: ban at once, then tell the alliance. The ban
// takes the ID the alliance's decision on the report will have
// (decision.ReportID of the report's sequence), so that neither that
// decision nor a restart renames it.
func (s sink) Decision(dec *phalanx.Decision, a *phalanx.Alert) {
	d := s.d
	d.ctr.selfBans.Add(1)
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
	var enforced bool
	d.storeThen([]report.Report{r}, func(rs []report.Report) {
		x := *dec
		x.ID = decision.ReportID(d.id.ID, rs[0].Seq, 0)
		_, _, enforced = d.applyDecision(x, entry{Time: dec.Start, What: "decision", Origin: string(dec.Origin),
			Scenario: dec.Scenario, Member: d.id.ID})
	})
	d.kickPublisher()
	if enforced && !d.lineRead.IsZero() {
		d.met.enforce.WithLabelValues("self").Observe(time.Since(d.lineRead).Seconds())
	}
}

func (s sink) Refused(a *phalanx.Alert, err error) {
	s.d.ctr.refused.Add(1)
	s.d.timeline.add(a.Source, entry{Time: a.Last, What: "refused", Scenario: a.Scenario, Member: s.d.id.ID, Detail: err.Error()})
	s.d.log.Info("refused a decision", "source", a.Source, "scenario", a.Scenario, "reason", err)
}

// enqueue signs r with this member's next sequence and stores it in the
// outbox, durably, before it returns; the publisher then sends it on. If
// the outbox cannot store it (a full or failing disk), the report is kept
// in memory and published from there: it then survives a fabric outage but
// not a crash, and the tail positions stop moving until it is published,
// so that its lines are read again after a crash.
func (d *Daemon) enqueue(r report.Report) {
	d.store([]report.Report{r})
	d.kickPublisher()
}

// kickPublisher wakes the publisher.
func (d *Daemon) kickPublisher() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// enqueueRecord queues an enforcement record for the publisher, which
// stores the queued ones in one outbox write: a record made on the
// consumer's goroutine must not cost it an fsync per decision. Records
// queued when the daemon stops are lost; they are history, not decisions.
func (d *Daemon) enqueueRecord(r report.Report) {
	d.recMu.Lock()
	d.records = append(d.records, r)
	d.recMu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// flushRecords stores the queued enforcement records.
func (d *Daemon) flushRecords() {
	d.recMu.Lock()
	rs := d.records
	d.records = nil
	d.recMu.Unlock()
	if len(rs) > 0 {
		d.store(rs)
	}
}

// store numbers, signs and stores rs in the outbox with one write, then
// sends each on the fast path.
func (d *Daemon) store(rs []report.Report) { d.storeThen(rs, nil) }

// storeThen is store that calls numbered, when not nil, with rs once they
// are numbered and signed, before they are written (and fsynced) and sent:
// a self-defense ban named after its report's sequence is in force before
// the report is. numbered runs while the outbox's numbering is held, so
// it must not store reports itself.
func (d *Daemon) storeThen(rs []report.Report, numbered func([]report.Report)) {
	recs := make([]outbox.Record, len(rs))
	d.outMu.Lock()
	for i := range rs {
		rs[i].Seq = d.nextSq.Add(1)
		rs[i].Sign(d.id)
		recs[i] = outbox.Record{Seq: rs[i].Seq, Time: rs[i].Time, Data: report.Marshal(&rs[i])}
	}
	if numbered != nil {
		numbered(rs)
	}
	if err := d.ob.AppendBatch(recs); err != nil {
		for _, rec := range recs {
			d.unsaved = append(d.unsaved, rec.Data)
		}
		d.inflight.Add(int64(len(recs)))
		d.ctr.publishErr.Add(int64(len(recs)))
		for _, rec := range recs {
			d.log.Error("store a report in the outbox (keeping it in memory until published)", "seq", rec.Seq, "err", err)
		}
	}
	d.outMu.Unlock()
	// The fast path at once, so that these reports reach the members even
	// while an earlier one waits for the stream; a joining member waits
	// until the members know it.
	if !d.admitted.Load() {
		return
	}
	for i, rec := range recs {
		if rs[i].Type == report.TypeSighting {
			continue // judged in stream order only (consumeLocked)
		}
		if err := d.fab.PublishFast(d.id.ID, rec.Data); err != nil {
			d.log.Debug("fast path publish failed (the stream carries the report)", "seq", rec.Seq, "err", err)
		}
	}
}

// publishLoop publishes the outbox in sequence order, each report until the
// fabric has stored it. A joining member first waits until the amendment
// that admitted it is stored, so that no member sees its reports before it
// knows the member.
func (d *Daemon) publishLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for d.pendingAmendment() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	d.admitted.Store(true)
	for {
		d.flushRecords()
		for from, to := d.ob.Published()+1, d.ob.Last(); from <= to; from = d.ob.Published() + 1 {
			// The next stored reports, at most 64 (numbering may have gaps).
			type rec struct {
				seq  uint64
				data []byte
			}
			var batch []rec
			if err := d.ob.Range(from, to, 64, func(seq uint64, data []byte) bool {
				batch = append(batch, rec{seq, data})
				return true
			}); err != nil {
				d.log.Error("outbox: read reports to publish", "err", err)
				break
			}
			done := to // nothing stored in [from, to]: all of it is done
			if len(batch) == 64 {
				done = batch[63].seq
			}
			for _, r := range batch {
				if !d.publish(ctx, r.seq, r.data) {
					return
				}
			}
			if err := d.ob.MarkPublished(done); err != nil {
				d.log.Error("outbox: record what was published", "err", err)
				break
			}
		}
		d.outMu.Lock()
		unsaved := d.unsaved
		d.unsaved = nil
		d.outMu.Unlock()
		for i, data := range unsaved {
			if !d.publish(ctx, 0, data) {
				d.outMu.Lock()
				d.unsaved = append(unsaved[i:], d.unsaved...)
				d.outMu.Unlock()
				return
			}
			d.inflight.Add(-1)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-tick.C:
		}
	}
}

// publish sends one signed report until the fabric stores it; false when
// ctx ended first.
func (d *Daemon) publish(ctx context.Context, seq uint64, data []byte) bool {
	r, err := report.Unmarshal(data)
	if err != nil {
		d.log.Error("outbox holds a damaged report; skipping it", "seq", seq, "err", err)
		return true
	}
	defer d.reissueLate(&r)
	for {
		_, err := d.fab.Store(ctx, d.id.ID, r.ID(), data) // enqueue sent it on the fast path
		if err == nil {
			d.ctr.published.Add(1)
			d.met.reportsOut.Inc()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.ctr.publishErr.Add(1)
		d.met.publishErrs.Inc()
		d.log.Error("publish report (will retry; local bans stay in force)", "seq", r.Seq, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// reissueLate makes a fresh copy of a report that waited in the outbox for
// longer than half the charter's skew (the fabric was down, or the member
// was alone): the members reject the original as stale, since its time is
// too far from when the fabric stored it, and a member must not backdate.
// The copy says the same thing as of now: an alert or a manual ban whose
// value this member still bans, or a pardon. Enforcement records are not
// copied; they are history.
func (d *Daemon) reissueLate(r *report.Report) {
	now := d.now()
	if now.Sub(r.Time) <= d.charter().c.Limits.Skew/2 {
		return
	}
	switch r.Type {
	case report.TypeAlert, report.TypeManual:
		if _, ok := d.table.Lookup(r.Value.Addr(), now); !ok {
			return
		}
	case report.TypePardon:
	default:
		return
	}
	c := *r
	c.Time = now.UTC()
	c.Sig = nil
	d.log.Info("reissuing a report that waited too long to be published", "seq", r.Seq, "made", r.Time, "value", r.Value)
	d.enqueue(c)
}

// pendingAmendment reports whether this member still has to publish the
// amendment that admitted it.
func (d *Daemon) pendingAmendment() bool {
	_, err := os.Stat(filepath.Join(d.opts.DataDir, filePendingAmendment))
	return err == nil
}

// consume judges one message of the report stream. It runs on the fabric's
// consumer goroutine only.
func (d *Daemon) consume(m fabric.Msg) {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	d.consumeLocked(m)
}

// consumeLocked is consume for callers that hold consumeMu.
func (d *Daemon) consumeLocked(m fabric.Msg) {
	if m.Seq != 0 {
		defer func() {
			d.consumed.Store(m.Seq)
			if to := d.catchUpTo.Load(); to != 0 && m.Seq >= to {
				d.finishCatchUp()
			}
		}()
	}
	if len(m.Data) > 0 && m.Data[0] == kindAmendment {
		d.consumeAmendment(m)
		return
	}
	r, err := report.Unmarshal(m.Data)
	if err != nil {
		d.reject("?", report.Reason(err), "seq", m.Seq, "err", err)
		return
	}
	if m.Seq == 0 && r.Type == report.TypeSighting {
		// Sightings are judged in stream order only, never on their
		// fast-path copy: every member then evaluates the fleet scenarios
		// over the same sequence and bans at the same stream position.
		return
	}
	id := r.ID()
	if !d.seen.add(id) {
		d.ctr.duplicate.Add(1)
		return
	}
	d.ctr.consumed.Add(1)
	received := m.Time
	if received.IsZero() {
		received = d.now()
	}
	now := d.now()
	out := d.arb.Apply(&r, received, now)
	d.met.verdicts.WithLabelValues(out.Verdict.String()).Inc()
	// Only what a member signed may touch per-member state: anyone can
	// name any member in a forgery.
	if authentic(out) {
		d.met.reportsIn.WithLabelValues(r.Member).Inc()
		d.met.lag.WithLabelValues(r.Member).Set(received.Sub(r.Time).Seconds())
		d.gaps.saw(r.Member, r.Seq, now)
		d.view.saw(r.Member, r.Seq, received)
		if r.Member == d.id.ID && r.Seq > d.nextSq.Load() {
			// After a restart without the outbox, continue this member's
			// sequence where the stream left it.
			d.nextSq.Store(r.Seq)
		}
	}
	if out.Verdict == arbiter.Rejected && out.Reason == arbiter.ReasonUnknownMember {
		// Perhaps a new member whose admission this member has not seen
		// yet: judge the stream's copy again when it comes.
		d.seen.forget(id)
	}
	switch out.Verdict {
	case arbiter.Decided:
		// Named after the deciding report, the same on every member and
		// across restarts (and the same as the author's self-defense ban).
		out.Decision.ID = decision.ReportID(r.Member, r.Seq, 0)
		if out.Decision.Until.After(now) {
			d.timeline.add(r.Value, entry{Time: r.Time, What: "report", Member: r.Member, Scenario: r.Scenario,
				ReportID: id, Evidence: r.Evidence, Detail: r.Reason})
			_, _, enforced := d.applyDecision(out.Decision, entry{Time: out.Decision.Start, What: "decision",
				Origin: string(out.Decision.Origin), Scenario: out.Decision.Scenario, Member: r.Member})
			if enforced && r.Member != d.id.ID {
				d.met.enforce.WithLabelValues("alliance").Observe(time.Since(r.Time).Seconds())
			}
		}
		d.ctr.decided.Add(1) // after the timeline: whoever sees the count sees the entries
	case arbiter.Sighted:
		d.ctr.sightings.Add(1)
		for i := range out.Fleet {
			out.Fleet[i].Decision.ID = decision.ReportID(r.Member, r.Seq, 1+i)
			d.applyFleetBan(&out.Fleet[i], m.Seq, now)
		}
	case arbiter.DecidedBatch:
		d.applyBatch(&r, out, now) // import.go
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
		// Another member's enforcement: a timeline entry for a value
		// banned here, or held until it is (so that records for values
		// never banned cannot crowd out real entries).
		if r.Member != d.id.ID {
			e := entry{Time: r.Time, What: "enforced", Member: r.Member, Detail: r.Scenario, ReportID: id}
			if _, ok := d.table.Lookup(r.Value.Addr(), now); ok {
				d.timeline.add(r.Value, e)
			} else {
				d.held.hold(r.Value, e)
			}
		}
	case arbiter.Refused:
		d.ctr.refused.Add(1)
		d.countReason(out.Reason)
		if d.caughtUp.Load() {
			d.log.Info("refused", "value", r.Value, "scenario", r.Scenario, "member", r.Member, "reason", out.Reason)
		}
		d.timeline.add(r.Value, entry{Time: r.Time, What: "refused", Member: r.Member, Scenario: r.Scenario, ReportID: id, Detail: out.Reason})
	default:
		d.reject(r.Member, out.Reason, "seq", r.Seq)
	}
}

// authentic reports whether the arbiter found the report signed by a
// member, whatever it made of it: such a report uses up its sequence.
func authentic(o arbiter.Outcome) bool {
	if o.Verdict != arbiter.Rejected {
		return true
	}
	switch o.Reason {
	case arbiter.ReasonReplayed, arbiter.ReasonRateLimited, arbiter.ReasonStale:
		return true
	}
	return false
}

// apply is the one way the table changes outside expiry: it deletes the
// decisions with the given ids, adds the given decisions, and passes what
// changed on to the journal (one record) and the enforcer (one
// transaction). It returns what the table holds for each added decision (the
// decision already there when it ends as late or later) and whether the
// kernel took a change.
func (d *Daemon) apply(add []phalanx.Decision, remove []uint64, what string) (stored []phalanx.Decision, changed, enforced bool) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	// Sized once: feeds and imports pass thousands at a time.
	stored = make([]phalanx.Decision, 0, len(add))
	added := make([]phalanx.Decision, 0, len(add))
	var deleted []phalanx.Decision
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
		return stored, false, false
	}
	d.jour.Record(added, deleted)
	if d.enf == nil || !d.caughtUp.Load() {
		return stored, true, false
	}
	if err := d.enf.Apply(added, deleted, now); err != nil {
		d.ctr.enforceErr.Add(1)
		d.met.enforceErrs.Inc()
		d.log.Error("enforce "+what, "added", len(added), "removed", len(deleted), "err", err)
		return stored, true, false
	}
	return stored, true, true
}

// applyDecision stores one decision, records decided (its timeline entry)
// and enforces it. Once the member has
// replayed the stream (not while it replays), a decision that changed the table is recorded
// as enforced here (in the kernel, or by the API alone when nftables is
// off), in the timeline and on the fabric for the other members'.
func (d *Daemon) applyDecision(dec phalanx.Decision, decided entry) (stored phalanx.Decision, changed, enforced bool) {
	all, changed, enforced := d.apply([]phalanx.Decision{dec}, nil, "decision")
	stored = all[0]
	// The decision's entry first (with the table's id and end), then
	// whatever enforced it.
	decided.Until, decided.DecisionID = dec.Until, stored.ID
	d.timeline.add(dec.Value, decided)
	if changed {
		for _, e := range d.held.take(stored.Value) {
			d.timeline.add(stored.Value, e)
		}
	}
	if changed && d.reconciled.Load() {
		layer := layerAPI
		if enforced {
			layer = layerNftables
		}
		now := d.now()
		d.log.Info("ban", "value", stored.Value, "duration", stored.Until.Sub(now).Round(time.Second), "scenario", stored.Scenario,
			"origin", stored.Origin, "enforced", layer, "reason", stored.Reason)
		d.timeline.add(stored.Value, entry{Time: now, What: "enforced", Member: d.id.ID, Detail: layer, DecisionID: stored.ID})
		d.enqueueRecord(report.Report{Type: report.TypeEnforced, Time: now.UTC(), Scenario: layer, Value: stored.Value,
			Reason: string(stored.Origin) + " ban until " + stored.Until.UTC().Format(time.RFC3339)})
	}
	return stored, changed, enforced
}

// Layers named in enforcement records.
const (
	layerNftables = "nftables" // the kernel drops the address
	layerAPI      = "api"      // served to bouncers and forward-auth only (nftables off)
)

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
		if d.reconciled.Load() {
			d.log.Info("pardon", "value", p, "decisions", len(ids))
		}
	}
}

// expireLoop drops ended decisions from the table every second (the kernel
// drops its elements by their own timeouts) and trims the outbox every
// minute.
func (d *Daemon) expireLoop(ctx context.Context) {
	n := 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.mu.Lock()
			gone := d.table.Expire(d.now())
			if len(gone) > 0 {
				d.jour.Record(nil, gone)
			}
			d.mu.Unlock()
			for _, x := range gone {
				d.log.Info("unban", "value", x.Value, "scenario", x.Scenario, "origin", x.Origin, "reason", "expired")
			}
			if n++; n%60 == 0 {
				if err := d.ob.Trim(d.now()); err != nil {
					d.log.Error("trim the outbox", "err", err)
				}
			}
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

// applyFleetBan enforces a ban that the charter's fleet scenarios decided
// from members' sightings, with a timeline that says which members saw what
// and at which position of the report stream it fired.
func (d *Daemon) applyFleetBan(fb *arbiter.FleetBan, pos uint64, now time.Time) {
	dec := fb.Decision
	if !dec.Until.After(now) {
		return
	}
	d.ctr.fleetBans.Add(1)
	for _, c := range fb.Contributions {
		detail := fmt.Sprintf("%d events from %s, %s to %s", c.Events, c.Source, c.First.UTC().Format(time.RFC3339), c.Last.UTC().Format(time.RFC3339))
		if fb.User != "" {
			detail += ", user hash " + fb.User
		}
		id := ""
		if len(c.Reports) > 0 {
			id = c.Reports[len(c.Reports)-1]
		}
		d.timeline.add(dec.Value, entry{Time: c.Last, What: "sighting", Member: c.Member, Scenario: dec.Scenario, ReportID: id, Detail: detail})
	}
	where := fmt.Sprintf("fleet scenario fired at stream position %d: %s", pos, dec.Reason)
	_, _, enforced := d.applyDecision(dec, entry{Time: dec.Start, What: "decision", Origin: string(dec.Origin),
		Scenario: dec.Scenario, Detail: where})
	if enforced {
		d.met.enforce.WithLabelValues("fleet").Observe(time.Since(dec.Start).Seconds())
	}
	d.log.Info("fleet ban", "value", dec.Value, "scenario", dec.Scenario, "members", len(fb.Contributions), "stream_position", pos)
}
