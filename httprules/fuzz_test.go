package httprules

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"phalanx"
	"phalanx/parser/httplog"
)

// FuzzClassify feeds random requests to the default pack. Classify must not
// panic, must yield at most one hit per kind, only HTTP kinds and rules of
// the pack, the same hits twice, and leave what dst held; and what its
// automata found must equal what a naive reference (decoding the target, or
// reading an error line's file path, into strings and searching them with
// package strings) finds.
func FuzzClassify(f *testing.F) {
	p := defaultPack()
	doc := defaultDoc(f)
	for _, c := range readRuleCases(f) {
		for _, q := range append(c.Fire, c.Miss...) {
			f.Add(q.Method, q.URI, q.Agent, q.Referer, q.Host, q.User, q.Path, q.Status, uint8(errorKinds[q.Error]), q.Bad)
		}
	}
	f.Add("GET", "/"+strings.Repeat("%2e%2e/", 1500)+".env", "", "", "", "", "", 404, uint8(0), false)
	f.Add("GET", "http://[::1]:80/x?y#z", "(hydra)", "() {", "[::1]", "u", "", 401, uint8(0), false)
	f.Add("CONNECT", "%24%7bjndi:x", "", "", "", "", "", 0, uint8(0), false)
	f.Add("GET", "/a%c0%ae%c0%ae/%u002e%uZZZZ%", "", "", "", "", "", 0, uint8(httplog.ErrNotFound), false)
	f.Add("GET", "/index.php?n=http://x/y.htm??", "", "", "", "", "", 200, uint8(0), false)
	f.Add("", "", "", "", "", "", "/var/www//html/robots.txt", 0, uint8(httplog.ErrNotFound), false)
	f.Add("", "", "", "", "", "", "/var/www/html/", 0, uint8(httplog.ErrDenied), false)

	var mu sync.Mutex // in case the fuzzer runs the target concurrently
	cl := p.NewClassifier()
	names := map[string]phalanx.Kind{}
	for _, h := range p.Rules() {
		names[h.Rule] = h.Kind
	}
	f.Fuzz(func(t *testing.T, method, uri, ua, ref, host, user, path string, status int, errKind uint8, bad bool) {
		r := &httplog.Request{
			Method: []byte(method), URI: []byte(uri), Proto: []byte("HTTP/1.1"), Status: status, BadRequest: bad,
			UserAgent: []byte(ua), Referer: []byte(ref), Host: []byte(host), User: []byte(user), Path: []byte(path),
			Error: httplog.ErrorKind(errKind % uint8(httplog.ErrFunctionImport+1)),
		}
		prefix := []Hit{{Kind: phalanx.KindUnknown, Rule: "kept"}}
		hits := p.Classify(r, slices.Clone(prefix))
		if len(hits) == 0 || hits[0] != prefix[0] {
			t.Fatalf("dst's content was not kept: %v", hits)
		}
		hits = hits[1:]
		var kinds uint64
		for _, h := range hits {
			if kinds&(1<<h.Kind) != 0 {
				t.Fatalf("two hits of kind %s: %v", h.Kind, hits)
			}
			kinds |= 1 << h.Kind
			if k, ok := names[h.Rule]; !ok || k != h.Kind {
				t.Fatalf("hit %v names no rule of its kind", h)
			}
		}
		if again := p.Classify(r, nil); !slices.Equal(again, hits) {
			t.Fatalf("not deterministic: %v then %v", hits, again)
		}
		mu.Lock()
		for range 2 { // a miss, then a hit in the memo
			if viaMemo := cl.Classify(r, nil); !slices.Equal(viaMemo, hits) {
				mu.Unlock()
				t.Fatalf("Classifier says %v, Pack says %v", viaMemo, hits)
			}
		}
		n1, d1, ok1 := cl.Crawler(r.UserAgent)
		mu.Unlock()
		if n2, d2, ok2 := p.Crawler(r.UserAgent); n1 != n2 || ok1 != ok2 || !slices.Equal(d1, d2) {
			t.Fatalf("Classifier.Crawler says %q %v %v, Pack.Crawler %q %v %v", n1, d1, ok1, n2, d2, ok2)
		}
		if n := len(Path(r, nil)); n > MaxURIScan {
			t.Fatalf("Path returned %d bytes", n)
		}
		p.Crawler(r.UserAgent)

		var got match
		if len(r.URI) > 0 {
			p.scanURI(r.URI, isConnect(r.Method), &got)
		} else if r.Error != httplog.ErrNone && len(r.Path) > 0 {
			p.scanFile(r.Path, &got)
		}
		p.scanHeaders(r.UserAgent, r.Referer, &got)
		want := refMatch(p, doc, r)
		if got.groups != want.groups || got.path != want.path || got.crawler != want.crawler ||
			got.absolute != want.absolute || !bytes.Equal(got.host, want.host) {
			t.Fatalf("automata and reference differ for %q (agent %q, referer %q):\n got groups %v path %v crawler %v absolute %v host %q\nwant groups %v path %v crawler %v absolute %v host %q",
				uri, ua, ref, setBits(got.groups[:]), got.path, got.crawler, got.absolute, got.host,
				setBits(want.groups[:]), want.path, want.crawler, want.absolute, want.host)
		}
	})
}

