package httprules

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"phalanx"
	"phalanx/parser/httplog"
)

// defaultPack compiles default.yaml once for all tests.
var defaultPack = sync.OnceValue(Default)

// req is a request as the test files write it.
type req struct {
	Method  string `yaml:"method"`
	URI     string `yaml:"uri"`
	Status  int    `yaml:"status"`
	Agent   string `yaml:"agent"`
	Referer string `yaml:"referer"`
	User    string `yaml:"user"`
	Host    string `yaml:"host"`
	Error   string `yaml:"error"`
	Path    string `yaml:"path"` // the file an error line names instead of the request
	Bad     bool   `yaml:"bad"`
	None    bool   `yaml:"none"` // no request at all ("-")
}

func (q req) String() string {
	var b strings.Builder
	m, st := q.Method, q.Status
	if m == "" {
		m = "GET"
	}
	if st == 0 && q.Error == "" && !q.Bad {
		st = 200
	}
	fmt.Fprintf(&b, "%s %q %d", m, q.URI, st)
	for _, kv := range [][2]string{{"agent", q.Agent}, {"referer", q.Referer}, {"user", q.User}, {"host", q.Host}, {"error", q.Error}, {"path", q.Path}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
		}
	}
	if q.Bad {
		b.WriteString(" bad")
	}
	if q.None {
		b.WriteString(" none")
	}
	return b.String()
}

// request builds the httplog.Request the parser would.
func (q req) request(t testing.TB) *httplog.Request {
	t.Helper()
	r := &httplog.Request{Status: q.Status, BadRequest: q.Bad, NoRequest: q.None}
	if !q.Bad && !q.None {
		m := q.Method
		if m == "" {
			m = "GET"
		}
		if q.URI != "" {
			r.Method, r.URI, r.Proto = []byte(m), []byte(q.URI), []byte("HTTP/1.1")
		}
	}
	if q.Status == 0 && q.Error == "" && !q.Bad {
		r.Status = 200
	}
	r.UserAgent, r.Referer, r.User, r.Host = bytesOrNil(q.Agent), bytesOrNil(q.Referer), bytesOrNil(q.User), bytesOrNil(q.Host)
	r.Path = bytesOrNil(q.Path)
	if q.Error != "" {
		k, ok := errorKinds[q.Error]
		if !ok {
			t.Fatalf("unknown error kind %q", q.Error)
		}
		r.Error = k
	}
	return r
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// ruleCases are testdata/rules.yaml: per rule name, requests that fire it
// and near misses.
type ruleCases map[string]struct {
	Fire []req `yaml:"fire"`
	Miss []req `yaml:"miss"`
}

func readRuleCases(t testing.TB) ruleCases {
	t.Helper()
	data, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases ruleCases
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("testdata/rules.yaml: %v", err)
	}
	return cases
}

// TestRuleCases checks every rule of the default pack against its cases:
// each fire request yields a hit of the rule's kind naming the rule, each
// near miss yields no hit of that kind. A rule without a fire and a miss
// case fails the test, and so does a case for a rule that does not exist.
func TestRuleCases(t *testing.T) {
	p := defaultPack()
	cases := readRuleCases(t)
	kinds := map[string]phalanx.Kind{}
	for _, h := range p.Rules() {
		kinds[h.Rule] = h.Kind
		c, ok := cases[h.Rule]
		switch {
		case !ok:
			t.Errorf("rule %q has no cases in testdata/rules.yaml", h.Rule)
		case len(c.Fire) == 0 || len(c.Miss) == 0:
			t.Errorf("rule %q needs at least one fire and one miss case", h.Rule)
		}
	}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kind, ok := kinds[name]
		if !ok {
			t.Errorf("testdata/rules.yaml has cases for %q, which is not a rule of the pack", name)
			continue
		}
		c := cases[name]
		for _, q := range c.Fire {
			hits := p.Classify(q.request(t), nil)
			if got := hitOf(hits, kind); got != name {
				t.Errorf("%s: fire %v: %s hit is %q, want %q (all hits: %v)", name, q, kind, got, name, hits)
			}
		}
		for _, q := range c.Miss {
			hits := p.Classify(q.request(t), nil)
			if got := hitOf(hits, kind); got != "" {
				t.Errorf("%s: near miss %v: got %s hit %q (all hits: %v)", name, q, kind, got, hits)
			}
		}
	}
}

// hitOf returns the rule named by the hit of kind k, or "".
func hitOf(hits []Hit, k phalanx.Kind) string {
	for _, h := range hits {
		if h.Kind == k {
			return h.Rule
		}
	}
	return ""
}

