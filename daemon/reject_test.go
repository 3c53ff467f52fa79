package daemon

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"phalanx/identity"
	"phalanx/report"
)

// TestForgedReportsAreRejected publishes bad reports straight onto the
// fabric: malformed, from a stranger, signed by the wrong key, replayed,
// stale. None is applied; each is counted by its reason.
func TestForgedReportsAreRejected(t *testing.T) {
	d, ctx := runTestDaemon(t)

	stranger, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(v string, seq uint64, at time.Time) report.Report {
		return report.Report{Type: report.TypeAlert, Seq: seq, Time: at.UTC(), Scenario: "ssh-bf",
			Value: netip.MustParsePrefix(v), First: at.UTC(), Last: at.UTC(), Count: 6}
	}
	now := time.Now()
	publish := func(id string, data []byte) {
		if _, err := d.fab.Publish(ctx, d.id.ID, id, data); err != nil {
			t.Fatal(err)
		}
	}
	// A valid report of our own, to have something to replay.
	good := mk("203.0.113.1/32", 1, now)
	good.Sign(d.id)
	publish(good.ID(), report.Marshal(&good))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := d.table.Lookup(netip.MustParseAddr("203.0.113.1"), time.Now()); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the valid report was not applied")
		}
	}

	publish("junk", []byte("this is not a report"))
	fromStranger := mk("203.0.113.2/32", 1, now)
	fromStranger.Sign(stranger)
	publish(fromStranger.ID(), report.Marshal(&fromStranger))
	wrongKey := mk("203.0.113.3/32", 2, now)
	wrongKey.Sign(stranger)
	wrongKey.Member = d.id.ID // claims to be us
	publish(wrongKey.ID(), report.Marshal(&wrongKey))
	replayed := mk("203.0.113.4/32", 1, now.Add(time.Second)) // our seq 1 again
	replayed.Sign(d.id)
	publish(replayed.ID(), report.Marshal(&replayed))
	stale := mk("203.0.113.5/32", 3, now.Add(-time.Hour))
	stale.Sign(d.id)
	publish(stale.ID(), report.Marshal(&stale))

	// Each forgery is rejected for its own reason (a stranger's report is
	// judged again when its stream copy comes: the stranger may be a
	// member this one has not heard of yet, so it may count twice).
	want := []string{"bad-version", "unknown-member", "bad-signature", "replayed", "stale"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rej := d.status().Rejected
		missing := 0
		for _, r := range want {
			if rej[r] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rejections by reason %v; want each of %v", rej, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, v := range []string{"203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"} {
		if _, ok := d.table.Lookup(netip.MustParseAddr(v), time.Now()); ok {
			t.Errorf("%s banned by a rejected report", v)
		}
	}
	t.Logf("rejected by reason: %v", d.status().Rejected)
}

// runTestDaemon starts a daemon with enforcement off and the API on a free
// loopback port, and waits until it has caught up; it stops with the test.
func runTestDaemon(t *testing.T) (*Daemon, context.Context) {
	t.Helper()
	d, _ := startStoppable(t, "")
	return d, t.Context()
}
