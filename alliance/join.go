package alliance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"phalanx/charter"
	"phalanx/identity"
)

// Limits on join messages.
const (
	// MaxJoinRequestSize bounds a marshaled join request.
	MaxJoinRequestSize = 64 << 10
	// MaxJoinReplySize bounds a marshaled join reply. A reply carries the
	// whole charter twice (as itself and inside the amendment), so it is
	// larger than a request; it matches the fabric's message size limit.
	MaxJoinReplySize = 1 << 20
	// MaxErrorLen bounds JoinReply.Error.
	MaxErrorLen = 1024
	// MinRouteSecretLen and MaxRouteSecretLen bound a route secret.
	MinRouteSecretLen = 32
	MaxRouteSecretLen = 256
)

// JoinRequest is what a new member sends on its invite's join subject: the
// charter entry it asks for and the proof that the holder of the member key
// also holds the invite.
type JoinRequest struct {
	Member charter.Member // ID, Name, PublicKey, Addresses, Fabric; Founding is always false
	Proof  []byte         // the member key's signature over joinDomain || invite key || member key
}

// joinRequestWire is the JSON form of a JoinRequest. It has no founding
// field: a join request cannot ask for it.
type joinRequestWire struct {
	ID        string         `json:"id"`
	Name      string         `json:"name,omitempty"`
	PublicKey string         `json:"public_key"`
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	Fabric    string         `json:"fabric,omitempty"`
	Proof     []byte         `json:"proof"`
}

// joinProof returns the message a joining member signs.
func joinProof(invite, member ed25519.PublicKey) []byte {
	b := make([]byte, 0, len(joinDomain)+len(invite)+len(member))
	b = append(b, joinDomain...)
	b = append(b, invite...)
	return append(b, member...)
}

// NewJoinRequest makes the join request of identity id for the invite in
// t: its charter entry (name, addresses, fabric "host:port" where it
// accepts other members, or "" for none) and the proof. It checks the entry
// as ParseJoinRequest will.
func NewJoinRequest(id *identity.Identity, name string, addrs []netip.Prefix, fabric string, t Token) (JoinRequest, error) {
	invite := t.InviteKey()
	if id == nil || invite == nil {
		return JoinRequest{}, fmt.Errorf("new join request: %w: missing identity or invite key", ErrMalformed)
	}
	if fabric != "" {
		client, _, err := charter.FabricPorts(fabric)
		if err != nil {
			return JoinRequest{}, fmt.Errorf("new join request: fabric: %w", err)
		}
		fabric = client
	}
	m := charter.NewMember(name, id.Public, slices.Clone(addrs)...)
	m.Fabric = fabric
	if len(m.Addresses) == 0 {
		m.Addresses = nil
	}
	r := JoinRequest{Member: m, Proof: id.Sign(joinProof(invite, id.Public))}
	if err := r.check(invite); err != nil {
		return JoinRequest{}, fmt.Errorf("new join request: %w", err)
	}
	return r, nil
}

// Marshal returns the JSON form of r.
func (r JoinRequest) Marshal() []byte {
	b, err := json.Marshal(joinRequestWire{
		ID:        r.Member.ID,
		Name:      r.Member.Name,
		PublicKey: r.Member.PublicKey,
		Addresses: r.Member.Addresses,
		Fabric:    r.Member.Fabric,
		Proof:     r.Proof,
	})
	if err != nil { // cannot happen: every field marshals
		return nil
	}
	return b
}

// ParseJoinRequest decodes a join request that arrived for the invite key
// invite. It decodes strictly (at most MaxJoinRequestSize bytes, one JSON
// object, no unknown fields), checks the member entry as the charter will
// (the id matches the key, name, addresses, fabric), and verifies the
// proof. Its errors wrap ErrMalformed, ErrNotAuthorized or ErrBadSignature.
func ParseJoinRequest(b []byte, invite ed25519.PublicKey) (JoinRequest, error) {
	if len(b) > MaxJoinRequestSize {
		return JoinRequest{}, fmt.Errorf("join request: %w: %d bytes, the limit is %d", ErrMalformed, len(b), MaxJoinRequestSize)
	}
	var w joinRequestWire
	if err := decodeStrict(b, &w); err != nil {
		return JoinRequest{}, fmt.Errorf("join request: %w", err)
	}
	r := JoinRequest{
		Member: charter.Member{ID: w.ID, Name: w.Name, PublicKey: w.PublicKey, Addresses: w.Addresses, Fabric: w.Fabric},
		Proof:  w.Proof,
	}
	if len(r.Member.Addresses) == 0 {
		r.Member.Addresses = nil
	}
	if err := r.check(invite); err != nil {
		return JoinRequest{}, fmt.Errorf("join request: %w", err)
	}
	return r, nil
}

