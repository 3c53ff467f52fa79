package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	static := http.StripPrefix("/ui/static/", http.FileServerFS(staticFS()))
	m.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		static.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /ui/login", c.loginPage)
	m.HandleFunc("POST /ui/login", c.loginPost)
	m.HandleFunc("POST /ui/login-link", c.mintLink)
	m.HandleFunc("POST /ui/logout", c.logout)
	m.HandleFunc("GET /ui/{$}", c.viewer(c.livePage))
	m.HandleFunc("GET /ui/events", c.viewer(c.events))
	m.HandleFunc("GET /ui/alliance", c.viewer(c.alliancePage))
	m.HandleFunc("GET /ui/attacks", c.viewer(c.attacksPage))
	m.HandleFunc("GET /ui/explain", c.viewer(c.explainPage))
	m.HandleFunc("GET /ui/act", c.viewer(c.actPage))
	m.HandleFunc("GET /ui/sources", c.viewer(c.sourcesPage))
	m.HandleFunc("POST /ui/act/ban", c.admin(c.ban))
	m.HandleFunc("POST /ui/act/pardon", c.admin(c.pardon))
	m.HandleFunc("POST /ui/bouncers/add", c.admin(c.addBouncer))
	m.HandleFunc("POST /ui/bouncers/delete", c.admin(c.deleteBouncer))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return m
}

