package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/netns"
)

// gatedEnforcer passes calls on to next (when not nil) once its gate is
// open; Apply calls wait for it, Reconcile does not (the start needs it).
type gatedEnforcer struct {
	next    daemon.Enforcer
	gate    chan struct{} // closed: open
	entered chan struct{} // closed when an Apply first waits at the gate
	once    sync.Once
	mu      sync.Mutex
	values  map[netip.Prefix]bool // without next: what the kernel would hold
}

func newGate(next daemon.Enforcer) *gatedEnforcer {
	return &gatedEnforcer{next: next, gate: make(chan struct{}), entered: make(chan struct{}), values: map[netip.Prefix]bool{}}
}

func (g *gatedEnforcer) Apply(add, remove []phalanx.Decision, now time.Time) error {
	g.once.Do(func() { close(g.entered) })
	<-g.gate
	if g.next != nil {
		return g.next.Apply(add, remove, now)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, x := range remove {
		delete(g.values, x.Value)
	}
	for _, x := range add {
		g.values[x.Value] = true
	}
	return nil
}

func (g *gatedEnforcer) Reconcile(all []phalanx.Decision, now time.Time) error {
	if g.next != nil {
		return g.next.Reconcile(all, now)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.values)
	for _, x := range all {
		g.values[x.Value] = true
	}
	return nil
}

func (g *gatedEnforcer) Close() error {
	if g.next != nil {
		return g.next.Close()
	}
	return nil
}

func (g *gatedEnforcer) open() { close(g.gate) }

// entries returns the timeline entries of one kind for addr.
func (m *member) entries(addr, what string) []daemon.Entry {
	var ex daemon.Explanation
	m.admin("GET", "/api/explain?address="+addr, &ex)
	var out []daemon.Entry
	for _, e := range ex.Timeline {
		if e.What == what {
			out = append(out, e)
		}
	}
	return out
}

// TestDetectionNotBlockedByEnforcer: while the enforcer is stuck in a
// call (a kernel that does not answer), attackers appended to the log are
// still banned at once in the table, which the bouncer API and
// forward-auth serve; explain says "enforced" only once the kernel took
// the ban.
func TestDetectionNotBlockedByEnforcer(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	g := newGate(nil)
	defer func() {
		select {
		case <-g.gate:
		default:
			g.open() // let the worker finish so the daemon can stop
		}
	}()
	m := startHooked(t, filepath.Join(dir, "data"), logPath, nil, func(d *daemon.Daemon) {
		d.WrapEnforcerForTest(func(daemon.Enforcer) daemon.Enforcer { return g })
	})
	m.waitTailing()
	const first = "203.0.113.21"
	appendLines(t, logPath, attack(first, 6)...)
	waitFor(t, 5*time.Second, "the first attacker's ban in the table", func() bool { return banned(m.d, first) })
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the enforcer was never called")
	}
	// The enforcer is stuck; later attackers are banned all the same.
	began := time.Now()
	for i := range 20 {
		appendLines(t, logPath, attack(fmt.Sprintf("203.0.113.%d", 100+i), 6)...)
	}
	waitFor(t, 5*time.Second, "20 later attackers banned while the enforcer is stuck", func() bool {
		for i := range 20 {
			if !banned(m.d, fmt.Sprintf("203.0.113.%d", 100+i)) {
				return false
			}
		}
		return true
	})
	t.Logf("20 attackers banned in %v behind a stuck enforcer", time.Since(began).Round(time.Millisecond))
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	if st.Enforcement["waiting"] == 0 {
		t.Errorf("status shows nothing waiting for the kernel: %v", st.Enforcement)
	}
	var decs []daemon.DecisionView
	m.admin("GET", "/api/decisions", &decs)
	if len(decs) < 21 {
		t.Errorf("the decisions API lists %d decisions, want the 21 bans", len(decs))
	}
	if e := m.entries("203.0.113.100", "enforced"); len(e) != 0 {
		t.Errorf("explain says enforced before the kernel took the ban: %+v", e)
	}
	g.open()
	waitFor(t, 10*time.Second, "explain to say enforced once the kernel has the ban", func() bool {
		e := m.entries("203.0.113.100", "enforced")
		return len(e) > 0 && e[0].Detail == "nftables"
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range 20 {
		if v := netip.MustParsePrefix(fmt.Sprintf("203.0.113.%d/32", 100+i)); !g.values[v] {
			t.Errorf("%v never reached the enforcer", v)
		}
	}
}

// kernelNets lists the IPv6 /64s in the ban6n set of table inet phalanx in
// ns.
func kernelNets(t *testing.T, ns *netns.NS) map[netip.Prefix]bool {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("the nft command (package nftables) is needed to list the kernel's sets")
	}
	out, err := ns.Exec(context.Background(), "nft", "-j", "list", "set", "inet", "phalanx", "ban6n").Output()
	if err != nil {
		t.Fatalf("nft list set: %v", err)
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("nft -j output: %v", err)
	}
	nets := map[netip.Prefix]bool{}
	for _, x := range doc.Nftables {
		if x.Set == nil {
			continue
		}
		for _, raw := range x.Set.Elem {
			var s string
			var wrapped struct {
				Elem struct {
					Val string `json:"val"`
				} `json:"elem"`
			}
			if json.Unmarshal(raw, &s) != nil {
				if err := json.Unmarshal(raw, &wrapped); err != nil {
					t.Fatalf("nft -j element %s: %v", raw, err)
				}
				s = wrapped.Elem.Val
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				t.Fatalf("nft -j element %q: %v", s, err)
			}
			nets[netip.PrefixFrom(a, 64)] = true
		}
	}
	return nets
}

// floodPrefix is the /64 of attacker i of a flood.
func floodPrefix(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x:%x::/64", 0x100+i/65535, 1+i%65535))
}

// flood appends n attackers, each from its own /64, to logPath at once.
func flood(t *testing.T, logPath string, n int) {
	t.Helper()
	var lines []string
	for i := range n {
		lines = append(lines, attack(floodPrefix(i).Addr().Next().String(), 6)...)
	}
	appendLines(t, logPath, lines...)
}

// missingNets returns how many of the first n flood /64s the kernel lacks,
// and one of them.
func missingNets(t *testing.T, ns *netns.NS, n int) (int, netip.Prefix) {
	t.Helper()
	have := kernelNets(t, ns)
	missing, example := 0, netip.Prefix{}
	for i := range n {
		if !have[floodPrefix(i)] {
			missing++
			example = floodPrefix(i)
		}
	}
	return missing, example
}

// TestEnforceQueueCoalescesInKernel: bans that pile up while the kernel is
// busy go in together: hundreds of bans, and the alliance's decisions that
// replace them, in a handful of nftables transactions.
func TestEnforceQueueCoalescesInKernel(t *testing.T) {
	server := netns.New(t)
	fd, err := server.Fd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	var g *gatedEnforcer
	m := startHooked(t, filepath.Join(dir, "data"), logPath, func(c *config.File, o *daemon.Options) {
		c.Daemon.Enforce = "nftables"
		o.NetNS = fd
	}, func(d *daemon.Daemon) {
		d.WrapEnforcerForTest(func(e daemon.Enforcer) daemon.Enforcer { g = newGate(e); return g })
	})
	defer func() {
		select {
		case <-g.gate:
		default:
			g.open()
		}
	}()
	m.waitTailing()
	const n = 400 // within the charter's report rate: the alliance decides every one
	flood(t, logPath, n)
	var st daemon.Status
	waitFor(t, 30*time.Second, "every ban decided by the alliance while the kernel waits", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Reports["decided"] >= n
	})
	g.open()
	waitFor(t, 30*time.Second, "every ban in the kernel", func() bool { k, _ := missingNets(t, server, n); return k == 0 })
	m.admin("GET", "/api/status", &st)
	t.Logf("enforcement: %v", st.Enforcement)
	// One transaction was held at the gate; everything else waited and
	// went in at most two more (the gate opens while the last decisions
	// may still be coming).
	if tx := st.Enforcement["transactions"]; tx > 4 {
		t.Errorf("%d bans and their alliance decisions took %d transactions, want a handful", n, tx)
	}
	if c := st.Enforcement["coalesced"]; c < n/2 {
		t.Errorf("coalesced %d changes, want most of the %d alliance decisions merged with their self-defense bans", c, n)
	}
}

