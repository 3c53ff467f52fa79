package daemon_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/netns"
)

// TestAPIConnectionFlood: one source opening 300 idle connections to the
// API keeps at most 64 of them (the rest are closed at once and counted),
// and another source still gets answers.
func TestAPIConnectionFlood(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Link(t, server, netip.MustParsePrefix("10.233.0.1/24"), client, netip.MustParsePrefix("10.233.0.2/24"))
	other := netip.MustParseAddr("10.233.0.3")
	client.AddAddr(t, netns.IfName(server), netip.PrefixFrom(other, 24))
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp", "10.233.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), func(_ *config.File, o *daemon.Options) { o.Listener = ln })
	addr := m.d.Addr()

	dial := func(src netip.Addr) (net.Conn, error) {
		var c net.Conn
		err := client.Do(func() (err error) {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			c, err = d.Dial("tcp", addr)
			return err
		})
		return c, err
	}
	waitFor(t, 10*time.Second, "the second address to be usable", func() bool {
		c, err := dial(other)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	const flood = 300
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range flood {
		c, err := dial(netip.MustParseAddr("10.233.0.2"))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		conns = append(conns, c)
	}
	// The server closes what it refuses: a read sees EOF at once, while a
	// kept connection just waits (its read times out).
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed++
			}
		}
	}
	if closed < flood-64 {
		t.Errorf("%d of %d idle connections from one source were closed; want at least %d", closed, flood, flood-64)
	}

	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return dial(other) }}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("status from another source during the flood: %v", err)
	}
	defer resp.Body.Close()
	var st daemon.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: HTTP %d, %v", resp.StatusCode, err)
	}
	if st.API["refused"] < flood-64 || st.API["connections"] > 64+1 {
		t.Errorf("status api %v: want at least %d refused and at most 65 open", st.API, flood-64)
	}
}
