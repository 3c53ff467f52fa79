package daemon

import (
	"fmt"
	"net/netip"
	"testing"

	"phalanx"
)

// TestBanQueueOrderAndPending: items come out in the order they went in,
// across chunks; a ban's group is pending from its push until the apply
// that took it has returned, and not after; the queue says when it is full.
func TestBanQueueOrderAndPending(t *testing.T) {
	var q banQueue
	q.init()
	group := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 64)
	}
	const n = 3*banChunk + 17
	full := -1
	for i := range n {
		it := banItem{kind: itemAlert, alert: phalanx.Alert{Source: group(i), Count: i}}
		if i%3 == 0 {
			it.kind = itemBan
		}
		if q.push(&it) && full < 0 {
			full = i
		}
	}
	if full >= 0 && n < maxQueuedBans {
		t.Errorf("full after %d items of %d", full+1, maxQueuedBans)
	}
	for i := range n {
		if want := i%3 == 0; q.isPending(group(i)) != want {
			t.Fatalf("item %d pending %v before the drain, want %v", i, !want, want)
		}
	}
	next := 0
	q.drain(func(items []banItem) {
		if len(items) > banChunk {
			t.Errorf("a batch of %d items, more than a chunk", len(items))
		}
		for _, it := range items {
			if it.alert.Count != next {
				t.Fatalf("item %d came out as number %d", it.alert.Count, next)
			}
			if it.kind == itemBan && !q.isPending(it.alert.Source) {
				t.Fatalf("ban %d not pending while it is applied", next)
			}
			next++
		}
	})
	if next != n {
		t.Fatalf("drained %d items of %d", next, n)
	}
	for i := range n {
		if q.isPending(group(i)) {
			t.Fatalf("item %d still pending after the drain", i)
		}
	}
	c := q.counts()
	if c["queued"] != (n+2)/3 || c["waiting"] != 0 || c["batches"] < n/banChunk {
		t.Errorf("counts %v", c)
	}
	// Two bans of one group (a pardon in between): pending until both are
	// applied.
	g := group(1)
	for range 2 {
		q.push(&banItem{kind: itemBan, alert: phalanx.Alert{Source: g}})
	}
	applied := 0
	q.drain(func(items []banItem) {
		applied += len(items)
		if !q.isPending(g) {
			t.Error("a group with two bans queued not pending")
		}
	})
	if applied != 2 || q.isPending(g) {
		t.Errorf("applied %d, pending after %v", applied, q.isPending(g))
	}
}

// TestBanQueueFull: the queue reports full at maxQueuedBans items, and a
// drain empties it.
func TestBanQueueFull(t *testing.T) {
	var q banQueue
	q.init()
	for i := range maxQueuedBans {
		full := q.push(&banItem{kind: itemAlert, reason: fmt.Sprint(i)})
		if full != (i == maxQueuedBans-1) {
			t.Fatalf("push %d: full %v", i, full)
		}
	}
	got := 0
	q.drain(func(items []banItem) { got += len(items) })
	if got != maxQueuedBans || q.waiting.Load() != 0 {
		t.Errorf("drained %d of %d, %d waiting", got, maxQueuedBans, q.waiting.Load())
	}
}

// TestBanQueueBanTakesItsAlertsPlace: a ban pushed right after its alert's
// timeline entry takes that item's place (one item, carrying the entry);
// after another alert's entry, or after a drain took the entry, it is an
// item of its own (TestFloodOfNewSourcesBannedOnce checks the timeline:
// the alert's entry still comes before the decision's).
func TestBanQueueBanTakesItsAlertsPlace(t *testing.T) {
	var q banQueue
	q.init()
	g := netip.MustParsePrefix("2001:db8:1::/64")
	a := phalanx.Alert{Scenario: "ssh-bf", Source: g, Count: 5}
	q.push(&banItem{kind: itemAlert, alert: a})
	q.push(&banItem{kind: itemBan, alert: a})
	if q.n != 1 || !q.isPending(g) || q.queued.Load() != 1 {
		t.Fatalf("an alert and its ban: %d items, pending %v, queued %d; want one item, pending, 1", q.n, q.isPending(g), q.queued.Load())
	}
	if it := q.chunks[0][0]; it.kind != itemBan || !it.alerts {
		t.Fatalf("the item: kind %d, alerts %v; want a ban carrying its alert", it.kind, it.alerts)
	}
	other := a
	other.Source = netip.MustParsePrefix("2001:db8:2::/64")
	q.push(&banItem{kind: itemAlert, alert: other})
	q.push(&banItem{kind: itemBan, alert: a}) // not the alert just before it
	if q.n != 3 {
		t.Fatalf("after another alert: %d items, want 3", q.n)
	}
	q.drain(func([]banItem) {})
	q.push(&banItem{kind: itemAlert, alert: a})
	q.drain(func([]banItem) {})
	if q.push(&banItem{kind: itemBan, alert: a}); q.n != 1 || q.chunks[0][0].alerts {
		t.Errorf("a ban after its alert was drained: %d items, alerts %v; want its own item", q.n, q.chunks[0][0].alerts)
	}
}

// TestHoldBans: banLoop waits while a tail is behind and the queue has
// room, not otherwise.
func TestHoldBans(t *testing.T) {
	d := &Daemon{}
	d.bans.init()
	if d.holdBans() {
		t.Error("holds with no tail behind")
	}
	d.behind.Add(1)
	if !d.holdBans() {
		t.Error("does not hold while a tail is behind")
	}
	d.bans.waiting.Store(holdBelow)
	if d.holdBans() {
		t.Error("holds with the queue at holdBelow")
	}
	d.bans.waiting.Store(0)
	d.caughtUpTail()
	if d.holdBans() || d.behind.Load() != 0 {
		t.Errorf("after the tail caught up: holds %v, behind %d", d.holdBans(), d.behind.Load())
	}
	select {
	case <-d.bans.wake:
	default:
		t.Error("the tail that caught up did not wake banLoop")
	}
}
