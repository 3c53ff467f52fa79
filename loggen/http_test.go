package loggen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func httpGen1(t testing.TB, c HTTPConfig) ([]byte, HTTPTruth) {
	t.Helper()
	var buf bytes.Buffer
	tr, err := HTTP(&buf, c)
	if err != nil {
		t.Fatalf("HTTP(%+v): %v", c, err)
	}
	return buf.Bytes(), tr
}

// quoted matches a field nginx writes between double quotes: printable
// ASCII except '"' and '\', or \xHH escapes.
const quoted = `"((?:[ !#-\[\]-~]|\\x[0-9A-F]{2})*)"`

// combinedRE is nginx's "combined" log format, strictly.
var combinedRE = regexp.MustCompile(`^([0-9a-f.:]+) - ([A-Za-z0-9._-]+) \[([0-3][0-9]/[A-Z][a-z]{2}/[0-9]{4}:[0-2][0-9]:[0-5][0-9]:[0-5][0-9] [+-][0-9]{4})\] ` +
	quoted + ` ([1-5][0-9]{2}) ([0-9]+) ` + quoted + ` ` + quoted + `$`)

// requestRE is an HTTP request line.
var requestRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT) (\S+) HTTP/(1\.0|1\.1|2\.0)$`)

type httpLine struct {
	n      int
	addr   netip.Addr
	user   string
	t      time.Time
	method string // empty for a request line that is not HTTP
	uri    string
	status int
	size   int
	ref    string
	ua     string
}

// parseHTTP parses every line strictly, failing the test on the first that
// is not combined, and checks that time never goes back.
func parseHTTP(t testing.TB, out []byte) []httpLine {
	t.Helper()
	var ls []httpLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var prev time.Time
	for sc.Scan() {
		s := sc.Text()
		n := len(ls) + 1
		m := combinedRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("line %d is not nginx combined: %q", n, s)
		}
		a, err := netip.ParseAddr(m[1])
		if err != nil || a.String() != m[1] || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("line %d: address %q is not canonical: %v", n, m[1], err)
		}
		ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[3])
		if err != nil {
			t.Fatalf("line %d: time: %v", n, err)
		}
		if ts.Before(prev) {
			t.Fatalf("line %d: time %v before the previous line's %v", n, ts, prev)
		}
		prev = ts
		l := httpLine{n: n, addr: a, user: m[2], t: ts, ref: m[7], ua: m[8]}
		l.status, _ = strconv.Atoi(m[5])
		l.size, _ = strconv.Atoi(m[6])
		if r := requestRE.FindStringSubmatch(m[4]); r != nil {
			l.method, l.uri = r[1], r[2]
			if r[1] == "CONNECT" {
				if strings.Contains(r[2], "/") {
					t.Fatalf("line %d: CONNECT to %q, not host:port", n, r[2])
				}
			} else if !strings.HasPrefix(r[2], "/") && !strings.HasPrefix(r[2], "http://") {
				t.Fatalf("line %d: target %q", n, r[2])
			}
		} else {
			l.uri = m[4]
			if l.status != 400 || l.ref != "-" || l.ua != "-" {
				t.Fatalf("line %d: a request line that is not HTTP must be a 400 with no referer or agent: %q", n, s)
			}
		}
		if (l.status == 304 || l.status == 499 || l.method == "HEAD") && l.size != 0 {
			t.Fatalf("line %d: %d with a body of %d bytes", n, l.status, l.size)
		}
		ls = append(ls, l)
	}
	return ls
}

// httpIndex attributes addresses to the truth's actors.
type httpIndex struct {
	addr   map[netip.Addr]*HTTPActor
	prefix map[netip.Prefix]*HTTPActor
	class  map[*HTTPActor]string
}

func newHTTPIndex(t testing.TB, tr HTTPTruth) *httpIndex {
	t.Helper()
	x := &httpIndex{addr: map[netip.Addr]*HTTPActor{}, prefix: map[netip.Prefix]*HTTPActor{}, class: map[*HTTPActor]string{}}
	slash64 := map[netip.Prefix]string{}
	for class, l := range map[string][]HTTPActor{"attack": tr.Attackers, "legit": tr.Legit, "evasive": tr.Evasive} {
		for i := range l {
			a := &l[i]
			x.class[a] = class
			var p netip.Prefix
			switch {
			case a.Prefix.IsValid() == a.Addr.IsValid():
				t.Fatalf("%s actor %+v: give exactly one of addr and prefix", class, *a)
			case a.Prefix.IsValid():
				if a.Prefix.Bits() != 64 || a.Prefix != a.Prefix.Masked() {
					t.Fatalf("%s actor %+v: prefix is not a /64", class, *a)
				}
				x.prefix[a.Prefix] = a
				p = a.Prefix
			default:
				if x.addr[a.Addr] != nil {
					t.Fatalf("%v listed twice", a.Addr)
				}
				x.addr[a.Addr] = a
				p = netip.PrefixFrom(a.Addr, 64).Masked()
			}
			if a.Requests < 1 || a.Behaviour == "" {
				t.Fatalf("%s actor %+v: no requests or no behaviour", class, *a)
			}
			if a.CutShort && class != "evasive" {
				t.Fatalf("%s actor %+v is cut short", class, *a)
			}
			if p.Addr().Is6() {
				// Detectors group IPv6 by /64: no /64 may hold two actors.
				if other, ok := slash64[p]; ok {
					t.Fatalf("%s actor %+v shares %v with a %s actor", class, *a, p, other)
				}
				slash64[p] = class
			}
		}
	}
	return x
}

func (x *httpIndex) of(a netip.Addr) *HTTPActor {
	if v, ok := x.addr[a]; ok {
		return v
	}
	if a.Is6() {
		return x.prefix[netip.PrefixFrom(a, 64).Masked()]
	}
	return nil
}

func TestHTTPDeterministic(t *testing.T) {
	c := HTTPConfig{Lines: 20_000, Seed: 7}
	a, ta := httpGen1(t, c)
	b, tb := httpGen1(t, c)
	if !bytes.Equal(a, b) || !reflect.DeepEqual(ta, tb) {
		t.Fatal("the same config gave different output")
	}
	c.Seed = 8
	d, _ := httpGen1(t, c)
	if bytes.Equal(a, d) {
		t.Fatal("seeds 7 and 8 gave the same output")
	}
}

func TestHTTPLineCount(t *testing.T) {
	for _, c := range []HTTPConfig{
		{Lines: 0}, {Lines: 1}, {Lines: 17, Seed: 3}, {Lines: 5000, Clients: 1, Attackers: 1},
		{Lines: 30_000, Seed: -4, Clients: 150, Attackers: 20},
	} {
		out, tr := httpGen1(t, c)
		if got := bytes.Count(out, []byte{'\n'}); got != c.Lines {
			t.Errorf("%+v: %d lines", c, got)
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Errorf("%+v: last line unterminated", c)
		}
		sum := 0
		for _, l := range [][]HTTPActor{tr.Attackers, tr.Legit, tr.Evasive} {
			for _, a := range l {
				sum += a.Requests
			}
		}
		if sum != c.Lines {
			t.Errorf("%+v: the truth's requests add up to %d", c, sum)
		}
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	for _, c := range []HTTPConfig{
		{Lines: -1}, {Lines: 1, Clients: -1}, {Lines: 1, Clients: MaxHTTPClients + 1},
		{Lines: 1, Attackers: -2}, {Lines: 1, Attackers: MaxHTTPAttackers + 1},
	} {
		var buf bytes.Buffer
		if _, err := HTTP(&buf, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
		if buf.Len() > 0 {
			t.Errorf("%+v: wrote despite the error", c)
		}
	}
}

type httpFailWriter struct{ n int }

func (f *httpFailWriter) Write(p []byte) (int, error) {
	if f.n += len(p); f.n > 1<<20 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestHTTPWriteError(t *testing.T) {
	if _, err := HTTP(&httpFailWriter{}, HTTPConfig{Lines: 100_000}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the write error", err)
	}
}

func TestHTTPStartAndZone(t *testing.T) {
	start := time.Date(2026, 12, 6, 16, 21, 43, 0, time.FixedZone("CET", 3600))
	out, _ := httpGen1(t, HTTPConfig{Lines: 2000, Seed: 2, Start: start})
	ls := parseHTTP(t, out)
	if !strings.Contains(string(out[:200]), "/Dec/2026:") || !strings.Contains(string(out[:200]), " +0100] ") {
		t.Errorf("first line %q: want December 2026 in +0100", out[:bytes.IndexByte(out, '\n')])
	}
	if d := ls[0].t.Sub(start); d < 0 || d > 10*time.Second {
		t.Errorf("first line at %v, start %v", ls[0].t, start)
	}
}

// TestHTTPTruthMatchesLog: every line's address belongs to exactly one
// listed actor, every listed actor has exactly the lines it claims.
func TestHTTPTruthMatchesLog(t *testing.T) {
	for _, c := range []HTTPConfig{
		{Lines: 50_000, Seed: 1},
		{Lines: 40_000, Seed: 5, Clients: 300, Attackers: 40},
		{Lines: 20_000, Seed: 6, Clients: 20, Attackers: 3},
	} {
		out, tr := httpGen1(t, c)
		x := newHTTPIndex(t, tr)
		ls := parseHTTP(t, out)
		got := map[*HTTPActor]int{}
		for _, l := range ls {
			a := x.of(l.addr)
			if a == nil {
				t.Fatalf("%+v: line %d: %v is in no list of the truth", c, l.n, l.addr)
			}
			got[a]++
		}
		for a, class := range x.class {
			if got[a] != a.Requests {
				t.Errorf("%+v: %s actor %v %v claims %d requests, the log has %d", c, class, a.Addr, a.Prefix, a.Requests, got[a])
			}
		}
	}
}

func behaviours(l []HTTPActor) map[string]int {
	m := map[string]int{}
	for _, a := range l {
		m[a.Behaviour]++
	}
	return m
}

func TestHTTPBehavioursAppear(t *testing.T) {
	_, tr := httpGen1(t, HTTPConfig{Lines: 50_000, Seed: 1})
	att, leg, eva := behaviours(tr.Attackers), behaviours(tr.Legit), behaviours(tr.Evasive)
	for _, b := range HTTPBehaviours() {
		var n int
		switch b.Class {
		case "attack":
			n = att[b.Name]
		case "legit":
			n = leg[b.Name]
		case "evasive":
			n = eva[b.Name]
		default:
			t.Errorf("behaviour %q: class %q", b.Name, b.Class)
		}
		if n == 0 {
			t.Errorf("no %s %q in 50,000 lines", b.Class, b.Name)
		}
		if b.About == "" {
			t.Errorf("behaviour %q undescribed", b.Name)
		}
	}
	t.Logf("attackers %v", att)
	t.Logf("legit %v", leg)
	t.Logf("evasive %v", eva)
}

// refRule is one rule of the reference pack: it fires when cap matching
// events (distinct by key, when the rule gives keys) fall within window.
type refRule struct {
	name   string
	window time.Duration
	cap    int
	match  func(l *httpLine, f refFeatures) (bool, string)
}

var (
	refCVE = regexp.MustCompile(`(?i)\$\{jndi:|\$\{.*\$\{lower:|eval-stdin\.php|invokefunction|_ignition/execute-solution|/cgi-bin/(\.%2e|luci/;stok=|kerbynet|bash)|/icons/\.%2e|` +
		`GponForm|/vpns/|fgt_lang|/api/v2/cmdb/|/tmui/|/mgmt/tm/util|%24%7B%28%23|/actuator/gateway|/SDK/webLanguage|/HNAP1|setup\.cgi\?next_file|` +
		`^/shell\?|/boaform/|php-cgi\.exe|hipreport\.esp|/api/v1/totp/|moveitisapi|autodiscover\.json\?@|bootstrapStatusProvider|element_parents=|` +
		`wls-wsat|/ztp/cgi-bin|/webtools/control/|wp-file-manager/lib|/\+CSCOT\+/|class\.module\.classLoader|device\.rsp|/oauth/idp/`)
	refTraversal = regexp.MustCompile(`(?i)\.\./|\.\.%2f|%2e%2e|\.%2e|%252e|\.\.%5c|%c0%af|\.\.;/|/etc/(passwd|shadow|hosts)|win\.ini|boot\.ini|/proc/self/|php://`)
	refBadUA     = regexp.MustCompile(`(?i)nikto|sqlmap|nuclei|zgrab|gobuster|fuzz faster|nmap|wpscan|l9scan|dirbuster|feroxbuster|masscan|\(\) \{|\$\{jndi`)
	refSensitive = regexp.MustCompile(`(?i)/\.(env|git|svn|hg|aws|ssh|docker|vscode|idea|kube|htpasswd|htaccess|ds_store|bash_history|npmrc|pypirc)|wp-config\.(php\.|php~|bak|txt)|` +
		`\.(sql|tfstate)$|backup|/(site|www|html|public_html|shop)\.zip|\.example\.com\.(zip|tar)|/(config|secrets|credentials|service-account|firebase)\.(json|ya?ml)|` +
		`docker-compose|id_rsa|id_ed25519|\.log$|/env\.php|settings\.php|database\.yml|master\.key`)
	refAdmin = regexp.MustCompile(`(?i)phpmyadmin|/pma/|myadmin|sqladmin|dbadmin|adminer|/(host-)?manager/(html|status)|/administrator/|/admin(/|\.php)|cpanel|/whm|webmin|` +
		`solr/admin|jenkins|/console/|jmx-console|web-console|axis2-admin|druid|rabbitmq|pgadmin|mongo-express|redis-commander|portainer|kibana|grafana|` +
		`/_admin/|typo3|bitrix|netdata|plesk|directadmin|siteadmin|haproxy\?stats|nginx_status`)
	refSQLi = regexp.MustCompile(`(?i)union\s+(all\s+)?select|sleep\s*\(|pg_sleep|waitfor\s+delay|extractvalue|information_schema|order\s+by\s+\d|` +
		`'\s*(or|and)\s|\s(or|and)\s+\d+\s*=\s*\d+|'\s*$|"\s*$|char\(\d+\)|convert\(int|rlike|drop\s+table|0x[0-9a-f]{8,}|sysdate\(\)|%'`)
	refXSS = regexp.MustCompile(`(?i)<\s*(script|svg|img|iframe|body|details|a\s)|on(error|load|toggle|mouseover)\s*=|javascript:|alert\(|prompt\(|confirm\(|\{\{.*\}\}|\$\{`)
)

// refFeatures are what the reference pack's signatures say of a line.
type refFeatures struct {
	cve, traversal, sensitive, admin, sqli, xss, badUA bool
}

// refMatcher computes features, remembering them per URI and per user
// agent (both repeat a lot).
type refMatcher struct {
	uri map[string]refFeatures
	ua  map[string]bool
}

func (m *refMatcher) features(l *httpLine) refFeatures {
	f, ok := m.uri[l.uri]
	if !ok {
		q := query(l.uri)
		f = refFeatures{
			cve:       refCVE.MatchString(l.uri),
			traversal: refTraversal.MatchString(l.uri),
			sensitive: refSensitive.MatchString(l.uri),
			admin:     refAdmin.MatchString(l.uri),
			sqli:      refSQLi.MatchString(q),
			xss:       refXSS.MatchString(q),
		}
		m.uri[l.uri] = f
	}
	bad, ok := m.ua[l.ua]
	if !ok {
		bad = refBadUA.MatchString(l.ua)
		m.ua[l.ua] = bad
	}
	f.badUA = bad
	return f
}

// staticExt reports whether a path names a static file, whose 404s probing
// rules ignore.
func staticExt(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".woff", ".woff2", ".ttf", ".map":
		return true
	}
	return false
}

// query returns the URI's query string, URL-decoded where it can be.
func query(uri string) string {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return ""
	}
	if d, err := url.QueryUnescape(q); err == nil {
		return d
	}
	return q
}

