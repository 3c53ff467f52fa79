package forwardauth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzPeers are the connections a fuzzed request comes from: trusted
// proxies of both families (one written mapped) and untrusted clients.
var fuzzPeers = []string{"10.0.0.1:80", "127.0.0.1:80", "[fd00::1]:80", "[::ffff:10.0.0.2]:80", "192.0.2.1:80", "[2001:db8::1]:80", "203.0.113.7:80"}

// FuzzForwardedFor feeds hostile X-Forwarded-For and X-Real-IP headers
// (lines separated by '\n') to the handler. It must never panic or answer
// anything but 200 or 403, must read no header of an untrusted peer, must
// agree with a plain split-and-walk model of X-Forwarded-For, and must deny
// a banned client however the header before its proxy's entry is forged.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []struct {
		peer     uint8
		xff, xri string
	}{
		{0, "203.0.113.7", ""},
		{0, "192.0.2.9, 203.0.113.7, 10.0.0.2", ""},
		{1, "", "203.0.113.7"},
		{2, "2001:db8::7, fd00::2", ""},
		{0, "::ffff:203.0.113.7", "::ffff:192.0.2.1"},
		{0, "fe80::1%eth0, 10.0.0.2", "[fe80::1%eth0]:80"},
		{0, ",,,, , ,", ""},
		{3, "[2001:db8::7]:443\n10.0.0.9", "1.2.3.4:5\n6.7.8.9"},
		{0, strings.Repeat("10.0.0.3,", 40), ""},
		{4, "203.0.113.7", "203.0.113.7"},
		{0, "unknown, _hidden, 1.2.3", "localhost"},
		{0, "203.0.113.7, " + strings.Repeat(" ", 70) + "10.0.0.2", strings.Repeat(" ", 70) + "1.2.3.4"},
		{1, strings.Repeat("a", 200) + "\n" + strings.Repeat("10.0.0.9", 20), ""},
	} {
		f.Add(s.peer, s.xff, s.xri)
	}
	c := DefaultConfig()
	c.TrustedProxies = testTrusted
	f.Fuzz(func(t *testing.T, peerSel uint8, xff, xri string) {
		peerStr := fuzzPeers[int(peerSel)%len(fuzzPeers)]
		peer, _ := parsePeer(peerStr)
		var xffLines, xriLines []string
		if xff != "" {
			xffLines = strings.Split(xff, "\n")
		}
		if xri != "" {
			xriLines = strings.Split(xri, "\n")
		}
		serve := func(banned map[netip.Addr]uint64, xffLines, xriLines []string) (*httptest.ResponseRecorder, *fakeChecker, Counts) {
			fc := &fakeChecker{t: t, banned: banned, now: testNow}
			m := new(Metrics)
			h := New(c, fc, func() time.Time { return testNow }, m)
			r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
			r.RemoteAddr = peerStr
			if xffLines != nil {
				r.Header[headerForwardedFor] = xffLines
			}
			if xriLines != nil {
				r.Header[headerRealIP] = xriLines
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w, fc, m.Counts()
		}

		// Nothing banned: every candidate is checked.
		w, fc, counts := serve(nil, xffLines, xriLines)
		if w.Code != http.StatusOK {
			t.Fatalf("nothing banned, status %d", w.Code)
		}
		if len(fc.checked) == 0 || len(fc.checked) > 8 {
			t.Fatalf("checked %v", fc.checked)
		}
		for i, a := range fc.checked {
			if slices.Contains(fc.checked[:i], a) {
				t.Fatalf("checked %v twice: %v", a, fc.checked)
			}
		}
		h := New(c, nil, nil, nil)
		if !h.isTrusted(peer) {
			if !slices.Equal(fc.checked, []netip.Addr{peer}) || counts.BadHeader != 0 {
				t.Fatalf("untrusted peer %v: checked %v, bad %d; its headers must not be read", peer, fc.checked, counts.BadHeader)
			}
		} else if xriLines == nil && xffLines != nil {
			want, bad := refForwarded(h, xffLines, peer)
			if !slices.Equal(fc.checked, want) || bad != (counts.BadHeader == 1) {
				t.Fatalf("XFF %q from %v: checked %v bad %v; model says %v bad %v", xffLines, peer, fc.checked, counts.BadHeader, want, bad)
			}
		}

		// A ban on any checked address denies.
		banned := map[netip.Addr]uint64{fc.checked[len(fc.checked)-1]: 42}
		if w, _, _ := serve(banned, xffLines, xriLines); w.Code != http.StatusForbidden || w.Header().Get(DecisionHeader) != "42" {
			t.Fatalf("ban on %v not applied: %d", fc.checked[len(fc.checked)-1], w.Code)
		}

		// A trusted proxy appending the banned client's address (as nginx's
		// $proxy_add_x_forwarded_for does) denies whatever came before.
		if h.isTrusted(peer) {
			client := netip.MustParseAddr("198.51.100.1")
			appended := append(slices.Clone(xffLines), client.String())
			w, _, _ := serve(map[netip.Addr]uint64{client: 9}, appended, xriLines)
			if w.Code != http.StatusForbidden {
				t.Fatalf("XFF %q + banned client: status %d", appended, w.Code)
			}
			// The same with X-Real-IP set by the proxy, whatever XFF says.
			w, _, _ = serve(map[netip.Addr]uint64{client: 9}, xffLines, []string{client.String()})
			if w.Code != http.StatusForbidden {
				t.Fatalf("X-Real-IP banned client with XFF %q: status %d", xffLines, w.Code)
			}
		}
	})
}

// refForwarded is the obvious model of walkForwarded: split every line on
// commas and walk from the right.
func refForwarded(h *Handler, lines []string, peer netip.Addr) ([]netip.Addr, bool) {
	var elems []string
	for _, l := range lines {
		elems = append(elems, strings.Split(l, ",")...)
	}
	hop, hops := peer, 0
	for i := len(elems) - 1; i >= 0; i-- {
		a, ok := parseElem(elems[i])
		if !ok {
			r := []netip.Addr{hop}
			if a.IsValid() && a != hop {
				r = append(r, a)
			}
			return r, true
		}
		if !h.isTrusted(a) {
			return []netip.Addr{a}, false
		}
		hop = a
		if hops++; hops > maxHops {
			return []netip.Addr{hop}, true
		}
	}
	return []netip.Addr{hop}, false
}
