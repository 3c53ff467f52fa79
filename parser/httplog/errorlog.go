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
	ngxHandshake    = []byte("SSL_do_handshake() failed (SSL: ")
	ngxHandshaking  = []byte(") while SSL handshaking")
)

// notTLSReasons are the OpenSSL reasons of a handshake that failed on
// bytes that are not a TLS record at all (garbage, another protocol, plain
// HTTP sent to a TLS port), as opposed to a TLS client the server could not
// agree with (no shared cipher or version, a certificate the client
// refused), which honest old clients cause.
var notTLSReasons = [][]byte{
	[]byte("packet length too long"),
	[]byte("encrypted length too long"),
	[]byte("length too short"),
	[]byte("wrong version number"),
	[]byte("http request"),
	[]byte("https proxy request"),
}

// parseNginxError reads an nginx error-log line:
//
//	2026/12/06 16:21:43 [error] 1234#1234: *5 MESSAGE, client: ADDR, server: NAME[, request: "REQ"][, upstream: "U"][, host: "H"][, referrer: "R"]
//
// nginx does not escape what it writes here, and the client controls text
// on both sides of ", client: ADDR": the user name and the file path before
// it, the request, host and referrer after it. A user name cannot hold the
// colon of ", client: " (Basic authentication ends it at the first colon),
// so for the authentication, limit and rule messages the first such field is
// nginx's own; so it is for a failed TLS handshake, whose text is OpenSSL's. A file path can hold anything, so for the not-found messages
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
	case bytes.HasPrefix(head, ngxHandshake) && bytes.HasSuffix(head, ngxHandshaking):
		// "SSL_do_handshake() failed (SSL: error:1408F0C6:SSL
		// routines:ssl3_get_record:packet length too long) while SSL
		// handshaking": OpenSSL's text, the reason after its last colon.
		errs := head[len(ngxHandshake) : len(head)-len(ngxHandshaking)]
		if !notTLS(errs[bytes.LastIndexByte(errs, ':')+1:]) {
			return false
		}
		r.Error = ErrBadRequest
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

func notTLS(reason []byte) bool {
	for _, n := range notTLSReasons {
		if bytes.Equal(reason, n) {
			return true
		}
	}
	return false
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
			if bytes.HasPrefix(tail, errno) && bytes.HasPrefix(skipWhile(tail[len(errno):]), ngxClient) {
				r.Path, r.Error = body[:k], ErrNotFound
				return true
			}
		}
		from = k + 1
	}
}

// ngxWhile starts the context nginx adds to some messages ("while sending
// to client", "while reading response header from upstream").
var ngxWhile = []byte(" while ")

// maxWhile bounds the context skipped.
const maxWhile = 64

// skipWhile returns s after nginx's " while CONTEXT" (lowercase words), or s
// unchanged when it does not start with one.
func skipWhile(s []byte) []byte {
	if !bytes.HasPrefix(s, ngxWhile) {
		return s
	}
	j := len(ngxWhile)
	for j < len(s) && j < maxWhile && (s[j] >= 'a' && s[j] <= 'z' || s[j] == ' ') {
		j++
	}
	return s[j:]
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
	apPid              = []byte("[pid ")
	apClient           = []byte("[client ")
	apRemote           = []byte("[remote ")
	apStatusEnd        = []byte(": [")
	apReferer          = []byte(", referer: ")
	apDigest           = []byte("Digest: ")
	apUser             = []byte("user ")
	apAuthFailure      = []byte(`: authentication failure for "`)
	apAuthzFailure     = []byte(`: authorization failure for "`)
	apPasswordMismatch = []byte(": password mismatch: ")
	apInRealm          = []byte("' in realm `")
	apRealmNotFound    = []byte("' not found")
	apNotFound         = []byte(` not found`)
	apQuoteColon       = []byte(`":`)
	apColonSpace       = []byte(": ")
	apDenied           = []byte("client denied by server configuration: ")
	apNoFile           = []byte("File does not exist: ")
	apNoScript         = []byte("script not found or unable to stat: ")
	apScriptQuote      = []byte("script '")
	apScriptEnd        = []byte("' not found or unable to stat")
	apWrongScheme      = []byte("client used wrong authentication scheme: ")
	apAuthzOf          = []byte("Authorization of user ")
	apToAccess         = []byte(" to access ")
	apAuthzFailed      = []byte(" failed, reason: ")
	apModSecurity      = []byte("ModSecurity: ")
	apModSecDenied     = []byte("Access denied with code ")
	apModSecURI        = []byte(`[uri "`)
	apBash             = []byte("bash: ")
	apBashWarning      = []byte("warning: ")
	apBashIgnoring     = []byte(": ignoring function definition attempt")
	apBashImporting    = []byte("error importing function definition for `")
	apInvalidNonce     = []byte("invalid nonce ")
	apTimeTravel       = []byte(" received - user attempted time travel")
	apNonceLength      = []byte(" received - length is not ")
)