// FuzzLoad feeds random rule files to Load: errors are fine, panics are
// not, and a pack that loads classifies.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add(defaultYAML)
	f.Add([]byte("rules: [{name: a, kind: http-cve, match: {anywhere: [x]}, and: [{uri_contains: [y]}], unless: {query_contains: [z]}}]"))
	f.Add([]byte("static: {exact: [/]}\nrules: [{name: a, kind: http-probe, status: [4xx], except_static: true}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(data)
		if err != nil {
			return
		}
		r := &httplog.Request{Method: []byte("GET"), URI: []byte("/x/y?z=1"), Status: 404, UserAgent: []byte("xyz")}
		p.Classify(r, nil)
		p.Scenarios()
	})
}

func setBits(words []uint64) []int {
	var out []int
	for w, x := range words {
		for b := range 64 {
			if x&(1<<b) != 0 {
				out = append(out, w*64+b)
			}
		}
	}
	return out
}

func defaultDoc(tb testing.TB) *fileDoc {
	var doc fileDoc
	if err := yaml.Unmarshal(defaultYAML, &doc); err != nil {
		tb.Fatal(err)
	}
	return &doc
}

// refMatch computes what the automata should find in r, naively: it decodes
// the target into strings, region by region, and searches them.
func refMatch(p *Pack, doc *fileDoc, r *httplog.Request) match {
	var m match
	var d refDecoded
	if len(r.URI) > 0 {
		d = refDecode(r.URI, refFold(r.Method) == "connect")
		m.path = d.hasPath
		m.absolute = d.absolute
		m.host = d.host
	} else if r.Error != httplog.ErrNone && len(r.Path) > 0 {
		d = refFile(r.Path)
		m.path = true
	}
	ua := refFold(r.UserAgent[:min(len(r.UserAgent), MaxHeaderScan)])
	ref := refFold(r.Referer[:min(len(r.Referer), MaxHeaderScan)])

	matches := func(d0 *matchDoc) bool {
		for _, f := range d0.fields() {
			for _, pat := range f.pats {
				pat = refFold([]byte(pat))
				if refHit(&d, ua, ref, f.key, pat) {
					return true
				}
			}
		}
		return false
	}
	g := 0
	next := func() int { g++; return g }
	for _, k := range []string{"suffix", "prefix", "exact"} {
		var pats []string
		switch k {
		case "suffix":
			pats = doc.Static.Suffix
		case "prefix":
			pats = doc.Static.Prefix
		default:
			pats = doc.Static.Exact
		}
		for _, pat := range pats {
			if refHit(&d, ua, ref, "path_"+k, refFold([]byte(pat))) {
				m.set(staticGroup)
			}
		}
	}
	for i := range doc.Rules {
		ru := &doc.Rules[i]
		if !ru.Match.empty() {
			if gi := next(); matches(&ru.Match) {
				m.set(gi)
			}
		}
		for j := range ru.And {
			if ru.Match.empty() || ru.And[j].empty() {
				continue
			}
			if gi := next(); matches(&ru.And[j]) {
				m.set(gi)
			}
		}
		if !ru.Unless.empty() {
			if gi := next(); matches(&ru.Unless) {
				m.set(gi)
			}
		}
	}
	for _, c := range doc.Crawlers {
		for _, a := range c.Agent {
			if strings.Contains(ua, refFold([]byte(a))) {
				m.crawler = true
			}
		}
	}
	_ = p
	return m
}

// refDecoded is a target split into what each kind of pattern sees.
type refDecoded struct {
	stream  string // everything fed: authority, path, separator, query
	path    string
	query   string
	judged  bool // the path's end was reached within the scan limit
	hasPath bool
	// queryJudged: the target has a query, and its end was reached within
	// the scan limit.
	queryJudged bool
	// file: path is an error line's file-system path, not a target's.
	file bool
	// absolute-form
	absolute bool
	host     []byte
}

