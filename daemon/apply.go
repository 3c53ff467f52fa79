package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/decision"
	"phalanx/fabric"
	"phalanx/outbox"
	"phalanx/report"
)

// sink receives the pipeline's output, on the goroutine that feeds lines
// (under Daemon.pipeMu), but for Parsed (see there).
type sink struct {
	d  *Daemon
	st *sinkState // nil for none
}

// sinkState is what a sink remembers of the event being judged.
type sinkState struct {
	last eventCounter // the events metric's counter of its service and kind
	// kept is the node that ends its source's evidence with its line
	// (ev.Kept: see Parsed), and keptFor its source.
	kept    *evNode
	keptFor netip.Addr
}

// eventCounter is the events metric's counter of the last event's service
// and kind: a flood's events are alike, and finding the counter by its
// labels costs more than the rest of counting.
type eventCounter struct {
	service string
	kind    phalanx.Kind
	c       prometheus.Counter
}

// Parsed keeps the line of an event as evidence, as soon as it is parsed,
// and hands the node that ends its source's evidence with it back with the
// event (ev.Kept): for a tail that parses apart from the pipeline
// (feedApart), on its own goroutine, while earlier lines are judged.
func (s sink) Parsed(ev *phalanx.Event) { ev.Kept = s.d.evid.add(ev) }

func (s sink) Event(ev *phalanx.Event) {
	s.d.sight(ev)
	if st := s.st; st != nil {
		st.kept, _ = ev.Kept.(*evNode)
		st.keptFor = ev.Source
		if l := &st.last; l.c == nil || l.service != ev.Service || l.kind != ev.Kind {
			*l = eventCounter{service: ev.Service, kind: ev.Kind, c: s.d.met.events.WithLabelValues(ev.Service, ev.Kind.String())}
		}
		st.last.c.Inc()
		return
	}
	s.d.met.events.WithLabelValues(ev.Service, ev.Kind.String()).Inc()
}

// evidence sets the evidence of the ban it of alert a: that of the event
// being judged when a is its alert (its line is the last of a's
// evidence), a node that never changes, which the ban keeps as it is
// (read without a lock, and made lines only for its report); otherwise
// what the evidence holds for a's source, up to the line that made a
// fire.
func (s sink) evidence(it *banItem, a *phalanx.Alert) {
	if st := s.st; st != nil && st.kept != nil && a.Addr.IsValid() && a.Addr == st.keptFor &&
		len(a.Evidence) > 0 && a.Evidence[len(a.Evidence)-1] == st.kept.line.num {
		it.kept = st.kept
		return
	}
	it.evid = evidenceUpTo(s.d.evid.raw(a.Source, a.Addr), a)
}

// Login: a source that logged in here is not sighted for a while.
func (s sink) Login(addr netip.Addr, _ string, at time.Time) { s.d.sightings.Vouch(addr, at) }

func (s sink) Alert(a *phalanx.Alert) {
	s.d.met.alerts.WithLabelValues(a.Scenario).Inc()
	it := banItem{kind: itemAlert, alert: *a}
	s.d.queueItem(&it)
}

// Decision is self-defense: ban at once, then tell the alliance. The ban
// takes the ID the alliance's decision on the report will have
// (decision.ReportID of the report's sequence), so that neither that
// decision nor a restart renames it. The ban goes to the kernel first
// (enforceQueue.pushFirst), and is handed to banLoop (banqueue.go), which
// numbers its report and applies it, in the order of detection; the
// report is signed, stored and sent by the report writer (writeLoop):
// detection waits for neither the bookkeeping, the disk nor the kernel.
func (s sink) Decision(dec *phalanx.Decision, a *phalanx.Alert) {
	d := s.d
	d.ctr.selfBans.Add(1)
	// The enforcement latency starts now, as the line that decided is
	// being read (within microseconds of its feeding).
	it := banItem{kind: itemBan, alert: *a, dec: *dec, at: d.now(), since: time.Now()}
	s.evidence(&it, a)
	if d.enfq != nil && d.caughtUp.Load() {
		d.enfq.pushFirst(dec) // the kernel first (enforcer_queue.go)
	}
	d.queueItem(&it)
}

