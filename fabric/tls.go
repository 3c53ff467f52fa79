package fabric

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"phalanx/identity"
)

// TLS on the fabric's network links. Every member's server presents a
// certificate made at Start from the member's own ed25519 identity
// (Options.Seed): self-signed, no CA involved. What a peer is allowed
// rests on the key in its certificate, which the TLS 1.3 handshake proves
// it holds, checked against the current members (SetMembers):
//
//	link                       this server checks the peer's key is
//	cluster route (both ways)  a hub member's (Member.Hub)
//	leaf node it accepts       a member's, and the one its leaf CONNECT signs with
//	its own leaf link to a hub a hub member's
//	client connection          (clients present none: the nkey gate decides)
//
// Certificate chains, names and dates are not checked: the members' keys
// are the only trust anchor. With an operator CA (Options.OperatorCA, see
// tls_ca.go) the links between servers also require a chain the CA
// issued, valid now, besides the member key.

// tlsMinVersion is the only TLS version the fabric speaks.
const tlsMinVersion = tls.VersionTLS13

// tlsTimeout is how long, in seconds, nats-server waits for a link's TLS
// handshake.
const tlsTimeout = 5

// tlsServerName is the name the fabric's TLS clients ask for (nats-server
// would send the host of the URL it dials, in clear text): nobody checks
// it.
const tlsServerName = "phalanx"

// trust is the member keys the TLS links accept, swapped whole by
// SetMembers and read without a lock by every handshake.
type trust struct{ p atomic.Pointer[trusted] }

// trusted is one member set: each member key's id, and which of them are
// hub members.
type trusted struct {
	ids  map[string]string // raw ed25519 public key -> member id
	hubs map[string]bool   // raw ed25519 public key -> keeps the stream
}

func newTrusted(ms []Member) *trusted {
	t := &trusted{ids: make(map[string]string, len(ms)), hubs: make(map[string]bool)}
	for _, m := range ms {
		t.ids[string(m.PublicKey)] = m.ID
		if m.Hub {
			t.hubs[string(m.PublicKey)] = true
		}
	}
	return t
}

// hubsLost reports whether some hub member's key of t is not a hub
// member's in next.
func (t *trusted) hubsLost(next *trusted) bool {
	for k := range t.hubs {
		if !next.hubs[k] {
			return true
		}
	}
	return false
}

// peerKey returns the ed25519 key of the certificate a TLS peer
// presented.
func peerKey(cs *tls.ConnectionState) (ed25519.PublicKey, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, errors.New("the peer presented no certificate")
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("the peer's certificate does not hold an ed25519 key")
	}
	return pub, nil
}

// verifier returns a tls.Config.VerifyConnection that accepts a peer
// whose key is a member's, or a hub member's when hub is set.
func (t *trust) verifier(hub bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		pub, err := peerKey(&cs)
		if err != nil {
			return err
		}
		cur := t.p.Load()
		if _, ok := cur.ids[string(pub)]; !ok {
			return fmt.Errorf("the peer's key %s is not a member's", identity.MemberID(pub))
		}
		if hub && !cur.hubs[string(pub)] {
			return fmt.Errorf("member %s keeps no stream: it may not link as a hub server", cur.ids[string(pub)])
		}
		return nil
	}
}

// hubKey reports whether cs's peer presented a hub member's key.
func (t *trust) hubKey(cs *tls.ConnectionState) bool {
	pub, err := peerKey(cs)
	return err == nil && t.p.Load().hubs[string(pub)]
}

// memberCertificate makes this member's TLS certificate: self-signed
// with the member's ed25519 key, naming the member id derived from it.
// No one checks its dates; it says it never expires.
func memberCertificate(seed []byte) (tls.Certificate, error) {
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:16]),
		Subject:               pkix.Name{CommonName: "phalanx member " + identity.MemberID(pub)},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), // RFC 5280: no expiry
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fabric: make this member's TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fabric: read this member's TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// linkTLS is the TLS configuration of each kind of link.
type linkTLS struct {
	client     *tls.Config // the client listener: presents the certificate
	route      *tls.Config // cluster routes, accepted and dialed
	leafAccept *tls.Config // leaf nodes this (hub) server accepts
	leafDial   *tls.Config // this (leaf) server's link to the hub
}

// newLinkTLS builds the links' TLS configurations for certificate cert
// and the member keys in t, and, when ca is not nil, the operator CA.
func newLinkTLS(cert tls.Certificate, t *trust, ca *OperatorCA) linkTLS {
	base := func() *tls.Config {
		return &tls.Config{
			Certificates:           []tls.Certificate{cert},
			MinVersion:             tlsMinVersion,
			SessionTicketsDisabled: true, // every handshake shows the peer's certificate
		}
	}
	client := base()
	client.ClientAuth = tls.NoClientCert
	// Links between servers: both sides present their certificate and
	// check the other's key; the chain and names are not verified
	// (InsecureSkipVerify) because the key is all there is to check.
	peer := func(hub bool) *tls.Config {
		c := base()
		c.ClientAuth = tls.RequireAnyClientCert
		c.InsecureSkipVerify = true
		c.ServerName = tlsServerName
		c.VerifyConnection = t.verifier(hub)
		if ca != nil {
			c.VerifyConnection = ca.verifier(c.VerifyConnection)
		}
		return c
	}
	return linkTLS{client: client, route: peer(true), leafAccept: peer(false), leafDial: peer(true)}
}