// apDigestFailures start the messages of mod_auth_digest about a response
// no honest client sends (a qop, realm or algorithm the server never
// offered). A nonce that fails its hash is not one of them: every browser
// holding a nonce from before a restart sends one.
var apDigestFailures = [][]byte{
	[]byte("invalid qop `"),
	[]byte("realm mismatch - got `"),
	[]byte("unknown algorithm `"),
}

// apBadRequests start the messages of a request line Apache could not read
// (Invalid URI/method in request, AH00565, AH00566, the request line
// checks of HttpProtocolOptions).
var apBadRequests = [][]byte{
	[]byte("Invalid URI in request "),
	[]byte("Invalid method in request "),
	[]byte("request failed: URI too long"),
	[]byte("request failed: client's request-line exceeds LimitRequestLine"),
	[]byte("request failed: erroneous characters after protocol string"),
	[]byte("request failed: invalid characters in URI"),
	[]byte("request failed: malformed request line"),
	[]byte("HTTP Request Line; "),
}

// apLevels are the levels of Apache's level field.
var apLevels = [][]byte{
	[]byte("emerg"), []byte("alert"), []byte("crit"), []byte("error"), []byte("warn"), []byte("notice"),
	[]byte("info"), []byte("debug"), []byte("trace1"), []byte("trace2"), []byte("trace3"), []byte("trace4"),
	[]byte("trace5"), []byte("trace6"), []byte("trace7"), []byte("trace8"),
}

// parseApacheError reads an Apache error-log line, 2.4's
//
//	[Sat Dec 06 16:21:43.123456 2026] [MODULE:LEVEL] [pid N:tid M] [(ERRNO)TEXT: ][client ADDR:PORT] MESSAGE[, referer: R]
//
// or 2.2's "[Sat Dec 06 16:21:43 2026] [LEVEL] [client ADDR] MESSAGE".
// With "ErrorLog syslog" the time is syslog's, and the message syslog
// carries starts at the level field ("[MODULE:LEVEL] [pid N] [client
// ...] ..."); it is read the same way, its time left zero.
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
	rest := line
	if t, ok := p.clock.apacheErrorTime(line[1:end]); ok {
		r.Time = t
		rest = line[end+1:]
		if len(rest) < 3 || rest[0] != ' ' || rest[1] != '[' {
			return false
		}
		rest = rest[1:]
		end = bytes.IndexByte(rest, ']')
		if end < 0 || end > 40 {
			return false
		}
	} else if end > 40 || !isApacheLevel(line[1:end]) {
		// No time: then the line must start with the level field.
		return false
	}
	v24 := bytes.IndexByte(rest[1:end], ':') >= 0
	rest = rest[end+1:]

	var addr []byte
	for addr == nil && len(rest) > 1 && rest[0] == ' ' {
		f := rest[1:]
		switch {
		case bytes.HasPrefix(f, apPid):
			end = bytes.IndexByte(f, ']')
		case bytes.HasPrefix(f, apClient), bytes.HasPrefix(f, apRemote):
			// "[client [2001:db8::1]:5678]" brackets an address too.
			from := len(apClient)
			if from < len(f) && f[from] == '[' {
				if k := bytes.IndexByte(f[from:], ']'); k > 0 {
					from += k + 1
				}
			}
			if end = bytes.IndexByte(f[from:], ']'); end >= 0 {
				end += from
			}
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
	// so only the version tells "2001:db8::1:5" apart. A 2.2-style line
	// with a port (a custom ErrorLogFormat) is read when that is not
	// ambiguous.
	var ok bool
	if v24 {
		r.Peer, ok = parsePeerPort(addr)
	} else if r.Peer, ok = parsePeer(addr); !ok {
		r.Peer, ok = parsePeerPort(addr)
	}
	if !ok {
		return false
	}
	return apacheMessage(rest[1:], r)
}

// isApacheLevel reports whether b is the inside of a level field: "LEVEL"
// (2.2) or "MODULE:LEVEL" (2.4, MODULE possibly empty).
func isApacheLevel(b []byte) bool {
	if c := bytes.IndexByte(b, ':'); c >= 0 {
		for _, ch := range b[:c] {
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '.') {
				return false
			}
		}
		b = b[c+1:]
	}
	for _, l := range apLevels {
		if bytes.Equal(b, l) {
			return true
		}
	}
	return false
}

