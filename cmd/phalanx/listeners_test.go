package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestCLIOverUnixSocket: with --api unix:PATH the daemon serves its admin
// API on a socket of mode 0600 and nowhere else, and the client commands
// find it through the data directory (or --api unix:PATH with
// PHALANX_TOKEN).
func TestCLIOverUnixSocket(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "auth.log")
	os.WriteFile(logPath, nil, 0o600)
	sock := filepath.Join(dir, "run", "api.sock")
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath, "--api", "unix:"+sock)
	var out string
	waitUntil(t, 30*time.Second, "phalanx status over the socket", func() bool {
		select {
		case <-p.done:
			t.Fatalf("daemon exited: see %s", filepath.Join(dir, "daemon.log"))
		default:
		}
		var code int
		code, out, _ = runCLI(t, "", "status", "--data", dataDir)
		return code == 0
	})
	if !strings.Contains(out, "member") || !strings.Contains(out, "enforcement") {
		t.Errorf("status over the socket:\n%s", out)
	}
	// A browser cannot open a socket: the console command says so rather
	// than print a link nobody can follow.
	if code, out, errs := runCLI(t, "", "console", "--data", dataDir); code == 0 || !strings.Contains(errs, "Unix socket") {
		t.Errorf("console over the socket: exit %d, %q %q; want a refusal that names the socket", code, out, errs)
	}
	if addr, _ := os.ReadFile(filepath.Join(dataDir, "api.addr")); strings.TrimSpace(string(addr)) != "unix:"+sock {
		t.Errorf("api.addr %q; want unix:%s", addr, sock)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %v %v: want mode 0600", fi, err)
	}
	if code, out, errs := runCLI(t, "", "bouncers", "add", "edge", "--data", dataDir); code != 0 || len(strings.TrimSpace(out)) < 16 {
		t.Errorf("bouncers add over the socket: exit %d, %q %q", code, out, errs)
	}
	info, err := daemon.ReadClientInfo(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PHALANX_TOKEN", info.Token)
	if code, out, errs := runCLI(t, "", "decisions", "list", "--api", "unix:"+sock, "--data", filepath.Join(dir, "none")); code != 0 || !strings.Contains(out, "no active decisions") {
		t.Errorf("decisions list --api unix:PATH: exit %d, %q %q", code, out, errs)
	}
	t.Setenv("PHALANX_TOKEN", "wrong-token-wrong-token-wrong-token")
	if code, _, errs := runCLI(t, "", "status", "--api", "unix:"+sock); code == 0 || !strings.Contains(errs, "admin token") {
		t.Errorf("a wrong token over the socket: exit %d, %q; want refused", code, errs)
	}
}

// TestCLIOverTLS: with api_tls the CLI reaches the API over HTTPS,
// accepting the certificate the daemon wrote to its data directory and
// nothing else; the serve listener (--serve) is HTTPS too and keeps the
// admin API out.
func TestCLIOverTLS(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "auth.log")
	os.WriteFile(logPath, nil, 0o600)
	cert, key := writeTestCert(t, dir)
	cfg := filepath.Join(dir, "phalanx.yaml")
	os.WriteFile(cfg, []byte("daemon:\n  api_tls: {cert: "+cert+", key: "+key+"}\n  serve_tls: {cert: "+cert+", key: "+key+"}\n"), 0o600)
	serve := "127.0.0.1:" + itoaPort(t)
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath, "--config", cfg, "--serve", serve)
	var out, errs string
	waitUntil(t, 30*time.Second, "phalanx status over HTTPS", func() bool {
		select {
		case <-p.done:
			t.Fatalf("daemon exited: see %s", filepath.Join(dir, "daemon.log"))
		default:
		}
		var code int
		code, out, errs = runCLI(t, "", "status", "--data", dataDir)
		return code == 0
	})
	if !strings.Contains(out, "member") {
		t.Errorf("status over HTTPS:\n%s%s", out, errs)
	}
	info, err := daemon.ReadClientInfo(dataDir)
	if err != nil || !strings.HasPrefix(info.Addr, "https://") {
		t.Fatalf("client info %+v, %v: want an https address", info, err)
	}
	// Plain HTTP is refused on both listeners.
	for _, addr := range []string{strings.TrimPrefix(info.Addr, "https://"), serve} {
		if resp, err := http.Get("http://" + addr + "/v1/decisions"); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("plain HTTP to %s: HTTP %d", addr, resp.StatusCode)
			}
		}
	}
	// A certificate other than the daemon's is refused by the CLI.
	other, _ := writeTestCert(t, t.TempDir())
	data, _ := os.ReadFile(other)
	os.WriteFile(filepath.Join(dataDir, "api.pem"), data, 0o644)
	if code, _, errs := runCLI(t, "", "status", "--data", dataDir); code == 0 || !strings.Contains(errs, "not the one the daemon wrote") {
		t.Errorf("status with another pinned certificate: exit %d, %q; want refused", code, errs)
	}
}

// itoaPort is a free loopback port, as text.
func itoaPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// writeTestCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// its key (mode 0600) to dir.
func writeTestCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "phalanx test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
