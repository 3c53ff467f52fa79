package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/lapi"
)

// SetEnforceQueueForTest sizes the enforcement queue: at most limit values
// waiting, batch elements per enforcer call. Call it between New and Run.
func (d *Daemon) SetEnforceQueueForTest(limit, batch int) {
	d.enfq.limit, d.enfq.batch = limit, batch
}

// WrapEnforcerForTest replaces the daemon's enforcer (nil with enforcement
// off) with wrap's, and builds its enforcement queue. Call it between New
// and Run.
func (d *Daemon) WrapEnforcerForTest(wrap func(Enforcer) Enforcer) {
	d.enf = wrap(d.enf)
	d.newEnforceQueue()
}

// fakeEnforcer records what it is given; its kernel is a map.
type fakeEnforcer struct {
	mu         sync.Mutex
	kernel     map[netip.Prefix]time.Time
	calls      int // Apply calls
	reconciles int
	fail       error // returned by every call while set
}

func newFakeEnforcer() *fakeEnforcer { return &fakeEnforcer{kernel: map[netip.Prefix]time.Time{}} }

func (f *fakeEnforcer) Apply(add, remove []phalanx.Decision, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls++
	for _, x := range remove {
		delete(f.kernel, x.Value)
	}
	for _, x := range add {
		f.kernel[x.Value] = x.Until
	}
	return nil
}

func (f *fakeEnforcer) Reconcile(all []phalanx.Decision, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.reconciles++
	clear(f.kernel)
	for _, x := range all {
		f.kernel[x.Value] = x.Until
	}
	return nil
}

func (f *fakeEnforcer) Close() error { return nil }

func (f *fakeEnforcer) has(v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.kernel[netip.MustParsePrefix(v)]
	return ok
}

// queueRig is an enforcement queue on a fake enforcer, with a table of its
// own as the snapshot, and what it told.
type queueRig struct {
	q     *enforceQueue
	f     *fakeEnforcer
	table *decision.Table
	mu    sync.Mutex
	told  []string // "layer value"
}

func newQueueRig(limit, batch int) *queueRig {
	r := &queueRig{f: newFakeEnforcer(), table: decision.NewTable()}
	r.q = newEnforceQueue(r.f, enforceHooks{
		snapshot: func(now time.Time) []phalanx.Decision {
			var all []phalanx.Decision
			r.table.All(func(x phalanx.Decision) bool { all = append(all, x); return true })
			return all
		},
		told: func(notes []enforceNote, layer string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, n := range notes {
				r.told = append(r.told, layer+" "+n.dec.Value.String())
			}
		},
		restored: func(int, time.Duration) {},
		failed:   func(string, error, int64) {},
	}, time.Now)
	r.q.limit, r.q.batch = limit, batch
	return r
}

// ban changes the table and queues the change, as apply does.
func (r *queueRig) ban(v string) phalanx.Decision {
	now := time.Now()
	st, _ := r.table.Add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: netip.MustParsePrefix(v), Start: now, Until: now.Add(time.Hour)})
	r.q.push([]phalanx.Decision{st}, nil, []enforceNote{{dec: st}})
	return st
}

func (r *queueRig) lift(x phalanx.Decision) {
	r.table.Delete(x.ID)
	r.q.push(nil, []phalanx.Decision{x}, nil)
}

func (r *queueRig) toldOf() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.told)
}

// TestEnforceQueueCoalesces: changes that wait are merged per value (the
// last wins) and applied in transactions of at most batch elements; a ban
// lifted before it reached the kernel is never told as enforced.
func TestEnforceQueueCoalesces(t *testing.T) {
	r := newQueueRig(1000, 40)
	var xs []phalanx.Decision
	for i := range 100 {
		xs = append(xs, r.ban(fmt.Sprintf("192.0.2.%d/32", i)))
	}
	r.ban("192.0.2.5/32") // the same value again: coalesced
	r.lift(xs[7])         // lifted before the kernel had it
	if more, ok := r.q.step(); !more || !ok {
		t.Fatalf("step: more %v, ok %v", more, ok)
	}
	if r.f.calls != 3 {
		t.Errorf("100 values in transactions of at most 40: %d calls, want 3", r.f.calls)
	}
	if got := r.q.coalesced.Load(); got != 2 {
		t.Errorf("coalesced %d, want 2 (a ban again, a lift)", got)
	}
	if r.f.has("192.0.2.7/32") || !r.f.has("192.0.2.8/32") || len(r.f.kernel) != 99 {
		t.Errorf("kernel: 192.0.2.7 %v, 192.0.2.8 %v, %d values; want the lifted one out, 99 in", r.f.has("192.0.2.7/32"), r.f.has("192.0.2.8/32"), len(r.f.kernel))
	}
	told := r.toldOf()
	if slices.Contains(told, "nftables 192.0.2.7/32") || !slices.Contains(told, "nftables 192.0.2.8/32") {
		t.Errorf("told %d bans; the lifted one told: %v", len(told), slices.Contains(told, "nftables 192.0.2.7/32"))
	}
	if more, _ := r.q.step(); more {
		t.Error("a second step found work")
	}
}

