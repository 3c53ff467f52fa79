package loggen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Defaults and bounds applied by HTTP to zero HTTPConfig fields.
const (
	DefaultHTTPClients   = 2000
	DefaultHTTPAttackers = 300
	MaxHTTPClients       = 1 << 21
	MaxHTTPAttackers     = 1 << 20
)

// HTTPConfig says what HTTP writes. The output depends on nothing else.
type HTTPConfig struct {
	Lines     int       // total lines to write (exactly)
	Seed      int64     // same seed, same output, byte for byte
	Start     time.Time // time of the first line (whole seconds); zero means DefaultStart
	Clients   int       // legitimate client addresses; zero means DefaultHTTPClients
	Attackers int       // attacking addresses (including low-and-slow probers); zero means DefaultHTTPAttackers
}

// HTTPActor is one address of an HTTP log, or one IPv6 /64 whose attacker
// takes a fresh address for every request, and what it did there.
type HTTPActor struct {
	Addr      netip.Addr   `json:"addr,omitzero"`
	Prefix    netip.Prefix `json:"prefix,omitzero"` // set instead of Addr for a rotating IPv6 attacker
	Behaviour string       `json:"behaviour"`       // one of HTTPBehaviours' names
	Requests  int          `json:"requests"`        // lines the log holds for it
	// CutShort marks an attacker (listed in Evasive) whose run the end of
	// the log cut off before it showed enough to be recognised.
	CutShort bool `json:"cut_short,omitempty"`
}

// HTTPTruth says who is who in an HTTP log. Every address of the log is
// in exactly one list (a rotating attacker's through its Prefix), and
// every listed actor has at least one line; each list is sorted by
// address.
type HTTPTruth struct {
	// Attackers must be banned: in one run, within a minute or two, each
	// showed what a reasonable rule pack (signatures plus short burst
	// windows, as CrowdSec's HTTP collections or fail2ban's nginx jails)
	// recognises: one exploit, path-traversal or open-proxy request (or a
	// scanner's user agent); three requests that are not HTTP; five
	// sensitive-file, SQL-injection, XSS or admin-interface probes or
	// failed log-ins; ten webshell probes, wp-login guesses or fake
	// Googlebot probes; twenty xmlrpc.php posts or scanner requests. Runs
	// are paced so that these fit in a minute or two.
	Attackers []HTTPActor `json:"attackers"`
	// Legit must never be banned. None has more than two failed log-ins in
	// ten minutes, a burst of distinct 404 pages or any exploit-shaped
	// request; their 404s are of static files (icons, source maps, stale
	// assets), of pages that are gone (crawlers, at most one a second), or
	// rare API ones.
	Legit []HTTPActor `json:"legit"`
	// Evasive attacked, but no reasonable pack is sure to catch them from
	// this log, so banning one is neither required nor wrong:
	//   - low-and-slow probers: a distinct, innocuous-looking 404 path
	//     (/archive, /beta/, /press.html; no exploit, no secret file) every
	//     20 to 60 seconds for one to three hours. They stay under every
	//     burst rule; an hour-long window that caught them would also catch
	//     crawlers and busy NAT gateways, which is why no pack has one.
	//   - attackers whose only runs the end of the log cut short before
	//     they showed enough (CutShort).
	Evasive []HTTPActor `json:"evasive"`
}

// HTTPBehaviour describes one behaviour name used in HTTPTruth.
type HTTPBehaviour struct {
	Name  string `json:"name"`
	Class string `json:"class"` // "attack", "legit" or "evasive"
	About string `json:"about"`
}

// HTTPBehaviours lists the behaviours an HTTP log holds, legitimate first.
func HTTPBehaviours() []HTTPBehaviour {
	var bs []HTTPBehaviour
	for k := range hKinds {
		bs = append(bs, HTTPBehaviour{Name: k.String(), Class: k.class(), About: k.about()})
	}
	return bs
}

