// Package daemon wires a phalanx member together: log tails feed the
// detection pipeline, alerts become self-defense bans at once and signed
// reports on the fabric, the arbiter turns the ordered report stream into
// decisions, and the decision table feeds the enforcer and the HTTP API.
// It is the one place that builds and owns these components; it must not
// contain policy (that is the arbiter's and the remedy's) or protocol
// details (those live in fabric, nft and lapi).
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"phalanx"
	"phalanx/alliance"
	"phalanx/arbiter"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/crawler"
	"phalanx/decision"
	"phalanx/fabric"
	"phalanx/fail2ban"
	"phalanx/feed"
	"phalanx/forwardauth"
	"phalanx/identity"
	"phalanx/lapi"
	"phalanx/nft"
	"phalanx/outbox"
	"phalanx/pipeline"
	"phalanx/report"
	"phalanx/sighting"
)

// Options configure a daemon. Fields left zero take the defaults of `phalanx run`.
type Options struct {
	DataDir string
	Config  config.File
	// ConfigPath is re-read on Reload; empty means the built-in defaults.
	ConfigPath string
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
	// NetNS is a network namespace file descriptor for the nftables
	// enforcer; 0 is the daemon's own. Tests enforce inside namespaces.
	NetNS int
	// Listener, when set, is where the API is served instead of listening
	// on the configured address (tests serve inside a network namespace).
	Listener net.Listener
	// DefaultLogs replaces the sshd log files looked for when no source is
	// configured (tests pretend to be a host without them).
	DefaultLogs []string
	// DefaultWebLogs replaces the web-server logs ("nginx:PATH") looked
	// for when no source is configured (tests).
	DefaultWebLogs []string
	// Journalctl is the journalctl program for journal: sources; empty
	// means journalctl on PATH.
	Journalctl string
	// Observe, when set, receives every timeline entry as the member
	// records it (phalanx demo prints them). It must return quickly; it
	// runs on the goroutine that made the entry.
	Observe func(Entry)
}

// Enforcer applies decisions at one layer. The nftables enforcer is the one
// the daemon builds; tests may pass others.
type Enforcer interface {
	Apply(add, remove []phalanx.Decision, now time.Time) error
	Reconcile(all []phalanx.Decision, now time.Time) error
	Close() error
}

var _ Enforcer = (*nft.Enforcer)(nil)

