package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/report"
	"phalanx/testenv"
)

// alliance is members formed the way operators form one: init on A, then an
// invite and a join for each further member.
type alliance struct {
	members []*member
}

// formAlliance forms an alliance of n members. Each join function, if any,
// may set further options for member i (1 for B, 2 for C, …) before it
// joins; the token, fabric address and clock are set here and overwrite
// anything a join function sets for them.
func formAlliance(t *testing.T, n int, join ...func(i int, o *daemon.JoinOptions)) *alliance {
	t.Helper()
	base := t.TempDir()
	al := &alliance{}
	dirA := filepath.Join(base, "a")
	if _, err := daemon.InitAlliance(dirA, daemon.InitOptions{Name: "test-fleet", Fabric: testenv.FreeFabricAddr(t), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	al.members = append(al.members, startMember(t, dirA, filepath.Join(base, "a.log")))
	for i := 1; i < n; i++ {
		tok, err := daemon.Invite(dirA, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(base, string(rune('a'+i)))
		fab := testenv.FreeFabricAddr(t)
		var jo daemon.JoinOptions
		for _, f := range join {
			f(i, &jo)
		}
		jo.Token, jo.Fabric, jo.Now = tok.String(), fab, time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		joined, err := daemon.Join(ctx, dir, jo)
		cancel()
		if err != nil || !joined {
			t.Fatalf("member %d join: joined %v, err %v", i, joined, err)
		}
		al.members = append(al.members, startWith(t, dir, filepath.Join(base, string(rune('a'+i))+".log"),
			func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fab }))
	}
	return al
}

// sameCharter waits until every member holds a charter of n members with
// the same hash.
func (al *alliance) sameCharter(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("every member to hold the same charter of %d members", n), func() bool {
		var hash string
		for _, m := range al.members {
			var st daemon.Status
			if m.admin("GET", "/api/status", &st) != 200 || st.Members != n {
				return false
			}
			if hash == "" {
				hash = st.Charter
			} else if st.Charter != hash {
				return false
			}
		}
		return true
	})
}

func TestAllianceFormsAndShares(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a, b, c := al.members[0], al.members[1], al.members[2]

	// The charter on disk is the one in force, on every member.
	for _, m := range al.members {
		ch, err := charter.Load(filepath.Join(m.dir, "charter.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Members) != 3 || ch.Version < 3 {
			t.Fatalf("%s: charter on disk has %d members, version %d", m.dir, len(ch.Members), ch.Version)
		}
	}

	// An attack seen by B alone is banned on A and C.
	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.77", 6)...)
	for _, m := range []*member{a, b, c} {
		waitFor(t, 20*time.Second, "the ban on "+m.dir, func() bool { return banned(m.d, "203.0.113.77") })
	}

	// explain on C names the detector and every member's enforcement.
	waitFor(t, 20*time.Second, "every member's enforcement in C's timeline", func() bool {
		var ex struct {
			Timeline []struct {
				What, Member string
				MemberName   string `json:"member_name"`
			} `json:"timeline"`
		}
		c.admin("GET", "/api/explain?address=203.0.113.77", &ex)
		enforced := map[string]bool{}
		report := false
		for _, e := range ex.Timeline {
			switch e.What {
			case "enforced":
				enforced[e.Member] = e.MemberName != "" // named from the charter
			case "report":
				report = report || e.Member == b.d.ID()
			}
		}
		return report && enforced[a.d.ID()] && enforced[b.d.ID()] && enforced[c.d.ID()]
	})

	// A member that is not founding may neither pardon nor ban by hand:
	// refused at once, nothing signed.
	if code := b.admin("DELETE", "/api/decisions?value=203.0.113.77", nil); code != 403 {
		t.Errorf("a pardon on a member that is not founding: HTTP %d, want 403", code)
	}
	if code := b.adminBody("POST", "/api/decisions", map[string]string{"value": "203.0.113.90"}, nil); code != 403 {
		t.Errorf("a manual ban on a member that is not founding: HTTP %d, want 403", code)
	}
	// A pardon on the founding member lifts the ban everywhere.
	if code := a.admin("DELETE", "/api/decisions?value=203.0.113.77", nil); code != 200 {
		t.Fatalf("pardon: status %d", code)
	}
	for _, m := range []*member{a, b, c} {
		waitFor(t, 20*time.Second, "the pardon on "+m.dir, func() bool { return !banned(m.d, "203.0.113.77") })
	}

	// A used invite does not admit a second member.
	tok, err := daemon.Invite(a.dir, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := daemon.Join(ctx, filepath.Join(t.TempDir(), "d"), daemon.JoinOptions{Token: tok.String(), Fabric: testenv.FreeFabricAddr(t), Now: time.Now()}); err != nil {
		t.Fatalf("first use of an invite: %v", err)
	}
	_, err = daemon.Join(ctx, filepath.Join(t.TempDir(), "e"), daemon.JoinOptions{Token: tok.String(), Fabric: testenv.FreeFabricAddr(t), Now: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "used") {
		t.Fatalf("second use of an invite: err = %v, want one saying it was used", err)
	}

	// Removing C (an amendment by the founding member): A and B no
	// longer let C's server link to theirs (its certificate's key is no
	// longer a member's) and ignore C's reports, while C still defends
	// itself.
	if code := c.admin("DELETE", "/api/alliance/members/"+a.d.ID(), nil); code != 403 {
		t.Fatalf("a member that is not founding removed another: status %d, want 403", code)
	}
	if code := a.admin("DELETE", "/api/alliance/members/"+c.d.ID(), nil); code != 200 {
		t.Fatalf("remove C: status %d", code)
	}
	rest := &alliance{members: []*member{a, b}}
	rest.sameCharter(t, 3) // A, B and the member that joined with the used invite
	c.waitTailing()
	appendLines(t, c.log, attack("203.0.113.88", 6)...)
	waitFor(t, 20*time.Second, "C's self-defense ban", func() bool { return banned(c.d, "203.0.113.88") })
	// A later attack seen by B reaches A: by then C's report would have.
	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.89", 6)...)
	for _, m := range []*member{a, b} {
		waitFor(t, 20*time.Second, "B's later ban on "+m.dir, func() bool { return banned(m.d, "203.0.113.89") })
		if banned(m.d, "203.0.113.88") {
			t.Fatalf("%s banned on the report of a removed member", m.dir)
		}
	}
}

// TestLoneFounderReportsReachNewMembers: a founding member alone bans at
// once; its report waits in the outbox (the stream needs a majority) until
// a member joins, long enough to be stale by then, and is reissued as of
// now, so the newcomer bans the attacker too.
func TestLoneFounderReportsReachNewMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	base := t.TempDir()
	dirA := filepath.Join(base, "a")
	c, err := daemon.InitAlliance(dirA, daemon.InitOptions{Name: "lone", Fabric: testenv.FreeFabricAddr(t), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// A short skew makes the wait short: reports older than 3 s when the
	// fabric stores them are stale.
	c.Limits.Skew = 3 * time.Second
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirA, "charter.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var logA syncBuffer
	a := startWith(t, dirA, filepath.Join(base, "a.log"), func(_ *config.File, o *daemon.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logA, nil))
	})
	a.waitTailing()
	appendLines(t, a.log, attack("203.0.113.90", 6)...)
	waitFor(t, 10*time.Second, "A's self-defense ban", func() bool { return banned(a.d, "203.0.113.90") })
	// Told although the member has not reconciled with a stream it cannot
	// reach yet: its log line, and its enforcement in the timeline (what
	// the alliance later learns from its enforcement record).
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logA.String(), "msg=ban value=203.0.113.90/32") ||
		len(a.entries("203.0.113.90", "enforced")) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for A's ban line and one enforcement entry: entries %+v; A's log:\n%s",
				a.entries("203.0.113.90", "enforced"), logA.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logA.String(), "the fabric's report stream is not available yet") {
		t.Fatalf("A was not waiting for its stream; the test needs it to:\n%s", logA.String())
	}
	made := time.Now()
	// Older than the skew before anyone can store it: stale for sure.
	waitFor(t, 10*time.Second, "the report to age past the skew", func() bool { return time.Since(made) > 4*time.Second })

	tok, err := daemon.Invite(dirA, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dirB, fab := filepath.Join(base, "b"), testenv.FreeFabricAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := daemon.Join(ctx, dirB, daemon.JoinOptions{Token: tok.String(), Fabric: fab, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := startWith(t, dirB, filepath.Join(base, "b.log"), func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fab })
	waitFor(t, 30*time.Second, "B to ban the lone founder's attacker", func() bool { return banned(b.d, "203.0.113.90") })
	// The original reached B too, and was rejected as stale: the ban came
	// from the reissued copy.
	waitFor(t, 20*time.Second, "B to reject the original report as stale", func() bool {
		var st daemon.Status
		b.admin("GET", "/api/status", &st)
		return st.Rejected["stale"] > 0
	})
}

// joinLeaf invites a member without a fabric address (a leaf member, its
// server attached to the others' as a NATS leaf node) from the founder,
// and starts it; it is not added to al.members.
func (al *alliance) joinLeaf(t *testing.T) *member {
	t.Helper()
	dir := al.leafDir(t, "leaf")
	return startMember(t, dir, filepath.Join(dir, "auth.log"))
}

// leafDir invites a leaf member from the founder and makes its data
// directory (named name, in a temporary directory) with a join.
func (al *alliance) leafDir(t *testing.T, name string) string {
	t.Helper()
	tok, err := daemon.Invite(al.members[0].dir, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := daemon.Join(ctx, dir, daemon.JoinOptions{Token: tok.String(), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLeafMember: a member that joins without a fabric address attaches
// its server to the others as a NATS leaf node (the scale-out topology);
// attacks seen by it are banned by the others, and the other way round.
func TestLeafMember(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a := al.members[0]
	leaf := al.joinLeaf(t)
	dir := leaf.dir
	al.members = append(al.members, leaf)
	al.sameCharter(t, 4)
	ch, err := charter.Load(filepath.Join(dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if me, _, _ := ch.Member(leaf.d.ID()); me.Fabric != "" {
		t.Fatalf("the leaf member has a fabric address in the charter: %q", me.Fabric)
	}

	leaf.waitTailing()
	appendLines(t, leaf.log, attack("203.0.113.101", 6)...)
	for _, m := range al.members {
		waitFor(t, 30*time.Second, "the leaf's attacker banned on "+m.dir, func() bool { return banned(m.d, "203.0.113.101") })
	}
	a.waitTailing()
	appendLines(t, a.log, attack("203.0.113.102", 6)...)
	waitFor(t, 30*time.Second, "A's attacker banned on the leaf", func() bool { return banned(leaf.d, "203.0.113.102") })
}

// TestDigestsCompared: members that judged the same reports compare the
// digests of the bans they hold; a member that holds a ban the other does
// not is noticed.
func TestDigestsCompared(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]
	a.waitTailing()
	appendLines(t, a.log, attack("203.0.113.120", 6)...)
	waitFor(t, 20*time.Second, "the ban on B", func() bool { return banned(b.d, "203.0.113.120") })
	reports := func(m *member) map[string]int64 {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Reports
	}
	// Members compare every 10 s, and only at moments when both hold the
	// same positions: on a loaded machine a few rounds may pass.
	waitFor(t, 90*time.Second, "both members to compare digests", func() bool {
		return reports(a)["digests_compared"] > 0 && reports(b)["digests_compared"] > 0
	})
	for _, m := range []*member{a, b} {
		if n := reports(m)["digest_mismatches"]; n != 0 {
			t.Fatalf("%s: %d digest mismatches with identical reports", m.dir, n)
		}
	}

	// B's arbiter judges a report the fabric never carried.
	r := report.Report{Type: report.TypeAlert, Seq: 1 << 40, Time: time.Now().UTC(), Scenario: "ssh-bf",
		Value: netip.MustParsePrefix("203.0.113.121/32"), First: time.Now().UTC(), Last: time.Now().UTC(), Count: 6}
	r.Sign(b.d.IdentityForTest())
	b.d.JudgeLocallyForTest(&r)
	waitFor(t, 40*time.Second, "the differing bans to be noticed", func() bool {
		return reports(a)["digest_mismatches"] > 0 || reports(b)["digest_mismatches"] > 0
	})
}
