package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/lapi"
)

// member is the part of a phalanx member that a guard talks to: a decision
// table, its journal and the bouncer keys, served by lapi on loopback as
// the daemon serves them.
type member struct {
	t       *testing.T
	table   *decision.Table
	journal *lapi.Journal
	keys    *lapi.Keys
	key     string // the API key of bouncer "guard"
	addr    string // host:port, kept across restarts
	srv     *httptest.Server
}

func startMember(t *testing.T) *member {
	t.Helper()
	keys, err := lapi.OpenKeys(filepath.Join(t.TempDir(), "bouncers.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Add("guard")
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, table: decision.NewTable(), journal: lapi.NewJournal(0), keys: keys, key: key}
	m.serve(nil)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// serve starts the API, on the member's address if it had one.
func (m *member) serve(ln net.Listener) {
	m.t.Helper()
	srv := httptest.NewUnstartedServer(lapi.New(lapi.Config{}, m.table, m.journal, m.keys, nil).Handler())
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	m.srv, m.addr = srv, srv.Listener.Addr().String()
}

// stop makes the member go away: its address refuses connections.
func (m *member) stop() { m.srv.Close() }

// restart serves again on the same address with a new journal, as the
// daemon does when it restarts: the table survives, the journal does not.
func (m *member) restart() {
	m.t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", m.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the port is released asynchronously
	}
	if err != nil {
		m.t.Fatalf("listen again on %s: %v", m.addr, err)
	}
	m.journal = lapi.NewJournal(0)
	m.serve(ln)
}

func (m *member) url() string { return "http://" + m.addr }

// ban adds a ban on p for d, as the daemon does: table first, then journal.
func (m *member) ban(p string, d time.Duration) phalanx.Decision {
	m.t.Helper()
	now := time.Now()
	pfx, err := netip.ParsePrefix(p)
	if err != nil {
		a := netip.MustParseAddr(p)
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	stored, replaced := m.table.Add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: pfx, Scenario: "test", Start: now, Until: now.Add(d)})
	if stored.ID == 0 {
		m.t.Fatalf("the table refused %s", p)
	}
	var del []phalanx.Decision
	if replaced != nil {
		del = append(del, *replaced)
	}
	m.journal.Record([]phalanx.Decision{stored}, del)
	return stored
}

func (m *member) unban(d phalanx.Decision) {
	m.t.Helper()
	gone, ok := m.table.Delete(d.ID)
	if !ok {
		m.t.Fatalf("no decision %d", d.ID)
	}
	m.journal.Record(nil, []phalanx.Decision{gone})
}

