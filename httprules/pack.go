// Package httprules is phalanx's HTTP rule pack: it turns one parsed web
// server log line (an *httplog.Request) into the kinds of evidence it shows
// (a probe for a missing page, a request for a secret file, a known exploit's
// probe, a failed log-in, …) and carries the HTTP scenarios that count those
// kinds per source.
//
// The pack is data: default.yaml, embedded in the binary, holds the rules,
// the static-asset list, the search-engine crawlers and the scenarios; an
// operator may load a file of the same schema instead (Load). Rules are
// literal patterns over the request's path, query, whole target, User-Agent
// and Referer, plus filters on method, status, error-log kind and more; they
// are compiled into Aho–Corasick automata at load, so classifying a request
// costs time linear in its length whatever the number of rules, and no
// regular expression runs per request.
//
// Matching sees the request target percent-decoded once (%XX, IIS-style
// %uXXXX and the two-byte overlong UTF-8 forms of ASCII; + as a space in the
// query), with repeated slashes in the path merged, ASCII case ignored and
// tab, CR, LF, VT and FF taken as spaces. Double encoding is caught by
// patterns over what one decoding leaves (%2e%2e, %252e → %2e). At most the
// first 8 KiB of the target (nginx's default limit for a request line) and
// 4 KiB of each header are examined, so a 64 KiB URI costs no more than an
// 8 KiB one; a path longer than that is not judged by path suffixes. An
// error-log line that names a file instead of the request (Apache's "File
// does not exist: PATH") is matched by the path patterns only, with the
// file's path as the path: its document root is unknown, so a prefix
// pattern counts anywhere in it and an exact one (but "/") at its end.
//
// A pipeline goroutine classifies with its own Classifier (NewClassifier),
// which remembers what recent User-Agent and Referer values proved, and
// builds one phalanx.Event per Hit: Kind, Detail (the hit's rule), Path
// (Path) and Source (the request's Client). The pack's Scenarios join the
// scenario engine's configuration beside the ssh ones.
//
// The package must not do I/O, keep package-level mutable state, read a
// clock, or decide bans itself: it only classifies, and the scenarios it
// carries are run by package scenario. It does not verify crawlers either:
// Crawler names the reverse-DNS domains a claimed crawler must resolve to,
// and the caller checks them (an address that fails is a
// KindHTTPFakeCrawler event). Rules marked skip_crawlers (404 probing, admin
// scans, injection in links a crawler follows) do not fire for a user agent
// that claims a known crawler, so a deployment that does not verify crawlers
// lets an attacker who claims to be one escape those rules.
package httprules

import (
	_ "embed"
	"encoding/json"
	"math/bits"
	"slices"
	"sync"

	"phalanx"
	"phalanx/parser/httplog"
	"phalanx/scenario"
)

//go:embed default.yaml
var defaultYAML []byte

// defaultJSON is default.yaml decoded and written as JSON, which decodes in
// a fraction of the time: every start builds the default pack, whatever the
// member reads, and YAML was most of a short replay's start. It is made from
// default.yaml, never edited by hand (TestDefaultJSONFresh fails when the
// two differ):
//
//go:generate env PHALANX_UPDATE_DEFAULT_JSON=1 go test -run ^TestDefaultJSONFresh$ .
//go:embed default.json
var defaultJSON []byte

// Limits on what the pack examines of one request.
const (
	// MaxURIScan is how many bytes of the request target Classify examines.
	MaxURIScan = 8 << 10
	// MaxHeaderScan is how many bytes of the User-Agent and of the Referer
	// Classify examines.
	MaxHeaderScan = 4 << 10
)

// Limits on a pack, checked by Load.
const (
	MaxRules       = 1024    // rules in a pack
	maxGroups      = 2048    // pattern groups (a rule has at most 1 + len(and) + 1)
	MaxPatterns    = 50_000  // patterns in a pack
	MaxPatternLen  = 256     // bytes in one pattern
	MaxCrawlers    = 64      // crawlers in a pack
	maxFileSize    = 4 << 20 // bytes in a rule file
	ruleWords      = MaxRules / 64
	groupWords     = maxGroups / 64
	maxRuleNameLen = 100
)

// Pack is a compiled rule pack. It is immutable and safe for concurrent use.
type Pack struct {
	auto      *automata // the URI and header automata, built at most once
	rules     []rule
	firstOf   []int16 // group → the rule it triggers (its first group), or -1
	always    [ruleWords]uint64
	gwords    int // words of match.groups in use
	rwords    int // words of always in use
	crawlers  []crawler
	scenarios []scenario.Spec
}