// Daemon is a running member.
type Daemon struct {
	opts Options
	// crawl checks claimed search-engine crawlers (http.resolver); nil
	// when off. crawlResolver is the resolver it asks. Both under pipeMu.
	crawl         *crawler.Verifier
	crawlResolver string
	sightings     *sighting.Batch // what this member saw, until the next sighting report
	log           *slog.Logger
	now           func() time.Time
	id            *identity.Identity
	cs            atomic.Pointer[charterState] // the charter in force; amendments swap it
	secret        string                       // the alliance's route secret; "" for a member alone
	token         string
	fab           *fabric.Fabric
	table         *decision.Table
	jour          *lapi.Journal
	keys          *lapi.Keys
	lapi          *lapi.Server
	enf           Enforcer
	enfErr        string
	enfq          *enforceQueue                   // changes waiting for enf (enforcer_queue.go); nil without enf
	dcap          decisionCap                     // daemon.max_decisions (apply.go)
	kaudit        kernelAudit                     // the last comparison of the kernel's sets with the table (kernelaudit.go)
	outw          reportWriter                    // numbered reports waiting for the outbox (apply.go)
	bans          banQueue                        // self-defense bans decided, waiting for banLoop (banqueue.go)
	listeners     atomic.Pointer[[]*httpListener] // the API's, then the serve one if any (serve.go)
	apiLn         *limitListener                  // the API listener's bounds
	serveLn       *limitListener                  // the serve listener's bounds; nil without one
	serveAddr     atomic.Pointer[string]          // the serve listener's address, once serving
	metricsToken  string                          // /metrics beyond loopback asks for it
	own           []netip.Prefix                  // the host's own addresses: territory
	f2b           *fail2ban.Setup                 // the fail2ban jails that run; nil for none
	addr          atomic.Pointer[string]          // set once the API serves and its address file is written
	start         time.Time

	mu sync.Mutex // guards table writes, journal records and enforcement queue pushes, in that order

	pipeMu sync.Mutex // guards pipe (evidence has a lock of its own)
	pipe   *pipeline.Pipeline
	// pipeGen counts the pipelines made (written under pipeMu): a tail
	// that parses apart from the pipeline (feedApart) renews its stream
	// when it moves, without taking pipeMu for each line.
	pipeGen atomic.Uint64
	evid    *evidence

	reloads  atomic.Int64
	ob       *outbox.Outbox  // this member's signed reports, kept until safe to drop
	outMu    sync.Mutex      // orders sequence numbers with outbox appends; guards unsaved
	unsaved  [][]byte        // reports the outbox could not store, published from memory
	recMu    sync.Mutex      // guards records
	records  []report.Report // enforcement records waiting to be stored (enqueueRecord)
	kick     chan struct{}   // wakes the publisher
	admitted atomic.Bool     // the members know this member: its reports may go out
	leader   atomic.Value    // string: the stream leader, refreshed by watchLeader
	view     memberView      // the members as the status shows them (members.go)
	inflight atomic.Int64    // len(unsaved) plus those being published
	nextSq   atomic.Uint64
	// ownBefore is the outbox's last sequence when this process opened
	// it: this member's alerts up to it were decided by an earlier
	// process, those after it live (restoreSelfBans).
	ownBefore    uint64
	selfRestored atomic.Bool // restoreSelfBans has run

	consumeMu   sync.Mutex       // one report judged at a time: the stream's, the fast path's and repaired ones
	gaps        *gaps            // how far each member's sequence has arrived
	held        *heldEntries     // other members' enforcement entries waiting for the decision here
	arb         *arbiter.Arbiter // under consumeMu
	seen        *idSet           // under consumeMu
	strangers   *idSet           // fast-path copies rejected as an unknown member's; under consumeMu
	drep        digestRepair     // the reports behind the bans held, for digest repair (digestrepair.go)
	caughtUp    atomic.Bool      // the enforcer takes changes
	reconciled  atomic.Bool      // the table has replayed the stream and the enforcer was reconciled with it
	catchUpTo   atomic.Uint64    // the stream sequence the table must reach before reconciling; 0 = not known yet
	consumed    atomic.Uint64    // the last stream sequence consumed
	catchUpOnce sync.Once
	readyOnce   sync.Once
	ready       chan struct{}

	rejMu       sync.Mutex
	rejLogged   map[string]time.Time // member -> last time a rejection was logged
	rejByReason map[string]int64

	timeline *timeline
	newest   atomic.Pointer[newestIndex] // the console's newest decisions (console.go); nil without a console
	srcs     *sources
	met      *metrics
	faMet    *forwardauth.Metrics
	feeds    *feed.In
	// behind counts the log files whose tail has lines it has not fed yet
	// (a burst appended at once): while any has, the report writer waits,
	// so that detection has the CPU (apply.go, writeLoop).
	behind atomic.Int32

	ctr struct {
		published, publishErr, consumed, duplicate atomic.Int64
		decided, pardoned, pending, refused        atomic.Int64
		corroborated                               atomic.Int64
		sightings, fleetBans                       atomic.Int64
		rejected                                   atomic.Int64
		selfBans, enforceErr, restores             atomic.Int64
		digests, mismatches                        atomic.Int64
		digestRepairs, digestUnrepaired            atomic.Int64 // digestrepair.go
	}

	cancel context.CancelFunc
	life   context.Context // Run's context: background work started by handlers ends with it
	wg     sync.WaitGroup
	// running is held by Run until it returns: Close waits for it before
	// d.wg, so no goroutine is added to d.wg while Close waits on it.
	running sync.WaitGroup

	amendMu sync.Mutex // serialises charter changes made by this member (joins, removals)
	amendQ  struct {   // amendments waiting to be stored, in order
		sync.Mutex
		items   []alliance.Amendment
		running bool
	}
	streamCharter charter.Charter // the charter in force at the consumer's point of the stream; under consumeMu
	snap          snapshots       // restarts from a signed snapshot (snapshot.go)
	psnap         peerSnapshots   // catching up from another member's snapshot (peersnapshot.go)
	tamper        tamperWatch     // the watch of charter.yaml and fabric.secret (tamper.go)
}

