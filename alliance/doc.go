// Package alliance holds the formats that grow an alliance: the join token
// a founding member prints (`phalanx alliance invite`), the data directory's
// invite store (invites.json) that the CLI and the daemon share, the join
// request and reply a new member and the inviting daemon exchange over the
// fabric, and the signed charter amendments every member verifies before it
// switches to a new charter.
//
// Everything it decodes comes from other hosts or from people pasting
// lines, so every decoder is strict and bounded: it checks each length
// before allocating, rejects unknown fields and trailing bytes, validates
// every field, and never panics. Each signature has its own domain, so a
// signature made for one purpose is never valid for another.
//
// It does no network I/O and reads no clock (functions take now); its only
// file I/O is the invite store. It does not decide who may join (the daemon
// does, with UseInvite) and does not talk to NATS (package fabric does).
package alliance

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Signature domains: each signed message starts with one of them.
const (
	tokenDomain     = "phalanx token v1\x00"
	joinDomain      = "phalanx join v1\x00"
	amendmentDomain = "phalanx amendment v1\x00"
)

// Errors of the package. Every error it returns for bad input or a refused
// operation wraps one of them, so callers can tell the cases apart with
// errors.Is; the messages themselves say what to do.
var (
	// ErrMalformed: the input does not decode, or a field breaks a limit.
	ErrMalformed = errors.New("malformed")
	// ErrBadSignature: a signature or a join proof does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrTokenExpired: the join token's expiry has passed.
	ErrTokenExpired = errors.New("join token expired")
	// ErrUnknownInvite: no invite with that id is recorded.
	ErrUnknownInvite = errors.New("unknown invite")
	// ErrInviteExpired: the invite's expiry has passed.
	ErrInviteExpired = errors.New("invite expired")
	// ErrInviteUsed: the invite was already used by a member.
	ErrInviteUsed = errors.New("invite already used")
	// ErrNotAuthorized: the signer is not a founding member, or the key
	// does not belong to the member it claims to be.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrOutOfOrder: an amendment does not follow the current charter
	// (wrong previous hash or version).
	ErrOutOfOrder = errors.New("amendment out of order")
	// ErrRefused: the inviting member refused the join request.
	ErrRefused = errors.New("join refused")
	// ErrMember: a member cannot be added or removed (duplicate, unknown,
	// last founding member).
	ErrMember = errors.New("membership change refused")
)

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// checkText requires valid UTF-8 without control characters, within max
// bytes.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return malformed("%s of %d bytes, the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return malformed("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return malformed("%s holds the control character %q", what, r)
		}
	}
	return nil
}

// checkAllianceName applies the charter's rule for names: 1 to 64 letters,
// digits, - and _.
func checkAllianceName(s string) error {
	if s == "" || len(s) > maxAllianceLen {
		return malformed("alliance name of %d bytes; it must have 1 to %d", len(s), maxAllianceLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return malformed("alliance name %q holds %q; names use letters, digits, - and _", s, c)
		}
	}
	return nil
}

// isHash reports whether s is a lowercase hex SHA-256, as charter.Hash
// returns.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
