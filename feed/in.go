package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Defaults of Config and Source.
const (
	DefaultInterval   = time.Hour
	DefaultMaxEntries = 1_000_000
	DefaultMaxBytes   = 64 << 20
	DefaultTimeout    = 30 * time.Second
)

// Limits that Validate enforces.
const (
	// MinInterval keeps a member from hammering a list's server; most lists
	// change hourly or daily, and some (Spamhaus) ask for no more than one
	// download an hour.
	MinInterval = time.Minute
	maxDuration = 10 * 365 * 24 * time.Hour // keeps now+duration far from overflow
	maxSources  = 100
	maxNameLen  = 64
)

// Source is one subscribed list.
type Source struct {
	// Name names the feed in decisions, logs and Status: ASCII letters,
	// digits and . _ - only.
	Name string `yaml:"name"`
	// URL is http:// or https://, or a file (file:///path or a plain path).
	URL string `yaml:"url"`
	// Format is "plain" (the default) or "drop" (Spamhaus DROP).
	Format string `yaml:"format"`
	// Interval is the time between fetches (default 1h, at least 1m).
	Interval time.Duration `yaml:"interval"`
	// Duration is how long the bans of one fetch last (default twice
	// Interval, at least Interval): a feed that keeps failing ends Duration
	// after its last success, so a dead list does not block forever.
	Duration time.Duration `yaml:"duration"`
}

// Config configures In. Decode it over DefaultConfig, strictly.
type Config struct {
	Sources []Source `yaml:"sources"`
	// MaxEntries bounds the distinct entries of one list (default 1,000,000).
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes bounds the size of one list (default 64 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// Timeout bounds one fetch, from connecting to the last byte (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig returns the defaults: no sources, 1,000,000 entries and
// 64 MiB a list, 30s a fetch.
func DefaultConfig() Config {
	return Config{MaxEntries: DefaultMaxEntries, MaxBytes: DefaultMaxBytes, Timeout: DefaultTimeout}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.Sources = append([]Source(nil), c.Sources...)
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Format == "" {
			s.Format = FormatPlain
		}
		if s.Interval == 0 {
			s.Interval = DefaultInterval
		}
		if s.Duration == 0 {
			s.Duration = 2 * s.Interval
		}
	}
	return c
}

// Validate checks c, its zero fields taken as their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.MaxEntries < 0 {
		return errors.New("feeds: max_entries must be positive")
	}
	if c.MaxBytes < 0 {
		return errors.New("feeds: max_bytes must be positive")
	}
	if c.Timeout < 0 {
		return errors.New("feeds: timeout must be positive, such as 30s")
	}
	if len(c.Sources) > maxSources {
		return fmt.Errorf("feeds: %d sources, more than the limit of %d", len(c.Sources), maxSources)
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("feeds: source %d: %w", i+1, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("feeds: the name %q appears twice; give each source its own", s.Name)
		}
		seen[s.Name] = true
		if _, _, err := parseLocation(s.URL); err != nil {
			return fmt.Errorf("feeds: source %q: %w", s.Name, err)
		}
		if s.Format != FormatPlain && s.Format != FormatDROP {
			return fmt.Errorf("feeds: source %q: format %q: use %q or %q", s.Name, s.Format, FormatPlain, FormatDROP)
		}
		if s.Interval < MinInterval {
			return fmt.Errorf("feeds: source %q: interval %v is shorter than %v; most lists change hourly", s.Name, s.Interval, MinInterval)
		}
		if s.Duration < s.Interval || s.Duration > maxDuration {
			return fmt.Errorf("feeds: source %q: duration %v must be between the interval (%v) and %v, or bans would lapse between fetches", s.Name, s.Duration, s.Interval, maxDuration)
		}
	}
	return nil
}

// checkName accepts 1 to 64 ASCII letters, digits and . _ -, starting with
// a letter or digit, so that names are safe in logs and decision reasons.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("name must be 1 to %d characters long", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-", rune(c))) {
			return fmt.Errorf("name %q: use ASCII letters, digits and . _ - only, starting with a letter or digit", name)
		}
	}
	return nil
}

