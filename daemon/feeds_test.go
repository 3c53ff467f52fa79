package daemon_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/feed"
)

// TestFeedInAndOut subscribes a member to a blocklist served on loopback:
// its entries become feed bans, territory and 0.0.0.0/0 are refused, and the
// member's own feeds serve the bans to anyone with a bouncer key.
func TestFeedInAndOut(t *testing.T) {
	list := "; a DROP-style list\n198.51.100.0/24 ; SBL1\n203.0.113.9\n0.0.0.0/0\n127.0.0.1\nnot an address\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, list) }))
	defer srv.Close()

	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), func(c *config.File, _ *daemon.Options) {
		c.Feeds.Sources = []feed.Source{{Name: "test", URL: srv.URL, Format: "drop", Interval: time.Hour}}
	})
	d := m.d
	waitFor(t, 10*time.Second, "the feed's bans", func() bool {
		_, a := d.Table().Lookup(netip.MustParseAddr("198.51.100.77"), time.Now())
		_, b := d.Table().Lookup(netip.MustParseAddr("203.0.113.9"), time.Now())
		return a && b
	})
	x, _ := d.Table().Lookup(netip.MustParseAddr("198.51.100.77"), time.Now())
	if x.Origin != phalanx.OriginFeed || x.Value != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("feed decision %+v", x)
	}
	for _, a := range []string{"127.0.0.1", "192.0.2.1", "8.8.8.8"} {
		if _, ok := d.Table().Lookup(netip.MustParseAddr(a), time.Now()); ok {
			t.Errorf("%s banned by the feed", a)
		}
	}
	if n := d.Table().Len(); n != 2 {
		t.Errorf("%d decisions, want 2", n)
	}

	var res map[string]string
	if code := m.admin("POST", "/api/bouncers", nil); code != 400 {
		t.Errorf("bouncer add without a name: %d", code)
	}
	req, _ := http.NewRequest("POST", "http://"+d.Addr()+"/api/bouncers", strings.NewReader(`{"name":"feedreader"}`))
	info, _ := daemon.ReadClientInfo(m.dir)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jsonDecode(t, resp.Body, &res)
	resp.Body.Close()
	get := func(key string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+d.Addr()+"/v1/feeds/plain", nil)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != 403 {
		t.Errorf("feed without a key: %d, want 403", code)
	}
	code, body := get(res["api_key"])
	if code != 200 || !strings.Contains(body, "198.51.100.0/24\n") || !strings.Contains(body, "203.0.113.9\n") {
		t.Errorf("plain feed: %d %q", code, body)
	}
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	if len(st.Feeds) != 1 || st.Feeds[0].Entries < 2 {
		t.Errorf("status feeds: %+v", st.Feeds)
	}
}