func (s sink) Refused(a *phalanx.Alert, err error) {
	s.d.ctr.refused.Add(1)
	it := banItem{kind: itemRefused, alert: *a, reason: err.Error()}
	s.d.queueItem(&it)
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
func (d *Daemon) kickPublisher() { nudge(d.kick) }

// waitWhile waits while cond holds, for max at most, looking again
// whenever wake fires; it returns at once when cond does not hold, and
// when ctx ends.
func waitWhile(ctx context.Context, max time.Duration, wake <-chan struct{}, cond func() bool) {
	if !cond() {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	for cond() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-wake:
		}
	}
}

// tailBehind reports whether a log file's tail has lines it has not fed
// yet: the report writer, banLoop and the enforcement worker wait then.
func (d *Daemon) tailBehind() bool { return d.behind.Load() > 0 }

// nudge wakes the goroutine that waits on ch (a channel of one), unless
// it is woken already; it never blocks, and a nil ch is never woken.
func nudge(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
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
	d.kickPublisher()
}

// flushRecords stores the queued enforcement records.
func (d *Daemon) flushRecords() {
	if d.behind.Load() > 0 {
		return // storing them would write every report waiting before them (writeLoop)
	}
	d.recMu.Lock()
	rs := d.records
	d.records = nil
	d.recMu.Unlock()
	if len(rs) > 0 {
		d.store(rs)
	}
}

// store numbers, signs and stores rs in the outbox, durably, before it
// returns (with whatever else waits to be written), then sends each on
// the fast path. It sets Seq and Member in rs; the signed copies are what
// is written.
func (d *Daemon) store(rs []report.Report) { d.storeThen(rs, nil) }

// storeThen is store that calls numbered, when not nil, with rs once they
// are numbered, before they are signed, written (and fsynced) and sent: a
// self-defense ban named after its report's sequence is in force before
// the report is. numbered runs while the outbox's numbering is held, so
// it must not store reports itself.
func (d *Daemon) storeThen(rs []report.Report, numbered func([]report.Report)) {
	if len(rs) == 0 {
		return
	}
	d.number(rs, numbered)
	d.writeReports(rs[len(rs)-1].Seq)
}

// reportWriter writes numbered reports to the outbox in sequence order,
// many per write (one fsync): self-defense numbers its report, bans and
// goes on, and a flood of bans costs an fsync per batch, not per ban.
// Until a report is written it counts in Daemon.inflight, so the tail
// positions do not move past its lines: after a crash they are read, and
// banned, again.
type reportWriter struct {
	mu sync.Mutex // one writer at a time: appends in sequence order
	// pend holds the reports numbered and waiting to be signed and
	// written, in chunks of at most writeBatch (a flood's backlog is never
	// copied to grow it); npend counts them. Both under Daemon.outMu.
	pend  [][]report.Report
	npend int
	wake  chan struct{}
	// records paces the enforcement records of self-defense bans at the
	// charter's report rate: past it the members rate-limit the bans'
	// alerts, hold no decision to attach a record to, and a flood would
	// cost a signature, a stored report and a verification per ban for
	// nothing. Alliance decisions come at the alliance's rate and always
	// get theirs.
	records pace
	signed  signedByMe // what was written, until it comes back (ownsigned.go)
}

// pace is a token bucket of perMinute tokens a minute, as many at most.
type pace struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take takes a token at now if there is one.
func (p *pace) take(now time.Time, perMinute int) bool {
	if perMinute <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last.IsZero() {
		p.tokens = float64(perMinute)
	} else if dt := now.Sub(p.last); dt > 0 {
		p.tokens = min(float64(perMinute), p.tokens+dt.Minutes()*float64(perMinute))
	}
	p.last = now
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}

// writeBatch is the most reports one outbox write takes; maxUnwritten is
// how many may wait for the writer (about 1 KB each, evidence included, so
// about 128 MB at most) before whoever numbers more writes a batch itself:
// enough for a flood of 100,000 bans to be detected before its reports are
// signed (writeLoop).
const (
	writeBatch   = 1024
	maxUnwritten = 1 << 17
)

// number gives rs this member's next sequence numbers, calls numbered
// (when not nil) with them, and queues them for writeReports.
func (d *Daemon) number(rs []report.Report, numbered func([]report.Report)) {
	d.outMu.Lock()
	for i := range rs {
		rs[i].Seq = d.nextSq.Add(1)
		rs[i].Member = d.id.ID
	}
	if numbered != nil {
		numbered(rs)
	}
	w := &d.outw
	for _, r := range rs {
		if n := len(w.pend); n == 0 || len(w.pend[n-1]) == writeBatch {
			w.pend = append(w.pend, nil)
		}
		last := &w.pend[len(w.pend)-1]
		*last = append(*last, r)
	}
	w.npend += len(rs)
	d.inflight.Add(int64(len(rs)))
	var oldest uint64 // when too many wait: the last of the oldest batch
	if w.npend >= maxUnwritten {
		first := w.pend[0]
		oldest = first[len(first)-1].Seq
	}
	d.outMu.Unlock()
	if oldest != 0 {
		d.writeReports(oldest) // the writer is behind: help it, a batch at a time
	}
}