// TestEnforceQueueOverflowInKernel: a queue far too small for a flood
// overflows into a reconcile, and every ban still reaches the kernel.
func TestEnforceQueueOverflowInKernel(t *testing.T) {
	server := netns.New(t)
	fd, err := server.Fd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	var g *gatedEnforcer
	m := startHooked(t, filepath.Join(dir, "data"), logPath, func(c *config.File, o *daemon.Options) {
		c.Daemon.Enforce = "nftables"
		o.NetNS = fd
	}, func(d *daemon.Daemon) {
		d.WrapEnforcerForTest(func(e daemon.Enforcer) daemon.Enforcer { g = newGate(e); return g })
		d.SetEnforceQueueForTest(16, 8)
	})
	defer func() {
		select {
		case <-g.gate:
		default:
			g.open()
		}
	}()
	m.waitTailing()
	const n = 1000
	flood(t, logPath, n)
	var st daemon.Status
	waitFor(t, 30*time.Second, "every attacker banned in the table", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["self_bans"] >= n
	})
	if st.Enforcement["overflows"] == 0 {
		t.Fatalf("a queue of 16 held %d bans without overflowing: %v", n, st.Enforcement)
	}
	g.open()
	waitFor(t, 30*time.Second, "every ban in the kernel", func() bool { k, _ := missingNets(t, server, n); return k == 0 })
	m.admin("GET", "/api/status", &st)
	t.Logf("enforcement: %v", st.Enforcement)
	if st.Enforcement["reconciles"] < 2 {
		t.Errorf("reconciles %d, want the start's and at least one after the overflow", st.Enforcement["reconciles"])
	}
}
