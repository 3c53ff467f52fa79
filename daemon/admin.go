package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/feed"
	"phalanx/forwardauth"
	"phalanx/pipeline"
	"phalanx/report"
)

// Domain error kinds of the admin API; status maps them to HTTP statuses in
// one place.
var (
	errBadRequest = errors.New("bad request")
	errNotFound   = errors.New("not found")
	errForbidden  = errors.New("forbidden")
	errTerritory  = errors.New("territory")
	errTimeout    = errors.New("timeout")
	errTooLarge   = errors.New("request too large")
)

func status(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errTerritory):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

const maxAdminBody = 1 << 20

// serveRoutes adds what web servers and bouncers use, on the serve
// listener or (without one) the API's: the bouncer API, feeds,
// forward-auth and metrics (already gated, see metricsGate).
func (d *Daemon) serveRoutes(mux *http.ServeMux, metrics http.Handler) {
	mux.Handle("/v1/", d.lapi.Handler())
	mux.Handle("/v1/feeds/", feed.NewOut(d.table, d.keys, d.id.ID, d.now))
	// Forward-auth answers proxies without the admin token; its path is
	// exact, so it wins over the /v1/ subtree.
	fa := forwardauth.New(d.opts.Config.ForwardAuth, d.table, d.now, d.faMet)
	mux.Handle(fa.Path(), fa)
	mux.Handle("GET /metrics", metrics)
}

// handler is the API listener's: the admin API, the console and metrics,
// and the serve routes too when withServe (no serve listener carries them).
func (d *Daemon) handler(withServe bool, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if withServe {
		d.serveRoutes(mux, metrics)
	} else {
		mux.Handle("GET /metrics", metrics)
	}
	admin := http.NewServeMux()
	admin.HandleFunc("GET /api/status", d.apiStatus)
	admin.HandleFunc("GET /api/decisions", d.apiDecisions)
	admin.HandleFunc("POST /api/decisions", d.apiAddDecision)
	admin.HandleFunc("POST /api/decisions/import", d.apiImportDecisions)
	admin.HandleFunc("DELETE /api/decisions", d.apiDeleteDecision)
	admin.HandleFunc("GET /api/bouncers", d.apiBouncers)
	admin.HandleFunc("POST /api/bouncers", d.apiAddBouncer)
	admin.HandleFunc("DELETE /api/bouncers/{name}", d.apiDeleteBouncer)
	admin.HandleFunc("GET /api/explain", d.apiExplain)
	admin.HandleFunc("GET /api/charter", d.apiCharter)
	admin.HandleFunc("PUT /api/charter/fleet", d.apiSetFleet)
	admin.HandleFunc("DELETE /api/alliance/members/{id}", d.apiRemoveMember)
	admin.HandleFunc("GET /api/alerts", d.apiRecent("alert"))
	admin.HandleFunc("GET /api/reports", d.apiRecent("report"))
	admin.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, fmt.Errorf("%w: no such route %s %s", errNotFound, r.Method, r.URL.Path))
	})
	mux.Handle("/api/", d.auth(admin))
	mux.Handle("/ui/", d.console())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	})
	return mux
}

func (d *Daemon) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + d.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeErr(w, fmt.Errorf("%w: give the admin token (Authorization: Bearer TOKEN; the CLI reads it from the data directory or PHALANX_TOKEN)", errForbidden))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	writeJSON(w, status(err), map[string]string{"message": err.Error()})
}

// decodeBody decodes a JSON request body strictly; a body over the limit is
// errTooLarge (413).
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, tooBig.Limit)
		}
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object; send one object", errBadRequest)
	}
	return nil
}