// viewer serves h to any signed-in session; others go to the sign-in page.
func (c *Console) viewer(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.auth.session(r)
		if !ok {
			if r.URL.Path == "/ui/events" {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// maxForm bounds a form post's body.
const maxForm = 16 << 10

// admin serves h to a form post from an admin session of this console,
// with its CSRF token; anything else changes nothing and is counted.
func (c *Console) admin(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		s, ok := c.auth.session(r)
		if !ok {
			c.ctr.forbidden.Add(1)
			http.Error(w, "sign in first", http.StatusForbidden)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !checkCSRF(r, s) {
			c.ctr.csrf.Add(1)
			c.log.Info("console: refused a change without this console's CSRF token or from another origin", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
			http.Error(w, "refused: this change did not come from this console's own page (CSRF)", http.StatusForbidden)
			return
		}
		if s.role != roleAdmin {
			c.ctr.forbidden.Add(1)
			c.render(w, http.StatusForbidden, "message", s, pageData{Title: "read-only", Refused: "this session is read-only: sign in with the admin token to change anything"}, messageContent)
			return
		}
		h(w, r, s)
	}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("t"); t != "" {
		role, ok := c.auth.useLink(t)
		if !ok {
			c.ctr.linksRefused.Add(1)
			c.render(w, http.StatusForbidden, "login", nil, pageData{Title: "sign in", Refused: "this login link is expired, already used or wrong: run `phalanx console` for a new one"}, loginContent)
			return
		}
		c.signIn(w, r, role)
		return
	}
	c.render(w, http.StatusOK, "login", nil, pageData{Title: "sign in"}, loginContent)
}

func (c *Console) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !sameOrigin(r) {
		c.ctr.csrf.Add(1)
		http.Error(w, "refused: sign in from this console's own page", http.StatusForbidden)
		return
	}
	role := c.auth.roleOf(r.PostFormValue("token"))
	if role == "" {
		c.ctr.loginsRefused.Add(1)
		c.render(w, http.StatusForbidden, "login", nil, pageData{Title: "sign in", Refused: "wrong token: give the admin token (admin.token in the data directory) or the read-only one (console-readonly.token)"}, loginContent)
		return
	}
	c.signIn(w, r, role)
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request, role string) {
	id, _ := c.auth.newSession(role)
	c.ctr.logins.Add(1)
	c.log.Info("console: signed in", "role", role, "remote", r.RemoteAddr)
	c.auth.setCookie(w, r, id)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	s, ok := c.auth.session(r)
	if ok && r.ParseForm() == nil && checkCSRF(r, s) {
		c.auth.endSession(r)
		c.auth.clearCookie(w, r)
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// mintLink answers the admin API (bearer admin token) with a one-time
// login link: {"path": "/ui/login?t=…", "expires": …}. ?role=viewer makes a
// read-only one.
func (c *Console) mintLink(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || c.auth.roleOf(tok) != roleAdmin {
		c.ctr.forbidden.Add(1)
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "give the admin token (Authorization: Bearer TOKEN)"})
		return
	}
	role := roleAdmin
	switch r.URL.Query().Get("role") {
	case "", roleAdmin:
	case roleViewer, "read-only":
		role = roleViewer
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "role: give admin or viewer"})
		return
	}
	s, exp, err := c.auth.mintLink(role)
	if err != nil {
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": err.Error()})
		return
	}
	c.ctr.linksMinted.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{"path": "/ui/login?t=" + s, "role": role, "expires": exp.UTC()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// liveData is the live page.
type liveData struct {
	Rows   []Row
	Status Status
}

func (c *Console) livePage(w http.ResponseWriter, r *http.Request, s *session) {
	d := liveData{Rows: c.live.snapshot(100), Status: c.b.Status()}
	c.render(w, http.StatusOK, "live", s, pageData{}, func(p *page) { liveContent(p, d) })
}

// events streams row changes as server-sent events.
func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) {
	ch := c.live.subscribe()
	if ch == nil {
		http.Error(w, "too many live streams are open", http.StatusServiceUnavailable)
		return
	}
	defer c.live.unsubscribe(ch)
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts (a read
	// deadline passing would end the request's context).
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: hello\n\n")
	// The newest rows first (oldest of them first): a browser that
	// reconnects catches up with what it missed.
	rows := c.live.snapshot(50)
	for i := len(rows) - 1; i >= 0; i-- {
		if msg, err := json.Marshal(&rows[i]); err == nil {
			fmt.Fprintf(w, "event: row\ndata: %s\n\n", msg)
		}
	}
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(w, "event: row\ndata: %s\n\n", msg); err != nil || rc.Flush() != nil {
				return
			}
		case <-beat.C:
			if _, ok := c.auth.session(r); !ok {
				return // signed out or expired
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": beat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// allianceData is the alliance page.
type allianceData struct {
	Status      Status
	Console     Counters
	Propagation Propagation
	Rates       []memberRate
	Since       time.Time // when sampling began
}

func (c *Console) alliancePage(w http.ResponseWriter, r *http.Request, s *session) {
	now := c.now()
	d := allianceData{Status: c.b.Status(), Console: c.Counters(), Propagation: c.live.propagation(now.Add(-time.Hour)), Since: c.rates.sinceTime()}
	ids, names := make([]string, 0, len(d.Status.Members)), map[string]string{}
	for _, m := range d.Status.Members {
		ids, names[m.ID] = append(ids, m.ID), m.Name
	}
	d.Rates = c.rates.members(now, ids, names)
	c.render(w, http.StatusOK, "alliance", s, pageData{}, func(p *page) { allianceContent(p, d) })
}

// Windows the attacks page offers.
var windows = map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour}

// count is one line of a top list.
type count struct {
	Name string
	N    int
	Max  int
}

// bar is one bucket of a time series, drawn as an SVG rect.
type bar struct {
	X, Y, H, W int
	Label      string
}

type attacksData struct {
	Window                                string
	Windows                               []string
	Detections, Bans                      int
	Sources, Scenarios, Services, Members []count
	Repeat                                []count
	Series                                []bar
	SeriesMax                             int
}

func top(m map[string]int, n int) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{Name: k, N: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || out[i].N == out[j].N && out[i].Name < out[j].Name })
	if len(out) > n {
		out = out[:n]
	}
	for i := range out {
		out[i].Max = out[0].N
	}
	return out
}

// parseWindow reads ?window=, one of windows; default 1h.
func parseWindow(q url.Values) (string, time.Duration) {
	w := q.Get("window")
	if d, ok := windows[w]; ok {
		return w, d
	}
	return "1h", time.Hour
}

func (c *Console) attacksPage(w http.ResponseWriter, r *http.Request, s *session) {
	name, win := parseWindow(r.URL.Query())
	now := c.now()
	from := now.Add(-win)
	src, scen, svc, mem, bans := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	const buckets = 60
	step := win / buckets
	det := make([]int, buckets)
	names := map[string]string{}
	d := attacksData{Window: name, Windows: []string{"15m", "1h", "6h", "24h"}}
	for _, e := range c.b.Recent(10000) {
		if e.MemberName != "" {
			names[e.Member] = e.MemberName
		}
		if e.Time.Before(from) || e.Time.After(now.Add(time.Minute)) { // other members' clocks may be a little ahead
			continue
		}
		switch e.What {
		case "report":
			if e.Scenario == "manual" {
				continue
			}
			d.Detections++
			src[e.Value]++
			scen[e.Scenario]++
			svc[serviceOf(e.Scenario)]++
			mem[e.Member]++
			det[min(int(e.Time.Sub(from)/step), buckets-1)]++
		case "decision":
			d.Bans++
			bans[e.Value]++
		}
	}
	members := map[string]int{}
	for id, n := range mem {
		members[nameOr(names, id)] = n
	}
	repeat := map[string]int{}
	for v, n := range bans {
		if n > 1 {
			repeat[v] = n
		}
	}
	d.Sources, d.Scenarios, d.Services, d.Members, d.Repeat = top(src, 20), top(scen, 20), top(svc, 10), top(members, 10), top(repeat, 20)
	for _, n := range det {
		d.SeriesMax = max(d.SeriesMax, n)
	}
	for i, n := range det {
		h := 0
		if d.SeriesMax > 0 {
			h = n * 100 / d.SeriesMax
		}
		d.Series = append(d.Series, bar{X: i * 10, Y: 100 - h, H: h, W: 8,
			Label: fmt.Sprintf("%s: %d", from.Add(time.Duration(i)*step).UTC().Format("15:04"), n)})
	}
	c.render(w, http.StatusOK, "attacks", s, pageData{}, func(p *page) { attacksContent(p, d) })
}

func (c *Console) explainPage(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := netip.ParseAddr(strings.TrimSpace(r.URL.Query().Get("addr")))
	if err != nil {
		c.render(w, http.StatusBadRequest, "explain", s, pageData{Title: "explain", Refused: "give an IP address"}, func(p *page) { explainContent(p, nil) })
		return
	}
	ex := c.b.Explain(a.Unmap())
	c.render(w, http.StatusOK, "explain", s, pageData{Title: "explain " + ex.Address}, func(p *page) { explainContent(p, &ex) })
}

// pageSize is how many decisions one page of the act view shows.
const pageSize = 50

// MaxDepth bounds how deep into one order the act view pages: each page
// of a sorted view is chosen from every matching decision, keeping the
// first MaxDepth in order. A Backend is never asked for decisions past it.
const MaxDepth = 10_000

// Sort orders of the decisions, by column.
const (
	SortID       = "id"
	SortValue    = "value"
	SortOrigin   = "origin"
	SortScenario = "scenario"
	SortReason   = "reason"
	SortStart    = "start" // the default, newest first
	SortUntil    = "until"
)

// column is a column of the decision table: its sort key, its header,
// and whether it sorts descending first.
type column struct {
	key   string
	label markup
	desc  bool
}

// columns are the decision table's columns in order.
var columns = []column{
	{SortID, "Id", true}, {SortValue, "Value", false}, {SortOrigin, "Origin", false}, {SortScenario, "Scenario", false},
	{SortReason, "Reason", false}, {SortStart, "Started", true}, {SortUntil, "Until", true},
}

// search is a parsed decision search.
type search struct {
	Text  string
	Page  int
	Query Query
}

// values is the search as a query string, on page n.
func (s search) values(page int) url.Values {
	v := url.Values{}
	if s.Text != "" {
		v.Set("q", s.Text)
	}
	if s.Query.Sort != SortStart || !s.Query.Desc {
		v.Set("sort", s.Query.Sort)
		v.Set("order", order(s.Query.Desc))
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v
}

func order(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}

// parseSearch reads ?q= (an address, a range, or a word of a scenario,
// origin or reason), ?sort= (a column), ?order= (asc or desc) and ?page=
// (from 1); a bad one is an error to show.
func parseSearch(v url.Values) (search, error) {
	s := search{Text: strings.TrimSpace(v.Get("q")), Page: 1}
	bad := search{Page: 1, Query: Query{Limit: pageSize, Sort: SortStart, Desc: true}}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			return bad, errors.New("page: give a number from 1")
		}
		if (n-1)*pageSize >= MaxDepth {
			return bad, fmt.Errorf("page %d: only the first %d decisions of an order are paged; sort the other way or narrow the search", n, MaxDepth)
		}
		s.Page = n
	}
	if len(s.Text) > 200 || !utf8.ValidString(s.Text) {
		return bad, errors.New("search: at most 200 characters of text")
	}
	s.Query = Query{Offset: (s.Page - 1) * pageSize, Limit: pageSize, Sort: SortStart, Desc: true}
	if k := v.Get("sort"); k != "" {
		i := slices.IndexFunc(columns, func(c column) bool { return c.key == k })
		if i < 0 {
			return bad, fmt.Errorf("sort: give one of id, value, origin, scenario, reason, start, until")
		}
		s.Query.Sort, s.Query.Desc = k, columns[i].desc
	}
	switch v.Get("order") {
	case "":
	case "asc":
		s.Query.Desc = false
	case "desc":
		s.Query.Desc = true
	default:
		return bad, errors.New("order: give asc or desc")
	}
	switch t := s.Text; {
	case t == "":
	case strings.Contains(t, "/"):
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return bad, fmt.Errorf("search: %q is not a range such as 203.0.113.0/24", t)
		}
		s.Query.Prefix = p.Masked()
	default:
		if a, err := netip.ParseAddr(t); err == nil {
			s.Query.Addr = a.Unmap()
		} else {
			s.Query.Word = strings.ToLower(t)
		}
	}
	return s, nil
}