// referencePack is a reasonable HTTP rule pack, the kind CrowdSec's default
// collections and fail2ban's nginx jails add up to: signatures that fire on
// one request, and short burst windows. The truth is honest if it catches
// every attacker, no legitimate client, and (being burst rules) none of the
// low-and-slow probers.
func referencePack() []refRule {
	return []refRule{
		{"cve", time.Minute, 1, func(l *httpLine, f refFeatures) (bool, string) { return f.cve, "" }},
		{"traversal", time.Minute, 1, func(l *httpLine, f refFeatures) (bool, string) { return f.traversal, "" }},
		{"bad-user-agent", time.Minute, 1, func(l *httpLine, f refFeatures) (bool, string) { return f.badUA, "" }},
		{"open-proxy", time.Minute, 1, func(l *httpLine, f refFeatures) (bool, string) {
			return l.method == "CONNECT" || strings.HasPrefix(l.uri, "http://"), ""
		}},
		{"not-http", 2 * time.Minute, 3, func(l *httpLine, f refFeatures) (bool, string) { return l.method == "", "" }},
		{"sensitive-files", time.Minute, 3, func(l *httpLine, f refFeatures) (bool, string) {
			return l.status >= 400 && f.sensitive, l.uri
		}},
		{"probing", time.Minute, 10, func(l *httpLine, f refFeatures) (bool, string) {
			p, _, _ := strings.Cut(l.uri, "?")
			return l.method != "" && (l.status == 400 || l.status == 403 || l.status == 404) && !staticExt(p), p
		}},
		{"admin-interface", time.Minute, 4, func(l *httpLine, f refFeatures) (bool, string) {
			return l.status >= 400 && f.admin, l.uri
		}},
		{"sqli", time.Minute, 3, func(l *httpLine, f refFeatures) (bool, string) { return f.sqli, "" }},
		{"xss", time.Minute, 3, func(l *httpLine, f refFeatures) (bool, string) { return f.xss, "" }},
		{"wordpress-bf", 2 * time.Minute, 5, func(l *httpLine, f refFeatures) (bool, string) {
			return l.method == "POST" && l.uri == "/wp-login.php" && l.status == 200, ""
		}},
		{"xmlrpc", time.Minute, 10, func(l *httpLine, f refFeatures) (bool, string) {
			return l.method == "POST" && l.uri == "/xmlrpc.php", ""
		}},
		{"login-bf", 2 * time.Minute, 5, func(l *httpLine, f refFeatures) (bool, string) {
			return l.method == "POST" && l.uri == "/login" && l.status == 401, ""
		}},
	}
}

