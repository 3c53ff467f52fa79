package httplog

import "bytes"

// maxForwardedLines bounds the X-Forwarded-For header lines read from a
// Caddy line; more make the header unreadable.
const maxForwardedLines = 8

// jstr is a JSON string value as found: raw, with a note of escapes.
type jstr struct {
	raw  []byte
	esc  bool
	seen bool
}

func (s *jsonScan) strValue(into *jstr) {
	if s.peek() != '"' {
		s.skip() // a value of the wrong type counts as missing
		return
	}
	into.raw, into.esc = s.str()
	into.seen = true
}

// jsonFields are the fields of Caddy's and Traefik's access logs, as found.
type jsonFields struct {
	// Caddy: top level.
	ts     []byte // number, or a string for the other time formats
	tsStr  jstr
	logger jstr
	status []byte
	userID jstr
	// Caddy: "request".
	request                    bool
	remoteIP, remoteAddr       jstr
	clientIP                   jstr
	method, uri, proto, host   jstr
	userAgent, referer         jstr
	xff                        [maxForwardedLines]jstr
	nxff                       int
	xffSeen, xffBad            bool
	duplicate                  bool
	traefik                    bool
	clientAddr, clientHost     jstr
	clientUser                 jstr
	reqMethod, reqPath, reqPro jstr
	reqHost, reqAddr           jstr
	downStatus, originStatus   []byte
	startUTC, startLocal, time jstr
	tUA, tReferer, tXFF        jstr
}

// once reads a string value into a field whose duplicate would change whom
// the line blames: a second occurrence makes the line unreadable.
func (s *jsonScan) once(into *jstr, f *jsonFields) {
	if into.seen {
		f.duplicate = true
	}
	s.strValue(into)
}

// numValue reads a number, or skips a value of another type.
func (s *jsonScan) numValue() []byte {
	c := s.peek()
	if c == '-' || c >= '0' && c <= '9' {
		return s.num()
	}
	s.skip()
	return nil
}

// parseJSON reads Caddy's and Traefik's JSON access logs, told apart by
// their fields (Caddy's "request" object, Traefik's ClientAddr/ClientHost).
//
// The client writes only string values inside these objects (header
// values, the URI), which the servers' encoders escape, so a strict scanner
// sees the structure the server wrote. A later duplicate of any other key
// replaces the earlier value; a duplicate of a field that names an address
// (remote_ip, remote_addr, client_ip, ClientAddr, ClientHost, a forwarded
// header) makes the line unreadable instead, so that no order of keys can
// choose whom a line blames.
func (p *Parser) parseJSON(line []byte, r *Request) bool {
	if cap(p.scratch) < len(line) {
		p.scratch = make([]byte, 0, len(line))
	}
	s := jsonScan{b: line}
	var f jsonFields
	if !s.open('{') {
		return false
	}
	n := 0
	for {
		key, ok := p.key(&s, &n)
		if !ok {
			break // the end, or bad input (s.bad)
		}
		p.jsonTop(&s, key, &f)
		if s.bad {
			return false
		}
	}
	if s.bad || f.duplicate {
		return false
	}
	if s.ws(); s.i != len(line) {
		return false
	}
	caddy := f.remoteIP.seen || f.remoteAddr.seen
	switch {
	case caddy && f.traefik:
		return false
	case caddy:
		if l := p.str(f.logger); f.logger.seen && !bytes.HasPrefix(l, []byte("http.log.access")) {
			// Caddy's error log (http.log.error) repeats the request of a
			// failed one; its access log has it already.
			return false
		}
		return p.caddy(&f, r)
	case f.traefik:
		return p.traefik(&f, r)
	}
	return false
}