func refDecode(uri []byte, connect bool) refDecoded {
	var d refDecoded
	whole := len(uri) <= MaxURIScan
	uri = uri[:min(len(uri), MaxURIScan)]
	if connect {
		d.stream = refFold(uri)
		return d
	}
	d.hasPath = true
	var stream, path, query []byte
	i := 0
	if uri[0] != '/' {
		// scheme://authority
		j := 0
		for j < len(uri) && j <= 16 && (isLetter(uri[j]) || j > 0 && (uri[j] >= '0' && uri[j] <= '9' || strings.IndexByte("+-.", uri[j]) >= 0)) {
			j++
		}
		if j > 0 && j <= 16 && bytes.HasPrefix(uri[j:], []byte("://")) {
			k := j + 3
			e := k
			for e < len(uri) && uri[e] != '/' && uri[e] != '?' && uri[e] != '#' {
				e++
			}
			d.absolute, d.host = true, uri[k:e]
			stream = append(stream, uri[:e]...)
			i = e
		}
	}
	inQuery := false
	for i < len(uri) {
		c := uri[i]
		i++
		switch {
		case c == '%':
			c, i = refPct(uri, i)
		case c == '+' && inQuery:
			c = ' '
		case (c == '?' || c == '#') && !inQuery:
			inQuery = true
			d.judged = true
			stream = append(stream, c)
			continue
		case c == '/' && !inQuery && len(path) > 0 && path[len(path)-1] == '/':
			continue
		}
		stream = append(stream, c)
		if inQuery {
			query = append(query, c)
		} else {
			path = append(path, c)
		}
	}
	if !inQuery && whole {
		d.judged = true
	}
	d.queryJudged = inQuery && whole
	d.stream, d.path, d.query = refFold(stream), refFold(path), refFold(query)
	return d
}

// refFile reads an error line's file-system path: not decoded, repeated
// slashes merged.
func refFile(p []byte) refDecoded {
	d := refDecoded{hasPath: true, file: true, judged: len(p) <= MaxURIScan}
	p = p[:min(len(p), MaxURIScan)]
	var path []byte
	for _, c := range p {
		if c == '/' && len(path) > 0 && path[len(path)-1] == '/' {
			continue
		}
		path = append(path, c)
	}
	d.path = refFold(path)
	return d
}

// refPct decodes an escape after a %: %XX (two-byte overlong forms of
// ASCII included) and %uXXXX.
func refPct(b []byte, i int) (byte, int) {
	hex := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			switch {
			case c >= '0' && c <= '9':
				v = v*16 + int(c-'0')
			case c >= 'a' && c <= 'f':
				v = v*16 + int(c-'a'+10)
			case c >= 'A' && c <= 'F':
				v = v*16 + int(c-'A'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	if i+2 <= len(b) {
		if v, ok := hex(b[i : i+2]); ok {
			if (v == 0xc0 || v == 0xc1) && i+5 <= len(b) && b[i+2] == '%' {
				if w, ok := hex(b[i+3 : i+5]); ok && w >= 0x80 && w < 0xc0 {
					return byte((v&0x1f)<<6 | w&0x3f), i + 5
				}
			}
			return byte(v), i + 2
		}
	}
	if i+5 <= len(b) && (b[i] == 'u' || b[i] == 'U') {
		if v, ok := hex(b[i+1 : i+5]); ok {
			if v < 0x80 {
				return byte(v), i + 5
			}
			return 0x80, i + 5
		}
	}
	return '%', i
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func refFold(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			c = ' '
		}
		s.WriteByte(c)
	}
	return s.String()
}

// refHit reports whether pattern pat of the given key occurs where that key
// looks.
func refHit(d *refDecoded, ua, ref, key, pat string) bool {
	if d.file {
		// The document root is unknown: a prefix may start anywhere, an
		// exact path (but the root) is a suffix.
		switch key {
		case "path_exact":
			return d.judged && len(pat) > 1 && strings.HasSuffix(d.path, pat)
		case "path_prefix", "path_contains":
			return strings.Contains(d.path, pat)
		case "path_suffix":
			return d.judged && strings.HasSuffix(d.path, pat)
		case "agent_contains", "referer_contains", "anywhere":
		default:
			return false
		}
	}
	switch key {
	case "path_exact":
		return d.hasPath && d.judged && d.path == pat
	case "path_prefix":
		return d.hasPath && strings.HasPrefix(d.path, pat)
	case "path_suffix":
		return d.hasPath && d.judged && strings.HasSuffix(d.path, pat)
	case "path_contains":
		return d.hasPath && strings.Contains(d.path, pat)
	case "query_contains":
		return strings.Contains(d.query, pat)
	case "query_suffix":
		return d.queryJudged && strings.HasSuffix(d.query, pat)
	case "uri_contains":
		return strings.Contains(d.stream, pat)
	case "agent_contains":
		return strings.Contains(ua, pat)
	case "referer_contains":
		return strings.Contains(ref, pat)
	case "anywhere":
		return strings.Contains(d.stream, pat) || strings.Contains(ua, pat) || strings.Contains(ref, pat)
	}
	panic("unknown key " + key)
}
