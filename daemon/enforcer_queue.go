package daemon

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phalanx"
	"phalanx/config"
)

// Enforcement never blocks detection: a change to the decision table is in
// force for the bouncer API and forward-auth the moment it is made, and
// goes to the kernel through enforceQueue. The log pipeline and the
// arbiter only queue; one worker drains the queue into the enforcer,
// coalescing what waits (the last change to a value wins) into
// transactions of at most enforceBatch elements. A queue that fills up
// (the kernel is slower than a flood) neither blocks nor loses: it is
// dropped and marked dirty, and the worker reconciles the kernel's sets
// with the table, as the daemon does at start. Bulk loads (feeds,
// imports) are not detection: they wait for room instead (see room), so
// that a million feed entries go in as transactions of thousands, not as
// reloads of the whole table.
//
// A ban is told (the "ban … enforced=nftables" log line, the "enforced"
// timeline entry and enforcement record, the latency metric) once the
// kernel holds it, by the worker; a ban whose notice cannot be kept (the
// queue overflowed past enforceQueueLimit notices) is told at once, as
// enforced=queued.
//
// Self-defense goes first: detection hands each ban it decides to the
// queue at once (first), before its bookkeeping (banqueue.go), which may
// wait while a flood is being read. Those adds wait apart from the other
// changes and each step applies them before the others, so that an
// attacker is dropped within milliseconds of its deciding line even while
// the worker works through a flood's bookkeeping. The table has not got
// such a ban yet; its bookkeeping changes the table and queues the ban
// again, with its notice, as every change is queued. The kernel holds it
// meanwhile: the latency metric counts from the deciding line to that
// first add (firstAt), and the bookkeeping's add, when it ends at the same
// time, is not applied again: its notice is told as the kernel has it. A
// reconcile before the table has it (an overflow, a failed call) drops it
// from the kernel until the bookkeeping queues it again. While a log
// file's tail is behind (busy), the worker gathers what comes for up to
// firstGather before it applies it: a transaction a ban would cost a
// flood more than it gains.

const (
	// enforceQueueLimit is how many values may wait for the kernel before
	// the queue overflows into a reconcile.
	enforceQueueLimit = 65536
	// enforceBatch is the most elements one enforcer call carries: a
	// transaction of a few thousand takes the kernel milliseconds.
	enforceBatch = 4096
	// enforceRetry is how long the worker waits after a failed enforcer
	// call before it reconciles.
	enforceRetry = time.Second
	// firstGather is how long the worker gathers changes, at most, while
	// a tail is behind (see the top of this file).
	firstGather = 10 * time.Millisecond
	// stepValues is how many queued changes one step of the worker takes
	// at most: a step's notices cost more than its transactions, and
	// first adds wait for the step before them.
	stepValues = 2048
)

// layerQueued names, in a ban's log line, a ban waiting for the kernel.
const layerQueued = "queued"

// enforceNote is a ban to tell once the kernel holds it.
type enforceNote struct {
	dec   phalanx.Decision // as stored
	path  string           // label of the enforcement latency metric; "" for none
	since time.Time        // where that latency starts
	at    time.Time        // where it ends, when the kernel had the ban before its notice (first); zero: when told
}

// firstTook is a first add the kernel took: when, and the end of the ban
// it holds.
type firstTook struct{ at, until time.Time }

// enforceOp is the latest change queued for one value: an add of dec (its
// Type, Value and Until are what the enforcer uses), or a removal.
type enforceOp struct {
	add bool
	dec phalanx.Decision
}

// enforceHooks are what the queue needs from the daemon.
type enforceHooks struct {
	// snapshot returns the decisions in force now, for a reconcile.
	snapshot func(now time.Time) []phalanx.Decision
	// told tells of bans: layer is layerNftables once the kernel holds
	// them, layerQueued for notices the queue could not keep.
	told func(notes []enforceNote, layer string)
	// restored reports a restore of the enforcer's table after an outside
	// change, with how many bans it reloaded.
	restored func(bans int, took time.Duration)
	// failed reports a failed enforcer call; suppressed is -1 when it is
	// not to be logged, otherwise how many failures were not logged since
	// the last one that was.
	failed func(what string, err error, suppressed int64)
}