// crawler is a search engine's crawler the pack knows.
type crawler struct {
	name    string
	domains []string
}

// staticGroup is the group of the static-asset patterns.
const staticGroup = 0

// rule is one compiled rule.
type rule struct {
	name   string
	kind   phalanx.Kind
	groups []uint16 // pattern groups that must all match; empty for a filter-only rule
	unless int32    // group that must not match, or -1
	// errMask has bit 1<<ErrorKind for each line kind the rule accepts; an
	// access line is ErrNone.
	errMask      uint16
	badRequest   bool
	methods      []string
	status       *statusSet // nil: any status
	user         bool
	exceptStatic bool
	skipCrawlers bool
	absolute     absMode
}

// statusSet holds statuses 0 to 639.
type statusSet [10]uint64

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code>>6]&(1<<(code&63)) != 0
}

// absMode is a rule's condition on an absolute-form target.
type absMode uint8

const (
	absNone    absMode = iota // no condition
	absAny                    // the target is absolute (scheme://authority…)
	absForeign                // absolute, and its host differs from the logged Host
)

// Hit is one kind of evidence a request shows, and the rule that found it.
type Hit struct {
	Kind phalanx.Kind
	Rule string // the rule's name, for Event.Detail
}

// Default returns the embedded pack. It panics only if default.yaml is
// broken, which the package's tests rule out. Its automata are built when
// a request is first classified: a member that reads no web log never pays
// for them (about 40 ms of CPU and 10 MB at every start).
func Default() *Pack {
	var doc fileDoc
	if err := json.Unmarshal(defaultJSON, &doc); err != nil {
		panic("httprules: embedded default.json: " + err.Error())
	}
	p, err := (&compiler{}).compile(&doc, true)
	if err != nil {
		panic("httprules: embedded default.yaml: " + err.Error())
	}
	return p
}

// automata are a pack's two automata, or the patterns to build them from.
type automata struct {
	once     sync.Once
	uriPats  []pattern
	hdrPats  []pattern
	uri, hdr *automaton
	err      error
}

// build builds the automata once; later calls return the first's error.
func (a *automata) build() error {
	a.once.Do(func() {
		if a.uri, a.err = newAutomaton(a.uriPats); a.err == nil {
			a.hdr, a.err = newAutomaton(a.hdrPats)
		}
		a.uriPats, a.hdrPats = nil, nil
	})
	return a.err
}

// automata returns the pack's URI and header automata, building them on
// first use. Only Default's pack builds them late, and its patterns
// always compile (the package's tests): an error here is a broken build.
func (p *Pack) automata() (uri, hdr *automaton) {
	if err := p.auto.build(); err != nil {
		panic("httprules: the rule pack's automata: " + err.Error())
	}
	return p.auto.uri, p.auto.hdr
}

// DefaultYAML returns a copy of the embedded rule file, a starting point for
// an operator's own.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Scenarios returns copies of the pack's scenarios.
func (p *Pack) Scenarios() []scenario.Spec {
	out := make([]scenario.Spec, len(p.scenarios))
	for i, s := range p.scenarios {
		s.Kinds = slices.Clone(s.Kinds)
		s.Services = slices.Clone(s.Services)
		out[i] = s
	}
	return out
}

// Rules returns the name and kind of every rule, in the pack's order.
func (p *Pack) Rules() []Hit {
	out := make([]Hit, len(p.rules))
	for i := range p.rules {
		out[i] = Hit{Kind: p.rules[i].kind, Rule: p.rules[i].name}
	}
	return out
}

// Crawler reports whether ua claims to be a search-engine crawler the pack
// knows, its name, and the DNS domains its address's reverse name must equal
// or end in (after a dot), then resolve back to the address, for the claim
// to be true. The returned slice is shared: do not modify it.
func (p *Pack) Crawler(ua []byte) (name string, domains []string, ok bool) {
	i := p.crawlerOf(ua)
	if i < 0 {
		return "", nil, false
	}
	return p.crawlers[i].name, p.crawlers[i].domains, true
}

// crawlerOf returns the index of the first crawler ua names, or -1.
func (p *Pack) crawlerOf(ua []byte) int {
	if len(p.crawlers) == 0 {
		return -1
	}
	_, a := p.automata()
	next, class := a.next, &a.class
	best := -1
	s := uint32(0)
	for _, c := range ua[:min(len(ua), MaxHeaderScan)] {
		s = next[s&^outFlag+uint32(class[c])]
		if s&outFlag == 0 {
			continue
		}
		for _, e := range a.scanEntries(s) {
			if e.mode == modeCrawler && (best < 0 || int(e.group) < best) {
				best = int(e.group)
			}
		}
	}
	return best
}

