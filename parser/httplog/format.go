package httplog

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// varKind is what a log_format variable means to the parser.
type varKind uint8

const (
	kLiteral varKind = iota
	kOther           // any other variable: matched and ignored
	kRemoteAddr
	kForwarded
	kUser
	kTimeLocal
	kTimeISO
	kMsec
	kRequest
	kMethod
	kRequestURI
	kURI
	kArgs
	kProto
	kStatus
	kReferer
	kUserAgent
	kHost
	kHTTPHost
	kServerName
	kNumber // a number the parser does not use ($body_bytes_sent, $request_time, ...)
	kRun    // variables written without text between them
	nKinds
)

// class is what a variable's value may look like in a line.
type class uint8

const (
	cText      class = iota // anything but an unescaped quote (anything, with escape=none)
	cToken                  // no space, no quote
	cNumber                 // digits and dots, or "-"
	cStatus                 // three digits
	cTimeLocal              // "06/Dec/2026:16:21:43 +0000"
	cTimeISO                // "2026-12-06T16:21:43+00:00"
)

// widths of the fixed classes.
const (
	timeLocalLen = clfTimeLen
	timeISOLen   = 25
)

// elem is a literal or a variable of a compiled format.
type elem struct {
	kind   varKind
	cls    class
	lit    []byte // a literal's text
	name   string // a variable as written, for errors
	runURI bool   // a run that begins with $uri or $request_uri
}

// Format is a compiled nginx log_format string.
type Format struct {
	text       string // the format after nginx's quoting is undone
	elems      []elem
	escapeNone bool
	first      [nKinds]int // index of the first element of each kind, or -1
}

// String returns the format as nginx reads it (quotes undone, pieces
// joined).
func (f *Format) String() string { return f.text }

// variable maps an nginx variable name to its kind and class.
func variable(name string) (varKind, class) {
	switch name {
	case "remote_addr":
		return kRemoteAddr, cToken
	case "http_x_forwarded_for":
		return kForwarded, cText
	case "remote_user":
		return kUser, cText
	case "time_local":
		return kTimeLocal, cTimeLocal
	case "time_iso8601":
		return kTimeISO, cTimeISO
	case "msec":
		return kMsec, cNumber
	case "request":
		return kRequest, cText
	case "request_method":
		return kMethod, cToken
	case "request_uri":
		return kRequestURI, cText
	case "uri", "document_uri":
		return kURI, cText
	case "args", "query_string":
		return kArgs, cText
	case "server_protocol":
		return kProto, cToken
	case "status":
		return kStatus, cStatus
	case "http_referer":
		return kReferer, cText
	case "http_user_agent":
		return kUserAgent, cText
	case "host":
		return kHost, cText
	case "http_host":
		return kHTTPHost, cText
	case "server_name":
		return kServerName, cText
	case "body_bytes_sent", "bytes_sent", "request_length", "request_time", "remote_port", "server_port",
		"connection", "connection_requests", "pid":
		return kNumber, cNumber
	}
	return kOther, cText
}

