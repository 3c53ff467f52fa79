package httprules

import (
	"phalanx/parser/httplog"
)

// match is what the automata found in one request: Classify's scratch, kept
// on its stack.
type match struct {
	groups   [groupWords]uint64 // pattern groups that matched
	path     bool               // the target has a path (not CONNECT, not empty)
	crawler  bool               // the User-Agent names a known crawler
	absolute bool               // the target is absolute-form (scheme://authority…)
	host     []byte             // an absolute target's authority
}

func (m *match) has(g int) bool { return m.groups[g>>6]&(1<<(g&63)) != 0 }
func (m *match) set(g int)      { m.groups[g>>6] |= 1 << (g & 63) }

// Regions of the request target.
type region uint8

const (
	regAuthority region = iota // CONNECT's target; scheme://authority of an absolute one
	regPath
	regQuery // after the first raw ? or # (the fragment counts as query)
)

// special marks the raw target bytes the scan loop must look at.
var special = func() (t [256]bool) {
	for _, c := range []byte("%+?#/") {
		t[c] = true
	}
	return t
}()

// scanURI runs the target through the URI automaton, decoding as it goes.
func (p *Pack) scanURI(uri []byte, connect bool, m *match) {
	a, _ := p.automata()
	n := len(uri)
	whole := n <= MaxURIScan
	if !whole {
		n = MaxURIScan
	}
	uri = uri[:n]
	next, class := a.next, &a.class
	var s uint32
	pos, i := 0, 0
	if connect { // authority-form: no path
		for ; i < n; i++ {
			s = next[s&^outFlag+uint32(class[uri[i]])]
			pos++
			if s&outFlag != 0 {
				m.scanOut(a, s, pos, regAuthority, 0, 0)
			}
		}
		return
	}
	m.path = true
	if uri[0] != '/' {
		if k := schemeLen(uri); k > 0 {
			j := k
			for j < n && uri[j] != '/' && uri[j] != '?' && uri[j] != '#' {
				j++
			}
			m.absolute, m.host = true, uri[k:j]
			for ; i < j; i++ {
				s = next[s&^outFlag+uint32(class[uri[i]])]
				pos++
				if s&outFlag != 0 {
					m.scanOut(a, s, pos, regAuthority, 0, 0)
				}
			}
		}
	}
	pathStart, queryStart := pos, 0
	reg := regPath
	prev := byte(0)
	for i < n {
		c := uri[i]
		i++
		if special[c] {
			switch c {
			case '%':
				c, i = decodePct(uri, i)
			case '+':
				if reg == regQuery {
					c = ' '
				}
			case '?', '#':
				if reg == regPath {
					m.pathEnd(a, s, pos, pathStart)
					reg, queryStart = regQuery, pos+1
				}
			case '/':
				if reg == regPath && prev == '/' {
					continue // merge repeated slashes, as web servers do
				}
			}
		}
		prev = c
		s = next[s&^outFlag+uint32(class[c])]
		pos++
		if s&outFlag != 0 {
			m.scanOut(a, s, pos, reg, pathStart, queryStart)
		}
	}
	if !whole {
		return
	}
	if reg == regPath {
		m.pathEnd(a, s, pos, pathStart)
	} else {
		m.queryEnd(a, s, pos, queryStart)
	}
}

// scanFile runs the file-system path an error-log line names instead of
// the request (Apache's "File does not exist: /var/www/html/x") through
// the URI automaton as a path, as is: already decoded, no query, repeated
// slashes merged. The document root before the request's path is not
// known, so path patterns are judged as if the path could start at any of
// its slashes: a prefix counts anywhere, like path_contains, and an exact
// path at the end, like path_suffix, except the bare "/" (the site's root
// cannot be told from any directory). Other patterns do not look at it.
func (p *Pack) scanFile(path []byte, m *match) {
	a, _ := p.automata()
	whole := len(path) <= MaxURIScan
	path = path[:min(len(path), MaxURIScan)]
	next, class := a.next, &a.class
	m.path = true
	var s uint32
	pos := 0
	prev := byte(0)
	for _, c := range path {
		if c == '/' && prev == '/' {
			continue
		}
		prev = c
		s = next[s&^outFlag+uint32(class[c])]
		pos++
		if s&outFlag != 0 {
			for _, e := range a.scanEntries(s) {
				if e.mode == modePathContains || e.mode == modePathPrefix {
					m.set(int(e.group))
				}
			}
		}
	}
	if !whole {
		return
	}
	for _, e := range a.endEntries(s) {
		if e.mode == modePathSuffix || e.mode == modePathExact && e.n > 1 {
			m.set(int(e.group))
		}
	}
}

// scanOut records the scan-time entries of state s, whose occurrences end at
// end (exclusive, in decoded bytes).
func (m *match) scanOut(a *automaton, s uint32, end int, reg region, pathStart, queryStart int) {
	for _, e := range a.scanEntries(s) {
		start := end - int(e.n)
		switch e.mode {
		case modeURI:
		case modePathContains:
			if reg != regPath || start < pathStart {
				continue
			}
		case modePathPrefix:
			if reg != regPath || start != pathStart {
				continue
			}
		case modeQuery:
			if reg != regQuery || start < queryStart {
				continue
			}
		default:
			continue
		}
		m.set(int(e.group))
	}
}