type refEvent struct {
	t   time.Time
	key string
}

// runReferencePack returns, per source (an IPv4 address or an IPv6 /64),
// the first rule that fired.
func runReferencePack(ls []httpLine) map[netip.Prefix]string {
	rules := referencePack()
	m := &refMatcher{uri: map[string]refFeatures{}, ua: map[string]bool{}}
	src := map[netip.Prefix][][]refEvent{}
	banned := map[netip.Prefix]string{}
	for i := range ls {
		l := &ls[i]
		bits := 32
		if l.addr.Is6() {
			bits = 64
		}
		k := netip.PrefixFrom(l.addr, bits).Masked()
		if _, ok := banned[k]; ok {
			continue
		}
		f := m.features(l)
		for ri, r := range rules {
			ok, key := r.match(l, f)
			if !ok {
				continue
			}
			evs := src[k]
			if evs == nil {
				evs = make([][]refEvent, len(rules))
				src[k] = evs
			}
			ev := evs[ri]
			j := 0
			for j < len(ev) && l.t.Sub(ev[j].t) >= r.window {
				j++
			}
			ev = append(ev[j:], refEvent{l.t, key})
			evs[ri] = ev
			n := len(ev)
			if key != "" {
				n = 0
				for a := range ev {
					dup := false
					for b := range a {
						if ev[b].key == ev[a].key {
							dup = true
							break
						}
					}
					if !dup {
						n++
					}
				}
			}
			if n >= r.cap {
				banned[k] = r.name
				break
			}
		}
	}
	return banned
}

