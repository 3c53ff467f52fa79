package httplog

import (
	"bytes"
	"net/netip"
	"strconv"
)

// maxClientFields bounds the ", client: " fields examined in one nginx
// error line.
const maxClientFields = 16

// nginx error-log message shapes (the text before ", client: ").
var (
	ngxClient       = []byte(", client: ")
	ngxServer       = []byte(", server: ")
	ngxRequest      = []byte(", request: \"")
	ngxUpstream     = []byte(", upstream: \"")
	ngxHost         = []byte(", host: \"")
	ngxReferrer     = []byte(", referrer: \"")
	ngxMismatch     = []byte("\": password mismatch")
	ngxNotFoundIn   = []byte("\" was not found in \"")
	ngxNoAuth       = []byte("no user/password was provided for basic authentication")
	ngxLimitReq     = []byte("limiting requests, excess: ")
	ngxLimitConn    = []byte("limiting connections by zone \"")
	ngxByZone       = []byte(" by zone \"")
	ngxForbidden    = []byte("access forbidden by rule")
	ngxOpen         = []byte("open() \"")
	ngxOpenFailed   = []byte("\" failed (")
	ngxIsNotFound   = []byte("\" is not found (")
	ngxNoSuchFile   = []byte("2: No such file or directory)")
	ngxNotDirectory = []byte("20: Not a directory)")
)

// parseNginxError reads an nginx error-log line:
//
//	2026/12/06 16:21:43 [error] 1234#1234: *5 MESSAGE, client: ADDR, server: NAME[, request: "REQ"][, upstream: "U"][, host: "H"][, referrer: "R"]
//
// nginx does not escape what it writes here, and the client controls text
// on both sides of ", client: ADDR": the user name and the file path before
// it, the request, host and referrer after it. A user name cannot hold the
// colon of ", client: " (Basic authentication ends it at the first colon),
// so for the authentication, limit and rule messages the first such field is
// nginx's own. A file path can hold anything, so for the not-found messages
// every ", client: ADDR, server: " field of the line must name the same
// address, or the line is not understood.
func (p *Parser) parseNginxError(line []byte, r *Request) bool {
	if len(line) < 32 || line[19] != ' ' || line[20] != '[' {
		return false
	}
	t, ok := p.clock.nginxErrorTime(line[:19])
	if !ok {
		return false
	}
	r.Time = t
	rest := line[21:]
	end := bytes.IndexByte(rest, ']')
	if end <= 0 || end > 6 {
		return false
	}
	rest = rest[end+1:]
	// " PID#TID: [*CID ]"
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	colon := bytes.IndexByte(rest, ':')
	if colon < 0 || colon > 24 || bytes.IndexByte(rest[1:colon], '#') <= 0 || colon+2 > len(rest) || rest[colon+1] != ' ' {
		return false
	}
	msg := rest[colon+2:]
	if len(msg) > 0 && msg[0] == '*' {
		sp := bytes.IndexByte(msg, ' ')
		if sp < 2 {
			return false
		}
		if _, ok := digits(msg[1:sp]); !ok {
			return false
		}
		msg = msg[sp+1:]
	}

	c := bytes.Index(msg, ngxClient)
	if c < 0 {
		return false
	}
	head := msg[:c]
	pathMsg := false
	switch {
	case bytes.HasPrefix(head, []byte(`user "`)):
		u := head[len(`user "`):]
		switch {
		case bytes.HasSuffix(u, ngxMismatch):
			r.User = u[:len(u)-len(ngxMismatch)]
		case bytes.HasSuffix(u, []byte{'"'}) && bytes.Contains(u, ngxNotFoundIn):
			r.User = u[:bytes.LastIndex(u, ngxNotFoundIn)]
		default:
			return false
		}
		r.Error = ErrAuthFailure
	case bytes.Equal(head, ngxNoAuth):
		r.Error = ErrNoAuth
	case bytes.HasPrefix(head, ngxLimitReq):
		z := bytes.Index(head, ngxByZone)
		if z < 0 || z+len(ngxByZone) >= len(head) || head[len(head)-1] != '"' {
			return false
		}
		r.Zone = head[z+len(ngxByZone) : len(head)-1]
		r.Error = ErrLimited
	case bytes.HasPrefix(head, ngxLimitConn) && len(head) > len(ngxLimitConn) && head[len(head)-1] == '"':
		r.Zone = head[len(ngxLimitConn) : len(head)-1]
		r.Error = ErrLimited
	case bytes.Equal(head, ngxForbidden):
		r.Error = ErrDenied
	case bytes.HasPrefix(msg, ngxOpen), bytes.HasPrefix(msg, []byte{'"'}):
		pathMsg = true
	default:
		return false
	}

	// The client field: nginx's own for the messages above; for a file path,
	// the one every readable client field agrees on.
	at := c
	a, ok := ngxClientAt(msg, c)
	if pathMsg {
		if !nginxPath(msg, r) {
			return false
		}
		for k, from := 0, c+len(ngxClient); ; k++ {
			n := bytes.Index(msg[from:], ngxClient)
			if n < 0 {
				break
			}
			if k == maxClientFields {
				return false
			}
			if b, ok2 := ngxClientAt(msg, from+n); ok2 {
				if !ok {
					a, ok, at = b, true, from+n
				} else if b != a {
					return false
				}
			}
			from += n + len(ngxClient)
		}
	}
	if !ok {
		return false
	}
	r.Peer = a
	nginxRequestFields(msg[at+len(ngxClient):], r)
	return true
}