// TestDefault checks the embedded pack: it loads, holds at least 40 known
// exploit rules, and its scenarios are valid, named apart from the ssh
// scenarios, and count every kind its rules produce.
func TestDefault(t *testing.T) {
	p := Default() // panics if default.yaml is broken
	perKind := map[phalanx.Kind]int{}
	for _, h := range p.Rules() {
		perKind[h.Kind]++
	}
	if n := perKind[phalanx.KindHTTPCVE]; n < 40 {
		t.Errorf("%d http-cve rules, want at least 40", n)
	}
	counted := map[phalanx.Kind]bool{}
	for _, s := range p.Scenarios() {
		for _, k := range s.Kinds {
			counted[k] = true
		}
	}
	for k := phalanx.KindHTTPProbe; k <= phalanx.KindHTTPFakeCrawler; k++ {
		if !counted[k] {
			t.Errorf("no scenario counts %s", k)
		}
		if perKind[k] == 0 && k != phalanx.KindHTTPFakeCrawler {
			t.Errorf("no rule produces %s", k)
		}
	}
	uri, hdr := p.automata()
	t.Logf("rules per kind: %v; scenarios: %d; URI automaton %d states × %d classes (%d KiB), header automaton %d × %d (%d KiB)",
		perKind, len(p.Scenarios()), uri.states, uri.stride, uri.size()>>10, hdr.states, hdr.stride, hdr.size()>>10)

	// Scenarios returns copies.
	s := p.Scenarios()
	s[0].Kinds[0] = phalanx.KindAuthFailure
	s[0].Name = "changed"
	if again := p.Scenarios(); again[0].Kinds[0] == phalanx.KindAuthFailure || again[0].Name == "changed" {
		t.Error("Scenarios returned the pack's own slices")
	}
	if !bytes.Equal(DefaultYAML(), defaultYAML) {
		t.Error("DefaultYAML differs from the embedded file")
	}
}

