package httplog

import (
	"bytes"
	"net/netip"
	"time"
)

// Options configures a Parser.
type Options struct {
	// Format is the operator's nginx log_format; nil auto-detects the
	// built-in shapes line by line (see the package doc).
	Format *Format
	// Trusted reports whether an address is one of the operator's trusted
	// proxies (load balancers, CDNs), whose forwarded fields are believed.
	// nil trusts none.
	Trusted func(netip.Addr) bool
	// Location is the zone of times written without one (nginx and Apache
	// error logs, HAProxy); nil means time.Local.
	Location *time.Location
}

// Parser reads the lines of one stream of web-server logs. It keeps a little
// state between lines (the last second and zone it parsed, scratch space for
// unescaped JSON strings), none of which changes what a line means. A Parser
// is not safe for concurrent use.
type Parser struct {
	format  *Format
	trusted func(netip.Addr) bool
	clock   clock
	// scratch holds the JSON strings that had to be unescaped; it is sized
	// to the line before use, so that appending never moves it.
	scratch []byte
	// spans are the values of the format's elements while matching one.
	spans []span
}

// New returns a parser with the given options.
func New(o Options) *Parser {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	p := &Parser{format: o.Format, trusted: o.Trusted, clock: clock{loc: loc}}
	if o.Format != nil {
		p.spans = make([]span, len(o.Format.elems))
	}
	return p
}

// Parse reads one line (without its newline) into r (overwriting all of it)
// and reports whether it is a web-server log line it understands. On false,
// r is left zero.
func (p *Parser) Parse(line []byte, r *Request) bool {
	*r = Request{}
	p.scratch = p.scratch[:0]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	var ok bool
	if p.format != nil {
		ok = p.parseFormat(line, r)
	} else {
		ok = p.detect(line, r)
	}
	if !ok {
		*r = Request{}
		return false
	}
	resolveClient(r, p.trusted)
	return true
}

// detect picks the shape of a line by its first bytes.
func (p *Parser) detect(line []byte, r *Request) bool {
	switch {
	case len(line) < 8:
		return false
	case line[0] == '{':
		return p.parseJSON(line, r)
	case line[0] == '[':
		return p.parseApacheError(line, r)
	case line[4] == '/' && line[7] == '/':
		return p.parseNginxError(line, r)
	}
	return p.parseAccess(line, r)
}

// parseAccess reads the access-log lines that begin with an address: CLF
// and its variants, Apache's vhost_combined, and HAProxy's httplog.
func (p *Parser) parseAccess(line []byte, r *Request) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp+1 >= len(line) {
		return false
	}
	if line[sp+1] == '[' {
		return p.parseHAProxy(line, sp, r)
	}
	if a, ok := parsePeer(line[:sp]); ok {
		r.Peer = a
		return p.parseCLF(line, sp+1, r)
	}
	// vhost_combined: "host:port ADDR - USER [...".
	vhost := line[:sp]
	c := bytes.LastIndexByte(vhost, ':')
	if c <= 0 || !isPort(vhost[c+1:]) {
		return false
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return false
	}
	a, ok := parsePeer(rest[:sp2])
	if !ok {
		return false
	}
	r.Peer = a
	if !p.parseCLF(line, sp+1+sp2+1, r) {
		return false
	}
	r.Host = vhost[:c]
	return true
}

// dash returns b, or nothing for the "-" that servers write for an empty
// value.
func dash(b []byte) []byte {
	if len(b) == 1 && b[0] == '-' {
		return nil
	}
	return b
}

// closeQuote returns the index of the first '"' at or after i that no
// backslash escapes (Apache writes \" and \\; nginx writes \x22 and \x5C, so
// a backslash always starts an escape), or -1.
func closeQuote(b []byte, i int) int {
	start := i
	for i <= len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		n := 0
		for k := j - 1; k >= start && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j
		}
		i = j + 1
	}
	return -1
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// maxMethod bounds a method; the longest registered one has 17 bytes.
const maxMethod = 32

func isMethod(b []byte) bool {
	if len(b) == 0 || len(b) > maxMethod {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// isProto accepts "HTTP/d" and "HTTP/d.d".
func isProto(b []byte) bool {
	if len(b) < 6 || string(b[:5]) != "HTTP/" || b[5] < '0' || b[5] > '9' {
		return false
	}
	switch len(b) {
	case 6:
		return true
	case 8:
		return b[6] == '.' && b[7] >= '0' && b[7] <= '9'
	}
	return false
}

// setRequest fills r.Method, r.URI and r.Proto from a request line "METHOD
// SP URI SP PROTO"; anything else (binary bytes, "-", HTTP/0.9's two parts,
// a URI with a space) leaves them empty and sets r.BadRequest.
func setRequest(line []byte, r *Request) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 > 0 {
		rest := line[sp1+1:]
		if sp2 := bytes.IndexByte(rest, ' '); sp2 > 0 {
			uri, proto := rest[:sp2], rest[sp2+1:]
			if isMethod(line[:sp1]) && isProto(proto) {
				r.Method, r.URI, r.Proto = line[:sp1], uri, proto
				return
			}
		}
	}
	r.BadRequest = true
}

// setRequestParts fills r from a request's three parts logged separately
// (JSON logs, nginx formats without $request), with the checks of
// setRequest. An empty proto is allowed when the log does not have one.
func setRequestParts(method, uri, proto []byte, protoLogged bool, r *Request) {
	if isMethod(method) && len(uri) > 0 && bytes.IndexByte(uri, ' ') < 0 && (isProto(proto) || !protoLogged && len(proto) == 0) {
		r.Method, r.URI, r.Proto = method, uri, proto
		return
	}
	r.BadRequest = true
}

// status reads a three-digit status; "-" is 0.
func status(b []byte) (int, bool) {
	if len(b) == 1 && b[0] == '-' {
		return 0, true
	}
	if len(b) != 3 {
		return 0, false
	}
	return digits(b)
}

// isCount accepts digits or "-", as a byte count.
func isCount(b []byte) bool {
	if len(b) == 1 && b[0] == '-' {
		return true
	}
	_, ok := digits(b)
	return ok && len(b) <= 20
}