// New prepares a daemon: data directory, identity, charter, fabric, table,
// API and enforcer. Nothing is enforced or served until Run.
func New(ctx context.Context, opts Options) (_ *Daemon, err error) {
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Daemon{opts: opts, log: opts.Logger, now: opts.Now, start: opts.Now(), ready: make(chan struct{}),
		gaps: newGaps(), held: newHeldEntries(4096), kick: make(chan struct{}, 1), seen: newIDSet(1 << 17), strangers: newIDSet(4096), evid: newEvidence(8192), sightings: sighting.NewBatch(), own: ownAddresses(opts.NetNS),
		timeline: &timeline{max: 10000, observe: opts.Observe}, rejLogged: map[string]time.Time{}, rejByReason: map[string]int64{}}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkModes(opts.DataDir); err != nil {
		return nil, err
	}
	var created bool
	d.id, created, err = identity.LoadOrCreate(filepath.Join(opts.DataDir, fileIdentity))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if created {
		d.log.Info("created member identity", "member", d.id.ID)
	}
	if err := d.checkDataDir(); err != nil { // tamper.go: the charter is the signed one, fabric.secret is there
		return nil, err
	}
	if err := d.loadCharter(); err != nil {
		return nil, err
	}
	if d.secret, err = readRouteSecret(opts.DataDir); err != nil {
		return nil, err
	}
	if d.secret == "" && opts.Config.Daemon.Fabric != "" {
		return nil, errors.New(fabricAlone)
	}
	if d.secret != "" {
		if err := d.setOwnFabric(opts.Config.Daemon.Fabric); err != nil {
			return nil, err
		}
	}
	if d.token, err = loadOrCreateToken(opts.DataDir); err != nil {
		return nil, err
	}
	if d.metricsToken, err = loadOrCreateTokenFile(filepath.Join(opts.DataDir, fileMetrics), "metrics token"); err != nil {
		return nil, err
	}
	if d.ob, err = outbox.Open(filepath.Join(opts.DataDir, dirOutbox), outbox.Options{Logger: d.log.With("component", "outbox")}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer func() {
		if err != nil {
			d.ob.Close()
		}
	}()
	d.nextSq.Store(d.ob.Last())
	d.ownBefore = d.ob.Last()
	// Own reports older than the outbox's first are beyond repair anyway.
	d.gaps.start(d.id.ID, d.ob.First()-min(d.ob.First(), 1))
	d.admitted.Store(!d.pendingAmendment())
	d.table = decision.NewTable()
	d.faMet = &forwardauth.Metrics{}
	d.met = newMetrics(d)
	d.registerTamperMetric() // tamper.go
	d.jour = lapi.NewJournal(lapi.DefaultMaxTombstones)
	if d.keys, err = lapi.OpenKeys(filepath.Join(opts.DataDir, fileBouncers)); err != nil {
		return nil, fmt.Errorf("bouncer keys: %w", err)
	}
	d.keys.SetAlliance(allianceBouncers(&d.charter().c)) // then setCharter keeps them in step
	d.lapi = lapi.New(lapi.Config{Logger: d.log}, d.table, d.jour, d.keys, d.now)
	if dir := opts.Config.Daemon.Fail2ban; dir != "" {
		if d.f2b, err = loadFail2ban(dir, d.log); err != nil {
			return nil, err
		}
	}
	if err := d.buildPipeline(opts.Config); err != nil {
		return nil, err
	}
	d.arb = arbiter.New(&d.charter().c)
	d.streamCharter = d.charter().c
	if err := d.openEnforcer(opts.Config.Daemon); err != nil {
		return nil, err
	}
	d.initEnforcement(opts.Config.Daemon)
	fo, err := d.fabricOptions(d.secret)
	if err != nil {
		d.closeEnforcer()
		return nil, err
	}
	d.fab, err = fabric.Start(ctx, fo)
	if err != nil {
		d.closeEnforcer()
		return nil, fmt.Errorf("fabric: %w", err)
	}
	if d.feeds, err = feed.NewIn(opts.Config.Feeds, d, d.refuseFeedValue, d.log.With("component", "feed"), nil); err != nil {
		d.fab.Close()
		d.closeEnforcer()
		return nil, fmt.Errorf("feeds: %w", err)
	}
	d.srcs, err = openSources(sourceOptionsOf(opts, d.now(), d.f2b), d.log)
	if err != nil {
		d.fab.Close()
		d.closeEnforcer()
		return nil, err
	}
	d.srcs.pinFirst()
	return d, nil
}

// fabricAlone is New's refusal of --fabric for a member alone.
const fabricAlone = "--fabric is for members of a multi-host alliance: create one with `phalanx alliance init --data DIR` (before the first run), or join one with `phalanx run --join TOKEN --fabric HOST:PORT`"

// sourceOptionsOf is what the sources of a start with opts are opened with.
func sourceOptionsOf(opts Options, now time.Time, f2b *fail2ban.Setup) sourceOptions {
	dc := opts.Config.Daemon
	return sourceOptions{dataDir: opts.DataDir, specs: dc.Sources, defaultLogs: opts.DefaultLogs, webLogs: opts.DefaultWebLogs,
		journalDir: dc.JournalDirectory, journalctl: opts.Journalctl, syslogAllow: dc.SyslogAllow, syslogRate: dc.SyslogRate,
		now: now, checkService: checkService(opts.Config), fail2ban: f2b}
}

func (d *Daemon) loadCharter() error {
	path := filepath.Join(d.opts.DataDir, fileCharter)
	c, err := charter.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		host, _ := os.Hostname()
		founder := charter.NewMember(host, d.id.Public)
		founder.Founding = true
		c = charter.Default(host, founder)
		if err := setSalt(&c); err != nil {
			return err
		}
		data, err := c.Marshal()
		if err != nil {
			return fmt.Errorf("charter: %w", err)
		}
		if err := writeFileAtomic(path, data, 0o644); err != nil {
			return fmt.Errorf("write charter: %w", err)
		}
		d.log.Info("wrote a one-member charter", "path", path)
	} else if err != nil {
		return fmt.Errorf("charter: %w", err)
	}
	if _, _, ok := c.Member(d.id.ID); !ok {
		return notListed(path, d.id.ID)
	}
	d.setCharter(c)
	return nil
}

