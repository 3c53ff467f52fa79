package httprules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"phalanx"
	"phalanx/parser/httplog"
	"phalanx/scenario"
)

// The rule file's schema. See default.yaml for a documented example.
type fileDoc struct {
	Static    staticDoc       `yaml:"static" json:",omitempty"`
	Crawlers  []crawlerDoc    `yaml:"crawlers" json:",omitempty"`
	Rules     []ruleDoc       `yaml:"rules" json:",omitempty"`
	Scenarios []scenario.Spec `yaml:"scenarios" json:",omitempty"`
}

// staticDoc lists the paths http-probe rules (except_static) never count.
type staticDoc struct {
	Suffix []string `yaml:"suffix" json:",omitempty"`
	Prefix []string `yaml:"prefix" json:",omitempty"`
	Exact  []string `yaml:"exact" json:",omitempty"`
}

type crawlerDoc struct {
	Name    string   `yaml:"name" json:",omitempty"`
	Agent   []string `yaml:"agent" json:",omitempty"`
	Domains []string `yaml:"domains" json:",omitempty"`
}

type ruleDoc struct {
	Name         string     `yaml:"name" json:",omitempty"`
	Kind         string     `yaml:"kind" json:",omitempty"`
	Match        matchDoc   `yaml:"match" json:",omitempty"`
	And          []matchDoc `yaml:"and" json:",omitempty"`
	Unless       matchDoc   `yaml:"unless" json:",omitempty"`
	Method       []string   `yaml:"method" json:",omitempty"`
	Status       []string   `yaml:"status" json:",omitempty"`
	Error        []string   `yaml:"error" json:",omitempty"`
	User         bool       `yaml:"user" json:",omitempty"`
	BadRequest   bool       `yaml:"bad_request" json:",omitempty"`
	ExceptStatic bool       `yaml:"except_static" json:",omitempty"`
	SkipCrawlers bool       `yaml:"skip_crawlers" json:",omitempty"`
	Absolute     string     `yaml:"absolute" json:",omitempty"`
}

// matchDoc is a set of patterns; any one of them matching makes it match.
type matchDoc struct {
	PathExact    []string `yaml:"path_exact" json:",omitempty"`
	PathPrefix   []string `yaml:"path_prefix" json:",omitempty"`
	PathSuffix   []string `yaml:"path_suffix" json:",omitempty"`
	PathContains []string `yaml:"path_contains" json:",omitempty"`
	Query        []string `yaml:"query_contains" json:",omitempty"`
	QuerySuffix  []string `yaml:"query_suffix" json:",omitempty"`
	URI          []string `yaml:"uri_contains" json:",omitempty"`
	Agent        []string `yaml:"agent_contains" json:",omitempty"`
	Referer      []string `yaml:"referer_contains" json:",omitempty"`
	Anywhere     []string `yaml:"anywhere" json:",omitempty"`
}

// fields lists a matcher's keys with their patterns and how they compile.
func (d *matchDoc) fields() []matchField {
	return []matchField{
		{"path_exact", d.PathExact, modePathExact, false},
		{"path_prefix", d.PathPrefix, modePathPrefix, false},
		{"path_suffix", d.PathSuffix, modePathSuffix, false},
		{"path_contains", d.PathContains, modePathContains, false},
		{"query_contains", d.Query, modeQuery, false},
		{"query_suffix", d.QuerySuffix, modeQuerySuffix, false},
		{"uri_contains", d.URI, modeURI, false},
		{"agent_contains", d.Agent, modeAgent, true},
		{"referer_contains", d.Referer, modeReferer, true},
		{"anywhere", d.Anywhere, modeURI, false}, // and modeHeader, added by addMatcher
	}
}

type matchField struct {
	key    string
	pats   []string
	mode   mode
	header bool
}

func (d *matchDoc) empty() bool {
	for _, f := range d.fields() {
		if len(f.pats) > 0 {
			return false
		}
	}
	return true
}

