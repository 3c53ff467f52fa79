package alliance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"phalanx/charter"
	"phalanx/identity"
)

// MaxAmendmentSize bounds a marshaled amendment: a charter of
// charter.MaxFileSize bytes and the fixed fields.
const MaxAmendmentSize = charter.MaxFileSize + 1 + (1 + hashSize) + (1 + identity.IDLen) + 4 + (1 + ed25519.SignatureSize)

const amendmentVersion = 1

// Amendment is a founding member's signed switch from one charter to the
// next. Members receive it on the fabric stream and switch to the new
// charter, at that point of the stream, once Verify accepts it against the
// charter they hold.
type Amendment struct {
	Prev    string // hex charter.Hash of the charter it amends
	Charter []byte // the new charter's YAML
	Signer  string // member id of a founding member of the previous charter
	Sig     []byte // the signer's signature over amendmentDomain || Prev || new charter's hash (raw hashes)
}

// amendmentMessage returns what the signer of an amendment signs: the
// domain and the raw previous and next charter hashes. The hash, not the
// YAML, is signed, so reformatting the YAML does not change what was agreed.
func amendmentMessage(prev, next string) []byte {
	b := make([]byte, 0, len(amendmentDomain)+2*hashSize)
	b = append(b, amendmentDomain...)
	b = append(b, rawHash(prev)...)
	return append(b, rawHash(next)...)
}

// NewAmendment returns the amendment from prev to next signed by signer, a
// founding member of prev. next must be valid, keep prev's name and have
// version prev.Version+1 (AddMember and RemoveMember return such charters).
func NewAmendment(signer *identity.Identity, prev, next *charter.Charter) (Amendment, error) {
	if signer == nil || prev == nil || next == nil {
		return Amendment{}, fmt.Errorf("new amendment: %w: missing signer or charter", ErrMalformed)
	}
	m, pub, ok := prev.Member(signer.ID)
	if !ok || !pub.Equal(signer.Public) || !m.Founding {
		return Amendment{}, fmt.Errorf("new amendment: %w: %s is not a founding member of the charter; amend it from a founding member's data directory", ErrNotAuthorized, signer.ID)
	}
	if err := next.Validate(); err != nil {
		return Amendment{}, fmt.Errorf("new amendment: %w: the new charter is invalid: %v", ErrMalformed, err)
	}
	if next.Name != prev.Name {
		return Amendment{}, fmt.Errorf("new amendment: %w: the new charter renames alliance %q to %q; an alliance keeps its name", ErrMalformed, prev.Name, next.Name)
	}
	if next.Version != prev.Version+1 {
		return Amendment{}, fmt.Errorf("new amendment: %w: the new charter has version %d; it must be %d", ErrOutOfOrder, next.Version, prev.Version+1)
	}
	yaml, err := next.Marshal()
	if err != nil {
		return Amendment{}, fmt.Errorf("new amendment: %w", err)
	}
	h := next.Hash()
	if back, err := charter.Parse(yaml); err != nil || back.Hash() != h {
		return Amendment{}, fmt.Errorf("new amendment: the new charter does not read back as itself (%v)", err)
	}
	a := Amendment{Prev: prev.Hash(), Charter: yaml, Signer: signer.ID}
	a.Sig = signer.Sign(amendmentMessage(a.Prev, h))
	return a, nil
}

// Marshal returns the wire form of a: a version byte; the raw previous
// hash, the signer and the signature each with a one-byte length, and the
// charter with a four-byte length. It encodes any Amendment
// deterministically; an invalid one encodes so that ParseAmendment
// rejects it.
func (a Amendment) Marshal() []byte {
	b := make([]byte, 0, 1+1+hashSize+1+len(a.Signer)+4+len(a.Charter)+1+len(a.Sig))
	b = append(b, amendmentVersion)
	b = appendShort(b, rawHash(a.Prev))
	b = appendShort(b, []byte(a.Signer))
	b = binary.BigEndian.AppendUint32(b, uint32(min(len(a.Charter), MaxAmendmentSize)))
	b = append(b, a.Charter[:min(len(a.Charter), MaxAmendmentSize)]...)
	return appendShort(b, a.Sig)
}

