package daemon

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/report"
)

// Detection hands its self-defense bans over, and goes on reading. The
// pipeline's goroutine only decides: a ban's bookkeeping (its report
// numbered and queued, the decision table, the bouncer API's journal,
// the console, the timeline, the enforcement queue) is done by another
// goroutine, banLoop, in batches, in the order the bans were decided (the
// timeline entries of alerts and refusals go the same way, to keep each
// value's history in order). In a flood of new sources that bookkeeping
// costs as much as reading the lines, and an attacker whose lines come
// after the flood waited for both.
//
// While a log file's tail is behind (a flood appended at once), banLoop
// waits until it has caught up, as the report writer does (writeLoop),
// for maxBanHold at most and while the queue holds fewer than holdBelow
// items: the bookkeeping would take half the CPU the pipeline needs to
// reach the attacker whose lines come after the flood. The kernel does
// not wait: detection hands each ban to the enforcement queue first
// (enforcer_queue.go). The bouncer API and forward-auth see a flood's
// bans once the tail has caught up.
//
// Nothing is lost on the way: a ban waiting in the queue counts in
// Daemon.inflight, so the tail positions do not pass its lines until its
// report is written; the pipeline sees it as in force (pending, then in
// the table: see isPending), so it is not decided twice; and the queue is
// bounded (maxQueuedBans): when it is
// full the pipeline's goroutine applies what waits itself. The writer
// drains it before its last write when the daemon stops.

// maxQueuedBans is how many items (bans, alerts, refusals) may wait for
// banLoop before the pipeline's goroutine applies them itself (about 1 KB
// a ban, evidence included); banChunk is how many one chunk of the queue
// holds (the queue grows by chunks: a flood's backlog is never copied).
const (
	maxQueuedBans = 1 << 18
	banChunk      = 1024
)

// holdBelow and maxBanHold bound banLoop's waiting while a tail is behind
// (see the top of this file): an eighth of the queue is left for what
// comes while the bookkeeping catches up.
const (
	holdBelow  = maxQueuedBans / 8 * 7
	maxBanHold = 10 * time.Second
)

// Kinds of banItem.
const (
	itemAlert   = iota // an alert's timeline entry
	itemRefused        // a refusal's timeline entry
	itemBan            // a self-defense ban
)

// banItem is what the pipeline handed over, in order: a self-defense
// decision, or the timeline entry of an alert or a refusal.
type banItem struct {
	kind   uint8
	alerts bool             // itemBan: it carries its alert's timeline entry too (see push)
	alert  phalanx.Alert    // without its Evidence (line numbers)
	dec    phalanx.Decision // itemBan
	reason string           // itemRefused
	at     time.Time        // itemBan: when it was decided (the report's time)
	since  time.Time        // itemBan: when the line that decided it was read; zero for none
	// itemBan: the alert's evidence, as read: the node that ends it (the
	// event's: see sink.evidence), which never changes, else the lines.
	kept *evNode
	evid []evLine
}

// evidence returns the evidence of the ban it.
func (it *banItem) evidence() []evLine {
	if it.kept != nil {
		return it.kept.lines()
	}
	return it.evid
}

// banQueue holds the bans decided and not yet applied; see the top of
// this file.
type banQueue struct {
	run sync.Mutex // held while applying: one batch at a time, in order

	mu      sync.Mutex
	chunks  [][]banItem          // in order; each of at most banChunk
	n       int                  // items in chunks
	spare   [][]banItem          // emptied chunks, kept for reuse (a few)
	pending map[netip.Prefix]int // alert groups with a ban waiting here
	wake    chan struct{}

	queued, helped, batches atomic.Int64
	waiting                 atomic.Int64
	holding                 atomic.Bool // banLoop waits for a tail (see holdBans): push need not wake it
}

func (q *banQueue) init() {
	q.wake = make(chan struct{}, 1)
	q.pending = map[netip.Prefix]int{}
}

