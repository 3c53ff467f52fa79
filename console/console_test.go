package console

import (
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	adminTok  = "admin-token-0123456789abcdef0123456789"
	viewerTok = "viewer-token-0123456789abcdef012345678"
	xssUser   = `<img src=x onerror=alert(1)>`
	xssAgent  = `Mozilla/5.0 </script><script>alert(2)</script>`
)

// fakeBackend records changes and serves canned data.
type fakeBackend struct {
	mu       sync.Mutex
	bans     []string
	pardons  []string
	bouncers []string
	refuse   error
	entries  []Entry
	subs     []chan Entry
	queries  []Query // asked of Decisions
	total    int     // Decisions' Total; 0 for 1
	totals   Totals
}

func (f *fakeBackend) Status() Status {
	return Status{Member: "m-a", MemberName: "alpha", Alliance: "test", Charter: "abc", Decisions: 1,
		Members:  []Member{{ID: "m-a", Name: "alpha", Self: true, Founding: true}, {ID: "m-b", Name: "beta"}},
		Rejected: map[string]int64{"forged": 2, "territory": 1}}
}

func (f *fakeBackend) Decisions(q Query) Page {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	total := max(f.total, 1)
	f.mu.Unlock()
	all := []Decision{{ID: 1, Origin: "alliance", Type: "ban", Value: "203.0.113.9", Scenario: "ssh-bf", Reason: xssUser,
		Start: time.Now(), Until: time.Now().Add(time.Hour)}}
	if q.Offset > 0 {
		return Page{Total: total}
	}
	return Page{Items: all, Total: total}
}

func (f *fakeBackend) lastQuery() Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

func (f *fakeBackend) Explain(a netip.Addr) Explanation {
	return Explanation{Address: a.String(), Banned: true, Timeline: []Entry{
		{Time: time.Now(), What: "report", Member: "m-a", MemberName: "alpha", Scenario: "http-probe", Value: a.String(),
			Evidence: []string{`203.0.113.9 - ` + xssUser + ` [06/Dec/2026:10:00:00 +0000] "GET /.env HTTP/1.1" 404 0 "-" "` + xssAgent + `"`}},
	}}
}

func (f *fakeBackend) Ban(_ context.Context, v string, d time.Duration, reason string) (Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return Decision{}, f.refuse
	}
	f.bans = append(f.bans, v)
	return Decision{ID: 7, Value: v, Until: time.Now().Add(d)}, nil
}

func (f *fakeBackend) Pardon(_ context.Context, v, reason string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return 0, f.refuse
	}
	f.pardons = append(f.pardons, v)
	return 1, nil
}

func (f *fakeBackend) Bouncers() []Bouncer { return []Bouncer{{Name: "fw1", Created: time.Now()}} }

func (f *fakeBackend) AddBouncer(name string, _ bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bouncers = append(f.bouncers, "+"+name)
	return "KEY-" + name, nil
}

func (f *fakeBackend) DeleteBouncer(name string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bouncers = append(f.bouncers, "-"+name)
	return nil
}

func (f *fakeBackend) Charter() Charter {
	return Charter{Name: "test", Hash: "abc", YAML: "name: test\n"}
}

func (f *fakeBackend) Sources() Sources {
	return Sources{List: []Source{{Name: "/var/log/auth.log", Lines: 10}}, Skipped: map[string]int64{"no_match": 3}}
}

func (f *fakeBackend) Totals() Totals {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Totals{Reports: maps.Clone(f.totals.Reports), Lines: maps.Clone(f.totals.Lines)}
}

// count adds n to a total.
func (f *fakeBackend) count(m *map[string]int64, k string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k] += n
}

func (f *fakeBackend) Recent(n int) []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Entry(nil), f.entries...)
}

func (f *fakeBackend) Subscribe() (<-chan Entry, func()) {
	ch := make(chan Entry, 16)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch, func() {}
}

func (f *fakeBackend) changes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bans) + len(f.pardons) + len(f.bouncers)
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t   *testing.T
	c   *Console
	b   *fakeBackend
	clk *clock
	srv *httptest.Server
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	b := &fakeBackend{}
	clk := &clock{t: time.Now()}
	o := Options{Backend: b, AdminToken: adminTok, ReadOnlyToken: viewerTok, Now: clk.now}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &fixture{t: t, c: c, b: b, clk: clk, srv: srv}
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// mint asks for a login link with the given bearer token.
func (f *fixture) mint(token, role string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/ui/login-link?role="+role, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var path string
	if i := strings.Index(string(body), "/ui/login?t="); i >= 0 {
		path = string(body[i:])
		path = path[:strings.IndexByte(path, '"')]
	}
	return resp, path
}

