// Package report defines the signed statements members publish on the
// fabric: an alert (one of the member's scenarios fired), a manual ban or a
// pardon (an operator's), a batch of manual bans (an operator's import), an
// enforcement record (the member applied a decision), and a sighting (a
// batch of what the member saw from sources that stay under its own
// thresholds), each signed with the member's ed25519 key.
//
// It fixes the wire form, a canonical binary encoding (Body) followed by
// the signature, and decodes it strictly: reports arrive from other hosts
// and carry attacker-written log lines, so Unmarshal bounds every field,
// allocates at most what the input's length allows, rejects anything that
// would not re-encode to the same bytes, and never panics. Its errors come
// from one catalogue (ErrTooLarge, ErrMalformed, ...) with stable reason
// keys for counting.
//
// It does not decide anything (the arbiter does), and does no I/O, reads no
// clock and starts no goroutines.
package report

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"

	"phalanx/identity"
	"phalanx/wire"
)

// Version is the encoding version, the first byte of every Body.
const Version = 1

// Limits on a report. A report within them is at most about 20 KiB.
const (
	MaxSize         = 32 << 10 // bytes of a marshaled report, signature included
	MaxScenarioLen  = 64       // bytes
	MaxReasonLen    = 512      // bytes
	MaxEvidence     = 16       // lines
	MaxEvidenceLine = 1024     // bytes per line
	MaxCount        = math.MaxInt32
	MaxDuration     = 10 * 365 * 24 * time.Hour // of a manual ban
	SigSize         = ed25519.SignatureSize
)

// Report times (Time, First, Last) must lie in [MinUnix, MaxUnix) seconds,
// that is from 2000-01-01 up to 2200-01-01 UTC.
const (
	MinUnix = 946684800
	MaxUnix = 7258118400
)

// Type says what a report asks for.
type Type uint8

// Report types. The zero Type is invalid.
const (
	TypeAlert  Type = iota + 1 // a scenario fired: ban Value, as the charter decides
	TypeManual                 // an operator's ban of Value for Duration
	TypePardon                 // an operator's unban of Value
	// TypeEnforced records that the member applied a decision on Value at
	// one of its layers (Scenario names the layer, such as "nftables") at
	// Time. It asks for nothing; it is the member's entry in the timeline.
	TypeEnforced
	// TypeSighting carries Sightings: per source, the events the member saw
	// between First and Last that raised no alert of its own, for the
	// charter's fleet scenarios to add up across members. It has no
	// Scenario, Value, Duration, Reason, Count or Evidence.
	TypeSighting
	// TypeBatch is an operator's bans of many values at once (an
	// import): Batch holds them, each with its own duration and a reason
	// from Reasons; Scenario names the batch (such as "import"). It has no
	// Value, Duration, Reason, alert window, Count or Evidence.
	TypeBatch
	typeEnd
)

