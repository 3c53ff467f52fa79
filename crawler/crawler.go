// Package crawler decides whether a web request whose User-Agent claims a
// search-engine crawler (Googlebot, Bingbot, ...) really comes from it, by
// forward-confirmed reverse DNS: the address's PTR name must end in one of
// the crawler's domains, and that name's A/AAAA records must contain the
// address. Verdicts are cached; Check answers from the cache and looks up in
// the background, so the log pipeline never waits for DNS.
//
// It must not block its caller in Check, must not call a claim Fake because
// DNS failed or timed out (a DNS outage must not ban Google), must not know
// which crawlers exist or which user agents claim them (the caller passes the
// domains), and must not keep package-level state.
package crawler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"phalanx/lograte"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout    = 2 * time.Second
	DefaultCacheTTL   = time.Hour
	DefaultFailureTTL = 5 * time.Minute
	DefaultCacheSize  = 65536
	DefaultMaxPending = 64
)

// Bounds on what an answer, which the claimant's own DNS zone writes, can
// make a lookup do.
const (
	maxNameLen   = 253 // longest domain name in presentation form, without the final dot
	maxPTRNames  = 4   // PTR names examined per address
	maxAddresses = 32  // forward addresses compared per name
)

// Config configures a Verifier. The zero value asks the system's DNS servers
// with the defaults above.
type Config struct {
	// Resolver is the DNS server to ask, "ADDR:PORT" such as
	// "127.0.0.53:53"; "" asks the servers of /etc/resolv.conf. Either way
	// /etc/hosts is consulted first, as nsswitch.conf says.
	Resolver string
	// Timeout bounds one verification of an address: its PTR lookup and
	// the forward lookups of its names together (default 2s).
	Timeout time.Duration
	// CacheTTL is how long a Verified or Fake verdict is kept (default 1h).
	CacheTTL time.Duration
	// FailureTTL is how long the Unknown of a failed or timed-out lookup is
	// kept before the address is asked about again (default 5m, or
	// CacheTTL if that is shorter).
	FailureTTL time.Duration
	// CacheSize is the most addresses cached; beyond it the least recently
	// used is forgotten (default 65536).
	CacheSize int
	// MaxPending is the most lookups in flight; beyond it Check returns
	// Unknown without starting one and counts it as Dropped (default 64).
	MaxPending int
}

// Verdict is what is known of an address's claim to be a crawler.
type Verdict uint8

const (
	// Unknown: not known yet, or the lookup failed or timed out. It is
	// never grounds to treat the claim as false.
	Unknown Verdict = iota
	// Verified: the address's PTR name is in the crawler's domains and
	// resolves back to the address.
	Verified
	// Fake: the address has no PTR name, or none in the crawler's domains,
	// or none that resolves back to it.
	Fake
)