// charterState is a charter in force and its hash; never changed once
// stored.
type charterState struct {
	c     charter.Charter
	hash  string
	sight *sighting.Rules // what the fleet scenarios ask members to sight
}

// charter returns the charter in force. Callers must not change it.
func (d *Daemon) charter() *charterState { return d.cs.Load() }

func (d *Daemon) setCharter(c charter.Charter) {
	cs := &charterState{c: c, hash: c.Hash()}
	cs.sight = sighting.NewRules(&cs.c, d.territoryOf(&cs.c))
	d.cs.Store(cs)
	if d.keys != nil {
		d.keys.SetAlliance(allianceBouncers(&cs.c)) // alliance bouncer keys (amend.go)
	}
}

// crawlers returns the verifier of claimed crawlers for resolver (see
// config.HTTP.Resolver), keeping the running one when the resolver is
// unchanged; nil when checks are off.
func (d *Daemon) crawlers(resolver string) (*crawler.Verifier, error) {
	d.pipeMu.Lock()
	defer d.pipeMu.Unlock()
	if d.crawl != nil && d.crawlResolver == resolver {
		return d.crawl, nil
	}
	if d.crawl != nil {
		d.crawl.Close()
		d.crawl = nil
	}
	if resolver == "off" {
		return nil, nil
	}
	v, err := crawler.New(crawler.Config{Resolver: resolver}, d.log.With("component", "crawler"))
	if err != nil {
		return nil, fmt.Errorf("http.resolver: %w", err)
	}
	d.crawl, d.crawlResolver = v, resolver
	return v, nil
}

