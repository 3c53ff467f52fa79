package crawler

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx/testenv"
)

// Tests against real DNS servers on loopback: dnsmasq answering the records
// below, and a blackhole that reads queries and never answers.

var (
	google = []string{"googlebot.com", "google.com"}
	bing   = []string{"search.msn.com"}
)

// zone is what the test dnsmasq serves. The --local zones make it answer
// NXDOMAIN for what it does not know in them; outside them (192.0.2.0/24's
// reverse zone, say) it has no upstream and refuses, a server failure.
var zone = []string{
	"--local=/googlebot.com/", "--local=/google.com/", "--local=/search.msn.com/",
	"--local=/example/", "--local=/evilgooglebot.com/",
	"--local=/66.249.66.in-addr.arpa/", "--local=/113.0.203.in-addr.arpa/",
	"--local=/100.51.198.in-addr.arpa/", "--local=/ip6.arpa/",
	// A real crawler: PTR and A agree.
	"--host-record=crawl-66-249-66-1.googlebot.com,66.249.66.1",
	"--host-record=crawl-2001-4860-4801-10--1.googlebot.com,2001:4860:4801:10::1",
	// The same, in capitals.
	"--host-record=CRAWL-66-249-66-3.GoogleBot.COM,66.249.66.3",
	// A spoofer owning its reverse zone and evil.example: its PTR name
	// starts like Google's and resolves back, but is not in Google's domain.
	"--host-record=crawl-203-0-113-9.googlebot.com.evil.example,203.0.113.9",
	// Not a label boundary.
	"--host-record=evilgooglebot.com,203.0.113.10",
	// A PTR name in Google's domain whose A is another address.
	"--host-record=crawl.googlebot.com,66.249.66.2",
	"--ptr-record=" + reverseName("198.51.100.7") + ",crawl.googlebot.com",
	// A PTR name in Google's domain that does not exist.
	"--ptr-record=" + reverseName("198.51.100.8") + ",crawl-198-51-100-8.googlebot.com",
	// Two PTR names, the second Google's and confirmed.
	"--ptr-record=" + reverseName("198.51.100.9") + ",www.example",
	"--ptr-record=" + reverseName("198.51.100.9") + ",crawl-198-51-100-9.googlebot.com",
	"--address=/crawl-198-51-100-9.googlebot.com/198.51.100.9",
	// An IPv6 spoofer pointing at a real crawler's name, which has no AAAA.
	"--ptr-record=" + reverseName("2001:db8::bad") + ",crawl-66-249-66-1.googlebot.com",
	// 203.0.113.20 and 2001:db8::20 have no PTR record at all.
}