var errorKinds = map[string]httplog.ErrorKind{
	"auth-failure":    httplog.ErrAuthFailure,
	"no-auth":         httplog.ErrNoAuth,
	"denied":          httplog.ErrDenied,
	"limited":         httplog.ErrLimited,
	"not-found":       httplog.ErrNotFound,
	"bad-request":     httplog.ErrBadRequest,
	"function-import": httplog.ErrFunctionImport,
}

var (
	methodToken = regexp.MustCompile(`^[A-Z][A-Z0-9_-]{0,31}$`)
	dnsName     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	statusClass = regexp.MustCompile(`^[1-5]xx$`)
)

// httpKinds are the kinds a pack's rules and scenarios may use.
func isHTTPKind(k phalanx.Kind) bool {
	return k >= phalanx.KindHTTPProbe && k <= phalanx.KindHTTPFakeCrawler
}

// Load compiles an operator's rule file (YAML, the schema of default.yaml),
// decoded strictly: unknown keys, unknown kinds, empty patterns and invalid
// scenarios are errors, each naming its line and what to do.
func Load(data []byte) (*Pack, error) { return load(data, false) }

// load is Load; lazy leaves the automata to be built on first use.
func load(data []byte, lazy bool) (*Pack, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("rule file is larger than %d bytes; a rule pack must stay below that: remove rules or patterns", maxFileSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("decode rule file: %w%s", err, hint(err))
	}
	c := compiler{root: &root}
	// Scenario kinds decode through phalanx.Kind, whose errors carry no
	// line: check them here first.
	if err := c.scenarioKinds(); err != nil {
		return nil, err
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("rule file is empty; write rules and scenarios, or start from the embedded default.yaml")
		}
		return nil, fmt.Errorf("decode rule file: %w%s", err, hint(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("rule file holds more than one YAML document; keep it to one (remove the --- separator and what follows)")
	}
	return c.compile(&doc, lazy)
}

// hint adds advice to YAML errors people commonly make.
func hint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "not found in type httprules.ruleDoc"):
		return " (a rule takes: name, kind, match, and, unless, method, status, error, user, bad_request, except_static, skip_crawlers, absolute)"
	case strings.Contains(s, "not found in type httprules.matchDoc"):
		return " (a matcher takes: path_exact, path_prefix, path_suffix, path_contains, query_contains, query_suffix, uri_contains, agent_contains, referer_contains, anywhere)"
	case strings.Contains(s, "not found in type httprules.fileDoc"):
		return " (the file takes: static, crawlers, rules, scenarios)"
	case strings.Contains(s, "not found in type"):
		return " (check the key's spelling against default.yaml)"
	case strings.Contains(s, "time.Duration"):
		return " (write durations with a unit, such as 10s or 10m)"
	case strings.Contains(s, "unknown event kind"):
		return " (scenario kinds are the HTTP kinds, such as http-probe)"
	case strings.Contains(s, "alias") || strings.Contains(s, "expected alphabetic or numeric character"):
		return " (a * starts a YAML alias: quote the pattern)"
	}
	return ""
}

type compiler struct {
	root    *yaml.Node
	errs    []error
	uri     []pattern
	hdr     []pattern
	groups  int
	firstOf []int16
	npat    int
}

func (c *compiler) errorf(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	c.errs = append(c.errs, errors.New(msg))
}

