package netns

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func hostNetNS(t *testing.T) string {
	t.Helper()
	s, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLinkAndTalk(t *testing.T) {
	before := hostNetNS(t)
	server, client := New(t), New(t)
	if server.Name() == client.Name() || !strings.HasPrefix(server.Name(), "phx-") {
		t.Fatalf("names %q and %q: want two distinct phx- names", server.Name(), client.Name())
	}
	sIf, cIf := Link(t, server, netip.MustParsePrefix("10.231.0.1/16"), client, netip.MustParsePrefix("10.231.0.2/16"))
	if sIf != IfName(client) || cIf != IfName(server) {
		t.Fatalf("interface names %q %q, want %q %q", sIf, cIf, IfName(client), IfName(server))
	}
	server.AddAddr(t, sIf, netip.MustParsePrefix("fd00:231::1/64"))
	client.AddAddr(t, cIf, netip.MustParsePrefix("fd00:231::2/64"))
	client.AddAddr(t, cIf, netip.MustParsePrefix("10.231.7.7/16"))

	for _, tc := range []struct{ listen, from string }{
		{"10.231.0.1:0", "10.231.7.7"},
		{"[fd00:231::1]:0", "fd00:231::2"},
	} {
		var ln net.Listener
		if err := server.Do(func() (err error) {
			ln, err = net.Listen("tcp", tc.listen)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			got <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().String()
		}()
		var c net.Conn
		if err := client.Do(func() (err error) {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}}
			c, err = d.Dial("tcp", ln.Addr().String())
			return err
		}); err != nil {
			t.Fatalf("dial %s from %s: %v", ln.Addr(), tc.from, err)
		}
		c.Close()
		if g := <-got; g != tc.from {
			t.Errorf("server saw the connection from %q, want %q", g, tc.from)
		}
	}

	// The listener lives in the namespace: the host cannot reach it.
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Errorf("dialled %s from the host namespace; the listener should be inside %s", ln.Addr(), server.Name())
	}

	if after := hostNetNS(t); after != before {
		t.Errorf("process namespace changed from %s to %s", before, after)
	}
	if err := server.Do(func() error { return errors.New("boom") }); err == nil || err.Error() != "boom" {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

func TestExec(t *testing.T) {
	ns := New(t)
	out, err := ns.Exec(context.Background(), "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// A fresh namespace holds only its loopback interface, which New brought up.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("links in a new namespace:\n%s\nwant only lo, up", out)
	}
	cmd := ns.Exec(context.Background(), "cat", "/proc/self/net/dev")
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		t.Error(err)
	}
	fd, err := ns.Fd()
	if err != nil || fd <= 0 {
		t.Errorf("Fd = %d, %v", fd, err)
	}
}
