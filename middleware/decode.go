package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"phalanx"
)

// DefaultMaxBody is Config.MaxBody's default: 256 MiB, a startup pull of
// about 1.5 million decisions.
const DefaultMaxBody = 256 << 20

// maxEntry bounds one value of the stream (a decision, or a token around
// them): a decision takes about 200 bytes.
const maxEntry = 64 << 10

var (
	errBodyTooLarge  = errors.New("stream response too large (raise Config.MaxBody if the member really holds that many decisions)")
	errEntryTooLarge = fmt.Errorf("stream response holds a value larger than %d bytes", maxEntry)
)

// streamBody is one decoded response of /v1/decisions/stream.
type streamBody struct {
	added   []ban          // bans to store
	deleted []netip.Prefix // prefixes whose bans were deleted
	bad     int            // entries skipped because they could not be read
	ignored int            // readable entries that are not for this guard: other types and scopes, ended bans
}

// wireDecision is the part of CrowdSec's Decision object the guard reads.
type wireDecision struct {
	Duration string `json:"duration"`
	Scope    string `json:"scope"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	Until    string `json:"until"`
}

// decodeStream reads a stream response: an object whose "new" and
// "deleted" members are lists of decisions, or null. It reads at most
// maxBody bytes and at most maxEntry for any one value, holding one
// decision at a time. Unknown members and fields are ignored; an entry
// that is not a decision it can read is skipped and counted; anything that
// is not such an object, or is cut, is an error. Bans end at now plus
// their duration.
func decodeStream(r io.Reader, now time.Time, maxBody int64) (*streamBody, error) {
	w := &windowReader{r: r, max: maxBody}
	dec := json.NewDecoder(w)
	allow := func() { w.limit = dec.InputOffset() + maxEntry }
	out := &streamBody{}

	allow()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("read stream response: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("stream response is not a JSON object")
	}
	for {
		allow()
		if !dec.More() {
			break
		}
		allow()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read stream response: %w", err)
		}
		name, _ := tok.(string)
		switch {
		case strings.EqualFold(name, "new"):
			err = out.list(dec, allow, now, false)
		case strings.EqualFold(name, "deleted"):
			err = out.list(dec, allow, now, true)
		default:
			err = skipValue(dec, allow)
		}
		if err != nil {
			return nil, err
		}
	}
	allow()
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("read stream response: %w", err)
	}
	allow()
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the object")
		}
		return nil, fmt.Errorf("read stream response: %w", err)
	}
	return out, nil
}

// list reads one list of decisions, or null.
func (out *streamBody) list(dec *json.Decoder, allow func(), now time.Time, deleted bool) error {
	allow()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read stream response: %w", err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return errors.New("stream response: new and deleted must be lists")
	}
	for {
		allow()
		if !dec.More() {
			break
		}
		var d wireDecision
		allow()
		if err := dec.Decode(&d); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				// The entry was read whole; a field had the wrong type.
				out.bad++
				continue
			}
			return fmt.Errorf("read stream response: %w", err)
		}
		out.entry(&d, now, deleted)
	}
	allow()
	if _, err := dec.Token(); err != nil { // the closing bracket
		return fmt.Errorf("read stream response: %w", err)
	}
	return nil
}

// entry takes one decision of a list.
func (out *streamBody) entry(d *wireDecision, now time.Time, deleted bool) {
	if d.Type == "" || d.Value == "" {
		out.bad++
		return
	}
	if !strings.EqualFold(d.Type, "ban") {
		out.ignored++ // captcha, throttle…: not for a guard that only bans
		return
	}
	switch {
	case strings.EqualFold(d.Scope, "ip"), strings.EqualFold(d.Scope, "range"):
	case d.Scope == "":
		out.bad++
		return
	default:
		out.ignored++ // country, AS, user…: not an address
		return
	}
	p, ok := parseValue(d.Value)
	if !ok {
		out.bad++
		return
	}
	if deleted {
		out.deleted = append(out.deleted, p)
		return
	}
	var until time.Time
	if dur, err := time.ParseDuration(d.Duration); err == nil {
		until = now.Add(min(dur, maxDuration))
	} else if t, err := time.Parse(time.RFC3339, d.Until); err == nil {
		until = t
	} else {
		out.bad++
		return
	}
	if !until.After(now) {
		out.ignored++
		return
	}
	out.added = append(out.added, ban{value: p, until: unixUntil(until)})
}

// maxDuration caps a ban's length, so that now plus it cannot overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

// parseValue reads an address or range as a decision's value holds it,
// normalised as the decision table stores it. Either form is taken in
// either scope: an Ip value with a prefix length, or a Range value that is
// a single address, means what it says.
func parseValue(s string) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		a = a.WithZone("")
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return phalanx.NormalizePrefix(p)
}

// skipValue reads and drops one value of any kind.
func skipValue(dec *json.Decoder, allow func()) error {
	depth := 0
	for {
		allow()
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read stream response: %w", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// windowReader reads at most max bytes, and no further than limit, which
// the decoder moves forward before each value: a value longer than
// maxEntry cannot make the decoder buffer more.
type windowReader struct {
	r     io.Reader
	n     int64 // bytes read so far
	limit int64
	max   int64
	err   error // sticky once the body proved too large
}

func (w *windowReader) Read(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.n >= w.max {
		// Exactly max bytes is fine; one more is not.
		var one [1]byte
		n, err := io.ReadFull(w.r, one[:])
		if n > 0 {
			w.err = errBodyTooLarge
			return 0, w.err
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if w.n >= w.limit {
		return 0, errEntryTooLarge
	}
	if room := min(w.max, w.limit) - w.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := w.r.Read(p)
	w.n += int64(n)
	return n, err
}