// wakeWriter wakes writeLoop.
func (d *Daemon) wakeWriter() { nudge(d.outw.wake) }

// maxWriteDelay is how long the report writer waits, at most, while a log
// file's tail is behind (see writeLoop).
const maxWriteDelay = 10 * time.Second

// writeLoop writes the queued reports whenever woken, until ctx ends.
//
// While a tail has lines it has not fed yet (a flood appended at once), the
// writer waits until it has caught up, for maxWriteDelay at most: signing,
// storing and publishing a flood's reports would take most of the CPU the
// pipeline needs to reach the attacker whose lines come after the flood.
// The bans are in force meanwhile (self-defense does not wait for its
// report), and the tail positions do not pass an unwritten report's lines.
func (d *Daemon) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			d.drainBans() // bans decided before the stop are numbered first
			d.writeReports(math.MaxUint64)
			return
		case <-d.outw.wake:
		}
		waitWhile(ctx, maxWriteDelay, d.outw.wake, d.tailBehind)
		d.writeReports(math.MaxUint64)
	}
}

// writeReports signs, writes and sends the queued reports, in batches,
// until every report numbered up to seq is written.
func (d *Daemon) writeReports(seq uint64) {
	w := &d.outw
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		d.outMu.Lock()
		if len(w.pend) == 0 || w.pend[0][0].Seq > seq {
			d.outMu.Unlock()
			return
		}
		rs := w.pend[0]
		w.pend[0] = nil
		w.pend = w.pend[1:]
		w.npend -= len(rs)
		d.outMu.Unlock()
		d.write(rs)
	}
}