// check validates the member entry and verifies the proof for invite.
func (r JoinRequest) check(invite ed25519.PublicKey) error {
	if len(invite) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: invite key of %d bytes, want %d", ErrMalformed, len(invite), ed25519.PublicKeySize)
	}
	m := r.Member
	if m.Founding {
		return fmt.Errorf("%w: a join request cannot make a founding member", ErrNotAuthorized)
	}
	if len(m.Addresses) > charter.MaxAddresses {
		return malformed("%d addresses, the limit is %d; list ranges instead", len(m.Addresses), charter.MaxAddresses)
	}
	// The charter's own rules for a member entry: validate a charter that
	// holds only this member (marked founding there, as a charter needs one).
	probe := charter.Default("join", m)
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("%w: member entry: %v", ErrMalformed, err)
	}
	pub, err := base64.StdEncoding.Strict().DecodeString(m.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize { // Validate checked it already
		return malformed("member public key does not decode")
	}
	if len(r.Proof) != ed25519.SignatureSize {
		return fmt.Errorf("%w: proof of %d bytes, want %d", ErrBadSignature, len(r.Proof), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, joinProof(invite, pub), r.Proof) {
		return fmt.Errorf("%w: the proof is not %s's signature for this invite", ErrBadSignature, m.ID)
	}
	return nil
}

// JoinReply is the inviting daemon's answer to a join request: either a
// refusal (Error) or what the new member needs to start clustered.
type JoinReply struct {
	Error       string // non-empty: refused, for people ("invite already used: ask for a new one"); then nothing else is set
	Charter     []byte // the amended charter's YAML (charter.Marshal)
	Amendment   []byte // the signed amendment that added this member (Amendment.Marshal)
	RouteSecret string // the alliance's route secret
	// History, when not nil, is how the alliance came to the charter
	// before this member's admission, ending with Amendment; the new
	// member checks it with VerifyHistory.
	History *History
}

type joinReplyWire struct {
	Error       string   `json:"error,omitempty"`
	Charter     []byte   `json:"charter,omitempty"`
	Amendment   []byte   `json:"amendment,omitempty"`
	RouteSecret string   `json:"route_secret,omitempty"`
	History     *History `json:"history,omitempty"`
}

// Marshal returns the JSON form of r.
func (r JoinReply) Marshal() []byte {
	b, err := json.Marshal(joinReplyWire(r))
	if err != nil { // cannot happen: every field marshals
		return nil
	}
	return b
}

// ParseJoinReply decodes a join reply strictly (at most MaxJoinReplySize
// bytes, one JSON object, no unknown fields) and checks its shape: a
// refusal holds only a short Error; an acceptance holds a charter, an
// amendment (ParseAmendment) and a sane route secret. Accept checks the
// contents against the token.
func ParseJoinReply(b []byte) (JoinReply, error) {
	if len(b) > MaxJoinReplySize {
		return JoinReply{}, fmt.Errorf("join reply: %w: %d bytes, the limit is %d", ErrMalformed, len(b), MaxJoinReplySize)
	}
	var w joinReplyWire
	if err := decodeStrict(b, &w); err != nil {
		return JoinReply{}, fmt.Errorf("join reply: %w", err)
	}
	r := JoinReply(w)
	if len(r.Charter) == 0 {
		r.Charter = nil
	}
	if len(r.Amendment) == 0 {
		r.Amendment = nil
	}
	if _, err := r.check(); err != nil {
		return JoinReply{}, fmt.Errorf("join reply: %w", err)
	}
	return r, nil
}

// check checks the reply's shape and returns the parsed amendment of an
// acceptance (the zero Amendment for a refusal).
func (r JoinReply) check() (Amendment, error) {
	if r.Error != "" {
		if err := checkText("error", r.Error, MaxErrorLen); err != nil {
			return Amendment{}, err
		}
		if r.Charter != nil || r.Amendment != nil || r.RouteSecret != "" || r.History != nil {
			return Amendment{}, malformed("a refusal carries nothing but its error")
		}
		return Amendment{}, nil
	}
	if len(r.Charter) == 0 || len(r.Charter) > charter.MaxFileSize {
		return Amendment{}, malformed("charter of %d bytes; it must have 1 to %d", len(r.Charter), charter.MaxFileSize)
	}
	a, err := ParseAmendment(r.Amendment)
	if err != nil {
		return Amendment{}, err
	}
	if err := CheckRouteSecret(r.RouteSecret); err != nil {
		return Amendment{}, err
	}
	if h := r.History; h != nil && (len(h.Steps) == 0 || len(h.Steps) > MaxHistorySteps || h.Size() > MaxHistoryBytes) {
		return Amendment{}, malformed("a charter history of %d amendments and %d bytes; it must have 1 to %d amendments and at most %d bytes", len(h.Steps), h.Size(), MaxHistorySteps, MaxHistoryBytes)
	}
	return a, nil
}

// CheckRouteSecret reports whether s is usable as the alliance's route
// secret: MinRouteSecretLen to MaxRouteSecretLen characters that need no
// escaping in a URL (letters, digits, - . _ ~), such as hex or unpadded
// base64url of 32 random bytes.
func CheckRouteSecret(s string) error {
	if len(s) < MinRouteSecretLen || len(s) > MaxRouteSecretLen {
		return malformed("route secret of %d characters; it must have %d to %d", len(s), MinRouteSecretLen, MaxRouteSecretLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return malformed("route secret holds %q; use letters, digits, - . _ ~ (such as unpadded base64url)", c)
		}
	}
	return nil
}

// NewRouteSecret returns a route secret: 32 bytes from rand as unpadded
// base64url.
func NewRouteSecret(rand io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("read random route secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Accept checks an accepting reply against the token the joining member
// used and its identity self, and returns the amended charter and the
// amendment: the reply is not a refusal (else an error wrapping
// ErrRefused with the inviter's reason); the amendment is signed by the
// token's inviter, who is a founding member of the amended charter with
// that key; the reply's charter has the amendment's hash, the token's
// alliance name and a version above 1, and lists self with its key; the
// route secret is sane. It cannot check the amendment's previous charter,
// which the new member does not hold.
func (r JoinReply) Accept(t Token, self *identity.Identity) (charter.Charter, Amendment, error) {
	fail := func(err error) (charter.Charter, Amendment, error) {
		return charter.Charter{}, Amendment{}, fmt.Errorf("join reply: %w", err)
	}
	if r.Error != "" {
		return fail(fmt.Errorf("%w by the inviting member: %s", ErrRefused, r.Error))
	}
	if self == nil || len(t.Inviter) != ed25519.PublicKeySize {
		return fail(malformed("missing identity or token"))
	}
	a, err := r.check()
	if err != nil {
		return fail(err)
	}
	if inviter := identity.MemberID(t.Inviter); a.Signer != inviter {
		return fail(fmt.Errorf("%w: the amendment is signed by %s, not by the inviter %s", ErrNotAuthorized, a.Signer, inviter))
	}
	c, err := charter.Parse(r.Charter)
	if err != nil {
		return fail(fmt.Errorf("%w: charter: %v", ErrMalformed, err))
	}
	next, err := charter.Parse(a.Charter)
	if err != nil {
		return fail(fmt.Errorf("%w: amendment's charter: %v", ErrMalformed, err))
	}
	h := c.Hash()
	if h != next.Hash() {
		return fail(malformed("the charter (%s) is not the amendment's (%s)", h, next.Hash()))
	}
	if !ed25519.Verify(t.Inviter, amendmentMessage(a.Prev, h), a.Sig) {
		return fail(fmt.Errorf("%w: the amendment's signature is not the inviter's", ErrBadSignature))
	}
	if c.Name != t.Alliance {
		return fail(fmt.Errorf("%w: the charter is alliance %q, the token names %q", ErrNotAuthorized, c.Name, t.Alliance))
	}
	if c.Version < 2 {
		return fail(fmt.Errorf("%w: charter version %d cannot be an amendment", ErrOutOfOrder, c.Version))
	}
	if m, pub, ok := c.Member(a.Signer); !ok || !m.Founding || !pub.Equal(t.Inviter) {
		return fail(fmt.Errorf("%w: the inviter %s is not a founding member of the charter with the token's key", ErrNotAuthorized, a.Signer))
	}
	if _, pub, ok := c.Member(self.ID); !ok || !pub.Equal(self.Public) {
		return fail(fmt.Errorf("%w: the charter does not list this member (%s) with its key; ask the inviting member to check its log", ErrMember, self.ID))
	}
	return c, a, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and anything after the object.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("decode JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("data after the JSON object")
	}
	return nil
}