// Rates of the stationary mix with the default clients and attackers, in
// lines per second of log time: about 24 lines a second, so 1,000,000 lines
// span about 11.5 hours and 50,000 lines about 35 minutes; a fifth of the
// lines are attacks. Monitors add one check per 30 to 60 seconds each.
//
// A site with more clients is busier, and more attackers attack more: the
// browsing rate scales with the square root of Clients/2000, the attack
// rate with that of Attackers/300 (neither below a quarter). So 100,000
// clients browse at about 113 lines a second.
const (
	browseRate = 16.0 // browsers, customers, NAT gateways and WordPress authors
	apiRate    = 2.0  // API clients, all together
	crawlRate  = 1.2  // search-engine crawlers, all together
	httpAttack = 5.0  // attackers, all together
)

// rateScale returns sqrt(n/base), at least 1/4. math.Sqrt is correctly
// rounded, so this is the same on every machine.
func rateScale(n, base int) float64 {
	return max(math.Sqrt(float64(n)/float64(base)), 0.25)
}

// httpFailGap is the least time between a legitimate address's failed
// log-in and the one two before it: no ten minutes hold more than two.
const httpFailGap = 605_000

// HTTP writes exactly c.Lines lines of an nginx access log in the
// "combined" format, in time order, and returns who is who:
//
//	ADDR - USER [06/Dec/2026:16:21:43 +0000] "GET /path HTTP/1.1" 200 5123 "referer" "user agent"
//
// The log is of one shop (httpSite) with a WordPress blog, a JSON API and a
// customer log-in. Legitimate traffic: browsers loading pages and their
// assets (with favicon.ico, apple-touch-icon and source-map 404s, stale
// asset 404s after a deploy, 304s, the odd 400, 499 and 500, and searches
// such as "union station" or "o'neill jacket"); customers who log in (now
// and then mistyping once) and post forms; corporate NAT gateways that
// carry hundreds of browsers; uptime monitors; API clients, some of whose
// tokens expire (a few 401s, then a refresh or a stop); Googlebot and
// bingbot from their real ranges, paced at one request a second or slower,
// some of it to pages that are gone; WordPress authors (a mistyped
// password at most once, then a heartbeat POST every 15 seconds while
// editing); link previews and feed readers. Attacks: see HTTPBehaviours
// and HTTPTruth.
//
// With the defaults, a million lines span about 11.5 hours: about 79%
// legitimate (browsers and customers 58%, API clients 8%, NAT gateways 6%,
// crawlers 5%), 20% attacks (scanners 9%, xmlrpc floods and credential
// stuffing 3% each, wp-login guessing and webshell hunting 1.5% each, the
// rest below 1% each) and 0.4% low-and-slow probing. With Clients
// 100,000 (and Attackers 3000), a million lines hold about 91,000
// legitimate clients.
//
// About 12% of attackers use IPv6; a third of those rotate through their
// /64 (HTTPActor.Prefix). A quarter of browsers, customers, monitors and
// API clients use IPv6, each in a /64 of its own. Addresses are random
// public-looking ones as in Generate, except crawlers', which come from
// Google's and Microsoft's published crawler ranges; no other actor has an
// address there, and no two actors share an address or an IPv6 /64.
func HTTP(w io.Writer, c HTTPConfig) (HTTPTruth, error) {
	if c.Lines < 0 {
		return HTTPTruth{}, fmt.Errorf("lines is %d: give a number of lines, 0 or more", c.Lines)
	}
	if c.Clients < 0 || c.Clients > MaxHTTPClients {
		return HTTPTruth{}, fmt.Errorf("clients is %d: give 1 to %d, or 0 for the default %d", c.Clients, MaxHTTPClients, DefaultHTTPClients)
	}
	if c.Attackers < 0 || c.Attackers > MaxHTTPAttackers {
		return HTTPTruth{}, fmt.Errorf("attackers is %d: give 1 to %d, or 0 for the default %d", c.Attackers, MaxHTTPAttackers, DefaultHTTPAttackers)
	}
	if c.Clients == 0 {
		c.Clients = DefaultHTTPClients
	}
	if c.Attackers == 0 {
		c.Attackers = DefaultHTTPAttackers
	}
	if c.Start.IsZero() {
		c.Start = defaultStart()
	}
	g := newHTTPGen(w, c)
	g.run()
	if err := finish(g.w, g.err); err != nil {
		return HTTPTruth{}, err
	}
	return g.truth(), nil
}