// String returns the type's stable name.
func (t Type) String() string {
	switch t {
	case TypeAlert:
		return "alert"
	case TypeManual:
		return "manual"
	case TypePardon:
		return "pardon"
	case TypeEnforced:
		return "enforced"
	case TypeSighting:
		return "sighting"
	case TypeBatch:
		return "batch"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Report is one signed statement by a member.
type Report struct {
	Member   string        // identity.MemberID of the signer
	Seq      uint64        // per-member sequence: 1, 2, 3, ...
	Time     time.Time     // when the member made it (UTC on decode, nanoseconds kept)
	Type     Type          //
	Scenario string        // alert: the scenario that fired; manual/pardon: free text such as "manual"
	Value    netip.Prefix  // an address (full-length prefix) or a range; masked, never IPv4-mapped
	Duration time.Duration // manual: requested length (0 = the charter's default); otherwise 0
	Reason   string        // for people; no control characters
	First    time.Time     // alert: first event of the window; sighting: first event of the batch; otherwise zero
	Last     time.Time     // alert: the event that fired; sighting: last event of the batch; otherwise zero
	Count    int           // alert: events counted (≥ 1); otherwise 0
	Evidence []string      // raw log lines (attacker-written): ≤ MaxEvidence, each ≤ MaxEvidenceLine bytes
	// Sightings, in a sighting only: one per source, in source order
	// (see Sighting); nil in every other type.
	Sightings []Sighting
	// Reasons and Batch, in a batch only (see BatchEntry); nil in every
	// other type.
	Reasons []string
	Batch   []BatchEntry
	Sig     []byte // ed25519 over Body()
}

// Body returns the canonical encoding of every field but Sig: the version
// byte, then the fields in declaration order with fixed-width integers
// (big-endian), strings and the evidence list prefixed by their 32-bit
// lengths, times as Unix nanoseconds (0 for the zero time), and the prefix
// as a family byte (0 invalid, 4, 6), the address bytes and the bit length.
// It encodes any Report, valid or not, deterministically; Validate says
// whether the result would be accepted.
//
// A sighting and a batch have their own layouts after the common start
// (version, type, member, sequence, time): see sightingBody and batchBody.
func (r *Report) Body() []byte {
	switch r.Type {
	case TypeSighting:
		return r.sightingBody()
	case TypeBatch:
		return r.batchBody()
	}
	n := 1 + 1 + 4 + len(r.Member) + 8 + 8 + 4 + len(r.Scenario) + 1 + 16 + 1 + 8 + 4 + len(r.Reason) + 8 + 8 + 8 + 4
	for _, e := range r.Evidence {
		n += 4 + len(e)
	}
	b := make([]byte, 0, n)
	b = append(b, Version, byte(r.Type))
	b = appendString(b, r.Member)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendTime(b, r.Time)
	b = appendString(b, r.Scenario)
	b = appendPrefix(b, r.Value)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Duration))
	b = appendString(b, r.Reason)
	b = appendTime(b, r.First)
	b = appendTime(b, r.Last)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(r.Count)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Evidence)))
	for _, e := range r.Evidence {
		b = appendString(b, e)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendPrefix(b []byte, p netip.Prefix) []byte {
	switch {
	case !p.IsValid():
		return append(b, 0)
	case p.Addr().Is4():
		a := p.Addr().As4()
		b = append(b, 4)
		b = append(b, a[:]...)
	default:
		a := p.Addr().As16()
		b = append(b, 6)
		b = append(b, a[:]...)
	}
	return append(b, byte(p.Bits()))
}

// Sign sets Member to id's member ID and Sig to id's signature over Body.
// Call Validate afterwards to learn whether receivers will accept it.
func (r *Report) Sign(id *identity.Identity) {
	r.Member = id.ID
	r.Sig = id.Sign(r.Body())
}

// Verify checks that Sig is pub's signature over Body and that Member is
// pub's member ID. Its errors wrap ErrBadSignature.
func (r *Report) Verify(pub ed25519.PublicKey) error {
	switch {
	case len(pub) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: public key has %d bytes, want %d", ErrBadSignature, len(pub), ed25519.PublicKeySize)
	case identity.MemberID(pub) != r.Member:
		return fmt.Errorf("%w: report names member %q but the key belongs to %s", ErrBadSignature, r.Member, identity.MemberID(pub))
	case len(r.Sig) != SigSize:
		return fmt.Errorf("%w: signature has %d bytes, want %d", ErrBadSignature, len(r.Sig), SigSize)
	case !ed25519.Verify(pub, r.Body(), r.Sig):
		return fmt.Errorf("%w: signature does not match the report", ErrBadSignature)
	}
	return nil
}

// ID returns the hex SHA-256 of Body: the same for every copy of one report
// (ed25519 signatures are deterministic, so the signature adds nothing) and
// different for any two reports. The fabric uses it as Nats-Msg-Id, and
// receivers to drop duplicates.
func (r *Report) ID() string {
	sum := sha256.Sum256(r.Body())
	return hex.EncodeToString(sum[:])
}

// EvidenceDigest returns the SHA-256 of the evidence lines, encoded with
// their count and lengths so that no two different lists share a digest.
func (r *Report) EvidenceDigest() [32]byte {
	h := sha256.New()
	var b []byte
	b = append(b, "phalanx evidence v1\x00"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Evidence)))
	h.Write(b)
	for _, e := range r.Evidence {
		h.Write(binary.BigEndian.AppendUint32(b[:0], uint32(len(e))))
		h.Write([]byte(e))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Marshal returns the wire form of r: Body followed by Sig.
func Marshal(r *Report) []byte {
	return append(r.Body(), r.Sig...)
}

// Unmarshal decodes and validates the wire form of a report. It accepts
// only what Marshal produces for a valid report with a 64-byte signature,
// so a report it returns re-marshals to exactly b. It does not verify the
// signature: that needs the charter's key for r.Member (Verify).
func Unmarshal(b []byte) (Report, error) {
	var r Report
	if len(b) > MaxSize {
		return r, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxSize)
	}
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty", ErrTruncated)
	}
	if b[0] != Version {
		return r, fmt.Errorf("%w: version %d, this build reads %d", ErrVersion, b[0], Version)
	}
	if len(b) < 2+SigSize {
		return r, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	d := decoder{wire.NewDecoder(b[1:len(b)-SigSize], errPastEnd)}
	r.Type = Type(d.Uint8())
	if d.Err() == nil && (r.Type < TypeAlert || r.Type >= typeEnd) {
		return Report{}, fmt.Errorf("%w: %d", ErrUnknownType, uint8(r.Type))
	}
	r.Member = d.string("member", identity.IDLen)
	r.Seq = d.Uint64()
	r.Time = d.time()
	switch r.Type {
	case TypeSighting:
		return finishSighting(r, &d, b)
	case TypeBatch:
		return finishBatch(r, &d, b)
	}
	r.Scenario = d.string("scenario", MaxScenarioLen)
	r.Value = d.prefix()
	r.Duration = time.Duration(d.Uint64())
	r.Reason = d.string("reason", MaxReasonLen)
	r.First = d.time()
	r.Last = d.time()
	count := int64(d.Uint64())
	if d.Err() == nil && (count < 0 || count > MaxCount) {
		d.Fail(fmt.Errorf("%w: count %d is out of range 0..%d", ErrLimit, count, MaxCount))
	}
	r.Count = int(count)
	if n := d.Uint32(); d.Err() == nil {
		if n > MaxEvidence {
			d.Fail(fmt.Errorf("%w: %d evidence lines, the limit is %d", ErrLimit, n, MaxEvidence))
		} else if n > 0 {
			r.Evidence = make([]string, n)
			for i := range r.Evidence {
				r.Evidence[i] = d.string("evidence line", MaxEvidenceLine)
			}
		}
	}
	return d.finish(r, b, "evidence")
}