// setSalt gives a new charter's fleet section its user-name salt.
func setSalt(c *charter.Charter) error {
	if c.Fleet == nil {
		return nil
	}
	salt, err := charter.NewSalt(rand.Reader)
	if err != nil {
		return fmt.Errorf("charter: fleet salt: %w", err)
	}
	c.Fleet.Salt = salt
	return nil
}

// checkService returns a check of declared services against f's log
// formats.
func checkService(f config.File) func(string) error {
	pc := f.Pipeline()
	return pc.CheckService
}

func (d *Daemon) buildPipeline(f config.File) error {
	pc := f.Pipeline()
	pc.Remedy.Allowlist = append(slices.Clone(pc.Remedy.Allowlist), d.own...)
	addFail2banScenarios(&pc, d.f2b, d.log)
	crawl, err := d.crawlers(f.HTTP.Resolver)
	if err != nil {
		return err
	}
	if crawl != nil {
		pc.HTTP.Crawlers = crawl.Check
	}
	p, err := pipeline.New(pc, sink{d: d, st: &sinkState{}})
	if err != nil {
		return err
	}
	p.SetBanned(func(v netip.Prefix) bool {
		// Pending first (decided, waiting for banLoop, banqueue.go): a ban
		// leaves the queue only once it is in the table.
		if d.bans.isPending(v) {
			return true
		}
		_, ok := d.table.Lookup(v.Addr(), d.now())
		return ok
	})
	d.pipeMu.Lock()
	d.pipe = p
	d.pipeGen.Add(1)
	d.pipeMu.Unlock()
	return nil
}

func (d *Daemon) openEnforcer(dc config.Daemon) error {
	if dc.Enforce == "none" {
		d.enfErr = "disabled (--enforce none)"
		d.log.Warn("enforcement is off: decisions are served by the API but nothing is blocked on this host")
		return nil
	}
	e, err := nft.New(nft.Config{Table: dc.Table, Allow: d.territory(), NetNS: d.opts.NetNS, Logger: d.log.With("component", "nft")})
	if err != nil {
		if dc.Enforce == "nftables" {
			return fmt.Errorf("nftables enforcer: %w", err)
		}
		d.enfErr = err.Error()
		d.log.Warn("enforcement is off: nftables is not available (run as root with nftables support, or pass --enforce none to silence this)", "err", err)
		return nil
	}
	d.enf = e
	return nil
}

// territory is what the kernel accepts before any drop rule: loopback, the
// charter's territory and every member's addresses.
func (d *Daemon) territory() []netip.Prefix { return d.territoryOf(&d.charter().c) }

// territoryOf is territory under charter c.
func (d *Daemon) territoryOf(c *charter.Charter) []netip.Prefix {
	t := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	t = append(t, c.Territory...)
	for _, m := range c.Members {
		t = append(t, m.Addresses...)
	}
	t = append(t, d.opts.Config.Decisions.Allowlist...)
	t = append(t, d.own...)
	return t
}