// TestEnforceQueueOverflow: a queue past its limit neither blocks nor
// loses: it drops what waits, and the next step reloads the kernel from
// the table (which has every change) and tells the bans it kept notes of.
func TestEnforceQueueOverflow(t *testing.T) {
	r := newQueueRig(16, 4)
	var last phalanx.Decision
	for i := range 200 {
		last = r.ban(fmt.Sprintf("2001:db8:%x::/64", i+1))
	}
	r.lift(last)
	if r.q.overflows.Load() != 1 || r.q.overflowed.Load() == 0 {
		t.Fatalf("overflows %d, overflowed %d; want 1 and some", r.q.overflows.Load(), r.q.overflowed.Load())
	}
	r.q.step()
	if r.f.reconciles != 1 || r.f.calls != 0 {
		t.Errorf("after the overflow: %d reconciles, %d applies; want one reconcile", r.f.reconciles, r.f.calls)
	}
	if len(r.f.kernel) != 199 || r.f.has(last.Value.String()) {
		t.Errorf("kernel holds %d values (the lifted one: %v), want the table's 199", len(r.f.kernel), r.f.has(last.Value.String()))
	}
	told := r.toldOf()
	if len(told) != 16 || slices.Contains(told, "nftables "+last.Value.String()) {
		t.Errorf("told %d bans (kept notes: 16), the lifted one among them: %v", len(told), slices.Contains(told, "nftables "+last.Value.String()))
	}
	// Changes after the reconcile are applied as usual.
	r.ban("2001:db8:ffff::/64")
	r.q.step()
	if !r.f.has("2001:db8:ffff::/64") || r.f.calls != 1 {
		t.Errorf("a ban after the reconcile: in the kernel %v, %d applies", r.f.has("2001:db8:ffff::/64"), r.f.calls)
	}
}

// TestEnforceQueueFailure: a failed call leaves the queue dirty; once the
// enforcer works again, a reconcile brings the kernel to the table, and the
// bans are told then, not before.
func TestEnforceQueueFailure(t *testing.T) {
	r := newQueueRig(100, 100)
	r.f.fail = errors.New("the kernel said no")
	r.ban("198.51.100.1/32")
	if _, ok := r.q.step(); ok || r.q.failures.Load() != 1 || !r.q.failing.Load() {
		t.Fatalf("a failing enforcer: step ok %v, failures %d", ok, r.q.failures.Load())
	}
	if told := r.toldOf(); len(told) != 0 {
		t.Fatalf("told %v while the kernel had nothing", told)
	}
	r.ban("198.51.100.2/32") // while dirty: the reconcile will bring it
	r.f.fail = nil
	if _, ok := r.q.step(); !ok {
		t.Fatal("step failed with a working enforcer")
	}
	if r.f.reconciles != 1 || !r.f.has("198.51.100.1/32") || !r.f.has("198.51.100.2/32") || r.q.failing.Load() {
		t.Errorf("after recovery: %d reconciles, kernel %v, failing %v", r.f.reconciles, r.f.kernel, r.q.failing.Load())
	}
	if told := r.toldOf(); len(told) != 2 {
		t.Errorf("told %v, want both bans", told)
	}
}

