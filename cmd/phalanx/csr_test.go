package main

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllianceCSR: `phalanx alliance csr` prints one PEM certificate
// request naming the member id it reports, the same on every call (the
// identity key it made on the first is kept).
func TestAllianceCSR(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	var cns []string
	for range 2 {
		code, out, errs := runCLI(t, "", "alliance", "csr", "--data", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		blk, rest := pem.Decode([]byte(out))
		if blk == nil || blk.Type != "CERTIFICATE REQUEST" || strings.TrimSpace(string(rest)) != "" {
			t.Fatalf("stdout is not one PEM certificate request: %q", out)
		}
		req, err := x509.ParseCertificateRequest(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errs, "member "+req.Subject.CommonName) {
			t.Fatalf("stderr %q does not name member %s", errs, req.Subject.CommonName)
		}
		cns = append(cns, req.Subject.CommonName)
	}
	if cns[0] != cns[1] {
		t.Fatalf("two requests name members %v: the identity changed", cns)
	}
	if code, _, _ := runCLI(t, "", "alliance", "csr", "--data", dir, "extra"); code != 2 {
		t.Fatalf("an extra argument: exit %d, want 2", code)
	}
}