// Status is what `phalanx status` shows.
type Status struct {
	Member      string                      `json:"member"`
	Charter     string                      `json:"charter"`
	Alliance    string                      `json:"alliance"`
	Members     int                         `json:"members"`
	Uptime      string                      `json:"uptime"`
	Enforce     string                      `json:"enforce"`
	EnforceWhy  string                      `json:"enforce_note,omitempty"`
	Decisions   int                         `json:"decisions"`
	Sources     []string                    `json:"sources"`
	SourceStats map[string]map[string]int64 `json:"source_stats,omitempty"` // the journal's and syslog receivers' own counters
	Pipeline    map[string]int64            `json:"pipeline"`
	// Crawlers are the checks of claimed search-engine crawlers
	// (forward-confirmed reverse DNS); absent when http.resolver is off.
	Crawlers map[string]int64 `json:"crawler_checks,omitempty"`
	// Sightings are this member's sighting reports: published, the
	// sources they named, sources left out of a full batch, pending.
	Sightings map[string]int64 `json:"sightings"`
	// API: connections open and refused for the API listener's bounds (and
	// the serve listener's, serve_connections and serve_refused).
	API       map[string]int64  `json:"api,omitempty"`
	Reports   map[string]int64  `json:"reports"`
	Rejected  map[string]int64  `json:"rejected_by_reason"`
	FabricSeq uint64            `json:"fabric_last_seq"`                // the last stream sequence this member has judged
	Leader    string            `json:"fabric_stream_leader,omitempty"` // member id whose server leads the report stream, as of the last 2 s ("" when none)
	Reloads   int64             `json:"config_reloads"`
	Feeds     []feed.FeedStatus `json:"feeds,omitempty"`
	// Roster is every member of the charter as this member sees it:
	// connected or not, lag, last report, round trip.
	Roster []MemberStatus `json:"roster"`
	// FabricNoise is what strangers, guests and slow peers made the
	// fabric count since start (see fabric.Noise): auth_failures,
	// tls_failures, slow_consumers, permission_violations,
	// join_requests_dropped, lines_not_logged; absent without a fabric.
	FabricNoise map[string]uint64 `json:"fabric_noise,omitempty"`

	// Enforcement is the enforcement queue's counters (queued, waiting,
	// coalesced, overflowed, transactions, elements, reconciles,
	// failures; absent without an enforcer), the cap on decisions
	// (max_decisions, decisions_dropped) and detection's hand-over of its
	// own bans (self_bans_queued, self_bans_waiting, self_bans_batches,
	// self_bans_full: the queue was full and detection drained it itself).
	Enforcement map[string]int64 `json:"enforcement"`

	// FabricHealth is the embedded NATS server's health as the fabric's
	// watch sees it (see fabric.Health).
	FabricHealth FabricHealth `json:"fabric_health"`

	// DataDir is the watch of charter.yaml and fabric.secret: what differs
	// from what the member verified and holds (tamper.go).
	DataDir DataDirStatus `json:"data_dir"`
}

// FabricHealth is fabric.Health as the admin API shows it.
type FabricHealth struct {
	OK       bool       `json:"ok"`
	Problem  string     `json:"problem,omitempty"` // what is wrong now
	Since    *time.Time `json:"since,omitempty"`   // since when
	Restarts int64      `json:"restarts"`          // restarts of the embedded server
	Failed   int64      `json:"failed_restarts"`   // restarts that did not bring it up
	// LastRestart and LastReason: when the last restart began, and why.
	LastRestart *time.Time `json:"last_restart,omitempty"`
	LastReason  string     `json:"last_restart_reason,omitempty"`
}

// fabricHealth reads the fabric's health.
func (d *Daemon) fabricHealth() FabricHealth {
	if d.fab == nil {
		return FabricHealth{}
	}
	h := d.fab.Health()
	fh := FabricHealth{OK: h.OK(), Problem: h.Problem, Restarts: h.Restarts, Failed: h.Failed, LastReason: h.LastReason}
	if h.Restarting {
		fh.Problem = "restarting: " + h.LastReason
	}
	if !h.Since.IsZero() {
		fh.Since = &h.Since
	}
	if !h.LastRestart.IsZero() {
		fh.LastRestart = &h.LastRestart
	}
	return fh
}

