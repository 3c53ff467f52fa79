package daemon_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/testenv"
)

// TestPlainMemberFoundsAndJoins: data directories that ran as members
// alone become a founder (alliance init) and a joining member (Join) once
// their daemons stop: each keeps its identity and its own bans, its own
// stream and charter are moved aside (not deleted), the founder keeps the
// operator's charter settings, and the two form one alliance that shares
// a new attack. While a plain member runs, neither is allowed.
func TestPlainMemberFoundsAndJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four daemons")
	}
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	logA, logB := filepath.Join(base, "a.log"), filepath.Join(base, "b.log")

	// A and B run alone and each bans its own attacker. A's operator has
	// tuned its charter: a territory the alliance must keep.
	a := startMember(t, dirA, logA)
	b := startMember(t, dirB, logB)
	for _, x := range []struct {
		m        *member
		attacker string
	}{{a, "203.0.113.10"}, {b, "203.0.113.20"}} {
		x.m.waitTailing()
		appendLines(t, x.m.log, attack(x.attacker, 8)...)
		waitFor(t, 20*time.Second, "the plain member's own ban", func() bool { return banned(x.m.d, x.attacker) })
	}
	idA := a.d.ID()

	if _, err := daemon.InitAlliance(dirA, daemon.InitOptions{Name: "adopted", Now: time.Now()}); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("alliance init while the plain member runs: %v; want a refusal that says to stop it", err)
	}
	a.stop()
	b.stop()
	plain, err := charter.Load(filepath.Join(dirA, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plain.Territory = append(plain.Territory, netip.MustParsePrefix("198.51.100.0/24"))
	data, err := plain.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirA, "charter.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	fabA := testenv.FreeFabricAddr(t)
	var moved []string
	c, err := daemon.InitAlliance(dirA, daemon.InitOptions{Name: "adopted", Fabric: fabA, Now: time.Now(), Moved: func(p string) { moved = append(moved, p) }})
	if err != nil {
		t.Fatalf("alliance init on a plain member's directory: %v", err)
	}
	if len(c.Members) != 1 || c.Members[0].ID != idA || !c.Members[0].Founding {
		t.Fatalf("the new charter's members %+v: want the plain member (%s) alone, founding", c.Members, idA)
	}
	if len(c.Territory) != len(plain.Territory) {
		t.Fatalf("the new charter's territory %v: want the plain member's %v", c.Territory, plain.Territory)
	}
	if len(moved) < 2 {
		t.Fatalf("moved aside %v: want the stream and the charter", moved)
	}
	for _, p := range moved {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("what was moved aside is gone: %v", err)
		}
	}
	if _, err := daemon.InitAlliance(dirA, daemon.InitOptions{Name: "again", Now: time.Now()}); err == nil {
		t.Fatal("a second alliance init on a founder's directory was accepted")
	}

	a = startWith(t, dirA, logA, func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fabA })
	if got := a.d.ID(); got != idA {
		t.Fatalf("the founder is %s, was %s as a plain member", got, idA)
	}
	waitFor(t, 20*time.Second, "the founder's own ban from its plain days", func() bool { return banned(a.d, "203.0.113.10") })

	tok, err := daemon.Invite(dirA, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fabB := testenv.FreeFabricAddr(t)
	moved = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	joined, err := daemon.Join(ctx, dirB, daemon.JoinOptions{Token: tok.String(), Fabric: fabB, Now: time.Now(), Moved: func(p string) { moved = append(moved, p) }})
	cancel()
	if err != nil || !joined {
		t.Fatalf("a plain member joins: joined %v, err %v", joined, err)
	}
	if len(moved) < 2 {
		t.Fatalf("the joiner moved aside %v: want its stream and charter", moved)
	}
	b = startWith(t, dirB, logB, func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fabB })
	al := &alliance{members: []*member{a, b}}
	al.sameCharter(t, 2)
	waitFor(t, 20*time.Second, "the joiner's own ban from its plain days", func() bool { return banned(b.d, "203.0.113.20") })

	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.30", 8)...)
	waitFor(t, 30*time.Second, "a new attack on B banned on A", func() bool { return banned(a.d, "203.0.113.30") })
}