// ngxClientAt reads ", client: ADDR" at msg[c:], followed by ", server: "
// or the end of the line.
func ngxClientAt(msg []byte, c int) (netip.Addr, bool) {
	s := msg[c+len(ngxClient):]
	end := bytes.IndexByte(s, ',')
	if end < 0 {
		end = len(s)
	} else if !bytes.HasPrefix(s[end:], ngxServer) {
		return netip.Addr{}, false
	}
	return parsePeer(s[:end])
}

// nginxPath reads the not-found messages, `open() "PATH" failed (2: No such
// file or directory)` and `"PATH" is not found (2: ...)`, taking the first
// reading of the path that leaves such an ending before a client field.
func nginxPath(msg []byte, r *Request) bool {
	var body, sep []byte
	switch {
	case bytes.HasPrefix(msg, ngxOpen):
		body, sep = msg[len(ngxOpen):], ngxOpenFailed
	default:
		body, sep = msg[1:], ngxIsNotFound
	}
	for from := 0; ; {
		k := bytes.Index(body[from:], sep)
		if k < 0 {
			return false
		}
		k += from
		tail := body[k+len(sep):]
		for _, errno := range [][]byte{ngxNoSuchFile, ngxNotDirectory} {
			if bytes.HasPrefix(tail, errno) && bytes.HasPrefix(tail[len(errno):], ngxClient) {
				r.Path, r.Error = body[:k], ErrNotFound
				return true
			}
		}
		from = k + 1
	}
}

// nginxRequestFields reads what follows the client address: the request,
// host and referrer, each ending at a quote that the next field or the end of
// the line follows.
func nginxRequestFields(s []byte, r *Request) {
	if i := bytes.Index(s, ngxRequest); i >= 0 {
		s = s[i+len(ngxRequest):]
		end := fieldEnd(s, ngxUpstream, ngxHost, ngxReferrer)
		if end < 0 {
			return
		}
		setRequest(s[:end], r)
		s = s[end+1:]
	}
	if bytes.HasPrefix(s, ngxUpstream) {
		s = s[len(ngxUpstream):]
		end := fieldEnd(s, ngxHost, ngxReferrer)
		if end < 0 {
			return
		}
		s = s[end+1:]
	}
	if bytes.HasPrefix(s, ngxHost) {
		s = s[len(ngxHost):]
		end := fieldEnd(s, ngxReferrer)
		if end < 0 {
			return
		}
		r.Host = s[:end]
		s = s[end+1:]
	}
	if bytes.HasPrefix(s, ngxReferrer) && len(s) > len(ngxReferrer) && s[len(s)-1] == '"' {
		r.Referer = s[len(ngxReferrer) : len(s)-1]
	}
}

// fieldEnd returns the index of the first quote in s that the end of s or
// one of nexts follows, or -1.
func fieldEnd(s []byte, nexts ...[]byte) int {
	for from := 0; from < len(s); {
		q := bytes.IndexByte(s[from:], '"')
		if q < 0 {
			return -1
		}
		q += from
		after := s[q+1:]
		if len(after) == 0 {
			return q
		}
		for _, n := range nexts {
			if bytes.HasPrefix(after, n) {
				return q
			}
		}
		from = q + 1
	}
	return -1
}

// Apache error-log messages.
var (
	apPid         = []byte("[pid ")
	apClient      = []byte("[client ")
	apRemote      = []byte("[remote ")
	apStatusEnd   = []byte(": [")
	apAuthFailure = []byte(`: authentication failure for "`)
	apNotFound    = []byte(` not found`)
	apDenied      = []byte("client denied by server configuration: ")
	apNoFile      = []byte("File does not exist: ")
	apReferer     = []byte(", referer: ")
	apQuoteColon  = []byte(`": `)
	apColonSpace  = []byte(": ")
)

