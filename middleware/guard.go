// Package middleware protects a Go HTTP service with a phalanx member's
// bans, in-process: a Guard pulls the member's decision stream
// (/v1/decisions/stream, as CrowdSec bouncers do, with a key from
// `phalanx bouncers add NAME`), keeps its own copy of the bans, and answers
// "is this client banned?" from memory, so that the check costs about one
// map lookup and no request waits on the network.
//
//	g, err := middleware.New(middleware.Config{URL: "http://127.0.0.1:8080", APIKey: key})
//	go g.Run(ctx)
//	http.ListenAndServe(addr, g.Handler(mux))
//
// Until the first pull succeeds, the copy is empty and every client is let
// through; a service that must not serve unprotected waits on Ready. When
// the member cannot be reached, the last copy keeps serving (bans that end
// meanwhile end on time) and the guard retries with backoff.
//
// It must not decide anything: it enforces only the member's "ban"
// decisions on addresses and ranges, as they come. It makes no request but
// the stream pulls to the configured URL, does no DNS lookups of clients,
// and trusts X-Forwarded-For only from configured proxies. The stream is
// hostile input: its size is bounded, and entries it cannot read are
// skipped and counted, never a panic.
package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phalanx"
)

// Defaults and bounds of the pull loop.
const (
	DefaultInterval = time.Second
	minInterval     = 10 * time.Millisecond
	maxBackoff      = 30 * time.Second
	sweepEvery      = time.Minute
	clockTick       = 250 * time.Millisecond
	startupTimeout  = 5 * time.Minute // a startup pull brings every decision
	deltaTimeout    = 30 * time.Second
)

// Config is a Guard's configuration.
type Config struct {
	URL            string         // a phalanx member's API base URL, e.g. http://127.0.0.1:8080
	APIKey         string         // a bouncer key (phalanx bouncers add NAME)
	Interval       time.Duration  // pull interval for /v1/decisions/stream (DefaultInterval when 0)
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For is believed; none by default
	Client         *http.Client   // the client for pulls (redirects are refused unless it has a CheckRedirect); a new one when nil
	Logger         *slog.Logger   // nil discards logs
	MaxBody        int64          // largest stream response read; DefaultMaxBody when <= 0
}

// Guard keeps a copy of a member's bans and checks clients against it.
// Build it with New, start Run, then call Banned or wrap handlers with
// Handler. Its methods are safe for concurrent use.
type Guard struct {
	stream   string // the stream's URL, without query
	key      string
	interval time.Duration
	trusted  []netip.Prefix
	client   *http.Client
	log      *slog.Logger
	maxBody  int64
	now      func() time.Time // the clock; tests replace it before Run

	tab     *table
	ready   chan struct{}
	running atomic.Bool
	once    sync.Once

	pulls, failures, skipped atomic.Uint64
	addrs, ranges            atomic.Int64
	lastPull                 atomic.Int64 // Unix nanoseconds of the last good pull; 0 before
}

// New checks c and returns a Guard with an empty copy; Run fills it.
func New(c Config) (*Guard, error) {
	if c.URL == "" {
		return nil, errors.New("middleware: Config.URL is empty: give a phalanx member's API address, such as http://127.0.0.1:8080")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("middleware: Config.URL %q is not an http(s) base URL: give one such as http://127.0.0.1:8080", c.URL)
	}
	if c.APIKey == "" {
		return nil, errors.New("middleware: Config.APIKey is empty: create a key with `phalanx bouncers add NAME` on the member")
	}
	if strings.ContainsFunc(c.APIKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return nil, errors.New("middleware: Config.APIKey holds spaces or control characters: pass the key exactly as `phalanx bouncers add` printed it")
	}
	if c.Interval != 0 && c.Interval < minInterval {
		return nil, fmt.Errorf("middleware: Config.Interval %v is too short: give a pull interval of %v or more, such as 1s, or 0 for the default", c.Interval, minInterval)
	}
	g := &Guard{
		stream:   u.JoinPath("v1", "decisions", "stream").String(),
		key:      c.APIKey,
		interval: c.Interval,
		log:      c.Logger,
		maxBody:  c.MaxBody,
		now:      time.Now,
		tab:      newTable(),
		ready:    make(chan struct{}),
	}
	if g.interval == 0 {
		g.interval = DefaultInterval
	}
	// A redirect would carry the API key to wherever it points: refuse
	// it, unless the caller's client has its own policy. Pulls have their
	// own timeouts.
	client := http.Client{}
	if c.Client != nil {
		client = *c.Client
	}
	if client.CheckRedirect == nil {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	g.client = &client
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBody
	}
	for _, p := range c.TrustedProxies {
		n, ok := phalanx.NormalizePrefix(p)
		if !ok {
			return nil, fmt.Errorf("middleware: Config.TrustedProxies holds an invalid prefix %q: give ranges such as 10.0.0.0/8 or 127.0.0.1/32", p)
		}
		g.trusted = append(g.trusted, n)
	}
	return g, nil
}

// Ready returns a channel closed after the first successful pull.
func (g *Guard) Ready() <-chan struct{} { return g.ready }

