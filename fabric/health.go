package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The health watch (Watch) notices an embedded server that is stuck and
// restarts it in-process. nats-server keeps some store and Raft errors for
// good: after a write to the store failed (no file descriptors left, a
// full or read-only disk) it may switch JetStream off, or keep a stream's
// or Raft group's write error, and the stream then has no leader until the
// process restarts. A restart of the embedded server (shut down, which
// flushes the store, then start again with the same options, ports and
// store directory) clears that; the in-process connections reconnect by
// themselves, and so do the other members' routes and leaf links.

// Defaults for HealthOptions.
const (
	DefaultHealthInterval   = 5 * time.Second
	DefaultHealthGrace      = 30 * time.Second
	DefaultHealthMinBackoff = 30 * time.Second
	DefaultHealthMaxBackoff = 10 * time.Minute
	// writeFailures is how many store writes in a row must fail (with no
	// success between) before they count as a problem.
	writeFailures = 5
)

// HealthOptions pace the health watch (Options.Health, Watch). Zero
// values mean the defaults.
type HealthOptions struct {
	// Interval is how often the watch looks; default 5 s.
	Interval time.Duration
	// Grace is how long a problem must last before the watch restarts the
	// embedded server; default 30 s (a leader election takes seconds).
	Grace time.Duration
	// MinBackoff is the least time between two restarts, doubled after
	// each restart up to MaxBackoff (default 30 s and 10 minutes); it
	// falls back to MinBackoff once the server has been healthy for
	// MaxBackoff: alone, or in a cluster with a meta leader and the
	// stream led (a cluster still electing does not count).
	MinBackoff, MaxBackoff time.Duration
}

func (h HealthOptions) withDefaults() (HealthOptions, error) {
	if h.Interval < 0 || h.Grace < 0 || h.MinBackoff < 0 || h.MaxBackoff < 0 {
		return h, fmt.Errorf("fabric: negative health watch durations %+v: use positive durations, or 0 for the defaults", h)
	}
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Grace == 0 {
		h.Grace = DefaultHealthGrace
	}
	if h.MinBackoff == 0 {
		h.MinBackoff = DefaultHealthMinBackoff
	}
	if h.MaxBackoff == 0 {
		h.MaxBackoff = max(DefaultHealthMaxBackoff, h.MinBackoff)
	}
	if h.MaxBackoff < h.MinBackoff {
		return h, fmt.Errorf("fabric: health MaxBackoff %v is below MinBackoff %v", h.MaxBackoff, h.MinBackoff)
	}
	return h, nil
}

// Health is what the health watch knows about the embedded server.
type Health struct {
	// Problem is what is wrong now, "" when nothing is (or nobody
	// watches: see Watch).
	Problem string
	// Since is when Problem was first seen.
	Since time.Time
	// Restarting is true while the server restarts.
	Restarting bool
	// Restarts counts restarts of the embedded server, Failed those of
	// them that did not bring it up (the watch tries again later).
	Restarts, Failed int64
	// LastRestart is when the last restart began, LastReason why.
	LastRestart time.Time
	LastReason  string
	// NextRestart is the earliest time another restart may begin.
	NextRestart time.Time
}

// OK reports whether the watch sees no problem and no restart under way.
func (h Health) OK() bool { return h.Problem == "" && !h.Restarting }

// healthState is the watch's memory; mu guards it.
type healthState struct {
	mu sync.Mutex
	Health
	backoff      time.Duration
	waitLogged   bool      // the wait for descriptors was logged for this problem
	healthySince time.Time // since when no problem was seen
	// The store writes that failed in a row, and when the first of them
	// failed; a success resets them.
	writeFails     int
	firstWriteFail time.Time
}

// Health returns the health watch's view of the embedded server.
func (f *Fabric) Health() Health {
	f.health.mu.Lock()
	defer f.health.mu.Unlock()
	return f.health.Health
}