func (d *Daemon) status() Status {
	d.pipeMu.Lock()
	c := d.pipe.Counters()
	var crawl map[string]int64
	if d.crawl != nil {
		cs := d.crawl.Stats()
		crawl = map[string]int64{"lookups": int64(cs.Lookups), "verified": int64(cs.Verified), "fake": int64(cs.Fake),
			"failed": int64(cs.Failed), "timeouts": int64(cs.Timeouts), "cache_hits": int64(cs.CacheHits),
			"dropped": int64(cs.Dropped), "pending": int64(cs.Pending), "cached": int64(cs.Cached)}
	}
	d.pipeMu.Unlock()
	seq := d.consumed.Load() // not the fabric's LastSeq: that blocks while the stream has no majority
	cs := d.charter()
	leader, _ := d.leader.Load().(string)
	st := Status{
		Member: d.id.ID, Charter: cs.hash, Alliance: cs.c.Name, Members: len(cs.c.Members),
		Uptime: d.now().Sub(d.start).Round(time.Second).String(), Enforce: d.enforceMode(), EnforceWhy: d.enfErr,
		Decisions: d.table.Len(), Sources: d.srcs.paths(), SourceStats: d.srcs.stats(), FabricSeq: seq, Leader: leader, Reloads: d.reloads.Load(),
		Pipeline: map[string]int64{"lines": c.Lines, "events": c.Events, "alerts": c.Alerts, "decisions": c.Decisions,
			"refused": c.Refused, "skipped": c.SkippedTotal(), "out_of_order": c.OutOfOrder, "repeated": c.Repeated, "twins": c.Twins, "no_client": c.Skipped[pipeline.SkipNoClient],
			"self_bans": d.ctr.selfBans.Load()},
		Reports: map[string]int64{"published": d.ctr.published.Load(), "publish_errors": d.ctr.publishErr.Load(),
			"consumed": d.ctr.consumed.Load(), "duplicates": d.ctr.duplicate.Load(), "decided": d.ctr.decided.Load(),
			"digests_compared": d.ctr.digests.Load(), "digest_mismatches": d.ctr.mismatches.Load(),
			"digest_repairs": d.ctr.digestRepairs.Load(), "digest_unrepaired": d.ctr.digestUnrepaired.Load(),
			"pardoned": d.ctr.pardoned.Load(), "pending": d.ctr.pending.Load(), "corroborated": d.ctr.corroborated.Load(), "sightings": d.ctr.sightings.Load(), "fleet_bans": d.ctr.fleetBans.Load(), "refused": d.ctr.refused.Load(),
			"rejected": d.ctr.rejected.Load(), "enforce_errors": d.ctr.enforceErr.Load(), "firewall_restores": d.ctr.restores.Load()},
		Sightings: d.sightings.Counters(),
		Rejected:  map[string]int64{},
		Crawlers:  crawl,
	}
	d.psnap.addStatus(st.Reports) // peersnapshot.go
	st.Roster = d.roster(&cs.c)
	st.Enforcement = d.enforcementCounts()
	st.FabricHealth = d.fabricHealth()
	st.DataDir = d.dataDirStatus() // tamper.go
	if d.feeds != nil {
		st.Feeds = d.feeds.Status()
	}
	if d.apiLn != nil {
		open, refused := d.apiLn.counts()
		st.API = map[string]int64{"connections": open, "refused": refused}
		if d.serveLn != nil {
			open, refused := d.serveLn.counts()
			st.API["serve_connections"], st.API["serve_refused"] = open, refused
		}
	}
	d.rejMu.Lock()
	for k, v := range d.rejByReason {
		st.Rejected[k] = v
	}
	d.rejMu.Unlock()
	st.FabricNoise = d.fabricNoise()
	return st
}

// fabricNoise reads the fabric's noise counters, or nil without a fabric.
func (d *Daemon) fabricNoise() map[string]uint64 {
	if d.fab == nil {
		return nil
	}
	n := d.fab.Noise()
	return map[string]uint64{"auth_failures": n.AuthFailures, "tls_failures": n.TLSFailures,
		"slow_consumers": n.SlowConsumers, "permission_violations": n.PermissionViolations,
		"join_requests_dropped": n.JoinRequestsDropped, "lines_not_logged": n.LinesNotLogged}
}

