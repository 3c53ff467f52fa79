package forwardauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"phalanx"
	"phalanx/decision"
)

var _ Checker = (*decision.Table)(nil)

// fakeChecker bans fixed addresses and records every address it is asked
// about, so that tests can tell which addresses a request was decided on.
type fakeChecker struct {
	t       testing.TB
	banned  map[netip.Addr]uint64
	now     time.Time
	checked []netip.Addr
}

func (f *fakeChecker) Check(a netip.Addr, now time.Time) (uint64, string, bool) {
	if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
		f.t.Errorf("Check(%v): the handler must check only valid, unmapped addresses without zone", a)
	}
	if !now.Equal(f.now) {
		f.t.Errorf("Check at %v, want the handler's clock %v", now, f.now)
	}
	f.checked = append(f.checked, a)
	id, ok := f.banned[a]
	return id, "ban", ok
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Test addresses: 10.0.0.0/8, 127.0.0.1, fd00::/8 and (written mapped)
// 192.168.0.0/16 are trusted proxies.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("fd00::/8"),
	netip.MustParsePrefix("::ffff:192.168.0.0/112"),
}

var testBanned = map[netip.Addr]uint64{
	netip.MustParseAddr("203.0.113.7"):  7,
	netip.MustParseAddr("2001:db8::7"):  8,
	netip.MustParseAddr("198.51.100.1"): 9,
	netip.MustParseAddr("fe80::1"):      10,
	netip.MustParseAddr("10.0.0.66"):    11, // a banned trusted proxy
}

func newTestHandler(t testing.TB, f *fakeChecker, m *Metrics) *Handler {
	c := DefaultConfig()
	c.TrustedProxies = testTrusted
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return New(c, f, func() time.Time { return testNow }, m)
}

func addrs(ss ...string) []netip.Addr {
	var r []netip.Addr
	for _, s := range ss {
		r = append(r, netip.MustParseAddr(s))
	}
	return r
}

