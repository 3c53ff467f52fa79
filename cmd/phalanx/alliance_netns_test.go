package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// Attackers of TestAllianceNamespaces, all on X's one interface in the test
// LAN with the neighbour.
const (
	attacker1 = "10.77.0.66"
	attacker2 = "10.77.0.67"
	attacker3 = "10.77.0.68"
)

// TestAllianceNamespaces forms a three-member alliance of real `phalanx run`
// processes, each in its own network namespace with nftables enforcement,
// on a bridge shared with an attacker's namespace X, the way operators form
// one: init on A, then an invite and `run --join` for B and C.
//
// Step 1: a brute force seen by A alone gets the attacker dropped by the
// kernels of A, B and C, while a neighbour on the attacker's interface
// still connects.
// Step 2: with B killed (-9), an attack is banned by A and C, and B, restarted
// with the same flags, catches up (its table and its kernel set). With C cut
// off the bridge, an attack is banned by A and B, and once C is back all
// three list the same alliance decisions, to the nanosecond of their ends.
func TestAllianceNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member alliance in network namespaces")
	}
	al := newNSAlliance(t, []string{"a", "b", "c"}, attacker1, attacker2, attacker3, neighbour)
	l, x, members, step := al.l, al.x, al.members, al.step
	a, b, c := members[0], members[1], members[2]
	al.form("nsfleet")
	stA, err := a.status()
	if err != nil {
		t.Fatal(err)
	}

	// Before any attack, X reaches every member.
	for _, m := range members {
		for _, from := range []string{attacker1, neighbour} {
			if err := dialFrom(x, from, m.service(), 2*time.Second); err != nil {
				t.Fatalf("before the attack, %s cannot reach %s: %v", from, m.service(), err)
			}
		}
	}
	step("X reaches A, B and C from %s and %s", attacker1, neighbour)

	// Step 1: A alone sees the attack; A, B and C all drop the attacker.
	a.waitTailing(t)
	appendTo(t, a.log, bruteForce(attacker1, 6)...)
	wrote := time.Now()
	type latency struct {
		m   *nsMember
		d   time.Duration
		err error
	}
	lat := make(chan latency, len(members))
	for _, m := range members {
		go func() {
			d, err := timeToBanSet(m.ns, attacker1, wrote, 30*time.Second)
			lat <- latency{m, d, err}
		}()
	}
	for range members {
		r := <-lat
		if r.err != nil {
			t.Fatal(r.err)
		}
		step("%s in %s's nft set %v after the last attack line was written", attacker1, strings.ToUpper(r.m.name), r.d.Round(100*time.Microsecond))
	}
	for _, m := range members {
		waitUntil(t, 10*time.Second, attacker1+" dropped by "+m.name, func() bool {
			return dropped(dialFrom(x, attacker1, m.service(), time.Second))
		})
		if err := dialFrom(x, neighbour, m.service(), 2*time.Second); err != nil {
			t.Errorf("the neighbour %s cannot reach %s any more: %v", neighbour, m.service(), err)
		}
	}
	step("%s is dropped by A, B and C (connect timeouts); %s still connects", attacker1, neighbour)
	// C's explanation names A's report behind its ban.
	var ex daemon.Explanation
	if err := phalanxJSON(c.ns, &ex, "explain", attacker1, "--data", c.data); err != nil {
		t.Fatal(err)
	}
	fromA := slices.ContainsFunc(ex.Timeline, func(e daemon.Entry) bool { return e.What == "report" && e.Member == stA.Member })
	if !ex.Banned || !fromA {
		t.Errorf("explain %s on C: banned %v, report by A (%s) in the timeline %v; want both:\n%+v", attacker1, ex.Banned, shortHash(stA.Member), fromA, ex.Timeline)
	}

	// Step 2a: B is killed; an attack is banned by A and C; B restarted
	// (same flags, --join included) catches up.
	b.p.kill()
	step("killed B with SIGKILL")
	appendTo(t, a.log, bruteForce(attacker2, 6)...)
	wrote = time.Now()
	al.bannedBy(attacker2, wrote, 30*time.Second, "B down", a, c)
	b.start(t)
	step("B restarted with the same flags and serves")
	waitUntil(t, 30*time.Second, "B to catch up with "+attacker2, func() bool { return b.banned(attacker2) && b.hasDecision(attacker2) })
	if !b.banned(attacker1) {
		t.Errorf("B's nft set lost %s over its restart", attacker1)
	}
	step("B caught up: %s in its nft set and its decision list", attacker2)
	waitUntil(t, 10*time.Second, attacker2+" dropped by B", func() bool {
		return dropped(dialFrom(x, attacker2, b.service(), time.Second))
	})

	// Step 2b: C is cut off the bridge; an attack is banned by A and B; once
	// C is back, all three agree.
	l.setPort(t, c.port, false)
	step("cut C's link (hub port %s down)", c.port)
	appendTo(t, a.log, bruteForce(attacker3, 6)...)
	wrote = time.Now()
	al.bannedBy(attacker3, wrote, 45*time.Second, "C cut off", a, b)
	// The cut lasts while A and B are seen dropping the attacker (a connect
	// timeout each): long enough that packets to C are lost, not delayed.
	for _, m := range []*nsMember{a, b} {
		waitUntil(t, 10*time.Second, attacker3+" dropped by "+m.name, func() bool {
			return dropped(dialFrom(x, attacker3, m.service(), time.Second))
		})
	}
	if err := dialFrom(x, neighbour, c.service(), time.Second); err == nil {
		t.Fatalf("%s reached C while its link was cut: the cut did not isolate it", neighbour)
	}
	if c.banned(attacker3) {
		t.Fatalf("C banned %s while cut off: the cut did not isolate it", attacker3)
	}
	step("A and B drop %s; C, cut off, has not banned it", attacker3)
	l.setPort(t, c.port, true)
	healed := time.Now()
	step("healed C's link")
	d, err := timeToBanSet(c.ns, attacker3, healed, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	step("%s in C's nft set %v after the heal", attacker3, d.Round(100*time.Microsecond))
	var sets [3][]string
	waitUntil(t, 60*time.Second, "A, B and C to list the same alliance decisions", func() bool {
		for i, m := range members {
			s, err := m.allianceDecisions()
			if err != nil {
				return false
			}
			sets[i] = s
		}
		return len(sets[0]) >= 3 && slices.Equal(sets[0], sets[1]) && slices.Equal(sets[0], sets[2])
	})
	step("A, B and C list the same %d alliance decisions, %v after the heal", len(sets[0]), time.Since(healed).Round(time.Millisecond))
	for _, attacker := range []string{attacker1, attacker2, attacker3} {
		if !slices.ContainsFunc(sets[0], func(k string) bool { return strings.HasPrefix(k, attacker+" alliance ") }) {
			t.Errorf("no alliance decision on %s in %v", attacker, sets[0])
		}
	}
	if len(sets[0]) != 3 {
		t.Errorf("%d alliance decisions, want exactly one per attacker: %v", len(sets[0]), sets[0])
	}
	waitUntil(t, 10*time.Second, attacker3+" dropped by C", func() bool {
		return dropped(dialFrom(x, attacker3, c.service(), time.Second))
	})
	for _, m := range members {
		if err := dialFrom(x, neighbour, m.service(), 2*time.Second); err != nil {
			t.Errorf("at the end, the neighbour %s cannot reach %s: %v", neighbour, m.service(), err)
		}
	}
	step("C caught up after the heal: %s dropped; the neighbour still connects everywhere", attacker3)
	for _, m := range members {
		st, err := m.status()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: reports %v", strings.ToUpper(m.name), st.Reports)
		// Honest members, one charter: nothing may be rejected or fail.
		if st.Reports["rejected"] != 0 || st.Reports["enforce_errors"] != 0 {
			t.Errorf("%s rejected %d reports (by reason %v) and counted %d enforcement errors; want none",
				m.name, st.Reports["rejected"], st.Rejected, st.Reports["enforce_errors"])
		}
	}
}