// routeGate authenticates cluster routes (nats-server's
// CustomRouterAuthentication) at their CONNECT: the route's TLS peer must
// hold a hub member's key. The TLS handshake checked that already; this
// checks again once the route says who it is, after which a member that
// stopped being a hub member in between is refused.
type routeGate struct{ t *trust }

var _ server.Authentication = routeGate{}

func (g routeGate) Check(c server.ClientAuthentication) bool {
	return c.Kind() == server.ROUTER && g.t.hubKey(c.GetTLSConnectionState())
}

// pinnedKeys returns nats-server's pinned certificate set for the keys
// of t (all members', or the hub members' only): the hex SHA-256 of each
// key's SubjectPublicKeyInfo.
func pinnedKeys(t *trusted, hubOnly bool) (server.PinnedCertSet, error) {
	set := server.PinnedCertSet{}
	for k := range t.ids {
		if hubOnly && !t.hubs[k] {
			continue
		}
		spki, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(k))
		if err != nil {
			return nil, fmt.Errorf("fabric: encode a member key: %w", err)
		}
		sum := sha256.Sum256(spki)
		set[hex.EncodeToString(sum[:])] = struct{}{}
	}
	return set, nil
}

// guestTLS is the TLS configuration of a guest's join connection. A guest
// knows no member key yet: it accepts any member certificate (an ed25519
// key proven in the handshake), which keeps the join private from anyone
// who only listens. The answer's contents are checked against the signed
// token by the daemon.
//
// With an operator CA the join stays as it is: the member's client
// listener asks for no certificate and the guest checks no chain. What
// authenticates a join is the invite, both ways: the guest's nkey must be
// an unused invite's, and the answer must verify against the token, which
// a server with some other key cannot forge; the client port lets a guest
// make that one request and nothing else. A new member need not hold its
// CA certificate yet when it joins, only before it starts as a member
// (its links then need it).
func guestTLS() *tls.Config {
	return &tls.Config{
		MinVersion:         tlsMinVersion,
		ServerName:         tlsServerName,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := peerKey(&cs)
			return err
		},
	}
}

// closeStaleLinks closes the links to servers whose key is no longer a
// hub member's (SetMembers calls it in the background). Their next
// handshake is refused anyway; this ends the links they have.
//
// nats-server has no call that closes a route, but a reload that changes
// the pinned certificates closes every route, dialed or accepted, whose
// peer's key is not pinned. So this reloads the server's options once
// with the hub members' keys pinned, then once more without: the
// handshakes' own trust check follows SetMembers at once, and a pinned
// set would have to be reloaded for every member added. A reload also
// closes every client connection authenticated by nkey (nats-server finds
// no static user for it), the in-process ones included: they reconnect
// within a second, and Publish, Consume and Serve carry on, so removing a
// hub member costs the other hub members that blip. A leaf member
// closes its links to the hub by their id (nats-server pins no keys of
// the servers a leaf dials): they are dialed again within a second, and
// the handshake refuses a server that is no longer a hub member's.
func (f *Fabric) closeStaleLinks() {
	f.linkMu.Lock()
	defer f.linkMu.Unlock()
	if f.closed() {
		return
	}
	if f.clustered {
		pinned, err := pinnedKeys(f.auth.trust.p.Load(), true)
		if err == nil {
			o := f.reloadable()
			o.Cluster.TLSPinnedCerts = pinned
			if err = f.server().ReloadOptions(o); err == nil {
				err = f.server().ReloadOptions(f.reloadable())
			}
		}
		if err != nil {
			f.log.Warn("fabric could not close the routes of a server that is no longer a hub member's: they stay until they drop (new ones are refused)", "err", err)
		} else {
			f.log.Info("fabric closed its routes to servers that are no longer hub members'")
		}
	}
	if f.leaf {
		lz, err := f.server().Leafz(nil)
		if err != nil {
			f.log.Warn("fabric could not list its links to the hub to close them", "err", err)
			return
		}
		for _, l := range lz.Leafs {
			if l.IsSpoke {
				f.server().DisconnectClientByID(l.ID)
			}
		}
	}
}

// reloadable returns a shallow copy of the options the server started
// with, for ReloadOptions: it shares every pointer, map and slice, so that
// nats-server sees no change but the one made to the copy (a deep copy
// differs in accounts and users, and their reload closes and re-checks
// every connection, the in-process ones too).
func (f *Fabric) reloadable() *server.Options {
	f.srvMu.RLock()
	o := *f.so
	f.srvMu.RUnlock()
	return &o
}