// parseLocation splits a source's URL into an http(s) URL or a file path.
func parseLocation(loc string) (httpURL, path string, err error) {
	switch {
	case loc == "":
		return "", "", errors.New("url is empty: give an http(s):// URL or a file path")
	case strings.HasPrefix(loc, "http://"), strings.HasPrefix(loc, "https://"):
		u, err := url.Parse(loc)
		if err != nil || u.Host == "" {
			return "", "", fmt.Errorf("url %q: give a URL such as https://example.org/list.txt", loc)
		}
		return loc, "", nil
	case strings.HasPrefix(loc, "file://"):
		u, err := url.Parse(loc)
		if err != nil || u.Host != "" && u.Host != "localhost" || u.Path == "" {
			return "", "", fmt.Errorf("url %q: write a file URL as file:///absolute/path", loc)
		}
		return "", u.Path, nil
	case strings.Contains(loc, "://"):
		return "", "", fmt.Errorf("url %q: only http, https and file URLs are fetched", loc)
	}
	return "", loc, nil
}

// redact returns loc without the password and query of an http(s) URL,
// which may hold the credentials of a paid list.
func redact(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return loc
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}

// Applier applies a feed's entries. The daemon implements it: it turns
// them into decisions with origin "feed" that end at until, replaces the
// feed's previous entries with them, and refuses territory.
//
// prefixes are distinct and sorted as Parse returns them; ApplyFeed may
// reorder or overwrite them. It returns how many it refused; when it
// refuses every one it changes nothing, and the feed keeps its last good
// version. Its check of territory is built once per call, not per entry:
// lists hold up to a million entries.
type Applier interface {
	ApplyFeed(name string, prefixes []netip.Prefix, until time.Time) (refused int)
}

// FeedStatus is the state of one subscribed list.
type FeedStatus struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"` // without password or query
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"` // zero until the first good fetch
	LastError   string    `json:"last_error,omitempty"`  // of the last fetch; empty when it succeeded
	Failures    int       `json:"failures"`              // failed fetches since the last success
	Entries     int       `json:"entries"`               // applied by the last good fetch
	Skipped     int       `json:"skipped"`               // garbage and duplicate lines of the last good fetch
	Refused     int       `json:"refused"`               // entries of the last good fetch refused (wildcards, territory, too wide)
	Until       time.Time `json:"until,omitzero"`        // when the last good fetch's bans end
}

// In fetches subscribed lists and hands them to an Applier. Build it with
// NewIn and start it with Run.
type In struct {
	cfg    Config
	apply  Applier
	refuse func(netip.Prefix) bool
	log    *slog.Logger
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	status []FeedStatus
}

// NewIn returns an In that fetches c's sources and hands their entries to
// a. refuse (nil for none) rejects prefixes that must never be applied,
// such as ranges wider than the charter allows; it runs once per entry, so
// it must be cheap (no allocation): checks that need a prepared set, such
// as territory, belong in the Applier, which counts what it refuses too.
// 0.0.0.0/0 and ::/0 are refused whatever it says. Refused entries are
// counted, never applied. client makes the HTTP requests (a client of its own when nil);
// logger nil discards logs.
func NewIn(c Config, a Applier, refuse func(netip.Prefix) bool, logger *slog.Logger, client *http.Client) (*In, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errors.New("feeds: no applier")
	}
	c = c.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if client == nil {
		client = &http.Client{}
	}
	in := &In{cfg: c, apply: a, refuse: refuse, log: logger, client: client, now: time.Now}
	in.status = make([]FeedStatus, len(c.Sources))
	for i, s := range c.Sources {
		in.status[i] = FeedStatus{Name: s.Name, URL: redact(s.URL)}
	}
	return in, nil
}

// Run fetches each list at once and then every Interval, until ctx ends; it
// then returns nil. A fetch that fails (HTTP error, timeout, a server that
// hangs, a list too big or without a valid entry) changes nothing applied:
// the feed keeps its last good version, and the failure is logged and shown
// in Status. Run must be called once.
func (in *In) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range in.cfg.Sources {
		wg.Go(func() {
			t := time.NewTimer(0)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				_ = in.refresh(ctx, i)
				t.Reset(in.cfg.Sources[i].Interval)
			}
		})
	}
	wg.Wait()
	return nil
}

// Status returns the state of every list, in the configuration's order.
func (in *In) Status() []FeedStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]FeedStatus(nil), in.status...)
}