// httpKind is what a party does.
type httpKind uint8

const (
	hBrowser httpKind = iota
	hCustomer
	hNAT
	hMonitor
	hCrawler
	hAPI
	hAuthor
	hPreview
	hScanner // the first attack
	hSensitive
	hCVE
	hWPBrute
	hXMLRPC
	hStuffing
	hTraversal
	hSQLi
	hXSS
	hWebshell
	hAdmin
	hProxy
	hTLS
	hFakeBot
	hLowSlow // evasive
	hKinds
)

func (k httpKind) attack() bool { return k >= hScanner }

func (k httpKind) class() string {
	switch {
	case k == hLowSlow:
		return "evasive"
	case k.attack():
		return "attack"
	default:
		return "legit"
	}
}

func (k httpKind) String() string {
	switch k {
	case hBrowser:
		return "browser"
	case hCustomer:
		return "customer"
	case hNAT:
		return "nat"
	case hMonitor:
		return "monitor"
	case hCrawler:
		return "crawler"
	case hAPI:
		return "api-client"
	case hAuthor:
		return "wordpress-author"
	case hPreview:
		return "link-preview"
	case hScanner:
		return "scanner"
	case hSensitive:
		return "sensitive-files"
	case hCVE:
		return "cve-probe"
	case hWPBrute:
		return "wp-bruteforce"
	case hXMLRPC:
		return "xmlrpc-flood"
	case hStuffing:
		return "credential-stuffing"
	case hTraversal:
		return "path-traversal"
	case hSQLi:
		return "sqli-probe"
	case hXSS:
		return "xss-probe"
	case hWebshell:
		return "webshell-hunt"
	case hAdmin:
		return "admin-scan"
	case hProxy:
		return "open-proxy"
	case hTLS:
		return "tls-on-http"
	case hFakeBot:
		return "fake-googlebot"
	case hLowSlow:
		return "low-and-slow"
	}
	return "kind" + strconv.Itoa(int(k))
}