// enforceQueue holds the changes waiting for the kernel; see the top of
// this file.
type enforceQueue struct {
	enf   Enforcer
	hooks enforceHooks
	now   func() time.Time
	limit int // values waiting at most, and notices kept at most
	batch int // elements per enforcer call at most

	// run is held by the worker from taking what waits until the enforcer
	// has it, and by reconcile: a reconcile never interleaves with the
	// application of changes older than its snapshot.
	run sync.Mutex

	mu      sync.Mutex
	ops     map[netip.Prefix]enforceOp
	first   map[netip.Prefix]enforceOp // self-defense adds from detection, applied before ops
	spare   map[netip.Prefix]enforceOp // the last step's first, emptied: the next step's (grown already)
	busy    func() bool                // a log file's tail is behind: gather (nil: never)
	gathers atomic.Bool                // the worker gathers: a push need not wake it
	notes   []enforceNote
	dirty   bool // the queue overflowed or an enforcer call failed: reconcile
	restore bool // part of the enforcer's table may be gone: restore it
	wake    chan struct{}
	took    chan struct{} // closed (and replaced) whenever the worker takes what waits

	// firstMu guards firstAt, apart from mu, so that detection queues
	// first adds (pushFirst) while the worker records those it applied;
	// taken after mu when both are.
	firstMu sync.Mutex
	firstAt map[netip.Prefix]firstTook // what the kernel took of the first adds, until their notice comes

	queued, coalesced, overflowed, overflows atomic.Int64
	batches, elements, reconciles, failures  atomic.Int64
	waiting                                  atomic.Int64 // values in ops
	failing                                  atomic.Bool  // the last enforcer call failed
	lastFailLog                              atomic.Int64 // unix nanoseconds of the last failure logged
	suppressedFails                          atomic.Int64
}

func newEnforceQueue(enf Enforcer, hooks enforceHooks, now func() time.Time) *enforceQueue {
	return &enforceQueue{enf: enf, hooks: hooks, now: now, limit: enforceQueueLimit, batch: enforceBatch,
		ops: map[netip.Prefix]enforceOp{}, first: map[netip.Prefix]enforceOp{}, firstAt: map[netip.Prefix]firstTook{},
		wake: make(chan struct{}, 1), took: make(chan struct{})}
}

// bulkWait bounds how long room waits.
const bulkWait = 10 * time.Second

