package alliance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"phalanx/charter"
	"phalanx/identity"
)

// TokenPrefix starts every join token line; the digit is the format version.
const TokenPrefix = "phx1."

// Limits on a join token.
const (
	MaxTokenFabric = 16 // fabric addresses in a token
	maxFabricLen   = 261
	maxAllianceLen = charter.MaxNameLen
	tokenVersion   = 1
	hashSize       = 32 // bytes of a charter hash
	// MaxTokenLen bounds a token line (without surrounding white space):
	// the base64 of the largest body and its signature.
	MaxTokenLen   = len(TokenPrefix) + (maxTokenBytes*4+2)/3
	maxTokenBytes = 1 + (1 + maxAllianceLen) + (1 + hashSize) + 1 + MaxTokenFabric*(2+maxFabricLen) + 8 +
		(1 + ed25519.SeedSize) + (1 + ed25519.PublicKeySize) + ed25519.SignatureSize
)

// Times that tokens and invites may carry: from 2000-01-01 up to
// 2200-01-01 UTC, in whole seconds.
const (
	minUnix = 946684800
	maxUnix = 7258118400
)

// Token is a join token: everything a new member needs to dial the fabric
// and prove it was invited. It carries a secret (InviteSeed), so its line
// must travel like a password and it works once, until Expires.
type Token struct {
	Alliance    string            // the charter's name
	CharterHash string            // hex SHA-256, charter.Hash() at invite time
	Fabric      []string          // fabric client addresses ("host:port") to dial, 1 to MaxTokenFabric
	Expires     time.Time         // UTC, whole seconds
	InviteSeed  []byte            // 32-byte ed25519 seed of the one-time invite key
	Inviter     ed25519.PublicKey // the inviting (founding) member's key
	Sig         []byte            // Inviter's signature over the canonical body
}

// NewToken makes a signed join token for charter c: a fresh invite key from
// rand, the fabric addresses to dial (normalised, repeats dropped) and the
// expiry (cut to whole seconds). inviter must be a founding member of c.
// Record the invite (Token.Invite) in the invite store before handing the
// token out, or the daemon refuses it.
func NewToken(inviter *identity.Identity, c *charter.Charter, fabric []string, expires time.Time, rand io.Reader) (Token, error) {
	if inviter == nil || c == nil {
		return Token{}, fmt.Errorf("new join token: %w: missing inviter or charter", ErrMalformed)
	}
	m, pub, ok := c.Member(inviter.ID)
	switch {
	case !ok:
		return Token{}, fmt.Errorf("new join token: %w: %s is not a member of alliance %s; invite from a founding member's data directory", ErrNotAuthorized, inviter.ID, c.Name)
	case !pub.Equal(inviter.Public):
		return Token{}, fmt.Errorf("new join token: %w: the charter lists another key for %s", ErrNotAuthorized, inviter.ID)
	case !m.Founding:
		return Token{}, fmt.Errorf("new join token: %w: only founding members may invite, and %s is not one; ask a founding member to run phalanx alliance invite", ErrNotAuthorized, inviter.ID)
	}
	var addrs []string
	for _, a := range fabric {
		client, _, err := charter.FabricPorts(a)
		if err != nil {
			return Token{}, fmt.Errorf("new join token: fabric address: %w", err)
		}
		if !slices.Contains(addrs, client) {
			addrs = append(addrs, client)
		}
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return Token{}, fmt.Errorf("new join token: read random invite key: %w", err)
	}
	t := Token{
		Alliance:    c.Name,
		CharterHash: c.Hash(),
		Fabric:      addrs,
		Expires:     time.Unix(expires.Unix(), 0).UTC(),
		InviteSeed:  seed,
		Inviter:     slices.Clone(inviter.Public),
	}
	if err := t.validate(); err != nil {
		return Token{}, fmt.Errorf("new join token: %w", err)
	}
	t.Sig = inviter.Sign(t.signed())
	return t, nil
}

