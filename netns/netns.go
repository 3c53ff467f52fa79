// Package netns gives tests throwaway Linux network namespaces: create one,
// link two with a veth pair, add addresses, and run code or commands inside.
//
// It is test support only. It must not be imported by non-test code, must
// never change the host's own namespace (every address and link it makes lives
// inside a namespace it created), and removes what it creates when the test
// ends. Setup uses the ip command from iproute2.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace made by New.
type NS struct {
	name string
	file *os.File // the namespace, held open for Fd and Do
}

// New creates a network namespace with a unique name (prefix "phx-"), brings
// its loopback interface up, and removes the namespace when the test ends.
//
// It skips the test, saying why, when the process is not root or namespaces
// cannot be made; when the environment variable CI is non-empty it fails the
// test instead, because CI runs as root and must not silently skip.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "network namespaces need root (run the tests as root, e.g. sudo go test)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "the ip command (iproute2) is not installed")
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatalf("netns: random name: %v", err)
	}
	name := "phx-" + hex.EncodeToString(suffix[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		unavailable(t, fmt.Sprintf("cannot create a network namespace: ip netns add: %v: %s", err, strings.TrimSpace(string(out))))
	}
	ns := &NS{name: name}
	t.Cleanup(func() {
		if ns.file != nil {
			ns.file.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("netns: ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	})
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatalf("netns: open namespace %s: %v", name, err)
	}
	ns.file = f
	ns.run(t, "link", "set", "lo", "up")
	return ns
}

// unavailable skips the test, or fails it when CI is set.
func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("netns: %s (CI is set, so this fails instead of skipping)", reason)
	}
	t.Skipf("netns: %s", reason)
}

// Name is the namespace's name, as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// Fd is a file descriptor referring to the namespace, valid until the test
// ends (for nftables.WithNetNSFd and similar options).
func (ns *NS) Fd() (int, error) {
	if ns.file == nil {
		return -1, errors.New("netns: namespace is closed")
	}
	return int(ns.file.Fd()), nil
}

// Do runs fn on a locked OS thread switched into the namespace, then switches
// the thread back. Sockets fn creates stay in the namespace after Do returns,
// so a test can listen or dial from inside it. fn must not start goroutines
// that expect to be in the namespace: they run on other threads.
func (ns *NS) Do(fn func() error) error {
	fd, err := ns.Fd()
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// A fresh goroutine, so the caller's thread is never touched. If
		// switching back fails the thread stays locked and the runtime
		// destroys it when this goroutine ends.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns: leave %s: %w", ns.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Exec returns a command that runs name with args inside the namespace
// (`ip netns exec NAME name args...`).
func (ns *NS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// run runs `ip -n NAME args...` and fails the test on error.
func (ns *NS) run(t testing.TB, args ...string) {
	t.Helper()
	full := append([]string{"-n", ns.name}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		t.Fatalf("netns: ip %s: %v: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
}

// IfName is the name of the interface that Link puts in a namespace to reach
// peer: "v" followed by the peer's unique suffix.
func IfName(peer *NS) string { return "v" + strings.TrimPrefix(peer.name, "phx-") }

// Link joins a and b with a veth pair, gives each end its address (aAddr in
// a, bAddr in b; the prefix length sets the on-link route), and brings both
// up. It returns the interface names (a's end, then b's end; see IfName).
// IPv6 addresses skip duplicate address detection so they work at once.
// Linking the same two namespaces twice fails.
func Link(t testing.TB, a *NS, aAddr netip.Prefix, b *NS, bAddr netip.Prefix) (aIf, bIf string) {
	t.Helper()
	aIf, bIf = IfName(b), IfName(a)
	// Created directly inside the two namespaces: nothing appears in the
	// host's namespace, not even for a moment.
	a.run(t, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.name)
	a.AddAddr(t, aIf, aAddr)
	b.AddAddr(t, bIf, bAddr)
	a.run(t, "link", "set", aIf, "up")
	b.run(t, "link", "set", bIf, "up")
	return aIf, bIf
}

// AddAddr adds an address to an interface in the namespace, for instance to
// act as several distinct sources. IPv6 addresses skip duplicate address
// detection.
func (ns *NS) AddAddr(t testing.TB, ifname string, p netip.Prefix) {
	t.Helper()
	if !p.IsValid() {
		t.Fatalf("netns: invalid address %v", p)
	}
	args := []string{"addr", "add", p.String(), "dev", ifname}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	ns.run(t, args...)
}