// room waits, at most bulkWait, until n more values fit in half the queue.
// Bulk loads (feeds, imports, pardons of ranges) call it before they
// change the table: they wait for the kernel, in transactions of
// thousands, rather than overflow the queue into reloads of the whole
// table. Detection never calls it.
func (q *enforceQueue) room(n int) {
	var deadline <-chan time.Time
	q.mu.Lock()
	for len(q.ops)+n > q.limit/2 && len(q.ops) > 0 && !q.dirty {
		took := q.took
		q.mu.Unlock()
		if deadline == nil {
			deadline = time.After(bulkWait)
		}
		select {
		case <-took:
		case <-deadline:
			return
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// push queues the removal of remove and the addition of add (removals
// first, as Enforcer.Apply does), with notes to tell once the kernel holds
// them. It never blocks: when the queue is full it is dropped and marked
// dirty. It returns the notes it could not keep, for the caller to tell
// now as queued. The caller has already changed the table (see reconcile).
func (q *enforceQueue) push(add, remove []phalanx.Decision, notes []enforceNote) (unkept []enforceNote) {
	q.mu.Lock()
	n := int64(len(add) + len(remove))
	q.queued.Add(n)
	if q.dirty {
		q.overflowed.Add(n) // the pending reconcile's snapshot holds them
	} else {
		put := func(d *phalanx.Decision, add bool) {
			if !add {
				q.firstMu.Lock()
				delete(q.firstAt, d.Value) // the kernel will not hold it: an add after the lift goes in
				q.firstMu.Unlock()
			} else if q.hasFirst(d) {
				q.coalesced.Add(1) // its first add (see the top of this file)
				return
			}
			if _, ok := q.ops[d.Value]; ok {
				q.coalesced.Add(1)
			}
			q.ops[d.Value] = enforceOp{add: add, dec: phalanx.Decision{Type: d.Type, Value: d.Value, Until: d.Until}}
		}
		for i := range remove {
			put(&remove[i], false)
		}
		for i := range add {
			put(&add[i], true)
		}
		q.overflowIfFull()
	}
	q.waiting.Store(int64(len(q.ops) + len(q.first)))
	if room := q.limit - len(q.notes); room < len(notes) {
		unkept = notes[max(room, 0):]
		notes = notes[:max(room, 0)]
	}
	q.notes = append(q.notes, notes...)
	q.mu.Unlock()
	q.kick()
	return unkept
}

// hasFirst reports whether the kernel holds the ban x from its first add,
// ending when x does, and no change to its value waits: the add of x need
// not be applied again. The caller holds q.mu.
func (q *enforceQueue) hasFirst(x *phalanx.Decision) bool {
	if !q.tookAsIs(x) {
		return false
	}
	_, waiting := q.ops[x.Value]
	_, waitingFirst := q.first[x.Value]
	return !waiting && !waitingFirst
}

// overflowIfFull drops what waits and marks the queue dirty (a reconcile
// is due) when more than its limit waits; the caller holds q.mu.
func (q *enforceQueue) overflowIfFull() {
	if n := len(q.ops) + len(q.first); n > q.limit {
		q.overflowed.Add(int64(n))
		q.overflows.Add(1)
		q.dirty = true
		q.dropWaiting()
	}
}

// dropWaiting drops the changes that wait: a reconcile loads the table
// instead. The caller holds q.mu.
func (q *enforceQueue) dropWaiting() {
	clear(q.ops)
	clear(q.first)
}

// pushFirst queues the add of a ban detection has just decided, ahead of
// its bookkeeping (see the top of this file): it goes to the kernel before
// the changes queued by push. It supersedes a change to the same value
// waiting there (an older one). It never blocks; when the queue is full
// it is dropped and marked dirty, as push does.
func (q *enforceQueue) pushFirst(x *phalanx.Decision) {
	q.mu.Lock()
	q.queued.Add(1)
	switch {
	case q.dirty:
		q.overflowed.Add(1) // its bookkeeping queues it again after the reconcile
	default:
		if _, ok := q.ops[x.Value]; ok {
			delete(q.ops, x.Value)
			q.coalesced.Add(1)
		}
		if _, ok := q.first[x.Value]; ok {
			q.coalesced.Add(1)
		}
		q.first[x.Value] = enforceOp{add: true, dec: phalanx.Decision{Type: x.Type, Value: x.Value, Until: x.Until}}
		q.overflowIfFull()
	}
	q.waiting.Store(int64(len(q.ops) + len(q.first)))
	q.mu.Unlock()
	if !q.gathers.Load() {
		q.kick()
	}
}

// requestRestore asks the worker to check the enforcer's table and restore
// it if part of it is gone.
func (q *enforceQueue) requestRestore() {
	q.mu.Lock()
	q.restore = true
	q.mu.Unlock()
	q.kick()
}

// restoring reports whether a restore was asked for and not yet done.
func (q *enforceQueue) restoring() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.restore
}

func (q *enforceQueue) kick() { nudge(q.wake) }

// loop is the worker: it drains the queue until ctx ends, then once more.
// After a failed call it waits enforceRetry before it tries again (a
// failing kernel and a flood must not make a reconcile per ban), unless
// a restore is asked for meanwhile.
func (q *enforceQueue) loop(ctx context.Context) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			q.drain()
			return
		case <-q.wake:
			if retry != nil && !q.restoring() {
				continue
			}
		case <-retry:
		}
		retry = nil
		q.gather(ctx)
		if !q.drain() {
			retry = time.After(enforceRetry)
		}
	}
}

// gather waits while a tail is behind, firstGather at most, for more to
// apply at once; a restore asked for ends it.
func (q *enforceQueue) gather(ctx context.Context) {
	if q.busy == nil || !q.busy() {
		return
	}
	q.gathers.Store(true)
	waitWhile(ctx, firstGather, q.wake, func() bool { return q.busy() && !q.restoring() })
	q.gathers.Store(false)
}