// parseApacheError reads an Apache error-log line, 2.4's
//
//	[Sat Dec 06 16:21:43.123456 2026] [MODULE:LEVEL] [pid N:tid M] [(ERRNO)TEXT: ][client ADDR:PORT] MESSAGE[, referer: R]
//
// or 2.2's "[Sat Dec 06 16:21:43 2026] [LEVEL] [client ADDR] MESSAGE".
// Apache writes "[client ADDR:PORT]" or, for a connection it does not count
// as a client's (mod_proxy's backend connections, mod_wsgi's daemons),
// "[remote ADDR:PORT]": one or the other, holding the same address, the
// request's client (which mod_remoteip may have taken from a trusted
// proxy's header). The fields before it are Apache's own; the first address
// field ends them, and what follows is the message, which a module may fill
// with its client's text (mod_wsgi copies an application's output), so a
// second "[remote ...]" there is not read.
func (p *Parser) parseApacheError(line []byte, r *Request) bool {
	end := bytes.IndexByte(line, ']')
	if end < 0 {
		return false
	}
	t, ok := p.clock.apacheErrorTime(line[1:end])
	if !ok {
		return false
	}
	r.Time = t
	rest := line[end+1:]
	if len(rest) < 3 || rest[0] != ' ' || rest[1] != '[' {
		return false
	}
	end = bytes.IndexByte(rest, ']')
	if end < 0 || end > 40 {
		return false
	}
	v24 := bytes.IndexByte(rest[2:end], ':') >= 0
	rest = rest[end+1:]

	var addr []byte
	for addr == nil && len(rest) > 1 && rest[0] == ' ' {
		f := rest[1:]
		switch {
		case bytes.HasPrefix(f, apPid):
			end = bytes.IndexByte(f, ']')
		case bytes.HasPrefix(f, apClient), bytes.HasPrefix(f, apRemote):
			end = bytes.IndexByte(f, ']')
			if end > len(apClient) {
				addr = f[len(apClient):end]
			}
		case f[0] == '(':
			// An error status, "(13)Permission denied: ", written before
			// the address field; it is the system's text.
			end = bytes.Index(f, apStatusEnd)
			if end > 200 {
				end = -1
			}
		default:
			end = -1
		}
		if end <= 0 {
			return false
		}
		rest = f[end+1:]
	}
	if addr == nil || len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	// 2.4 writes the port, 2.2 does not; an IPv6 address is not bracketed,
	// so only the version tells "2001:db8::1:5" apart.
	if v24 {
		r.Peer, ok = parsePeerPort(addr)
	} else {
		r.Peer, ok = parsePeer(addr)
	}
	if !ok {
		return false
	}
	return apacheMessage(rest[1:], r)
}

// apacheMessage classifies the message of an Apache error line, after its
// optional "AHnnnnn: " code.
func apacheMessage(msg []byte, r *Request) bool {
	if len(msg) > 9 && msg[0] == 'A' && msg[1] == 'H' && msg[7] == ':' && msg[8] == ' ' {
		if _, ok := digits(msg[2:7]); ok {
			msg = msg[9:]
		}
	}
	body := msg
	if i := bytes.Index(msg, apReferer); i >= 0 {
		body, r.Referer = msg[:i], msg[i+len(apReferer):]
	}
	switch {
	case bytes.HasPrefix(body, []byte("user ")):
		// AH01617: `user U: authentication failure for "URI": REASON`
		// AH01618: `user U not found: URI`. A user name holds no colon.
		u := body[len("user "):]
		c := bytes.IndexByte(u, ':')
		if c <= 0 {
			return false
		}
		switch {
		case bytes.HasPrefix(u[c:], apAuthFailure):
			r.User = u[:c]
			s := u[c+len(apAuthFailure):]
			end := closeQuote(s, 0)
			if end < 0 || !bytes.HasPrefix(s[end:], apQuoteColon) {
				return false
			}
			r.URI = s[:end]
		case bytes.HasSuffix(u[:c], apNotFound) && bytes.HasPrefix(u[c:], apColonSpace):
			r.User = u[:c-len(apNotFound)]
			r.URI = u[c+2:]
		default:
			return false
		}
		if len(r.User) == 0 {
			return false
		}
		r.Error = ErrAuthFailure
	case bytes.HasPrefix(body, apDenied):
		r.Path, r.Error = body[len(apDenied):], ErrDenied
	case bytes.HasPrefix(body, apNoFile):
		r.Path, r.Error = body[len(apNoFile):], ErrNotFound
	default:
		return false
	}
	return true
}

// String names the kind as the pipeline's logs and tests write it.
func (k ErrorKind) String() string {
	switch k {
	case ErrNone:
		return "none"
	case ErrAuthFailure:
		return "auth-failure"
	case ErrNoAuth:
		return "no-auth"
	case ErrDenied:
		return "denied"
	case ErrLimited:
		return "limited"
	case ErrNotFound:
		return "not-found"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}