func (k httpKind) about() string {
	switch k {
	case hBrowser:
		return "visits: a page and its assets, then more pages; favicon.ico, apple-touch-icon and source-map 404s; 304s; rare 400, 499, 500"
	case hCustomer:
		return "a browser that logs in (POST /login 302, rarely a 401 first) and posts forms (cart, checkout, settings)"
	case hNAT:
		return "a corporate gateway: many browsers on one address, hundreds of requests an hour, repeated 404s of a few missing assets"
	case hMonitor:
		return "an uptime check of / or /health every 30 to 60 s"
	case hCrawler:
		return "Googlebot or bingbot from its real range: robots.txt, sitemaps, many distinct pages, a few 404s of old pages, one request a second or slower"
	case hAPI:
		return "JSON calls to /api/v1 (some with basic auth); an expired token gives two or three 401s, then a refresh or a stop"
	case hAuthor:
		return "a WordPress author: log-in (302, or 200 then 302 after one typo), wp-admin pages, heartbeat POSTs to admin-ajax.php"
	case hPreview:
		return "a link preview or feed reader (WhatsApp and iMessage on the sender's phone, Slack, Discord, Feedly): a page and its picture, or the feed"
	case hScanner:
		return "a directory or vulnerability scanner: tens to hundreds of distinct paths, mostly 404, within seconds to minutes"
	case hSensitive:
		return "hunts for secrets: /.env, /.git/config, backups and dumps, wp-config.php copies"
	case hCVE:
		return "one to four exploit requests for known CVEs (log4shell, PHPUnit, ThinkPHP, Ignition, Apache traversal, GPON, Citrix, Fortinet, ...)"
	case hWPBrute:
		return "WordPress password guessing: POST /wp-login.php answered 200, again and again"
	case hXMLRPC:
		return "a flood of POST /xmlrpc.php"
	case hStuffing:
		return "credential stuffing: POST /login answered 401 many times, often from a handful of addresses at once"
	case hTraversal:
		return "path traversal in paths and parameters (/../../etc/passwd and its encodings)"
	case hSQLi:
		return "SQL injection probes in query strings"
	case hXSS:
		return "cross-site scripting probes in query strings"
	case hWebshell:
		return "looks for webshells others left: /shell.php, /wso.php, ... in many directories"
	case hAdmin:
		return "admin-interface scanning: phpMyAdmin, Tomcat's /manager/html (with basic-auth guesses), Adminer, ..."
	case hProxy:
		return "open-proxy attempts: CONNECT host:443 and absolute-URI requests for other sites"
	case hTLS:
		return "TLS handshakes and other binary protocols sent to port 80 (400, logged as \\x escapes)"
	case hFakeBot:
		return "a Googlebot user agent from a non-Google address, probing for files and interfaces"
	case hLowSlow:
		return "one distinct, innocuous-looking 404 path every 20 to 60 s for one to three hours: under every burst threshold"
	}
	return ""
}

// httpParty is one address (or rotating /64) and its behaviour.
type httpParty struct {
	addr   netip.Addr
	prefix netip.Prefix // a rotating attacker's /64
	kind   httpKind
	rotate bool
	caught bool // an attacker that wrote enough of a run to be recognised
	lines  int
	ua     string // the user agent it keeps, when it keeps one
	uaKind uint8  // browsers: uaDesktop, uaIOS or uaAndroid
	visits int
	until  int64 // authors: end of the session under way
	nfail  int
	fails  [2]int64     // times of the last two failed log-ins, oldest first
	group  []*httpParty // credential stuffers that work together
}

// allowFail reports whether a failed log-in at t keeps the party within two
// failures in any ten minutes; failures must be recorded in time order.
func (p *httpParty) allowFail(t int64) bool {
	if p.nfail >= 1 && t < p.fails[1] {
		return false
	}
	return p.nfail < 2 || t-p.fails[0] >= httpFailGap
}

func (p *httpParty) recordFail(t int64) {
	p.fails[0], p.fails[1] = p.fails[1], t
	p.nfail++
}

const (
	uaDesktop uint8 = iota
	uaIOS
	uaAndroid
)

// httpStepper writes at most one line at its scheduled time and says when
// to run next.
type httpStepper interface {
	step(g *httpGen) (next int64, more bool)
}

// httpGen is one run of HTTP. Times are milliseconds since the start.
type httpGen struct {
	w                  *bufio.Writer
	rng                *rand.Rand
	left               int
	err                error
	sched[httpStepper] // now is ms since start

	baseSec int64
	loc     *time.Location
	stampAt int64
	stamp   []byte

	d httpData

	used                            map[netip.Addr]struct{} // IPv4 addresses and IPv6 /64s handed out
	parties                         []httpParty
	browse                          []*httpParty // browsers and customers
	browseOrd                       []int32
	browseN                         int
	nats                            []*httpParty
	authors                         []*httpParty
	attackers                       []*httpParty
	attackOrd                       []int32
	attackN                         int
	siteAddr                        netip.Addr // the server's own address (scanners echo it)
	browseRate, apiRate, attackRate float64    // lines a second
	deploy                          string     // hash in the current asset names
	oldDeploy                       string     // hash of the previous deploy (stale pages ask for it)
	freeVisit                       []*httpVisit
}