func actorKey(a *HTTPActor) netip.Prefix {
	if a.Prefix.IsValid() {
		return a.Prefix
	}
	if a.Addr.Is6() {
		return netip.PrefixFrom(a.Addr, 64).Masked()
	}
	return netip.PrefixFrom(a.Addr, 32)
}

// TestHTTPTruthIsHonest runs the reference pack over the log: it must ban
// every attacker and no legitimate client, and cannot catch the low-and-
// slow probers. Attackers cut short must be at the very end of the log.
func TestHTTPTruthIsHonest(t *testing.T) {
	for _, c := range []HTTPConfig{{Lines: 120_000, Seed: 1}, {Lines: 60_000, Seed: 99, Clients: 500, Attackers: 600}} {
		out, tr := httpGen1(t, c)
		ls := parseHTTP(t, out)
		banned := runReferencePack(ls)
		byRule := map[string]int{}
		for _, a := range tr.Attackers {
			r, ok := banned[actorKey(&a)]
			if !ok {
				t.Errorf("%+v: attacker %v%v (%s, %d requests) escapes the reference pack", c, a.Addr, a.Prefix, a.Behaviour, a.Requests)
			}
			byRule[a.Behaviour+"/"+r]++
		}
		for _, a := range tr.Legit {
			if r, ok := banned[actorKey(&a)]; ok {
				t.Errorf("%+v: legitimate %v (%s, %d requests) banned by %s", c, a.Addr, a.Behaviour, a.Requests, r)
			}
		}
		last := map[netip.Prefix]time.Time{}
		for _, l := range ls {
			bits := 32
			if l.addr.Is6() {
				bits = 64
			}
			last[netip.PrefixFrom(l.addr, bits).Masked()] = l.t
		}
		end := ls[len(ls)-1].t
		caughtSlow := 0
		for _, a := range tr.Evasive {
			k := actorKey(&a)
			switch {
			case a.CutShort:
				if end.Sub(last[k]) > 2*time.Minute {
					t.Errorf("%+v: %v (%s) cut short, but its last line is %v before the end", c, k, a.Behaviour, end.Sub(last[k]))
				}
			case a.Behaviour != "low-and-slow":
				t.Errorf("%+v: evasive %v is %q", c, k, a.Behaviour)
			default:
				if _, ok := banned[k]; ok {
					caughtSlow++
				}
			}
		}
		if caughtSlow > 0 {
			t.Errorf("%+v: the reference pack caught %d low-and-slow probers: they are not evasive", c, caughtSlow)
		}
		t.Logf("%+v: %d attackers, %d legit, %d evasive; caught by: %v", c, len(tr.Attackers), len(tr.Legit), len(tr.Evasive), byRule)
	}
}