// finish ends decoding r from b: the decoder's error if any, then nothing
// may follow the body's last part (named by last), then the signature, and
// the report must be valid.
func (d *decoder) finish(r Report, b []byte, last string) (Report, error) {
	if d.Err() != nil {
		return Report{}, d.Err()
	}
	if d.Len() != 0 {
		return Report{}, fmt.Errorf("%w: %d bytes after the %s", ErrTrailing, d.Len(), last)
	}
	r.Sig = append([]byte(nil), b[len(b)-SigSize:]...)
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	return r, nil
}

// errPastEnd is the error of a field that runs past the end of the report.
var errPastEnd = fmt.Errorf("%w: a field runs past the end", ErrTruncated)

// decoder is a wire.Decoder with the report's field types and errors.
type decoder struct{ wire.Decoder }

func (d *decoder) string(what string, max int) string {
	n := d.Uint32()
	if d.Err() != nil {
		return ""
	}
	if n > uint32(max) {
		d.Fail(fmt.Errorf("%w: %s of %d bytes, the limit is %d", ErrLimit, what, n, max))
		return ""
	}
	return string(d.Take(int(n)))
}

func (d *decoder) time() time.Time {
	n := int64(d.Uint64())
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) prefix() netip.Prefix {
	var addr netip.Addr
	switch fam := d.Uint8(); {
	case d.Err() != nil:
		return netip.Prefix{}
	case fam == 4:
		if p := d.Take(4); p != nil {
			addr = netip.AddrFrom4([4]byte(p))
		}
	case fam == 6:
		if p := d.Take(16); p != nil {
			addr = netip.AddrFrom16([16]byte(p))
		}
	default:
		d.Fail(fmt.Errorf("%w: address family %d", ErrBadPrefix, fam))
		return netip.Prefix{}
	}
	bits := d.Uint8()
	if d.Err() != nil {
		return netip.Prefix{}
	}
	if int(bits) > addr.BitLen() {
		d.Fail(fmt.Errorf("%w: /%d on a %d-bit address", ErrBadPrefix, bits, addr.BitLen()))
		return netip.Prefix{}
	}
	return netip.PrefixFrom(addr, int(bits))
}

