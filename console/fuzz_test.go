package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseSearch: any query string parses to a bounded search or an
// error, never a panic.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"q=203.0.113.9&page=2", "q=10.0.0.0/8", "q=ssh", "page=-1", "q=%ff", "q=::ffff:1.2.3.4/120", "window=24h", "sort=value&order=asc&page=3", "sort=x", "page=201"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		s, err := parseSearch(v)
		if err != nil {
			return
		}
		if s.Page < 1 || s.Query.Offset < 0 || s.Query.Offset+s.Query.Limit > MaxDepth || s.Query.Limit != pageSize || len(s.Text) > 200 ||
			!slices.ContainsFunc(columns, func(c column) bool { return c.key == s.Query.Sort }) {
			t.Fatalf("%q: %+v", raw, s)
		}
		if s.Query.Prefix.IsValid() && s.Query.Prefix != s.Query.Prefix.Masked() {
			t.Fatalf("%q: unmasked prefix %v", raw, s.Query.Prefix)
		}
		parseWindow(v)
	})
}

// FuzzLoginSecret: only a minted secret signs in; nothing else does, and
// nothing panics.
func FuzzLoginSecret(f *testing.F) {
	f.Add("")
	f.Add(randomSecret())
	f.Add(strings.Repeat("A", 43))
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, s string) {
		a := newAuth(Options{AdminToken: adminTok, ReadOnlyToken: viewerTok, Now: (&clock{}).now, LinkTTL: 1, MaxLinks: 4, MaxSessions: 4})
		if _, ok := a.useLink(s); ok {
			t.Fatalf("%q signed in without being minted", s)
		}
		if a.roleOf(s) != "" && s != adminTok && s != viewerTok {
			t.Fatalf("%q has a role", s)
		}
		r := httptest.NewRequest("GET", "/ui/", nil)
		r.Header.Set("Cookie", cookieBase+"="+s)
		if _, ok := a.session(r); ok {
			t.Fatalf("cookie %q has a session", s)
		}
	})
}

// FuzzRequests: whatever a signed-in admin's browser (or anything else)
// sends without the CSRF token changes nothing, and no answer is a 5xx
// other than the stream bound.
func FuzzRequests(f *testing.F) {
	b := &fakeBackend{}
	c, err := New(Options{Backend: b, AdminToken: adminTok, ReadOnlyToken: viewerTok})
	if err != nil {
		f.Fatal(err)
	}
	id, _ := c.auth.newSession(roleAdmin)
	for _, s := range []string{"GET /ui/act?q=1.2.3.4&page=3", "POST /ui/act/ban value=1.2.3.4", "GET /ui/explain?addr=::1",
		"GET /ui/attacks?window=6h", "POST /ui/bouncers/delete name=x", "GET /ui/static/app.js", "GET /ui/login?t=abc", "POST /ui/login token=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		method, rest, _ := strings.Cut(line, " ")
		target, body, _ := strings.Cut(rest, " ")
		if method != "GET" && method != "POST" {
			method = "GET"
		}
		if !strings.HasPrefix(target, "/ui/") || strings.HasPrefix(target, "/ui/events") {
			target = "/ui/" + strings.TrimPrefix(target, "/")
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.HasPrefix(u.Path, "/ui/events") {
			return
		}
		r := httptest.NewRequest(method, "http://member"+u.RequestURI(), strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://member")
		r.AddCookie(&http.Cookie{Name: cookieBase, Value: id})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d", method, target, w.Code)
		}
		if n := b.changes(); n != 0 {
			t.Fatalf("%s %s %q changed something without the CSRF token", method, target, body)
		}
	})
}