// pathEnd records the suffix and exact entries of state s, reached at the
// end of the path.
func (m *match) pathEnd(a *automaton, s uint32, end, pathStart int) {
	for _, e := range a.endEntries(s) {
		start := end - int(e.n)
		if e.mode == modeQuerySuffix || start < pathStart || e.mode == modePathExact && start != pathStart {
			continue
		}
		m.set(int(e.group))
	}
}

// queryEnd records the query-suffix entries of state s, reached at the end
// of the query.
func (m *match) queryEnd(a *automaton, s uint32, end, queryStart int) {
	for _, e := range a.endEntries(s) {
		if e.mode == modeQuerySuffix && end-int(e.n) >= queryStart {
			m.set(int(e.group))
		}
	}
}

// scanHeaders runs the User-Agent and the Referer through the header
// automaton, side by side: the two walks do not depend on each other, so the
// processor overlaps their table loads.
func (p *Pack) scanHeaders(ua, ref []byte, m *match) {
	_, a := p.automata()
	next, class := a.next, &a.class
	ua = ua[:min(len(ua), MaxHeaderScan)]
	ref = ref[:min(len(ref), MaxHeaderScan)]
	n := min(len(ua), len(ref))
	var s, t uint32
	for i := range n {
		s = next[s&^outFlag+uint32(class[ua[i]])]
		t = next[t&^outFlag+uint32(class[ref[i]])]
		if (s|t)&outFlag != 0 {
			if s&outFlag != 0 {
				m.headerOut(a, s, modeAgent)
			}
			if t&outFlag != 0 {
				m.headerOut(a, t, modeReferer)
			}
		}
	}
	for _, c := range ua[n:] {
		s = next[s&^outFlag+uint32(class[c])]
		if s&outFlag != 0 {
			m.headerOut(a, s, modeAgent)
		}
	}
	for _, c := range ref[n:] {
		t = next[t&^outFlag+uint32(class[c])]
		if t&outFlag != 0 {
			m.headerOut(a, t, modeReferer)
		}
	}
}

// headerOut records the entries of state s met in a header field (modeAgent
// or modeReferer).
func (m *match) headerOut(a *automaton, s uint32, field mode) {
	for _, e := range a.scanEntries(s) {
		switch e.mode {
		case modeHeader:
			m.set(int(e.group))
		case modeCrawler:
			if field == modeAgent {
				m.crawler = true
			}
		case field:
			m.set(int(e.group))
		}
	}
}

// decodePct decodes the escape that starts after the % at b[i-1] and
// returns the byte and the index after the escape: %XX; a two-byte overlong
// UTF-8 form of an ASCII byte (%c0%ae is '.'); %uXXXX (an ASCII value as its
// byte, anything else as 0x80). An invalid escape is a literal %.
func decodePct(b []byte, i int) (byte, int) {
	if i+1 < len(b) && isHex(b[i]) && isHex(b[i+1]) {
		v := unhex(b[i])<<4 | unhex(b[i+1])
		i += 2
		if (v == 0xc0 || v == 0xc1) && i+2 < len(b) && b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			if w := unhex(b[i+1])<<4 | unhex(b[i+2]); w >= 0x80 && w < 0xc0 {
				return (v&0x1f)<<6 | w&0x3f, i + 3
			}
		}
		return v, i
	}
	if i+4 < len(b) && (b[i] == 'u' || b[i] == 'U') && isHex(b[i+1]) && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) {
		hi := unhex(b[i+1])<<4 | unhex(b[i+2])
		lo := unhex(b[i+3])<<4 | unhex(b[i+4])
		if hi == 0 && lo < 0x80 {
			return lo, i + 5
		}
		return 0x80, i + 5
	}
	return '%', i
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// schemeLen returns the length of "scheme://" at the start of b, or 0.
func schemeLen(b []byte) int {
	for i := 0; i < len(b) && i <= 16; i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if i+2 < len(b) && b[i+1] == '/' && b[i+2] == '/' {
				return i + 3
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// Path appends to dst[:0] r's path, for Event.Path, and returns it: the
// target without its query or fragment (and without the scheme and
// authority of an absolute target, whose empty path is "/"), percent-decoded
// once (%XX; + stays +), at most its first MaxURIScan bytes. A CONNECT
// request, or a line without a target, has no path: dst[:0].
func Path(r *httplog.Request, dst []byte) []byte {
	dst = dst[:0]
	uri := r.URI
	if len(uri) == 0 || isConnect(r.Method) {
		return dst
	}
	if uri[0] != '/' {
		if k := schemeLen(uri); k > 0 {
			j := k
			for j < len(uri) && uri[j] != '/' && uri[j] != '?' && uri[j] != '#' {
				j++
			}
			uri = uri[j:]
			if len(uri) == 0 || uri[0] != '/' {
				return append(dst, '/')
			}
		}
	}
	for i, c := range uri {
		if c == '?' || c == '#' {
			uri = uri[:i]
			break
		}
	}
	uri = uri[:min(len(uri), MaxURIScan)]
	for i := 0; i < len(uri); {
		c := uri[i]
		i++
		if c == '%' && i+1 < len(uri) && isHex(uri[i]) && isHex(uri[i+1]) {
			c = unhex(uri[i])<<4 | unhex(uri[i+1])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

// isConnect reports whether method is CONNECT (in any case), whose target
// is an authority, not a path.
func isConnect(method []byte) bool {
	return len(method) == 7 && equalFoldASCII("CONNECT", method)
}
