package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/netns"
)

// TestAPIConnectionFlood: one source opening 300 idle connections to the
// API keeps at most 64 of them (the rest are closed at once and counted),
// and another source still gets answers.
func TestAPIConnectionFlood(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Link(t, server, netip.MustParsePrefix("10.233.0.1/24"), client, netip.MustParsePrefix("10.233.0.2/24"))
	other := netip.MustParseAddr("10.233.0.3")
	client.AddAddr(t, netns.IfName(server), netip.PrefixFrom(other, 24))
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp", "10.233.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), func(_ *config.File, o *daemon.Options) { o.Listener = ln })
	addr := m.d.Addr()

	dial := func(src netip.Addr) (net.Conn, error) {
		var c net.Conn
		err := client.Do(func() (err error) {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			c, err = d.Dial("tcp", addr)
			return err
		})
		return c, err
	}
	waitFor(t, 10*time.Second, "the second address to be usable", func() bool {
		c, err := dial(other)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	const flood = 300
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range flood {
		c, err := dial(netip.MustParseAddr("10.233.0.2"))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		conns = append(conns, c)
	}
	// The server closes what it refuses: a read sees EOF at once, while a
	// kept connection just waits (its read times out).
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed++
			}
		}
	}
	if closed < flood-64 {
		t.Errorf("%d of %d idle connections from one source were closed; want at least %d", closed, flood, flood-64)
	}

	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return dial(other) }}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("status from another source during the flood: %v", err)
	}
	defer resp.Body.Close()
	var st daemon.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: HTTP %d, %v", resp.StatusCode, err)
	}
	if st.API["refused"] < flood-64 || st.API["connections"] > 64+1 {
		t.Errorf("status api %v: want at least %d refused and at most 65 open", st.API, flood-64)
	}
}