// body returns the canonical encoding of every field but Sig: a version
// byte; the alliance name, the raw charter hash, the invite seed and the
// inviter key each with a one-byte length; the fabric addresses as a
// one-byte count of two-byte-length strings; the expiry as Unix seconds
// (eight bytes, big-endian). It encodes any Token deterministically; an
// invalid one encodes so that ParseToken rejects it.
func (t Token) body() []byte {
	n := 1 + 1 + len(t.Alliance) + 1 + hashSize + 1 + 8 + 1 + len(t.InviteSeed) + 1 + len(t.Inviter)
	for _, a := range t.Fabric {
		n += 2 + len(a)
	}
	b := make([]byte, 0, n)
	b = append(b, tokenVersion)
	b = appendShort(b, []byte(t.Alliance))
	b = appendShort(b, rawHash(t.CharterHash))
	b = append(b, byte(min(len(t.Fabric), 255)))
	for _, a := range t.Fabric[:min(len(t.Fabric), 255)] {
		a = a[:min(len(a), 0xffff)]
		b = binary.BigEndian.AppendUint16(b, uint16(len(a)))
		b = append(b, a...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(t.Expires.Unix()))
	b = appendShort(b, t.InviteSeed)
	b = appendShort(b, t.Inviter)
	return b
}

// rawHash returns the 32 bytes of a hex hash, or nothing for a string that
// is not one (so that it cannot decode).
func rawHash(s string) []byte {
	if !isHash(s) {
		return nil
	}
	b, _ := hex.DecodeString(s)
	return b
}

// signed returns the message the inviter signs.
func (t Token) signed() []byte {
	return append([]byte(tokenDomain), t.body()...)
}

// String returns the token line: TokenPrefix followed by the unpadded
// base64url of the body and the signature. It holds the invite's secret.
func (t Token) String() string {
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(append(t.body(), t.Sig...))
}

// GoString keeps %#v from printing the invite's secret.
func (t Token) GoString() string {
	return fmt.Sprintf("alliance.Token{Alliance:%q, Invite:%q, Expires:%s}", t.Alliance, t.InviteID(), t.Expires.Format(time.RFC3339))
}

// LogValue keeps structured logs from showing the invite's secret: a
// Token logs as its alliance, invite id and expiry.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("alliance", t.Alliance),
		slog.String("invite", t.InviteID()),
		slog.Time("expires", t.Expires))
}

// InviteKey returns the public key of the one-time invite key, or nil when
// InviteSeed is not a seed.
func (t Token) InviteKey() ed25519.PublicKey {
	if len(t.InviteSeed) != ed25519.SeedSize {
		return nil
	}
	return ed25519.NewKeyFromSeed(t.InviteSeed).Public().(ed25519.PublicKey)
}

// InviteID returns the invite's id, identity.MemberID of InviteKey (empty
// when InviteSeed is not a seed).
func (t Token) InviteID() string {
	k := t.InviteKey()
	if k == nil {
		return ""
	}
	return identity.MemberID(k)
}

// Invite returns the invite store's record of t, created at created.
func (t Token) Invite(created time.Time) Invite {
	return Invite{
		ID:        t.InviteID(),
		PublicKey: t.InviteKey(),
		Created:   created.UTC().Round(0),
		Expires:   t.Expires,
	}
}

// tokenAdvice ends every error about a token people pasted.
const tokenAdvice = "ask a founding member for a new invite (phalanx alliance invite)"

// ParseToken decodes a token line (white space around it is ignored) and
// checks it strictly: the prefix, base64url without padding, every length
// and field, that it re-encodes to the same bytes, that Sig is Inviter's
// signature, and that it has not expired at now. Its errors wrap
// ErrMalformed, ErrBadSignature or ErrTokenExpired and say what to do.
//
// It proves only that the token is intact: the joining member learns
// whether Inviter is a founding member of the alliance from the join reply
// (JoinReply.Accept).
func ParseToken(s string, now time.Time) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxTokenLen {
		return Token{}, fmt.Errorf("join token: %w: %d characters, the limit is %d; copy exactly the one line phalanx alliance invite printed, or %s", ErrMalformed, len(s), MaxTokenLen, tokenAdvice)
	}
	if !strings.HasPrefix(s, TokenPrefix) {
		shown := s[:min(len(s), len(TokenPrefix))]
		return Token{}, fmt.Errorf("join token: %w: it starts with %q, not %q; copy the whole line phalanx alliance invite printed, or %s", ErrMalformed, shown, TokenPrefix, tokenAdvice)
	}
	enc := s[len(TokenPrefix):]
	// The decoder skips line breaks; a token has none (nor spaces).
	if i := strings.IndexFunc(enc, func(r rune) bool { return !isBase64URL(r) }); i >= 0 {
		return Token{}, fmt.Errorf("join token: %w: %q at character %d is not part of a token; if the line was wrapped, join it into one line, or %s", ErrMalformed, enc[i:i+1], len(TokenPrefix)+i+1, tokenAdvice)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return Token{}, fmt.Errorf("join token: %w: not base64url (%v); it was damaged in copying: copy it again, or %s", ErrMalformed, err, tokenAdvice)
	}
	t, err := decodeToken(raw)
	if err != nil {
		return Token{}, fmt.Errorf("join token: %w; it was damaged in copying: copy it again, or %s", err, tokenAdvice)
	}
	if !ed25519.Verify(t.Inviter, t.signed(), t.Sig) {
		return Token{}, fmt.Errorf("join token: %w: the inviter's signature does not match; it was damaged or altered: copy it again, or %s", ErrBadSignature, tokenAdvice)
	}
	if !now.Before(t.Expires) {
		return Token{}, fmt.Errorf("join token: %w at %s: %s", ErrTokenExpired, t.Expires.Format(time.RFC3339), tokenAdvice)
	}
	return t, nil
}