func TestFCrDNS(t *testing.T) {
	dns := startDNSMasq(t, zone...)
	v := newVerifier(t, Config{Resolver: dns})
	for _, tc := range []struct {
		addr    string
		domains []string
		want    Verdict
		why     string
	}{
		{"66.249.66.1", google, Verified, "PTR in googlebot.com, A confirms"},
		{"::ffff:66.249.66.1", google, Verified, "IPv4-mapped form of a verified address"},
		{"2001:4860:4801:10::1", google, Verified, "IPv6: PTR in googlebot.com, AAAA confirms"},
		{"66.249.66.3", google, Verified, "names compare without regard to case"},
		{"198.51.100.9", google, Verified, "the second of two PTR names confirms"},
		{"66.249.66.1", bing, Fake, "a real Googlebot address claiming to be Bingbot"},
		{"203.0.113.9", google, Fake, "PTR name only starts like Google's"},
		{"203.0.113.10", google, Fake, "PTR name ends in googlebot.com but not on a label boundary"},
		{"198.51.100.7", google, Fake, "PTR name's A is another address"},
		{"198.51.100.8", google, Fake, "PTR name does not exist (NXDOMAIN forward)"},
		{"2001:db8::bad", google, Fake, "PTR name has no AAAA"},
		{"203.0.113.20", google, Fake, "no PTR (NXDOMAIN)"},
		{"2001:db8::20", google, Fake, "IPv6, no PTR (NXDOMAIN)"},
		{"192.0.2.44", google, Unknown, "the server refuses: a DNS failure is never Fake"},
	} {
		addr := netip.MustParseAddr(tc.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got := v.Verify(ctx, addr, tc.domains)
		cancel()
		if got != tc.want {
			t.Errorf("Verify(%s, %q) = %v, want %v: %s", tc.addr, tc.domains, got, tc.want, tc.why)
		}
	}
	s := v.Stats()
	// ::ffff:66.249.66.1 is answered from the cache of 66.249.66.1.
	want := Stats{Lookups: 13, Verified: 4, Fake: 8, Failed: 1, CacheHits: 1, Cached: 13}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

func TestCheckLooksUpInBackground(t *testing.T) {
	dns := startDNSMasq(t, zone...)
	v := newVerifier(t, Config{Resolver: dns})
	real, spoof := netip.MustParseAddr("66.249.66.1"), netip.MustParseAddr("203.0.113.9")
	if got := v.Check(real, google); got != Unknown {
		t.Fatalf("first Check = %v, want Unknown: it must not wait for DNS", got)
	}
	waitVerdict(t, v, real, google, Verified)
	waitVerdict(t, v, spoof, google, Fake)
	// The same address claiming another crawler is another question.
	waitVerdict(t, v, real, bing, Fake)
	if got := v.Check(real, google); got != Verified {
		t.Fatalf("Check after Bing's claim was judged = %v, want Google's claim still Verified", got)
	}
	if s := v.Stats(); s.Lookups != 3 || s.Verified != 1 || s.Fake != 2 || s.Cached != 3 || s.Pending != 0 {
		t.Fatalf("stats %+v, want 3 lookups (1 verified, 2 fake), 3 cached", s)
	}
}

// A DNS server that never answers: the lookup times out, the verdict is
// Unknown (never Fake), it is counted and cached for FailureTTL.
func TestTimeoutIsUnknown(t *testing.T) {
	bh := startBlackhole(t)
	clk := newClock()
	v := newVerifier(t, Config{Resolver: bh.addr, Timeout: 300 * time.Millisecond, FailureTTL: time.Minute})
	v.now = clk.Now
	addr := netip.MustParseAddr("66.249.66.1")

	start := time.Now()
	got := v.Verify(context.Background(), addr, google)
	took := time.Since(start)
	if got != Unknown {
		t.Fatalf("Verify against a silent server = %v, want Unknown: a DNS outage must not ban Google", got)
	}
	if took > 4*time.Second {
		t.Errorf("Verify took %v with a 300ms timeout", took)
	}
	if bh.queries() == 0 {
		t.Fatal("the silent server saw no query: the lookup did not go to Config.Resolver")
	}
	if s := v.Stats(); s.Timeouts != 1 || s.Fake != 0 || s.Failed != 0 || s.Cached != 1 {
		t.Fatalf("stats %+v, want one timeout, cached", s)
	}
	// Within FailureTTL the address is not asked about again.
	clk.Advance(time.Minute - time.Second)
	if got := v.Check(addr, google); got != Unknown {
		t.Fatalf("Check = %v, want the cached Unknown", got)
	}
	if s := v.Stats(); s.Lookups != 1 || s.CacheHits != 1 {
		t.Fatalf("stats %+v, want the Check answered from the cache", s)
	}
	// After it, it is.
	clk.Advance(time.Second)
	v.Check(addr, google)
	if s := v.Stats(); s.Lookups != 2 {
		t.Fatalf("stats %+v, want a second lookup once the failure expired", s)
	}
}

// Verify gives up when its caller does, and does not cache that.
func TestVerifyHonoursContext(t *testing.T) {
	bh := startBlackhole(t)
	v := newVerifier(t, Config{Resolver: bh.addr, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got := v.Verify(ctx, netip.MustParseAddr("66.249.66.1"), google); got != Unknown {
		t.Fatalf("Verify = %v, want Unknown", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Verify took %v with a 200ms context", took)
	}
	if s := v.Stats(); s.Failed != 1 || s.Timeouts != 0 || s.Cached != 0 || s.Pending != 0 {
		t.Fatalf("stats %+v, want one failed lookup, not cached: the caller gave up, DNS did not fail", s)
	}
}

// Many Checks of one address at once start one lookup.
func TestConcurrentChecksShareOneLookup(t *testing.T) {
	bh := startBlackhole(t)
	v := newVerifier(t, Config{Resolver: bh.addr, Timeout: time.Minute})
	addr := netip.MustParseAddr("66.249.66.1")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if got := v.Check(addr, google); got != Unknown {
				t.Errorf("Check = %v, want Unknown", got)
			}
		})
	}
	wg.Wait()
	if s := v.Stats(); s.Lookups != 1 || s.Pending != 1 || s.Dropped != 0 {
		t.Fatalf("stats %+v, want 1 lookup in flight", s)
	}
	waitFor(t, "the lookup's query", func() bool { return bh.queries() > 0 })
	if q := bh.questions(); len(q) != 1 {
		t.Fatalf("the server saw %d different questions, want 1", len(q))
	}
	// A Verify of the same question waits for that lookup rather than
	// starting its own.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	v.Verify(ctx, addr, google)
	if s := v.Stats(); s.Lookups != 1 {
		t.Fatalf("stats %+v, want Verify to join the lookup in flight", s)
	}
}

// Beyond MaxPending lookups in flight Check starts none and counts it.
func TestMaxPending(t *testing.T) {
	bh := startBlackhole(t)
	v := newVerifier(t, Config{Resolver: bh.addr, Timeout: time.Minute, MaxPending: 2})
	for _, a := range []string{"66.249.66.1", "66.249.66.2", "66.249.66.3", "66.249.66.4"} {
		if got := v.Check(netip.MustParseAddr(a), google); got != Unknown {
			t.Fatalf("Check(%s) = %v, want Unknown", a, got)
		}
	}
	if s := v.Stats(); s.Lookups != 2 || s.Pending != 2 || s.Dropped != 2 {
		t.Fatalf("stats %+v, want 2 lookups in flight and 2 dropped", s)
	}
}

// Close stops lookups in flight at once, caches nothing of them, and starts
// no more.
func TestClose(t *testing.T) {
	bh := startBlackhole(t)
	v, err := New(Config{Resolver: bh.addr, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("66.249.66.1")
	v.Check(addr, google)
	waitFor(t, "the lookup's query", func() bool { return bh.queries() > 0 })
	verified := make(chan Verdict)
	go func() { verified <- v.Verify(context.Background(), netip.MustParseAddr("66.249.66.2"), google) }()
	waitFor(t, "the Verify lookup in flight", func() bool { return v.Stats().Pending == 2 })

	closed := make(chan struct{})
	go func() { v.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		// Less than the resolver's own wait for an answer (5s unless
		// resolv.conf says otherwise): Close must interrupt it.
		t.Fatal("Close did not return within 3s of a lookup with a 1m timeout: it must cancel lookups")
	}
	select {
	case got := <-verified:
		if got != Unknown {
			t.Fatalf("Verify interrupted by Close = %v, want Unknown", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify did not return after Close")
	}
	if s := v.Stats(); s.Pending != 0 || s.Cached != 0 || s.Failed != 2 {
		t.Fatalf("stats after Close %+v, want nothing pending or cached, 2 failed", s)
	}
	if got := v.Check(addr, google); got != Unknown {
		t.Fatalf("Check after Close = %v, want Unknown", got)
	}
	if got := v.Verify(context.Background(), addr, google); got != Unknown {
		t.Fatalf("Verify after Close = %v, want Unknown", got)
	}
	if s := v.Stats(); s.Lookups != 2 {
		t.Fatalf("stats %+v: a lookup started after Close", s)
	}
	v.Close() // again: a no-op
}

// Verdicts expire after CacheTTL; the cache keeps the most recently used
// CacheSize addresses.
func TestCacheExpiryAndEviction(t *testing.T) {
	dns := startDNSMasq(t, zone...)
	clk := newClock()
	v := newVerifier(t, Config{Resolver: dns, CacheTTL: time.Hour, CacheSize: 2})
	v.now = clk.Now
	ctx := context.Background()
	real, spoof, other := netip.MustParseAddr("66.249.66.1"), netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("203.0.113.20")

	if got := v.Verify(ctx, real, google); got != Verified {
		t.Fatalf("Verify(%s) = %v, want Verified", real, got)
	}
	clk.Advance(time.Hour - time.Second)
	if got := v.Check(real, google); got != Verified {
		t.Fatalf("Check before the TTL = %v, want the cached Verified", got)
	}
	clk.Advance(time.Second)
	if got := v.Check(real, google); got != Unknown {
		t.Fatalf("Check at the TTL = %v, want Unknown and a new lookup", got)
	}
	waitVerdict(t, v, real, google, Verified)
	if s := v.Stats(); s.Lookups != 2 {
		t.Fatalf("stats %+v, want 2 lookups: the verdict expired once", s)
	}

	// real is the most recently used when spoof and other come in: spoof
	// is the one forgotten.
	v.Verify(ctx, spoof, google)
	v.Check(real, google)
	v.Verify(ctx, other, google)
	if s := v.Stats(); s.Cached != 2 {
		t.Fatalf("stats %+v, want 2 cached (CacheSize)", s)
	}
	before := v.Stats().Lookups
	if got := v.Check(real, google); got != Verified {
		t.Fatalf("Check(%s) = %v, want it still cached", real, got)
	}
	if got := v.Check(other, google); got != Fake {
		t.Fatalf("Check(%s) = %v, want it still cached", other, got)
	}
	if got := v.Check(spoof, google); got != Unknown {
		t.Fatalf("Check(%s) = %v, want Unknown: the least recently used was evicted", spoof, got)
	}
	if s := v.Stats(); s.Lookups != before+1 {
		t.Fatalf("stats %+v, want only the evicted address looked up again", s)
	}
}

// newVerifier returns a Verifier closed at the end of the test, whose
// counters add up.
func newVerifier(t *testing.T, c Config) *Verifier {
	t.Helper()
	v, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.Close()
		s := v.Stats()
		if s.Lookups != s.Verified+s.Fake+s.Failed+s.Timeouts+uint64(s.Pending) {
			t.Errorf("stats %+v: lookups started do not add up to their outcomes", s)
		}
	})
	return v
}

// waitVerdict polls Check until it returns want.
func waitVerdict(t *testing.T, v *Verifier, addr netip.Addr, domains []string, want Verdict) {
	t.Helper()
	var got Verdict
	waitFor(t, fmt.Sprintf("Check(%s, %q) to be %v", addr, domains, want), func() bool {
		got = v.Check(addr, domains)
		return got == want
	})
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // the poll interval, not synchronisation
	}
}

// clock is a settable clock for the cache's TTLs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startDNSMasq runs dnsmasq on 127.0.0.1 at a free port with the given
// record options, waits until it answers, and returns its "ADDR:PORT".
func startDNSMasq(t *testing.T, records ...string) string {
	t.Helper()
	bin := testenv.Program(t, "dnsmasq-base", "dnsmasq", "/usr/sbin/dnsmasq")
	for attempt := 1; ; attempt++ {
		port := testenv.FreePorts(t, 1)[0]
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		args := append([]string{
			"--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
			fmt.Sprintf("--port=%d", port), "--listen-address=127.0.0.1", "--bind-interfaces",
			"--local=/test/", "--host-record=ready.test,127.0.0.2",
		}, records...)
		cmd := exec.Command(bin, args...)
		out := &testenv.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start dnsmasq: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		err := waitDNS(addr, exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("dnsmasq output:\n%s", out)
				}
			})
			return addr
		}
		stop()
		// Another process may have taken the port between freePort and
		// dnsmasq binding it; try another.
		if attempt == 3 || !strings.Contains(out.String(), "in use") {
			t.Fatalf("dnsmasq on %s: %v\n%s", addr, err, out)
		}
	}
}