func newHTTPGen(w io.Writer, c HTTPConfig) *httpGen {
	name, off := c.Start.Zone()
	g := &httpGen{
		w:       bufio.NewWriterSize(w, 256<<10),
		rng:     rand.New(rand.NewPCG(uint64(c.Seed), 0x6a09e667f3bcc909)),
		left:    c.Lines,
		baseSec: c.Start.Unix(),
		loc:     time.FixedZone(name, off),
		stampAt: -1,
		stamp:   make([]byte, 0, 32),
		d:       newHTTPData(),
		used:    make(map[netip.Addr]struct{}, c.Clients+c.Attackers+64),
	}
	g.browseRate = browseRate * rateScale(c.Clients, DefaultHTTPClients)
	g.apiRate = apiRate
	g.attackRate = httpAttack * rateScale(c.Attackers, DefaultHTTPAttackers)
	g.deploy = g.hex(8)
	g.oldDeploy = g.hex(8)
	g.siteAddr = g.newV4()
	g.parties = make([]httpParty, 0, c.Clients+c.Attackers)
	g.setupLegit(c.Clients)
	g.setupAttackers(c.Attackers)

	g.push(g.rng.Int64N(2000), httpBrowseSpawner{})
	g.push(g.rng.Int64N(5000), httpAttackSpawner{})
	return g
}

func (g *httpGen) run() {
	g.sched.run(func() bool { return g.left > 0 && g.err == nil }, func(a httpStepper) (int64, bool) { return a.step(g) })
}

func (g *httpGen) newParty(k httpKind) *httpParty {
	g.parties = append(g.parties, httpParty{kind: k})
	return &g.parties[len(g.parties)-1]
}

// emit writes one line now. method empty means a request line that is not
// HTTP (uri holds it, escaped as nginx escapes it). user, ref and ua are
// "-" when absent.
func (g *httpGen) emit(p *httpParty, addr netip.Addr, user, method, uri, proto string, status, size int, ref, ua string) {
	sec := g.now / 1000
	if sec != g.stampAt {
		g.stampAt = sec
		g.stamp = time.Unix(g.baseSec+sec, 0).In(g.loc).AppendFormat(g.stamp[:0], "02/Jan/2006:15:04:05 -0700")
	}
	b := g.w.AvailableBuffer()
	b = addr.AppendTo(b)
	b = append(b, " - "...)
	b = append(b, user...)
	b = append(b, " ["...)
	b = append(b, g.stamp...)
	b = append(b, "] \""...)
	if method != "" {
		b = append(b, method...)
		b = append(b, ' ')
		b = append(b, uri...)
		b = append(b, ' ')
		b = append(b, proto...)
	} else {
		b = append(b, uri...)
	}
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, " \""...)
	b = append(b, ref...)
	b = append(b, "\" \""...)
	b = append(b, ua...)
	b = append(b, "\"\n"...)
	if _, err := g.w.Write(b); err != nil && g.err == nil {
		g.err = err
	}
	p.lines++
	g.left--
}

// ms returns a uniform duration in [lo, hi] milliseconds.
func (g *httpGen) ms(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.Int64N(hi-lo+1)
}

// exp returns a gap of about exponential distribution with the given mean
// in ms, in integer arithmetic as gen.expMS does it (the same bytes on
// every machine).
func (g *httpGen) exp(mean int64) int64 {
	if mean <= 0 {
		return 0
	}
	r := g.rng.Uint64()
	z := uint64(bits.LeadingZeros64(r))
	var f uint64
	if z < 63 {
		f = (r << (z + 1)) >> 32
	}
	v := (z+1)<<32 - f
	hi, lo := bits.Mul64(uint64(mean)*2, v)
	return int64((hi<<32 | lo>>32) / 3)
}

// pct reports true with probability n percent.
func (g *httpGen) pct(n int) bool { return g.rng.IntN(100) < n }