// drain applies what waits until nothing does; false when an enforcer call
// failed (the queue is then dirty: the next drain reconciles).
func (q *enforceQueue) drain() bool {
	for {
		more, ok := q.step()
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// step applies what waits now: a restore if asked, then a reconcile if the
// queue is dirty (unless the restore reloaded everything), otherwise the
// queued changes. more reports whether it did anything; ok is false when
// an enforcer call failed.
func (q *enforceQueue) step() (more, ok bool) {
	q.run.Lock()
	defer q.run.Unlock()
	q.mu.Lock()
	restore, dirty := q.restore, q.dirty
	q.restore, q.dirty = false, false
	var ops, first map[netip.Prefix]enforceOp // nil when nothing is taken: q's stay the queue's
	if len(q.ops) > 0 && !dirty {
		ops = q.takeOps()
	}
	if len(q.first) > 0 && !dirty {
		first = q.first
		q.first = q.spare
		if q.first == nil {
			q.first = map[netip.Prefix]enforceOp{}
		}
		q.spare = nil
	}
	if dirty {
		q.dropWaiting() // empty already: a dirty queue takes nothing
	}
	if ops != nil || first != nil || dirty {
		close(q.took)
		q.took = make(chan struct{})
	}
	var notes []enforceNote
	if len(q.ops) == 0 || dirty {
		notes, q.notes = q.notes, nil
	} else {
		notes, q.notes = splitNotes(q.notes, q.ops)
	}
	q.waiting.Store(int64(len(q.ops)))
	q.mu.Unlock()
	if !restore && !dirty && len(ops) == 0 && len(first) == 0 && len(notes) == 0 {
		return false, true
	}
	now := q.now()
	// reloaded is the table's snapshot when the kernel was reloaded from
	// it: taken after ops, it holds their effect, so they are not applied.
	var reloaded []phalanx.Decision
	var err error
	if r, isRestorer := q.enf.(restorer); restore && isRestorer {
		began := time.Now()
		all := q.reloadSnapshot(now)
		restored, err := r.Restore(all, now)
		if err != nil {
			q.fail("restore the nftables table after an outside change", err, notes)
			return false, false
		}
		if restored {
			q.reconciles.Add(1)
			q.hooks.restored(len(all), time.Since(began))
			reloaded = all
		}
	}
	switch {
	case reloaded != nil:
	case dirty:
		reloaded, err = q.reconcileLocked(now)
	default:
		if err = q.apply(first, now); err == nil {
			q.tookFirst(first)
			err = q.apply(ops, now)
		}
	}
	if err != nil {
		q.fail("enforce decisions", err, notes)
		return false, false
	}
	q.failing.Store(false)
	q.mu.Lock()
	notes = q.inForce(notes, ops, first, reloaded)
	q.firstTimes(notes)
	if first != nil { // taken from q.first at the top: q.spare is nil (q.run is held)
		clear(first)
		q.spare = first
	}
	q.mu.Unlock()
	if len(notes) > 0 {
		q.hooks.told(notes, layerNftables)
	}
	return true, true
}

// takeOps takes what waits in q.ops, at most stepValues values (a step
// that takes more keeps first adds waiting behind it: see the top of this
// file). The caller holds q.mu.
func (q *enforceQueue) takeOps() map[netip.Prefix]enforceOp {
	n := stepValues
	if len(q.ops) <= n {
		ops := q.ops
		q.ops = map[netip.Prefix]enforceOp{}
		return ops
	}
	ops := make(map[netip.Prefix]enforceOp, n)
	for v, op := range q.ops {
		ops[v] = op
		delete(q.ops, v)
		if len(ops) == n {
			break
		}
	}
	return ops
}

// splitNotes returns, in their order, the notes whose value has no change
// left waiting in waiting (what a step did not take), to tell now, and
// the others, left waiting with their changes.
func splitNotes(notes []enforceNote, waiting map[netip.Prefix]enforceOp) (now, later []enforceNote) {
	for _, n := range notes {
		if _, ok := waiting[n.dec.Value]; ok {
			later = append(later, n)
		} else {
			now = append(now, n)
		}
	}
	return now, later
}

// tookFirst records when the kernel took the first adds, and the ends of
// their bans: their latency ends there (see firstTimes), and their
// bookkeeping need not add them again (see push). The record is bounded
// by the bans the bookkeeping may hold (maxQueuedBans: a flood's wait
// until the tail has caught up): a ban whose notice never comes (its
// bookkeeping refused it) is forgotten with the rest past that.
func (q *enforceQueue) tookFirst(first map[netip.Prefix]enforceOp) {
	if len(first) == 0 {
		return
	}
	at := time.Now()
	q.firstMu.Lock()
	if len(q.firstAt)+len(first) > maxQueuedBans {
		clear(q.firstAt)
	}
	for v, op := range first {
		q.firstAt[v] = firstTook{at: at, until: op.dec.Until}
	}
	q.firstMu.Unlock()
}

// firstTimes ends the latency of the notes whose ban went to the kernel
// first at when it did.
func (q *enforceQueue) firstTimes(notes []enforceNote) {
	q.firstMu.Lock()
	defer q.firstMu.Unlock()
	if len(q.firstAt) == 0 {
		return
	}
	for i := range notes {
		n := &notes[i]
		if ft, ok := q.firstAt[n.dec.Value]; ok {
			delete(q.firstAt, n.dec.Value)
			if n.at.IsZero() {
				n.at = ft.at
			}
		}
	}
}

// inForce returns the notes whose ban the kernel holds now: after a
// reload from the table (reloaded not nil), those whose decision it held;
// after changes, those whose value's last change was an add (ops were
// applied after first), and those whose ban the kernel holds from its
// first add (not applied again: see push). The caller holds q.mu.
func (q *enforceQueue) inForce(notes []enforceNote, ops, first map[netip.Prefix]enforceOp, reloaded []phalanx.Decision) []enforceNote {
	if len(notes) == 0 {
		return nil
	}
	kept := notes[:0]
	if reloaded == nil {
		for _, n := range notes {
			op, ok := ops[n.dec.Value]
			if !ok {
				op, ok = first[n.dec.Value]
			}
			switch {
			case ok:
				if op.add {
					kept = append(kept, n)
				}
			case q.tookAsIs(&n.dec):
				kept = append(kept, n)
			}
		}
		return kept
	}
	want := make(map[uint64]bool, len(notes))
	for _, n := range notes {
		want[n.dec.ID] = false
	}
	for i := range reloaded {
		if _, ok := want[reloaded[i].ID]; ok {
			want[reloaded[i].ID] = true
		}
	}
	for _, n := range notes {
		if want[n.dec.ID] {
			kept = append(kept, n)
		}
	}
	return kept
}

// apply sends ops to the enforcer, at most q.batch a call.
func (q *enforceQueue) apply(ops map[netip.Prefix]enforceOp, now time.Time) error {
	add := make([]phalanx.Decision, 0, min(len(ops), q.batch))
	var remove []phalanx.Decision
	flush := func() error {
		if len(add)+len(remove) == 0 {
			return nil
		}
		if err := q.enf.Apply(add, remove, now); err != nil {
			return err
		}
		q.batches.Add(1)
		q.elements.Add(int64(len(add) + len(remove)))
		add, remove = add[:0], remove[:0]
		return nil
	}
	for _, op := range ops {
		if op.add {
			add = append(add, op.dec)
		} else {
			remove = append(remove, op.dec)
		}
		if len(add)+len(remove) >= q.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// tookAsIs reports whether the kernel holds x from its first add, ending
// when x does. The caller holds q.mu.
func (q *enforceQueue) tookAsIs(x *phalanx.Decision) bool {
	q.firstMu.Lock()
	ft, ok := q.firstAt[x.Value]
	q.firstMu.Unlock()
	return ok && ft.until.Equal(x.Until)
}

// reloadSnapshot returns the table's snapshot for a reload of the kernel
// (a reconcile, a restore), having first forgotten the first adds the
// kernel took: the reload holds what the table has, without them, so a
// bookkeeping add that comes after the snapshot is to be applied, not
// skipped as one the kernel holds (see push).
func (q *enforceQueue) reloadSnapshot(now time.Time) []phalanx.Decision {
	q.firstMu.Lock()
	clear(q.firstAt)
	q.firstMu.Unlock()
	return q.hooks.snapshot(now)
}

// reconcile makes the kernel's sets hold exactly what the table holds now,
// dropping what the queue holds (the table has it already: every change
// is made to the table before it is queued).
func (q *enforceQueue) reconcile() error {
	q.run.Lock()
	defer q.run.Unlock()
	q.mu.Lock()
	q.dirty = false
	q.dropWaiting()
	q.waiting.Store(0)
	q.mu.Unlock()
	_, err := q.reconcileLocked(q.now())
	return err
}

// reconcileLocked reconciles from a snapshot taken now, which it returns;
// the caller holds q.run and has emptied the queue, so every change the
// snapshot misses is queued after this and applied after it.
func (q *enforceQueue) reconcileLocked(now time.Time) ([]phalanx.Decision, error) {
	q.reconciles.Add(1)
	all := q.reloadSnapshot(now)
	if all == nil {
		all = []phalanx.Decision{}
	}
	return all, q.enf.Reconcile(all, now)
}

// fail marks the queue dirty after a failed enforcer call, so that the
// next drain reconciles, and keeps the notes for then. It reports every
// failure to the failed hook, saying whether to log it: at most once
// every 10 seconds.
func (q *enforceQueue) fail(what string, err error, notes []enforceNote) {
	q.failures.Add(1)
	q.failing.Store(true)
	q.mu.Lock()
	q.dirty = true
	q.dropWaiting()
	q.waiting.Store(0)
	if room := q.limit - len(q.notes); room > 0 {
		notes = notes[:min(room, len(notes)):min(room, len(notes))]
		q.notes = append(notes, q.notes...)
	}
	q.mu.Unlock()
	now := time.Now().UnixNano()
	if last := q.lastFailLog.Load(); last != 0 && now-last < int64(10*time.Second) {
		q.suppressedFails.Add(1)
		q.hooks.failed(what, err, -1)
		return
	}
	q.lastFailLog.Store(now)
	q.hooks.failed(what, err, q.suppressedFails.Swap(0))
}

// counts returns the queue's counters, for the status.
func (q *enforceQueue) counts() map[string]int64 {
	f := int64(0)
	if q.failing.Load() {
		f = 1
	}
	return map[string]int64{
		"queued": q.queued.Load(), "waiting": q.waiting.Load(), "coalesced": q.coalesced.Load(),
		"overflowed": q.overflowed.Load(), "overflows": q.overflows.Load(), "transactions": q.batches.Load(),
		"elements": q.elements.Load(), "reconciles": q.reconciles.Load(), "failures": q.failures.Load(), "failing": f,
	}
}

// enforceCollectors are the enforcement queue's metrics, read from
// whatever queue q returns at scrape time (nil counts as zero).
func enforceCollectors(q func() *enforceQueue) []prometheus.Collector {
	counter := func(name, help string, v func(*enforceQueue) *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if x := q(); x != nil {
				return float64(v(x).Load())
			}
			return 0
		})
	}
	return []prometheus.Collector{
		counter("phalanx_enforce_queued_total", "Changes (ban additions and removals) queued for the kernel.",
			func(x *enforceQueue) *atomic.Int64 { return &x.queued }),
		counter("phalanx_enforce_coalesced_total", "Queued changes merged into a later change to the same value before they reached the kernel.",
			func(x *enforceQueue) *atomic.Int64 { return &x.coalesced }),
		counter("phalanx_enforce_overflowed_total", "Queued changes dropped while a reconcile with the decision table was pending (after an overflow or a failed call); the reconcile applied them.",
			func(x *enforceQueue) *atomic.Int64 { return &x.overflowed }),
		counter("phalanx_enforce_overflows_total", "Times the enforcement queue filled up and the kernel was reconciled with the decision table instead.",
			func(x *enforceQueue) *atomic.Int64 { return &x.overflows }),
		counter("phalanx_enforce_transactions_total", "Enforcer calls that applied queued changes (one nftables transaction each).",
			func(x *enforceQueue) *atomic.Int64 { return &x.batches }),
		counter("phalanx_enforce_elements_total", "Set elements those transactions added or removed.",
			func(x *enforceQueue) *atomic.Int64 { return &x.elements }),
		counter("phalanx_enforce_reconciles_total", "Reloads of the kernel's sets from the decision table (at start, after an overflow, a failure or a firewall reload).",
			func(x *enforceQueue) *atomic.Int64 { return &x.reconciles }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_enforce_queue_length", Help: "Values waiting for the kernel."},
			func() float64 {
				if x := q(); x != nil {
					return float64(x.waiting.Load())
				}
				return 0
			}),
	}
}

// initEnforcement sets up the enforcement queue (with an enforcer), the
// metrics, the report writer and the cap on decisions; New calls it once
// the enforcer is open.
func (d *Daemon) initEnforcement(dc config.Daemon) {
	d.outw.wake = make(chan struct{}, 1)
	d.bans.init()
	d.dcap.max = dc.MaxDecisions
	if d.dcap.max == 0 {
		d.dcap.max = defaultMaxDecisions
	}
	d.met.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_decisions_dropped_total",
		Help: "Self-defense decisions dropped, oldest first, to keep the table within daemon.max_decisions."},
		func() float64 { return float64(d.dcap.dropped.Load()) }))
	d.met.reg.MustRegister(enforceCollectors(func() *enforceQueue { return d.enfq })...)
	d.met.reg.MustRegister(d.auditCollectors()...)
	d.newEnforceQueue()
}