// push queues it; full says the queue is full, and the caller is to drain
// it. A ban whose alert's timeline entry was the last item queued takes
// that item's place and carries the entry (alerts): a flood's bans are one
// item each, not two.
func (q *banQueue) push(it *banItem) (full bool) {
	q.mu.Lock()
	if it.kind == itemBan && q.replaceAlert(it) {
		q.pending[it.alert.Source]++
		q.queued.Add(1)
		n := q.n
		q.mu.Unlock()
		return n >= maxQueuedBans
	}
	if k := len(q.chunks); k == 0 || len(q.chunks[k-1]) == banChunk {
		var c []banItem
		if m := len(q.spare); m > 0 {
			c, q.spare = q.spare[m-1], q.spare[:m-1]
		} else {
			c = make([]banItem, 0, banChunk)
		}
		q.chunks = append(q.chunks, c)
	}
	last := &q.chunks[len(q.chunks)-1]
	*last = append(*last, *it)
	if it.kind == itemBan {
		q.pending[it.alert.Source]++
		q.queued.Add(1)
	}
	q.n++
	n := q.n
	q.waiting.Store(int64(n))
	q.mu.Unlock()
	if !q.holding.Load() || n >= holdBelow {
		nudge(q.wake)
	}
	return n >= maxQueuedBans
}

// replaceAlert puts the ban it in place of the last item queued when that
// is the timeline entry of its alert (the pipeline tells of an alert, then
// of the decision on it); the caller holds q.mu.
func (q *banQueue) replaceAlert(it *banItem) bool {
	k := len(q.chunks)
	if k == 0 || len(q.chunks[k-1]) == 0 {
		return false
	}
	last := &q.chunks[k-1][len(q.chunks[k-1])-1]
	if last.kind != itemAlert || last.alert.Source != it.alert.Source || last.alert.Scenario != it.alert.Scenario ||
		last.alert.Addr != it.alert.Addr || !last.alert.Last.Equal(it.alert.Last) || last.alert.Count != it.alert.Count {
		return false
	}
	*last = *it
	last.alerts = true
	return true
}

// isPending reports whether a ban on the alert group v waits here. A ban
// leaves the queue only once it is in the decision table: ask this first,
// then the table, and a ban is never in neither.
func (q *banQueue) isPending(v netip.Prefix) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending[v] > 0
}

// queueItem hands it over to banLoop; when the queue is full, it applies
// what waits first. Without a queue (a daemon not started) it applies it
// at once.
func (d *Daemon) queueItem(it *banItem) {
	it.alert.Evidence = nil // the pipeline's line numbers; a ban carries its lines in kept or evid
	if it.kind == itemBan {
		d.inflight.Add(1) // until its report is numbered (and counted there)
	}
	if d.bans.wake == nil {
		d.applyBans([]banItem{*it})
		return
	}
	if d.bans.push(it) {
		d.bans.helped.Add(1)
		d.drainBans()
	}
}

// drainBans applies every item waiting, in order.
func (d *Daemon) drainBans() { d.bans.drain(d.applyBans) }

// drain calls apply with every item waiting, a chunk at a time, in order;
// a ban stays pending until apply has returned.
func (q *banQueue) drain(apply func([]banItem)) {
	q.run.Lock()
	defer q.run.Unlock()
	for {
		q.mu.Lock()
		if len(q.chunks) == 0 {
			q.mu.Unlock()
			return
		}
		items := q.chunks[0]
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		q.n -= len(items)
		q.mu.Unlock()
		q.batches.Add(1)
		apply(items)
		q.mu.Lock()
		for i := range items {
			if it := &items[i]; it.kind == itemBan {
				if q.pending[it.alert.Source]--; q.pending[it.alert.Source] <= 0 {
					delete(q.pending, it.alert.Source)
				}
			}
		}
		if len(q.pending) == 0 && q.n == 0 {
			q.pending = map[netip.Prefix]int{} // a flood's map shrinks
		}
		if cap(items) == banChunk && len(q.spare) < 4 {
			clear(items) // drop references to strings
			q.spare = append(q.spare, items[:0])
		}
		q.waiting.Store(int64(q.n))
		q.mu.Unlock()
	}
}

// banLoop applies the queued items whenever woken, until ctx ends; the
// report writer drains the queue once more before its last write. While
// a tail is behind it waits (see the top of this file).
func (d *Daemon) banLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			d.drainBans()
			return
		case <-d.bans.wake:
		}
		if d.holdBans() {
			// Woken by the tail that catches up, or by a push that
			// reaches holdBelow: a push need not wake it meanwhile
			// (a wake a ban costs detection more than it gains).
			d.bans.holding.Store(true)
			waitWhile(ctx, maxBanHold, d.bans.wake, d.holdBans)
			d.bans.holding.Store(false)
		}
		d.drainBans()
	}
}