type actData struct {
	Search     search
	Page       Page
	Pages      int
	Prev, Next string
	Bouncers   []Bouncer
	NewKey     string // a bouncer key, shown once
	NewBouncer string
	Value      string // the form's last value
}

func (c *Console) actPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderAct(w, r, s, http.StatusOK, pageData{}, actData{})
}

func (c *Console) renderAct(w http.ResponseWriter, r *http.Request, s *session, code int, pd pageData, d actData) {
	q := r.URL.Query()
	srch, err := parseSearch(q)
	if err != nil {
		pd.Refused, code = err.Error(), http.StatusBadRequest
	}
	d.Search = srch
	d.Page = c.b.Decisions(srch.Query)
	d.Pages = max(1, min((d.Page.Total+pageSize-1)/pageSize, MaxDepth/pageSize))
	if srch.Page > 1 {
		d.Prev = href("/ui/act", srch.values(srch.Page-1))
	}
	if srch.Page < d.Pages {
		d.Next = href("/ui/act", srch.values(srch.Page+1))
	}
	d.Bouncers = c.b.Bouncers()
	c.render(w, code, "act", s, pd, func(p *page) { actContent(p, d) })
}

// refusal renders a refused action with its reason.
func (c *Console) refusal(w http.ResponseWriter, r *http.Request, s *session, err error, d actData) {
	code := http.StatusInternalServerError
	var ae *ActionError
	if errors.As(err, &ae) {
		code = ae.Status
	}
	c.renderAct(w, r, s, code, pageData{Refused: err.Error()}, d)
}

