package daemon_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"phalanx/daemon"
	"phalanx/testenv"
)

// TestFabricNoiseMetrics: CONNECTs to a member's fabric port with a key
// the charter does not list show in the auth-failure metric and in
// status's fabric_noise.
func TestFabricNoiseMetrics(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a")
	fab := testenv.FreeFabricAddr(t)
	if _, err := daemon.InitAlliance(dir, daemon.InitOptions{Name: "noise-fleet", Fabric: fab, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m := startMember(t, dir, filepath.Join(base, "a.log"))

	authFailures := regexp.MustCompile(`(?m)^phalanx_fabric_auth_failures_total (\S+)$`)
	scrape := func() float64 {
		t.Helper()
		resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		match := authFailures.FindSubmatch(body)
		if match == nil {
			t.Fatal("/metrics lacks phalanx_fabric_auth_failures_total")
		}
		v, err := strconv.ParseFloat(string(match[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := scrape()

	stranger, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := stranger.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	// The member's certificate is its own key, not a CA's: accept any, as a
	// guest does; the CONNECT after the handshake is what must fail.
	strangerTLS := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	const n = 3
	for i := range n {
		nc, err := nats.Connect("nats://"+fab, nats.Nkey(pub, stranger.Sign),
			nats.Secure(strangerTLS), nats.TLSHandshakeFirst(),
			nats.MaxReconnects(0), nats.Timeout(10*time.Second))
		if err == nil {
			nc.Close()
			t.Fatalf("CONNECT %d with a key the charter does not list was accepted", i)
		}
	}
	waitFor(t, 20*time.Second, "the failed CONNECTs in phalanx_fabric_auth_failures_total", func() bool {
		return scrape() >= before+n
	})
	after := scrape()
	if after != before+n {
		t.Errorf("phalanx_fabric_auth_failures_total went from %v to %v after %d failed CONNECTs", before, after, n)
	}
	var st daemon.Status
	if code := m.admin("GET", "/api/status", &st); code != 200 {
		t.Fatalf("status: HTTP %d", code)
	}
	if got := st.FabricNoise["auth_failures"]; float64(got) != after {
		t.Errorf("status fabric_noise.auth_failures = %d, the metric says %v (fabric_noise %v)", got, after, st.FabricNoise)
	}
	t.Logf("fabric_noise: %v", st.FabricNoise)
}