// waitDNS polls the server at addr until it answers for ready.test, it exits,
// or 10 seconds pass.
func waitDNS(addr string, exited <-chan error) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		ips, err := r.LookupNetIP(ctx, "ip4", "ready.test.")
		cancel()
		if err == nil && len(ips) == 1 && ips[0] == netip.MustParseAddr("127.0.0.2") {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before answering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer for ready.test within 10s (last: %v, %v)", ips, err)
		}
		time.Sleep(10 * time.Millisecond) // the poll interval, not synchronisation
	}
}

// blackhole is a UDP DNS "server" on loopback that reads queries and never
// answers.
type blackhole struct {
	addr string
	mu   sync.Mutex
	seen map[string]int // question section → times asked
}

func startBlackhole(t *testing.T) *blackhole {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bh := &blackhole{addr: pc.LocalAddr().String(), seen: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n > 12 { // past the header, whose ID differs per query
				bh.mu.Lock()
				bh.seen[string(buf[12:n])]++
				bh.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return bh
}

func (bh *blackhole) queries() int {
	bh.mu.Lock()
	defer bh.mu.Unlock()
	n := 0
	for _, c := range bh.seen {
		n += c
	}
	return n
}

func (bh *blackhole) questions() []string {
	bh.mu.Lock()
	defer bh.mu.Unlock()
	var q []string
	for s := range bh.seen {
		q = append(q, s)
	}
	return q
}

// reverseName returns the PTR owner name of an address, for --ptr-record.
func reverseName(s string) string {
	a := netip.MustParseAddr(s)
	b := a.AsSlice()
	var parts []string
	if a.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprint(b[i]))
		}
		return strings.Join(parts, ".") + ".in-addr.arpa"
	}
	for i := len(b) - 1; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("%x", b[i]&0xf), fmt.Sprintf("%x", b[i]>>4))
	}
	return strings.Join(parts, ".") + ".ip6.arpa"
}