// Validate checks every field except Sig against the limits receivers
// apply; its errors wrap one of the catalogue's errors.
func (r *Report) Validate() error {
	if !identity.IsID(r.Member) {
		return fmt.Errorf("%w: member %q is not a member ID (sign the report to set it)", ErrMalformed, r.Member)
	}
	if r.Seq == 0 {
		return fmt.Errorf("%w: sequence 0; sequences start at 1", ErrMalformed)
	}
	if err := checkTime("time", r.Time); err != nil {
		return err
	}
	if r.Type < TypeAlert || r.Type >= typeEnd {
		return fmt.Errorf("%w: %d", ErrUnknownType, uint8(r.Type))
	}
	if r.Type != TypeBatch && (len(r.Batch) != 0 || len(r.Reasons) != 0) {
		return fmt.Errorf("%w: a %s report carries no batch", ErrMalformed, r.Type)
	}
	switch r.Type {
	case TypeSighting:
		return r.validateSighting()
	case TypeBatch:
		return r.validateBatch()
	}
	if len(r.Sightings) != 0 {
		return fmt.Errorf("%w: a %s report carries no sightings", ErrMalformed, r.Type)
	}
	if r.Scenario == "" {
		return fmt.Errorf("%w: empty scenario; name the scenario, or \"manual\"", ErrMalformed)
	}
	if err := checkText("scenario", r.Scenario, MaxScenarioLen, false); err != nil {
		return err
	}
	if err := checkPrefix(r.Value); err != nil {
		return err
	}
	if err := checkText("reason", r.Reason, MaxReasonLen, false); err != nil {
		return err
	}
	switch r.Type {
	case TypeAlert:
		if r.Duration != 0 {
			return fmt.Errorf("%w: an alert carries no duration (the charter decides), got %v", ErrMalformed, r.Duration)
		}
		if err := checkTime("first", r.First); err != nil {
			return err
		}
		if err := checkTime("last", r.Last); err != nil {
			return err
		}
		if r.Last.Before(r.First) {
			return fmt.Errorf("%w: alert window ends (%v) before it starts (%v)", ErrBadTime, r.Last, r.First)
		}
		if r.Count < 1 || r.Count > MaxCount {
			return fmt.Errorf("%w: count %d is out of range 1..%d", ErrLimit, r.Count, MaxCount)
		}
	default:
		if (r.Type == TypePardon || r.Type == TypeEnforced) && r.Duration != 0 {
			return fmt.Errorf("%w: a %s report carries no duration, got %v", ErrMalformed, r.Type, r.Duration)
		}
		if r.Duration < 0 || r.Duration > MaxDuration {
			return fmt.Errorf("%w: duration %v is out of range 0..%v", ErrLimit, r.Duration, MaxDuration)
		}
		if !r.First.IsZero() || !r.Last.IsZero() || r.Count != 0 {
			return fmt.Errorf("%w: a %s report carries no alert window or count", ErrMalformed, r.Type)
		}
	}
	if len(r.Evidence) > MaxEvidence {
		return fmt.Errorf("%w: %d evidence lines, the limit is %d", ErrLimit, len(r.Evidence), MaxEvidence)
	}
	for i, e := range r.Evidence {
		if err := checkText(fmt.Sprintf("evidence line %d", i+1), e, MaxEvidenceLine, true); err != nil {
			return err
		}
	}
	return nil
}

func checkTime(what string, t time.Time) error {
	if s := t.Unix(); s < MinUnix || s >= MaxUnix {
		return fmt.Errorf("%w: %s %v is outside the years 2000 to 2199", ErrBadTime, what, t)
	}
	return nil
}

