package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func newTestGuard(t *testing.T, trusted ...string) *Guard {
	t.Helper()
	c := Config{URL: "http://127.0.0.1:1", APIKey: "k"}
	for _, s := range trusted {
		c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(s))
	}
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestClientAddr(t *testing.T) {
	g := newTestGuard(t, "10.0.0.0/8", "2001:db8:ffff::/48", "::ffff:192.168.1.1/128")
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string // header lines
		want   string   // "" when there is no address
	}{
		{name: "peer", remote: "192.0.2.1:4321", want: "192.0.2.1"},
		{name: "peer IPv6", remote: "[2001:db8::1]:4321", want: "2001:db8::1"},
		{name: "peer mapped", remote: "[::ffff:192.0.2.1]:4321", want: "192.0.2.1"},
		{name: "peer with zone", remote: "[fe80::1%eth0]:4321", want: "fe80::1"},
		{name: "peer without port", remote: "192.0.2.1", want: "192.0.2.1"},
		{name: "unix socket", remote: "@", want: ""},
		{name: "empty", remote: "", want: ""},
		{name: "untrusted peer's header is ignored", remote: "192.0.2.1:1", xff: []string{"198.51.100.1"}, want: "192.0.2.1"},
		{name: "trusted peer, one hop", remote: "10.0.0.1:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted peer, no header", remote: "10.0.0.1:1", want: "10.0.0.1"},
		{name: "trusted peer, empty header", remote: "10.0.0.1:1", xff: []string{""}, want: "10.0.0.1"},
		{name: "client's own claims left of the hop are ignored", remote: "10.0.0.1:1", xff: []string{"1.1.1.1, 8.8.8.8, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted hops are skipped from the right", remote: "10.0.0.1:1", xff: []string{"1.1.1.1, 198.51.100.1, 10.9.9.9,10.8.8.8"}, want: "198.51.100.1"},
		{name: "several header lines", remote: "10.0.0.1:1", xff: []string{"1.1.1.1, 198.51.100.1", "10.9.9.9"}, want: "198.51.100.1"},
		{name: "all hops trusted: the leftmost", remote: "10.0.0.1:1", xff: []string{"10.1.1.1, 10.2.2.2"}, want: "10.1.1.1"},
		{name: "hops with ports and brackets", remote: "10.0.0.1:1", xff: []string{"[2001:db8::7]:443, 10.2.2.2:80"}, want: "2001:db8::7"},
		{name: "bare IPv6 hop", remote: "[2001:db8:ffff::1]:1", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "mapped hop", remote: "10.0.0.1:1", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted mapped peer", remote: "[::ffff:192.168.1.1]:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "empty items are skipped", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, , ,"}, want: "198.51.100.1"},
		{name: "garbage stops the walk at the last trusted hop", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, unknown, 10.2.2.2"}, want: "10.2.2.2"},
		{name: "garbage at once", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, unknown"}, want: "10.0.0.1"},
		{name: "too many trusted hops", remote: "10.0.0.1:1", xff: []string{"198.51.100.1," + strings.Repeat("10.0.0.2,", maxHops+5)}, want: "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			a, ok := g.clientAddr(r)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("client = %q, want %q", got, tc.want)
			}
		})
	}
	// Without trusted proxies the header is never read.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if a, _ := newTestGuard(t).clientAddr(r); a != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("without trusted proxies: client = %v, want the peer", a)
	}
}

func TestHandler(t *testing.T) {
	g := newTestGuard(t, "10.0.0.0/8")
	until := unixUntil(time.Now().Add(time.Hour))
	g.tab.apply([]ban{
		{netip.MustParsePrefix("192.0.2.1/32"), until},
		{netip.MustParsePrefix("198.51.100.0/24"), until},
	}, nil)
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }))
	for _, tc := range []struct {
		remote, xff string
		want        int
	}{
		{"192.0.2.1:1", "", http.StatusForbidden},
		{"192.0.2.2:1", "", http.StatusOK},
		{"198.51.100.9:1", "", http.StatusForbidden},
		{"10.0.0.1:1", "192.0.2.1", http.StatusForbidden},
		{"10.0.0.1:1", "192.0.2.2", http.StatusOK},
		{"10.0.0.1:1", "192.0.2.2, 198.51.100.3", http.StatusForbidden},
		{"10.0.0.1:1", "192.0.2.1, 192.0.2.2", http.StatusOK}, // the client's own claims are not read
		{"192.0.2.2:1", "192.0.2.1", http.StatusOK},           // nor is an untrusted peer's header
		{"@", "", http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s (X-Forwarded-For %q): status %d, want %d", tc.remote, tc.xff, w.Code, tc.want)
		}
		if w.Code == http.StatusForbidden && (w.Body.String() == "hello" || w.Header().Get("Cache-Control") != "no-store") {
			t.Errorf("%s: a refusal reached the service or may be cached: %q, %q", tc.remote, w.Body, w.Header())
		}
		if w.Code == http.StatusOK && w.Body.String() != "hello" {
			t.Errorf("%s: body %q, want the service's", tc.remote, w.Body)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		ok   bool
	}{
		{"fine", Config{URL: "http://127.0.0.1:8080", APIKey: "abc"}, true},
		{"https with a path", Config{URL: "https://phalanx.example/api/", APIKey: "abc"}, true},
		{"no URL", Config{APIKey: "abc"}, false},
		{"no scheme", Config{URL: "127.0.0.1:8080", APIKey: "abc"}, false},
		{"other scheme", Config{URL: "ftp://127.0.0.1", APIKey: "abc"}, false},
		{"query", Config{URL: "http://127.0.0.1:8080/?x=1", APIKey: "abc"}, false},
		{"no key", Config{URL: "http://127.0.0.1:8080"}, false},
		{"key with a newline", Config{URL: "http://127.0.0.1:8080", APIKey: "abc\n"}, false},
		{"negative interval", Config{URL: "http://127.0.0.1:8080", APIKey: "abc", Interval: -time.Second}, false},
		{"interval too short", Config{URL: "http://127.0.0.1:8080", APIKey: "abc", Interval: time.Millisecond}, false},
		{"invalid proxy", Config{URL: "http://127.0.0.1:8080", APIKey: "abc", TrustedProxies: []netip.Prefix{{}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.c)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "middleware: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
			if g != nil && g.interval != DefaultInterval {
				t.Errorf("interval %v, want the default %v", g.interval, DefaultInterval)
			}
		})
	}
	g, _ := New(Config{URL: "https://phalanx.example/api/", APIKey: "abc"})
	if want := "https://phalanx.example/api/v1/decisions/stream"; g.stream != want {
		t.Errorf("stream URL %q, want %q", g.stream, want)
	}
}