// write signs and stores rs (numbered, in sequence order) with one write
// per run of consecutive numbers, then sends each on the fast path. What
// the outbox cannot store (a full or failing disk) is kept in memory and
// published from there: it then survives a fabric outage but not a crash.
func (d *Daemon) write(rs []report.Report) {
	recs := make([]outbox.Record, len(rs))
	for i := range rs {
		rs[i].Sign(d.id)
		recs[i] = outbox.Record{Seq: rs[i].Seq, Time: rs[i].Time, Data: report.Marshal(&rs[i])}
		d.outw.signed.add(recs[i].Seq, recs[i].Data)
	}
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && recs[end].Seq == recs[end-1].Seq+1 {
			end++ // the outbox takes a batch of consecutive numbers
		}
		run := recs[start:end]
		if err := d.ob.AppendBatch(run); err != nil {
			d.outMu.Lock()
			for _, rec := range run {
				d.unsaved = append(d.unsaved, rec.Data)
			}
			d.outMu.Unlock()
			d.ctr.publishErr.Add(int64(len(run)))
			for _, rec := range run {
				d.log.Error("store a report in the outbox (keeping it in memory until published)", "seq", rec.Seq, "err", err)
			}
		} else {
			d.inflight.Add(-int64(len(run)))
		}
		start = end
	}
	d.kickPublisher()
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
		d.snap.sawStream(m) // snapshot.go: the message a snapshot's position names
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
	fast := m.Seq == 0 && strings.HasPrefix(m.Subject, fabric.FastPrefix)
	if !d.seen.add(id) || fast && d.strangers.has(id) {
		d.ctr.duplicate.Add(1)
		return
	}
	d.ctr.consumed.Add(1)
	received := m.Time
	if received.IsZero() {
		received = d.now()
	}
	now := d.now()
	var out arbiter.Outcome
	if r.Member == d.id.ID && d.outw.signed.take(r.Seq, m.Data) {
		out = d.arb.ApplySigned(&r, received, now) // the very bytes this member signed
	} else {
		out = d.arb.Apply(&r, received, now)
	}
	d.met.verdicts.WithLabelValues(out.Verdict.String()).Inc()
	d.drep.note(&r, out) // digestrepair.go: the reports behind each ban
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
	if out.Verdict == arbiter.Rejected && out.Reason == arbiter.ReasonUnknownMember && m.Seq == 0 {
		// Perhaps a new member whose admission this member has not seen
		// yet: judge the stream's (or a repair's) copy again when it
		// comes, but no other copy of the fast path's (a route dialed
		// again can deliver one twice): each path's copy is judged once.
		d.seen.forget(id)
		if fast {
			d.strangers.add(id)
		}
	}
	switch out.Verdict {
	case arbiter.Decided:
		// Named after the deciding report, the same on every member and
		// across restarts (and the same as the author's self-defense ban).
		out.Decision.ID = decision.ReportID(r.Member, r.Seq, 0)
		if out.Decision.Until.After(now) {
			d.timeline.add(r.Value, entry{Time: r.Time, What: "report", Member: r.Member, Scenario: r.Scenario,
				ReportID: id, Evidence: r.Evidence, Detail: r.Reason})
			// A report the fabric received after this member started (on
			// the fast path, or stored since) is news, not history, even
			// while the stream is replayed or unavailable.
			news := received.After(d.start)
			tell := notice{fresh: news}
			if r.Member != d.id.ID {
				tell = notice{path: "alliance", since: r.Time, fresh: news}
			}
			d.applyDecision(out.Decision, entry{Time: out.Decision.Start, What: "decision",
				Origin: string(out.Decision.Origin), Scenario: out.Decision.Scenario, Member: r.Member}, tell)
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
// changed on to the journal (one record) and the enforcement queue. It
// returns what the table holds for each added decision (the decision
// already there when it ends as late or later) and whether the table
// changed. Past daemon.max_decisions, the oldest self-defense decisions
// give way (decisionCap). what names the change in the cap's warning.
func (d *Daemon) apply(add []phalanx.Decision, remove []uint64, what string) (stored []phalanx.Decision, changed bool) {
	if n := len(add) + len(remove); n >= bulkChanges && d.enfq != nil {
		d.enfq.room(n) // a bulk load waits for the kernel; detection never does
	}
	stored, changed, _ = d.applyWith(add, remove, what, applyOpts{})
	return stored, changed
}

// bulkChanges is how many changes make a call of apply a bulk load (a
// feed's or an import's chunk, a pardon of a range), which waits for room
// in the enforcement queue.
const bulkChanges = 64

// applyOpts are what applyDecision adds to apply.
type applyOpts struct {
	// tell, when not nil, makes the enforcement queue tell of each added
	// ban once the kernel holds it (see enforceNote).
	tell *notice
	// then, when not nil, runs once the table has changed, before the
	// changes are queued for the kernel: whatever it records comes before
	// what the queue tells.
	then func(stored []phalanx.Decision, changed bool)
	// each, when not nil, is then for a batch of decisions (banqueue.go):
	// it runs at the same point for each decision of add, in order, with
	// whether that decision changed the table.
	each func(i int, stored phalanx.Decision, changed bool)
	// tellOf, when not nil, is tell for each added ban, by its ID: a
	// batch's bans were read at different times.
	tellOf func(id uint64) notice
}

// notice is how to tell of a ban once the kernel holds it: the enforcement
// latency metric's label ("" for none) and where that latency starts.
// fresh marks a decision that is news (self-defense, or on a report the
// fabric received after this member started): it is told even before the
// member has reconciled with the stream (while the stream is unavailable,
// or replayed), when other decisions are history.
type notice struct {
	path  string
	since time.Time
	fresh bool
}

// applyWith is apply with o; untold are the added bans to tell of now: all
// of them when there is no enforcement queue, those whose notice the
// queue could not keep otherwise (only when o.tell is set and the member
// has reconciled, or the decision is fresh).
func (d *Daemon) applyWith(add []phalanx.Decision, remove []uint64, what string, o applyOpts) (stored []phalanx.Decision, changed bool, untold []enforceNote) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Sized once: feeds and imports pass thousands at a time.
	stored = make([]phalanx.Decision, 0, len(add))
	added := make([]phalanx.Decision, 0, len(add))
	var deleted []phalanx.Decision
	// restated: added bans that replace a ban of the same ID and value
	// (the decision on a member's own report, after its self-defense
	// ban): enforced again, not told again.
	var restated map[uint64]bool
	var addChanged []bool // by index in add, when o.each is set
	if o.each != nil {
		addChanged = make([]bool, len(add))
	}
	for _, id := range remove {
		if x, ok := d.table.Delete(id); ok {
			deleted = append(deleted, x)
		}
	}
	for i, x := range add {
		before := d.table.Len()
		st, replaced := d.table.Add(x)
		stored = append(stored, st)
		if addChanged != nil {
			addChanged[i] = replaced != nil || d.table.Len() != before
		}
		if replaced != nil {
			deleted = append(deleted, *replaced)
			if replaced.ID == st.ID && replaced.Value == st.Value {
				if restated == nil {
					restated = map[uint64]bool{}
				}
				restated[st.ID] = true
			}
		} else if d.table.Len() == before {
			continue // nothing changed
		}
		added = append(added, st)
	}
	added, deleted = d.dcap.enforce(d, added, deleted, what)
	changed = len(added) > 0 || len(deleted) > 0
	if o.then != nil {
		o.then(stored, changed)
	}
	for i := range addChanged {
		o.each(i, stored[i], addChanged[i] && changed)
	}
	if !changed {
		return stored, false, nil
	}
	d.jour.Record(added, deleted)
	d.decisionsChanged(added, deleted) // the console's index (console.go)
	var notes []enforceNote
	if o.tell != nil && (d.reconciled.Load() || o.tell.fresh) {
		notes = make([]enforceNote, 0, len(added))
		for _, x := range added {
			if !restated[x.ID] {
				notes = append(notes, enforceNote{dec: x, path: o.tell.path, since: o.tell.since})
			}
		}
	} else if o.tellOf != nil {
		notes = make([]enforceNote, 0, len(added))
		for _, x := range added {
			if t := o.tellOf(x.ID); !restated[x.ID] && (d.reconciled.Load() || t.fresh) {
				notes = append(notes, enforceNote{dec: x, path: t.path, since: t.since})
			}
		}
	}
	if d.enfq == nil || !d.caughtUp.Load() {
		return stored, true, notes
	}
	return stored, true, d.enfq.push(added, deleted, notes)
}

// applyDecision stores one decision, records decided (its timeline entry,
// with the table's ID) and queues it for the kernel. Once the member has
// replayed the stream (not while it replays), a ban that changed the table
// is told, once the kernel holds it (or at once, by the API alone, when
// nftables is off): the "ban" log line, the timeline's "enforced" entry,
// the enforcement record for the other members, the latency metric (tell's
// path, when set).
func (d *Daemon) applyDecision(dec phalanx.Decision, decided entry, tell notice) (stored phalanx.Decision, changed bool) {
	var untold []enforceNote
	_, changed, untold = d.applyWith([]phalanx.Decision{dec}, nil, "decision", applyOpts{tell: &tell, then: func(all []phalanx.Decision, changed bool) {
		stored = all[0]
		decided.Until, decided.DecisionID = dec.Until, stored.ID
		d.decidedEntry(dec.Value, decided, stored, changed)
	}})
	d.tellQueued(untold)
	return stored, changed
}

// decidedEntry adds a decision's timeline entry (with the table's id and
// end), then, when the table changed, what enforced it meanwhile.
func (d *Daemon) decidedEntry(v netip.Prefix, decided entry, stored phalanx.Decision, changed bool) {
	d.timeline.add(v, decided)
	if changed {
		for _, e := range d.held.take(stored.Value) {
			d.timeline.add(stored.Value, e)
		}
	}
}

// tellQueued tells untold with the layer that enforces a ban now: the
// enforcement queue's, or the API's when nftables is off.
func (d *Daemon) tellQueued(untold []enforceNote) {
	layer := layerAPI
	if d.enfq != nil {
		layer = layerQueued
	}
	d.tell(untold, layer)
}

// tell says of bans that layer enforces them (see applyDecision); a ban
// still queued for the kernel gets its log line only.
func (d *Daemon) tell(notes []enforceNote, layer string) {
	if len(notes) == 0 {
		return
	}
	now := d.now()
	for i := range notes {
		x := &notes[i].dec
		// Typed attributes: the same line as with d.log.Info, without
		// formatting the origin by reflection (100,000 lines in a flood).
		d.log.LogAttrs(context.Background(), slog.LevelInfo, "ban", slog.String("value", x.Value.String()),
			slog.Duration("duration", x.Until.Sub(now).Round(time.Second)), slog.String("scenario", x.Scenario),
			slog.String("origin", string(x.Origin)), slog.String("enforced", layer), slog.String("reason", x.Reason))
		if layer == layerQueued {
			continue
		}
		d.timeline.add(x.Value, entry{Time: now, What: "enforced", Member: d.id.ID, Detail: layer, DecisionID: x.ID})
		if x.Origin != phalanx.OriginSelf || d.outw.records.take(now, d.charter().c.Limits.ReportsPerMinute) {
			d.enqueueRecord(report.Report{Type: report.TypeEnforced, Time: now.UTC(), Scenario: layer, Value: x.Value,
				Reason: string(x.Origin) + " ban until " + x.Until.UTC().Format(time.RFC3339)})
		}
		if n := &notes[i]; n.path != "" && !n.since.IsZero() {
			at := n.at
			if at.IsZero() {
				at = time.Now()
			}
			d.met.enforce.WithLabelValues(n.path).Observe(at.Sub(n.since).Seconds())
		}
	}
}

// Layers named in enforcement records.
const (
	layerNftables = "nftables" // the kernel drops the address
	layerAPI      = "api"      // served to bouncers and forward-auth only (nftables off)
)

// pardon lifts the bans on p and on every range or address inside it,
// self-defense bans decided before it and still waiting for banLoop
// (banqueue.go) included.
func (d *Daemon) pardon(p netip.Prefix) {
	d.drainBans()
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
				d.decisionsChanged(nil, gone)
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
	d.applyDecision(dec, entry{Time: dec.Start, What: "decision", Origin: string(dec.Origin),
		Scenario: dec.Scenario, Detail: where}, notice{path: "fleet", since: dec.Start})
	d.log.Info("fleet ban", "value", dec.Value, "scenario", dec.Scenario, "members", len(fb.Contributions), "stream_position", pos)
}

// decisionCap bounds the decision table (daemon.max_decisions): past it,
// the oldest self-defense decisions give way, in the order they were
// added. Alliance, manual and feed decisions never do; when none of this
// member's own is left to drop, a new one is not kept. A flood of
// attackers in the member's own logs thus costs bounded memory, while what
// the alliance and the operators decided stays.
type decisionCap struct {
	max      int
	dropped  atomic.Int64
	mu       sync.Mutex
	warned   time.Time // when the last warning was logged
	unwarned int64     // dropped since then
}

// defaultMaxDecisions is daemon.max_decisions when the configuration says 0.
const defaultMaxDecisions = 1_000_000

// enforce drops the oldest self-defense decisions while the table holds
// more than c.max, from the table and from what the caller passes on:
// added and deleted are what the caller changed; the dropped ones join
// deleted, or leave added when the caller has just added them. The caller
// holds d.mu.
func (c *decisionCap) enforce(d *Daemon, added, deleted []phalanx.Decision, what string) ([]phalanx.Decision, []phalanx.Decision) {
	over := d.table.Len() - c.max
	if c.max <= 0 || over <= 0 {
		return added, deleted
	}
	victims := d.table.Oldest(phalanx.OriginSelf, over)
	if len(victims) == 0 {
		return added, deleted
	}
	justAdded := make(map[uint64]bool, len(added))
	for _, a := range added {
		justAdded[a.ID] = true
	}
	fresh := map[uint64]bool{}
	n := 0
	for _, x := range victims {
		if _, ok := d.table.Delete(x.ID); !ok {
			continue
		}
		n++
		if justAdded[x.ID] {
			fresh[x.ID] = true // neither journaled nor enforced yet: just not kept
			continue
		}
		deleted = append(deleted, x)
	}
	if len(fresh) > 0 {
		added = slices.DeleteFunc(added, func(a phalanx.Decision) bool { return fresh[a.ID] })
	}
	if n == 0 {
		return added, deleted
	}
	c.dropped.Add(int64(n))
	c.mu.Lock()
	c.unwarned += int64(n)
	now := time.Now()
	if now.Sub(c.warned) < time.Minute {
		c.mu.Unlock()
		return added, deleted
	}
	since := c.unwarned
	c.warned, c.unwarned = now, 0
	c.mu.Unlock()
	d.log.Warn("the decision table is full (daemon.max_decisions): dropped the oldest self-defense decisions to make room; alliance, manual and feed decisions are never dropped (raise daemon.max_decisions if memory allows; further drops are counted and logged at most once a minute)",
		"max_decisions", c.max, "dropped", since, "dropped_total", c.dropped.Load(), "while_adding", what)
	return added, deleted
}