// noteWrite records the result of one attempt to write to the stream.
func (f *Fabric) noteWrite(err error) {
	h := &f.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.writeFails = 0
		return
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.ErrorCode != errDuplicateInProcess ||
		errors.Is(err, nats.ErrPermissionViolation) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return // the message's fault, not the store's
	}
	if h.writeFails == 0 {
		h.firstWriteFail = time.Now()
	}
	h.writeFails++
}

// Watch looks at the embedded server every HealthOptions.Interval until
// ctx ends or the Fabric is closed, and restarts it when a problem lasts
// longer than HealthOptions.Grace: JetStream switched off on this server,
// a sticky store or Raft write error on the stream (or the meta layer),
// the stream without a leader although enough of its replicas' servers
// are linked to this one, or store writes failing again and again. It
// restarts at most once per backoff (from MinBackoff, doubling up to
// MaxBackoff), logs each problem once when it appears, and each restart
// with its reason. Health says what it sees.
//
// The daemon runs Watch with its own context, so that no restart begins
// once the daemon is stopping. A leaf member keeps no stream: its Watch
// returns at once.
func (f *Fabric) Watch(ctx context.Context) {
	if f.leaf {
		return
	}
	t := time.NewTicker(f.healthOpts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.life.Done():
			return
		case <-t.C:
		}
		f.checkHealth(ctx, time.Now())
	}
}

// checkHealth makes one look and, when due, one restart.
func (f *Fabric) checkHealth(ctx context.Context, now time.Time) {
	if f.closed() || ctx.Err() != nil {
		return
	}
	problem, shared, settled := f.diagnose(now)
	o := f.healthOpts
	grace := o.Grace
	if shared {
		grace *= 2
	}
	h := &f.health
	h.mu.Lock()
	if problem == "" {
		if h.Problem != "" {
			f.log.Info("fabric healthy again", "was", h.Problem, "for", now.Sub(h.Since).Round(time.Second))
			h.Problem, h.Since, h.healthySince = "", time.Time{}, time.Time{}
		}
		if !settled {
			// A cluster still electing (right after a restart, this
			// member's or another's) shows no problem yet: that is no
			// sign the restarts helped, and the backoff stays. Reset
			// by every such blip, restarts of the members after one
			// another kept the cluster from ever electing.
			h.healthySince = time.Time{}
			h.mu.Unlock()
			return
		}
		if h.healthySince.IsZero() {
			h.healthySince = now
		}
		if h.backoff > 0 && now.Sub(h.healthySince) >= o.MaxBackoff {
			h.backoff = 0 // the next restart waits MinBackoff again
		}
		h.mu.Unlock()
		return
	}
	if h.Problem == "" {
		f.log.Warn("fabric unhealthy: the embedded server restarts if it lasts", "problem", problem, "grace", grace)
		h.Since, h.waitLogged = now, false
	}
	h.Problem, h.healthySince = problem, time.Time{}
	due := now.Sub(h.Since) >= grace && !now.Before(h.NextRestart)
	if due {
		// A restart needs descriptors to open the store with: while they
		// are exhausted (the attack that broke the store may go on) it
		// would fail, or find the store's files unreadable.
		if free, limit, ok := descriptorsFree(); ok && free < descriptorReserve(limit) {
			if !h.waitLogged {
				f.log.Warn("fabric restart waits for file descriptors", "problem", problem, "free", free, "limit", limit)
				h.waitLogged = true
			}
			due = false
		}
	}
	h.mu.Unlock()
	if due {
		f.restart(ctx, problem)
	}
}

// descriptorReserve is how many descriptors must be free for a restart:
// the store's block files, the listeners, the routes.
func descriptorReserve(limit uint64) uint64 { return min(max(limit/16, 64), 1024) }

// observation is what diagnose reads from the server, for verdict.
type observation struct {
	jetStream   bool     // JetStream is on
	stickyErrs  []string // the store's and Raft's write errors, and the like
	clustered   bool
	metaLeader  string // "" when the meta group has none
	streamKnown bool   // the stream is on this server
	leader      string // the stream's leader, "" when none
	replicas    int    // how many copies the stream has
	reachable   int    // how many of them are this server or linked to it
	writeFails  int    // store writes failed in a row
	failingFor  time.Duration
}