// ownAddresses returns the host's own interface addresses (each alone),
// which are territory: a member never bans itself. With Options.NetNS (a
// test's namespace) there are none to read here.
func ownAddresses(netNS int) []netip.Prefix {
	if netNS != 0 {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out
}

func (d *Daemon) closeEnforcer() {
	if d.enf != nil {
		d.enf.Close()
	}
}

// ID is the member id.
func (d *Daemon) ID() string { return d.id.ID }

// Addr is the address the HTTP API listens on, once Run has started it.
func (d *Daemon) Addr() string {
	if a := d.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Ready is closed once the daemon has caught up with the report stream and
// serves its API.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Table is the decision table (read-only for callers).
func (d *Daemon) Table() *decision.Table { return d.table }

// Run serves until ctx ends: it replays the report stream into the table,
// reconciles the enforcer, starts the API and the log tails, then follows.
func (d *Daemon) Run(ctx context.Context) error {
	d.running.Add(1)
	defer d.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	d.life = ctx
	defer cancel()
	d.startEnforcement(ctx)
	from := d.loadSnapshot(ctx) // snapshot.go: 1, or after a snapshot's position
	if from == 1 {
		from = d.catchUpFromPeer(ctx) // peersnapshot.go: a new member, say
	}

	consumeErr := make(chan error, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		consumeErr <- d.fab.Consume(ctx, from, d.consume)
	}()
	if err := d.startCatchUp(ctx); err != nil {
		return err
	}
	// Wait for the catch-up before serving, so the API never answers from a
	// half-built table.
	select {
	case <-d.ready:
	case err := <-consumeErr:
		return fmt.Errorf("replay report stream: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	if err := d.serveHTTP(); err != nil {
		return err
	}
	d.log.Info("phalanx member running", "member", d.id.ID, "api", d.Addr(), "serve", d.ServeAddr(), "charter", d.charter().hash[:12],
		"enforce", d.enforceMode(), "decisions", d.table.Len())

	d.publishPending()
	d.wg.Add(6)
	go func() { defer d.wg.Done(); d.serveJoins(ctx) }()
	go func() { defer d.wg.Done(); d.repairLoop(ctx) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.watchLeader(ctx) }()
	d.wg.Add(1) // the fabric's health watch: no server restart once ctx ends (the daemon stops)
	go func() { defer d.wg.Done(); d.fab.Watch(ctx) }()
	go func() { defer d.wg.Done(); d.feeds.Run(ctx) }()
	go func() { defer d.wg.Done(); d.publishLoop(ctx) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.sightingLoop(ctx) }()
	go func() { defer d.wg.Done(); d.expireLoop(ctx) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.guardFirewall(ctx) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.auditLoop(ctx) }()
	go func() { defer d.wg.Done(); d.srcs.run(ctx, d) }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.snapshotLoop(ctx) }() // snapshot.go
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.watchDataDir(ctx) }() // tamper.go

	<-ctx.Done()
	shut, c := context.WithTimeout(context.Background(), 5*time.Second)
	d.shutdownHTTP(shut)
	c()
	d.wg.Wait()
	d.stopSnapshot() // snapshot.go
	if d.inflight.Load() == 0 {
		d.srcs.savePositions()
	}
	return nil
}

// Close releases everything New opened. The nftables table stays, so bans
// stay enforced while the daemon restarts.
func (d *Daemon) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.running.Wait()
	d.wg.Wait()
	var errs []error
	if d.srcs != nil {
		d.srcs.close()
	}
	d.pipeMu.Lock()
	if d.crawl != nil {
		d.crawl.Close()
	}
	d.pipeMu.Unlock()
	if d.fab != nil {
		errs = append(errs, d.fab.Close())
	}
	if d.ob != nil {
		errs = append(errs, d.ob.Close())
	}
	if d.enf != nil {
		errs = append(errs, d.enf.Close())
	}
	return errors.Join(errs...)
}

func (d *Daemon) enforceMode() string {
	if d.enf != nil {
		return "nftables"
	}
	return "none"
}

