package httplog

import "bytes"

// parseHAProxy reads the message of HAProxy's "option httplog", sp being
// the end of its first field:
//
//	ADDR:PORT [06/Dec/2026:16:21:43.123] FRONTEND BACKEND/SERVER TR/TW/TC/TR/TA STATUS BYTES
//	    COOKIE COOKIE TERM ACT/FE/BE/SRV/RETRIES SRVQ/BEQ [{REQ HEADERS}] [{RESP HEADERS}] "REQUEST"
//
// HAProxy encodes quotes and braces in what it captures, so the request
// starts at the first quote after the byte count; a request cut short by
// HAProxy's line length limit has no closing quote, and "<BADREQ>" stands
// for a request that was not HTTP.
func (p *Parser) parseHAProxy(line []byte, sp int, r *Request) bool {
	a, ok := parsePeerPort(line[:sp])
	if !ok {
		return false
	}
	r.Peer = a
	rest := line[sp+2:]
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return false
	}
	if r.Time, ok = p.clock.haproxyTime(rest[:end]); !ok {
		return false
	}
	rest = rest[end+1:]

	// FRONTEND BACKEND/SERVER TIMERS STATUS BYTES
	var f [5][]byte
	for k := range f {
		if len(rest) < 2 || rest[0] != ' ' {
			return false
		}
		rest = rest[1:]
		n := bytes.IndexByte(rest, ' ')
		if n <= 0 {
			return false
		}
		f[k], rest = rest[:n], rest[n:]
	}
	if bytes.IndexByte(f[1], '/') <= 0 || bytes.Count(f[2], []byte{'/'}) != 4 {
		return false
	}
	st := f[3]
	if len(st) > 0 && st[0] == '-' {
		// -1: no response (the client went away first).
		if _, ok := digits(st[1:]); !ok {
			return false
		}
	} else if r.Status, ok = digits(st); !ok || len(st) != 3 {
		return false
	}
	if b := f[4]; len(b) > 0 && b[0] == '+' {
		f[4] = b[1:]
	}
	if _, ok := digits(f[4]); !ok {
		return false
	}

	// COOKIE COOKIE TERM CONNS QUEUES, then captures, then the request.
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return false
	}
	mid := rest[:q]
	if c := bytes.IndexByte(mid, '{'); c >= 0 {
		mid = mid[:c]
	}
	mid = bytes.TrimRight(mid, " ")
	sp2 := bytes.LastIndexByte(mid, ' ')
	if sp2 < 0 || bytes.Count(mid[sp2+1:], []byte{'/'}) != 1 {
		return false
	}
	mid = mid[:sp2]
	sp3 := bytes.LastIndexByte(mid, ' ')
	if sp3 < 0 || bytes.Count(mid[sp3+1:], []byte{'/'}) != 4 {
		return false
	}

	req := rest[q+1:]
	if n := len(req); n > 0 && req[n-1] == '"' {
		req = req[:n-1]
	}
	switch {
	case len(req) == 0:
		r.NoRequest = true
		return true
	case string(req) == "<BADREQ>":
		// HAProxy hides what it could not parse: garbage, usually.
		r.BadRequest = true
		return true
	}
	setRequest(req, r)
	return true
}