// verdict names the problem o shows, "" when there is none, and whether
// it is shared: a stream without a leader is seen by every member alike,
// so it waits twice the grace before a restart (a member whose own store
// broke restarts first, for its own error, and the leader comes back).
func verdict(o observation) (problem string, shared bool) {
	switch {
	case !o.jetStream:
		return "JetStream is off on this server (nats-server switches it off when a store write fails)", false
	case len(o.stickyErrs) > 0:
		return "store or Raft error: " + strings.Join(o.stickyErrs, "; "), false
	case o.clustered && o.streamKnown && o.leader == "" && o.metaLeader != "" && o.reachable > o.replicas/2:
		return fmt.Sprintf("stream %s has no leader although %d of its %d replicas are reachable", StreamName, o.reachable, o.replicas), true
	case o.writeFails >= writeFailures && (!o.clustered || o.metaLeader != "" && o.leader != ""):
		return fmt.Sprintf("%d store writes in a row failed over %v", o.writeFails, o.failingFor.Round(time.Second)), false
	}
	return "", false
}

// sticky reports whether a nats-server health error is one that does not
// go away by itself (transient ones — no meta leader yet, a replica
// catching up — are left to the grace and the leader check).
func sticky(msg string) bool {
	msg = strings.ToLower(msg)
	for _, m := range []string{"write error", "apply error", "not running", "could not be recovered", "skew", "assignment error"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// diagnose looks at the current server: the problem it shows (see
// verdict), and whether the server has settled: it is alone, or its
// cluster has a meta leader and the stream (when known here) a leader.
func (f *Fabric) diagnose(now time.Time) (problem string, shared, settled bool) {
	srv := f.server()
	o := observation{jetStream: srv.JetStreamEnabled(), clustered: f.clustered}
	f.health.mu.Lock()
	o.writeFails = f.health.writeFails
	if o.writeFails > 0 {
		o.failingFor = now.Sub(f.health.firstWriteFail)
	}
	f.health.mu.Unlock()
	if !o.jetStream {
		problem, shared = verdict(o)
		return problem, shared, false
	}
	hz := srv.Healthz(&server.HealthzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Stream: StreamName, Details: true})
	for _, e := range hz.Errors {
		if sticky(e.Error) {
			o.stickyErrs = append(o.stickyErrs, e.Error)
		}
	}
	if f.clustered {
		f.observeCluster(srv, &o)
	}
	problem, shared = verdict(o)
	return problem, shared, settledOf(o)
}

// settledOf reports whether o shows a server that has settled: alone, or
// in a cluster with a meta leader whose stream, when known here, is led.
func settledOf(o observation) bool {
	return o.jetStream && (!o.clustered || o.metaLeader != "" && (!o.streamKnown || o.leader != ""))
}

// observeCluster fills in the leaders and the stream's reachable replicas.
func (f *Fabric) observeCluster(srv *server.Server, o *observation) {
	jsz, err := srv.Jsz(&server.JSzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Streams: true})
	if err != nil {
		return
	}
	if jsz.Meta != nil {
		o.metaLeader = jsz.Meta.Leader
	}
	var sd *server.StreamDetail
	for _, a := range jsz.AccountDetails {
		for i := range a.Streams {
			if a.Streams[i].Name == StreamName {
				sd = &a.Streams[i]
			}
		}
	}
	if sd == nil || sd.Cluster == nil {
		return
	}
	o.streamKnown, o.leader = true, sd.Cluster.Leader
	linked := map[string]bool{}
	for _, l := range f.Links() {
		if l.Kind == LinkRoute {
			linked[l.Name] = true
		}
	}
	names := map[string]bool{f.name: true}
	for _, r := range sd.Cluster.Replicas {
		if r != nil {
			names[r.Name] = true
		}
	}
	o.replicas = len(names)
	if sd.Config != nil && sd.Config.Replicas > o.replicas {
		o.replicas = sd.Config.Replicas
	}
	for n := range names {
		if n == f.name || linked[n] {
			o.reachable++
		}
	}
}