// runGuard starts a guard on m that pulls every 20ms, and stops it when the
// test ends. tweak may change the guard before Run.
func runGuard(t *testing.T, m *member, key string, tweak func(*Guard)) *Guard {
	t.Helper()
	g, err := New(Config{
		URL:      m.url(),
		APIKey:   key,
		Interval: 20 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return g
}

func waitReady(t *testing.T, g *Guard) {
	t.Helper()
	select {
	case <-g.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("the guard is not ready after 10s: %+v", g.Stats())
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestGuardFollowsMember(t *testing.T) {
	m := startMember(t)
	d1 := m.ban("192.0.2.1", time.Hour)
	m.ban("2001:db8::1", time.Hour)
	m.ban("198.51.100.0/24", time.Hour)
	m.ban("2001:db8:1::/48", time.Hour)
	g := runGuard(t, m, m.key, nil)
	if g.Banned(addr("192.0.2.1")) {
		t.Fatal("banned before the first pull")
	}
	waitReady(t, g)

	// Startup load: all there as soon as the guard is ready, ranges
	// covering their addresses.
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", true},
		{"192.0.2.2", false},
		{"2001:db8::1", true},
		{"198.51.100.0", true},
		{"198.51.100.255", true},
		{"198.51.101.0", false},
		{"2001:db8:1:2:3:4:5:6", true},
		{"2001:db8:2::1", false},
	} {
		if got := g.Banned(addr(tc.addr)); got != tc.want {
			t.Errorf("after startup: Banned(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if s := g.Stats(); s.Addresses != 2 || s.Ranges != 2 || s.Pulls == 0 || s.LastPull.IsZero() {
		t.Errorf("stats after startup: %+v", s)
	}

	// A decision added later arrives with a pull; a deleted one leaves.
	m.ban("203.0.113.5", time.Hour)
	waitFor(t, "203.0.113.5 banned", func() bool { return g.Banned(addr("203.0.113.5")) })
	m.unban(d1)
	waitFor(t, "192.0.2.1 unbanned", func() bool { return !g.Banned(addr("192.0.2.1")) })
	r := m.ban("10.0.0.0/8", time.Hour)
	waitFor(t, "10.0.0.0/8 banned", func() bool { return g.Banned(addr("10.200.3.4")) })
	m.unban(r)
	waitFor(t, "10.0.0.0/8 unbanned", func() bool { return !g.Banned(addr("10.200.3.4")) })
	if !g.Banned(addr("198.51.100.7")) || !g.Banned(addr("203.0.113.5")) {
		t.Error("bans that did not change were lost")
	}

	// A ban replaced by a longer one stays throughout.
	m.ban("203.0.113.5", 2*time.Hour)
	pulls := g.Stats().Pulls
	waitFor(t, "two more pulls", func() bool {
		if !g.Banned(addr("203.0.113.5")) {
			t.Fatal("a replaced ban was lifted")
		}
		return g.Stats().Pulls >= pulls+2
	})
	if s := g.Stats(); s.Addresses != 2 || s.Ranges != 2 || s.Failures != 0 || s.Skipped != 0 {
		t.Errorf("stats at the end: %+v", s)
	}
}

// TestGuardOutlivesMember stops the member: the guard keeps its copy; the
// member comes back after a restart in which decisions changed, and the
// guard catches up, deletions included.
func TestGuardOutlivesMember(t *testing.T) {
	m := startMember(t)
	gone := m.ban("192.0.2.1", time.Hour)
	m.ban("198.51.100.0/24", time.Hour)
	g := runGuard(t, m, m.key, nil)
	waitReady(t, g)

	m.stop()
	failures := g.Stats().Failures
	waitFor(t, "failed pulls", func() bool { return g.Stats().Failures >= failures+2 })
	if !g.Banned(addr("192.0.2.1")) || !g.Banned(addr("198.51.100.1")) {
		t.Fatal("the copy was dropped when the member went away")
	}

	// While it is away, one ban is lifted and another made; the restarted
	// member has a new journal, which cannot tell the guard what it missed.
	if _, ok := m.table.Delete(gone.ID); !ok {
		t.Fatal("no decision to delete")
	}
	now := time.Now()
	m.table.Add(phalanx.Decision{Origin: phalanx.OriginManual, Type: "ban", Value: netip.MustParsePrefix("203.0.113.9/32"), Start: now, Until: now.Add(time.Hour)})
	m.restart()

	waitFor(t, "203.0.113.9 banned", func() bool { return g.Banned(addr("203.0.113.9")) })
	waitFor(t, "192.0.2.1 unbanned", func() bool { return !g.Banned(addr("192.0.2.1")) })
	if !g.Banned(addr("198.51.100.1")) {
		t.Error("a ban that did not change was lost")
	}
	// And it keeps following.
	m.ban("192.0.2.50", time.Hour)
	waitFor(t, "192.0.2.50 banned", func() bool { return g.Banned(addr("192.0.2.50")) })
}

// TestGuardProtectsService runs a guarded service and calls it from
// loopback, banning and unbanning the caller's address at the member.
func TestGuardProtectsService(t *testing.T) {
	m := startMember(t)
	g := runGuard(t, m, m.key, nil)
	waitReady(t, g)
	svc := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})))
	defer svc.Close()
	status := func() int {
		resp, err := svc.Client().Get(svc.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("status %d before any ban", got)
	}
	d := m.ban("127.0.0.1", time.Hour)
	waitFor(t, "403 for a banned caller", func() bool { return status() == http.StatusForbidden })
	m.unban(d)
	waitFor(t, "200 after the ban is lifted", func() bool { return status() == http.StatusOK })
	r := m.ban("127.0.0.0/8", time.Hour)
	waitFor(t, "403 for a caller in a banned range", func() bool { return status() == http.StatusForbidden })
	m.unban(r)
	waitFor(t, "200 after the range is lifted", func() bool { return status() == http.StatusOK })
}

// TestGuardWrongKey: a refused key is a failed pull, retried; the guard
// never becomes ready and bans nothing.
func TestGuardWrongKey(t *testing.T) {
	m := startMember(t)
	m.ban("192.0.2.1", time.Hour)
	g := runGuard(t, m, "not-the-key", nil)
	waitFor(t, "failed pulls", func() bool { return g.Stats().Failures >= 2 })
	select {
	case <-g.Ready():
		t.Fatal("ready with a refused key")
	default:
	}
	if g.Banned(addr("192.0.2.1")) || g.Stats().Pulls != 0 {
		t.Errorf("a refused pull was applied: %+v", g.Stats())
	}
}

// TestGuardExpiresLocally moves the guard's clock past a ban's end: the
// ban stops counting within a tick of the guard's clock, and the copy drops
// it at the next sweep, though the member never said so.
func TestGuardExpiresLocally(t *testing.T) {
	m := startMember(t)
	m.ban("192.0.2.1", time.Hour)
	m.ban("198.51.100.0/24", time.Hour)
	m.ban("192.0.2.2", 3*time.Hour)
	var skew atomic.Int64
	g := runGuard(t, m, m.key, func(g *Guard) {
		g.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	waitReady(t, g)
	if !g.Banned(addr("192.0.2.1")) || !g.Banned(addr("198.51.100.1")) {
		t.Fatal("not banned after startup")
	}
	skew.Store(int64(2 * time.Hour))
	waitFor(t, "the ended bans to stop counting", func() bool {
		return !g.Banned(addr("192.0.2.1")) && !g.Banned(addr("198.51.100.1"))
	})
	if !g.Banned(addr("192.0.2.2")) {
		t.Error("a ban that has not ended stopped counting")
	}
	waitFor(t, "the ended bans swept", func() bool {
		s := g.Stats()
		return s.Addresses == 1 && s.Ranges == 0
	})
}

// TestGuardClockWithoutRun: before Run and after it returns, lookups read
// the system clock, so that bans still end.
func TestGuardClockWithoutRun(t *testing.T) {
	g := newTestGuard(t)
	now := time.Now()
	var skew atomic.Int64
	g.now = func() time.Time { return now.Add(time.Duration(skew.Load())) }
	g.tab.apply([]ban{{netip.MustParsePrefix("192.0.2.1/32"), unixUntil(now.Add(time.Hour))}}, nil)
	if !g.Banned(addr("192.0.2.1")) {
		t.Fatal("not banned")
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := g.tick(ctx)
	if g.tab.clock.Load() == 0 {
		t.Error("the clock does not run while ticking")
	}
	skew.Store(int64(2 * time.Hour)) // the ticker may not have seen it yet
	cancel()
	stop()
	if g.Banned(addr("192.0.2.1")) {
		t.Error("a ban counts after its end once the ticker stopped")
	}
}

func TestGuardRunOnce(t *testing.T) {
	m := startMember(t)
	g := runGuard(t, m, m.key, nil)
	waitReady(t, g)
	if err := g.Run(context.Background()); err == nil {
		t.Error("a second Run while the first runs did not fail")
	}
}

// TestGuardRefusesRedirect: a redirect would carry the API key elsewhere;
// the guard does not follow it.
func TestGuardRefusesRedirect(t *testing.T) {
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" {
			leaked.Add(1)
		}
		_, _ = io.WriteString(w, `{"new":[],"deleted":[]}`)
	}))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/v1/decisions/stream", http.StatusTemporaryRedirect))
	defer redirect.Close()
	g, err := New(Config{URL: redirect.URL, APIKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	err = g.pull(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("pull through a redirect: %v, want a 307 error", err)
	}
	if n := leaked.Load(); n > 0 {
		t.Errorf("the key was sent to the redirect's target %d times", n)
	}
}
