// Package console is a member's web console, served under /ui/: pages that
// show the alliance defending itself (bans as they spread, the members,
// attacks, sources, the charter) and let an operator ban, pardon and manage
// bouncers. Its pages, styles and script are embedded; it fetches nothing
// from anywhere else.
//
// It must not hold policy or reach into the daemon: what it shows and what
// it changes goes through Backend, under the same charter rules as the CLI.
// It must never change anything without an admin session and a valid CSRF
// token, and never write attacker-written text (log lines, user names, user
// agents) into a page other than through its escaping page writer (see
// html.go) or the script's textContent.
package console

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed assets
var assets embed.FS

// Backend is what the console needs from a member.
type Backend interface {
	Status() Status
	// Decisions returns one page of the active decisions matching q, in
	// q's order.
	Decisions(q Query) Page
	Explain(addr netip.Addr) Explanation
	// Ban and Pardon act as the admin API does; a refusal is an
	// *ActionError carrying the charter's reason.
	Ban(ctx context.Context, value string, d time.Duration, reason string) (Decision, error)
	Pardon(ctx context.Context, value, reason string) (int, error)
	Bouncers() []Bouncer
	// AddBouncer and DeleteBouncer act on this member's own keys, or
	// with alliance on a key every member accepts (a charter amendment).
	AddBouncer(name string, alliance bool) (key string, err error)
	DeleteBouncer(name string, alliance bool) error
	Charter() Charter
	Sources() Sources
	// Totals returns the running totals the console samples for its
	// rates; it is called every few seconds, and must be cheap.
	Totals() Totals
	// Recent returns up to n of the newest timeline entries, oldest first.
	Recent(n int) []Entry
	// Subscribe returns the timeline entries made from now on. The channel
	// is closed when the subscriber fell behind (it is then dropped) or
	// after cancel.
	Subscribe() (entries <-chan Entry, cancel func())
}

// ActionError is a refused change: the status the admin API would answer
// and its message (the charter's reason, what to do).
type ActionError struct {
	Status  int
	Message string
}

func (e *ActionError) Error() string { return e.Message }

// Entry is one step of an incident's history (see `phalanx explain`).
type Entry struct {
	Time       time.Time
	What       string // alert, report, decision, enforced, sighting, pardon, refused
	Member     string
	MemberName string
	Scenario   string
	Origin     string
	Value      string
	Until      time.Time
	DecisionID uint64
	Detail     string
	Evidence   []string
}

// Decision is an active decision.
type Decision struct {
	ID       uint64
	Origin   string
	Type     string
	Value    string
	Scenario string
	Reason   string
	Start    time.Time
	Until    time.Time
}

// Query selects decisions: those covering Addr, or inside Prefix, or whose
// scenario, origin or reason contains Word; all when none is set. They
// are ordered by the column Sort (SortStart…), descending when Desc, then
// by ID in the same direction; Offset and Limit choose a page of that
// order.
type Query struct {
	Addr   netip.Addr
	Prefix netip.Prefix
	Word   string
	Sort   string
	Desc   bool
	Offset int
	Limit  int
}

// Page is one page of decisions; Total counts every match (it may count
// decisions that ended in the last second, not yet expired).
type Page struct {
	Items []Decision
	Total int
}

// Member is one member of the alliance as this member sees it.
type Member struct {
	ID, Name   string
	Founding   bool
	Self       bool
	Leader     bool
	Addresses  []string
	Fabric     string
	Reports    int64         // reports received from it
	Lag        time.Duration // receive time minus make time of its latest report
	Missing    uint64        // reports of its sequence not received yet
	LastReport time.Time     // its latest timeline entry here; zero if none
}

// Status is the member's health and counters.
type Status struct {
	Member, MemberName, Alliance, Charter, Uptime, Enforce, EnforceNote string
	Decisions                                                           int
	Members                                                             []Member
	Pipeline, Reports, Rejected                                         map[string]int64
	Dropped                                                             int64 // live subscribers dropped for falling behind
}

// Explanation is why an address is (not) banned.
type Explanation struct {
	Address   string
	Banned    bool
	Decisions []Decision
	Timeline  []Entry
}

// Bouncer is a bouncer's API key record (never the key).
type Bouncer struct {
	Name     string
	Created  time.Time
	LastPull time.Time // on this member
	Alliance bool      // a key every member accepts (from the charter)
}

// Charter is the charter in force and the amendments that led to it, as
// far as this member knows them (those it applied, and those the member
// that admitted it handed over, verified), oldest first.
type Charter struct {
	Name, Hash, YAML string
	Version          int
	History          []Amendment
}

// Amendment is one amendment of the charter.
type Amendment struct {
	Version int
	Time    time.Time // when the alliance's stream stored it
	Hash    string    // of the charter it made
	By      string    // the founding member that signed it
	Changes []string  // what it changed, for people
}

