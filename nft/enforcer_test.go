package nft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/netns"
)

// lab is a server namespace with the enforcer in it, a TCP listener on the
// server's IPv4 and IPv6 addresses, and a client namespace linked to it whose
// interface has several addresses to act as distinct sources.
type lab struct {
	t              *testing.T
	server, client *netns.NS
	enf            *Enforcer
	ln4, ln6       net.Listener
}

var (
	server4 = netip.MustParseAddr("10.231.0.1")
	server6 = netip.MustParseAddr("fd00:231::1")
	// client addresses, each added to the client's interface
	cli4      = netip.MustParseAddr("10.231.0.2")
	cli4b     = netip.MustParseAddr("10.231.0.3")
	cliNetA   = netip.MustParseAddr("10.231.1.5") // inside 10.231.1.0/24
	cliNetB   = netip.MustParseAddr("10.231.1.77")
	cliNetOK  = netip.MustParseAddr("10.231.1.200") // allowlisted inside the /24
	cli6      = netip.MustParseAddr("fd00:231::2")
	cli6b     = netip.MustParseAddr("fd00:231::3")
	cli6NetA  = netip.MustParseAddr("fd00:231::a:1") // inside fd00:231::a:0/112
	cli6NetB  = netip.MustParseAddr("fd00:231::a:2")
	cli6NetOK = netip.MustParseAddr("fd00:231::a:3") // allowlisted inside the /112
)

