package daemon_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
	"phalanx/testenv"
)

// fabricCA is an operator CA made for a test.
type fabricCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	path string // its certificate, PEM
}

func newFabricCA(t *testing.T, dir, name string) *fabricCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	ca := &fabricCA{cert: c, key: key, path: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.path, der)
	return ca
}

// issue writes a certificate ca issued for pub, valid until notAfter, to
// dir/name.pem and returns its path.
func (ca *fabricCA) issue(t *testing.T, dir, name string, pub ed25519.PublicKey, notAfter time.Time) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pem")
	writePEM(t, p, der)
	return p
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFabricCA: run --check of an alliance member with
// daemon.fabric_ca and fabric_cert passes with the certificate the CA
// issued for the request `phalanx alliance csr` prints, and refuses one
// for another key, one from another CA and an expired one, saying which.
func TestCheckFabricCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "member")
	req, id, err := daemon.FabricCertificateRequest(dir) // a new member asks before it has run
	if err != nil {
		t.Fatal(err)
	}
	// The check looks at the fabric's port, its cluster port (port+1) and
	// its leaf port (port+2): three, below the ephemeral ports that other
	// tests' listeners take.
	initAlliance(t, dir, testenv.FreeFabricAddr(t))
	again, id2, err := daemon.FabricCertificateRequest(dir)
	if err != nil || id2 != id {
		t.Fatalf("a second request: member %s, %v; want member %s", id2, err, id)
	}
	blk, _ := pem.Decode(again)
	if blk == nil {
		t.Fatalf("not PEM: %q", again)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if blk0, _ := pem.Decode(req); blk0 == nil || csr.Subject.CommonName != id {
		t.Fatalf("request names %q, want the member id %s", csr.Subject.CommonName, id)
	}
	pub := csr.PublicKey.(ed25519.PublicKey)
	stranger, _, _ := ed25519.GenerateKey(rand.Reader)

	certDir := t.TempDir()
	ca, other := newFabricCA(t, certDir, "operator"), newFabricCA(t, certDir, "other")
	good := ca.issue(t, certDir, "good", pub, time.Now().Add(24*time.Hour))
	logPath := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, caFile, certFile string
		want                   string // "" for no error
	}{
		{"issued by the CA", ca.path, good, ""},
		{"another key", ca.path, ca.issue(t, certDir, "stranger", stranger, time.Now().Add(24*time.Hour)), "not for this member's identity key"},
		{"another CA", other.path, good, "not issued by the operator CA"},
		{"expired", ca.path, ca.issue(t, certDir, "expired", pub, time.Now().Add(-time.Minute)), "expired at"},
		{"missing", ca.path, filepath.Join(certDir, "none.pem"), "no such file"},
	} {
		o := checkOptions(dir, logPath)
		o.Config.Daemon.FabricCA, o.Config.Daemon.FabricCert = tt.caFile, tt.certFile
		errs := strings.Join(errorsOf(daemon.Check(t.Context(), o, daemon.CheckOptions{})), "\n")
		switch {
		case tt.want == "" && errs != "":
			t.Errorf("%s: %s", tt.name, errs)
		case tt.want != "" && !strings.Contains(errs, tt.want):
			t.Errorf("%s: problems %q, want one with %q", tt.name, errs, tt.want)
		case tt.want != "" && !strings.Contains(errs, "daemon.fabric_ca, fabric_cert"):
			t.Errorf("%s: %q does not name the configuration keys", tt.name, errs)
		}
	}
}

// TestFabricCertificateRequestKeepsKey: a data directory with a charter
// but no identity key gets no new key from a certificate request (it
// would be no member's).
func TestFabricCertificateRequestKeepsKey(t *testing.T) {
	dir := t.TempDir()
	initAlliance(t, dir, "")
	if err := os.Remove(filepath.Join(dir, "identity.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := daemon.FabricCertificateRequest(dir); err == nil || !strings.Contains(err.Error(), "restore the key") {
		t.Fatalf("request without the identity key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "identity.key")); err == nil {
		t.Fatal("the request made a new identity key")
	}
}