// jsonTop reads one top-level member.
func (p *Parser) jsonTop(s *jsonScan, key []byte, f *jsonFields) {
	switch string(key) {
	case "ts":
		if s.peek() == '"' {
			s.strValue(&f.tsStr)
		} else {
			f.ts = s.numValue()
		}
	case "logger":
		s.strValue(&f.logger)
	case "status":
		f.status = s.numValue()
	case "user_id":
		s.strValue(&f.userID)
	case "request":
		if !s.open('{') {
			s.skip()
			return
		}
		f.request = true
		p.caddyRequest(s, f)
	case "ClientAddr":
		f.traefik = true
		s.once(&f.clientAddr, f)
	case "ClientHost":
		f.traefik = true
		s.once(&f.clientHost, f)
	case "ClientUsername":
		s.strValue(&f.clientUser)
	case "RequestMethod":
		s.strValue(&f.reqMethod)
	case "RequestPath":
		s.strValue(&f.reqPath)
	case "RequestProtocol":
		s.strValue(&f.reqPro)
	case "RequestHost":
		s.strValue(&f.reqHost)
	case "RequestAddr":
		s.strValue(&f.reqAddr)
	case "DownstreamStatus":
		f.downStatus = s.numValue()
	case "OriginStatus":
		f.originStatus = s.numValue()
	case "StartUTC":
		s.strValue(&f.startUTC)
	case "StartLocal":
		s.strValue(&f.startLocal)
	case "time":
		s.strValue(&f.time)
	default:
		// Traefik logs the request headers it is told to keep as
		// "request_<Name>".
		const prefix = "request_"
		if len(key) > len(prefix) && string(key[:len(prefix)]) == prefix {
			switch h := key[len(prefix):]; {
			case bytes.EqualFold(h, []byte("User-Agent")):
				s.strValue(&f.tUA)
				return
			case bytes.EqualFold(h, []byte("Referer")):
				s.strValue(&f.tReferer)
				return
			case bytes.EqualFold(h, []byte("X-Forwarded-For")):
				s.once(&f.tXFF, f)
				return
			}
		}
		s.skip()
	}
}

// key reads the key of an object's next member, unescaped; false at the
// object's end or on bad input (then s.bad).
func (p *Parser) key(s *jsonScan, n *int) ([]byte, bool) {
	key, esc, ok := s.member(n)
	if ok && esc {
		if key, ok = p.unescape(key, esc); !ok {
			s.fail()
		}
	}
	return key, ok
}

// caddyRequest reads Caddy's "request" object, whose '{' has been read.
func (p *Parser) caddyRequest(s *jsonScan, f *jsonFields) {
	n := 0
	for {
		key, ok := p.key(s, &n)
		if !ok {
			return
		}
		switch string(key) {
		case "remote_ip":
			s.once(&f.remoteIP, f)
		case "remote_addr": // Caddy before 2.5: "ADDR:PORT"
			s.once(&f.remoteAddr, f)
		case "client_ip":
			s.once(&f.clientIP, f)
		case "method":
			s.strValue(&f.method)
		case "uri":
			s.strValue(&f.uri)
		case "proto":
			s.strValue(&f.proto)
		case "host":
			s.strValue(&f.host)
		case "headers":
			if !s.open('{') {
				s.skip()
				break
			}
			p.caddyHeaders(s, f)
		default:
			s.skip()
		}
		if s.bad {
			return
		}
	}
}

// caddyHeaders reads the request's headers, {"Name": ["value", ...], ...},
// whose '{' has been read. Of User-Agent and Referer the first value counts;
// X-Forwarded-For's lines are all kept, in order.
func (p *Parser) caddyHeaders(s *jsonScan, f *jsonFields) {
	n := 0
	for {
		key, ok := p.key(s, &n)
		if !ok {
			return
		}
		var into *jstr
		xff := false
		switch {
		case bytes.EqualFold(key, []byte("User-Agent")):
			into = &f.userAgent
		case bytes.EqualFold(key, []byte("Referer")):
			into = &f.referer
		case bytes.EqualFold(key, []byte("X-Forwarded-For")):
			if f.xffSeen {
				f.duplicate = true
			}
			f.xffSeen, xff = true, true
		}
		if (into == nil && !xff) || !s.open('[') {
			s.skip()
			if s.bad {
				return
			}
			continue
		}
		m := 0
		for s.element(&m) {
			if s.peek() != '"' {
				s.skip()
				if xff {
					f.xffBad = true
				}
				continue
			}
			raw, esc := s.str()
			switch {
			case xff && f.nxff < len(f.xff):
				f.xff[f.nxff] = jstr{raw: raw, esc: esc, seen: true}
				f.nxff++
			case xff:
				f.xffBad = true
			case m == 1:
				*into = jstr{raw: raw, esc: esc, seen: true}
			}
		}
		if s.bad {
			return
		}
	}
}

// str returns a found string unescaped, "-" as empty.
func (p *Parser) str(v jstr) []byte {
	if !v.seen {
		return nil
	}
	b, ok := p.unescape(v.raw, v.esc)
	if !ok {
		return nil
	}
	return dash(b)
}