// restart shuts the embedded server down and starts it again with the
// same options, ports and store, unless the Fabric is closed or ctx ended.
// The in-process connections reconnect to the new server by themselves.
func (f *Fabric) restart(ctx context.Context, reason string) {
	f.restartMu.Lock()
	defer f.restartMu.Unlock()
	if f.closed() || ctx.Err() != nil {
		return
	}
	h := &f.health
	o := f.healthOpts
	began := time.Now()
	h.mu.Lock()
	h.Restarting, h.LastRestart, h.LastReason = true, began, reason
	h.backoff = min(max(h.backoff, o.MinBackoff/2)*2, o.MaxBackoff)
	h.NextRestart = began.Add(h.backoff)
	next := h.NextRestart
	h.mu.Unlock()
	f.log.Warn("fabric restarts its embedded server", "reason", reason, "next_restart_not_before", next.Format(time.RFC3339))

	// Publish and Consume retry instead of failing while the server is
	// away (see storeDisabled).
	f.restarting.Store(true)
	err := f.relaunch()
	f.restarting.Store(false)

	h.mu.Lock()
	h.Restarting = false
	h.Restarts++
	if err != nil {
		h.Failed++
	}
	h.mu.Unlock()
	if err != nil {
		f.log.Error("fabric could not restart its embedded server; trying again after the backoff", "reason", reason, "err", err,
			"retry_at", next.Format(time.RFC3339))
		return
	}
	f.log.Info("fabric restarted its embedded server", "reason", reason, "took", time.Since(began).Round(time.Millisecond))
}

// relaunch replaces the server by a new one on the same options. Once
// begun it runs to its end (at most readyTimeout and the stream check)
// even when the watch's context ends meanwhile, so that a stopping
// daemon keeps a server; only Close cuts it short.
func (f *Fabric) relaunch() error {
	old := f.server()
	// No in-process connection to the old server while it shuts down: a
	// pipe it opens then may never answer.
	f.swapping.Store(true)
	defer f.swapping.Store(false)
	old.Shutdown() // flushes the store
	old.WaitForShutdown()
	lctx := f.life
	srv, so, err := f.launch(lctx, f.opts)
	if err != nil {
		return err
	}
	f.srvMu.Lock()
	f.srv, f.so = srv, so
	f.srvMu.Unlock()
	f.swapping.Store(false)
	if f.clustered {
		select {
		case f.kick <- struct{}{}: // keepStream checks the stream again
		default:
		}
		return nil
	}
	// The store brings the stream back; create it only if it did not
	// (its configuration has not changed since Start).
	// Short attempts: a request sent while the connection moves to the
	// new server can go unanswered.
	deadline := time.Now().Add(2 * apiTimeout)
	for {
		actx, acancel := context.WithTimeout(lctx, time.Second)
		_, err = f.adminJS.Stream(actx, StreamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			cfg, _ := f.wantedStream()
			_, err = f.adminJS.CreateStream(actx, cfg)
		}
		acancel()
		if err == nil {
			return nil
		}
		if lctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("stream %s after the restart: %w", StreamName, err)
		}
		t := time.NewTimer(firstRetryWait)
		select {
		case <-lctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// reset points the gate at a new server and forgets the old one's
// connections (their ids mean nothing to the new server).
func (g *gate) reset(srv *server.Server) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.srv = srv
	clear(g.conns)
}

// currentServer hands the in-process connections a pipe to whichever server
// runs now, so that they reconnect to a restarted one.
type currentServer struct{ f *Fabric }

// InProcessConn fails while the old server is shut down and the new one
// not yet in place; nats.go then tries again.
func (p currentServer) InProcessConn() (net.Conn, error) {
	if p.f.swapping.Load() {
		return nil, errors.New("the embedded server is restarting")
	}
	return p.f.server().InProcessConn()
}