// line returns the line of the node at path (keys and indexes) from the
// document root, or of the deepest node of it that exists.
func (c *compiler) line(path ...any) int {
	n := c.root
	if n == nil { // compiled from default.json, which has no lines
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			next = mapValue(n, s)
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

// scenarioKinds reports scenario kinds that are not event kinds, with their
// lines.
func (c *compiler) scenarioKinds() error {
	n := c.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	seq := mapValue(n, "scenarios")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	for i, sc := range seq.Content {
		kinds := mapValue(sc, "kinds")
		if kinds == nil || kinds.Kind != yaml.SequenceNode {
			continue
		}
		for j, k := range kinds.Content {
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if _, err := phalanx.ParseKind(k.Value); err != nil {
				c.errorf(k.Line, "scenarios[%d].kinds[%d]: kind %q is unknown; use one of %s", i, j, k.Value, httpKindNames())
			}
		}
	}
	return errors.Join(c.errs...)
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (c *compiler) newGroup(ri int) int {
	g := c.groups
	c.groups++
	c.firstOf = append(c.firstOf, -1)
	if ri >= 0 {
		c.firstOf[g] = int16(ri)
	}
	return g
}

// addPattern checks one pattern and adds it with its entry.
func (c *compiler) addPattern(text string, header bool, e entry, where []any, desc string) {
	switch {
	case text == "":
		c.errorf(c.line(where...), "%s: empty pattern; remove it (an empty pattern would match every request)", desc)
		return
	case len(text) > MaxPatternLen:
		c.errorf(c.line(where...), "%s: pattern longer than %d bytes; shorten it to its distinctive part", desc, MaxPatternLen)
		return
	case e.mode == modePathExact || e.mode == modePathPrefix:
		if text[0] != '/' {
			c.errorf(c.line(where...), "%s: %q does not start with /; paths are matched from their leading slash", desc, text)
			return
		}
	}
	if isPathMode(e.mode) && strings.Contains(text, "//") {
		c.errorf(c.line(where...), "%s: %q contains //, which never matches: repeated slashes in paths are merged before matching", desc, text)
		return
	}
	c.npat++
	e.n = uint16(len(text))
	p := pattern{text: foldString(text), e: e}
	if header {
		c.hdr = append(c.hdr, p)
	} else {
		c.uri = append(c.uri, p)
	}
}

func isPathMode(m mode) bool {
	return m == modePathContains || m == modePathPrefix || m == modePathSuffix || m == modePathExact
}

// addMatcher adds a matcher's patterns as group g; key is its place in the
// document.
func (c *compiler) addMatcher(d *matchDoc, g int, where []any, desc string) {
	for _, f := range d.fields() {
		for j, text := range f.pats {
			w := append(slices.Clone(where), f.key, j)
			dd := fmt.Sprintf("%s.%s[%d]", desc, f.key, j)
			c.addPattern(text, f.header, entry{group: uint16(g), mode: f.mode}, w, dd)
			if f.key == "anywhere" && text != "" && len(text) <= MaxPatternLen {
				c.addPattern(text, true, entry{group: uint16(g), mode: modeHeader}, w, dd)
			}
		}
	}
}

func (c *compiler) compile(doc *fileDoc, lazy bool) (*Pack, error) {
	p := &Pack{}
	c.newGroup(-1) // staticGroup
	c.static(&doc.Static)
	c.crawlers(doc.Crawlers, p)
	c.rules(doc.Rules, p)
	c.scenarios(doc.Scenarios, p)
	if c.npat > MaxPatterns {
		c.errorf(0, "%d patterns; at most %d are supported", c.npat, MaxPatterns)
	}
	if c.groups > maxGroups {
		c.errorf(0, "rules need %d pattern groups; at most %d are supported (fewer rules, or fewer and: blocks)", c.groups, maxGroups)
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	p.auto = &automata{uriPats: c.uri, hdrPats: c.hdr}
	if !lazy {
		if err := p.auto.build(); err != nil {
			return nil, err
		}
	}
	p.firstOf = c.firstOf
	p.gwords = (c.groups + 63) / 64
	p.rwords = (len(p.rules) + 63) / 64
	return p, nil
}

func (c *compiler) static(d *staticDoc) {
	lists := []struct {
		key  string
		pats []string
		mode mode
	}{{"suffix", d.Suffix, modePathSuffix}, {"prefix", d.Prefix, modePathPrefix}, {"exact", d.Exact, modePathExact}}
	for _, l := range lists {
		for j, text := range l.pats {
			c.addPattern(text, false, entry{group: staticGroup, mode: l.mode}, []any{"static", l.key, j}, fmt.Sprintf("static.%s[%d]", l.key, j))
		}
	}
}

func (c *compiler) crawlers(docs []crawlerDoc, p *Pack) {
	if len(docs) > MaxCrawlers {
		c.errorf(c.line("crawlers"), "crawlers: %d listed; at most %d are supported", len(docs), MaxCrawlers)
		return
	}
	seen := map[string]bool{}
	for i, d := range docs {
		desc := fmt.Sprintf("crawlers[%d] (%q)", i, d.Name)
		switch {
		case d.Name == "":
			c.errorf(c.line("crawlers", i), "crawlers[%d]: name is empty; name the crawler, such as googlebot", i)
		case seen[d.Name]:
			c.errorf(c.line("crawlers", i, "name"), "%s: name is already used; give each crawler its own", desc)
		}
		seen[d.Name] = true
		if len(d.Agent) == 0 {
			c.errorf(c.line("crawlers", i), "%s: agent lists nothing; list what its User-Agent contains, such as googlebot", desc)
		}
		for j, a := range d.Agent {
			c.addPattern(a, true, entry{group: uint16(i), mode: modeCrawler}, []any{"crawlers", i, "agent", j}, fmt.Sprintf("%s.agent[%d]", desc, j))
		}
		if len(d.Domains) == 0 {
			c.errorf(c.line("crawlers", i), "%s: domains lists nothing; list the domains its addresses' reverse names end in (a crawler that cannot be verified by DNS does not belong here)", desc)
		}
		for j, dom := range d.Domains {
			if !dnsName.MatchString(dom) {
				c.errorf(c.line("crawlers", i, "domains", j), "%s.domains[%d]: %q is not a lower-case DNS name such as googlebot.com", desc, j, dom)
			}
		}
		p.crawlers = append(p.crawlers, crawler{name: d.Name, domains: slices.Clone(d.Domains)})
	}
}

func (c *compiler) rules(docs []ruleDoc, p *Pack) {
	if len(docs) == 0 {
		c.errorf(c.line(), "rules: none; a pack needs at least one rule")
		return
	}
	if len(docs) > MaxRules {
		c.errorf(c.line("rules"), "rules: %d; at most %d are supported", len(docs), MaxRules)
		return
	}
	seen := map[string]int{}
	for i := range docs {
		d := &docs[i]
		at := func(path ...any) int { return c.line(append([]any{"rules", i}, path...)...) }
		desc := fmt.Sprintf("rules[%d] (%q)", i, d.Name)
		ru := rule{name: d.Name, unless: -1, skipCrawlers: d.SkipCrawlers, exceptStatic: d.ExceptStatic, user: d.User, badRequest: d.BadRequest}
		switch j, dup := seen[d.Name]; {
		case d.Name == "":
			c.errorf(at(), "rules[%d]: name is empty; name the rule (it becomes the event's detail), such as log4shell", i)
		case len(d.Name) > maxRuleNameLen:
			c.errorf(at("name"), "%s: name is longer than %d bytes; shorten it", desc, maxRuleNameLen)
		case dup:
			c.errorf(at("name"), "%s: name is already used by rules[%d]; give each rule its own", desc, j)
		}
		seen[d.Name] = i
		if k, err := phalanx.ParseKind(d.Kind); err != nil || !isHTTPKind(k) {
			c.errorf(at("kind"), "%s: kind %q is not an HTTP kind; use one of %s", desc, d.Kind, httpKindNames())
		} else {
			ru.kind = k
		}

		where := []any{"rules", i}
		if !d.Match.empty() {
			g := c.newGroup(i)
			ru.groups = append(ru.groups, uint16(g))
			c.addMatcher(&d.Match, g, append(where, "match"), desc+".match")
		}
		for j := range d.And {
			w := append(slices.Clone(where), "and", j)
			switch {
			case d.Match.empty():
				c.errorf(c.line(w...), "%s.and[%d]: and needs a match: to go with; move these patterns to match", desc, j)
			case d.And[j].empty():
				c.errorf(c.line(w...), "%s.and[%d]: no patterns; remove it", desc, j)
			default:
				g := c.newGroup(-1)
				ru.groups = append(ru.groups, uint16(g))
				c.addMatcher(&d.And[j], g, w, fmt.Sprintf("%s.and[%d]", desc, j))
			}
		}
		if !d.Unless.empty() {
			g := c.newGroup(-1)
			ru.unless = int32(g)
			c.addMatcher(&d.Unless, g, append(where, "unless"), desc+".unless")
		}

		for j, m := range d.Method {
			if !methodToken.MatchString(m) {
				c.errorf(at("method", j), "%s.method[%d]: %q is not an upper-case HTTP method such as POST", desc, j, m)
			}
		}
		if len(d.Method) > 0 {
			ru.methods = slices.Clone(d.Method)
		}
		if len(d.Status) > 0 {
			ru.status = new(statusSet)
			for j, s := range d.Status {
				if statusClass.MatchString(s) {
					base := int(s[0]-'0') * 100
					for code := base; code < base+100; code++ {
						ru.status[code>>6] |= 1 << (code & 63)
					}
					continue
				}
				code, err := strconv.Atoi(s)
				if err != nil || code < 100 || code > 599 {
					c.errorf(at("status", j), "%s.status[%d]: %q is not a status; write a code from 100 to 599, or a class such as 4xx", desc, j, s)
					continue
				}
				ru.status[code>>6] |= 1 << (code & 63)
			}
		}
		if len(d.Error) == 0 {
			ru.errMask = 1 << httplog.ErrNone
		}
		for j, e := range d.Error {
			k, ok := errorKinds[e]
			if !ok {
				c.errorf(at("error", j), "%s.error[%d]: %q is not an error-log kind; use auth-failure, no-auth, denied, limited, not-found, bad-request or function-import", desc, j, e)
				continue
			}
			ru.errMask |= 1 << k
		}
		switch d.Absolute {
		case "":
		case "any":
			ru.absolute = absAny
		case "foreign":
			ru.absolute = absForeign
		default:
			c.errorf(at("absolute"), "%s: absolute %q is unknown; use any (an absolute-form target) or foreign (one whose host differs from the logged Host)", desc, d.Absolute)
		}
		filtered := len(d.Method) > 0 || len(d.Status) > 0 || len(d.Error) > 0 || d.User || d.BadRequest || d.Absolute != ""
		if d.Match.empty() && !filtered {
			c.errorf(at(), "%s: no match and no filter, so it would fire on every request; add match patterns, or a method, status, error, user, bad_request or absolute condition", desc)
		}
		if len(ru.groups) == 0 {
			p.always[i>>6] |= 1 << (i & 63)
		}
		p.rules = append(p.rules, ru)
	}
}

func httpKindNames() string {
	var names []string
	for k := phalanx.KindHTTPProbe; k <= phalanx.KindHTTPFakeCrawler; k++ {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

func (c *compiler) scenarios(specs []scenario.Spec, p *Pack) {
	cfg := scenario.DefaultConfig()
	if len(specs) > 0 {
		cfg.Scenarios = specs
		if err := cfg.Validate(); err != nil {
			c.errorf(c.line("scenarios"), "scenarios: %v", err)
		}
	}
	ssh := map[string]bool{}
	for _, s := range scenario.DefaultScenarios() {
		ssh[s.Name] = true
	}
	for i, s := range specs {
		if ssh[s.Name] {
			c.errorf(c.line("scenarios", i, "name"), "scenarios[%d]: name %q is taken by a built-in scenario (sshd, mail, FTP, databases, port scans); choose another, such as http-%s", i, s.Name, s.Name)
		}
		for j, k := range s.Kinds {
			if !isHTTPKind(k) {
				c.errorf(c.line("scenarios", i, "kinds", j), "scenarios[%d] (%q): kind %s is not an HTTP kind; an HTTP pack counts only %s", i, s.Name, k, httpKindNames())
			}
		}
	}
	p.scenarios = specs
}