// newEnforceQueue builds the enforcement queue for d.enf (none without).
func (d *Daemon) newEnforceQueue() {
	if d.enf == nil {
		d.enfq = nil
		return
	}
	d.enfq = newEnforceQueue(d.enf, enforceHooks{
		snapshot: d.activeDecisions,
		told:     d.tell,
		restored: func(bans int, took time.Duration) {
			d.ctr.restores.Add(1)
			d.log.Warn("the nftables table was removed or changed from outside (a firewall reload?): restored it with every ban in force",
				"bans", bans, "took", took.Round(time.Millisecond))
		},
		failed: func(what string, err error, suppressed int64) {
			d.ctr.enforceErr.Add(1)
			d.met.enforceErrs.Inc()
			if suppressed >= 0 {
				d.log.Error(what+" (the kernel is reconciled with the decision table when it works again; failures are logged at most every 10s)",
					"err", err, "not_logged", suppressed)
			}
		},
	}, d.now)
	d.enfq.busy = d.tailBehind
}

// startEnforcement starts the enforcement worker, the ban queue's worker
// (banqueue.go) and the report writer, until ctx ends; Run calls it first.
func (d *Daemon) startEnforcement(ctx context.Context) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.writeLoop(ctx) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.banLoop(ctx) }()
	if d.enfq != nil {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.enfq.loop(ctx) }()
	}
}

