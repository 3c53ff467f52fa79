package nft

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"phalanx"
)

// TestWatchRestore: what a firewall reload does to the table — `nft flush
// ruleset`, a deleted chain, a flushed chain — is noticed by Watch and
// undone by Restore, bans and allowlist included; changes to another table
// and the enforcer's own element changes do not call it.
func TestWatchRestore(t *testing.T) {
	allow := netip.MustParsePrefix("10.231.1.200/32")
	l := newLab(t, Config{Table: "phx_watch", Allow: []netip.Prefix{allow}})
	now := time.Now()
	decisions := []phalanx.Decision{ban(host(cli4), now.Add(time.Hour)), ban("10.231.1.0/24", now.Add(time.Hour)), ban(host(cli6), now.Add(time.Hour))}
	if err := l.enf.Reconcile(decisions, now); err != nil {
		t.Fatal(err)
	}
	l.wantBlocked(cli4, cliNetA, cli6)
	l.wantOpen(cliNetOK, cli4b)

	var calls atomic.Int64
	var looked atomic.Uint32
	l.enf.looked = func(gen uint32) { looked.Store(gen) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.enf.Watch(ctx, func() { calls.Add(1) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	nft := func(args ...string) {
		t.Helper()
		if out, err := l.server.Exec(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	// Our own element changes and another table's are not removals: once
	// Watch has looked at the generation after them, it has not called.
	gen := func() uint32 {
		t.Helper()
		g, err := openSock(l.enf.netns)
		if err != nil {
			t.Fatal(err)
		}
		defer g.close()
		n, err := g.generation()
		if err != nil {
			t.Fatalf("read the generation: %v", err)
		}
		return n
	}
	before := gen()
	if err := l.enf.Apply([]phalanx.Decision{ban(host(cli4b), now.Add(time.Hour))}, []phalanx.Decision{ban(host(cli4b), now)}, now); err != nil {
		t.Fatal(err)
	}
	nft("add", "table", "inet", "other")
	nft("delete", "table", "inet", "other")
	after := gen()
	if int32(after-before) < 3 {
		t.Fatalf("generation %d before an Apply and two transactions, %d after", before, after)
	}
	eventually(t, 5*time.Second, "Watch to look at the generation after them", func() bool { return int32(looked.Load()-after) >= 0 })
	if n := calls.Load(); n != 0 {
		t.Fatalf("Watch called %d times for changes that left the table whole", n)
	}
	if restored, err := l.enf.Restore(decisions, time.Now()); err != nil || restored {
		t.Fatalf("Restore on an intact table: restored %v, err %v", restored, err)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"flush ruleset", []string{"flush", "ruleset"}},
		{"delete chain", []string{"delete", "chain", "inet", "phx_watch", "input"}},
		{"flush chain", []string{"flush", "chain", "inet", "phx_watch", "input"}},
	} {
		before := calls.Load()
		nft(tc.args...)
		eventually(t, 5*time.Second, tc.name+": Watch to call", func() bool { return calls.Load() > before })
		l.wantOpen(cli4) // the ban is gone with the rules
		restored, err := l.enf.Restore(decisions, time.Now())
		if err != nil || !restored {
			t.Fatalf("%s: Restore: restored %v, err %v", tc.name, restored, err)
		}
		l.wantBlocked(cli4, cliNetA)
		l.wantOpen(cliNetOK)
		// IPv6 by the set's content: a dropped neighbour solicitation
		// shows as "no route to host" rather than a timeout.
		if c := l.counts(); c.Ban6 != 1 || c.Ban4 != 1 || c.Allow4 != 1 {
			t.Errorf("%s: counts after Restore %+v; want 1 IPv4 and 1 IPv6 ban, 1 allowed\n%s", tc.name, c, l.nftList())
		}
	}
	// Restore's own rebuild (a flushed chain's rules replaced) may call
	// Watch again: a Restore then finds the table intact.
	if restored, err := l.enf.Restore(decisions, time.Now()); err != nil || restored {
		t.Errorf("Restore after the restores: restored %v, err %v; want an intact table", restored, err)
	}
}