// Banned reports whether addr is banned now: by a ban on the address
// itself or on a range that holds it. An IPv4-mapped IPv6 address is
// checked as IPv4. It reads only memory and takes no lock; while Run runs,
// "now" is a clock Run keeps to the quarter second, so a ban ends within
// a second of its end.
func (g *Guard) Banned(addr netip.Addr) bool { return g.tab.banned(addr, g.now) }

// Stats are a Guard's counters.
type Stats struct {
	Pulls     uint64    // successful pulls
	Failures  uint64    // failed pulls
	Skipped   uint64    // stream entries that could not be read, over all pulls
	Addresses int       // bans on single addresses in the copy (ended ones until swept, within a minute)
	Ranges    int       // bans on ranges in the copy
	LastPull  time.Time // when the last successful pull ended; zero before the first
}

// Stats returns the guard's counters.
func (g *Guard) Stats() Stats {
	s := Stats{
		Pulls:     g.pulls.Load(),
		Failures:  g.failures.Load(),
		Skipped:   g.skipped.Load(),
		Addresses: int(g.addrs.Load()),
		Ranges:    int(g.ranges.Load()),
	}
	if ns := g.lastPull.Load(); ns != 0 {
		s.LastPull = time.Unix(0, ns)
	}
	return s
}

// Run keeps the copy up to date until ctx is done, and then returns ctx's
// error. It pulls the whole stream (startup=true) once, then the changes
// (startup=false) every Interval. A failed pull changes nothing: the last
// copy keeps serving, the next pull comes after a backoff (up to 30s), and
// it is a whole pull again, as the member may have restarted and forgotten
// what it sent. Bans that end are dropped from the copy within a minute
// (and stop counting at once). Run must not be called twice at once.
func (g *Guard) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("middleware: Guard.Run is already running: call it once")
	}
	defer g.running.Store(false)
	stopClock := g.tick(ctx)
	defer stopClock()
	startup, failures := true, 0
	nextSweep := g.now().Add(sweepEvery)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		err := g.pull(ctx, startup)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := g.interval
		if err != nil {
			g.failures.Add(1)
			failures++
			wait = backoff(g.interval, failures)
			g.log.Warn("cannot pull decisions from phalanx; the last copy stays in use",
				"url", g.stream, "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
			startup = true
		} else {
			if failures > 0 {
				g.log.Info("pulling decisions from phalanx again", "url", g.stream, "after_failures", failures)
			}
			failures, startup = 0, false
			g.once.Do(func() { close(g.ready) })
		}
		if now := g.now(); !now.Before(nextSweep) {
			g.tab.sweep(now)
			g.count()
			nextSweep = now.Add(sweepEvery)
		}
		timer.Reset(wait)
	}
}

// tick keeps the table's clock, which lookups read, until ctx is done or
// the returned function is called; then lookups read the system clock again.
func (g *Guard) tick(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	g.tab.clock.Store(unixNow(g.now()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(clockTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.tab.clock.Store(unixNow(g.now()))
			}
		}
	}()
	return func() {
		cancel()
		<-done
		g.tab.clock.Store(0)
	}
}

// backoff returns the wait after the n-th failure in a row: the interval
// doubled each time up to 30s (or the interval, if longer), with jitter so
// that a fleet of guards does not retry in step.
func backoff(interval time.Duration, n int) time.Duration {
	d, ceiling := interval, max(maxBackoff, interval)
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + rand.N(d/2+1)
}

// pull makes one request of the stream and applies it.
func (g *Guard) pull(ctx context.Context, startup bool) error {
	timeout := deltaTimeout
	if startup {
		timeout = startupTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, 2*g.interval))
	defer cancel()
	target := g.stream + "?startup=false"
	if startup {
		target = g.stream + "?startup=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("build stream request: %w", err)
	}
	req.Header.Set("X-Api-Key", g.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "phalanx-middleware")
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("pull stream: %w", err)
	}
	defer func() {
		// Read a little of what is left so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("pull stream: %s: the member refused the API key; create one with `phalanx bouncers add NAME` and pass it as the key", resp.Status)
	default:
		return fmt.Errorf("pull stream: %s", resp.Status)
	}
	now := g.now()
	body, err := decodeStream(resp.Body, now, g.maxBody)
	if err != nil {
		return err
	}
	if startup {
		g.tab.replace(body.added)
	} else {
		g.tab.apply(body.added, body.deleted)
	}
	g.count()
	g.pulls.Add(1)
	g.lastPull.Store(g.now().UnixNano())
	if body.bad > 0 {
		g.skipped.Add(uint64(body.bad))
		g.log.Warn("skipped stream entries that are not decisions", "url", g.stream, "skipped", body.bad)
	}
	g.log.Debug("pulled decisions", "startup", startup, "new", len(body.added), "deleted", len(body.deleted),
		"ignored", body.ignored, "took", g.now().Sub(now))
	return nil
}

// count publishes the copy's sizes for Stats.
func (g *Guard) count() {
	a, r := g.tab.counts()
	g.addrs.Store(int64(a))
	g.ranges.Store(int64(r))
}