// reconcileEnforcer makes the kernel's sets hold exactly the decisions in
// force in the table; finishCatchUp calls it once the table has replayed
// the stream.
func (d *Daemon) reconcileEnforcer() {
	if d.enfq == nil {
		return
	}
	if err := d.enfq.reconcile(); err != nil {
		d.ctr.enforceErr.Add(1)
		d.met.enforceErrs.Inc()
		d.log.Error("reconcile nftables sets", "err", err)
	}
}

// activeDecisions returns the decisions in force at now.
func (d *Daemon) activeDecisions(now time.Time) []phalanx.Decision {
	all := make([]phalanx.Decision, 0, d.table.Len())
	d.table.All(func(x phalanx.Decision) bool {
		if x.Active(now) {
			all = append(all, x)
		}
		return true
	})
	return all
}

// enforcementCounts is the status's enforcement section.
func (d *Daemon) enforcementCounts() map[string]int64 {
	m := map[string]int64{}
	if d.enfq != nil {
		m = d.enfq.counts()
	}
	m["max_decisions"] = int64(d.dcap.max)
	m["decisions_dropped"] = d.dcap.dropped.Load()
	for k, v := range d.bans.counts() {
		m["self_bans_"+k] = v // detection's hand-over (banqueue.go)
	}
	d.auditCounts(m)
	return m
}