// capRig is a daemon with only what apply needs, and a cap of max.
func capRig(max int) *Daemon {
	d := &Daemon{table: decision.NewTable(), jour: lapi.NewJournal(lapi.DefaultMaxTombstones), now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d.dcap.max = max
	return d
}

// TestDecisionCap: past daemon.max_decisions the oldest self-defense
// decisions give way; alliance, manual and feed decisions never do, and
// when no self-defense decision is left, a new one is not kept.
func TestDecisionCap(t *testing.T) {
	d := capRig(20)
	now := time.Now()
	net := map[phalanx.Origin]int{phalanx.OriginSelf: 1, phalanx.OriginAlliance: 2, phalanx.OriginManual: 3, phalanx.OriginFeed: 4}
	mk := func(o phalanx.Origin, i int) phalanx.Decision {
		return phalanx.Decision{Origin: o, Type: "ban", Value: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.%d/32", net[o], i)),
			Start: now.Add(time.Duration(i) * time.Millisecond), Until: now.Add(time.Hour)}
	}
	count := func() map[phalanx.Origin]int {
		m := map[phalanx.Origin]int{}
		d.table.All(func(x phalanx.Decision) bool { m[x.Origin]++; return true })
		return m
	}
	for i := range 4 {
		for _, o := range []phalanx.Origin{phalanx.OriginAlliance, phalanx.OriginManual, phalanx.OriginFeed} {
			d.apply([]phalanx.Decision{mk(o, i)}, nil, "test")
		}
	}
	var self []phalanx.Decision
	for i := range 13 {
		st, _ := d.apply([]phalanx.Decision{mk(phalanx.OriginSelf, i)}, nil, "test")
		self = append(self, st[0])
	}
	// 12 + 13 = 25 > 20: the 5 oldest self-defense decisions went.
	if got := count(); got[phalanx.OriginSelf] != 8 || got[phalanx.OriginAlliance] != 4 || got[phalanx.OriginManual] != 4 || got[phalanx.OriginFeed] != 4 {
		t.Fatalf("held %v, want 8 self and 4 of each other origin", got)
	}
	for i, x := range self {
		if _, ok := d.table.Get(x.ID); ok != (i >= 5) {
			t.Errorf("self-defense decision %d (%v): held %v", i, x.Value, ok)
		}
	}
	if d.dcap.dropped.Load() != 5 {
		t.Errorf("dropped %d, want 5", d.dcap.dropped.Load())
	}
	// Manual and alliance decisions past the cap: every self-defense one
	// goes first, then the table holds more than the cap rather than drop
	// what the operators or the alliance decided.
	for i := range 10 {
		d.apply([]phalanx.Decision{mk(phalanx.OriginManual, 10+i)}, nil, "test")
	}
	if got := count(); got[phalanx.OriginSelf] != 0 || got[phalanx.OriginManual] != 14 || d.table.Len() != 22 {
		t.Fatalf("held %v (%d), want no self-defense decision and every manual one", got, d.table.Len())
	}
	// A new self-defense decision in a full table is not kept.
	st, changed := d.apply([]phalanx.Decision{mk(phalanx.OriginSelf, 99)}, nil, "test")
	if _, ok := d.table.Get(st[0].ID); ok || changed {
		t.Errorf("a self-defense decision in a table full of others: held %v, changed %v", ok, changed)
	}
	if d.dcap.dropped.Load() != 14 {
		t.Errorf("dropped %d, want 14", d.dcap.dropped.Load())
	}
}

// TestEnforceQueueRoom: a bulk load waits while the queue is over half
// full, until the worker takes what waits.
func TestEnforceQueueRoom(t *testing.T) {
	r := newQueueRig(16, 100)
	r.q.room(8) // empty: at once
	for i := range 10 {
		r.ban(fmt.Sprintf("192.0.2.%d/32", i))
	}
	done := make(chan struct{})
	go func() { r.q.room(4); close(done) }()
	select {
	case <-done:
		t.Fatal("room returned while 10 of 16 values waited")
	case <-time.After(50 * time.Millisecond):
	}
	r.q.step()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("room did not return once the worker took what waited")
	}
}

// TestEnforceQueueFirst: a ban detection hands over first reaches the
// kernel at the next step, before the table has it; the change its
// bookkeeping queues later is applied after it (a lift wins), and its
// notice is told with the latency ending at the first add; a change
// queued before it for the same value is superseded; a reconcile (the
// queue overflowed) drops what the table lacks, first adds included.
func TestEnforceQueueFirst(t *testing.T) {
	r := newQueueRig(100, 100)
	now := time.Now()
	first := func(v string) phalanx.Decision {
		x := phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: netip.MustParsePrefix(v), Start: now, Until: now.Add(time.Hour)}
		r.q.pushFirst(&x)
		return x
	}
	first("2001:db8:1::/64")
	if more, ok := r.q.step(); !more || !ok || !r.f.has("2001:db8:1::/64") {
		t.Fatalf("step: more %v, ok %v; the kernel has the first add: %v", more, ok, r.f.has("2001:db8:1::/64"))
	}
	if told := r.toldOf(); len(told) != 0 {
		t.Fatalf("told %v before the bookkeeping queued the ban", told)
	}
	var at time.Time
	r.q.hooks.told = func(notes []enforceNote, layer string) {
		for _, n := range notes {
			at = n.at
		}
	}
	r.ban("2001:db8:1::/64") // the bookkeeping: the table, then the queue with its notice
	r.q.step()
	if at.IsZero() || at.Before(now) {
		t.Errorf("the notice's latency ends at %v, want the first add's time", at)
	}

	// A lift queued after a first add wins; a first add supersedes an
	// older change to its value.
	x := first("2001:db8:2::/64")
	r.q.push(nil, []phalanx.Decision{x}, nil)
	lifted := r.ban("2001:db8:3::/64")
	r.q.step()
	r.lift(lifted)
	first("2001:db8:3::/64") // banned again after the lift, the lift not yet applied
	r.q.step()
	if r.f.has("2001:db8:2::/64") || !r.f.has("2001:db8:3::/64") {
		t.Errorf("kernel: lifted after its first add %v (want gone), banned again after a lift %v (want in)", r.f.has("2001:db8:2::/64"), r.f.has("2001:db8:3::/64"))
	}

	// A reconcile drops first adds the table lacks.
	first("2001:db8:4::/64")
	for i := range 120 {
		r.ban(fmt.Sprintf("198.51.100.%d/32", i))
	}
	if r.q.overflows.Load() != 1 {
		t.Fatalf("overflows %d, want 1", r.q.overflows.Load())
	}
	r.q.step()
	if r.f.has("2001:db8:4::/64") || !r.f.has("198.51.100.7/32") {
		t.Errorf("after the reconcile: a first add the table lacks %v (want gone), a table ban %v", r.f.has("2001:db8:4::/64"), r.f.has("198.51.100.7/32"))
	}
}

