package alliance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"phalanx/charter"
	"phalanx/identity"
)

// historyDomain starts what the member that hands a history over signs.
const historyDomain = "phalanx history v1\x00"

// Limits on a charter history.
const (
	// MaxHistorySteps bounds the amendments a history carries.
	MaxHistorySteps = 256
	// MaxHistoryBytes bounds a history's charters and amendments, raw:
	// with the charter and the amendment of a join reply, base64 in JSON,
	// it stays under MaxJoinReplySize. TrimHistory drops the oldest
	// steps to fit.
	MaxHistoryBytes = 384 << 10
)

// History is the signed amendment history of a charter: the charter the
// first amendment amends (the founding charter when its version is 1)
// and the amendments that followed, oldest first, each amending the
// charter the one before it made. A member that joins receives the
// inviting member's history with its join reply, so that it knows how
// the alliance came to its charter.
//
// Each amendment is signed by a founding member of the charter it amends,
// but that only proves a charter's past back to the charter whose keys
// are trusted: anyone can sign a made-up predecessor of a charter with a
// key of their own. So the member that hands a history over signs all of
// it (SignHistory), and the receiver checks that signature with the key
// that signed its admission (VerifyHistory).
type History struct {
	Root  []byte        `json:"root"`          // the first charter's YAML
	Steps []HistoryStep `json:"steps"`         // oldest first
	Sig   []byte        `json:"sig,omitempty"` // by the member that handed it over (SignHistory); none in a member's own file
}

// HistoryStep is one amendment of a history.
type HistoryStep struct {
	Amendment []byte    `json:"amendment"` // Amendment.Marshal
	Time      time.Time `json:"time"`      // when the alliance's stream stored it, as its keeper saw it; not signed
}

// Size is the bytes of h's charters and amendments.
func (h *History) Size() int {
	n := len(h.Root)
	for _, s := range h.Steps {
		n += len(s.Amendment)
	}
	return n
}

// TrimHistory drops the oldest steps of h until it holds at most
// MaxHistorySteps steps of at most MaxHistoryBytes: the charter the
// first kept step amends becomes the root. It changes h's slices in place.
func TrimHistory(h *History) error {
	for len(h.Steps) > 0 && (len(h.Steps) > MaxHistorySteps || h.Size() > MaxHistoryBytes) {
		a, err := ParseAmendment(h.Steps[0].Amendment)
		if err != nil {
			return fmt.Errorf("trim history: %w", err)
		}
		h.Root, h.Steps, h.Sig = a.Charter, h.Steps[1:], nil
	}
	return nil
}

// historyMessage is what SignHistory signs: the domain and a SHA-256 of
// the root, then of each step's amendment and time, each with its length.
func historyMessage(h *History) []byte {
	d := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		d.Write(n[:])
		d.Write(b)
	}
	put(h.Root)
	for _, s := range h.Steps {
		put(s.Amendment)
		binary.BigEndian.PutUint64(n[:], uint64(s.Time.UnixNano()))
		d.Write(n[:])
	}
	return d.Sum([]byte(historyDomain))
}

// SignHistory signs h, steps and times included, as signer: the member
// that hands h over, which signed its last amendment.
func SignHistory(signer *identity.Identity, h *History) {
	h.Sig = signer.Sign(historyMessage(h))
}

// VerifiedStep is a step of a verified history: the amendment and the
// charters before and after it.
type VerifiedStep struct {
	Amendment  Amendment
	Prev, Next charter.Charter
	Time       time.Time
}

// VerifyHistory checks that h leads, amendment by amendment, to the
// amendment last, which the caller trusts (a joining member: the one that
// admitted it, which Accept checked against the token), and that last's
// signer handed h over: h has 1 to MaxHistorySteps steps; its root
// charter parses; each step's amendment parses and Verify accepts it
// against the charter before it (signed by a founding member of that
// charter, the next version, its hash chained to the one before); the
// last step is last, byte for byte; h.Sig is the signature of last's
// signer (its key in the charter last amends, whose hash last's
// signature covers) over all of h. It returns the steps, oldest first.
func VerifyHistory(h *History, last Amendment) ([]VerifiedStep, error) {
	fail := func(err error) ([]VerifiedStep, error) { return nil, fmt.Errorf("charter history: %w", err) }
	if h == nil || len(h.Steps) == 0 {
		return fail(malformed("no amendment"))
	}
	if len(h.Steps) > MaxHistorySteps {
		return fail(malformed("%d amendments, the limit is %d", len(h.Steps), MaxHistorySteps))
	}
	if len(h.Root) == 0 || len(h.Root) > charter.MaxFileSize {
		return fail(malformed("root charter of %d bytes; it must have 1 to %d", len(h.Root), charter.MaxFileSize))
	}
	cur, err := charter.Parse(h.Root)
	if err != nil {
		return fail(fmt.Errorf("%w: root charter: %v", ErrMalformed, err))
	}
	out := make([]VerifiedStep, 0, len(h.Steps))
	for i, s := range h.Steps {
		a, err := ParseAmendment(s.Amendment)
		if err != nil {
			return fail(fmt.Errorf("step %d: %w", i+1, err))
		}
		next, err := a.Verify(&cur)
		if err != nil {
			return fail(fmt.Errorf("step %d (version %d): %w", i+1, cur.Version+1, err))
		}
		out = append(out, VerifiedStep{Amendment: a, Prev: cur, Next: next, Time: s.Time})
		cur = next
	}
	end := out[len(out)-1]
	if !bytes.Equal(h.Steps[len(h.Steps)-1].Amendment, last.Marshal()) {
		return fail(fmt.Errorf("%w: its last amendment is not the trusted one", ErrNotAuthorized))
	}
	_, pub, ok := end.Prev.Member(last.Signer)
	if !ok || len(h.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, historyMessage(h), h.Sig) {
		return fail(fmt.Errorf("%w: not signed by %s, who signed the last amendment", ErrBadSignature, last.Signer))
	}
	return out, nil
}