// Classify appends to dst the hits r shows and returns it: at most one hit
// per kind, named by the first rule (in the pack's order) of that kind that
// matches. It does not allocate (beyond growing dst) and keeps its scratch
// on the stack, so one Pack serves any number of goroutines. A stream's
// goroutine classifies faster with its own Classifier.
func (p *Pack) Classify(r *httplog.Request, dst []Hit) []Hit {
	var m match
	if len(r.URI) > 0 {
		connect := isConnect(r.Method)
		p.scanURI(r.URI, connect, &m)
	} else if r.Error != httplog.ErrNone && len(r.Path) > 0 {
		p.scanFile(r.Path, &m)
	}
	if len(r.UserAgent) > 0 || len(r.Referer) > 0 {
		p.scanHeaders(r.UserAgent, r.Referer, &m)
	}
	return p.decide(r, &m, dst)
}

// decide appends the hits of the rules whose groups and filters hold.
func (p *Pack) decide(r *httplog.Request, m *match, dst []Hit) []Hit {
	// Candidates: rules whose first group matched, and filter-only rules.
	cand := p.always
	for w, set := range m.groups[:p.gwords] {
		for set != 0 {
			b := set & -set
			set ^= b
			g := w<<6 | bits.TrailingZeros64(b)
			if g < len(p.firstOf) {
				if ri := p.firstOf[g]; ri >= 0 {
					cand[ri>>6] |= 1 << (ri & 63)
				}
			}
		}
	}
	var kinds uint64
	for w, set := range cand[:p.rwords] {
		for set != 0 {
			b := set & -set
			set ^= b
			ru := &p.rules[w<<6|bits.TrailingZeros64(b)]
			if kinds&(1<<ru.kind) != 0 || !ru.accepts(r, m) {
				continue
			}
			kinds |= 1 << ru.kind
			dst = append(dst, Hit{Kind: ru.kind, Rule: ru.name})
		}
	}
	return dst
}

// accepts reports whether the rule's groups and filters hold for r.
func (ru *rule) accepts(r *httplog.Request, m *match) bool {
	if ru.errMask&(1<<r.Error) == 0 || ru.badRequest != r.BadRequest {
		return false
	}
	for _, g := range ru.groups[min(1, len(ru.groups)):] {
		if !m.has(int(g)) {
			return false
		}
	}
	if ru.unless >= 0 && m.has(int(ru.unless)) {
		return false
	}
	if ru.status != nil && !ru.status.has(r.Status) {
		return false
	}
	if ru.methods != nil && !hasMethod(ru.methods, r.Method) {
		return false
	}
	if ru.user && len(r.User) == 0 {
		return false
	}
	if ru.exceptStatic && (!m.path || m.has(staticGroup)) {
		return false
	}
	if ru.skipCrawlers && m.crawler {
		return false
	}
	switch ru.absolute {
	case absAny:
		return m.absolute
	case absForeign:
		return m.absolute && foreignHost(m.host, r.Host)
	}
	return true
}

func hasMethod(methods []string, m []byte) bool {
	for _, x := range methods {
		if len(x) == len(m) && equalFoldASCII(x, m) {
			return true
		}
	}
	return false
}

func equalFoldASCII(s string, b []byte) bool {
	for i := range len(s) {
		if fold[s[i]] != fold[b[i]] {
			return false
		}
	}
	return true
}

// foreignHost reports whether the host of an absolute target differs from
// the logged Host header (both without port, case ignored). An unlogged Host
// is not evidence.
func foreignHost(target, logged []byte) bool {
	if len(logged) == 0 {
		return false
	}
	t, l := hostOnly(target), hostOnly(logged)
	if len(t) != len(l) {
		return true
	}
	for i := range t {
		if fold[t[i]] != fold[l[i]] {
			return true
		}
	}
	return false
}

// hostOnly strips user information, a port and a trailing dot from an
// authority.
func hostOnly(a []byte) []byte {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == '@' {
			a = a[i+1:]
			break
		}
	}
	if len(a) > 0 && a[0] == '[' { // [v6]:port
		for i := range a {
			if a[i] == ']' {
				return a[1:i]
			}
		}
		return a
	}
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			a = a[:i]
			break
		}
	}
	if len(a) > 0 && a[len(a)-1] == '.' {
		a = a[:len(a)-1]
	}
	return a
}