// ParseAmendment decodes the wire form of an amendment strictly: at most
// MaxAmendmentSize bytes, every length checked before use, nothing after
// the signature, a valid previous hash and signer id, a charter of 1 to
// charter.MaxFileSize bytes and a 64-byte signature. It does not parse
// the charter or verify the signature: Verify does.
func ParseAmendment(b []byte) (Amendment, error) {
	if len(b) > MaxAmendmentSize {
		return Amendment{}, fmt.Errorf("amendment: %w: %d bytes, the limit is %d", ErrMalformed, len(b), MaxAmendmentSize)
	}
	if len(b) == 0 {
		return Amendment{}, fmt.Errorf("amendment: %w: empty", ErrMalformed)
	}
	if b[0] != amendmentVersion {
		return Amendment{}, fmt.Errorf("amendment: %w: format version %d, this build reads %d; upgrade phalanx", ErrMalformed, b[0], amendmentVersion)
	}
	d := newDecoder(b[1:])
	var a Amendment
	if h := d.fixed("previous hash", hashSize); h != nil {
		a.Prev = hex.EncodeToString(h)
	}
	a.Signer = string(d.short("signer", identity.IDLen))
	n := d.Uint32()
	if d.Err() == nil && (n == 0 || n > charter.MaxFileSize) {
		d.Fail(malformed("charter of %d bytes; it must have 1 to %d", n, charter.MaxFileSize))
	}
	a.Charter = bytes.Clone(d.Take(int(n)))
	a.Sig = bytes.Clone(d.fixed("signature", ed25519.SignatureSize))
	d.end()
	if d.Err() != nil {
		return Amendment{}, fmt.Errorf("amendment: %w", d.Err())
	}
	if !identity.IsID(a.Signer) {
		return Amendment{}, fmt.Errorf("amendment: %w: signer %q is not a member id", ErrMalformed, a.Signer)
	}
	return a, nil
}

// Verify checks a against the charter cur that this member holds and
// returns the new charter: Prev is cur's hash and the new charter's
// version is cur.Version+1 (else ErrOutOfOrder); the signer is a founding
// member of cur (else ErrNotAuthorized; amendments always need one, even
// when the policy lets any member pardon); the new charter parses,
// validates and keeps the alliance's name (else ErrMalformed); the
// signature is the signer's over the new charter's hash (else
// ErrBadSignature).
func (a Amendment) Verify(cur *charter.Charter) (charter.Charter, error) {
	fail := func(err error) (charter.Charter, error) {
		return charter.Charter{}, fmt.Errorf("amendment: %w", err)
	}
	if cur == nil {
		return fail(malformed("no current charter"))
	}
	if h := cur.Hash(); a.Prev != h {
		return fail(fmt.Errorf("%w: it amends charter %.12s, this member holds %.12s (version %d)", ErrOutOfOrder, a.Prev, h, cur.Version))
	}
	m, pub, ok := cur.Member(a.Signer)
	if !ok {
		return fail(fmt.Errorf("%w: signer %s is not a member of the charter", ErrNotAuthorized, a.Signer))
	}
	if !m.Founding {
		return fail(fmt.Errorf("%w: signer %s is not a founding member; only founding members amend the charter", ErrNotAuthorized, a.Signer))
	}
	if len(a.Charter) > charter.MaxFileSize {
		return fail(malformed("charter of %d bytes, the limit is %d", len(a.Charter), charter.MaxFileSize))
	}
	next, err := charter.Parse(a.Charter)
	if err != nil {
		return fail(fmt.Errorf("%w: new charter: %v", ErrMalformed, err))
	}
	if len(a.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, amendmentMessage(a.Prev, next.Hash()), a.Sig) {
		return fail(fmt.Errorf("%w: not %s's signature of this amendment", ErrBadSignature, a.Signer))
	}
	if next.Name != cur.Name {
		return fail(fmt.Errorf("%w: it renames alliance %q to %q; an alliance keeps its name", ErrMalformed, cur.Name, next.Name))
	}
	if next.Version != cur.Version+1 {
		return fail(fmt.Errorf("%w: new charter version %d, want %d", ErrOutOfOrder, next.Version, cur.Version+1))
	}
	return next, nil
}

