package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"phalanx/daemon"
	"phalanx/netns"
	"phalanx/nft"
)

// The test LAN: private addresses that exist only inside the namespaces the
// tests create. Member i of an nsAlliance has address i+1 in it.
var testLAN = netip.MustParsePrefix("10.77.0.0/24")

const (
	// neighbour is a bystander on the attackers' interface: never banned.
	neighbour = "10.77.0.99"

	fabricPort  = "7422" // clients; cluster routes on 7423
	servicePort = "2222" // the TCP service the attacker probes
)

// needTestLAN skips the test (fails it when CI is set) when it cannot build
// the test LAN: no ip command, not root, or the host already uses testLAN.
func needTestLAN(t *testing.T) {
	t.Helper()
	needTools(t, "ip")
	if hostUses(testLAN) {
		msg := fmt.Sprintf("the host has an address in %s, the test's private LAN: pick another prefix in netns_helpers_test.go", testLAN)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

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
	id   string            // its member id, once the alliance is formed
	info daemon.ClientInfo // its API, once it serves
	hc   *http.Client      // a keep-alive admin client; nil: status runs the CLI
}

func (m *nsMember) fabric() string  { return net.JoinHostPort(m.addr, fabricPort) }
func (m *nsMember) service() string { return net.JoinHostPort(m.addr, servicePort) }

// client is the HTTP client that reaches m's API from inside its namespace.
func (m *nsMember) client() *http.Client {
	if m.hc != nil {
		return m.hc
	}
	return clientIn(m.ns)
}

// start runs `phalanx run` with m.args and waits until its API answers.
func (m *nsMember) start(t *testing.T) {
	t.Helper()
	m.launch(t)
	m.waitServing(t)
}

// launch runs `phalanx run` with m.args without waiting for it.
func (m *nsMember) launch(t *testing.T) {
	t.Helper()
	m.p = startDaemonIn(t, m.ns, m.data, m.args...)
}

// waitServing waits until the process launch started answers on its API.
func (m *nsMember) waitServing(t *testing.T) {
	t.Helper()
	m.info = waitServingVia(t, m.client(), m.p, m.data)
}

// status is m's daemon status: asked over m.hc when m has a keep-alive
// client (cheap enough to poll closely), else by running `phalanx status`
// inside m's namespace, the way an operator would.
func (m *nsMember) status() (daemon.Status, error) {
	var st daemon.Status
	if m.hc != nil {
		return st, adminGetVia(m.hc, m.info, "/api/status", &st)
	}
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

// nsAlliance is an alliance of real `phalanx run` processes, each in its own
// network namespace on one test LAN, enforcing with nftables, with the
// attackers' namespace x on the same LAN.
type nsAlliance struct {
	t       *testing.T
	l       *lan
	members []*nsMember
	x       *netns.NS // nil when there are no attackers' addresses
	began   time.Time
	last    time.Time
}

// newNSAlliance builds the test LAN for an alliance of the named members
// (not formed yet: see form): a namespace per member, at addresses 1, 2, …
// of testLAN in order, with an empty sshd log and the service attackers
// probe; and, when xAddrs is not empty, the attackers' namespace x holding
// those addresses on one interface. When the test fails, it logs the end of
// every member's daemon.log.
func newNSAlliance(t *testing.T, names []string, xAddrs ...string) *nsAlliance {
	t.Helper()
	needTestLAN(t)
	al := &nsAlliance{t: t, l: newLAN(t), began: time.Now()}
	al.last = al.began
	base := t.TempDir()
	onLAN := func(addr netip.Addr) netip.Prefix { return netip.PrefixFrom(addr, testLAN.Bits()) }
	addr := testLAN.Addr()
	for _, name := range names {
		addr = addr.Next()
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m := &nsMember{name: name, ns: netns.New(t), port: "to-" + name, addr: addr.String(),
			data: filepath.Join(dir, "data"), log: filepath.Join(dir, "auth.log")}
		al.l.attach(t, m.ns, m.port, onLAN(addr))
		if err := os.WriteFile(m.log, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		al.members = append(al.members, m)
	}
	needNftables(t, al.members[0].ns)
	nsNames := make([]string, 0, len(names)+1)
	for _, m := range al.members {
		nsNames = append(nsNames, m.name+"="+m.ns.Name())
	}
	if len(xAddrs) > 0 {
		al.x = netns.New(t)
		var xPrefixes []netip.Prefix
		for _, s := range xAddrs {
			xPrefixes = append(xPrefixes, onLAN(netip.MustParseAddr(s)))
		}
		al.l.attach(t, al.x, "to-x", xPrefixes...)
		nsNames = append(nsNames, "x="+al.x.Name())
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, m := range al.members {
			out, _ := os.ReadFile(filepath.Join(filepath.Dir(m.data), "daemon.log"))
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			t.Logf("last lines of %s's daemon.log:\n%s", m.name, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	for _, m := range al.members {
		serveIn(t, m.ns, m.service())
	}
	al.step("namespaces %s on bridge %s in %s", strings.Join(nsNames, " "), lanBridge, al.l.hub.Name())
	return al
}

// step logs one step with the time since the start and since the last step.
func (al *nsAlliance) step(format string, args ...any) {
	al.t.Helper()
	now := time.Now()
	al.t.Logf("[%6.2fs %+6.2fs] %s", now.Sub(al.began).Seconds(), now.Sub(al.last).Seconds(), fmt.Sprintf(format, args...))
	al.last = now
}

// form forms the alliance the way operators form one: `alliance init` on the
// first member, then an invite from it and `run --join` for each other
// member, every one enforcing with nftables and started in turn; the
// members in leaves join without --fabric, as leaf members. It returns the
// charter's hash once every member holds the same charter listing all of
// them (and knows its member id) and enforces with nftables.
func (al *nsAlliance) form(fleet string, leaves ...*nsMember) string {
	t := al.t
	t.Helper()
	founder := al.members[0]
	if code, _, errs := runCLI(t, "", "alliance", "init", "--data", founder.data, "--name", fleet,
		"--fabric", founder.fabric(), "--address", founder.addr); code != 0 {
		t.Fatalf("alliance init: exit %d: %s", code, errs)
	}
	for _, m := range al.members {
		enforce := []string{"--enforce", "nftables", "--source", m.log}
		if !slices.Contains(leaves, m) {
			enforce = append([]string{"--fabric", m.fabric()}, enforce...)
		}
		if m == founder {
			m.args = enforce
			m.start(t)
			al.step("%s founded the alliance and serves", strings.ToUpper(m.name))
			continue
		}
		code, out, errs := runCLI(t, "", "alliance", "invite", "--data", founder.data, "--expires", "10m")
		tok := strings.TrimSpace(out)
		if code != 0 || tok == "" || strings.ContainsAny(tok, " \n") {
			t.Fatalf("alliance invite: exit %d, stdout %q, stderr %s: want one token line", code, out, errs)
		}
		m.args = append([]string{"--join", tok, "--address", m.addr}, enforce...)
		m.start(t)
		kind := "a hub member"
		if slices.Contains(leaves, m) {
			kind = "a leaf member"
		}
		al.step("%s joined with an invite as %s and serves", strings.ToUpper(m.name), kind)
	}
	n := len(al.members)
	var charter string
	waitUntil(t, 90*time.Second, fmt.Sprintf("every member to report %d members and the same charter", n), func() bool {
		hash := ""
		for _, m := range al.members {
			st, err := m.status()
			if err != nil || st.Members != n || st.Charter == "" || hash != "" && st.Charter != hash {
				return false
			}
			hash, m.id = st.Charter, st.Member
		}
		charter = hash
		return true
	})
	for _, m := range al.members {
		st, err := m.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Enforce != "nftables" {
			t.Fatalf("%s enforces with %q (%s), want nftables", m.name, st.Enforce, st.EnforceWhy)
		}
	}
	al.step("all %d members hold charter %s with %d members and enforce with nftables", n, shortHash(charter), n)
	return charter
}

// bannedBy waits until addr is in the nftables set of each of ms, at most
// limit after since, and logs how long after since.
func (al *nsAlliance) bannedBy(addr string, since time.Time, limit time.Duration, why string, ms ...*nsMember) {
	al.t.Helper()
	for _, m := range ms {
		d, err := timeToBanSet(m.ns, addr, since, limit)
		if err != nil {
			al.t.Fatal(err)
		}
		al.step("%s in %s's nft set %v after the attack (%s)", addr, strings.ToUpper(m.name), d.Round(100*time.Microsecond), why)
	}
}

// startAll starts the members' processes together, then waits until each
// serves: a clustered member alone waits for a majority before it serves.
func (al *nsAlliance) startAll(ms ...*nsMember) {
	al.t.Helper()
	for _, m := range ms {
		m.launch(al.t)
	}
	for _, m := range ms {
		m.waitServing(al.t)
	}
}

// needTools skips the test when a command it runs is missing, or fails it
// when CI is set (CI runs as root with every tool installed and must not
// skip silently).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("the %s command is not installed (apt-get install -y iproute2 nftables)", tool)
			if os.Getenv("CI") != "" {
				t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
			}
			t.Skip(msg)
		}
	}
	if os.Geteuid() != 0 {
		msg := "network namespaces and nftables need root (run the tests as root, e.g. sudo go test)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
}

// needNftables skips the test (fails it when CI is set) when the kernel
// does not answer nftables requests inside ns.
func needNftables(t *testing.T, ns *netns.NS) {
	t.Helper()
	fd, err := ns.Fd()
	if err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err == nil {
		_, err = c.ListTables()
	}
	if err != nil {
		msg := fmt.Sprintf("nftables does not work in a network namespace here (kernel support for nf_tables is needed): %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
}

// hostUses reports whether an interface of the host's own namespace has an
// address inside p: a test LAN on p would then be confusing to debug, even
// though it lives in namespaces of its own.
func hostUses(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// lan is a switched test network: a bridge inside a "hub" namespace the test
// creates, with one veth port per attached namespace. Nothing of it lives in
// the host's namespace.
type lan struct {
	hub *netns.NS
}

const lanBridge = "br0"

// newLAN creates the hub namespace and its bridge.
func newLAN(t *testing.T) *lan {
	t.Helper()
	l := &lan{hub: netns.New(t)}
	ipIn(t, l.hub, "link", "add", lanBridge, "type", "bridge")
	ipIn(t, l.hub, "link", "set", lanBridge, "up")
	return l
}

// attach links ns to the bridge through the hub port named port (its peer is
// eth0 inside ns), gives eth0 the addresses and brings both ends up.
func (l *lan) attach(t *testing.T, ns *netns.NS, port string, addrs ...netip.Prefix) {
	t.Helper()
	// Created inside the hub, the peer moved straight into ns: nothing
	// appears in the host's namespace.
	ipIn(t, l.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.Name())
	ipIn(t, l.hub, "link", "set", port, "master", lanBridge)
	for _, a := range addrs {
		ns.AddAddr(t, "eth0", a)
	}
	ipIn(t, ns, "link", "set", "eth0", "up")
	ipIn(t, l.hub, "link", "set", port, "up")
}

// setPort brings a hub port down (the namespace behind it is cut off) or up.
func (l *lan) setPort(t *testing.T, port string, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	ipIn(t, l.hub, "link", "set", port, state)
}

// ipIn runs `ip -n NS args...` and fails the test on error.
func ipIn(t *testing.T, ns *netns.NS, args ...string) {
	t.Helper()
	full := append([]string{"-n", ns.Name()}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
}

// phalanxIn runs the phalanx command (this test binary re-executed) inside
// ns and returns its standard output; the error carries its standard error.
func phalanxIn(ns *netns.NS, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := ns.Exec(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PHALANX_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("phalanx %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// phalanxJSON runs a client command with -o json inside ns and decodes its
// output into out.
func phalanxJSON(ns *netns.NS, out any, args ...string) error {
	b, err := phalanxIn(ns, append(args, "-o", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("phalanx %s: decode its JSON: %w: %.300q", strings.Join(args, " "), err, b)
	}
	return nil
}

// serveIn listens on addr inside ns and accepts (and closes) connections
// until the test ends: the service the attacker tries to reach.
func serveIn(t *testing.T, ns *netns.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// dialFrom opens a TCP connection from address from inside ns to addr and
// closes it at once.
func dialFrom(ns *netns.NS, from, addr string, timeout time.Duration) error {
	return ns.Do(func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// dropped reports whether err is what a silently dropped SYN gives: a
// connect timeout (a refusal or a route error means something else).
func dropped(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// inBanSet reports whether addr (IPv4) is an element of the phalanx table's
// ban4 set in ns, read over netlink (cheaper than running nft, so it can be
// polled closely to measure latency).
func inBanSet(ns *netns.NS, addr string) (bool, error) {
	fd, err := ns.Fd()
	if err != nil {
		return false, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return false, err
	}
	set, err := c.GetSetByName(&nftables.Table{Name: nft.DefaultTable, Family: nftables.TableFamilyINet}, "ban4")
	if err != nil {
		return false, err
	}
	els, err := c.GetSetElements(set)
	if err != nil {
		return false, err
	}
	want := netip.MustParseAddr(addr).As4()
	for _, e := range els {
		if bytes.Equal(e.Key, want[:]) {
			return true, nil
		}
	}
	return false, nil
}

// timeToBanSet polls ns's ban set every 2 ms until addr is in it and returns
// how long after since that was; it gives up after limit.
func timeToBanSet(ns *netns.NS, addr string, since time.Time, limit time.Duration) (time.Duration, error) {
	deadline := since.Add(limit)
	var lastErr error
	for {
		ok, err := inBanSet(ns, addr)
		now := time.Now()
		if ok {
			return now.Sub(since), nil
		}
		lastErr = err
		if now.After(deadline) {
			return 0, fmt.Errorf("%s not in the ban set of %s after %v (last error: %v)", addr, ns.Name(), limit, lastErr)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
