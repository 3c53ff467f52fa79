package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
	"phalanx/netns"
)

// The test LAN: private addresses that exist only inside the namespaces the
// test creates.
var testLAN = netip.MustParsePrefix("10.77.0.0/24")

const (
	lanAddrA = "10.77.0.1"
	lanAddrB = "10.77.0.2"
	lanAddrC = "10.77.0.3"
	// Attackers and a bystander, all on X's one interface.
	attacker1 = "10.77.0.66"
	attacker2 = "10.77.0.67"
	attacker3 = "10.77.0.68"
	neighbour = "10.77.0.99"

	fabricPort  = "7422" // clients; cluster routes on 7423
	servicePort = "2222" // the TCP service the attacker probes
)

// nsMember is one alliance member: a real `phalanx run` process in its own
// network namespace, enforcing with nftables there.
type nsMember struct {
	name string
	ns   *netns.NS
	port string // its port on the hub's bridge
	addr string
	data string // data directory
	log  string // the sshd log it tails
	args []string
	p    *proc
}

func (m *nsMember) fabric() string  { return net.JoinHostPort(m.addr, fabricPort) }
func (m *nsMember) service() string { return net.JoinHostPort(m.addr, servicePort) }

// start runs `phalanx run` with m.args and waits until its API answers.
func (m *nsMember) start(t *testing.T) {
	t.Helper()
	m.p = startDaemonIn(t, m.ns, m.data, m.args...)
	waitServingVia(t, clientIn(m.ns), m.p, m.data)
}

func (m *nsMember) status() (daemon.Status, error) {
	var st daemon.Status
	err := phalanxJSON(m.ns, &st, "status", "--data", m.data)
	return st, err
}

func (m *nsMember) decisions() ([]daemon.DecisionView, error) {
	var ds []daemon.DecisionView
	err := phalanxJSON(m.ns, &ds, "decisions", "list", "--data", m.data)
	return ds, err
}

// hasDecision reports whether `phalanx decisions list` on m shows one on addr.
func (m *nsMember) hasDecision(addr string) bool {
	ds, err := m.decisions()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ds, func(d daemon.DecisionView) bool { return d.Value == addr })
}

func (m *nsMember) banned(addr string) bool {
	ok, _ := inBanSet(m.ns, addr)
	return ok
}

// waitTailing appends harmless lines to m's log until the daemon has read
// one: lines written before the tail opened the file might not be read.
func (m *nsMember) waitTailing(t *testing.T) {
	t.Helper()
	waitUntil(t, 20*time.Second, m.name+"'s tail to read a line", func() bool {
		appendTo(t, m.log, time.Now().Format(time.Stamp)+" web1 CRON[9]: (root) CMD (true)")
		st, err := m.status()
		return err == nil && st.Pipeline["lines"] > 0
	})
}

// allianceKey identifies an alliance decision across members.
func allianceKey(d daemon.DecisionView) string {
	return d.Value + " " + d.Origin + " " + d.Until.UTC().Format(time.RFC3339Nano)
}

// allianceDecisions is the sorted set of m's decisions not made by m alone.
func (m *nsMember) allianceDecisions() ([]string, error) {
	ds, err := m.decisions()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		if d.Origin != "self" {
			out = append(out, allianceKey(d))
		}
	}
	slices.Sort(out)
	return out, nil
}

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
	needTools(t, "ip")
	if hostUses(testLAN) {
		msg := fmt.Sprintf("the host has an address in %s, the test's private LAN: pick another prefix in alliance_netns_test.go", testLAN)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	began := time.Now()
	last := began
	step := func(format string, args ...any) {
		t.Helper()
		now := time.Now()
		t.Logf("[%6.2fs %+6.2fs] %s", now.Sub(began).Seconds(), now.Sub(last).Seconds(), fmt.Sprintf(format, args...))
		last = now
	}

	l := newLAN(t)
	base := t.TempDir()
	mk := func(name, addr string) *nsMember {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m := &nsMember{name: name, ns: netns.New(t), port: "to-" + name, addr: addr,
			data: filepath.Join(dir, "data"), log: filepath.Join(dir, "auth.log")}
		l.attach(t, m.ns, m.port, netip.PrefixFrom(netip.MustParseAddr(addr), testLAN.Bits()))
		if err := os.WriteFile(m.log, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b, c := mk("a", lanAddrA), mk("b", lanAddrB), mk("c", lanAddrC)
	needNftables(t, a.ns)
	members := []*nsMember{a, b, c}
	x := netns.New(t)
	var xAddrs []netip.Prefix
	for _, s := range []string{attacker1, attacker2, attacker3, neighbour} {
		xAddrs = append(xAddrs, netip.PrefixFrom(netip.MustParseAddr(s), testLAN.Bits()))
	}
	l.attach(t, x, "to-x", xAddrs...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, m := range members {
			out, _ := os.ReadFile(filepath.Join(filepath.Dir(m.data), "daemon.log"))
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			t.Logf("last lines of %s's daemon.log:\n%s", m.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	for _, m := range members {
		serveIn(t, m.ns, m.service())
	}
	step("namespaces a=%s b=%s c=%s x=%s on bridge %s in %s", a.ns.Name(), b.ns.Name(), c.ns.Name(), x.Name(), lanBridge, l.hub.Name())

	// Form the alliance.
	if code, _, errs := runCLI(t, "", "alliance", "init", "--data", a.data, "--name", "nsfleet",
		"--fabric", a.fabric(), "--address", a.addr); code != 0 {
		t.Fatalf("alliance init: exit %d: %s", code, errs)
	}
	enforce := func(m *nsMember) []string {
		return []string{"--fabric", m.fabric(), "--enforce", "nftables", "--source", m.log}
	}
	a.args = enforce(a)
	a.start(t)
	step("A founded the alliance and serves")
	for _, m := range []*nsMember{b, c} {
		code, out, errs := runCLI(t, "", "alliance", "invite", "--data", a.data, "--expires", "10m")
		tok := strings.TrimSpace(out)
		if code != 0 || tok == "" || strings.ContainsAny(tok, " \n") {
			t.Fatalf("alliance invite: exit %d, stdout %q, stderr %s: want one token line", code, out, errs)
		}
		m.args = append([]string{"--join", tok, "--address", m.addr}, enforce(m)...)
		m.start(t)
		step("%s joined with an invite and serves", strings.ToUpper(m.name))
	}
	var charterHash string
	waitUntil(t, 60*time.Second, "all three members to report 3 members and the same charter", func() bool {
		hash := ""
		for _, m := range members {
			st, err := m.status()
			if err != nil || st.Members != 3 || st.Charter == "" || hash != "" && st.Charter != hash {
				return false
			}
			hash = st.Charter
		}
		charterHash = hash
		return true
	})
	step("all three members hold charter %s with 3 members", shortHash(charterHash))
	stA, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if st, _ := m.status(); st.Enforce != "nftables" {
			t.Fatalf("%s enforces with %q (%s), want nftables", m.name, st.Enforce, st.EnforceWhy)
		}
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
	for _, m := range []*nsMember{a, c} {
		d, err := timeToBanSet(m.ns, attacker2, wrote, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		step("%s in %s's nft set %v after the attack (B down)", attacker2, strings.ToUpper(m.name), d.Round(100*time.Microsecond))
	}
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
	for _, m := range []*nsMember{a, b} {
		d, err := timeToBanSet(m.ns, attacker3, wrote, 45*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		step("%s in %s's nft set %v after the attack (C cut off)", attacker3, strings.ToUpper(m.name), d.Round(100*time.Microsecond))
	}
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