// signIn signs in with a token and returns the session cookie and the
// session's CSRF token.
func (f *fixture) signIn(token string) (*http.Cookie, string) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.srv.URL)
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("sign in: %s", resp.Status)
	}
	ck := sessionCookie(resp)
	if ck == nil {
		f.t.Fatal("no session cookie")
	}
	_, body := f.get("/ui/act", ck)
	return ck, csrfOf(body)
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, cookieBase) && c.Value != "" {
			return c
		}
	}
	return nil
}

func csrfOf(body string) string {
	const mark = `name="csrf" value="`
	i := strings.Index(body, mark)
	if i < 0 {
		return ""
	}
	rest := body[i+len(mark):]
	return rest[:strings.IndexByte(rest, '"')]
}

func (f *fixture) get(path string, ck *http.Cookie) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post sends a form as a browser on origin would.
func (f *fixture) post(path string, ck *http.Cookie, origin string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLoginLink(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LinkTTL = time.Minute })

	// Only the admin token mints links.
	for _, tok := range []string{"", "wrong", viewerTok} {
		if resp, _ := f.mint(tok, ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("mint with %q: %s, want 403", tok, resp.Status)
		}
	}
	resp, path := f.mint(adminTok, "")
	if resp.StatusCode != http.StatusCreated || path == "" {
		t.Fatalf("mint: %s %q", resp.Status, path)
	}

	// The link signs in once, with a strict cookie.
	r, _ := f.get(path, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/" {
		t.Fatalf("use link: %s to %q", r.Status, r.Header.Get("Location"))
	}
	ck := sessionCookie(r)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/ui/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/ (not Secure over plain HTTP)", ck)
	}
	if r, _ := f.get("/ui/", ck); r.StatusCode != 200 {
		t.Fatalf("live with the session: %s", r.Status)
	}
	// Replayed.
	if r, body := f.get(path, nil); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil || !strings.Contains(body, "expired, already used or wrong") {
		t.Fatalf("replayed link: %s", r.Status)
	}
	// Expired.
	_, path2 := f.mint(adminTok, "")
	f.clk.add(61 * time.Second)
	if r, _ := f.get(path2, nil); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
		t.Fatalf("expired link: %s", r.Status)
	}
	// Forged: the right shape, never minted; and wrong shapes.
	for _, forged := range []string{randomSecret(), "x", strings.Repeat("A", 43), "%00", strings.Repeat("é", 30)} {
		if r, _ := f.get("/ui/login?t="+url.QueryEscape(forged), nil); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
			t.Fatalf("forged link %q: %s", forged, r.Status)
		}
	}
	// A forged or expired session cookie shows nothing.
	for _, bad := range []*http.Cookie{{Name: cookieBase, Value: randomSecret()}, {Name: cookieBase, Value: "<script>"}} {
		if r, _ := f.get("/ui/", bad); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/login" {
			t.Fatalf("forged cookie: %s", r.Status)
		}
	}
	f.clk.add(13 * time.Hour)
	if r, _ := f.get("/ui/", ck); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("expired session: %s", r.Status)
	}
	if got := f.c.Counters(); got.LinksRefused < 7 || got.LinksMinted != 2 {
		t.Fatalf("counters %+v", got)
	}
}

func TestCookieSecureOverTLS(t *testing.T) {
	c, err := New(Options{Backend: &fakeBackend{}, AdminToken: adminTok, ReadOnlyToken: viewerTok})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(c)
	defer srv.Close()
	cl := srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", srv.URL+"/ui/login", strings.NewReader("token="+adminTok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ck := sessionCookie(resp); ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie over TLS: %+v", ck)
	}
}