// isBase64URL reports the characters of unpadded base64url.
func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// decodeToken decodes body and signature and validates the fields.
func decodeToken(raw []byte) (Token, error) {
	if len(raw) < 1+ed25519.SignatureSize {
		return Token{}, malformed("truncated: %d bytes", len(raw))
	}
	if raw[0] != tokenVersion {
		return Token{}, malformed("format version %d, this build reads %d (upgrade phalanx, or ask for a token from this version)", raw[0], tokenVersion)
	}
	body := raw[:len(raw)-ed25519.SignatureSize]
	d := newDecoder(body[1:])
	var t Token
	t.Alliance = string(d.short("alliance name", maxAllianceLen))
	if h := d.fixed("charter hash", hashSize); h != nil {
		t.CharterHash = hex.EncodeToString(h)
	}
	n := int(d.Uint8())
	if d.Err() == nil && (n < 1 || n > MaxTokenFabric) {
		d.Fail(malformed("%d fabric addresses; a token has 1 to %d", n, MaxTokenFabric))
	}
	if d.Err() == nil {
		t.Fabric = make([]string, 0, n)
		for range n {
			l := int(d.Uint16())
			if d.Err() == nil && l > maxFabricLen {
				d.Fail(malformed("fabric address of %d bytes, the limit is %d", l, maxFabricLen))
			}
			if p := d.Take(l); d.Err() == nil {
				t.Fabric = append(t.Fabric, string(p))
			}
		}
	}
	sec := int64(d.Uint64())
	if d.Err() == nil && (sec < minUnix || sec >= maxUnix) {
		d.Fail(malformed("expiry %d is outside the years 2000 to 2199", sec))
	}
	t.Expires = time.Unix(sec, 0).UTC()
	t.InviteSeed = bytes.Clone(d.fixed("invite seed", ed25519.SeedSize))
	t.Inviter = bytes.Clone(d.fixed("inviter key", ed25519.PublicKeySize))
	d.end()
	if d.Err() != nil {
		return Token{}, d.Err()
	}
	t.Sig = bytes.Clone(raw[len(raw)-ed25519.SignatureSize:])
	if err := t.validate(); err != nil {
		return Token{}, err
	}
	if !bytes.Equal(t.body(), body) {
		return Token{}, malformed("not in canonical form")
	}
	return t, nil
}

// validate checks every field but Sig.
func (t Token) validate() error {
	if err := checkAllianceName(t.Alliance); err != nil {
		return err
	}
	if !isHash(t.CharterHash) {
		return malformed("charter hash %q is not a hex SHA-256", t.CharterHash)
	}
	if len(t.Fabric) < 1 || len(t.Fabric) > MaxTokenFabric {
		return malformed("%d fabric addresses; a token has 1 to %d (start the inviting member with --fabric HOST:PORT)", len(t.Fabric), MaxTokenFabric)
	}
	for i, a := range t.Fabric {
		client, _, err := charter.FabricPorts(a)
		if err != nil {
			return malformed("fabric address %d: %v", i+1, err)
		}
		if client != a {
			return malformed("fabric address %q is not in canonical form %q", a, client)
		}
		if slices.Contains(t.Fabric[:i], a) {
			return malformed("fabric address %q is listed twice", a)
		}
	}
	if s := t.Expires.Unix(); s < minUnix || s >= maxUnix || t.Expires.Nanosecond() != 0 {
		return malformed("expiry %v is not a whole second in the years 2000 to 2199", t.Expires)
	}
	if len(t.InviteSeed) != ed25519.SeedSize {
		return malformed("invite seed of %d bytes, want %d", len(t.InviteSeed), ed25519.SeedSize)
	}
	if len(t.Inviter) != ed25519.PublicKeySize {
		return malformed("inviter key of %d bytes, want %d", len(t.Inviter), ed25519.PublicKeySize)
	}
	return nil
}