// TestEnforceQueueFirstNotAppliedTwice: the bookkeeping's add of a ban the
// kernel took first, ending at the same time, is told without another
// enforcer call; one that ends at another time, or comes after a lift of
// the first add, is applied.
func TestEnforceQueueFirstNotAppliedTwice(t *testing.T) {
	r := newQueueRig(100, 100)
	now := time.Now()
	dec := func(v string, until time.Time) phalanx.Decision {
		return phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: netip.MustParsePrefix(v), Start: now, Until: until}
	}
	a := dec("2001:db8:a::/64", now.Add(time.Hour))
	r.q.pushFirst(&a)
	r.q.step()
	calls := r.f.calls
	r.q.push([]phalanx.Decision{a}, nil, []enforceNote{{dec: a}})
	r.q.step()
	if r.f.calls != calls || !r.f.has("2001:db8:a::/64") {
		t.Errorf("the bookkeeping's add of a ban the kernel took first: %d more enforcer calls (want none), in the kernel %v", r.f.calls-calls, r.f.has("2001:db8:a::/64"))
	}
	if told := r.toldOf(); !slices.Equal(told, []string{layerNftables + " 2001:db8:a::/64"}) {
		t.Errorf("told %v, want the ban as the kernel holds it", told)
	}

	// Another end: applied, as the table has it.
	b := dec("2001:db8:b::/64", now.Add(time.Hour))
	r.q.pushFirst(&b)
	r.q.step()
	longer := dec("2001:db8:b::/64", now.Add(2*time.Hour))
	r.q.push([]phalanx.Decision{longer}, nil, []enforceNote{{dec: longer}})
	r.q.step()
	r.f.mu.Lock()
	got := r.f.kernel[b.Value]
	r.f.mu.Unlock()
	if !got.Equal(longer.Until) {
		t.Errorf("kernel ends the ban at %v, want the table's %v", got, longer.Until)
	}

	// A lift after the first add, then the add again: applied.
	c := dec("2001:db8:c::/64", now.Add(time.Hour))
	r.q.pushFirst(&c)
	r.q.step()
	r.q.push(nil, []phalanx.Decision{c}, nil)
	r.q.step()
	r.q.push([]phalanx.Decision{c}, nil, []enforceNote{{dec: c}})
	r.q.step()
	if !r.f.has("2001:db8:c::/64") {
		t.Error("an add after the lift of its first add did not reach the kernel")
	}
}

// TestEnforceQueueStepBounded: a step takes at most a batch of queued
// values with their notices; the rest wait for the next step, a first add
// queued meanwhile goes before them, and every notice is told once.
func TestEnforceQueueStepBounded(t *testing.T) {
	r := newQueueRig(100000, 16)
	total := 3*stepValues + 5
	for i := range total {
		r.ban(fmt.Sprintf("2001:db8:%x:%x::/64", 1+i/65535, 1+i%65535))
	}
	r.q.step()
	if n := len(r.f.kernel); n != stepValues {
		t.Fatalf("one step applied %d values, want %d", n, stepValues)
	}
	if told := r.toldOf(); len(told) != stepValues {
		t.Fatalf("one step told %d bans, want %d", len(told), stepValues)
	}
	x := phalanx.Decision{Type: "ban", Value: netip.MustParsePrefix("2001:db8:ffff::/64"), Until: time.Now().Add(time.Hour)}
	r.q.pushFirst(&x)
	r.q.step()
	if !r.f.has("2001:db8:ffff::/64") {
		t.Error("a first add waited behind the queued values")
	}
	for r.q.drain(); len(r.f.kernel) != total+1; {
		t.Fatalf("after the drain: %d values in the kernel, want %d", len(r.f.kernel), total+1)
	}
	told := r.toldOf()
	slices.Sort(told)
	if len(told) != total || len(slices.Compact(told)) != total {
		t.Errorf("told %d bans (%d distinct), want %d once each", len(told), len(slices.Compact(slices.Clone(told))), total)
	}
}
