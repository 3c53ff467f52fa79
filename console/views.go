package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var pageNames = []string{"login", "live", "alliance", "attacks", "explain", "act", "sources", "message"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05.000Z")
		},
		"left": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return time.Until(t).Round(time.Second).String()
		},
		"dur":    func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"min6":   func(s string) int { return min(len(s), 6) },
		"isaddr": func(s string) bool { _, err := netip.ParseAddr(s); return err == nil },
		"addrOf": func(s string) string {
			if p, err := netip.ParsePrefix(s); err == nil {
				return p.Addr().String()
			}
			return s
		},
	}
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console page %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// pageData is what every page gets.
type pageData struct {
	Title, Nav string
	Role       string
	Admin      bool
	CSRF       string
	Flash      string
	Refused    string // a refused action and why
	Data       any
}

func (c *Console) render(w http.ResponseWriter, code int, page string, s *session, d pageData) {
	if s != nil {
		d.Role, d.Admin, d.CSRF = s.role, s.role == roleAdmin, s.csrf
	}
	if d.Title == "" {
		d.Title = page
	}
	d.Nav = page
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := c.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		c.log.Warn("console: render", "page", page, "err", err)
	}
}

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
			c.render(w, http.StatusForbidden, "message", s, pageData{Title: "read-only", Refused: "this session is read-only: sign in with the admin token to change anything"})
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
			c.render(w, http.StatusForbidden, "login", nil, pageData{Title: "sign in", Refused: "this login link is expired, already used or wrong: run `phalanx console` for a new one"})
			return
		}
		c.signIn(w, r, role)
		return
	}
	c.render(w, http.StatusOK, "login", nil, pageData{Title: "sign in"})
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
		c.render(w, http.StatusForbidden, "login", nil, pageData{Title: "sign in", Refused: "wrong token: give the admin token (admin.token in the data directory) or the read-only one (console-readonly.token)"})
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
	c.render(w, http.StatusOK, "live", s, pageData{Title: "live", Data: liveData{Rows: c.live.snapshot(100), Status: c.b.Status()}})
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
}

func (c *Console) alliancePage(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, http.StatusOK, "alliance", s, pageData{Title: "alliance", Data: allianceData{Status: c.b.Status(), Console: c.Counters(),
		Propagation: c.live.propagation(c.now().Add(-time.Hour))}})
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
	c.render(w, http.StatusOK, "attacks", s, pageData{Title: "attacks", Data: d})
}

func (c *Console) explainPage(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := netip.ParseAddr(strings.TrimSpace(r.URL.Query().Get("addr")))
	if err != nil {
		c.render(w, http.StatusBadRequest, "explain", s, pageData{Title: "explain", Refused: "give an IP address"})
		return
	}
	ex := c.b.Explain(a.Unmap())
	c.render(w, http.StatusOK, "explain", s, pageData{Title: "explain " + ex.Address, Data: ex})
}

// pageSize is how many decisions one page of the act view shows.
const pageSize = 50

// search is a parsed decision search.
type search struct {
	Text  string
	Page  int
	Query Query
}

// parseSearch reads ?q= (an address, a range, or a word of a scenario,
// origin or reason) and ?page= (from 1); a bad one is an error to show.
func parseSearch(v url.Values) (search, error) {
	s := search{Text: strings.TrimSpace(v.Get("q")), Page: 1}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			return search{Page: 1}, errors.New("page: give a number from 1")
		}
		s.Page = n
	}
	if len(s.Text) > 200 || !utf8.ValidString(s.Text) {
		return search{Page: 1}, errors.New("search: at most 200 characters of text")
	}
	s.Query = Query{Offset: (s.Page - 1) * pageSize, Limit: pageSize}
	switch t := s.Text; {
	case t == "":
	case strings.Contains(t, "/"):
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return search{Page: 1}, fmt.Errorf("search: %q is not a range such as 203.0.113.0/24", t)
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
	c.renderAct(w, r, s, http.StatusOK, pageData{})
}

func (c *Console) renderAct(w http.ResponseWriter, r *http.Request, s *session, code int, pd pageData) {
	d, _ := pd.Data.(actData)
	q := r.URL.Query()
	srch, err := parseSearch(q)
	if err != nil {
		pd.Refused, code = err.Error(), http.StatusBadRequest
	}
	d.Search = srch
	d.Page = c.b.Decisions(srch.Query)
	d.Pages = max(1, (d.Page.Total+pageSize-1)/pageSize)
	link := func(p int) string {
		return "/ui/act?" + url.Values{"q": {srch.Text}, "page": {strconv.Itoa(p)}}.Encode()
	}
	if srch.Page > 1 {
		d.Prev = link(srch.Page - 1)
	}
	if srch.Page < d.Pages {
		d.Next = link(srch.Page + 1)
	}
	d.Bouncers = c.b.Bouncers()
	pd.Title, pd.Data = "act", d
	c.render(w, code, "act", s, pd)
}

// refusal renders a refused action with its reason.
func (c *Console) refusal(w http.ResponseWriter, r *http.Request, s *session, err error, d actData) {
	code := http.StatusInternalServerError
	var ae *ActionError
	if errors.As(err, &ae) {
		code = ae.Status
	}
	c.renderAct(w, r, s, code, pageData{Refused: err.Error(), Data: d})
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
	c.renderAct(w, r, s, http.StatusCreated, pageData{Flash: fmt.Sprintf("banned %s until %s (decision %d)", x.Value, x.Until.UTC().Format(time.RFC3339), x.ID)})
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
	c.renderAct(w, r, s, http.StatusOK, pageData{Flash: msg})
}

func (c *Console) addBouncer(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	key, err := c.b.AddBouncer(name)
	if err != nil {
		c.refusal(w, r, s, err, actData{})
		return
	}
	c.log.Info("console: bouncer added", "name", name)
	c.renderAct(w, r, s, http.StatusCreated, pageData{Flash: "bouncer " + name + " added: copy its key now, it is not shown again",
		Data: actData{NewKey: key, NewBouncer: name}})
}

func (c *Console) deleteBouncer(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PostFormValue("name")
	if err := c.b.DeleteBouncer(name); err != nil {
		c.refusal(w, r, s, err, actData{})
		return
	}
	c.log.Info("console: bouncer deleted", "name", name)
	c.renderAct(w, r, s, http.StatusOK, pageData{Flash: "bouncer " + name + " deleted"})
}

type sourcesData struct {
	Sources Sources
	Charter Charter
}

func (c *Console) sourcesPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, http.StatusOK, "sources", s, pageData{Title: "sources", Data: sourcesData{Sources: c.b.Sources(), Charter: c.b.Charter()}})
}