func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: no valid address or range", ErrBadPrefix)
	case p.Addr().Zone() != "":
		return fmt.Errorf("%w: %s has a zone", ErrBadPrefix, p)
	case p.Addr().Is4In6():
		return fmt.Errorf("%w: %s is IPv4-mapped; report the IPv4 form", ErrBadPrefix, p)
	case p.Masked() != p:
		return fmt.Errorf("%w: %s has bits beyond its length; report %s", ErrBadPrefix, p, p.Masked())
	}
	return nil
}

// checkText requires valid UTF-8 within max bytes. Evidence lines (raw)
// may hold any character but a line break; other text no control characters.
func checkText(what, s string, max int, raw bool) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes, the limit is %d", ErrLimit, what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s", ErrBadUTF8, what)
	}
	for _, c := range s {
		if raw && c != '\n' && c != '\r' || !raw && !isControl(c) {
			continue
		}
		return fmt.Errorf("%w: %s holds %q", ErrBadText, what, c)
	}
	return nil
}

// isControl reports C0 and C1 control characters and DEL.
// fit reports whether clean would return s unchanged: no longer than max,
// valid UTF-8 (a literal U+FFFD is sent to the slow path, which keeps it),
// no line break and, unless raw, no control character.
func fit(s string, max int, raw bool) bool {
	if len(s) > max {
		return false
	}
	for _, c := range s {
		if c == utf8.RuneError || c == '\n' || c == '\r' || !raw && isControl(c) {
			return false
		}
	}
	return true
}

func isControl(c rune) bool { return c < 0x20 || c >= 0x7f && c < 0xa0 }

// Text returns s made fit for Reason or Scenario: invalid UTF-8 and control
// characters become U+FFFD, and it is cut to max bytes on a character
// boundary.
func Text(s string, max int) string { return clean(s, max, false) }

// EvidenceLine returns a raw log line made fit for Evidence: invalid UTF-8
// and line breaks become U+FFFD, and it is cut to MaxEvidenceLine bytes on
// a character boundary.
func EvidenceLine(raw []byte) string { return clean(string(raw), MaxEvidenceLine, true) }

// EvidenceText is EvidenceLine for a line already held as a string: a
// line that is fit already is returned as it is, without a copy.
func EvidenceText(raw string) string { return clean(raw, MaxEvidenceLine, true) }

func clean(s string, max int, raw bool) string {
	if fit(s, max, raw) {
		return s
	}
	return rewrite(s, max, raw)
}

// rewrite is clean's work on a string that is not fit as it is.
func rewrite(s string, max int, raw bool) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == '\n' || c == '\r' || !raw && isControl(c) {
			c = utf8.RuneError
		}
		if len(b)+utf8.RuneLen(c) > max {
			break
		}
		b = utf8.AppendRune(b, c)
		i += size
	}
	return string(b)
}

// Error is a kind of bad report. Every error of this package wraps one of
// the catalogue's values below; Reason returns its stable key.
type Error struct {
	reason, msg string
}

func (e *Error) Error() string { return e.msg }

// Reason is the error's stable key, for counting.
func (e *Error) Reason() string { return e.reason }

// The catalogue of bad reports.
var (
	ErrTooLarge     = &Error{"too-large", "report too large"}
	ErrTruncated    = &Error{"truncated", "report truncated"}
	ErrTrailing     = &Error{"trailing-bytes", "trailing bytes after the report"}
	ErrVersion      = &Error{"bad-version", "unknown report version"}
	ErrUnknownType  = &Error{"bad-type", "unknown report type"}
	ErrBadUTF8      = &Error{"bad-utf8", "text is not valid UTF-8"}
	ErrBadText      = &Error{"bad-text", "text holds a forbidden character"}
	ErrBadPrefix    = &Error{"bad-prefix", "invalid address or range"}
	ErrBadTime      = &Error{"bad-time", "time out of range"}
	ErrLimit        = &Error{"over-limit", "field over its limit"}
	ErrMalformed    = &Error{"malformed", "malformed report"}
	ErrBadSignature = &Error{"bad-signature", "bad signature"}
)

// Reason returns the stable key of err's catalogue error ("too-large",
// "malformed", "bad-signature", ...), "" for nil and "other" for an error
// from outside the catalogue.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	return "other"
}
