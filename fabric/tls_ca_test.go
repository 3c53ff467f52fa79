package fabric

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"phalanx/identity"
)

// testCA is a certificate authority made for a test, as an operator's
// would be: an ECDSA key, a self-signed CA certificate.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

var testSerial atomic.Int64

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	return makeTestCA(t, name, nil)
}

// intermediate returns a CA that ca issued.
func (ca *testCA) intermediate(t testing.TB, name string) *testCA {
	t.Helper()
	return makeTestCA(t, name, ca)
}

func makeTestCA(t testing.TB, name string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(testSerial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"phalanx test operator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer, issuer := crypto.Signer(key), tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate ca issued for pub, valid from notBefore to
// notAfter, with extended key usages eku (none: any use), in PEM.
func (ca *testCA) issue(t testing.TB, pub ed25519.PublicKey, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(testSerial.Add(1)),
		Subject:      pkix.Name{CommonName: identity.MemberID(pub)},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// valid returns a certificate ca issued for pub, valid now.
func (ca *testCA) valid(t testing.TB, pub ed25519.PublicKey) []byte {
	t.Helper()
	now := time.Now()
	return ca.issue(t, pub, now.Add(-time.Hour), now.Add(24*time.Hour))
}

// operatorCA loads cert (issued for k's key) under roots, checked at now.
func operatorCA(t testing.TB, roots, cert []byte, k testKey, now time.Time) *OperatorCA {
	t.Helper()
	ca, err := NewOperatorCA(roots, cert, k.pub, now)
	if err != nil {
		t.Fatalf("NewOperatorCA: %v", err)
	}
	return ca
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestOperatorCALoad: a member's certificate is accepted only for its own
// identity key, issued by the operator CA (directly or through the
// intermediates that follow it), valid now; the CA file must hold CA
// certificates only; no file may hold a private key.
func TestOperatorCALoad(t *testing.T) {
	ca, other := newTestCA(t, "operator root"), newTestCA(t, "another root")
	inter := ca.intermediate(t, "operator issuing")
	a, b := newTestKey(t, 1), newTestKey(t, 2)
	now := time.Now()
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not really")})
	for _, tt := range []struct {
		name      string
		roots     []byte
		cert      []byte
		wantError string // "" to accept
	}{
		{"issued by the CA", ca.pem, ca.valid(t, a.pub), ""},
		{"the CA among others", cat(other.pem, ca.pem), ca.valid(t, a.pub), ""},
		{"through an intermediate", ca.pem, cat(inter.valid(t, a.pub), inter.pem), ""},
		{"for server and client use", ca.pem, ca.issue(t, a.pub, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), ""},
		{"another member's key", ca.pem, ca.valid(t, b.pub), "not for this member's identity key"},
		{"another CA", ca.pem, other.valid(t, a.pub), "not issued by the operator CA"},
		{"self-signed", ca.pem, selfSigned(t, a), "not issued by the operator CA"},
		{"intermediate missing", ca.pem, inter.valid(t, a.pub), "not issued by the operator CA"},
		{"expired", ca.pem, ca.issue(t, a.pub, now.Add(-48*time.Hour), now.Add(-time.Hour)), "expired at"},
		{"not yet valid", ca.pem, ca.issue(t, a.pub, now.Add(time.Hour), now.Add(48*time.Hour)), "not valid before"},
		{"server use only", ca.pem, ca.issue(t, a.pub, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth), "both TLS server and client"},
		{"a member certificate as the CA", ca.valid(t, b.pub), ca.valid(t, a.pub), "not a CA certificate"},
		{"a key in the CA file", cat(ca.pem, keyPEM), ca.valid(t, a.pub), "PRIVATE KEY block"},
		{"a key in the certificate file", ca.pem, cat(ca.valid(t, a.pub), keyPEM), "PRIVATE KEY block"},
		{"empty CA file", nil, ca.valid(t, a.pub), "no PEM certificate"},
		{"empty certificate file", ca.pem, []byte("\n"), "no PEM certificate"},
		{"garbage after the certificate", ca.pem, cat(ca.valid(t, a.pub), []byte("junk")), "not PEM"},
	} {
		got, err := NewOperatorCA(tt.roots, tt.cert, a.pub, now)
		switch {
		case tt.wantError == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.wantError == "" && got.NotAfter().Before(now):
			t.Errorf("%s: NotAfter %v", tt.name, got.NotAfter())
		case tt.wantError != "" && err == nil:
			t.Errorf("%s: accepted, want an error with %q", tt.name, tt.wantError)
		case tt.wantError != "" && !strings.Contains(err.Error(), tt.wantError):
			t.Errorf("%s: error %q, want %q in it", tt.name, err, tt.wantError)
		}
	}
	// Start refuses a certificate for another key than Seed's.
	_, err := Start(t.Context(), Options{DataDir: t.TempDir(), Seed: a.seed, Members: []Member{{ID: "A", PublicKey: a.pub}},
		OperatorCA: operatorCA(t, ca.pem, ca.valid(t, b.pub), b, now)})
	if err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("Start with another key's certificate: %v", err)
	}
}

// selfSigned is k's member certificate (what a member without the
// operator CA presents), in PEM.
func selfSigned(t testing.TB, k testKey) []byte {
	t.Helper()
	c, err := memberCertificate(k.seed)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}

// TestOperatorCAVerifier: with an operator CA, a link's peer must hold a
// member's key (a hub member's where asked) and present a chain the CA
// issued for it, valid now: a certificate the CA issued for a key that is
// no member's is refused (the CA cannot add members), and so are a
// member's self-signed certificate, one from another CA and an expired
// one.
func TestOperatorCAVerifier(t *testing.T) {
	ca, other := newTestCA(t, "operator root"), newTestCA(t, "another root")
	inter := ca.intermediate(t, "operator issuing")
	a, b, s := newTestKey(t, 1), newTestKey(t, 2), newTestKey(t, 3)
	now := time.Now()
	var tr trust
	tr.p.Store(newTrusted([]Member{{ID: "A", PublicKey: a.pub, Hub: true}, {ID: "B", PublicKey: b.pub}}))
	mine := operatorCA(t, ca.pem, ca.valid(t, a.pub), a, now)
	state := func(pems ...[]byte) tls.ConnectionState {
		var cs tls.ConnectionState
		for _, p := range pems {
			chain, err := pemCertificates(p, "test")
			if err != nil {
				t.Fatal(err)
			}
			cs.PeerCertificates = append(cs.PeerCertificates, chain...)
		}
		return cs
	}
	for _, tt := range []struct {
		name      string
		cs        tls.ConnectionState
		hub       bool
		wantError string
	}{
		{"hub member, issued by the CA", state(ca.valid(t, a.pub)), true, ""},
		{"leaf member through an intermediate", state(inter.valid(t, b.pub), inter.pem), false, ""},
		{"leaf member as a hub", state(ca.valid(t, b.pub)), true, "keeps no stream"},
		{"a stranger the CA issued a certificate", state(ca.valid(t, s.pub)), false, "is not a member's"},
		{"a member's self-signed certificate", state(selfSigned(t, b)), false, "not issued by the operator CA"},
		{"a member's certificate from another CA", state(other.valid(t, b.pub)), false, "not issued by the operator CA"},
		{"a member's expired certificate", state(ca.issue(t, b.pub, now.Add(-48*time.Hour), now.Add(-time.Minute))), false, "expired at"},
		{"no certificate", tls.ConnectionState{}, false, "no certificate"},
	} {
		links := newLinkTLS(tls.Certificate{}, &tr, mine)
		v := links.leafAccept.VerifyConnection
		if tt.hub {
			v = links.route.VerifyConnection
		}
		err := v(tt.cs)
		switch {
		case tt.wantError == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)):
			t.Errorf("%s: verify = %v, want an error with %q", tt.name, err, tt.wantError)
		}
	}
}

// TestCertificateRequest: the request holds the member's identity key,
// is signed with it and names the member id; a certificate issued for it
// is accepted as the member's.
func TestCertificateRequest(t *testing.T) {
	a := newTestKey(t, 7)
	out, err := CertificateRequest(a.seed)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(out)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" || len(rest) != 0 {
		t.Fatalf("not one PEM certificate request: %q", out)
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckSignature(); err != nil {
		t.Fatalf("request signature: %v", err)
	}
	if pub, ok := req.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(a.pub) {
		t.Fatalf("request key %v, want the member's %x", req.PublicKey, a.pub)
	}
	if want := identity.MemberID(a.pub); req.Subject.CommonName != want {
		t.Fatalf("request names %q, want %q", req.Subject.CommonName, want)
	}
	ca := newTestCA(t, "operator root")
	if _, err := NewOperatorCA(ca.pem, ca.valid(t, req.PublicKey.(ed25519.PublicKey)), a.pub, time.Now()); err != nil {
		t.Fatalf("the certificate issued for the request: %v", err)
	}
	if _, err := CertificateRequest(a.seed[:5]); err == nil {
		t.Fatal("a short seed made a request")
	}
}

// TestOperatorCARoutes: four hub members, each listed by all as a hub
// member (their keys pinned): A and B present certificates the operator
// CA issued and route to each other; C's certificate is from another CA
// and D's, from the operator CA, has expired (both accept A's and B's
// certificates, so that A and B see theirs). A and B refuse C and D, say
// why, and neither gets a route to them.
func TestOperatorCARoutes(t *testing.T) {
	tc := newTestCluster(t, 4)
	ca, other := newTestCA(t, "operator root"), newTestCA(t, "another root")
	now := time.Now()
	logA, aLogged := recordLogs(t)
	logB, bLogged := recordLogs(t)
	logged := func(s string) bool { return aLogged(s) || bLogged(s) }
	oa, ob, oc, od := tc.options(t, 0, 2), tc.options(t, 1, 2), tc.options(t, 2, 2), tc.options(t, 3, 2)
	oa.OperatorCA = operatorCA(t, ca.pem, ca.valid(t, tc.keys[0].pub), tc.keys[0], now)
	ob.OperatorCA = operatorCA(t, ca.pem, ca.valid(t, tc.keys[1].pub), tc.keys[1], now)
	oc.OperatorCA = operatorCA(t, cat(other.pem, ca.pem), other.valid(t, tc.keys[2].pub), tc.keys[2], now)
	expiredAt := now.Add(-time.Minute)
	od.OperatorCA = operatorCA(t, ca.pem, ca.issue(t, tc.keys[3].pub, now.Add(-48*time.Hour), expiredAt), tc.keys[3], now.Add(-30*time.Minute))
	// A brand-new JetStream cluster elects its first meta leader only
	// once every configured route's server voted: A and B route only to
	// each other, C and D to everyone.
	oa.Routes, ob.Routes = tc.routes[:2], tc.routes[:2]
	oa.Logger, ob.Logger = logA, logB
	a := startMember(t, oa).f
	b := startMember(t, ob).f
	c := startMember(t, oc).f
	d := startMember(t, od).f

	waitFor(t, "A and B routed to each other", clusterReady, func() bool { return routedTo(a, "B") && routedTo(b, "A") })
	idC, idD := identity.MemberID(tc.keys[2].pub), identity.MemberID(tc.keys[3].pub)
	// (Each says so in at most 5 lines of failed handshakes every 10 s:
	// look at both.)
	waitFor(t, "A or B to refuse C's and D's certificates", clusterReady, func() bool {
		return logged("member "+idC+"'s certificate") && logged("member "+idD+"'s certificate")
	})
	if !logged("not issued by the operator CA") || !logged("expired at") {
		t.Error("A and B do not say why they refused C and D")
	}
	ready(t, a, b)
	noRouteTo(t, "C", a, b)
	noRouteTo(t, "D", a, b)
	publishN(t, b, "B", 1, 1)
	checkSeqs(t, consume(t, a, 0).waitStream(t, 1), 1, body)
	for _, f := range []*Fabric{c, d} {
		if routedTo(f, "A") || routedTo(f, "B") {
			t.Errorf("%s holds a route to A or B", f.Name())
		}
	}
}

// TestOperatorCALeaf: hub member A requires the operator CA; leaf member
// L, whose certificate the CA issued, attaches to it; leaf member M,
// listed and with its key pinned, presents only its self-signed
// certificate and is refused.
func TestOperatorCALeaf(t *testing.T) {
	ka, kl, km := newTestKey(t, 1), newTestKey(t, 2), newTestKey(t, 3)
	ca := newTestCA(t, "operator root")
	inter := ca.intermediate(t, "operator issuing")
	now := time.Now()
	members := []Member{{ID: "A", PublicKey: ka.pub, Hub: true}, {ID: "L", PublicKey: kl.pub}, {ID: "M", PublicKey: km.pub}}
	logA, aLogged := recordLogs(t)
	hub := start(t, Options{DataDir: t.TempDir(), Name: "A", Seed: ka.seed, Members: members, LeafListen: "127.0.0.1:0", Logger: logA,
		OperatorCA: operatorCA(t, ca.pem, ca.valid(t, ka.pub), ka, now)})
	l := start(t, Options{DataDir: t.TempDir(), Name: "L", Hub: []string{hub.LeafURL()}, Seed: kl.seed, Members: members,
		OperatorCA: operatorCA(t, ca.pem, cat(inter.valid(t, kl.pub), inter.pem), kl, now)})
	m := start(t, Options{DataDir: t.TempDir(), Name: "M", Hub: []string{hub.LeafURL()}, Seed: km.seed, Members: members})
	waitFor(t, "L to attach to the hub", clusterReady, func() bool { return l.srv.NumLeafNodes() == 1 })
	waitFor(t, "A to refuse M's certificate", clusterReady, func() bool {
		return aLogged("member " + identity.MemberID(km.pub) + "'s certificate")
	})
	if n := m.srv.NumLeafNodes(); n != 0 {
		t.Fatalf("M has %d leaf connections, want none", n)
	}
	if n := hub.srv.NumLeafNodes(); n != 1 {
		t.Fatalf("the hub has %d leaf connections, want L's only", n)
	}
}