// holdBans reports whether banLoop is to wait: a tail is behind and the
// queue has room.
func (d *Daemon) holdBans() bool {
	return d.tailBehind() && d.bans.waiting.Load() < holdBelow
}

// caughtUpTail is called by a tail that has fed every line it found: it
// no longer counts as behind, and the report writer, banLoop and the
// enforcement worker, which wait while one is, are woken.
func (d *Daemon) caughtUpTail() {
	d.behind.Add(-1)
	d.wakeWriter()
	d.wakeBans()
	if d.enfq != nil {
		d.enfq.kick() // it gathers while a tail is behind
	}
}

// wakeBans wakes banLoop.
func (d *Daemon) wakeBans() { nudge(d.bans.wake) }

// applyBans does, in order, what the pipeline handed over: alerts' and
// refusals' timeline entries, and bans: their reports numbered (and
// queued for the writer) and their decisions applied under the reports'
// IDs, many at a time. An entry for a value whose ban waits in the batch
// applies the batch first, so that each value's history keeps its order.
func (d *Daemon) applyBans(items []banItem) {
	var batch []*banItem
	var inBatch map[netip.Prefix]bool
	for i := range items {
		it := &items[i]
		if it.kind != itemBan || it.alerts {
			if inBatch[it.alert.Source] {
				d.applyBanBatch(batch)
				batch, inBatch = batch[:0], nil
			}
			a := &it.alert
			e := entry{Time: a.Last, What: "alert", Scenario: a.Scenario, Member: d.id.ID, Detail: itoa(a.Count) + " events"}
			if it.kind == itemRefused {
				e.What, e.Detail = "refused", it.reason
			}
			d.timeline.add(a.Source, e)
		}
		if it.kind == itemBan {
			if inBatch == nil {
				inBatch = map[netip.Prefix]bool{}
			}
			batch = append(batch, it)
			inBatch[it.alert.Source] = true
		}
	}
	d.applyBanBatch(batch)
	d.wakeWriter()
}

// applyBanBatch numbers the reports of bans, and applies their decisions
// under the reports' IDs.
func (d *Daemon) applyBanBatch(bans []*banItem) {
	if len(bans) == 0 {
		return
	}
	rs := make([]report.Report, len(bans))
	for i, it := range bans {
		a := &it.alert
		rs[i] = report.Report{Type: report.TypeAlert, Time: it.at.UTC(), Scenario: a.Scenario, Value: it.dec.Value,
			First: a.First, Last: a.Last, Count: a.Count, Reason: it.dec.Reason, Evidence: evidenceReport(it.evidence())}
	}
	d.number(rs, func(rs []report.Report) {
		decs := make([]phalanx.Decision, len(bans))
		tells := make(map[uint64]notice, len(bans))
		for i, it := range bans {
			decs[i] = it.dec
			decs[i].ID = decision.ReportID(d.id.ID, rs[i].Seq, 0)
			t := notice{since: it.since, fresh: true}
			if !t.since.IsZero() {
				t.path = "self"
			}
			tells[decs[i].ID] = t
		}
		var kept []phalanx.Decision // bans the table had already: the kernel is to hold them as the table does
		_, _, untold := d.applyWith(decs, nil, "decision", applyOpts{
			tellOf: func(id uint64) notice { return tells[id] },
			each: func(i int, stored phalanx.Decision, changed bool) {
				dec := &decs[i]
				d.decidedEntry(dec.Value, entry{Time: dec.Start, What: "decision", Origin: string(dec.Origin),
					Scenario: dec.Scenario, Member: d.id.ID, Until: dec.Until, DecisionID: stored.ID}, stored, changed)
				if !changed && stored.Value == dec.Value && stored.Until != dec.Until {
					kept = append(kept, stored)
				}
			}})
		d.tellQueued(untold)
		if len(kept) > 0 && d.enfq != nil && d.caughtUp.Load() {
			d.enfq.push(kept, nil, nil) // its first add (pushFirst) set the detected ban's end
		}
	})
	d.inflight.Add(-int64(len(bans))) // number counts them now
}

// counts are the queue's counters, for the status: bans queued, items
// waiting, batches applied, and how often the queue was full (the
// pipeline's goroutine then applied them itself).
func (q *banQueue) counts() map[string]int64 {
	return map[string]int64{"queued": q.queued.Load(), "waiting": q.waiting.Load(),
		"batches": q.batches.Load(), "full": q.helped.Load()}
}
