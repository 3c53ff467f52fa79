package httplog

import "bytes"

// parseCLF reads the rest of a common or combined log line after its
// address, from i, the start of the ident field:
//
//	IDENT USER [06/Dec/2026:16:21:43 +0000] "REQUEST" STATUS BYTES[ "REFERER" "UA"[ "XFF"]][ MORE]
//
// The user name comes from the client and may hold spaces and brackets, but
// nginx and Apache escape its quotes, so the request's opening quote is the
// first quote that no backslash escapes, and the fixed-width time ends just
// before it. Fields after the byte count are optional: a line whose referer
// or user agent cannot be read (Traefik does not escape quotes) still
// yields its address, time, request and status.
func (p *Parser) parseCLF(line []byte, i int, r *Request) bool {
	q := closeQuote(line, i)
	tStart := q - 2 - clfTimeLen
	if tStart-2 < i+1 || line[q-1] != ' ' || line[q-2] != ']' || line[tStart-1] != '[' || line[tStart-2] != ' ' {
		return false
	}
	t, ok := p.clock.clfTime(line[tStart : q-2])
	if !ok {
		return false
	}
	r.Time = t
	identUser := line[i : tStart-2]
	sp := bytes.IndexByte(identUser, ' ')
	if sp < 0 {
		return false
	}
	r.User = dash(identUser[sp+1:])

	end := closeQuote(line, q+1)
	if end < 0 {
		return false
	}
	if req := line[q+1 : end]; len(req) == 0 || len(req) == 1 && req[0] == '-' {
		r.NoRequest = true
	} else {
		setRequest(req, r)
	}

	// " STATUS BYTES"
	rest := line[end+1:]
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		sp = len(rest)
	}
	if r.Status, ok = status(rest[:sp]); !ok {
		return false
	}
	rest = rest[sp:]
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		sp = len(rest)
	}
	if !isCount(rest[:sp]) {
		return false
	}
	rest = rest[sp:]

	// Optional ` "REFERER" "UA"`, then ` "XFF"` as the nginx package's
	// "main" format appends it.
	ref, rest, ok := quoted(rest)
	if !ok {
		return true
	}
	ua, rest, ok := quoted(rest)
	if !ok {
		return true
	}
	r.Referer, r.UserAgent = dash(ref), dash(ua)
	if xff, tail, ok := quoted(rest); ok && bytes.IndexByte(tail, '"') < 0 {
		// Only when no quote follows: a format that does not escape quotes
		// (Traefik's) could otherwise let a user agent forge this field.
		r.Forwarded = dash(xff)
	}
	return true
}

// quoted reads ` "FIELD"` at the start of b and returns the field and what
// follows it.
func quoted(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != ' ' || b[1] != '"' {
		return nil, b, false
	}
	end := closeQuote(b, 2)
	if end < 0 {
		return nil, b, false
	}
	return b[2:end], b[end+1:], true
}