// TestCrawler checks crawler claims and their verification domains.
func TestCrawler(t *testing.T) {
	p := defaultPack()
	cases := []struct {
		ua, name, domain string
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot", "googlebot.com"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.201 Safari/537.36", "googlebot", "google.com"},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", "search.msn.com"},
		{"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "yahoo-slurp", "crawl.yahoo.net"},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "yandex", "yandex.ru"},
		{"Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)", "yandex", "yandex.net"},
		{"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "baiduspider", "baidu.jp"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "applebot", "applebot.apple.com"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/600.2.5 (KHTML, like Gecko) Version/8.0.2 Safari/600.2.5 (Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)", "amazonbot", "crawl.amazonbot.amazon"},
		{"Mozilla/5.0 (compatible; SeznamBot/4.0; +https://o-seznam.cz/napoveda/vyhledavani/en/seznambot-crawler/)", "seznambot", "seznam.cz"},
	}
	for _, c := range cases {
		name, domains, ok := p.Crawler([]byte(c.ua))
		if !ok || name != c.name || !contains(domains, c.domain) {
			t.Errorf("Crawler(%q) = %q, %v, %v; want %q with %s", c.ua, name, domains, ok, c.name, c.domain)
		}
	}
	for _, ua := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)",
		"curl/8.5.0", "",
	} {
		if name, _, ok := p.Crawler([]byte(ua)); ok {
			t.Errorf("Crawler(%q) = %q, want none", ua, name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPath checks Event.Path.
func TestPath(t *testing.T) {
	cases := []struct {
		method, uri, want string
	}{
		{"GET", "/a/b?c=d", "/a/b"},
		{"GET", "/a%20b/%2e%2e/c#frag", "/a b/../c"},
		{"GET", "/%252e", "/%2e"},
		{"GET", "/a+b", "/a+b"},
		{"GET", "/bad%zz%4", "/bad%zz%4"},
		{"GET", "http://example.org/x?y", "/x"},
		{"GET", "https://example.org", "/"},
		{"GET", "http://example.org?q", "/"},
		{"CONNECT", "example.org:443", ""},
		{"GET", "", ""},
		{"OPTIONS", "*", "*"},
	}
	var buf []byte
	for _, c := range cases {
		r := &httplog.Request{Method: []byte(c.method), URI: []byte(c.uri)}
		buf = Path(r, buf)
		if string(buf) != c.want {
			t.Errorf("Path(%s %q) = %q, want %q", c.method, c.uri, buf, c.want)
		}
	}
	long := &httplog.Request{Method: []byte("GET"), URI: []byte("/" + strings.Repeat("a", 70_000))}
	if n := len(Path(long, nil)); n != MaxURIScan {
		t.Errorf("Path of a 70 KB path has %d bytes, want %d", n, MaxURIScan)
	}
}

// TestClassifyDetails covers matching details the rule cases do not show
// one by one.
func TestClassifyDetails(t *testing.T) {
	p := defaultPack()
	cases := []struct {
		q    req
		want []string // "kind/rule", in order
	}{
		// Several kinds at once, one hit each.
		{req{URI: "/cgi-bin/.%2e/.%2e/etc/passwd", Status: 404}, []string{"http-probe/missing-or-forbidden", "http-traversal/dot-dot-slash", "http-cve/CVE-2021-41773 apache-traversal"}},
		// The first rule of a kind names the hit: wordpress-config before editor-backup-copies.
		{req{URI: "/wp-config.php.bak"}, []string{"http-sensitive/wordpress-config"}},
		// A path beyond the scan limit is not judged by its suffix.
		{req{URI: "/" + strings.Repeat("a", MaxURIScan) + "/.env"}, nil},
		// But what lies within the limit still counts.
		{req{URI: "/.git/config?" + strings.Repeat("a", 60_000)}, []string{"http-sensitive/vcs-metadata"}},
		// Queries are not paths.
		{req{URI: "/search?q=/.env"}, nil},
		// %3f in a path is part of the path.
		{req{URI: "/.env%3fx"}, nil},
		{req{URI: "/a%3f/.env"}, []string{"http-sensitive/dotenv"}},
		// An error line without a request.
		{req{Error: "limited"}, []string{"http-rate-limited/nginx-limit-req"}},
		// A bad request matches only bad_request rules, whatever its status.
		{req{Bad: true, Status: 404}, []string{"http-bad-request/not-http"}},
		{req{None: true, Status: 400}, nil},
		// Case is ignored in methods too.
		{req{Method: "post", URI: "/wp-login.php", Status: 200}, []string{"http-wp-login/wp-login-failed"}},
		{req{Method: "GET", URI: "/", Status: 200, Agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Referer: "https://www.google.com/"}, nil},
	}
	for _, c := range cases {
		hits := p.Classify(c.q.request(t), nil)
		var got []string
		for _, h := range hits {
			got = append(got, h.Kind.String()+"/"+h.Rule)
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%v:\n got %v\nwant %v", c.q, got, c.want)
		}
	}
}

// TestClassifierMemo checks the Classifier against the Pack where its memo
// matters: values that evict each other, values too long to remember,
// values that prove more groups than an entry holds, and the same value as
// User-Agent and as Referer.
func TestClassifierMemo(t *testing.T) {
	var y strings.Builder
	y.WriteString("rules:\n")
	for i := range memoGroups + 2 {
		fmt.Fprintf(&y, "  - {name: a%d, kind: http-bad-agent, match: {agent_contains: [tool%d]}, status: [%d]}\n", i, i, 200+i)
	}
	y.WriteString("  - {name: r, kind: http-cve, match: {referer_contains: [tool0]}}\n")
	small, err := Load([]byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	many := "tool0 tool1 tool2 tool3 tool4 tool5 tool6 tool7"
	for _, p := range []*Pack{defaultPack(), small} {
		c := p.NewClassifier()
		if c.Pack() != p {
			t.Fatal("Pack() is not the pack")
		}
		var reqs []*httplog.Request
		for i := range 3 * memoSlots {
			reqs = append(reqs, &httplog.Request{Method: []byte("GET"), URI: []byte("/x"), Status: 200 + i%8,
				UserAgent: []byte(fmt.Sprintf("agent-%d tool%d", i, i%8)), Referer: []byte(fmt.Sprintf("https://example.org/%d", i%40))})
		}
		long := strings.Repeat("a", memoKeyMax) + " sqlmap tool3 ${jndi:x}"
		reqs = append(reqs,
			&httplog.Request{Method: []byte("GET"), URI: []byte("/"), Status: 203, UserAgent: []byte(many)},
			&httplog.Request{Method: []byte("GET"), URI: []byte("/"), Status: 203, UserAgent: []byte(long), Referer: []byte(long)},
			&httplog.Request{Method: []byte("GET"), URI: []byte("/"), Status: 200, UserAgent: []byte("tool0"), Referer: []byte("tool0")},
			&httplog.Request{Method: []byte("GET"), URI: []byte("/"), Status: 200, UserAgent: []byte(googlebot), Referer: []byte(googlebot)},
		)
		for round := range 3 {
			for _, r := range reqs {
				got, want := c.Classify(r, nil), p.Classify(r, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d, agent %.40q: Classifier %v, Pack %v", round, r.UserAgent, got, want)
				}
				n1, d1, ok1 := c.Crawler(r.UserAgent)
				n2, d2, ok2 := p.Crawler(r.UserAgent)
				if n1 != n2 || ok1 != ok2 || !slices.Equal(d1, d2) {
					t.Fatalf("Crawler(%.40q): Classifier %q %v, Pack %q %v", r.UserAgent, n1, ok1, n2, ok2)
				}
			}
		}
	}
	// The seven-tool agent fires the status-matched rule a5 only through
	// the group the memo could not hold: proof the fallback scans.
	r := &httplog.Request{Method: []byte("GET"), URI: []byte("/"), Status: 206, UserAgent: []byte(many)}
	if hits := small.NewClassifier().Classify(r, nil); len(hits) != 1 || hits[0].Rule != "a6" {
		t.Errorf("hits %v, want a6", hits)
	}
}