// apacheMessage classifies the message of an Apache error line, after its
// optional "AHnnnnn: " code. The address has been read; nothing in the
// message changes whom the line blames, only what it says.
func apacheMessage(msg []byte, r *Request) bool {
	if bytes.HasPrefix(msg, apClient) {
		// ModSecurity 2 writes its own "[client ADDR] " before its
		// message: the same address again.
		end := bytes.IndexByte(msg, ']')
		if end < 0 || !samePeer(msg[len(apClient):end], r.Peer) || !bytes.HasPrefix(msg[end+1:], []byte(" ModSecurity: ")) {
			return false
		}
		msg = msg[end+2:]
	}
	if len(msg) > 9 && msg[0] == 'A' && msg[1] == 'H' && msg[7] == ':' && msg[8] == ' ' {
		if _, ok := digits(msg[2:7]); ok {
			msg = msg[9:]
		}
	}
	body := msg
	if i := bytes.Index(msg, apReferer); i >= 0 {
		body, r.Referer = msg[:i], msg[i+len(apReferer):]
	}
	// 2.2's mod_auth_digest starts its messages so; 2.4's has a code.
	body = bytes.TrimPrefix(body, apDigest)
	switch {
	case bytes.HasPrefix(body, apUser):
		return apacheUser(body[len(apUser):], r)
	case bytes.HasPrefix(body, apDenied):
		r.Path, r.Error = body[len(apDenied):], ErrDenied
	case bytes.HasPrefix(body, apNoFile):
		r.Path, r.Error = body[len(apNoFile):], ErrNotFound
	case bytes.HasPrefix(body, apNoScript):
		// mod_cgi (AH02811 in 2.4): a CGI script that is not there.
		r.Path, r.Error = body[len(apNoScript):], ErrNotFound
	case len(body) > len(apScriptQuote)+len(apScriptEnd) && bytes.HasPrefix(body, apScriptQuote) && bytes.HasSuffix(body, apScriptEnd):
		// mod_php, mod_fcgid: "script 'PATH' not found or unable to stat".
		r.Path, r.Error = body[len(apScriptQuote):len(body)-len(apScriptEnd)], ErrNotFound
	case bytes.HasPrefix(body, apWrongScheme):
		// AH01614: credentials of another scheme than the one asked for.
		r.URI, r.Error = body[len(apWrongScheme):], ErrAuthFailure
	case bytes.HasPrefix(body, apAuthzOf):
		// mod_authz_owner (AH01637): "Authorization of user U to access
		// URI failed, reason: ...": a user who logged in, refused.
		b := body[len(apAuthzOf):]
		k, f := bytes.Index(b, apToAccess), bytes.LastIndex(b, apAuthzFailed)
		if k < 0 || f < k+len(apToAccess) {
			return false
		}
		r.User, r.URI, r.Error = b[:k], b[k+len(apToAccess):f], ErrDenied
	case hasAnyPrefix(body, apDigestFailures) || digestNonceFailure(body):
		r.Error = ErrAuthFailure
	case hasAnyPrefix(body, apBadRequests):
		r.Error = ErrBadRequest
	case bashFunctionImport(body):
		r.Error = ErrFunctionImport
	case bytes.HasPrefix(body, apModSecurity) && bytes.Contains(body, apModSecDenied):
		// A ModSecurity rule refused the request (its warnings, which
		// refuse nothing, are not read). Its [uri "..."] field escapes
		// quotes.
		r.Error = ErrDenied
		if i := bytes.Index(body, apModSecURI); i >= 0 {
			u := body[i+len(apModSecURI):]
			if end := closeQuote(u, 0); end > 0 {
				r.URI = u[:end]
			}
		}
	default:
		return false
	}
	return true
}