// Source is one watched source and its counters.
type Source struct {
	Name    string
	Lines   int64
	Skipped map[string]int64 // lines or entries the source itself dropped, by reason
	Stats   map[string]int64 // its other counters
}

// Sources are the watched sources and the pipeline's counters.
type Sources struct {
	List    []Source
	Events  map[string]int64 // by parser/kind
	Skipped map[string]int64 // by reason
}

// Options configure a console.
type Options struct {
	Backend Backend
	Logger  *slog.Logger
	// AdminToken signs in with the admin role, ReadOnlyToken with the
	// viewer role (it may look, never change).
	AdminToken, ReadOnlyToken string
	// Member names the member in the session cookie's name: browsers keep
	// cookies by host, not port, and several members may share a host.
	Member      string
	Now         func() time.Time // nil: time.Now
	LinkTTL     time.Duration    // one-time login links; default 5m
	SessionTTL  time.Duration    // default 12h
	MaxSessions int              // default 1024; the oldest goes first
	MaxLinks    int              // outstanding login links; default 64
	MaxStreams  int              // open live streams; default 256
}

// Counters are the console's own counts of what it refused.
type Counters struct {
	Logins, LoginsRefused, LinksMinted, LinksRefused, CSRFRefused, Forbidden int64
	Streams, StreamsRefused, StreamsDropped, Resubscribed                    int64
	Sessions                                                                 int
}

// Console serves the pages; build it with New and run its live feed with
// Run.
type Console struct {
	b     Backend
	log   *slog.Logger
	now   func() time.Time
	opts  Options
	auth  *auth
	live  *live
	rates *rates
	mux   *http.ServeMux
	ctr   struct {
		logins, loginsRefused, linksMinted, linksRefused, csrf, forbidden atomic.Int64
		resubscribed                                                      atomic.Int64
	}
}

// New builds a console. Nothing runs until Run.
func New(o Options) (*Console, error) {
	if o.Backend == nil {
		return nil, errors.New("console: no backend")
	}
	if len(o.AdminToken) < 16 || len(o.ReadOnlyToken) < 16 || o.AdminToken == o.ReadOnlyToken {
		return nil, errors.New("console: the admin and read-only tokens must be long and different")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 5 * time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 1024
	}
	if o.MaxLinks <= 0 {
		o.MaxLinks = 64
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 256
	}
	c := &Console{b: o.Backend, log: o.Logger, now: o.Now, opts: o}
	c.auth = newAuth(o)
	c.live = newLive(o.MaxStreams, 500, o.Member)
	c.rates = newRates()
	c.mux = c.routes()
	return c, nil
}

// Counters returns the console's counts.
func (c *Console) Counters() Counters {
	st := c.live.counts()
	return Counters{Logins: c.ctr.logins.Load(), LoginsRefused: c.ctr.loginsRefused.Load(), LinksMinted: c.ctr.linksMinted.Load(),
		LinksRefused: c.ctr.linksRefused.Load(), CSRFRefused: c.ctr.csrf.Load(), Forbidden: c.ctr.forbidden.Load(),
		Streams: st.open, StreamsRefused: st.refused, StreamsDropped: st.dropped, Resubscribed: c.ctr.resubscribed.Load(),
		Sessions: c.auth.sessionCount()}
}

// Run feeds the live view from the backend's timeline and samples the
// backend's totals until ctx ends.
func (c *Console) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			c.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	for ctx.Err() == nil {
		ch, cancel := c.b.Subscribe()
		c.live.seed(c.b.Recent(2000))
		c.follow(ctx, ch)
		cancel()
		if ctx.Err() == nil {
			c.ctr.resubscribed.Add(1)
		}
	}
	c.live.closeAll()
}

// sample records the backend's totals now, and this member's bouncers'
// pulls (Run calls it every sampleEvery).
func (c *Console) sample() {
	t := c.b.Totals()
	c.rates.add(c.now(), Totals{Reports: bounded(t.Reports), Lines: bounded(t.Lines)})
	c.live.setBouncers(c.b.Bouncers())
}

// bounded is m, or its first maxSampled keys in order.
func bounded(m map[string]int64) map[string]int64 {
	if len(m) <= maxSampled {
		return m
	}
	out := make(map[string]int64, maxSampled)
	for _, k := range sortedKeys(m)[:maxSampled] {
		out[k] = m[k]
	}
	return out
}

func (c *Console) follow(ctx context.Context, ch <-chan Entry) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			c.live.add(e)
		}
	}
}

// ServeHTTP serves everything under /ui/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send Origin: null on form posts
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if len(r.URL.RawQuery) > 4096 {
		http.Error(w, "query too long", http.StatusRequestURITooLong)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func staticFS() fs.FS {
	sub, err := fs.Sub(assets, "assets/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
