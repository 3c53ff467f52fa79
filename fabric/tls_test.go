package fabric

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// relay is a TCP relay on loopback: it forwards every connection it
// accepts to target and records every byte it forwards, both ways.
type relay struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	seen  bytes.Buffer
	conns []net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		r.mu.Unlock()
		go r.pipe(u, c)
		go r.pipe(c, u)
	}
}

func (r *relay) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) recorded() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// inClear returns those of words that occur in b.
func inClear(b []byte, words []string) []string {
	var found []string
	for _, w := range words {
		if bytes.Contains(b, []byte(w)) {
			found = append(found, w)
		}
	}
	return found
}

// hostPortOf returns the host:port of a nats:// URL.
func hostPortOf(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestLinksEncrypted: a report goes from leaf member leaflima over its
// leaf link to hub member hubalpha, and over hubalpha's route to hub
// member hubbravo; each link passes through a relay that records what it
// forwards. Neither recording holds the report, the address in it, a
// member's name or key, a subject, the servers' addresses or a protocol
// line in clear text. The same relay in front of a Fabric without
// members (no TLS) finds the report: the check sees clear text when there
// is some.
func TestLinksEncrypted(t *testing.T) {
	ka, kb, kl := newTestKey(t, 11), newTestKey(t, 12), newTestKey(t, 13)
	members := []Member{
		{ID: "hubalpha", PublicKey: ka.pub, Hub: true},
		{ID: "hubbravo", PublicKey: kb.pub, Hub: true},
		{ID: "leaflima", PublicKey: kl.pub},
	}
	ports := freePorts(t, 2)
	bravoRoute := fmt.Sprintf("127.0.0.1:%d", ports[1])
	routeRelay := startRelay(t, bravoRoute)
	// hubalpha's only route goes through the relay; hubbravo routes to
	// no one but itself, so it accepts hubalpha's.
	alpha := start(t, Options{DataDir: t.TempDir(), Name: "hubalpha", Listen: "127.0.0.1:0",
		Cluster: fmt.Sprintf("127.0.0.1:%d", ports[0]), Routes: []string{"nats://" + routeRelay.addr()},
		Seed: ka.seed, Members: members, LeafListen: "127.0.0.1:0"})
	bravo := start(t, Options{DataDir: t.TempDir(), Name: "hubbravo", Listen: "127.0.0.1:0",
		Cluster: bravoRoute, Routes: []string{"nats://" + bravoRoute}, Seed: kb.seed, Members: members})
	leafRelay := startRelay(t, hostPortOf(t, alpha.LeafURL()))
	lima := start(t, Options{DataDir: t.TempDir(), Name: "leaflima", Hub: []string{"nats://" + leafRelay.addr()},
		Seed: kl.seed, Members: members})

	sub, err := bravo.adminNC.SubscribeSync(FastPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	if err := bravo.adminNC.Flush(); err != nil {
		t.Fatal(err)
	}
	report := "report of leaflima: 203.0.113.77 failed password for invalid user oracle"
	waitFor(t, "leaflima's report to reach hubbravo", clusterReady, func() bool {
		if err := lima.nc.Publish(FastPrefix+"leaflima", []byte(report)); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(50 * time.Millisecond)
		return err == nil && string(m.Data) == report
	})
	if !routedTo(alpha, "hubbravo") || lima.srv.NumLeafNodes() != 1 {
		t.Fatal("the report did not travel over the relayed route and leaf link")
	}

	words := []string{report, "203.0.113.77", "failed password", "oracle", "leaflima", "hubalpha", "hubbravo",
		"phalanx.", "127.0.0.1", "INFO {", "CONNECT {", "PING", "_INBOX"}
	for _, k := range []testKey{ka, kb, kl} {
		pub, err := k.kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		words = append(words, pub)
	}
	for _, r := range []struct {
		name string
		r    *relay
	}{{"route", routeRelay}, {"leaf link", leafRelay}} {
		b := r.r.recorded()
		if len(b) < 2*len(report) {
			t.Fatalf("the %s relay forwarded only %d bytes", r.name, len(b))
		}
		if found := inClear(b, words); len(found) > 0 {
			t.Errorf("the %s carries in clear text: %q", r.name, found)
		}
		t.Logf("%s: %d bytes forwarded, none of %d words in clear text", r.name, len(b), len(words))
	}

	// The control: a Fabric without members has no TLS.
	plain := start(t, Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	plainRelay := startRelay(t, hostPortOf(t, plain.ClientURL()))
	nc, err := nats.Connect("nats://"+plainRelay.addr(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(FastPrefix+"leaflima", []byte(report)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if found := inClear(plainRelay.recorded(), words); len(found) < 3 {
		t.Fatalf("the control (no TLS) shows only %q in clear text: the check cannot see it", found)
	}
}

// TestClientTLS: an authenticated Fabric's client listener speaks only
// TLS, handshake first: a client without TLS is refused, one with TLS
// sees the member's certificate, its key and nothing to verify beyond.
func TestClientTLS(t *testing.T) {
	f, a, _ := startAuthed(t)
	pub, err := a.kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	// A client that waits for INFO before its handshake gets none.
	if nc, err := nats.Connect(f.ClientURL(), nats.Nkey(pub, a.kp.Sign), nats.Secure(guestTLS()), nats.MaxReconnects(0), nats.Timeout(500*time.Millisecond)); err == nil {
		nc.Close()
		t.Fatal("a client that waits for INFO before TLS connected")
	}
	if nc, err := nats.Connect(f.ClientURL(), nats.Nkey(pub, a.kp.Sign), nats.MaxReconnects(0), nats.Timeout(500*time.Millisecond)); err == nil {
		nc.Close()
		t.Fatal("a client without TLS connected")
	}
	var seen ed25519.PublicKey
	cfg := guestTLS()
	check := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.Version != tls.VersionTLS13 {
			return fmt.Errorf("TLS version %x, want 1.3", cs.Version)
		}
		seen, _ = peerKey(&cs)
		return check(cs)
	}
	nc, err := nats.Connect(f.ClientURL(), nats.Nkey(pub, a.kp.Sign), nats.Secure(cfg), nats.TLSHandshakeFirst(),
		nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("a member's TLS client: %v", err)
	}
	defer nc.Close()
	if !seen.Equal(a.pub) {
		t.Fatalf("the server's certificate holds key %x, want the member's %x", seen, a.pub)
	}
}

// TestLeafRefusesStrangers: a leaf member attaches only to a server with
// a hub member's key: not to a server with a key that is no member's (a
// rogue hub that lists it as a member), nor to one with a leaf member's
// key; another leaf member attaches to the real hub at once.
func TestLeafRefusesStrangers(t *testing.T) {
	ka, kl, km, kr := newTestKey(t, 1), newTestKey(t, 2), newTestKey(t, 3), newTestKey(t, 4)
	members := []Member{{ID: "A", PublicKey: ka.pub, Hub: true}, {ID: "L", PublicKey: kl.pub}, {ID: "M", PublicKey: km.pub}}
	hub := start(t, Options{DataDir: t.TempDir(), Name: "A", Seed: ka.seed, Members: members, LeafListen: "127.0.0.1:0"})
	// R: a key no member has; S: leaf member M's key. Both call
	// themselves hub members and list L.
	rogue := start(t, Options{DataDir: t.TempDir(), Name: "R", Seed: kr.seed, LeafListen: "127.0.0.1:0",
		Members: []Member{{ID: "R", PublicKey: kr.pub, Hub: true}, {ID: "L", PublicKey: kl.pub}}})
	posing := start(t, Options{DataDir: t.TempDir(), Name: "S", Seed: km.seed, LeafListen: "127.0.0.1:0",
		Members: []Member{{ID: "M", PublicKey: km.pub, Hub: true}, {ID: "L", PublicKey: kl.pub}}})

	logL, lLogged := recordLogs(t)
	l := start(t, Options{DataDir: t.TempDir(), Name: "L", Hub: []string{rogue.LeafURL(), posing.LeafURL()},
		Seed: kl.seed, Members: members, Logger: logL})
	m := start(t, Options{DataDir: t.TempDir(), Name: "M", Hub: []string{hub.LeafURL()}, Seed: km.seed, Members: members})
	waitFor(t, "M to attach to the hub", clusterReady, func() bool { return m.srv.NumLeafNodes() == 1 })
	waitFor(t, "L to refuse both servers", clusterReady, func() bool {
		return lLogged("is not a member's") && lLogged("keeps no stream")
	})
	for _, f := range []*Fabric{l, rogue, posing} {
		if n := f.srv.NumLeafNodes(); n != 0 {
			t.Fatalf("%s has %d leaf connections, want none", f.Name(), n)
		}
	}
}

// TestMemberCertificate: the certificate holds the member's key and
// names its id; the pinned key ids are what nats-server computes from a
// certificate; a peer is accepted by key only, and as a hub server only
// with a hub member's key.
func TestMemberCertificate(t *testing.T) {
	a, b, c := newTestKey(t, 1), newTestKey(t, 2), newTestKey(t, 3)
	cert, err := memberCertificate(a.seed)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.PublicKey.(ed25519.PublicKey).Equal(a.pub) || !strings.Contains(cert.Leaf.Subject.CommonName, "m") {
		t.Fatalf("certificate key %x, subject %q", cert.Leaf.PublicKey, cert.Leaf.Subject)
	}
	if err := cert.Leaf.CheckSignature(cert.Leaf.SignatureAlgorithm, cert.Leaf.RawTBSCertificate, cert.Leaf.Signature); err != nil {
		t.Fatalf("certificate is not self-signed: %v", err)
	}
	set := newTrusted([]Member{{ID: "A", PublicKey: a.pub, Hub: true}, {ID: "B", PublicKey: b.pub}})
	pinned, err := pinnedKeys(set, true)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	if _, ok := pinned[hex.EncodeToString(sum[:])]; !ok || len(pinned) != 1 {
		t.Fatalf("pinned hub keys %v do not hold exactly A's certificate key", pinned)
	}
	if all, _ := pinnedKeys(set, false); len(all) != 2 {
		t.Fatalf("pinned keys of all members: %v", all)
	}

	var tr trust
	tr.p.Store(set)
	state := func(k testKey) tls.ConnectionState {
		cert, err := memberCertificate(k.seed)
		if err != nil {
			t.Fatal(err)
		}
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
	}
	for _, tt := range []struct {
		name   string
		cs     tls.ConnectionState
		hub    bool
		accept bool
	}{
		{"hub member as hub", state(a), true, true},
		{"leaf member as leaf", state(b), false, true},
		{"leaf member as hub", state(b), true, false},
		{"stranger", state(c), false, false},
		{"no certificate", tls.ConnectionState{}, false, false},
	} {
		if err := tr.verifier(tt.hub)(tt.cs); (err == nil) != tt.accept {
			t.Errorf("%s: verify = %v, want accepted %v", tt.name, err, tt.accept)
		}
	}
	// A swap takes effect for the next check.
	tr.p.Store(newTrusted([]Member{{ID: "B", PublicKey: b.pub, Hub: true}}))
	if tr.verifier(true)(state(a)) == nil || tr.verifier(true)(state(b)) != nil {
		t.Error("the verifier does not follow the swapped member set")
	}
	if !set.hubsLost(newTrusted([]Member{{ID: "A", PublicKey: a.pub}})) || set.hubsLost(newTrusted([]Member{{ID: "A", PublicKey: a.pub, Hub: true}})) {
		t.Error("hubsLost does not tell a lost hub key")
	}
}