// TestServeListenerRoles: with a serve listener, it answers the bouncer
// API, feeds, forward-auth and /metrics (open: it is on loopback) and
// knows nothing of the admin API or the console; the API listener keeps
// those and /metrics, and no longer answers bouncers.
func TestServeListenerRoles(t *testing.T) {
	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), func(c *config.File, _ *daemon.Options) {
		c.Daemon.Serve = "127.0.0.1:0"
		c.ForwardAuth.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	serve := m.d.ServeAddr()
	if serve == "" || serve == info.Addr {
		t.Fatalf("serve address %q, API address %q: want two listeners", serve, info.Addr)
	}
	get := func(addr, path string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", addr, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := "Bearer " + info.Token
	req, _ := http.NewRequest("POST", "http://"+info.Addr+"/api/bouncers", strings.NewReader(`{"name":"edge"}`))
	req.Header.Set("Authorization", admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		APIKey string `json:"api_key"`
	}
	json.NewDecoder(resp.Body).Decode(&key)
	resp.Body.Close()
	if resp.StatusCode != 201 || key.APIKey == "" {
		t.Fatalf("add bouncer: HTTP %d, key %q", resp.StatusCode, key.APIKey)
	}
	tests := []struct {
		name, addr, path string
		hdr              []string
		want             int
	}{
		{"bouncer API", serve, "/v1/decisions?ip=192.0.2.1", []string{"X-Api-Key", key.APIKey}, 200},
		{"bouncer API without key", serve, "/v1/decisions", nil, 403},
		{"bouncer stream", serve, "/v1/decisions/stream?startup=true", []string{"X-Api-Key", key.APIKey}, 200},
		{"feed", serve, "/v1/feeds/plain", []string{"X-Api-Key", key.APIKey}, 200},
		{"forward-auth", serve, "/v1/forward-auth", []string{"X-Real-IP", "192.0.2.10"}, 200},
		{"metrics on loopback", serve, "/metrics", nil, 200},
		{"admin API", serve, "/api/status", []string{"Authorization", admin}, 404},
		{"admin API, another route", serve, "/api/decisions", []string{"Authorization", admin}, 404},
		{"console", serve, "/ui/", nil, 404},
		{"console login", serve, "/ui/login", nil, 404},
		{"API: admin", info.Addr, "/api/status", []string{"Authorization", admin}, 200},
		{"API: console", info.Addr, "/ui/login", nil, 200},
		{"API: metrics", info.Addr, "/metrics", nil, 200},
		{"API: bouncers elsewhere", info.Addr, "/v1/decisions", []string{"X-Api-Key", key.APIKey}, 404},
		{"API: forward-auth elsewhere", info.Addr, "/v1/forward-auth", []string{"X-Real-IP", "192.0.2.10"}, 404},
	}
	for _, tt := range tests {
		if code, body := get(tt.addr, tt.path, tt.hdr...); code != tt.want {
			t.Errorf("%s: GET %s%s: HTTP %d, want %d (%.200s)", tt.name, tt.addr, tt.path, code, tt.want, body)
		}
	}
	// A ban made through the admin API reaches web servers through the
	// serve listener.
	req, _ = http.NewRequest("POST", "http://"+info.Addr+"/api/decisions", strings.NewReader(`{"value":"192.0.2.0/24","duration":"1h"}`))
	req.Header.Set("Authorization", admin)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("add decision: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, _ := get(serve, "/v1/forward-auth", "X-Real-IP", "192.0.2.10"); code != 403 {
		t.Errorf("forward-auth for a banned client on the serve listener: HTTP %d, want 403", code)
	}
	if code, body := get(serve, "/v1/feeds/plain", "X-Api-Key", key.APIKey); code != 200 || !strings.Contains(body, "192.0.2.0/24") {
		t.Errorf("feed on the serve listener: HTTP %d %q, want the ban", code, body)
	}
	var st daemon.Status
	req, _ = http.NewRequest("GET", "http://"+info.Addr+"/api/status", nil)
	req.Header.Set("Authorization", admin)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if _, ok := st.API["serve_connections"]; !ok {
		t.Errorf("status api %v: no serve listener counters", st.API)
	}
}

// testCert writes a self-signed ECDSA certificate for 127.0.0.1 and ::1
// and its key (mode 0600) to dir, and returns their paths and a pool that
// trusts it.
func testCert(t *testing.T, dir, name string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestTLSListeners: with api_tls and serve_tls both listeners speak HTTPS
// only (a plain request is refused), the console's cookie is Secure, the
// CLI's address file says https and carries the certificate, and SIGHUP's
// reload swaps a renewed certificate in without a restart.
func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	apiCert, apiKey, apiPool := testCert(t, dir, "api")
	serveCert, serveKey, servePool := testCert(t, dir, "serve")
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), func(c *config.File, _ *daemon.Options) {
		c.Daemon.Serve = "127.0.0.1:0"
		c.Daemon.APITLS = config.TLS{Cert: apiCert, Key: apiKey}
		c.Daemon.ServeTLS = config.TLS{Cert: serveCert, Key: serveKey}
	})
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Addr != "https://"+m.d.Addr() {
		t.Errorf("api address file %q; want https://%s", info.Addr, m.d.Addr())
	}
	if want, _ := os.ReadFile(apiCert); string(info.Cert) != string(want) {
		t.Errorf("the API's certificate for the CLI:\n%s\nwant\n%s", info.Cert, want)
	}
	client := func(pool *x509.CertPool) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	do := func(hc *http.Client, method, url string, hdr ...string) (*http.Response, string, error) {
		req, _ := http.NewRequest(method, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	api, serve := client(apiPool), client(servePool)
	admin := "Bearer " + info.Token
	if resp, body, err := do(api, "GET", "https://"+m.d.Addr()+"/api/status", "Authorization", admin); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status over HTTPS: %v %v %.200s", resp, err, body)
	} else if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v", resp.TLS)
	}
	if resp, body, err := do(serve, "GET", "https://"+m.d.ServeAddr()+"/v1/forward-auth", "X-Real-IP", "192.0.2.1"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("forward-auth over HTTPS: %v %v %.200s", resp, err, body)
	}
	if resp, _, err := do(serve, "GET", "https://"+m.d.ServeAddr()+"/api/status", "Authorization", admin); err != nil || resp.StatusCode != 404 {
		t.Errorf("admin API on the serve listener over HTTPS: %v %v, want 404", resp, err)
	}
	for _, addr := range []string{m.d.Addr(), m.d.ServeAddr()} {
		resp, body, err := do(http.DefaultClient, "GET", "http://"+addr+"/metrics")
		if err == nil && resp.StatusCode < 400 {
			t.Errorf("plain HTTP to %s: HTTP %d %.100s; want it refused", addr, resp.StatusCode, body)
		}
	}
	tls11 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apiPool, MaxVersion: tls.VersionTLS11}}}
	if _, _, err := do(tls11, "GET", "https://"+m.d.Addr()+"/metrics"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}

	// The console over TLS: a one-time link signs in with a Secure cookie.
	resp, body, err := do(api, "POST", "https://"+m.d.Addr()+"/ui/login-link", "Authorization", admin)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("login link: %v %v %.200s", resp, err, body)
	}
	var link struct{ Path string }
	json.Unmarshal([]byte(body), &link)
	if resp, _, err = do(api, "GET", "https://"+m.d.Addr()+link.Path); err != nil {
		t.Fatal(err)
	}
	var secure, found bool
	for _, ck := range resp.Cookies() {
		found, secure = true, ck.Secure
	}
	if !found || !secure {
		t.Errorf("console sign-in over TLS: HTTP %d, cookies %v; want a Secure one", resp.StatusCode, resp.Cookies())
	}

	// Renewal: new files in place, then the reload SIGHUP makes.
	dir2 := t.TempDir()
	newCert, newKey, newPool := testCert(t, dir2, "api")
	for _, p := range [][2]string{{newCert, apiCert}, {newKey, apiKey}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if resp, _, err := do(client(newPool), "GET", "https://"+m.d.Addr()+"/api/status", "Authorization", admin); err != nil || resp.StatusCode != 200 {
		t.Errorf("after the reload, the renewed certificate: %v %v", resp, err)
	}
	if _, _, err := do(client(apiPool), "GET", "https://"+m.d.Addr()+"/api/status", "Authorization", admin); err == nil {
		t.Error("after the reload, the old certificate is still served")
	}
	if info2, err := daemon.ReadClientInfo(m.dir); err != nil || string(info2.Cert) == string(info.Cert) {
		t.Errorf("after the reload the CLI's copy of the certificate was not rewritten (%v)", err)
	}
}

// TestMetricsOpenOnLoopback: on a loopback API address /metrics asks for
// no token (a local Prometheus scrapes it as before), and the metrics
// token is made, private, in the data directory for other addresses.
func TestMetricsOpenOnLoopback(t *testing.T) {
	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"), nil)
	resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "phalanx_") {
		t.Errorf("/metrics on %s without a token: HTTP %d", m.d.Addr(), resp.StatusCode)
	}
	fi, err := os.Stat(filepath.Join(m.dir, "metrics.token"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Errorf("metrics token: %v, %v; want a private file", fi, err)
	}
}