// jsonStatus reads a status number.
func jsonStatus(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 3 {
		return 0, false
	}
	return digits(b)
}

// caddy fills r from Caddy's fields. remote_ip is the peer; the forwarded
// evidence is the logged X-Forwarded-For header, walked by phalanx's own
// rule, or else client_ip (what Caddy's trusted_proxies made of the
// request's headers) when it differs from the peer. Either is believed only
// when the peer is trusted here.
func (p *Parser) caddy(f *jsonFields, r *Request) bool {
	var ok bool
	if f.remoteIP.seen {
		r.Peer, ok = parsePeer(p.str(f.remoteIP))
	} else {
		r.Peer, ok = parsePeerPort(p.str(f.remoteAddr))
	}
	if !ok {
		return false
	}
	switch {
	case f.xffBad:
		// Unreadable: Forwarded stays empty, so a trusted peer blames nobody.
	case f.nxff > 0:
		r.Forwarded = p.joinForwarded(f.xff[:f.nxff])
	case f.clientIP.seen:
		ci := p.str(f.clientIP)
		if a, ok := parsePeer(ci); !ok || a != r.Peer {
			r.Forwarded = ci
		}
	}
	setRequestParts(p.str(f.method), p.str(f.uri), p.str(f.proto), true, r)
	r.Host, r.UserAgent, r.Referer, r.User = p.str(f.host), p.str(f.userAgent), p.str(f.referer), p.str(f.userID)
	r.Status, _ = jsonStatus(f.status)
	if f.ts != nil {
		r.Time, _ = unixTime(f.ts)
	} else if f.tsStr.seen {
		r.Time, _ = p.clock.isoTime(p.str(f.tsStr))
	}
	return true
}

// joinForwarded joins the lines of a header into one list in the scratch
// space ("a, b" and "c" make "a, b, c"); nil if it does not fit.
func (p *Parser) joinForwarded(lines []jstr) []byte {
	if len(lines) == 1 {
		return p.str(lines[0])
	}
	start := len(p.scratch)
	for i, l := range lines {
		if i > 0 {
			if cap(p.scratch)-len(p.scratch) < 2 {
				return nil
			}
			p.scratch = append(p.scratch, ',', ' ')
		}
		if !l.esc {
			if cap(p.scratch)-len(p.scratch) < len(l.raw) {
				return nil
			}
			p.scratch = append(p.scratch, l.raw...)
		} else if _, ok := p.unescape(l.raw, true); !ok {
			return nil
		}
	}
	return p.scratch[start:]
}

// traefik fills r from Traefik's fields. ClientAddr ("ADDR:PORT") is the
// peer. Traefik sets ClientHost to the request's X-Forwarded-For header
// when there is one (after its own forwardedHeaders.trustedIPs have let it
// through), so ClientHost, or the logged header itself, is forwarded
// evidence. Without ClientAddr (dropped by the operator's field settings),
// a ClientHost that is a single address is the peer, as in Traefik's CLF.
func (p *Parser) traefik(f *jsonFields, r *Request) bool {
	var ok bool
	host := p.str(f.clientHost)
	if f.clientAddr.seen {
		if r.Peer, ok = parsePeerPort(p.str(f.clientAddr)); !ok {
			return false
		}
		switch {
		case f.tXFF.seen:
			r.Forwarded = p.str(f.tXFF)
		case len(host) > 0:
			if a, ok := parsePeer(host); !ok || a != r.Peer {
				r.Forwarded = host
			}
		}
	} else if r.Peer, ok = parsePeer(host); !ok {
		return false
	}
	setRequestParts(p.str(f.reqMethod), p.str(f.reqPath), p.str(f.reqPro), true, r)
	r.Host = p.str(f.reqHost)
	if r.Host == nil {
		r.Host = p.str(f.reqAddr)
	}
	r.UserAgent, r.Referer, r.User = p.str(f.tUA), p.str(f.tReferer), p.str(f.clientUser)
	st := f.downStatus
	if st == nil {
		st = f.originStatus
	}
	r.Status, _ = jsonStatus(st)
	for _, t := range [...]jstr{f.startUTC, f.startLocal, f.time} {
		if t.seen {
			if r.Time, ok = p.clock.isoTime(p.str(t)); ok {
				break
			}
		}
	}
	return true
}