// refresh fetches source i once and applies it when it is good.
func (in *In) refresh(ctx context.Context, i int) error {
	s := in.cfg.Sources[i]
	start := in.now()
	entries, skipped, err := in.fetch(ctx, s)
	refused, n := 0, 0
	var until time.Time
	if err == nil {
		kept := entries[:0]
		for _, p := range entries {
			if p.Bits() == 0 || in.refuse != nil && in.refuse(p) {
				refused++
				if refused <= 3 {
					in.log.Warn("feed entry refused", "feed", s.Name, "entry", p)
				}
				continue
			}
			kept = append(kept, p)
		}
		entries = kept
		switch {
		case len(entries) == 0 && refused > 0:
			err = fmt.Errorf("every entry (%d) was refused", refused)
		case len(entries) == 0:
			err = errors.New("no valid entry; is it the right URL and format?")
		}
	}
	if err == nil {
		until = in.now().Add(s.Duration)
		r := min(in.apply.ApplyFeed(s.Name, entries, until), len(entries))
		refused += r
		n = len(entries) - r
		if r > 0 {
			in.log.Warn("feed entries refused by the member (territory, or wider than the charter allows)", "feed", s.Name, "refused", r)
		}
		if n == 0 {
			err = fmt.Errorf("every entry (%d) was refused", refused)
		}
	}
	entries = nil // the list may be large: let it go before the next fetch
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err // stopping, not failing
		}
		in.mu.Lock()
		st := &in.status[i]
		st.LastAttempt = start
		st.LastError = err.Error()
		st.Failures++
		last, failures := st.LastSuccess, st.Failures
		in.mu.Unlock()
		in.log.Warn("feed fetch failed; keeping its last good version", "feed", s.Name, "err", err,
			"last_success", last, "failures", failures)
		return err
	}
	in.mu.Lock()
	in.status[i] = FeedStatus{Name: s.Name, URL: redact(s.URL), LastAttempt: start, LastSuccess: start,
		Entries: n, Skipped: skipped, Refused: refused, Until: until}
	in.mu.Unlock()
	in.log.Info("feed applied", "feed", s.Name, "entries", n, "skipped", skipped,
		"refused", refused, "until", until, "took", in.now().Sub(start))
	return nil
}

// errTooBig is returned by limitReader past its limit.
var errTooBig = errors.New("too big")

// limitReader reads at most n bytes from r, then fails with errTooBig if
// more remain.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n - 1, errTooBig // drop the byte past the limit
	}
	return n, err
}

// fetch downloads (or reads) and parses source s within the timeout.
func (in *In) fetch(ctx context.Context, s Source) ([]netip.Prefix, int, error) {
	ctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	httpURL, path, err := parseLocation(s.URL)
	if err != nil {
		return nil, 0, err
	}
	var body io.Reader
	if httpURL != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpURL, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("fetch: %w", err)
		}
		req.Header.Set("User-Agent", "phalanx-feed")
		req.Header.Set("Accept", "text/plain, */*;q=0.1")
		resp, err := in.client.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("fetch: %w", timeoutError(ctx, err, in.cfg.Timeout))
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("fetch: HTTP status %s", resp.Status)
		}
		if resp.ContentLength > in.cfg.MaxBytes {
			return nil, 0, fmt.Errorf("fetch: the list is %d bytes, larger than max_bytes (%d)", resp.ContentLength, in.cfg.MaxBytes)
		}
		body = resp.Body
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, fmt.Errorf("open list: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, 0, fmt.Errorf("open list: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, 0, fmt.Errorf("open list: %s is not a regular file", path)
		}
		body = &ctxReader{ctx: ctx, r: f}
	}
	entries, skipped, err := Parse(&limitReader{r: body, n: in.cfg.MaxBytes}, s.Format, in.cfg.MaxEntries)
	switch {
	case errors.Is(err, errTooBig):
		return nil, skipped, fmt.Errorf("the list is larger than max_bytes (%d)", in.cfg.MaxBytes)
	case err != nil:
		return nil, skipped, timeoutError(ctx, err, in.cfg.Timeout)
	}
	return entries, skipped, nil
}

// timeoutError says so when err is the fetch's deadline.
func timeoutError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within the timeout (%v): %w", timeout, err)
	}
	return err
}

// ctxReader fails reads once ctx is done, so that a fetch from a file
// honours the timeout between reads too.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