// TestHTTPLegitTraps: the legitimate traffic holds what naive rules trip
// on, and stays within what reasonable ones allow.
func TestHTTPLegitTraps(t *testing.T) {
	out, tr := httpGen1(t, HTTPConfig{Lines: 200_000, Seed: 3})
	x := newHTTPIndex(t, tr)
	ls := parseHTTP(t, out)
	want := map[string]bool{
		"favicon 404": false, "apple-touch-icon 404": false, "source map 404": false, "stale asset 404": false,
		"304": false, "499": false, "500": false, "400": false, "robots.txt": false, "crawler 404": false,
		"login 401 then 302": false, "wp-login 200 then 302": false, "api 401": false, "basic-auth api user": false,
		"union+station": false, "quote in a search": false, "heartbeat": false, "HEAD monitor": false,
		"IPv6 browser": false, "googlebot IPv6": false,
	}
	perAddr := map[netip.Addr][]*httpLine{}
	for i := range ls {
		l := &ls[i]
		a := x.of(l.addr)
		if x.class[a] != "legit" {
			continue
		}
		perAddr[l.addr] = append(perAddr[l.addr], l)
		set := func(k string, ok bool) {
			if ok {
				want[k] = true
			}
		}
		set("favicon 404", l.uri == "/favicon.ico" && l.status == 404)
		set("apple-touch-icon 404", strings.HasPrefix(l.uri, "/apple-touch-icon") && l.status == 404)
		set("source map 404", strings.HasSuffix(l.uri, ".map") && l.status == 404)
		set("stale asset 404", strings.HasPrefix(l.uri, "/assets/") && l.status == 404 && !strings.HasSuffix(l.uri, ".map"))
		set("304", l.status == 304)
		set("499", l.status == 499)
		set("500", l.status == 500)
		set("400", l.status == 400)
		set("robots.txt", l.uri == "/robots.txt")
		set("crawler 404", a.Behaviour == "crawler" && l.status == 404)
		set("api 401", a.Behaviour == "api-client" && l.status == 401)
		set("basic-auth api user", a.Behaviour == "api-client" && l.user != "-")
		set("union+station", strings.Contains(l.uri, "union+station"))
		set("quote in a search", strings.Contains(l.uri, "q=o%27neill"))
		set("heartbeat", l.uri == "/wp-admin/admin-ajax.php")
		set("HEAD monitor", a.Behaviour == "monitor" && l.method == "HEAD")
		set("IPv6 browser", a.Behaviour == "browser" && l.addr.Is6())
		set("googlebot IPv6", a.Behaviour == "crawler" && l.addr.Is6())
		if l.user != "-" && a.Behaviour != "api-client" {
			t.Errorf("line %d: legitimate %s with user %q", l.n, a.Behaviour, l.user)
		}
	}
	natBusy := false
	for addr, ls := range perAddr {
		a := x.of(addr)
		var fails []time.Time
		for i, l := range ls {
			if l.method == "POST" && ((l.uri == "/login" && l.status == 401) || (l.uri == "/wp-login.php" && l.status == 200)) {
				fails = append(fails, l.t)
				for _, m := range ls[i+1:] {
					if m.method == "POST" && m.uri == l.uri && m.status == 302 {
						if l.uri == "/login" {
							want["login 401 then 302"] = true
						} else {
							want["wp-login 200 then 302"] = true
						}
						break
					}
				}
			}
		}
		for i := 2; i < len(fails); i++ {
			if fails[i].Sub(fails[i-2]) < 10*time.Minute {
				t.Errorf("legitimate %v (%s): three failed log-ins within %v", addr, a.Behaviour, fails[i].Sub(fails[i-2]))
			}
		}
		switch a.Behaviour {
		case "crawler":
			for i := 1; i < len(ls); i++ {
				if ls[i].t.Sub(ls[i-1].t) < time.Second && ls[i].t.Second() == ls[i-1].t.Second() {
					t.Errorf("crawler %v: two requests in one second (lines %d and %d)", addr, ls[i-1].n, ls[i].n)
					break
				}
			}
			ua := ls[0].ua
			b := addr.As16()
			google := strings.Contains(ua, "Googlebot") && (netip.MustParsePrefix("66.249.64.0/19").Contains(addr) || (addr.Is6() && b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x48 && b[3] == 0x60))
			bing := strings.Contains(ua, "bingbot")
			if !google && !bing {
				t.Errorf("crawler %v with %q is outside its engine's ranges", addr, ua)
			}
		case "nat":
			// Hundreds of requests an hour and repeated 404s of a few
			// missing assets.
			n404, distinct := 0, map[string]bool{}
			for _, l := range ls {
				if l.status == 404 && l.t.Sub(ls[0].t) < time.Hour {
					n404++
					distinct[l.uri] = true
				}
			}
			if len(ls) > 300 && ls[300].t.Sub(ls[0].t) < time.Hour && n404 >= 10 && len(distinct) <= 12 {
				natBusy = true
			}
		}
	}
	if !natBusy {
		t.Error("no NAT gateway with 300 requests and 10 404s of a few assets within an hour")
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no legitimate %s in 200,000 lines", k)
		}
	}
	// Crawler ranges hold crawlers only; fake Googlebots are outside them.
	for _, a := range append(tr.Attackers, tr.Evasive...) {
		if a.Addr.Is4() && crawlerV4(a.Addr.As4()) {
			t.Errorf("attacker %v (%s) in a crawler range", a.Addr, a.Behaviour)
		}
	}
}