func (c *Console) ban(w http.ResponseWriter, r *http.Request, s *session) {
	value := strings.TrimSpace(r.PostFormValue("value"))
	reason := r.PostFormValue("reason")
	if len(reason) > 256 {
		reason = reason[:256]
	}
	dur := 4 * time.Hour
	if ds := strings.TrimSpace(r.PostFormValue("duration")); ds != "" {
		var err error
		if dur, err = time.ParseDuration(ds); err != nil || dur <= 0 {
			c.refusal(w, r, s, &ActionError{Status: http.StatusBadRequest, Message: fmt.Sprintf("duration %q: give a positive duration such as 4h or 90m", ds)}, actData{Value: value})
			return
		}
	}
	x, err := c.b.Ban(r.Context(), value, dur, reason)
	if err != nil {
		c.log.Info("console: ban refused", "value", value, "err", err)
		c.refusal(w, r, s, err, actData{Value: value})
		return
	}
	c.log.Info("console: ban", "value", x.Value, "until", x.Until)
	c.renderAct(w, r, s, http.StatusCreated, pageData{Flash: fmt.Sprintf("banned %s until %s (decision %d)", x.Value, x.Until.UTC().Format(time.RFC3339), x.ID)}, actData{})
}

func (c *Console) pardon(w http.ResponseWriter, r *http.Request, s *session) {
	value := strings.TrimSpace(r.PostFormValue("value"))
	reason := r.PostFormValue("reason")
	if len(reason) > 256 {
		reason = reason[:256]
	}
	n, err := c.b.Pardon(r.Context(), value, reason)
	if err != nil {
		c.log.Info("console: pardon refused", "value", value, "err", err)
		c.refusal(w, r, s, err, actData{Value: value})
		return
	}
	c.log.Info("console: pardon", "value", value, "lifted", n)
	msg := fmt.Sprintf("pardoned %s: %d decision(s) lifted on every member", value, n)
	if n == 0 {
		msg = fmt.Sprintf("no decision on exactly %s to pardon", value)
	}
	c.renderAct(w, r, s, http.StatusOK, pageData{Flash: msg}, actData{})
}

func (c *Console) addBouncer(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	alliance := r.PostFormValue("alliance") == "on"
	key, err := c.b.AddBouncer(name, alliance)
	if err != nil {
		c.refusal(w, r, s, err, actData{})
		return
	}
	c.log.Info("console: bouncer added", "name", name, "alliance", alliance)
	c.renderAct(w, r, s, http.StatusCreated, pageData{Flash: "bouncer " + name + " added: copy its key now, it is not shown again"},
		actData{NewKey: key, NewBouncer: name})
}

func (c *Console) deleteBouncer(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PostFormValue("name")
	alliance := r.PostFormValue("alliance") == "true"
	if err := c.b.DeleteBouncer(name, alliance); err != nil {
		c.refusal(w, r, s, err, actData{})
		return
	}
	c.log.Info("console: bouncer deleted", "name", name, "alliance", alliance)
	c.renderAct(w, r, s, http.StatusOK, pageData{Flash: "bouncer " + name + " deleted"}, actData{})
}

type sourcesData struct {
	Sources Sources
	Rates   map[string]sourceRate
	Since   time.Time // when sampling began
	Charter Charter
}

func (c *Console) sourcesPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := sourcesData{Sources: c.b.Sources(), Rates: c.rates.sources(c.now()), Since: c.rates.sinceTime(), Charter: c.b.Charter()}
	c.render(w, http.StatusOK, "sources", s, pageData{}, func(p *page) { sourcesContent(p, d) })
}