func (g *httpGen) pick(l []string) string { return l[g.rng.IntN(len(l))] }

func (g *httpGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

// crawlerV4 reports whether b is in a search engine's crawler range, where
// only crawlers may have addresses.
func crawlerV4(b [4]byte) bool {
	switch {
	case b[0] == 66 && b[1] == 249 && b[2]&0xe0 == 64: // Googlebot, 66.249.64.0/19
		return true
	case b[0] == 157 && b[1] == 55 && b[2] == 39, // bingbot
		b[0] == 207 && b[1] == 46 && b[2] == 13,
		b[0] == 40 && b[1] == 77 && b[2] == 167,
		b[0] == 52 && b[1] == 167 && b[2] == 144:
		return true
	}
	return false
}

// newV4 returns a public IPv4 address outside crawler ranges that no one
// has yet.
func (g *httpGen) newV4() netip.Addr {
	for {
		v := g.rng.Uint32()
		b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if !publicV4(b) || crawlerV4(b) {
			continue
		}
		if a := netip.AddrFrom4(b); g.claim(a) {
			return a
		}
	}
}

// newV6 returns a /64 inside a registry block that no one has yet.
func (g *httpGen) newV6() netip.Prefix {
	for {
		var b [16]byte
		hi := g.rng.Uint64()
		binary.BigEndian.PutUint16(b[0:], v6Block(g.rng.IntN(5))|uint16(hi&0x0f))
		binary.BigEndian.PutUint32(b[2:], uint32(hi>>8))
		binary.BigEndian.PutUint16(b[6:], uint16(hi>>40))
		if a := netip.AddrFrom16(b); g.claim(a) {
			return netip.PrefixFrom(a, 64)
		}
	}
}

// claim marks a (an IPv4 address or the first address of a /64) as taken.
func (g *httpGen) claim(a netip.Addr) bool {
	if _, ok := g.used[a]; ok {
		return false
	}
	g.used[a] = struct{}{}
	return true
}

// hostIn returns a host address in p: a privacy address, or a small
// server-style one.
func (g *httpGen) hostIn(p netip.Prefix, server bool) netip.Addr {
	if server {
		return inPrefix(p, 1+g.rng.Uint64N(0xff))
	}
	for {
		if v := g.rng.Uint64(); v > 0xffff {
			return inPrefix(p, v)
		}
	}
}

// clientAddr gives a client an address: IPv6 with probability v6 percent.
func (g *httpGen) clientAddr(v6 int) netip.Addr {
	if g.pct(v6) {
		return g.hostIn(g.newV6(), false)
	}
	return g.newV4()
}

func (g *httpGen) truth() HTTPTruth {
	t := HTTPTruth{Attackers: []HTTPActor{}, Legit: []HTTPActor{}, Evasive: []HTTPActor{}}
	for i := range g.parties {
		p := &g.parties[i]
		if p.lines == 0 {
			continue
		}
		a := HTTPActor{Addr: p.addr, Behaviour: p.kind.String(), Requests: p.lines}
		if p.rotate {
			a.Addr, a.Prefix = netip.Addr{}, p.prefix
		}
		switch {
		case !p.kind.attack():
			t.Legit = append(t.Legit, a)
		case p.kind == hLowSlow:
			t.Evasive = append(t.Evasive, a)
		case p.caught:
			t.Attackers = append(t.Attackers, a)
		default:
			a.CutShort = true
			t.Evasive = append(t.Evasive, a)
		}
	}
	key := func(a HTTPActor) netip.Addr {
		if a.Prefix.IsValid() {
			return a.Prefix.Addr()
		}
		return a.Addr
	}
	for _, l := range [][]HTTPActor{t.Attackers, t.Legit, t.Evasive} {
		slices.SortFunc(l, func(a, b HTTPActor) int { return key(a).Compare(key(b)) })
	}
	return t
}
