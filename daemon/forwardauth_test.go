package daemon_test

import (
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"phalanx/config"
	"phalanx/daemon"
)

// TestForwardAuthFollowsDecisions: a manual ban made through the admin API
// is answered 403 by the forward-auth endpoint for a trusted proxy's client,
// a pardon makes it 200 again, and an untrusted peer cannot forge its way.
func TestForwardAuthFollowsDecisions(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	startWith(t, dataDir, filepath.Join(dir, "auth.log"), func(c *config.File, _ *daemon.Options) {
		c.ForwardAuth.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	info, err := daemon.ReadClientInfo(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	admin := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "http://"+info.Addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+info.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	check := func(realIP string) int {
		req, _ := http.NewRequest("GET", "http://"+info.Addr+"/v1/forward-auth", nil)
		req.Header.Set("X-Real-IP", realIP)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := check("192.0.2.10"); code != 200 {
		t.Fatalf("before any ban: %d", code)
	}
	if code := admin("POST", "/api/decisions", `{"value":"192.0.2.0/24","duration":"1h","reason":"test"}`); code != 201 {
		t.Fatalf("add decision: %d", code)
	}
	if code := check("192.0.2.10"); code != 403 {
		t.Errorf("banned range member: %d, want 403", code)
	}
	if code := check("192.0.3.10"); code != 200 {
		t.Errorf("outside the range: %d, want 200", code)
	}
	if code := admin("POST", "/api/decisions", `{"value":"127.0.0.1"}`); code != 422 {
		t.Errorf("banning loopback: %d, want 422 (territory)", code)
	}
	if code := admin("DELETE", "/api/decisions?value=192.0.2.0/24", ""); code != 200 {
		t.Fatalf("delete decision: %d", code)
	}
	if code := check("192.0.2.10"); code != 200 {
		t.Errorf("after the pardon: %d, want 200", code)
	}
}