func (v Verdict) String() string {
	switch v {
	case Unknown:
		return "unknown"
	case Verified:
		return "verified"
	case Fake:
		return "fake"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Stats counts a Verifier's work since New. Lookups started =
// Verified + Fake + Failed + Timeouts + Pending.
type Stats struct {
	Lookups   uint64 // lookups started
	Verified  uint64 // lookups that verified the claim
	Fake      uint64 // lookups that proved it false
	Failed    uint64 // lookups that ended without an answer: a server or network error, or canceled by the caller or Close (not cached)
	Timeouts  uint64 // lookups that ran out of Config.Timeout
	CacheHits uint64 // Check and Verify calls answered from the cache
	Dropped   uint64 // Check calls that started no lookup because MaxPending were in flight
	Pending   int    // lookups in flight now
	Cached    int    // addresses cached now
}

// key is one question: an address claiming a crawler of these domains. The
// same address claiming another crawler is another question.
type key struct {
	addr  netip.Addr
	claim string // the domains joined by ","
}

// entry is a cached verdict, linked into the recency list.
type entry struct {
	key        key
	verdict    Verdict
	expires    time.Time
	prev, next *entry
}

// flight is a lookup in progress; done is closed when verdict is set.
type flight struct {
	done    chan struct{}
	verdict Verdict
}

// outcome is how a lookup ended.
type outcome uint8

const (
	outVerified outcome = iota
	outFake
	outFailed
	outTimeout
	outCanceled
)

// Verifier checks crawler claims and caches the verdicts. Its methods are
// safe for concurrent use.
type Verifier struct {
	cfg  Config
	log  *slog.Logger
	res  *net.Resolver
	now  func() time.Time // the clock; tests replace it
	warn lograte.Limit

	base context.Context // canceled by Close
	stop context.CancelFunc
	wg   sync.WaitGroup // lookups running

	mu      sync.Mutex
	closed  bool
	cache   map[key]*entry
	lru     entry // sentinel: lru.next is the most recently used
	flights map[key]*flight
	st      Stats
}

// New validates c, fills in its defaults and returns a Verifier; log may be
// nil. Close it to stop its lookups.
func New(c Config, log *slog.Logger) (*Verifier, error) {
	var server string
	if c.Resolver != "" {
		ap, err := netip.ParseAddrPort(c.Resolver)
		if err != nil || ap.Port() == 0 {
			return nil, fmt.Errorf("crawler: resolver %q: give the DNS server as ADDR:PORT, such as 127.0.0.53:53 or [::1]:53, or leave it empty for the system's", c.Resolver)
		}
		server = ap.String()
	}
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{"timeout", c.Timeout}, {"cache TTL", c.CacheTTL}, {"failure TTL", c.FailureTTL}} {
		if d.val < 0 {
			return nil, fmt.Errorf("crawler: %s %v is negative: give a positive duration, or 0 for the default", d.name, d.val)
		}
	}
	if c.CacheSize < 0 {
		return nil, fmt.Errorf("crawler: cache size %d is negative: give the most addresses to cache, or 0 for the default %d", c.CacheSize, DefaultCacheSize)
	}
	if c.MaxPending < 0 {
		return nil, fmt.Errorf("crawler: max pending %d is negative: give the most lookups in flight, or 0 for the default %d", c.MaxPending, DefaultMaxPending)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.FailureTTL == 0 {
		c.FailureTTL = min(DefaultFailureTTL, c.CacheTTL)
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	v := &Verifier{
		cfg: c, log: log, now: time.Now,
		warn: lograte.Limit{Interval: time.Minute, Burst: 5},
		base: base, stop: stop,
		cache: map[key]*entry{}, flights: map[key]*flight{},
	}
	v.lru.next, v.lru.prev = &v.lru, &v.lru
	v.res = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		if server != "" {
			address = server
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		// The resolver stops waiting for an answer only at a deadline;
		// make cancellation (Close, the caller of Verify) one too. ctx
		// ends when the resolver is done with conn, so this always runs.
		context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
		return conn, nil
	}}
	return v, nil
}

// Check returns the cached verdict for addr claiming a crawler of domains
// (such as "googlebot.com", "google.com"). If there is none it returns
// Unknown and starts a lookup in the background, unless one for the same
// question is in flight, MaxPending are, or the Verifier is closed. It never
// blocks on DNS.
func (v *Verifier) Check(addr netip.Addr, domains []string) Verdict {
	k, ok := keyOf(addr, domains)
	if !ok {
		return Unknown
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if vd, ok := v.cachedLocked(k, now); ok {
		return vd
	}
	if v.closed || v.flights[k] != nil {
		return Unknown
	}
	if len(v.flights) >= v.cfg.MaxPending {
		v.st.Dropped++
		return Unknown
	}
	f := v.startLocked(k)
	domains = slices.Clone(domains) // the caller may reuse its slice
	go func() {
		defer v.wg.Done()
		v.run(v.base, k, domains, f)
	}()
	return Unknown
}

// Verify returns the cached verdict for addr claiming a crawler of domains,
// or looks it up now and caches it, waiting at most for ctx and the
// Timeout. If a lookup of the same question is in flight it waits for that
// one. It is meant for replaying logs, where waiting is fine; MaxPending
// does not apply.
func (v *Verifier) Verify(ctx context.Context, addr netip.Addr, domains []string) Verdict {
	k, ok := keyOf(addr, domains)
	if !ok {
		return Unknown
	}
	now := v.now()
	v.mu.Lock()
	if vd, ok := v.cachedLocked(k, now); ok {
		v.mu.Unlock()
		return vd
	}
	if v.closed {
		v.mu.Unlock()
		return Unknown
	}
	if f := v.flights[k]; f != nil {
		v.mu.Unlock()
		select {
		case <-f.done:
			return f.verdict
		case <-ctx.Done():
			return Unknown
		}
	}
	f := v.startLocked(k)
	v.mu.Unlock()
	defer v.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(v.base, cancel)()
	return v.run(ctx, k, domains, f)
}

// Stats returns the counters and the current sizes.
func (v *Verifier) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.st
	s.Pending, s.Cached = len(v.flights), len(v.cache)
	return s
}

// Close stops the lookups in flight, without caching them, and waits for
// them to end. Afterwards Check and Verify answer from the cache only.
func (v *Verifier) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.stop()
	v.wg.Wait()
}

// keyOf normalizes the question; ok is false if there is nothing to ask.
func keyOf(addr netip.Addr, domains []string) (key, bool) {
	if !addr.IsValid() || len(domains) == 0 {
		return key{}, false
	}
	claim := domains[0]
	if len(domains) > 1 {
		claim = strings.Join(domains, ",")
	}
	return key{addr: addr.Unmap().WithZone(""), claim: claim}, true
}

// cachedLocked returns the fresh cached verdict for k, forgetting a stale one.
func (v *Verifier) cachedLocked(k key, now time.Time) (Verdict, bool) {
	e := v.cache[k]
	if e == nil {
		return Unknown, false
	}
	if !now.Before(e.expires) {
		v.unlink(e)
		delete(v.cache, k)
		return Unknown, false
	}
	v.unlink(e)
	v.pushFront(e)
	v.st.CacheHits++
	return e.verdict, true
}

// startLocked registers a lookup of k; the caller runs it and calls wg.Done.
func (v *Verifier) startLocked(k key) *flight {
	f := &flight{done: make(chan struct{})}
	v.flights[k] = f
	v.st.Lookups++
	v.wg.Add(1)
	return f
}

// run looks k up, records the outcome and ends the flight f.
func (v *Verifier) run(ctx context.Context, k key, domains []string, f *flight) Verdict {
	vd, out, name, err := v.resolve(ctx, k.addr, domains)
	now := v.now()

	v.mu.Lock()
	delete(v.flights, k)
	ttl := v.cfg.CacheTTL
	switch out {
	case outVerified:
		v.st.Verified++
	case outFake:
		v.st.Fake++
	case outTimeout:
		v.st.Timeouts++
		ttl = v.cfg.FailureTTL
	case outFailed, outCanceled:
		v.st.Failed++
		ttl = v.cfg.FailureTTL
	}
	if out != outCanceled {
		v.storeLocked(k, vd, now.Add(ttl))
	}
	f.verdict = vd
	close(f.done)
	v.mu.Unlock()

	switch out {
	case outVerified, outFake:
		v.log.Debug("crawler claim checked", "addr", k.addr, "claim", k.claim, "verdict", vd, "name", name)
	case outFailed, outTimeout:
		if ok, held := v.warn.Allow(now); ok {
			v.log.Warn("crawler claim unverified: DNS lookup failed; the claim stays unknown and is asked again later; check the DNS server",
				"addr", k.addr, "claim", k.claim, "timeout", out == outTimeout, "err", err, "held_back", held)
		}
	}
	return vd
}

// storeLocked caches a verdict, forgetting the least recently used address
// if the cache is full.
func (v *Verifier) storeLocked(k key, vd Verdict, expires time.Time) {
	if e := v.cache[k]; e != nil {
		e.verdict, e.expires = vd, expires
		v.unlink(e)
		v.pushFront(e)
		return
	}
	if len(v.cache) >= v.cfg.CacheSize {
		old := v.lru.prev
		v.unlink(old)
		delete(v.cache, old.key)
	}
	e := &entry{key: k, verdict: vd, expires: expires}
	v.cache[k] = e
	v.pushFront(e)
}

func (v *Verifier) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (v *Verifier) pushFront(e *entry) {
	e.prev, e.next = &v.lru, v.lru.next
	v.lru.next.prev = e
	v.lru.next = e
}

// resolve does the forward-confirmed reverse lookup of addr against domains
// within the Timeout. It returns the verdict, how the lookup ended, the
// name that decided it (if any) and the DNS error that left it Unknown.
func (v *Verifier) resolve(ctx context.Context, addr netip.Addr, domains []string) (Verdict, outcome, string, error) {
	own := time.Now().Add(v.cfg.Timeout)
	// The resolver may time out at the caller's deadline a moment before
	// ctx says so; a deadline earlier than ours is the caller's.
	callers, ok := ctx.Deadline()
	callerFirst := ok && callers.Before(own)
	lctx, cancel := context.WithDeadline(ctx, own)
	defer cancel()
	failed := func(err error) (Verdict, outcome, string, error) {
		var de *net.DNSError
		timeout := errors.As(err, &de) && de.IsTimeout || errors.Is(err, context.DeadlineExceeded)
		switch {
		case ctx.Err() != nil, timeout && callerFirst:
			return Unknown, outCanceled, "", err
		case timeout:
			return Unknown, outTimeout, "", err
		}
		return Unknown, outFailed, "", err
	}

	names, err := v.res.LookupAddr(lctx, addr.String())
	if len(names) == 0 {
		// Without a name only "there is none" is an answer; the resolver
		// also fails when every name in the answer is malformed, which
		// proves nothing either way.
		if err == nil || isNotFound(err) {
			return Fake, outFake, "", nil
		}
		return failed(err)
	}
	// A partial answer (some names malformed) comes with an error; the
	// well-formed names are still worth checking.
	network := "ip4"
	if addr.Is6() {
		network = "ip6"
	}
	var lastErr error
	for _, n := range names[:min(len(names), maxPTRNames)] {
		name, ok := matchName(n, domains)
		if !ok {
			continue
		}
		ips, err := v.res.LookupNetIP(lctx, network, name+".")
		if err != nil {
			if !isNotFound(err) {
				lastErr = err
			}
			continue
		}
		for _, ip := range ips[:min(len(ips), maxAddresses)] {
			if ip.Unmap() == addr {
				return Verified, outVerified, name, nil
			}
		}
	}
	if lastErr != nil {
		// A name in the domains might have confirmed had its lookup
		// succeeded.
		return failed(lastErr)
	}
	return Fake, outFake, names[0], nil
}

// isNotFound reports whether err says the name or record does not exist
// (NXDOMAIN, or no records of the type asked).
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// matchName returns name lower-cased without its final dot if it is one of
// domains or below one of them on a label boundary: "x.googlebot.com" is
// below "googlebot.com", "evilgooglebot.com" is not. Names longer than a
// domain name can be never match.
func matchName(name string, domains []string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || len(name) > maxNameLen {
		return "", false
	}
	for _, d := range domains {
		d = strings.ToLower(strings.Trim(d, "."))
		if d == "" {
			continue
		}
		if name == d || strings.HasSuffix(name, d) && name[len(name)-len(d)-1] == '.' {
			return name, true
		}
	}
	return "", false
}
