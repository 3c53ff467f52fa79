package nft

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"phalanx"
)

// TestAudit: Audit counts what the kernel holds and which of the
// decisions' addresses and /64s it lacks — after one element is deleted
// and after a whole set is flushed by hand, which no watch for removed
// tables sees — and a Reconcile brings them back.
func TestAudit(t *testing.T) {
	l := newLab(t, Config{Table: "phx_audit"})
	now := time.Now()
	net64 := netip.PrefixFrom(cli6NetA, 64).Masked().String()
	decisions := []phalanx.Decision{ban(host(cli4), now.Add(time.Hour)), ban(host(cli4b), now.Add(time.Hour)), ban(host(cli6), now.Add(time.Hour)),
		ban(net64, now.Add(time.Hour)), ban("10.231.1.0/24", now.Add(time.Hour)),
		ban(host(cliNetOK), now.Add(2*time.Second))} // ends within the grace: never missing, whenever its element times out
	if err := l.enf.Reconcile(decisions, now); err != nil {
		t.Fatal(err)
	}
	audit := func(want, missing int) Audit {
		t.Helper()
		a, err := l.enf.Audit(decisions, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if a.Want != want || a.Missing != missing {
			t.Fatalf("audit: want %d missing %d, got %+v", want, missing, a)
		}
		return a
	}
	a := audit(4, 0)
	if a.Kernel.Ban4 < 2 || a.Kernel.Ban6 != 1 || a.Kernel.Ban6Nets != 1 || a.Kernel.Ban4Ranges == 0 {
		t.Fatalf("kernel counts %+v: want 2 IPv4 addresses (3 until the short ban times out), 1 IPv6, 1 /64 and the /24's pieces", a.Kernel)
	}
	nft := func(args ...string) {
		t.Helper()
		if out, err := l.server.Exec(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	nft("delete", "element", "inet", "phx_audit", setBan4, "{ "+cli4b.String()+" }")
	audit(4, 1)
	nft("flush", "set", "inet", "phx_audit", setBan6N)
	audit(4, 2)
	l.wantOpen(cli4b)
	if err := l.enf.Reconcile(decisions, time.Now()); err != nil {
		t.Fatal(err)
	}
	audit(4, 0)
	l.wantBlocked(cli4, cli4b, cli6, cli6NetA)
}
