package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"phalanx/netns"
	"phalanx/nft"
)

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