func (d *Daemon) apiStatus(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, d.status()) }

// DecisionView is a decision as the admin API shows it.
type DecisionView struct {
	ID       uint64    `json:"id"`
	Origin   string    `json:"origin"`
	Type     string    `json:"type"`
	Scope    string    `json:"scope"`
	Value    string    `json:"value"`
	Scenario string    `json:"scenario"`
	Reason   string    `json:"reason,omitempty"`
	Start    time.Time `json:"start"`
	Until    time.Time `json:"until"`
	Duration string    `json:"duration"` // remaining
}

func view(x phalanx.Decision, now time.Time) DecisionView {
	v := x.Value.String()
	if x.Value.IsSingleIP() {
		v = x.Value.Addr().String()
	}
	return DecisionView{ID: x.ID, Origin: string(x.Origin), Type: x.Type, Scope: x.Scope(), Value: v,
		Scenario: x.Scenario, Reason: x.Reason, Start: x.Start, Until: x.Until,
		Duration: x.Until.Sub(now).Round(time.Second).String()}
}

func (d *Daemon) apiDecisions(w http.ResponseWriter, r *http.Request) {
	now := d.now()
	out := []DecisionView{}
	var filter netip.Addr
	if s := r.URL.Query().Get("ip"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			writeErr(w, fmt.Errorf("%w: ip %q is not an address", errBadRequest, s))
			return
		}
		filter = phalanx.Normalize(a)
	}
	if filter.IsValid() {
		for _, x := range d.table.Covering(filter, now) {
			out = append(out, view(x, now))
		}
	} else {
		d.table.All(func(x phalanx.Decision) bool {
			if x.Active(now) {
				out = append(out, view(x, now))
			}
			return true
		})
	}
	writeJSON(w, 200, out)
}

// AddRequest is the body of POST /api/decisions.
type AddRequest struct {
	Value    string `json:"value"`    // address or CIDR range
	Duration string `json:"duration"` // Go duration, default 4h
	Reason   string `json:"reason"`
	Type     string `json:"type"` // only "ban"
}

func parseValue(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		p, _ = phalanx.NormalizePrefix(p)
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q is neither an address nor a CIDR range", errBadRequest, s)
	}
	a = phalanx.Normalize(a)
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (d *Daemon) apiAddDecision(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	p, err := parseValue(req.Value)
	if err != nil {
		writeErr(w, err)
		return
	}
	if req.Type != "" && req.Type != "ban" {
		writeErr(w, fmt.Errorf("%w: type %q: only ban is supported", errBadRequest, req.Type))
		return
	}
	dur := 4 * time.Hour
	if req.Duration != "" {
		if dur, err = time.ParseDuration(req.Duration); err != nil || dur <= 0 {
			writeErr(w, fmt.Errorf("%w: duration %q: give a positive duration such as 4h or 90m", errBadRequest, req.Duration))
			return
		}
	}
	if d.charter().c.IsTerritory(p) {
		writeErr(w, fmt.Errorf("%w: %s is territory (loopback, a member's address or the charter's territory) and is never banned", errTerritory, p))
		return
	}
	if len(req.Reason) > 256 {
		req.Reason = req.Reason[:256]
	}
	rep := report.Report{Type: report.TypeManual, Time: d.now().UTC(), Scenario: "manual", Value: p, Duration: dur, Reason: req.Reason}
	if err := d.checkManual(rep); err != nil {
		d.log.Info("refused a manual ban", "value", p, "reason", err)
		writeErr(w, err)
		return
	}
	d.enqueue(rep)
	got, err := d.awaitDecision(r, p, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, view(got, d.now()))
}