func TestDecide(t *testing.T) {
	many := func(elem string, n int) string { return strings.TrimSuffix(strings.Repeat(elem+",", n), ",") }
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name    string
		peer    string
		xff     []string
		xri     []string
		checked []netip.Addr
		denied  uint64 // decision ID, 0 when allowed
		bad     bool
	}{
		// A peer that is not a trusted proxy stands for itself.
		{name: "untrusted clean", peer: "192.0.2.1:5555", checked: addrs("192.0.2.1")},
		{name: "untrusted banned", peer: "203.0.113.7:5555", checked: addrs("203.0.113.7"), denied: 7},
		{name: "untrusted banned forges XFF", peer: "203.0.113.7:5555", xff: []string{"192.0.2.9"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "untrusted banned forges X-Real-IP", peer: "203.0.113.7:5555", xri: []string{"192.0.2.9"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "untrusted clean names a banned address", peer: "192.0.2.1:5555", xff: []string{"203.0.113.7"}, xri: []string{"203.0.113.7"}, checked: addrs("192.0.2.1")},
		{name: "untrusted garbage is ignored, not counted", peer: "192.0.2.1:5555", xff: []string{"garbage"}, checked: addrs("192.0.2.1")},
		{name: "untrusted IPv6 banned", peer: "[2001:db8::7]:443", checked: addrs("2001:db8::7"), denied: 8},
		{name: "untrusted mapped peer", peer: "[::ffff:203.0.113.7]:443", checked: addrs("203.0.113.7"), denied: 7},
		{name: "untrusted peer with zone", peer: "[fe80::1%eth0]:443", checked: addrs("fe80::1"), denied: 10},
		{name: "peer without port", peer: "203.0.113.7", checked: addrs("203.0.113.7"), denied: 7},
		{name: "untrusted neighbour of a trusted proxy", peer: "127.0.0.2:80", xff: []string{"192.0.2.9"}, checked: addrs("127.0.0.2")},

		// X-Forwarded-For from a trusted proxy: the first untrusted address from the right.
		{name: "XFF client", peer: "10.0.0.1:80", xff: []string{"203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF clean client", peer: "10.0.0.1:80", xff: []string{"192.0.2.1"}, checked: addrs("192.0.2.1")},
		{name: "XFF forged prefix is not read", peer: "10.0.0.1:80", xff: []string{"192.0.2.9, 203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF banned prefix is not read", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, 192.0.2.1"}, checked: addrs("192.0.2.1")},
		{name: "XFF chain of trusted hops", peer: "10.0.0.1:80", xff: []string{"192.0.2.9, 203.0.113.7, 10.0.0.2,10.0.0.3"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF chain across lines", peer: "10.0.0.1:80", xff: []string{"192.0.2.9", "203.0.113.7", "10.0.0.2, 10.0.0.3"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF every hop trusted", peer: "10.0.0.1:80", xff: []string{"10.0.0.5, 10.0.0.2"}, checked: addrs("10.0.0.5")},
		{name: "XFF from a banned trusted proxy", peer: "10.0.0.1:80", xff: []string{"10.0.0.66"}, checked: addrs("10.0.0.66"), denied: 11},
		{name: "XFF IPv6", peer: "[fd00::1]:80", xff: []string{"2001:db8::7"}, checked: addrs("2001:db8::7"), denied: 8},
		{name: "XFF IPv6 through an IPv4 proxy", peer: "10.0.0.1:80", xff: []string{"2001:db8::7, fd00::5"}, checked: addrs("2001:db8::7"), denied: 8},
		{name: "XFF mapped client", peer: "10.0.0.1:80", xff: []string{"::ffff:203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF mapped trusted hop", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, ::ffff:10.0.0.2"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "mapped peer is trusted as IPv4", peer: "[::ffff:10.0.0.1]:80", xff: []string{"203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "trusted through a mapped prefix", peer: "192.168.3.4:80", xff: []string{"203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF with ports and brackets", peer: "10.0.0.1:80", xff: []string{"203.0.113.7:4711, [fd00::2]:80, [fd00::3]"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF spaces and tabs", peer: "10.0.0.1:80", xff: []string{" \t203.0.113.7 \t,\t10.0.0.2 "}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF many commas before the client", peer: "10.0.0.1:80", xff: []string{strings.Repeat(",", 100000) + "203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF huge garbage before the client", peer: "10.0.0.1:80", xff: []string{huge + ", 203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},

		// X-Forwarded-For that cannot be read: the last trusted hop, counted.
		{name: "XFF garbage", peer: "10.0.0.1:80", xff: []string{"not-an-address"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF garbage behind a trusted hop", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, garbage, 10.0.0.9"}, checked: addrs("10.0.0.9"), bad: true},
		{name: "XFF empty", peer: "10.0.0.1:80", xff: []string{""}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF empty line after the client", peer: "10.0.0.1:80", xff: []string{"203.0.113.7", " "}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF trailing comma", peer: "10.0.0.1:80", xff: []string{"203.0.113.7,"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF many commas after the client", peer: "10.0.0.1:80", xff: []string{"203.0.113.7" + strings.Repeat(",", 100000)}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF huge element", peer: "10.0.0.1:80", xff: []string{huge}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF element padded past the limit", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, " + strings.Repeat(" ", maxElem) + "10.0.0.2"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF zone: both the hop and the address", peer: "10.0.0.1:80", xff: []string{"fe80::1%eth0"}, checked: addrs("10.0.0.1", "fe80::1"), denied: 10, bad: true},
		{name: "XFF zone in brackets with port", peer: "10.0.0.1:80", xff: []string{"[fe80::1%25eth0]:80"}, checked: addrs("10.0.0.1", "fe80::1"), denied: 10, bad: true},
		{name: "XFF invalid IPv4", peer: "10.0.0.1:80", xff: []string{"203.0.113.256"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF hostname", peer: "10.0.0.1:80", xff: []string{"localhost"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF unknown (RFC 7239 style)", peer: "10.0.0.1:80", xff: []string{"unknown"}, checked: addrs("10.0.0.1"), bad: true},
		{name: "XFF at the hop limit", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, " + many("10.0.0.2", maxHops)}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "XFF over the hop limit", peer: "10.0.0.1:80", xff: []string{"203.0.113.7, " + many("10.0.0.2", maxHops+1)}, checked: addrs("10.0.0.2"), bad: true},
		{name: "XFF over the hop limit in lines", peer: "10.0.0.1:80", xff: slices.Repeat([]string{"10.0.0.3"}, maxHops+5), checked: addrs("10.0.0.3"), bad: true},

		// X-Real-IP from a trusted proxy.
		{name: "X-Real-IP banned", peer: "127.0.0.1:80", xri: []string{"203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "X-Real-IP clean", peer: "127.0.0.1:80", xri: []string{"192.0.2.1"}, checked: addrs("192.0.2.1")},
		{name: "X-Real-IP IPv6 in brackets", peer: "127.0.0.1:80", xri: []string{"[2001:db8::7]"}, checked: addrs("2001:db8::7"), denied: 8},
		{name: "X-Real-IP with port", peer: "127.0.0.1:80", xri: []string{"203.0.113.7:4711"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "X-Real-IP mapped", peer: "127.0.0.1:80", xri: []string{"::ffff:203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "X-Real-IP garbage", peer: "127.0.0.1:80", xri: []string{"garbage"}, checked: addrs("127.0.0.1"), bad: true},
		{name: "X-Real-IP list", peer: "127.0.0.1:80", xri: []string{"192.0.2.1, 203.0.113.7"}, checked: addrs("127.0.0.1"), bad: true},
		{name: "X-Real-IP zone", peer: "127.0.0.1:80", xri: []string{"fe80::1%lo"}, checked: addrs("127.0.0.1", "fe80::1"), denied: 10, bad: true},
		{name: "X-Real-IP repeated: every line and the peer", peer: "127.0.0.1:80", xri: []string{"192.0.2.1", "198.51.100.1"}, checked: addrs("127.0.0.1", "192.0.2.1", "198.51.100.1"), denied: 9, bad: true},
		{name: "X-Real-IP repeated many times", peer: "127.0.0.1:80", xri: slices.Repeat([]string{"192.0.2.1"}, 1000), checked: addrs("127.0.0.1", "192.0.2.1"), bad: true},

		// Both headers: denied if either names a banned address.
		{name: "both agree", peer: "127.0.0.1:80", xri: []string{"203.0.113.7"}, xff: []string{"203.0.113.7"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "both clean", peer: "127.0.0.1:80", xri: []string{"192.0.2.1"}, xff: []string{"192.0.2.2"}, checked: addrs("192.0.2.1", "192.0.2.2")},
		{name: "forged clean X-Real-IP, banned XFF", peer: "127.0.0.1:80", xri: []string{"192.0.2.1"}, xff: []string{"203.0.113.7"}, checked: addrs("192.0.2.1", "203.0.113.7"), denied: 7},
		{name: "banned X-Real-IP, forged clean XFF", peer: "127.0.0.1:80", xri: []string{"203.0.113.7"}, xff: []string{"192.0.2.1"}, checked: addrs("203.0.113.7"), denied: 7},
		{name: "bad X-Real-IP, good XFF", peer: "127.0.0.1:80", xri: []string{"junk"}, xff: []string{"203.0.113.7"}, checked: addrs("127.0.0.1", "203.0.113.7"), denied: 7, bad: true},

		// A trusted proxy that sends no address stands for itself, counted.
		{name: "trusted proxy sends nothing", peer: "10.0.0.1:80", checked: addrs("10.0.0.1"), bad: true},
		{name: "banned trusted proxy sends nothing", peer: "10.0.0.66:80", checked: addrs("10.0.0.66"), denied: 11, bad: true},

		// No IP peer at all (a Unix socket): refused.
		{name: "unix socket peer", peer: "@", denied: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeChecker{t: t, banned: testBanned, now: testNow}
			m := new(Metrics)
			h := newTestHandler(t, f, m)
			r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.xri {
				r.Header.Add("X-Real-IP", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			wantDenied := tt.denied != 0 || tt.peer == "@"
			// Once a banned address is found the rest need not be checked.
			checked := tt.checked
			if tt.denied != 0 {
				checked = checked[:slices.IndexFunc(checked, func(a netip.Addr) bool { return testBanned[a] == tt.denied })+1]
			}
			if !slices.Equal(f.checked, checked) {
				t.Errorf("checked %v, want %v", f.checked, checked)
			}
			switch {
			case wantDenied:
				if w.Code != http.StatusForbidden || w.Body.String() != DefaultDeniedBody {
					t.Errorf("got %d %q, want 403 %q", w.Code, w.Body.String(), DefaultDeniedBody)
				}
				wantID := ""
				if tt.denied != 0 {
					wantID = formatID(tt.denied)
				}
				if got := w.Header().Get(DecisionHeader); got != wantID {
					t.Errorf("%s = %q, want %q", DecisionHeader, got, wantID)
				}
			default:
				if w.Code != http.StatusOK || w.Body.Len() != 0 {
					t.Errorf("got %d %q, want 200 and no body", w.Code, w.Body.String())
				}
				if v, ok := w.Header()[DecisionHeader]; ok {
					t.Errorf("allowed request has %s: %q", DecisionHeader, v)
				}
			}
			want := Counts{Allowed: 1}
			if wantDenied {
				want = Counts{Denied: 1}
			}
			if tt.bad {
				want.BadHeader = 1
			}
			if got := m.Counts(); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
		})
	}
}

func formatID(id uint64) string { return strconv.FormatUint(id, 10) }

func TestMethodsAndPaths(t *testing.T) {
	tests := []struct {
		method, target, peer string
		code                 int
		body                 string
		allow                string
	}{
		{method: "GET", target: DefaultPath, peer: "192.0.2.1:1", code: 200},
		{method: "GET", target: DefaultPath + "?uri=/x", peer: "192.0.2.1:1", code: 200},
		{method: "HEAD", target: DefaultPath, peer: "192.0.2.1:1", code: 200},
		{method: "GET", target: DefaultPath, peer: "203.0.113.7:1", code: 403, body: DefaultDeniedBody},
		{method: "HEAD", target: DefaultPath, peer: "203.0.113.7:1", code: 403},
		{method: "POST", target: DefaultPath, peer: "203.0.113.7:1", code: 405, allow: "GET, HEAD"},
		{method: "DELETE", target: DefaultPath, peer: "192.0.2.1:1", code: 405, allow: "GET, HEAD"},
		{method: "GET", target: DefaultPath + "/", peer: "203.0.113.7:1", code: 404},
		{method: "GET", target: "/", peer: "203.0.113.7:1", code: 404},
	}
	f := &fakeChecker{t: t, banned: testBanned, now: testNow}
	h := newTestHandler(t, f, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		r.RemoteAddr = tt.peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("%s %s from %s: status %d, want %d", tt.method, tt.target, tt.peer, w.Code, tt.code)
		}
		if tt.code < 400 || tt.code == 403 {
			body := w.Body.String()
			if tt.method == http.MethodHead {
				body = "" // a server drops it; see below
			}
			if body != tt.body {
				t.Errorf("%s %s: body %q, want %q", tt.method, tt.target, body, tt.body)
			}
		}
		if got := w.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.target, got, tt.allow)
		}
	}
	// HEAD over the wire from 127.0.0.1, a trusted proxy: status and
	// decision header, no body.
	req, _ := http.NewRequest(http.MethodHead, srv.URL+DefaultPath, nil)
	req.Header.Set("X-Real-IP", "203.0.113.7")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(DecisionHeader) != "7" || len(body) != 0 {
		t.Errorf("HEAD for a banned client: %d %s=%q body %q, want 403, 7 and no body", resp.StatusCode, DecisionHeader, resp.Header.Get(DecisionHeader), body)
	}
}

func TestDeniedResponse(t *testing.T) {
	c := DefaultConfig()
	c.DeniedStatus = http.StatusUnauthorized
	c.DeniedBody = ""
	f := &fakeChecker{t: t, banned: testBanned, now: testNow}
	h := New(c, f, func() time.Time { return testNow }, nil)
	r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
	r.RemoteAddr = "[2001:db8::7]:9"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || w.Body.Len() != 0 || w.Header().Get(DecisionHeader) != "8" {
		t.Errorf("got %d %q %s=%q, want 401, no body, decision 8", w.Code, w.Body.String(), DecisionHeader, w.Header().Get(DecisionHeader))
	}
	if ct := w.Header().Get("Content-Type"); ct != "" {
		t.Errorf("empty denial has Content-Type %q", ct)
	}

	c = DefaultConfig()
	c.Path = "/auth"
	c.DeniedStatus = 429
	c.DeniedBody = "go away\n"
	h = New(c, f, func() time.Time { return testNow }, nil)
	if h.Path() != "/auth" {
		t.Errorf("Path() = %q", h.Path())
	}
	r = httptest.NewRequest(http.MethodGet, "/auth", nil)
	r.RemoteAddr = "198.51.100.1:9"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 429 || w.Body.String() != "go away\n" || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("got %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestNewFillsDefaults(t *testing.T) {
	f := &fakeChecker{t: t, banned: testBanned, now: testNow}
	h := New(Config{DeniedStatus: 200, TrustedProxies: []netip.Prefix{{}}}, f, func() time.Time { return testNow }, nil)
	if h.Path() != DefaultPath || h.deniedStatus != DefaultDeniedStatus || len(h.trusted) != 0 {
		t.Errorf("New(zero-ish config): path %q, status %d, trusted %v", h.Path(), h.deniedStatus, h.trusted)
	}
	// A nil clock is time.Now: the fake checker then sees a different time.
	h = New(DefaultConfig(), checkerFunc(func(a netip.Addr, now time.Time) (uint64, string, bool) {
		if time.Since(now) > time.Minute || time.Since(now) < 0 {
			t.Errorf("clock: %v", now)
		}
		return 0, "", false
	}), nil, nil)
	r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("status %d", w.Code)
	}
}

type checkerFunc func(netip.Addr, time.Time) (uint64, string, bool)

func (f checkerFunc) Check(a netip.Addr, now time.Time) (uint64, string, bool) { return f(a, now) }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" for valid
	}{
		{name: "default", edit: func(*Config) {}},
		{name: "proxies", edit: func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")}
		}},
		{name: "empty path", edit: func(c *Config) { c.Path = "" }, want: "forward_auth.path"},
		{name: "relative path", edit: func(c *Config) { c.Path = "v1/forward-auth" }, want: "not an absolute URL path"},
		{name: "path with query", edit: func(c *Config) { c.Path = "/a?b" }, want: "forward_auth.path"},
		{name: "invalid prefix", edit: func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }, want: "invalid prefix"},
		{name: "trust everyone v4", edit: func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} }, want: "trusts every address"},
		{name: "trust everyone v6", edit: func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("::/0")} }, want: "trusts every address"},
		{name: "trust everyone mapped", edit: func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/96")} }, want: "trusts every address"},
		{name: "status 200", edit: func(c *Config) { c.DeniedStatus = 200 }, want: "denied_status 200"},
		{name: "status 0", edit: func(c *Config) { c.DeniedStatus = 0 }, want: "denied_status 0"},
		{name: "status 600", edit: func(c *Config) { c.DeniedStatus = 600 }, want: "denied_status 600"},
		{name: "status 401", edit: func(c *Config) { c.DeniedStatus = 401 }},
		{name: "empty body", edit: func(c *Config) { c.DeniedBody = "" }},
		{name: "huge body", edit: func(c *Config) { c.DeniedBody = strings.Repeat("x", maxDeniedBody+1) }, want: "denied_body"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.edit(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
path: /auth
trusted_proxies: [127.0.0.1/32, "10.0.0.0/8", "::1/128"]
denied_body: "no\n"
denied_status: 401
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Path: "/auth", DeniedBody: "no\n", DeniedStatus: 401, TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	if c.Path != want.Path || c.DeniedBody != want.DeniedBody || c.DeniedStatus != want.DeniedStatus || !slices.Equal(c.TrustedProxies, want.TrustedProxies) {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	// Defaults survive a section that sets nothing.
	c = DefaultConfig()
	if err := yaml.Unmarshal([]byte("trusted_proxies: [192.0.2.1/32]\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Path != DefaultPath || c.DeniedStatus != 403 || c.DeniedBody != DefaultDeniedBody {
		t.Errorf("defaults lost: %+v", c)
	}
	c = DefaultConfig()
	if err := yaml.Unmarshal([]byte("trusted_proxies: [nginx.local]\n"), &c); err == nil {
		t.Error("a host name in trusted_proxies decoded without error")
	}
}

// TestDecisionTable runs the handler on the real table: the decision's ID
// comes back, and a ban stops counting when it ends.
func TestDecisionTable(t *testing.T) {
	tab := decision.NewTable()
	start := testNow.Add(-time.Minute)
	stored, _ := tab.Add(phalanx.Decision{Origin: phalanx.OriginManual, Type: "ban", Scenario: "manual",
		Value: netip.MustParsePrefix("203.0.113.0/24"), Start: start, Until: testNow.Add(time.Hour)})
	if stored.ID == 0 {
		t.Fatal("ban not stored")
	}
	now := testNow
	c := DefaultConfig()
	c.TrustedProxies = testTrusted
	m := new(Metrics)
	h := New(c, tab, func() time.Time { return now }, m)
	ask := func(peer, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := ask("203.0.113.99:1", ""); w.Code != 403 || w.Header().Get(DecisionHeader) != formatID(stored.ID) {
		t.Errorf("banned range: %d %s=%q, want 403 and %d", w.Code, DecisionHeader, w.Header().Get(DecisionHeader), stored.ID)
	}
	if w := ask("10.1.2.3:1", "::ffff:203.0.113.5, 10.9.9.9"); w.Code != 403 {
		t.Errorf("banned range through proxies: %d", w.Code)
	}
	if w := ask("203.0.114.1:1", ""); w.Code != 200 {
		t.Errorf("outside the range: %d", w.Code)
	}
	now = testNow.Add(2 * time.Hour)
	if w := ask("203.0.113.99:1", ""); w.Code != 200 {
		t.Errorf("after the ban ended: %d", w.Code)
	}
	if got, want := m.Counts(), (Counts{Allowed: 2, Denied: 2}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}