// apacheUser reads the messages that start with "user " (after 2.2's
// "Digest: "), u being the rest:
//
//	U: authentication failure for "URI": REASON   AH01617 (basic): ErrAuthFailure
//	U not found: URI, U not found                  AH01618, 2.2: ErrAuthFailure
//	U: password mismatch: URI                      AH01792 (digest): ErrAuthFailure
//	`U' in realm `R' not found: URI                AH01790 (digest): ErrAuthFailure
//	U: authorization failure for "URI": REASON    AH01631 (logged in, refused): ErrDenied
//
// A basic user name holds no colon (the credentials end it at their first);
// a digest one may, and may then read as another of these shapes, which
// changes only what its own line says. An empty name is a client that sent
// empty credentials. Other messages about a user (mod_auth_digest's
// "nonce expired - sending new nonce", which browsers cause) are not read.
func apacheUser(u []byte, r *Request) bool {
	if len(u) > 0 && u[0] == '`' {
		k := bytes.Index(u, apInRealm)
		if k < 0 {
			return false
		}
		rest := u[k+len(apInRealm):]
		j := bytes.Index(rest, apRealmNotFound)
		if j < 0 {
			return false
		}
		switch tail := rest[j+len(apRealmNotFound):]; {
		case len(tail) == 0:
		case bytes.HasPrefix(tail, apColonSpace):
			r.URI = tail[len(apColonSpace):]
		default:
			return false
		}
		r.User, r.Error = u[1:k], ErrAuthFailure
		return true
	}
	c := bytes.IndexByte(u, ':')
	if c < 0 {
		if !bytes.HasSuffix(u, apNotFound) {
			return false
		}
		r.User, r.Error = u[:len(u)-len(apNotFound)], ErrAuthFailure
		return true
	}
	switch {
	case bytes.HasPrefix(u[c:], apAuthFailure), bytes.HasPrefix(u[c:], apAuthzFailure):
		s := u[c+len(apAuthFailure):]
		r.Error = ErrAuthFailure
		if bytes.HasPrefix(u[c:], apAuthzFailure) {
			s, r.Error = u[c+len(apAuthzFailure):], ErrDenied
		}
		end := closeQuote(s, 0)
		if end < 0 || !bytes.HasPrefix(s[end:], apQuoteColon) {
			return false
		}
		r.URI = s[:end]
	case bytes.HasPrefix(u[c:], apPasswordMismatch):
		r.URI, r.Error = u[c+len(apPasswordMismatch):], ErrAuthFailure
	case bytes.HasSuffix(u[:c], apNotFound) && bytes.HasPrefix(u[c:], apColonSpace):
		r.User, r.URI, r.Error = u[:c-len(apNotFound)], u[c+len(apColonSpace):], ErrAuthFailure
		return true
	default:
		return false
	}
	r.User = u[:c]
	return true
}

// digestNonceFailure reads mod_auth_digest's "invalid nonce N received -
// user attempted time travel" and "... - length is not N": nonces no
// server issued.
func digestNonceFailure(b []byte) bool {
	if !bytes.HasPrefix(b, apInvalidNonce) {
		return false
	}
	return bytes.HasSuffix(b, apTimeTravel) || bytes.Contains(b, apNonceLength)
}

// bashFunctionImport reads what a CGI script's bash writes to the error
// log (mod_cgi's AH01215) when a request header it finds in its
// environment holds a function definition: "/bin/bash: warning: HTTP_X:
// ignoring function definition attempt" (a patched bash) or "/bin/bash:
// error importing function definition for `HTTP_X'".
func bashFunctionImport(b []byte) bool {
	i := bytes.Index(b, apBash)
	if i < 0 {
		return false
	}
	if prog := b[:i]; len(prog) > 0 && (prog[0] != '/' || prog[len(prog)-1] != '/' || bytes.IndexByte(prog, ' ') >= 0) {
		return false
	}
	rest := b[i+len(apBash):]
	return bytes.HasPrefix(rest, apBashWarning) && bytes.HasSuffix(rest, apBashIgnoring) ||
		bytes.HasPrefix(rest, apBashImporting)
}

// samePeer reports whether an address field (with or without a port)
// names peer.
func samePeer(b []byte, peer netip.Addr) bool {
	if a, ok := parsePeer(b); ok && a == peer {
		return true
	}
	a, ok := parsePeerPort(b)
	return ok && a == peer
}

func hasAnyPrefix(b []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
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
	case ErrBadRequest:
		return "bad-request"
	case ErrFunctionImport:
		return "function-import"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}
