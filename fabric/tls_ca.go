package fabric

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"phalanx/identity"
)

// An operator CA on the fabric's links (Options.OperatorCA). An
// organisation that runs its own certificate authority may require every
// fabric link to present, besides a member's key, a certificate its CA
// issued for that key: each member then presents the chain the operator
// issued for its identity key (instead of its self-signed certificate),
// and refuses a peer whose chain does not lead to the CA, or is not valid
// now, even if the peer's key is a member's. The CA only narrows: a peer
// is still accepted only for a key the charter lists (see tls.go), so a
// CA that issues a certificate for some other key admits no one.
//
// The client listener presents the chain too but asks clients for none:
// the nkey gate decides who connects there, and a guest joining with an
// invite has no certificate from the CA yet (see guestTLS).

// maxPEMFile bounds what LoadOperatorCA reads of a file: a CA bundle of a
// few hundred certificates fits.
const maxPEMFile = 1 << 20

// OperatorCA is an operator's certificate authority and the certificate
// it issued for this member's identity key. Make one with LoadOperatorCA
// or NewOperatorCA; it is immutable and safe for concurrent use.
type OperatorCA struct {
	roots *x509.CertPool
	chain [][]byte          // this member's certificate, then its intermediates (DER)
	leaf  *x509.Certificate // chain[0]
}

// LoadOperatorCA reads caFile (PEM: the operator CA's certificates) and
// certFile (PEM: the certificate the CA issued for pub, this member's
// identity key, then any intermediates) and checks them as NewOperatorCA
// does at now.
func LoadOperatorCA(caFile, certFile string, pub ed25519.PublicKey, now time.Time) (*OperatorCA, error) {
	caPEM, err := readPEMFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("operator CA: %w", err)
	}
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("fabric certificate: %w", err)
	}
	ca, err := NewOperatorCA(caPEM, certPEM, pub, now)
	if err != nil {
		return nil, fmt.Errorf("%w (operator CA %s, fabric certificate %s)", err, caFile, certFile)
	}
	return ca, nil
}

func readPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: give a PEM file of certificates", path, maxPEMFile)
	}
	return b, nil
}

// NewOperatorCA checks caPEM (the operator CA's certificates: each must
// be a CA's) and certPEM (this member's certificate, then any
// intermediates): the certificate must hold pub, this member's identity
// key, and lead to one of the CA's certificates through the intermediates,
// each valid at now and usable for TLS servers and clients (or for any
// purpose).
func NewOperatorCA(caPEM, certPEM []byte, pub ed25519.PublicKey, now time.Time) (*OperatorCA, error) {
	roots, err := pemCertificates(caPEM, "the operator CA file")
	if err != nil {
		return nil, err
	}
	ca := &OperatorCA{roots: x509.NewCertPool()}
	for _, c := range roots {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("the operator CA file holds %q, which is not a CA certificate: give the certificate of the CA that issues the members' certificates", c.Subject)
		}
		ca.roots.AddCert(c)
	}
	chain, err := pemCertificates(certPEM, "the fabric certificate file")
	if err != nil {
		return nil, err
	}
	own, ok := chain[0].PublicKey.(ed25519.PublicKey)
	if !ok || !own.Equal(pub) {
		return nil, fmt.Errorf("the fabric certificate (%q) is not for this member's identity key (member %s): have the CA sign this member's request (phalanx alliance csr), and give its certificate first in the file",
			chain[0].Subject, identity.MemberID(pub))
	}
	if err := ca.check(chain, now); err != nil {
		return nil, fmt.Errorf("the fabric certificate: %w", err)
	}
	for _, c := range chain {
		ca.chain = append(ca.chain, c.Raw)
	}
	ca.leaf = chain[0]
	return ca, nil
}

// pemCertificates parses the CERTIFICATE blocks of b, in order. Any other
// block, a private key above all, is refused: a member's TLS key is its
// identity key, and the CA's key has no place on a member.
func pemCertificates(b []byte, what string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s holds a %s block: give only certificates (PEM CERTIFICATE blocks)", what, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", what, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", what)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return nil, fmt.Errorf("%s has text after its last certificate that is not PEM: give only certificates", what)
	}
	return out, nil
}

// NotAfter is when this member's certificate expires: its links are
// refused from then on, until a renewed one is given and the member
// restarted.
func (ca *OperatorCA) NotAfter() time.Time { return ca.leaf.NotAfter }

// Subject names this member's certificate, for logs.
func (ca *OperatorCA) Subject() string { return ca.leaf.Subject.String() }

// check verifies that chain (a certificate, then intermediates) leads to
// one of the CA's certificates, every certificate valid at now, for TLS
// servers and clients both (a fabric link is either). Names are not
// checked: the key is.
func (ca *OperatorCA) check(chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	leaf := chain[0]
	switch {
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%q is not valid before %s (is this host's clock right?)", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%q expired at %s: have the operator CA renew it", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: ca.roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case err == nil:
		case errors.As(err, &unknown) && bytes.Equal(leaf.RawIssuer, leaf.RawSubject):
			return fmt.Errorf("%q is self-signed, not issued by the operator CA (a member without daemon.fabric_cert presents such)", leaf.Subject)
		case errors.As(err, &unknown):
			return fmt.Errorf("%q (issuer %q) was not issued by the operator CA", leaf.Subject, leaf.Issuer)
		case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
			return fmt.Errorf("%q does not allow both TLS server and client use: issue it without extended key usage, or with serverAuth and clientAuth", leaf.Subject)
		default:
			return fmt.Errorf("%q does not verify against the operator CA: %w", leaf.Subject, err)
		}
	}
	return nil
}

// verifier wraps a tls.Config.VerifyConnection: what next accepts (the
// member key check) must also present a chain the CA issued, valid now.
func (ca *OperatorCA) verifier(next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if err := next(cs); err != nil {
			return err
		}
		pub, _ := peerKey(&cs) // next checked it
		if err := ca.check(cs.PeerCertificates, time.Now()); err != nil {
			return fmt.Errorf("member %s's certificate: %w", identity.MemberID(pub), err)
		}
		return nil
	}
}

// linkCertificate is the certificate this member's links present: the
// chain ca issued for seed's key, or without ca the member's self-signed
// certificate.
func linkCertificate(seed []byte, ca *OperatorCA) (tls.Certificate, error) {
	if ca == nil {
		return memberCertificate(seed)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !ca.leaf.PublicKey.(ed25519.PublicKey).Equal(priv.Public()) {
		return tls.Certificate{}, errors.New("fabric: Options.OperatorCA holds a certificate for another key than Options.Seed's: load it with this member's public key")
	}
	return tls.Certificate{Certificate: ca.chain, PrivateKey: priv, Leaf: ca.leaf}, nil
}

// CertificateRequest returns a PEM certificate signing request for the
// member whose ed25519 seed is seed: its identity key, signed with it,
// with the member id as common name. An operator CA signs it into the
// member's fabric certificate (Options.OperatorCA).
func CertificateRequest(seed []byte) ([]byte, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("fabric: certificate request: seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	id := identity.MemberID(priv.Public().(ed25519.PublicKey))
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: id},
	}, priv)
	if err != nil {
		return nil, fmt.Errorf("fabric: certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