func newLab(t *testing.T, cfg Config) *lab {
	t.Helper()
	l := &lab{t: t, server: netns.New(t), client: netns.New(t)}
	sIf, cIf := netns.Link(t, l.server, netip.PrefixFrom(server4, 16), l.client, netip.PrefixFrom(cli4, 16))
	l.server.AddAddr(t, sIf, netip.PrefixFrom(server6, 64))
	for _, a := range []netip.Addr{cli4b, cliNetA, cliNetB, cliNetOK} {
		l.client.AddAddr(t, cIf, netip.PrefixFrom(a, 16))
	}
	for _, a := range []netip.Addr{cli6, cli6b, cli6NetA, cli6NetB, cli6NetOK} {
		l.client.AddAddr(t, cIf, netip.PrefixFrom(a, 64))
	}
	if err := l.server.Do(func() (err error) {
		if l.ln4, err = net.Listen("tcp", netip.AddrPortFrom(server4, 0).String()); err != nil {
			return err
		}
		l.ln6, err = net.Listen("tcp", netip.AddrPortFrom(server6, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, ln := range []net.Listener{l.ln4, l.ln6} {
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
	fd, err := l.server.Fd()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NetNS = fd
	l.enf, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.enf.Close() })
	return l
}

// dial connects from src to the server's listener of src's family, with a
// short timeout: a dropped SYN shows as a timeout.
func (l *lab) dial(src netip.Addr, timeout time.Duration) error {
	ln := l.ln4
	if src.Is6() {
		ln = l.ln6
	}
	return l.client.Do(func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// blocked reports whether src cannot connect: its SYN goes unanswered.
func (l *lab) blocked(src netip.Addr) bool {
	l.t.Helper()
	err := l.dial(src, 300*time.Millisecond)
	if err == nil {
		return false
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		l.t.Fatalf("dial from %v: %v (want success or a timeout)", src, err)
	}
	return true
}

func (l *lab) wantBlocked(src ...netip.Addr) {
	l.t.Helper()
	for _, a := range src {
		if !l.blocked(a) {
			l.t.Errorf("%v connected; want it blocked", a)
		}
	}
}

func (l *lab) wantOpen(src ...netip.Addr) {
	l.t.Helper()
	for _, a := range src {
		if err := l.dial(a, 2*time.Second); err != nil {
			l.t.Errorf("%v cannot connect (%v); want it through", a, err)
		}
	}
}

func (l *lab) counts() Counts {
	l.t.Helper()
	c, err := l.enf.Counts()
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// nftList prints the table as the nft command sees it, for failure messages.
func (l *lab) nftList() string {
	out, err := l.server.Exec(context.Background(), "nft", "list", "table", "inet", l.enf.table).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("nft list: %v: %s", err, out)
	}
	return string(out)
}

func ban(value string, until time.Time) phalanx.Decision {
	return phalanx.Decision{Type: "ban", Origin: phalanx.OriginSelf, Value: netip.MustParsePrefix(value), Until: until}
}

func host(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

func TestEnforce(t *testing.T) {
	l := newLab(t, Config{Allow: []netip.Prefix{netip.PrefixFrom(cliNetOK, 32), netip.PrefixFrom(cli6NetOK, 128)}})
	now := time.Now()
	all := []netip.Addr{cli4, cli4b, cliNetA, cliNetB, cliNetOK, cli6, cli6b, cli6NetA, cli6NetB, cli6NetOK}
	l.wantOpen(all...)

	bans := []phalanx.Decision{
		ban(host(cli4), now.Add(time.Hour)),
		ban("10.231.1.0/24", now.Add(time.Hour)),
		ban(host(cli6), now.Add(time.Hour)),
		ban("fd00:231::a:0/112", now.Add(time.Hour)),
	}
	if err := l.enf.Apply(bans, nil, now); err != nil {
		t.Fatal(err)
	}
	t.Run("banned sources are dropped", func(t *testing.T) {
		l.t = t
		l.wantBlocked(cli4, cliNetA, cliNetB, cli6, cli6NetA, cli6NetB)
	})
	t.Run("others and the allowlist pass", func(t *testing.T) {
		l.t = t
		l.wantOpen(cli4b, cli6b, cliNetOK, cli6NetOK)
	})
	l.t = t
	if got, want := l.counts(), (Counts{Ban4: 1, Ban6: 1, Ban4Ranges: 1, Ban6Ranges: 1, Allow4: 1, Allow6: 1}); got != want {
		t.Errorf("counts %+v, want %+v\n%s", got, want, l.nftList())
	}

	t.Run("removed bans let traffic through", func(t *testing.T) {
		l.t = t
		if err := l.enf.Apply(nil, []phalanx.Decision{bans[0], bans[3]}, time.Now()); err != nil {
			t.Fatal(err)
		}
		l.wantOpen(cli4, cli6NetA, cli6NetB)
		l.wantBlocked(cliNetA, cli6)
	})
	t.Run("removing what is not there is no error", func(t *testing.T) {
		l.t = t
		now := time.Now()
		err := l.enf.Apply(nil, []phalanx.Decision{
			ban(host(cli4b), now.Add(time.Hour)),         // never added
			ban(host(cli4), now.Add(time.Hour)),          // removed already
			ban("10.231.2.0/24", now.Add(time.Hour)),     // range never added
			ban(host(cli6b), now.Add(-time.Second)),      // ended
			ban("fd00:231::b:0/112", now.Add(time.Hour)), // v6 range never added
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		l.wantBlocked(cliNetA, cli6)
	})
	t.Run("removes go by value, whatever their Until", func(t *testing.T) {
		l.t = t
		if err := l.enf.Apply(nil, []phalanx.Decision{{Type: "ban", Value: netip.PrefixFrom(cli6, 128)}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		l.wantOpen(cli6)
	})
	t.Run("other decision types are not enforced", func(t *testing.T) {
		l.t = t
		d := ban(host(cli4b), time.Now().Add(time.Hour))
		d.Type = "captcha"
		if err := l.enf.Apply([]phalanx.Decision{d}, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		l.wantOpen(cli4b)
	})
	t.Run("allowlist replaced", func(t *testing.T) {
		l.t = t
		if err := l.enf.SetAllow([]netip.Prefix{netip.MustParsePrefix("10.231.1.0/26"), netip.MustParsePrefix("10.231.1.0/27")}); err != nil {
			t.Fatal(err)
		}
		l.wantOpen(cliNetA)              // 10.231.1.5, now allowed
		l.wantBlocked(cliNetB, cliNetOK) // .200 no longer allowed, inside the banned /24
		if c := l.counts(); c.Allow4 != 1 || c.Allow6 != 0 {
			t.Errorf("allow counts %d/%d, want 1/0 (overlaps merged)", c.Allow4, c.Allow6)
		}
	})
}

func TestExpiry(t *testing.T) {
	l := newLab(t, Config{})
	now := time.Now()
	if err := l.enf.Apply([]phalanx.Decision{
		ban(host(cli4), now.Add(2*time.Second)),
		ban(host(cli6), now.Add(2*time.Second)),
		ban("10.231.1.0/24", now.Add(2*time.Second)),
		ban("10.231.1.0/26", now.Add(time.Hour)), // inside the /24, outlives it: holds 10.231.1.5
	}, nil, now); err != nil {
		t.Fatal(err)
	}
	l.wantBlocked(cli4, cli6, cliNetA, cliNetB)
	if c := l.counts(); c.Ban4Ranges != 2 {
		t.Errorf("range pieces %d, want 2 (the /26 and the rest of the /24)\n%s", c.Ban4Ranges, l.nftList())
	}
	eventually(t, 10*time.Second, "ban of "+cli4.String()+" expires", func() bool { return !l.blocked(cli4) })
	l.wantOpen(cli6, cliNetB)
	l.wantBlocked(cliNetA)
	if c := l.counts(); c.Ban4 != 0 || c.Ban6 != 0 || c.Ban4Ranges != 1 {
		t.Errorf("after expiry: %+v, want only the /26 left\n%s", c, l.nftList())
	}
	// Removing bans whose elements the kernel has expired is no error.
	now = time.Now()
	if err := l.enf.Apply(nil, []phalanx.Decision{ban(host(cli4), now.Add(-time.Second)), ban(host(cli6), now.Add(-time.Second))}, now); err != nil {
		t.Fatal(err)
	}
	// Changes after the expiry build on it: the pieces that ended by
	// themselves are cleaned up without errors.
	if err := l.enf.Apply([]phalanx.Decision{ban("10.231.1.0/24", now.Add(time.Hour))}, nil, now); err != nil {
		t.Fatal(err)
	}
	l.wantBlocked(cliNetB)
}

func TestReAddSetsTimeout(t *testing.T) {
	l := newLab(t, Config{})
	for _, refresh := range []bool{true, false} {
		t.Run(fmt.Sprintf("refresh=%v", refresh), func(t *testing.T) {
			l.t = t
			if refresh && !l.enf.refresh {
				t.Skip("this kernel keeps the old timeout of an element added again")
			}
			l.enf.refresh = refresh
			expires := func(a netip.Addr) time.Duration {
				t.Helper()
				var got time.Duration = -1
				set := exactSet(0)
				if a.Is6() {
					set = exactSet(1)
				}
				if err := l.enf.sock.list(l.enf.table, set, func(k kelem) {
					if ka, _ := netip.AddrFromSlice(k.key); ka == a {
						got = k.expires
					}
				}); err != nil {
					t.Fatal(err)
				}
				return got
			}
			now := time.Now()
			for _, a := range []netip.Addr{cli4, cli6} {
				if err := l.enf.Apply([]phalanx.Decision{ban(host(a), now.Add(time.Hour))}, nil, now); err != nil {
					t.Fatal(err)
				}
				if e := expires(a); e < 59*time.Minute {
					t.Fatalf("%v expires in %v, want about 1h", a, e)
				}
				if err := l.enf.Apply([]phalanx.Decision{ban(host(a), now.Add(2*time.Second))}, nil, now); err != nil {
					t.Fatal(err)
				}
				if e := expires(a); e < 0 || e > 2*time.Second {
					t.Fatalf("%v expires in %v after a 2s ban replaced the 1h one", a, e)
				}
				if err := l.enf.Apply([]phalanx.Decision{ban(host(a), now.Add(2*time.Hour))}, []phalanx.Decision{ban(host(a), now.Add(2*time.Second))}, now); err != nil {
					t.Fatal(err)
				}
				if e := expires(a); e < 119*time.Minute {
					t.Fatalf("%v expires in %v after a 2h ban replaced the 2s one (removed in the same call)", a, e)
				}
			}
			l.wantBlocked(cli4, cli6)
			if err := l.enf.Apply(nil, []phalanx.Decision{ban(host(cli4), now.Add(2*time.Hour)), ban(host(cli6), now.Add(2*time.Hour))}, now); err != nil {
				t.Fatal(err)
			}
			l.wantOpen(cli4, cli6)
		})
	}
}

func TestReconcile(t *testing.T) {
	l := newLab(t, Config{})
	now := time.Now()
	var before []phalanx.Decision
	before = append(before, ban(host(cli4), now.Add(time.Hour)), ban(host(cli4b), now.Add(time.Hour)),
		ban("10.231.1.0/24", now.Add(time.Hour)), ban(host(cli6), now.Add(time.Hour)))
	for i := range 1000 {
		before = append(before, ban(fmt.Sprintf("10.99.%d.%d/32", i/256, i%256), now.Add(time.Hour)))
	}
	if err := l.enf.Apply(before, nil, now); err != nil {
		t.Fatal(err)
	}
	l.wantBlocked(cli4, cliNetB, cli6)

	var after []phalanx.Decision
	after = append(after,
		ban(host(cli4b), now.Add(time.Hour)),         // kept
		ban(host(cli6b), now.Add(time.Hour)),         // new
		ban("10.231.1.0/26", now.Add(time.Hour)),     // a range narrowed: holds .5, not .77
		ban("fd00:231::a:0/112", now.Add(time.Hour)), // new range
		ban(host(cli4), now.Add(-time.Minute)),       // ended: skipped
		ban("10.231.2.0/24", now.Add(-time.Minute)),  // ended range: skipped
	)
	for i := range 2000 {
		after = append(after, ban(fmt.Sprintf("10.98.%d.%d/32", i/256, i%256), now.Add(time.Hour)))
	}
	if err := l.enf.Reconcile(after, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, want := l.counts(), (Counts{Ban4: 2001, Ban6: 1, Ban4Ranges: 1, Ban6Ranges: 1}); got != want {
		t.Errorf("counts after Reconcile %+v, want %+v", got, want)
	}
	l.wantOpen(cli4, cliNetB, cli6)
	l.wantBlocked(cli4b, cliNetA, cli6b, cli6NetA)

	// The enforcer's view of the interval sets matches the kernel after
	// Reconcile: a nested range goes in without a clash.
	now = time.Now()
	if err := l.enf.Apply([]phalanx.Decision{ban("10.231.1.0/24", now.Add(2*time.Hour))}, nil, now); err != nil {
		t.Fatal(err)
	}
	l.wantBlocked(cliNetB)
	if c := l.counts(); c.Ban4Ranges != 1 {
		t.Errorf("range pieces %d, want 1 (the /26 ends sooner, inside the /24)", c.Ban4Ranges)
	}
}

// TestReconcileNoGap sends a stream of UDP packets from a banned source
// while Reconcile reloads the sets (the ban is in both the old and the new
// contents): not one packet may get through. A second, unbanned source
// shows that the stream does reach the server.
func TestReconcileNoGap(t *testing.T) {
	l := newLab(t, Config{})
	var srv *net.UDPConn
	if err := l.server.Do(func() (err error) {
		srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(server4, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	received := map[netip.Addr]int{}
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 64)
		for {
			_, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			received[from.Addr()]++
		}
	}()
	var senders []*net.UDPConn
	for _, a := range []netip.Addr{cli4, cli4b} {
		if err := l.client.Do(func() error {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)), srv.LocalAddr().(*net.UDPAddr))
			senders = append(senders, c)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now()
	var decisions []phalanx.Decision
	decisions = append(decisions, ban(host(cli4), now.Add(time.Hour)))
	for i := range 50000 {
		decisions = append(decisions, ban(fmt.Sprintf("10.%d.%d.%d/32", 100+i/65536, i/256%256, i%256), now.Add(time.Hour)))
	}
	for i := range 5000 {
		decisions = append(decisions, ban(fmt.Sprintf("10.%d.%d.0/28", 200+i/256, i%256), now.Add(time.Hour)))
	}
	if err := l.enf.Apply(decisions[:1], nil, now); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			for _, c := range senders {
				c.Write([]byte("x"))
			}
			n++
		}
	}()
	var took []time.Duration
	for range 3 {
		start := time.Now()
		if err := l.enf.Reconcile(decisions, time.Now()); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	close(stop)
	n := <-sent
	// The reader stops once the packets in flight have arrived.
	srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-recvDone
	for _, c := range senders {
		c.Close()
	}
	t.Logf("3 Reconciles of 50,000 addresses and 5,000 ranges took %v; %d packets sent from each source; received %v", took, n, received)
	if received[cli4] != 0 {
		t.Errorf("%d packets from the banned %v got through during Reconcile", received[cli4], cli4)
	}
	if received[cli4b] == 0 {
		t.Errorf("no packet from the unbanned %v arrived: the measurement is broken", cli4b)
	}
}

// serverOnly is a namespace with an enforcer in it and no traffic, for tests
// that only look at the sets.
func serverOnly(t *testing.T, cfg Config) (*netns.NS, *Enforcer) {
	t.Helper()
	ns := netns.New(t)
	fd, err := ns.Fd()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NetNS = fd
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return ns, e
}

// spread returns n distinct exact addresses and n disjoint, non-adjacent
// ranges of each family.
func spread(n int, until time.Time) (exact4, ranges4, exact6, ranges6 []phalanx.Decision) {
	for i := range n {
		exact4 = append(exact4, ban(netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 32).String(), until))
		// /30s eight addresses apart, so no two touch and none is joined
		r := 8 * i
		ranges4 = append(ranges4, ban(netip.PrefixFrom(netip.AddrFrom4([4]byte{12, byte(r >> 16), byte(r >> 8), byte(r)}), 30).String(), until))
		var a [16]byte
		a[0], a[1], a[13], a[14], a[15] = 0x20, 0x01, byte(i>>16), byte(i>>8), byte(i)
		exact6 = append(exact6, ban(netip.PrefixFrom(netip.AddrFrom16(a), 128).String(), until))
		var b [16]byte
		b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x02, byte(r>>16), byte(r>>8), byte(r), 0
		ranges6 = append(ranges6, ban(netip.PrefixFrom(netip.AddrFrom16(b), 45).String(), until))
	}
	return
}

// TestLargeBatches loads thousands of elements of every kind in one call and
// checks the kernel holds every one: google/nftables used naively stores 740
// of 2,000 interval prefixes without an error.
func TestLargeBatches(t *testing.T) {
	_, e := serverOnly(t, Config{})
	const n = 5000
	now := time.Now()
	e4, r4, e6, r6 := spread(n, now.Add(time.Hour))
	all := slices.Concat(e4, r4, e6, r6)
	count := func() Counts {
		t.Helper()
		c, err := e.Counts()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	start := time.Now()
	if err := e.Apply(all, nil, now); err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply of %d decisions took %v", len(all), time.Since(start))
	if got, want := count(), (Counts{Ban4: n, Ban6: n, Ban4Ranges: n, Ban6Ranges: n}); got != want {
		t.Fatalf("after Apply: %+v, want %+v", got, want)
	}
	// remove every other one of each kind
	var gone []phalanx.Decision
	for _, l := range [][]phalanx.Decision{e4, r4, e6, r6} {
		for i := 0; i < len(l); i += 2 {
			gone = append(gone, l[i])
		}
	}
	if err := e.Apply(nil, gone, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, want := count(), (Counts{Ban4: n / 2, Ban6: n / 2, Ban4Ranges: n / 2, Ban6Ranges: n / 2}); got != want {
		t.Fatalf("after removing half: %+v, want %+v", got, want)
	}
	start = time.Now()
	if err := e.Reconcile(all, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Reconcile of %d decisions took %v", len(all), time.Since(start))
	if got, want := count(), (Counts{Ban4: n, Ban6: n, Ban4Ranges: n, Ban6Ranges: n}); got != want {
		t.Fatalf("after Reconcile: %+v, want %+v", got, want)
	}
}

// TestRestart closes the enforcer and opens it again on the same table: the
// bans stay enforced throughout, and changes before the next Reconcile
// build on the ranges the kernel kept.
func TestRestart(t *testing.T) {
	l := newLab(t, Config{Allow: []netip.Prefix{netip.PrefixFrom(cli4b, 32)}})
	now := time.Now()
	if err := l.enf.Apply([]phalanx.Decision{
		ban(host(cli4), now.Add(time.Hour)),
		ban(host(cli4b), now.Add(time.Hour)), // allowlisted
		ban("10.231.1.0/24", now.Add(time.Hour)),
		ban("10.231.1.0/26", now.Add(2*time.Hour)),
		ban("fd00:231::a:0/112", now.Add(time.Hour)),
	}, nil, now); err != nil {
		t.Fatal(err)
	}
	before := l.counts()
	if err := l.enf.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.enf.Apply(nil, nil, now); err == nil {
		t.Error("Apply after Close succeeded")
	}
	l.wantBlocked(cli4, cliNetA, cliNetB, cli6NetA)
	l.wantOpen(cli4b)

	fd, _ := l.server.Fd()
	e2, err := New(Config{NetNS: fd, Allow: []netip.Prefix{netip.PrefixFrom(cli4b, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	l.enf = e2
	l.wantBlocked(cli4, cliNetA, cliNetB, cli6NetA)
	l.wantOpen(cli4b)
	// The kept pieces are re-cut along prefix boundaries: .0/26 until 2h,
	// then .64/26 and .128/25 until 1h, for the same addresses and times.
	want := before
	want.Ban4Ranges = 3
	if after := l.counts(); after != want {
		t.Errorf("counts after restart %+v, want %+v (before: %+v)", after, want, before)
	}
	// A range inside and one around the kept pieces go in without a clash.
	now = time.Now()
	if err := e2.Apply([]phalanx.Decision{ban("10.231.1.64/26", now.Add(3*time.Hour)), ban("10.231.0.0/16", now.Add(time.Minute))}, nil, now); err != nil {
		t.Fatalf("Apply after restart: %v\n%s", err, l.nftList())
	}
	l.wantBlocked(cli6NetA)
	l.wantOpen(cli4b) // allowlisted, inside the /16
	if err := e2.Reconcile([]phalanx.Decision{ban(host(cli6), now.Add(time.Hour))}, now); err != nil {
		t.Fatal(err)
	}
	l.wantOpen(cli4, cliNetA, cliNetB, cli6NetA)
	l.wantBlocked(cli6)
	if got, want := l.counts(), (Counts{Ban6: 1, Allow4: 1}); got != want {
		t.Errorf("after Reconcile: %+v, want %+v", got, want)
	}
}

func nft(t *testing.T, ns *netns.NS, args ...string) string {
	t.Helper()
	out, err := ns.Exec(context.Background(), "nft", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestOwnTableOnly: a table of our name with another layout is re-created;
// another table is never touched, not even by Remove.
func TestOwnTableOnly(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("the nft command is not installed")
	}
	ns := netns.New(t)
	nft(t, ns, "-f", "-") // no-op, checks nft works in the namespace
	script := `
table inet other {
	set keep { type ipv4_addr; elements = { 192.0.2.7 } }
	chain input { type filter hook input priority 0; policy accept; ip saddr @keep drop; }
}
table inet mine {
	set ban4 { type ipv6_addr; }
	chain input { type filter hook input priority 5; policy accept; }
	chain extra { }
}
`
	cmd := ns.Exec(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	other := nft(t, ns, "list", "table", "inet", "other")
	fd, _ := ns.Fd()
	e, err := New(Config{Table: "mine", NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := e.Apply([]phalanx.Decision{ban("192.0.2.1/32", now.Add(time.Hour)), ban("2001:db8::/64", now.Add(time.Hour))}, nil, now); err != nil {
		t.Fatal(err)
	}
	if c, err := e.Counts(); err != nil || c != (Counts{Ban4: 1, Ban6Nets: 1}) {
		t.Errorf("counts %+v %v", c, err)
	}
	mine := nft(t, ns, "list", "table", "inet", "mine")
	if strings.Contains(mine, "extra") || !strings.Contains(mine, "priority filter - 10") {
		t.Errorf("the old layout survived:\n%s", mine)
	}
	if err := e.Reconcile(nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove(); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Exec(context.Background(), "nft", "list", "table", "inet", "mine").CombinedOutput(); err == nil {
		t.Errorf("table mine still there after Remove:\n%s", out)
	}
	if got := nft(t, ns, "list", "table", "inet", "other"); got != other {
		t.Errorf("table other changed:\nbefore\n%s\nafter\n%s", other, got)
	}
}

// TestNoCapability runs New in a child process without CAP_NET_ADMIN: the
// error must tell the user what to do.
func TestNoCapability(t *testing.T) {
	if path := os.Getenv("PHALANX_NFT_NOCAP_NETNS"); path != "" {
		return // the child's run of this test: see TestNoCapabilityChild
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	ns := netns.New(t)
	cmd := exec.Command(setpriv, "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--",
		os.Args[0], "-test.run", "^TestNoCapabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PHALANX_NFT_NOCAP_NETNS=/var/run/netns/"+ns.Name())
	out, _ := cmd.CombinedOutput()
	t.Logf("child: %s", out)
	if !strings.Contains(string(out), "NEW FAILED: nftables: permission denied: run phalanx as root or with CAP_NET_ADMIN, or pass --enforce none") {
		t.Errorf("child output:\n%s", out)
	}
}

func TestNoCapabilityChild(t *testing.T) {
	path := os.Getenv("PHALANX_NFT_NOCAP_NETNS")
	if path == "" {
		t.Skip("run by TestNoCapability")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := New(Config{NetNS: int(f.Fd())})
	if err == nil {
		e.Close()
		t.Fatal("New succeeded without CAP_NET_ADMIN")
	}
	fmt.Println("NEW FAILED: " + err.Error())
}

// TestApplyFailureChangesNothing makes the kernel refuse a transaction (its
// sets are looked up in a table that does not exist): the error names what
// failed, and the enforcer's view of the ranges is as before, so the next
// Apply still fits the kernel.
func TestApplyFailureChangesNothing(t *testing.T) {
	_, e := serverOnly(t, Config{})
	now := time.Now()
	if err := e.Apply([]phalanx.Decision{ban("10.9.0.0/16", now.Add(time.Hour))}, nil, now); err != nil {
		t.Fatal(err)
	}
	e.table = "nosuchtable"
	err := e.Apply([]phalanx.Decision{ban("10.9.1.0/24", now.Add(2*time.Hour)), ban("10.8.0.0/16", now.Add(time.Hour))},
		[]phalanx.Decision{ban("10.9.0.0/16", now.Add(time.Hour))}, now)
	e.table = DefaultTable
	t.Logf("the error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") || !strings.Contains(err.Error(), "set ban4r") {
		t.Fatalf("Apply into a missing table: %v", err)
	}
	if _, ok := e.ranges[0].items.Get(netip.MustParsePrefix("10.9.0.0/16")); !ok || e.ranges[0].items.Size() != 1 {
		t.Fatalf("ranges after a failed Apply: %d items", e.ranges[0].items.Size())
	}
	if err := e.Apply([]phalanx.Decision{ban("10.9.1.0/24", now.Add(2*time.Hour))}, nil, now); err != nil {
		t.Fatalf("Apply after a failed one: %v", err)
	}
	if c, err := e.Counts(); err != nil || c.Ban4Ranges != 3 {
		t.Errorf("range pieces %d (%v), want 3: the /16 cut around the /24", c.Ban4Ranges, err)
	}
}

// TestLongBan: a ban ending in the far future (or never, as a year-9999
// Until) is loaded with the longest timeout the enforcer uses.
func TestLongBan(t *testing.T) {
	_, e := serverOnly(t, Config{})
	now := time.Now()
	forever := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	if err := e.Apply([]phalanx.Decision{ban("10.7.0.1/32", forever), ban("10.7.1.0/24", forever), ban("2001:db8::/48", forever)}, nil, now); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{setBan4, setBan4R, setBan6R} {
		n := 0
		if err := e.sock.list(e.table, set, func(k kelem) {
			if k.end {
				return
			}
			n++
			if k.timeout != maxTimeout || k.expires < maxTimeout-time.Minute {
				t.Errorf("set %s: timeout %v, expires %v, want %v", set, k.timeout, k.expires, maxTimeout)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("set %s holds %d elements, want 1", set, n)
		}
	}
}

// TestNet64: an IPv6 /64 ban goes to the hash set ban6n, matched by the
// source masked to its /64: every address in it is dropped, the rest of
// the traffic is not; removing and reconciling keep it exact.
func TestNet64(t *testing.T) {
	l := newLab(t, Config{Table: "phx_net64"})
	now := time.Now()
	l.wantOpen(cli6, cli6b, cli4) // neighbours known both ways before the ban
	net := ban("fd00:231::/64", now.Add(time.Hour))
	if err := l.enf.Apply([]phalanx.Decision{net}, nil, now); err != nil {
		t.Fatal(err)
	}
	if c := l.counts(); c != (Counts{Ban6Nets: 1}) {
		t.Errorf("counts %+v, want one /64 in ban6n\n%s", c, l.nftList())
	}
	l.wantBlocked(cli6, cli6b)
	l.wantOpen(cli4)
	if err := l.enf.Apply(nil, []phalanx.Decision{net}, now); err != nil {
		t.Fatal(err)
	}
	if c := l.counts(); c != (Counts{}) {
		t.Errorf("counts after removal %+v", c)
	}
	if err := l.enf.Reconcile([]phalanx.Decision{net, ban("fd00:231::/112", now.Add(time.Hour)), ban(host(cli6), now.Add(time.Hour))}, now); err != nil {
		t.Fatal(err)
	}
	if c := l.counts(); c.Ban6Nets != 1 || c.Ban6 != 1 || c.Ban6Ranges != 1 {
		t.Errorf("counts after Reconcile %+v, want one /64, one address, one range", c)
	}
}
