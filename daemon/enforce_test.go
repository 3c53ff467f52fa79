package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/netns"
)

// startEnforcing starts a daemon whose nftables enforcer works inside ns.
func startEnforcing(t *testing.T, ns *netns.NS, dir, logPath string) *member {
	t.Helper()
	fd, err := ns.Fd()
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, dir, logPath, func(c *config.File, o *daemon.Options) {
		c.Daemon.Enforce = "nftables"
		o.NetNS = fd
	})
}

// acceptIn listens on addr inside ns, accepting and closing every
// connection until the test ends, and returns the address it listens on.
func acceptIn(t *testing.T, ns *netns.NS, addr string) string {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
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
	return ln.Addr().String()
}

// dialFrom tries a TCP connection from src (inside client) to dst.
func dialFrom(client *netns.NS, src netip.Addr, dst string) error {
	return client.Do(func() error {
		d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		c, err := d.Dial("tcp", dst)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// TestEnforcementInNamespace: a brute force written to the tailed log bans
// its source in the kernel of the server's namespace; real TCP connections
// from that source fail while a neighbour still connects.
func TestEnforcementInNamespace(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Link(t, server, netip.MustParsePrefix("10.231.0.1/24"), client, netip.MustParsePrefix("10.231.0.2/24"))
	clientIf := netns.IfName(server)
	attacker, neighbour := netip.MustParseAddr("10.231.0.66"), netip.MustParseAddr("10.231.0.67")
	client.AddAddr(t, clientIf, netip.PrefixFrom(attacker, 24))
	client.AddAddr(t, clientIf, netip.PrefixFrom(neighbour, 24))
	dst := acceptIn(t, server, "10.231.0.1:0")
	// Addresses may need a moment for duplicate address detection.
	waitFor(t, 10*time.Second, "the attacker to connect before the ban", func() bool { return dialFrom(client, attacker, dst) == nil })

	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startEnforcing(t, server, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack(attacker.String(), 8)...)
	waitFor(t, 10*time.Second, "the attacker's connections to fail", func() bool { return dialFrom(client, attacker, dst) != nil })
	if err := dialFrom(client, neighbour, dst); err != nil {
		t.Fatalf("the neighbour cannot connect: %v", err)
	}

	// A restart keeps the ban in the kernel and reconciles the sets.
	m.stop()
	if err := dialFrom(client, attacker, dst); err == nil {
		t.Fatal("the ban was lifted while the daemon was stopped")
	}
	m2 := startEnforcing(t, server, m.dir, logPath)
	if err := dialFrom(client, attacker, dst); err == nil {
		t.Fatal("the ban was lifted by a restart")
	}
	// A pardon lifts it.
	if code := m2.admin("DELETE", "/api/decisions?value="+attacker.String(), nil); code != 200 {
		t.Fatalf("delete decision: %d", code)
	}
	waitFor(t, 10*time.Second, "the pardoned attacker to connect", func() bool { return dialFrom(client, attacker, dst) == nil })
}

// TestEnforcementLatency measures how long a ban takes from the line that
// triggers it being appended to the tailed log until the element is in the
// kernel's set: 1,000 bans. A benchmark: run with PHALANX_BENCH=1.
func TestEnforcementLatency(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	server := netns.New(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startEnforcing(t, server, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	const n = 1000
	var lat []time.Duration
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("10.%d.%d.%d", 100+i/65536, (i/256)%256, i%256)
		lines := attack(addr, 6)
		appendLines(t, logPath, lines[:5]...)
		start := time.Now()
		appendLines(t, logPath, lines[5])
		var enforced time.Time
		waitForQuiet(10*time.Second, func() bool {
			var ex daemon.Explanation
			m.admin("GET", "/api/explain?address="+addr, &ex)
			for _, e := range ex.Timeline {
				if e.What == "enforced" {
					enforced = e.Time
					return true
				}
			}
			return false
		})
		if enforced.IsZero() {
			t.Fatalf("ban %d (%s) not enforced", i, addr)
		}
		lat = append(lat, enforced.Sub(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("line appended -> element in nftables set, %d bans: p50 %v, p90 %v, p99 %v, max %v",
		n, lat[n/2], lat[n*9/10], lat[n*99/100], lat[n-1])
}

func waitForQuiet(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timeout")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// TestFirewallReload: `nft flush ruleset` (what reloading the host's
// nftables service does) and a deleted chain lift every ban; the daemon
// notices, restores its table with the bans in force, counts it, and the
// attacker is dropped again while a neighbour still connects. Bans made
// afterwards are enforced too.
func TestFirewallReload(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Link(t, server, netip.MustParsePrefix("10.232.0.1/24"), client, netip.MustParsePrefix("10.232.0.2/24"))
	clientIf := netns.IfName(server)
	attacker, later, neighbour := netip.MustParseAddr("10.232.0.66"), netip.MustParseAddr("10.232.0.68"), netip.MustParseAddr("10.232.0.67")
	for _, a := range []netip.Addr{attacker, later, neighbour} {
		client.AddAddr(t, clientIf, netip.PrefixFrom(a, 24))
	}
	dst := acceptIn(t, server, "10.232.0.1:0")
	waitFor(t, 10*time.Second, "the attacker to connect before the ban", func() bool { return dialFrom(client, attacker, dst) == nil })

	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startEnforcing(t, server, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack(attacker.String(), 8)...)
	waitFor(t, 10*time.Second, "the attacker's connections to fail", func() bool { return dialFrom(client, attacker, dst) != nil })

	restores := func() int64 {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Reports["firewall_restores"]
	}
	for i, args := range [][]string{{"flush", "ruleset"}, {"delete", "chain", "inet", "phalanx", "input"}} {
		if out, err := server.Exec(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		flushed := time.Now()
		waitFor(t, 10*time.Second, fmt.Sprintf("the table restored after nft %v", args), func() bool { return restores() > int64(i) })
		waitFor(t, 10*time.Second, "the attacker dropped again", func() bool { return dialFrom(client, attacker, dst) != nil })
		t.Logf("nft %v: the attacker dropped again %v later", args, time.Since(flushed).Round(time.Millisecond))
		if err := dialFrom(client, neighbour, dst); err != nil {
			t.Fatalf("after nft %v the neighbour cannot connect: %v", args, err)
		}
	}
	appendLines(t, logPath, attack(later.String(), 8)...)
	waitFor(t, 10*time.Second, "a ban made after the restores to drop", func() bool { return dialFrom(client, later, dst) != nil })
}

// TestKernelAudit: bans deleted from the kernel's sets by hand (an element,
// a flushed set: no table or chain removed, so no restore) are noticed by
// the kernel audit, reported in the status, and put back.
func TestKernelAudit(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Link(t, server, netip.MustParsePrefix("10.234.0.1/24"), client, netip.MustParsePrefix("10.234.0.2/24"))
	attacker := netip.MustParseAddr("10.234.0.66")
	client.AddAddr(t, netns.IfName(server), netip.PrefixFrom(attacker, 24))
	dst := acceptIn(t, server, "10.234.0.1:0")
	waitFor(t, 10*time.Second, "the attacker to connect before the ban", func() bool { return dialFrom(client, attacker, dst) == nil })

	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startEnforcing(t, server, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack(attacker.String(), 8)...)
	waitFor(t, 10*time.Second, "the attacker's connections to fail", func() bool { return dialFrom(client, attacker, dst) != nil })
	enforcement := func() map[string]int64 {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Enforcement
	}
	// The audit skips a round while changes wait for the kernel (the
	// enforcement record of the ban may still be on its way): poll.
	waitFor(t, 10*time.Second, "an audit that finds the kernel complete", func() bool {
		m.d.AuditKernelForTest()
		e := enforcement()
		return e["audited_unix"] != 0 && e["kernel_missing"] == 0 && e["table_exact"] >= 1
	})
	for _, args := range [][]string{{"delete", "element", "inet", "phalanx", "ban4", "{ " + attacker.String() + " }"}, {"flush", "set", "inet", "phalanx", "ban4"}} {
		if out, err := server.Exec(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		if err := dialFrom(client, attacker, dst); err != nil {
			t.Fatalf("after nft %v the attacker is still dropped: the test removed nothing (%v)", args, err)
		}
		before := enforcement()["audit_repairs"]
		waitFor(t, 10*time.Second, fmt.Sprintf("the audit to notice nft %v", args), func() bool {
			m.d.AuditKernelForTest()
			return enforcement()["audit_repairs"] > before
		})
		waitFor(t, 10*time.Second, "the attacker dropped again", func() bool { return dialFrom(client, attacker, dst) != nil })
	}
}