// checkManual refuses, before anything is signed, a manual ban or pardon
// that the charter in force would refuse: every member's arbiter would
// drop it, and the operator would wait for a decision that never comes.
func (d *Daemon) checkManual(r report.Report) error {
	c := &d.charter().c
	me, _, ok := c.Member(d.id.ID)
	if r.Type == report.TypePardon && (!ok || !c.Policy.MayPardon(me)) {
		return fmt.Errorf("%w: the charter lets only founding members pardon (policy.pardon: %s), and this member is not one: ask a founding member", errForbidden, c.Policy.Pardon)
	}
	if r.Type != report.TypePardon && (!ok || !c.Policy.MayBan(me)) {
		return fmt.Errorf("%w: the charter lets only founding members ban by hand (policy.manual, or policy.pardon when manual is unset), and this member is not one: ask a founding member, or amend the charter with policy.manual: any", errForbidden)
	}
	if c.Limits.TooWide(r.Value) {
		return fmt.Errorf("%w: %s is wider than the charter allows (limits.max_prefix_v4: /%d, max_prefix_v6: /%d at most)",
			errBadRequest, r.Value, c.Limits.MaxPrefixV4, c.Limits.MaxPrefixV6)
	}
	if r.Type == report.TypeManual && r.Duration > c.Policy.ManualMax {
		return fmt.Errorf("%w: duration %v is over the charter's limit for manual bans (policy.manual_max_duration: %v)", errBadRequest, r.Duration, c.Policy.ManualMax)
	}
	check := r
	check.Seq, check.Member = 1, d.id.ID
	if err := check.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// awaitDecision waits until a decision on exactly p is (present) or is not
// (!present) in the table: the report made the round trip through the fabric
// and the arbiter.
func (d *Daemon) awaitDecision(r *http.Request, p netip.Prefix, present bool) (phalanx.Decision, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found phalanx.Decision
		ok := false
		for _, x := range d.table.Covering(p.Addr(), d.now()) {
			if x.Value == p {
				found, ok = x, true
			}
		}
		if ok == present {
			return found, nil
		}
		if time.Now().After(deadline) || r.Context().Err() != nil {
			return found, fmt.Errorf("%w: the report was not decided within 10s (is the fabric healthy? see phalanx status); it is queued and will apply once published", errTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *Daemon) apiDeleteDecision(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var values []netip.Prefix
	switch {
	case q.Get("id") != "":
		id, err := strconv.ParseUint(q.Get("id"), 10, 64)
		if err != nil {
			writeErr(w, fmt.Errorf("%w: id %q is not a number", errBadRequest, q.Get("id")))
			return
		}
		x, ok := d.table.Get(id)
		if !ok {
			writeErr(w, fmt.Errorf("%w: no decision with id %d", errNotFound, id))
			return
		}
		values = append(values, x.Value)
	case q.Get("value") != "":
		p, err := parseValue(q.Get("value"))
		if err != nil {
			writeErr(w, err)
			return
		}
		values = append(values, p)
	default:
		writeErr(w, fmt.Errorf("%w: give value= (address or range) or id=", errBadRequest))
		return
	}
	deleted := 0
	for _, p := range values {
		n := 0
		for _, x := range d.table.Covering(p.Addr(), d.now()) {
			if x.Value == p {
				n++
			}
		}
		if n == 0 {
			continue
		}
		rep := report.Report{Type: report.TypePardon, Time: d.now().UTC(), Scenario: "manual", Value: p, Reason: q.Get("reason")}
		if err := d.checkManual(rep); err != nil {
			d.log.Info("refused a pardon", "value", p, "reason", err)
			writeErr(w, err)
			return
		}
		d.enqueue(rep)
		if _, err := d.awaitDecision(r, p, false); err != nil {
			writeErr(w, err)
			return
		}
		deleted += n
	}
	writeJSON(w, 200, map[string]int{"deleted": deleted})
}

func (d *Daemon) apiBouncers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, d.keys.List())
}

// apiAddBouncer makes a bouncer key: this member's own, or with
// "alliance": true one that every member accepts (a charter amendment,
// on a founding member).
func (d *Daemon) apiAddBouncer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name     string `json:"name"`
		Alliance bool   `json:"alliance,omitempty"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Alliance {
		key, next, err := d.AddAllianceBouncer(req.Name)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"name": req.Name, "api_key": key, "alliance": true, "version": next.Version})
		return
	}
	key, err := d.keys.Add(req.Name)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name, "api_key": key})
}

// apiDeleteBouncer deletes a bouncer key: this member's own, or with
// ?alliance=true an alliance key (a charter amendment).
func (d *Daemon) apiDeleteBouncer(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if r.URL.Query().Get("alliance") == "true" {
		next, err := d.RemoveAllianceBouncer(name)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"deleted": name, "alliance": true, "version": next.Version})
		return
	}
	if err := d.keys.Delete(name); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errNotFound, err))
		return
	}
	writeJSON(w, 200, map[string]string{"deleted": name})
}

// Explanation is what `phalanx explain` prints.
type Explanation struct {
	Address   string         `json:"address"`
	Banned    bool           `json:"banned"`
	Decisions []DecisionView `json:"decisions"`
	Timeline  []entry        `json:"timeline"`
}

func (d *Daemon) apiExplain(w http.ResponseWriter, r *http.Request) {
	s := r.URL.Query().Get("address")
	a, err := netip.ParseAddr(s)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: address %q is not an IP address", errBadRequest, s))
		return
	}
	a = phalanx.Normalize(a)
	now := d.now()
	ex := Explanation{Address: a.String(), Decisions: []DecisionView{}, Timeline: d.timeline.about(a)}
	for _, x := range d.table.Covering(a, now) {
		ex.Decisions = append(ex.Decisions, view(x, now))
	}
	ex.Banned = len(ex.Decisions) > 0
	if ex.Timeline == nil {
		ex.Timeline = []entry{}
	}
	c := &d.charter().c
	for i := range ex.Timeline {
		if m, _, ok := c.Member(ex.Timeline[i].Member); ok {
			ex.Timeline[i].MemberName = m.Name
		}
	}
	writeJSON(w, 200, ex)
}

func (d *Daemon) apiRemoveMember(w http.ResponseWriter, r *http.Request) {
	next, err := d.RemoveMember(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"hash": next.Hash(), "version": next.Version, "members": len(next.Members)})
}

func (d *Daemon) apiCharter(w http.ResponseWriter, r *http.Request) {
	cs := d.charter()
	data, err := cs.c.Marshal()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"hash": cs.hash, "name": cs.c.Name, "yaml": string(data)})
}

// fleetRequest is the body of PUT /api/charter/fleet: Enabled false turns
// the fleet scenarios off; otherwise YAML is the fleet section (empty: the
// defaults).
type fleetRequest struct {
	Enabled bool   `json:"enabled"`
	YAML    string `json:"yaml"`
}

func (d *Daemon) apiSetFleet(w http.ResponseWriter, r *http.Request) {
	var req fleetRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	var f *charter.Fleet
	switch {
	case req.Enabled:
		parsed, err := charter.ParseFleet([]byte(req.YAML))
		if err != nil {
			writeErr(w, fmt.Errorf("%w: fleet section: %v", errBadRequest, err))
			return
		}
		f = &parsed
	case req.YAML != "":
		writeErr(w, fmt.Errorf("%w: a fleet section was given with enabled false; send one or the other", errBadRequest))
		return
	}
	next, err := d.SetFleet(f)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"hash": next.Hash(), "version": next.Version, "fleet": next.Fleet != nil})
}

// apiRecent lists the most recent timeline entries of one kind (alerts, or
// reports with their evidence), newest last; ?limit= bounds them (default 100).
func (d *Daemon) apiRecent(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 10000 {
				writeErr(w, fmt.Errorf("%w: limit %q: give a number from 1 to 10000", errBadRequest, s))
				return
			}
			limit = n
		}
		out := d.timeline.recent(what, limit)
		if out == nil {
			out = []entry{}
		}
		writeJSON(w, 200, out)
	}
}
