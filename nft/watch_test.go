package nft

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// Our own element changes and another table's are not removals. A
	// table created and deleted after them proves their notifications were
	// read: it must not call either.
	if err := l.enf.Apply([]phalanx.Decision{ban(host(cli4b), now.Add(time.Hour))}, []phalanx.Decision{ban(host(cli4b), now)}, now); err != nil {
		t.Fatal(err)
	}
	nft("add", "table", "inet", "other")
	nft("delete", "table", "inet", "other")
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

// TestRemoves: which notifications count as a removal of our table.
func TestRemoves(t *testing.T) {
	msg := func(typ uint16, family byte, table string) nlmsg {
		b := []byte{family, 0, 0, 0}
		b = appendAttr(b, 1, cstring(table))
		return nlmsg{typ: typ, data: b}
	}
	const sub = unix.NFNL_SUBSYS_NFTABLES << 8
	for _, tc := range []struct {
		m    nlmsg
		want bool
	}{
		{msg(sub|unix.NFT_MSG_DELTABLE, unix.NFPROTO_INET, "phalanx"), true},
		{msg(sub|unix.NFT_MSG_DELCHAIN, unix.NFPROTO_INET, "phalanx"), true},
		{msg(sub|unix.NFT_MSG_DELRULE, unix.NFPROTO_INET, "phalanx"), true},
		{msg(sub|unix.NFT_MSG_DELSET, unix.NFPROTO_INET, "phalanx"), true},
		{msg(sub|unix.NFT_MSG_DELSETELEM, unix.NFPROTO_INET, "phalanx"), false}, // unbans, expiry
		{msg(sub|unix.NFT_MSG_NEWSETELEM, unix.NFPROTO_INET, "phalanx"), false},
		{msg(sub|unix.NFT_MSG_DELTABLE, unix.NFPROTO_INET, "other"), false},
		{msg(sub|unix.NFT_MSG_DELTABLE, unix.NFPROTO_INET, "phalanxx"), false},
		{msg(sub|unix.NFT_MSG_DELTABLE, unix.NFPROTO_IPV4, "phalanx"), false}, // table ip phalanx is not ours
		{nlmsg{typ: sub | unix.NFT_MSG_DELTABLE, data: []byte{1}}, false},     // short
	} {
		if got := removes(tc.m, "phalanx"); got != tc.want {
			t.Errorf("removes(type %#x, %q) = %v, want %v", tc.m.typ, tc.m.data, got, tc.want)
		}
	}
}