func TestSignInWithTokens(t *testing.T) {
	f := newFixture(t, nil)
	// Wrong token, and a right token from another origin.
	if r, _ := f.post("/ui/login", nil, f.srv.URL, url.Values{"token": {"nope"}}); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
		t.Fatalf("wrong token: %s", r.Status)
	}
	if r, _ := f.post("/ui/login", nil, "https://evil.example", url.Values{"token": {adminTok}}); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
		t.Fatalf("sign-in from another origin: %s", r.Status)
	}
	ck, csrf := f.signIn(adminTok)
	if csrf == "" {
		t.Fatal("no CSRF token on the admin's act page")
	}
	// Sign out ends the session.
	f.post("/ui/logout", ck, f.srv.URL, url.Values{"csrf": {csrf}})
	if r, _ := f.get("/ui/", ck); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %s", r.Status)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, nil)
	ck, csrf := f.signIn(adminTok)
	ban := url.Values{"value": {"198.51.100.7"}, "duration": {"1h"}, "csrf": {csrf}}
	noToken := url.Values{"value": {"198.51.100.7"}}
	wrong := url.Values{"value": {"198.51.100.7"}, "csrf": {randomSecret()}}
	for _, c := range []struct {
		name, origin string
		form         url.Values
		hdr          map[string]string
	}{
		{"another origin", "https://evil.example", ban, nil},
		{"null origin", "null", ban, nil},
		{"no origin nor referer", "", ban, nil},
		{"cross-site fetch", f.srv.URL, ban, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"no token", f.srv.URL, noToken, nil},
		{"wrong token", f.srv.URL, wrong, nil},
	} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/ui/act/ban", strings.NewReader(c.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		req.AddCookie(ck)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", c.name, resp.Status)
		}
	}
	if n := f.b.changes(); n != 0 {
		t.Fatalf("%d changes made without a valid CSRF token", n)
	}
	// Without a session at all.
	if r, _ := f.post("/ui/act/ban", nil, f.srv.URL, ban); r.StatusCode != http.StatusForbidden {
		t.Fatalf("no session: %s", r.Status)
	}
	// The real thing: same origin (or a same-origin Referer), the token.
	if r, body := f.post("/ui/act/ban", ck, f.srv.URL, ban); r.StatusCode != http.StatusCreated || !strings.Contains(body, "banned 198.51.100.7") {
		t.Fatalf("ban: %s", r.Status)
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/ui/act/pardon", strings.NewReader(url.Values{"value": {"198.51.100.7"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", f.srv.URL+"/ui/act")
	req.AddCookie(ck)
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || f.b.changes() != 2 {
		t.Fatalf("pardon with a same-origin referer: %s, %d changes", resp.Status, f.b.changes())
	}
	if got := f.c.Counters().CSRFRefused; got != 6 {
		t.Fatalf("CSRF refusals counted %d, want 6", got)
	}
}

func TestReadOnlyChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	ck, _ := f.signIn(viewerTok)
	for _, p := range []string{"/ui/", "/ui/alliance", "/ui/attacks", "/ui/act", "/ui/sources", "/ui/explain?addr=203.0.113.9"} {
		r, body := f.get(p, ck)
		if r.StatusCode != 200 {
			t.Fatalf("viewer GET %s: %s", p, r.Status)
		}
		if strings.Contains(body, `action="/ui/act/`) || strings.Contains(body, `action="/ui/bouncers/`) {
			t.Errorf("viewer page %s offers a change", p)
		}
	}
	// Even with the session's own CSRF token (taken from the logout form)
	// and from the right origin, nothing changes.
	_, page := f.get("/ui/", ck)
	csrf := csrfOf(page)
	if csrf == "" {
		t.Fatal("no CSRF token on the viewer's page")
	}
	for _, p := range []string{"/ui/act/ban", "/ui/act/pardon", "/ui/bouncers/add", "/ui/bouncers/delete"} {
		r, body := f.post(p, ck, f.srv.URL, url.Values{"value": {"198.51.100.7"}, "name": {"x"}, "csrf": {csrf}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(body, "read-only") {
			t.Errorf("viewer POST %s: %s", p, r.Status)
		}
	}
	// Nor can it mint login links.
	if r, _ := f.mint(viewerTok, "admin"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer mints: %s", r.Status)
	}
	if n := f.b.changes(); n != 0 {
		t.Fatalf("the read-only session made %d changes", n)
	}
}

func TestRefusalShowsReason(t *testing.T) {
	f := newFixture(t, nil)
	f.b.refuse = &ActionError{Status: 422, Message: "127.0.0.1/32 is territory (loopback, a member's address or the charter's territory) and is never banned"}
	ck, csrf := f.signIn(adminTok)
	r, body := f.post("/ui/act/ban", ck, f.srv.URL, url.Values{"value": {"127.0.0.1"}, "csrf": {csrf}})
	if r.StatusCode != 422 || !strings.Contains(body, "Refused: 127.0.0.1/32 is territory") {
		t.Fatalf("refused ban: %s\n%s", r.Status, body)
	}
	r, body = f.post("/ui/act/ban", ck, f.srv.URL, url.Values{"value": {"1.2.3.4"}, "duration": {"-1h"}, "csrf": {csrf}})
	if r.StatusCode != 400 || !strings.Contains(body, "positive duration") {
		t.Fatalf("bad duration: %s", r.Status)
	}
}

func TestBouncerKeyShownOnce(t *testing.T) {
	f := newFixture(t, nil)
	ck, csrf := f.signIn(adminTok)
	r, body := f.post("/ui/bouncers/add", ck, f.srv.URL, url.Values{"name": {"edge"}, "csrf": {csrf}})
	if r.StatusCode != 201 || !strings.Contains(body, "KEY-edge") {
		t.Fatalf("add bouncer: %s", r.Status)
	}
	if _, body := f.get("/ui/act", ck); strings.Contains(body, "KEY-edge") {
		t.Fatal("the key shows again")
	}
}

func TestAttackerTextIsEscaped(t *testing.T) {
	f := newFixture(t, nil)
	ev := []string{`Dec  6 10:00:00 web1 sshd[1]: Invalid user ` + xssUser + ` from 203.0.113.9 port 22`,
		`203.0.113.9 - - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 404 0 "-" "` + xssAgent + `"`}
	now := time.Now()
	f.c.live.seed([]Entry{
		{Time: now, What: "report", Member: "m-a", MemberName: "alpha" + xssUser, Scenario: "ssh-bf" + xssUser, Value: "203.0.113.9", Evidence: ev, Detail: xssAgent},
		{Time: now, What: "decision", Member: "m-a", Origin: "alliance", Scenario: "ssh-bf", Value: "203.0.113.9"},
	})
	f.b.entries = []Entry{{Time: now, What: "report", Member: "m-a", Scenario: xssUser, Value: "203.0.113.9", Evidence: ev}}
	ck, _ := f.signIn(adminTok)
	for _, p := range []string{"/ui/", "/ui/explain?addr=203.0.113.9", "/ui/act", "/ui/attacks", "/ui/act?q=" + url.QueryEscape(xssUser)} {
		r, body := f.get(p, ck)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %s", p, r.Status)
		}
		if strings.Contains(body, "<img") || strings.Contains(body, "</script><script>") || strings.Contains(body, "onerror=alert(1)>") {
			t.Errorf("%s: attacker text reached the page unescaped", p)
		}
		if p != "/ui/act?q="+url.QueryEscape(xssUser) && !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s: the attacker's text is missing (it must show, escaped)", p)
		}
		assertNoInlineScript(t, p, body)
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
}

// assertNoInlineScript checks that every script element loads a file.
func assertNoInlineScript(t *testing.T, p, body string) {
	t.Helper()
	rest := body
	for {
		i := strings.Index(rest, "<script")
		if i < 0 {
			return
		}
		end := strings.Index(rest[i:], ">")
		if !strings.Contains(rest[i:i+end], "src=") || !strings.HasPrefix(rest[i+end+1:], "</script>") {
			t.Errorf("%s: an inline script: %q", p, rest[i:min(len(rest), i+80)])
		}
		rest = rest[i+end:]
	}
}

func TestStaticAssets(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/ui/static/app.js", "/ui/static/app.css"} {
		r, body := f.get(p, nil)
		if r.StatusCode != 200 || len(body) < 100 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %s", p, r.Status)
		}
	}
	if strings.Contains(mustRead(t, "assets/static/app.js"), "innerHTML") {
		t.Fatal("app.js uses innerHTML: build elements with textContent")
	}
	if r, _ := f.get("/ui/static/../console.go", nil); r.StatusCode == 200 {
		t.Fatal("served a file outside the assets")
	}
}