// CompileNginx compiles an nginx log_format string as an operator pastes it
// into nginx.conf (the part after the format name; the quotes nginx needs may
// be left in or out; adjacent quoted pieces 'a' 'b' concatenated). Variables:
// $remote_addr, $http_x_forwarded_for, $remote_user, $time_local, $time_iso8601,
// $msec, $request, $request_method, $request_uri, $uri, $args, $query_string,
// $server_protocol, $status, $body_bytes_sent, $bytes_sent, $http_referer,
// $http_user_agent, $host, $http_host, $server_name, $request_time,
// $upstream_*, any other $name or ${name} (matched and ignored). A format
// without an address variable, or without $request/$request_method+uri, is an
// error saying what is missing. Literal text between variables must match.
//
// A leading "escape=default|json|none" is honoured; so is a whole pasted
// directive ("log_format NAME ...;"), or the name with the quoted pieces
// ("main '...'"). A text beginning with a single quote is
// read as nginx's quoted pieces; one beginning with a double quote only when
// every piece is quoted and the pieces stand on their own lines (or there is
// one), since `"$request" $status` is more likely the format itself.
//
// Because the client writes most values, a format is refused when
// $remote_addr or $http_x_forwarded_for could not be found reliably: when a
// variable that may hold spaces (a header, the request, the user) precedes
// either of them, or follows $http_x_forwarded_for, within the same quoted
// field (with escape=none, within the whole line, as nginx then writes the
// client's quotes as they came).
func CompileNginx(spec string) (*Format, error) {
	s := strings.TrimSpace(spec)
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	if rest, ok := strings.CutPrefix(s, "log_format"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n') {
		_, after := cutWord(strings.TrimSpace(rest))
		s = strings.TrimSpace(after)
	} else if name, after := cutWord(s); isName(name) && after != "" {
		// The format's name pasted with it: "main '$remote_addr ...'".
		if after = strings.TrimSpace(after); after[0] == '\'' || strings.HasPrefix(after, "escape=") {
			s = after
		}
	}
	f := &Format{}
	if rest, ok := strings.CutPrefix(s, "escape="); ok {
		mode, after := cutWord(rest)
		switch mode {
		case "default", "json":
		case "none":
			f.escapeNone = true
		default:
			return nil, fmt.Errorf("nginx log format: unknown escape=%s: nginx knows escape=default, escape=json and escape=none", mode)
		}
		s = strings.TrimSpace(after)
	}
	if s == "" {
		return nil, errors.New("nginx log format is empty: paste the part of the log_format directive after its name")
	}
	text, err := unquoteSpec(s)
	if err != nil {
		return nil, err
	}
	f.text = text
	if f.elems, err = tokenize(text); err != nil {
		return nil, err
	}
	for i := range f.first {
		f.first[i] = -1
	}
	for i, e := range f.elems {
		if f.first[e.kind] < 0 {
			f.first[e.kind] = i
		}
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// cutWord splits s at its first white space.
func cutWord(s string) (word, rest string) {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// unquoteSpec undoes nginx's quoting of the format's pieces, or returns s
// as it is (see CompileNginx).
func unquoteSpec(s string) (string, error) {
	if s[0] != '\'' && s[0] != '"' {
		return s, nil
	}
	var b strings.Builder
	pieces, allQuoted, ownLines := 0, true, false
	for i := 0; i < len(s); {
		sep := i
		for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) >= 0 {
			i++
		}
		if pieces > 0 && strings.IndexByte(s[sep:i], '\n') >= 0 {
			ownLines = true
		}
		if i == len(s) {
			break
		}
		pieces++
		q := s[i]
		if q != '\'' && q != '"' {
			allQuoted = false
			for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) < 0 {
				b.WriteByte(s[i])
				i++
			}
			continue
		}
		start := i
		i++
		closed := false
		for i < len(s) {
			c := s[i]
			if c == q {
				closed = true
				i++
				break
			}
			if c == '\\' && i+1 < len(s) {
				switch e := s[i+1]; e {
				case '"', '\'', '\\':
					b.WriteByte(e)
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte('\\')
					b.WriteByte(e)
				}
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		if !closed {
			if s[0] == '"' {
				return s, nil
			}
			return "", fmt.Errorf("nginx log format: the quote at offset %d is not closed", start)
		}
		if i < len(s) && strings.IndexByte(" \t\r\n", s[i]) < 0 {
			// nginx wants white space after a quoted piece.
			if s[0] == '"' {
				return s, nil
			}
			return "", fmt.Errorf("nginx log format: expected white space after the quoted piece at offset %d", start)
		}
	}
	if s[0] == '"' && (!allQuoted || pieces > 1 && !ownLines) {
		return s, nil
	}
	if b.Len() == 0 {
		return "", errors.New("nginx log format is empty: paste the part of the log_format directive after its name")
	}
	return b.String(), nil
}

// isName reports whether s could be a log_format's name rather than the
// start of a format.
func isName(s string) bool {
	if s == "" || strings.HasPrefix(s, "escape=") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// tokenize splits a format into literals and variables, and joins
// variables written without text between them into runs.
func tokenize(t string) ([]elem, error) {
	var elems []elem
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			elems = append(elems, elem{kind: kLiteral, lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(t); {
		if t[i] != '$' {
			lit = append(lit, t[i])
			i++
			continue
		}
		var name string
		at := i
		switch {
		case i+1 < len(t) && t[i+1] == '{':
			end := strings.IndexByte(t[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("nginx log format: the ${ at offset %d is not closed with }", i)
			}
			name = t[i+2 : i+2+end]
			for k := 0; k < len(name); k++ {
				if !isNameChar(name[k]) {
					return nil, fmt.Errorf("nginx log format: ${%s} at offset %d is not a variable name", name, i)
				}
			}
			i += 3 + end
		default:
			j := i + 1
			for j < len(t) && isNameChar(t[j]) {
				j++
			}
			name = t[i+1 : j]
			i = j
		}
		if name == "" {
			return nil, fmt.Errorf("nginx log format: the $ at offset %d is not followed by a variable name", at)
		}
		flush()
		name = strings.ToLower(name)
		kind, cls := variable(name)
		elems = append(elems, elem{kind: kind, cls: cls, name: "$" + name})
	}
	flush()
	if len(elems) == 0 {
		return nil, errors.New("nginx log format is empty")
	}

	// Join runs of adjacent variables.
	var out []elem
	for i := 0; i < len(elems); {
		j := i + 1
		for elems[i].kind != kLiteral && j < len(elems) && elems[j].kind != kLiteral {
			j++
		}
		if j-i == 1 {
			out = append(out, elems[i])
			i = j
			continue
		}
		names := make([]string, 0, j-i)
		for _, e := range elems[i:j] {
			names = append(names, e.name)
			switch e.kind {
			case kRemoteAddr, kForwarded, kStatus, kTimeLocal, kTimeISO, kMsec, kRequest, kMethod, kProto:
				return nil, fmt.Errorf("nginx log format: %s is written next to another variable with no text between them, so its value cannot be told apart; put a space or other text around it", e.name)
			}
		}
		out = append(out, elem{kind: kRun, cls: cText, name: strings.Join(names, ""),
			runURI: elems[i].kind == kURI || elems[i].kind == kRequestURI})
		i = j
	}
	return out, nil
}

// check reports what the parser needs that the format lacks, and the
// places where the client could move the address fields (see CompileNginx).
func (f *Format) check() error {
	if f.first[kRemoteAddr] < 0 {
		return errors.New("nginx log format has no $remote_addr: phalanx needs the connecting address in every line; add $remote_addr to the log_format")
	}
	hasURI := f.first[kRequestURI] >= 0 || f.first[kURI] >= 0
	for _, e := range f.elems {
		hasURI = hasURI || e.runURI
	}
	if f.first[kRequest] < 0 && (f.first[kMethod] < 0 || !hasURI) {
		return errors.New("nginx log format has no request: add $request, or $request_method with $request_uri")
	}
	var textBefore, fwdOpen string // the text variable earlier in the quoted field; $http_x_forwarded_for in it
	for _, e := range f.elems {
		if e.kind == kLiteral {
			if !f.escapeNone && bytes.IndexByte(e.lit, '"') >= 0 {
				textBefore, fwdOpen = "", ""
			}
			continue
		}
		switch {
		case e.kind == kRemoteAddr && textBefore != "":
			return fmt.Errorf("nginx log format: %s precedes $remote_addr in the same field, and the client could write text there that moves it; put $remote_addr first, or in its own quoted field", textBefore)
		case e.kind == kForwarded && textBefore != "":
			return fmt.Errorf("nginx log format: %s precedes $http_x_forwarded_for in the same field, and the client could write text there that moves it; put $http_x_forwarded_for in its own quoted field", textBefore)
		case e.cls == cText && fwdOpen != "":
			return fmt.Errorf("nginx log format: %s follows $http_x_forwarded_for in the same field, and the client could write text there that moves it; put $http_x_forwarded_for in its own quoted field", e.name)
		}
		if e.kind == kForwarded {
			fwdOpen = e.name
		}
		if e.cls == cText {
			textBefore = e.name
		}
	}
	return nil
}

// span is the value of an element in a line.
type span struct{ from, to int }

// Bounds on matching one line against a format.
const (
	// matchBudget bounds the steps of matching one line.
	matchBudget = 64
	// maxCandidates bounds the places tried for the end of one value.
	maxCandidates = 8
)

// match matches the format's elements from ei against line from pos,
// recording each variable's value in p.spans. A variable that may hold
// spaces and is not closed by a quote (the user in `$remote_user
// [$time_local]`) tries the places where the text after it occurs from the
// last to the first: the client's text comes first and nginx's own after
// it.
func (p *Parser) match(line []byte, ei, pos int, budget *int) bool {
	f := p.format
	if *budget--; *budget < 0 {
		return false
	}
	if ei == len(f.elems) {
		return pos == len(line)
	}
	e := &f.elems[ei]
	if e.kind == kLiteral {
		return bytes.HasPrefix(line[pos:], e.lit) && p.match(line, ei+1, pos+len(e.lit), budget)
	}
	if ei+1 == len(f.elems) {
		v := line[pos:]
		if !f.valueOK(e.cls, v) || e.cls == cText && !f.escapeNone && closeQuote(line, pos) >= 0 {
			return false
		}
		p.spans[ei] = span{pos, len(line)}
		return true
	}
	next := f.elems[ei+1].lit // tokenize put a literal after every variable
	switch e.cls {
	case cTimeLocal, cTimeISO:
		end := pos + timeLocalLen
		if e.cls == cTimeISO {
			end = pos + timeISOLen
		}
		if end > len(line) {
			return false
		}
		p.spans[ei] = span{pos, end}
		return p.match(line, ei+1, end, budget)
	case cToken, cNumber, cStatus:
		k := bytes.Index(line[pos:], next)
		if k < 0 || !f.valueOK(e.cls, line[pos:pos+k]) {
			return false
		}
		p.spans[ei] = span{pos, pos + k}
		return p.match(line, ei+1, pos+k, budget)
	}
	// Text.
	limit := len(line)
	if !f.escapeNone {
		if q := closeQuote(line, pos); q >= 0 {
			limit = q
		}
		if k := bytes.IndexByte(next, '"'); k >= 0 {
			// The value ends where the first unescaped quote is the
			// literal's.
			end := limit - k
			if limit == len(line) || end < pos || !bytes.HasPrefix(line[end:], next) {
				return false
			}
			p.spans[ei] = span{pos, end}
			return p.match(line, ei+1, end, budget)
		}
	}
	region := line[pos:limit]
	for tries := 0; tries < maxCandidates; tries++ {
		k := bytes.LastIndex(region, next)
		if k < 0 {
			return false
		}
		p.spans[ei] = span{pos, pos + k}
		if p.match(line, ei+1, pos+k, budget) {
			return true
		}
		if *budget <= 0 {
			return false
		}
		region = region[:k+len(next)-1]
	}
	return false
}

// valueOK checks a value against its class.
func (f *Format) valueOK(c class, v []byte) bool {
	switch c {
	case cToken:
		return len(v) > 0 && bytes.IndexByte(v, ' ') < 0 && bytes.IndexByte(v, '"') < 0
	case cNumber:
		if len(v) == 1 && v[0] == '-' {
			return true
		}
		for _, b := range v {
			if (b < '0' || b > '9') && b != '.' {
				return false
			}
		}
		return len(v) > 0
	case cStatus:
		_, ok := digits(v)
		return ok && len(v) == 3
	case cTimeLocal:
		return len(v) == timeLocalLen
	case cTimeISO:
		return len(v) == timeISOLen
	}
	return true
}

// value returns the value of the first variable of kind k, and whether the
// format has one.
func (p *Parser) value(line []byte, k varKind) ([]byte, bool) {
	i := p.format.first[k]
	if i < 0 {
		return nil, false
	}
	s := p.spans[i]
	return line[s.from:s.to], true
}

// parseFormat reads a line of the operator's format.
func (p *Parser) parseFormat(line []byte, r *Request) bool {
	budget := matchBudget
	if !p.match(line, 0, 0, &budget) {
		return false
	}
	addr, _ := p.value(line, kRemoteAddr)
	var ok bool
	if r.Peer, ok = parsePeer(addr); !ok {
		return false
	}
	if v, ok := p.value(line, kForwarded); ok {
		r.Forwarded = dash(v)
	}
	if v, ok := p.value(line, kUser); ok {
		r.User = dash(v)
	}
	if v, ok := p.value(line, kReferer); ok {
		r.Referer = dash(v)
	}
	if v, ok := p.value(line, kUserAgent); ok {
		r.UserAgent = dash(v)
	}
	for _, k := range [...]varKind{kHost, kHTTPHost, kServerName} {
		if v, ok := p.value(line, k); ok && len(dash(v)) > 0 {
			r.Host = v
			break
		}
	}
	if v, ok := p.value(line, kTimeLocal); ok {
		r.Time, _ = p.clock.clfTime(v)
	} else if v, ok := p.value(line, kTimeISO); ok {
		r.Time, _ = p.clock.isoTime(v)
	} else if v, ok := p.value(line, kMsec); ok {
		r.Time, _ = unixTime(v)
	}
	if v, ok := p.value(line, kStatus); ok {
		r.Status, _ = digits(v)
	}
	if req, ok := p.value(line, kRequest); ok {
		if len(dash(req)) == 0 {
			r.NoRequest = true
		} else {
			setRequest(req, r)
		}
		return true
	}
	method, _ := p.value(line, kMethod)
	proto, hasProto := p.value(line, kProto)
	setRequestParts(dash(method), dash(p.uri(line)), proto, hasProto, r)
	return true
}

// uri returns the request's target: $request_uri, a run that begins with
// $uri or $request_uri ($uri$is_args$args), or $uri with "?$args" when the
// format writes them so.
func (p *Parser) uri(line []byte) []byte {
	if v, ok := p.value(line, kRequestURI); ok {
		return v
	}
	f := p.format
	for i, e := range f.elems {
		if e.runURI {
			s := p.spans[i]
			return line[s.from:s.to]
		}
	}
	i := f.first[kURI]
	if i < 0 {
		return nil
	}
	s := p.spans[i]
	if i+2 < len(f.elems) && string(f.elems[i+1].lit) == "?" && f.elems[i+2].kind == kArgs {
		if a := p.spans[i+2]; len(dash(line[a.from:a.to])) > 0 {
			return line[s.from:a.to]
		}
	}
	return line[s.from:s.to]
}