// clone returns a deep copy of c.
func clone(c *charter.Charter) charter.Charter {
	n := *c
	n.Members = make([]charter.Member, len(c.Members))
	for i, m := range c.Members {
		m.Addresses = slices.Clone(m.Addresses)
		n.Members[i] = m
	}
	n.Territory = slices.Clone(c.Territory)
	n.Policy.Decisive = slices.Clone(c.Policy.Decisive)
	return n
}

// AddMember returns the charter that follows cur with m added (version
// plus one), without changing cur. It refuses, wrapping ErrMember, a
// member whose id or key is already listed and a result that does not
// validate.
func AddMember(cur *charter.Charter, m charter.Member) (charter.Charter, error) {
	if cur == nil {
		return charter.Charter{}, fmt.Errorf("add member: %w: no charter", ErrMalformed)
	}
	for _, o := range cur.Members {
		if o.ID == m.ID {
			return charter.Charter{}, fmt.Errorf("add member: %w: %s is already a member", ErrMember, m.ID)
		}
		if _, pub, ok := cur.Member(o.ID); ok && base64.StdEncoding.EncodeToString(pub) == m.PublicKey {
			return charter.Charter{}, fmt.Errorf("add member: %w: member %s already has this public key", ErrMember, o.ID)
		}
	}
	next := clone(cur)
	m.Addresses = slices.Clone(m.Addresses)
	next.Members = append(next.Members, m)
	next.Version++
	if err := next.Validate(); err != nil {
		return charter.Charter{}, fmt.Errorf("add member: %w: the amended charter would be invalid: %v", ErrMember, err)
	}
	return next, nil
}

// RemoveMember returns the charter that follows cur without member id
// (version plus one), without changing cur. It refuses, wrapping
// ErrMember, an unknown id, removing the last founding member, and a
// result that does not validate (such as a quorum above the remaining
// members).
func RemoveMember(cur *charter.Charter, id string) (charter.Charter, error) {
	if cur == nil {
		return charter.Charter{}, fmt.Errorf("remove member: %w: no charter", ErrMalformed)
	}
	i := slices.IndexFunc(cur.Members, func(m charter.Member) bool { return m.ID == id })
	if i < 0 {
		return charter.Charter{}, fmt.Errorf("remove member: %w: %q is not a member; phalanx charter show lists them", ErrMember, id)
	}
	if cur.Members[i].Founding {
		others := slices.ContainsFunc(cur.Members, func(m charter.Member) bool { return m.Founding && m.ID != id })
		if !others {
			return charter.Charter{}, fmt.Errorf("remove member: %w: %s is the last founding member; make another member founding first", ErrMember, id)
		}
	}
	next := clone(cur)
	next.Members = slices.Delete(next.Members, i, i+1)
	next.Version++
	if err := next.Validate(); err != nil {
		return charter.Charter{}, fmt.Errorf("remove member: %w: the amended charter would be invalid: %v", ErrMember, err)
	}
	return next, nil
}

// SetFleet returns the charter that follows cur with the fleet section f
// (nil turns the fleet scenarios off), version plus one, without changing
// cur. It refuses, wrapping ErrMalformed, a result that does not validate
// or that changes nothing.
func SetFleet(cur *charter.Charter, f *charter.Fleet) (charter.Charter, error) {
	if cur == nil {
		return charter.Charter{}, fmt.Errorf("set fleet: %w: no charter", ErrMalformed)
	}
	next := clone(cur)
	if f != nil {
		cp := *f
		cp.Scenarios = slices.Clone(f.Scenarios)
		next.Fleet = &cp
	} else {
		next.Fleet = nil
	}
	if next.Hash() == cur.Hash() {
		return charter.Charter{}, fmt.Errorf("set fleet: %w: the charter already has this fleet section", ErrMalformed)
	}
	next.Version++
	if err := next.Validate(); err != nil {
		return charter.Charter{}, fmt.Errorf("set fleet: %w: the amended charter would be invalid: %v", ErrMalformed, err)
	}
	return next, nil
}