func mustRead(t *testing.T, name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBounded: floods of sign-ins, links, sessions and streams are refused
// or bounded, and counted.
func TestBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxSessions, o.MaxLinks, o.MaxStreams = 50, 20, 8 })
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, hdr map[string]string, body string) int {
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": f.srv.URL}
	var wg sync.WaitGroup
	codes := make(chan int, 10000)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 10000; i += 16 {
				switch i % 4 {
				case 0: // wrong token
					codes <- do("POST", "/ui/login", form, "token=guess"+fmt.Sprint(i))
				case 1: // forged link
					codes <- do("GET", "/ui/login?t="+randomSecret(), nil, "")
				case 2: // a real sign-in, past the session bound
					codes <- do("POST", "/ui/login", form, "token="+viewerTok)
				case 3: // a link, past the link bound
					codes <- do("POST", "/ui/login-link", map[string]string{"Authorization": "Bearer " + adminTok}, "")
				}
			}
		})
	}
	wg.Wait()
	close(codes)
	byCode := map[int]int{}
	for c := range codes {
		byCode[c]++
	}
	if byCode[http.StatusInternalServerError] > 0 || byCode[403] != 5000 || byCode[303] != 2500 || byCode[201] != 20 || byCode[429] != 2480 {
		t.Fatalf("answers by status: %v", byCode)
	}
	if n := f.c.Counters().Sessions; n > 50 {
		t.Fatalf("%d sessions kept, bound 50", n)
	}

	// Streams: the bound's worth stay open, the rest are refused at once.
	ck, _ := f.signIn(adminTok)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var open []*http.Response
	for range 8 {
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/ui/events", nil)
		req.AddCookie(ck)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %v %v", err, resp)
		}
		open = append(open, resp)
	}
	refused := 0
	for range 1000 {
		req, _ := http.NewRequest("GET", f.srv.URL+"/ui/events", nil)
		req.AddCookie(ck)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused != 1000 || f.c.Counters().StreamsRefused != 1000 {
		t.Fatalf("%d of 1000 streams past the bound refused", refused)
	}
	cancel()
	for _, r := range open {
		r.Body.Close()
	}
}

func TestSlowStreamDropped(t *testing.T) {
	l := newLive(4, 100, "c")
	slow := l.subscribe()
	fast := l.subscribe()
	got := 0
	for i := range 200 {
		l.add(Entry{Time: time.Now(), What: "decision", Value: fmt.Sprintf("192.0.2.%d", i%250), Member: "m"})
		<-fast // a stream that keeps up
		got++
	}
	if c := l.counts(); c.dropped != 1 || c.open != 1 {
		t.Fatalf("counts %+v: want the slow stream dropped", c)
	}
	n := 0
	for range slow {
		n++
	}
	if n != 64 || got != 200 {
		t.Fatalf("slow stream got %d before it was dropped, fast %d", n, got)
	}
}