// startCatchUp finds how far the report stream reaches, so that the
// consumer knows when the table has caught up with it. A clustered fabric
// needs a majority of the members for its stream; when it has none within
// clusterWait (a lone founder, or most members down), the member serves at
// once from what it has, enforces new decisions as they come, and leaves
// the kernel's sets alone (no reconcile, which would lift bans the table
// does not know yet) until the stream is back and replayed.
func (d *Daemon) startCatchUp(ctx context.Context) error {
	wait := func(ctx context.Context) error { return nil }
	if d.secret != "" {
		wait = d.fab.Ready
	}
	find := func() error {
		last, err := d.fab.LastSeq()
		if err != nil {
			return fmt.Errorf("fabric: %w", err)
		}
		d.catchUpTo.Store(max(last, 1))
		if last == 0 || d.consumed.Load() >= last {
			d.consumeMu.Lock()
			d.finishCatchUp()
			d.consumeMu.Unlock()
			return nil
		}
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.catchUpWatchdog(ctx, last) }()
		return nil
	}
	var err error
	if d.secret != "" && len(routeURLs(&d.charter().c)) < 2 {
		err = errors.New("this member is alone in its alliance")
	} else {
		wctx, cancel := context.WithTimeout(ctx, clusterWait)
		err = wait(wctx)
		cancel()
		if err == nil {
			return find()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	d.log.Warn("the fabric's report stream is not available yet (it needs a majority of the alliance's members): serving and enforcing what this member decides; reports wait in the outbox", "err", err)
	// Its own bans, from its outbox, are served meanwhile (the kernel
	// holds them already: it is not reconciled until the stream is back).
	d.consumeMu.Lock()
	d.restoreSelfBans()
	d.consumeMu.Unlock()
	d.caughtUp.Store(true)
	d.readyOnce.Do(func() { close(d.ready) })
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.fab.Ready(ctx); err != nil {
			return
		}
		if err := find(); err != nil {
			d.log.Error("find the end of the report stream", "err", err)
		}
	}()
	return nil
}

// catchUpStall is how long the replay of the stream may make no progress
// before the member serves without its end.
const catchUpStall = 15 * time.Second

// catchUpWatchdog ends the catch-up when the replay stops short of last
// and makes no progress for catchUpStall: the stream's last message can
// be gone (a damaged or truncated block after a power loss, deleted
// messages), and a member must not wait for it for ever without serving,
// tailing or saying anything.
func (d *Daemon) catchUpWatchdog(ctx context.Context, last uint64) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	seen, since := d.consumed.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.caughtUp.Load() {
			return
		}
		if c := d.consumed.Load(); c != seen {
			seen, since = c, time.Now()
			continue
		}
		if time.Since(since) < catchUpStall {
			continue
		}
		d.log.Warn("the replay of the report stream stopped short of its end and made no progress; serving with what was replayed (the stream's last messages may be damaged or deleted)",
			"replayed_to", seen, "stream_end", last, "waited", catchUpStall)
		d.consumeMu.Lock()
		d.finishCatchUp()
		d.consumeMu.Unlock()
		return
	}
}

// watchLeader keeps d.leader current: the status names the stream leader
// without waiting for the fabric (which takes seconds without a majority).
func (d *Daemon) watchLeader(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		d.readStream(lctx) // the leader, and the stream's state for the status
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clusterWait is how long a clustered member waits for the report stream
// before it serves without it.
const clusterWait = 10 * time.Second

// finishCatchUp runs once the table holds the report stream up to where it
// ended when the member started: this member's own reports that the stream
// lost are applied from the outbox, the enforcer is reconciled with the
// table and the API starts serving. The caller holds consumeMu.
func (d *Daemon) finishCatchUp() {
	d.catchUpOnce.Do(func() {
		defer d.reconciled.Store(true)
		d.healOwn(d.life, true)
		d.restoreSelfBans()
		d.caughtUp.Store(true)
		d.reconcileEnforcer()
		d.readyOnce.Do(func() { close(d.ready) })
	})
}

// Reload re-reads the listeners' certificates and the configuration file
// and swaps in a new detection pipeline. Decisions, the report stream and
// tail positions are kept.
func (d *Daemon) Reload() error {
	d.reloadCertificates()
	f, err := config.Load(d.opts.ConfigPath)
	if err != nil {
		return err
	}
	if err := d.buildPipeline(f); err != nil {
		return err
	}
	d.reloads.Add(1)
	d.log.Info("configuration reloaded", "path", d.opts.ConfigPath)
	return nil
}