func TestHTTPIPv6(t *testing.T) {
	_, tr := httpGen1(t, HTTPConfig{Lines: 100_000, Seed: 4})
	var rot, fixed6, legit6 int
	for _, a := range tr.Attackers {
		switch {
		case a.Prefix.IsValid():
			rot++
		case a.Addr.Is6():
			fixed6++
		}
	}
	for _, a := range tr.Legit {
		if a.Addr.Is6() {
			legit6++
		}
	}
	if rot == 0 || fixed6 == 0 || legit6 < len(tr.Legit)/10 {
		t.Errorf("rotating IPv6 attackers %d, fixed %d, legitimate IPv6 %d of %d", rot, fixed6, legit6, len(tr.Legit))
	}
}

func TestHTTPTruthJSON(t *testing.T) {
	_, tr := httpGen1(t, HTTPConfig{Lines: 30_000, Seed: 2})
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back HTTPTruth
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, tr) {
		t.Error("truth does not survive JSON")
	}
	if bytes.Contains(b, []byte(`"prefix":""`)) || bytes.Contains(b, []byte(`"addr":""`)) {
		t.Error("empty addr or prefix written")
	}
}

// TestHTTPManyClients: a run can hold about 100,000 distinct clients.
func TestHTTPManyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a million lines")
	}
	var buf bytes.Buffer
	tr, err := HTTP(&buf, HTTPConfig{Lines: 1_000_000, Seed: 1, Clients: 100_000, Attackers: 3000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]struct{}{}
	for line := range bytes.Lines(buf.Bytes()) {
		seen[string(line[:bytes.IndexByte(line, ' ')])] = struct{}{}
	}
	if len(tr.Legit) < 80_000 {
		t.Errorf("%d legitimate clients in 1,000,000 lines, want about 100,000", len(tr.Legit))
	}
	t.Logf("%d distinct addresses: %d legit, %d attackers, %d evasive", len(seen), len(tr.Legit), len(tr.Attackers), len(tr.Evasive))
}

func FuzzHTTP(f *testing.F) {
	f.Add(int64(1), uint16(100), uint16(0), uint8(0))
	f.Add(int64(-9), uint16(3000), uint16(101), uint8(1))
	f.Add(int64(42), uint16(0), uint16(7), uint8(200))
	f.Fuzz(func(t *testing.T, seed int64, lines, clients uint16, attackers uint8) {
		c := HTTPConfig{Lines: int(lines), Seed: seed, Clients: int(clients), Attackers: int(attackers)}
		out, tr := httpGen1(t, c)
		if got := bytes.Count(out, []byte{'\n'}); got != c.Lines {
			t.Fatalf("wrote %d lines, want %d", got, c.Lines)
		}
		x := newHTTPIndex(t, tr)
		for _, l := range parseHTTP(t, out) {
			if x.of(l.addr) == nil {
				t.Fatalf("line %d: %v not in the truth", l.n, l.addr)
			}
		}
	})
}

func BenchmarkHTTP(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		if _, err := HTTP(io.Discard, HTTPConfig{Lines: n, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