func TestLivePropagation(t *testing.T) {
	l := newLive(4, 100, "c")
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	l.seed([]Entry{
		{Time: t0.Add(time.Millisecond), What: "report", Member: "a", MemberName: "alpha", Scenario: "ssh-bf", Value: "203.0.113.9", Evidence: []string{"line"}},
		{Time: t0.Add(2 * time.Millisecond), What: "decision", Member: "a", Origin: "alliance", Scenario: "ssh-bf", Value: "203.0.113.9"},
		{Time: t0.Add(5 * time.Millisecond), What: "enforced", Member: "c", MemberName: "gamma", Detail: "nftables", Value: "203.0.113.9"},
		{Time: t0, What: "enforced", Member: "a", Detail: "nftables", Value: "203.0.113.9"},
		{Time: t0.Add(3 * time.Millisecond), What: "enforced", Member: "b", MemberName: "beta", Detail: "api", Value: "203.0.113.9"},
		{Time: t0.Add(3 * time.Millisecond), What: "enforced", Member: "b", Detail: "api", Value: "203.0.113.9"},
	})
	rows := l.snapshot(10)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	var hops []string
	for _, h := range r.Hops {
		hops = append(hops, h.Name+" "+h.After)
	}
	if got := strings.Join(hops, ", "); got != "alpha +0 ms, beta +3 ms, gamma +5 ms" || r.DetectedOn != "alpha" || r.Service != "ssh" || r.State != "banned" {
		t.Fatalf("row %+v: hops %s", r, got)
	}
	if p := l.propagation(t0.Add(-time.Hour)); p.N != 2 || p.P50 != 5*time.Millisecond || p.Max != 5*time.Millisecond || p.Buckets[2].N != 2 {
		t.Fatalf("propagation %+v", p)
	}
	if len(r.Pulls) != 0 {
		t.Fatalf("pulls without bouncers: %+v", r.Pulls)
	}

	// This member's (c's) bouncers: the propagation line names them, and
	// a pull after c's enforcement (at t0+5ms) is sent to the streams.
	ch := l.subscribe()
	l.setBouncers([]Bouncer{{Name: "fw2"}, {Name: "fw1", LastPull: t0.Add(-time.Minute)}})
	if r := l.snapshot(1)[0]; fmt.Sprint(r.Pulls) != "[{fw1 at its next pull false} {fw2 at its next pull false}]" {
		t.Fatalf("pulls before any: %+v", r.Pulls)
	}
	if msg := <-ch; !strings.Contains(string(msg), `"pulls":[{"bouncer":"fw1","text":"at its next pull","pulled":false}`) {
		t.Fatalf("the new bouncers were sent as %s", msg)
	}
	l.setBouncers([]Bouncer{{Name: "fw2"}, {Name: "fw1", LastPull: t0.Add(-time.Minute)}})
	select {
	case msg := <-ch:
		t.Fatalf("sent without a change: %s", msg)
	default:
	}
	l.setBouncers([]Bouncer{{Name: "fw2"}, {Name: "fw1", LastPull: t0.Add(4 * time.Second)}})
	if r := l.snapshot(1)[0]; fmt.Sprint(r.Pulls) != "[{fw1 pulled it ≤ +5s true} {fw2 at its next pull false}]" {
		t.Fatalf("pulls after fw1's: %+v", r.Pulls)
	}
	select {
	case msg := <-ch:
		if !strings.Contains(string(msg), `"pulls":[{"bouncer":"fw1","text":"pulled it ≤ +5s","pulled":true}`) {
			t.Fatalf("sent %s", msg)
		}
	default:
		t.Fatal("fw1's pull was not sent to the stream")
	}
	many := make([]Bouncer, 20)
	for i := range many {
		many[i].Name = fmt.Sprintf("b%02d", i)
	}
	l.setBouncers(many)
	if r := l.snapshot(1)[0]; len(r.Pulls) != maxPulls+1 || r.Pulls[maxPulls].Text != "and 12 more bouncers" {
		t.Fatalf("20 bouncers: %+v", r.Pulls)
	}

	l.add(Entry{Time: t0.Add(time.Second), What: "pardon", Member: "a", Value: "203.0.113.9", Detail: "false positive"})
	if r := l.snapshot(1)[0]; r.State != "pardoned" || !strings.Contains(r.Note, "false positive") || len(r.Pulls) != 0 {
		t.Fatalf("after pardon: %+v", r)
	}
}

func TestSearchParsing(t *testing.T) {
	newest := func(q Query) Query { q.Sort, q.Desc, q.Limit = SortStart, true, pageSize; return q }
	for _, c := range []struct {
		q, page, sort, order string
		ok                   bool
		want                 Query
	}{
		{"", "", "", "", true, newest(Query{})},
		{"203.0.113.9", "2", "", "", true, newest(Query{Addr: netip.MustParseAddr("203.0.113.9"), Offset: pageSize})},
		{"::ffff:203.0.113.9", "", "", "", true, newest(Query{Addr: netip.MustParseAddr("203.0.113.9")})},
		{"203.0.113.77/24", "", "", "", true, newest(Query{Prefix: netip.MustParsePrefix("203.0.113.0/24")})},
		{"SSH-bf", "", "", "", true, newest(Query{Word: "ssh-bf"})},
		{"", "", "value", "", true, Query{Sort: SortValue, Limit: pageSize}},
		{"", "", "until", "", true, Query{Sort: SortUntil, Desc: true, Limit: pageSize}},
		{"", "3", "scenario", "desc", true, Query{Sort: SortScenario, Desc: true, Offset: 2 * pageSize, Limit: pageSize}},
		{"", "", "", "asc", true, Query{Sort: SortStart, Limit: pageSize}},
		{"", "200", "", "", true, newest(Query{Offset: 199 * pageSize})},
		{"", "201", "", "", false, Query{}}, // past MaxDepth
		{"", "", "evil", "", false, Query{}},
		{"", "", "id", "up", false, Query{}},
		{"1.2.3.4/99", "", "", "", false, Query{}},
		{"x", "0", "", "", false, Query{}},
		{"x", "-1", "", "", false, Query{}},
		{"x", "99999999999999999999", "", "", false, Query{}},
		{strings.Repeat("a", 201), "", "", "", false, Query{}},
		{"\xff", "", "", "", false, Query{}},
	} {
		s, err := parseSearch(url.Values{"q": {c.q}, "page": {c.page}, "sort": {c.sort}, "order": {c.order}})
		if (err == nil) != c.ok || c.ok && s.Query != c.want {
			t.Errorf("q=%q page=%q sort=%q order=%q: %+v, %v", c.q, c.page, c.sort, c.order, s.Query, err)
		}
		if !c.ok && (s.Query.Limit != pageSize || s.Query.Offset != 0) {
			t.Errorf("q=%q: a refused search still asks for %+v", c.q, s.Query)
		}
	}
}

// TestActSorted: the act view asks for newest first by default, sorts by
// the column whose header is clicked (the other way on a second click),
// and its pager keeps the order and stops at MaxDepth.
func TestActSorted(t *testing.T) {
	f := newFixture(t, nil)
	f.b.total = 1_000_000
	ck, _ := f.signIn(viewerTok)
	hrefOf := func(body, key string) string {
		i := strings.Index(body, `data-sort="`+key+`"`)
		if i < 0 {
			t.Fatalf("no header for %s", key)
		}
		j := strings.LastIndex(body[:i], `href="`)
		v := body[j+len(`href="`):]
		return html.UnescapeString(v[:strings.IndexByte(v, '"')])
	}
	_, body := f.get("/ui/act", ck)
	if q := f.b.lastQuery(); q.Sort != SortStart || !q.Desc {
		t.Fatalf("default order %+v, want newest first", q)
	}
	if h := hrefOf(body, SortStart); h != "/ui/act?order=asc&sort=start" {
		t.Fatalf("a click on Started leads to %q", h)
	}
	if !strings.Contains(body, `class="sort on desc"`) || !strings.Contains(body, "page 1 of 200") {
		t.Fatal("the sorted column is not marked, or the pages are not bounded")
	}
	h := hrefOf(body, SortScenario)
	_, body = f.get(h, ck)
	if q := f.b.lastQuery(); q.Sort != SortScenario || q.Desc {
		t.Fatalf("after a click on Scenario: %+v", q)
	}
	if h2 := hrefOf(body, SortScenario); !strings.Contains(h2, "order=desc") {
		t.Fatalf("a second click on Scenario leads to %q", h2)
	}
	_, body = f.get("/ui/act?q=ssh&sort=until&order=asc&page=199", ck)
	if q := f.b.lastQuery(); q.Sort != SortUntil || q.Desc || q.Word != "ssh" || q.Offset != 198*pageSize {
		t.Fatalf("page 199: %+v", q)
	}
	if !strings.Contains(body, `href="/ui/act?order=asc&amp;page=200&amp;q=ssh&amp;sort=until" id="next"`) ||
		!strings.Contains(body, `href="/ui/act?order=asc&amp;page=198&amp;q=ssh&amp;sort=until" id="prev"`) {
		t.Fatal("the pager loses the order")
	}
	_, body = f.get("/ui/act?q=ssh&sort=until&order=asc&page=200", ck)
	if strings.Contains(body, `id="next"`) {
		t.Fatal("the pager goes past MaxDepth")
	}
	if r, body := f.get("/ui/act?page=201", ck); r.StatusCode != 400 || !strings.Contains(body, "sort the other way") {
		t.Fatalf("past MaxDepth: %s", r.Status)
	}
}

// TestCookiePerMember: members on one host (browsers keep cookies by host,
// not port) have sessions of their own.
func TestCookiePerMember(t *testing.T) {
	a, b := cookieName("m4a968f1f92c6c91ae9"), cookieName("m7810edf5f2f5e8d3")
	if a == b || !strings.HasPrefix(a, cookieBase+"_") || cookieName("") != cookieBase || cookieName(`"; x=<`) != cookieBase+"_x" {
		t.Fatalf("cookie names %q %q %q", a, b, cookieName(`"; x=<`))
	}
}
