package loggen

import (
	"strconv"
	"strings"
)

// httpAttackWeight says how many of a run's attackers (per thousand) do
// what; every behaviour gets one attacker first when there are enough.
func httpAttackWeight(k httpKind) int {
	switch k {
	case hCVE:
		return 200
	case hSensitive:
		return 130
	case hScanner:
		return 110
	case hStuffing:
		return 90
	case hWPBrute, hWebshell:
		return 80
	case hAdmin:
		return 60
	case hTraversal:
		return 50
	case hXMLRPC, hSQLi:
		return 40
	case hXSS, hProxy, hTLS:
		return 30
	case hFakeBot, hLowSlow:
		return 20
	}
	return 0
}

func (g *httpGen) setupAttackers(n int) {
	first := g.rng.Perm(int(hKinds - hScanner))
	for i := range n {
		k := hScanner
		if i < len(first) {
			k += httpKind(first[i])
		} else {
			r := g.rng.IntN(1000)
			for k = hScanner; k < hLowSlow; k++ {
				if r -= httpAttackWeight(k); r < 0 {
					break
				}
			}
		}
		p := g.newParty(k)
		if g.pct(12) {
			pre := g.newV6()
			if k != hLowSlow && g.pct(33) {
				p.rotate, p.prefix = true, pre
			} else {
				p.addr = g.hostIn(pre, g.pct(50))
			}
		} else {
			p.addr = g.newV4()
		}
		p.ua = g.attackUA(k)
		g.attackers = append(g.attackers, p)
	}
	// Credential stuffers often work in groups of a handful of addresses.
	var group []*httpParty
	for _, p := range g.attackers {
		if p.kind != hStuffing {
			continue
		}
		if len(group) == 0 {
			group = make([]*httpParty, 0, 2+g.rng.IntN(4))
		}
		group = append(group, p)
		p.group = group
		if len(group) == cap(group) || g.pct(30) {
			group = nil
		}
	}
	lead := min(n, len(first))
	g.attackOrd = make([]int32, 0, n)
	for _, i := range g.rng.Perm(lead) {
		g.attackOrd = append(g.attackOrd, int32(i))
	}
	for _, i := range g.rng.Perm(n - lead) {
		g.attackOrd = append(g.attackOrd, int32(lead+i))
	}
}

func (g *httpGen) attackUA(k httpKind) string {
	switch k {
	case hScanner:
		if g.pct(20) {
			return "nikto"
		}
		return g.pick(g.d.scannerUA)
	case hSensitive, hTraversal, hXSS, hAdmin:
		if g.pct(40) {
			return g.pick(g.d.scannerUA)
		}
		return g.pick(g.d.botUA)
	case hSQLi:
		if g.pct(50) {
			return "sqlmap/1.8.11#stable (https://sqlmap.org)"
		}
		return g.pick(g.d.botUA)
	case hTLS:
		return "-"
	case hFakeBot:
		if g.pct(50) {
			return googlebotUA
		}
		return googlebotMob
	case hLowSlow:
		return g.pick(g.d.desktopUA)
	}
	return g.pick(g.d.botUA)
}

// nextAttacker returns every attacker once (one of each behaviour first),
// then random ones.
func (g *httpGen) nextAttacker() *httpParty {
	i := g.attackN
	g.attackN++
	if i < len(g.attackOrd) {
		return g.attackers[g.attackOrd[i]]
	}
	return g.attackers[g.rng.IntN(len(g.attackers))]
}

// httpAttackSpawner starts campaigns so that attack lines come at
// httpAttack a second.
type httpAttackSpawner struct{}

func (httpAttackSpawner) step(g *httpGen) (int64, bool) {
	if len(g.attackers) == 0 {
		return 0, false
	}
	p := g.nextAttacker()
	lines := 0
	if p.group != nil {
		at := g.now
		for _, q := range p.group {
			c := g.newCampaign(q)
			lines += c.k
			g.push(at, c)
			at += g.ms(0, 20_000)
		}
	} else {
		c := g.newCampaign(p)
		lines = c.k
		g.push(g.now, c)
	}
	return g.now + g.exp(int64(float64(lines)*1000/g.attackRate)), true
}

// httpCampaign is one run of an attacker's requests.
type httpCampaign struct {
	p            *httpParty
	k, i         int // requests in all, requests made
	need         int // requests after which the run is recognisable
	gapLo, gapHi int64
	off          int    // where the run starts in its list
	extra        int    // wp-bruteforce, xmlrpc, stuffing: warm-up requests; admin-scan: Tomcat guesses at the end
	base         string // sqli and xss: the endpoint
	ip           string // exploits: the download server
}

// logUniform returns an integer in [lo, hi] spread over orders of
// magnitude, as gen.logUniform does.
func (g *httpGen) logUniform(lo, hi int) int {
	octaves := 0
	for v := lo; v*2 <= hi; v *= 2 {
		octaves++
	}
	a := lo << g.rng.IntN(octaves+1)
	b := min(2*a-1, hi)
	if a == lo<<octaves {
		b = hi
	}
	return a + g.rng.IntN(b-a+1)
}

func (g *httpGen) newCampaign(p *httpParty) *httpCampaign {
	c := &httpCampaign{p: p}
	// threshold: requests a reasonable rule needs to see, after the warm-up.
	var threshold int
	switch p.kind {
	case hScanner:
		c.k, c.gapLo, c.gapHi, threshold = g.logUniform(40, 600), 20, 400, 20
		c.off = g.rng.IntN(len(g.d.scanWords))
	case hSensitive:
		c.k, c.gapLo, c.gapHi, threshold = 5+g.rng.IntN(56), 100, 2000, 5
		c.off = g.rng.IntN(len(g.d.sensitive))
	case hCVE:
		c.k, c.gapLo, c.gapHi, threshold = [...]int{1, 1, 1, 1, 1, 2, 2, 2, 3, 4}[g.rng.IntN(10)], 200, 5000, 1
		c.off = g.rng.IntN(len(g.d.cve))
		c.ip = g.newV4().String()
	case hWPBrute:
		c.extra = g.rng.IntN(3)
		c.k, c.gapLo, c.gapHi, threshold = c.extra+g.logUniform(10, 300), 1000, 6000, 10
	case hXMLRPC:
		if g.pct(30) {
			c.extra = 1
		}
		c.k, c.gapLo, c.gapHi, threshold = c.extra+g.logUniform(30, 500), 100, 1500, 20
	case hStuffing:
		if g.pct(50) {
			c.extra = 1
		}
		c.k, c.gapLo, c.gapHi, threshold = c.extra+g.logUniform(10, 80), 1000, 4000, 10
	case hTraversal:
		c.k, c.gapLo, c.gapHi, threshold = 3+g.rng.IntN(18), 200, 3000, 1
		c.off = g.rng.IntN(len(g.d.traversal))
	case hSQLi:
		c.k, c.gapLo, c.gapHi, threshold = g.logUniform(10, 150), 100, 1500, 5
		c.off, c.base = g.rng.IntN(len(g.d.sqli)), g.pick(g.d.sqliBase)
	case hXSS:
		c.k, c.gapLo, c.gapHi, threshold = g.logUniform(6, 60), 100, 2000, 5
		c.off, c.base, c.ip = g.rng.IntN(len(g.d.xss)), g.pick(g.d.xssBase), g.newV4().String()
	case hWebshell:
		c.k, c.gapLo, c.gapHi, threshold = g.logUniform(10, 150), 100, 1500, 10
		c.off = g.rng.IntN(len(g.d.webshell) * len(g.d.webshellDirs))
	case hAdmin:
		c.k, c.gapLo, c.gapHi, threshold = 5+g.rng.IntN(40), 200, 3000, 5
		c.off = g.rng.IntN(len(g.d.admin))
		if g.pct(30) {
			c.extra = 3 + g.rng.IntN(6)
			c.k += c.extra
		}
		c.extra = c.k - c.extra // from here on: Tomcat guesses
		threshold = min(threshold, c.extra)
	case hProxy:
		c.k, c.gapLo, c.gapHi, threshold = 1+g.rng.IntN(6), 1000, 10_000, 1
		c.off = g.rng.IntN(len(g.d.proxy))
	case hTLS:
		c.k, c.gapLo, c.gapHi, threshold = 3+g.rng.IntN(10), 500, 20_000, 3
	case hFakeBot:
		c.extra = 1 // robots.txt first
		c.k, c.gapLo, c.gapHi, threshold = 1+g.logUniform(10, 120), 300, 3000, 10
		c.off = g.rng.IntN(1 << 20)
	case hLowSlow:
		c.k, c.gapLo, c.gapHi = 60+g.rng.IntN(121), 20_000, 60_000
		c.off = g.rng.IntN(len(g.d.slowWords))
		threshold = c.k + 1 // never: see HTTPTruth.Evasive
	}
	c.need = threshold
	if p.kind == hWPBrute || p.kind == hXMLRPC || p.kind == hStuffing || p.kind == hFakeBot {
		c.need += c.extra
	}
	if p.kind != hLowSlow {
		c.need = min(c.need, c.k)
	}
	return c
}

func (c *httpCampaign) step(g *httpGen) (int64, bool) {
	g.attackLine(c)
	c.i++
	if c.i == c.need {
		c.p.caught = true
	}
	if c.i >= c.k {
		return 0, false
	}
	return g.now + g.ms(c.gapLo, c.gapHi), true
}

// notFound returns the size of a 404: nginx's page for a file name, the
// shop's for a path.
func notFound(uri string) int {
	path := uri
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 && strings.IndexByte(path[i:], '.') >= 0 {
		return nginx404
	}
	return appNotFound(uri)
}

// probeStatus is what the shop answers to a probe of uri: nginx refuses dot
// files and paths above the root; a few paths exist.
func probeStatus(uri string) (status, size int) {
	path := uri
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	lp := strings.ToLower(path)
	switch {
	case strings.Contains(lp, "/../") || strings.Contains(lp, "%2e%2e") || strings.Contains(lp, ".%2e") ||
		strings.Contains(lp, "..%2f") || strings.Contains(lp, "..%5c") || strings.Contains(lp, "%c0%af"):
		return 400, nginx400
	case strings.Contains(path, "/.") && !strings.HasPrefix(path, "/.well-known/"):
		return 403, nginx403
	}
	switch path {
	case "/", "/robots.txt", "/sitemap.xml", "/login", "/cart", "/health", "/search", "/contact", "/products", "/wp-login.php", "/blog/":
		if path == "/robots.txt" {
			return 200, 412
		}
		return 200, sizeOf(path, 9000, 48000)
	case "/blog", "/shop", "/admin", "/wp-admin", "/wp-admin/":
		return 302, 0
	case "/account", "/checkout":
		return 302, 0
	}
	return 404, notFound(uri)
}

func (g *httpGen) attackLine(c *httpCampaign) {
	p := c.p
	addr := p.addr
	if p.rotate {
		addr = g.hostIn(p.prefix, false)
	}
	ua := p.ua
	proto := "HTTP/1.1"
	method, user, ref := "GET", "-", "-"
	var uri string
	status, size := 0, 0
	j := c.off + c.i
	switch p.kind {
	case hScanner:
		w := g.d.scanWords[j%len(g.d.scanWords)]
		uri = "/" + w + g.d.scanExt[(j/len(g.d.scanWords))%len(g.d.scanExt)]
		if ua == "nikto" {
			ua = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:" + strconv.Itoa(1_000_000 + g.rng.IntN(1_000_000))[1:] + ")"
			if g.pct(30) {
				method = "HEAD"
			}
		}
	case hSensitive:
		uri = g.d.sensitive[j%len(g.d.sensitive)]
	case hCVE:
		pr := g.d.cve[(c.off+7*c.i)%len(g.d.cve)]
		method = pr.method
		uri = strings.ReplaceAll(pr.uri, "{ip}", c.ip)
		if pr.ua != "" {
			ua = strings.ReplaceAll(pr.ua, "{ip}", c.ip)
		}
		if strings.Contains(uri, "netgear") {
			proto = "HTTP/1.0"
		}
		status = pr.status
		switch status {
		case 200:
			size = sizeOf("/", 9000, 48000)
		case 400:
			size = nginx400
		case 405:
			size = nginx405
		default:
			size = notFound(uri)
		}
	case hWPBrute:
		switch {
		case c.i < c.extra:
			recon := [...]string{"/wp-login.php", "/?author=1", "/wp-json/wp/v2/users"}
			uri = recon[(c.i+c.off)%len(recon)]
			status, size = 200, 4316
			switch uri {
			case "/?author=1":
				status, size = 301, 0
			case "/wp-json/wp/v2/users":
				size = 1187
			}
		default:
			method, uri, status, size = "POST", "/wp-login.php", 200, 4533+g.rng.IntN(3)
			if g.pct(60) {
				ref = httpSite + "/wp-login.php"
			}
		}
	case hXMLRPC:
		if c.i < c.extra {
			uri, status, size = "/xmlrpc.php", 405, 42
		} else {
			method, uri, status, size = "POST", "/xmlrpc.php", 200, 403+g.rng.IntN(3)
			if g.pct(10) {
				size = 8000 + g.rng.IntN(30_000) // system.multicall: hundreds of passwords at once
			}
		}
	case hStuffing:
		ua = g.pick(g.d.stuffUA)
		if c.i < c.extra {
			uri, status, size = "/login", 200, sizeOf("/login", 6000, 8000)
		} else {
			method, uri, status, size = "POST", "/login", 401, sizeOf("/login?failed", 6000, 8000)
			ref = httpSite + "/login"
			if g.rng.IntN(60) == 0 {
				status, size = 302, 0 // a pair that works
			}
		}
	case hTraversal:
		uri = g.d.traversal[j%len(g.d.traversal)]
	case hSQLi:
		uri = c.base + g.d.sqli[j%len(g.d.sqli)]
		if status, size = probeStatus(uri); status == 200 && g.pct(15) {
			status, size = 500, 1834
		}
	case hXSS:
		uri = c.base + strings.ReplaceAll(g.d.xss[j%len(g.d.xss)], "{ip}", c.ip)
	case hWebshell:
		nf := len(g.d.webshell)
		uri = g.d.webshellDirs[(j/nf)%len(g.d.webshellDirs)] + g.d.webshell[j%nf]
		if g.pct(20) {
			method = "POST"
		}
	case hAdmin:
		if c.i >= c.extra {
			uri, user = "/manager/html", g.d.tomcatUsers[c.i%len(g.d.tomcatUsers)]
			status, size = 401, nginx401
		} else {
			uri = g.d.admin[j%len(g.d.admin)]
		}
	case hProxy:
		method, uri, _ = strings.Cut(g.d.proxy[j%len(g.d.proxy)], " ")
		switch method {
		case "CONNECT":
			status, size = 400, nginx400
		case "HEAD":
			status, size = 200, 0
		default:
			status, size = 200, sizeOf("/", 9000, 48000)
		}
	case hTLS:
		method, uri, status, size, ref = "", g.binaryRequest(), 400, nginx400, "-"
	case hFakeBot:
		if c.i == 0 {
			uri = "/robots.txt"
			break
		}
		switch j % 4 {
		case 0:
			uri = g.d.sensitive[(j/4)%len(g.d.sensitive)]
		case 1:
			uri = g.d.admin[(j/4)%len(g.d.admin)]
		case 2:
			uri = g.d.webshell[(j/4)%len(g.d.webshell)]
		default:
			uri = "/" + g.d.scanWords[(j/4)%len(g.d.scanWords)] + ".php"
		}
	case hLowSlow:
		w := g.d.slowWords[j%len(g.d.slowWords)]
		switch (j / len(g.d.slowWords)) % 3 {
		case 0:
			uri = "/" + w
		case 1:
			uri = "/" + w + "/"
		default:
			uri = "/" + w + ".html"
		}
	}
	if status == 0 {
		status, size = probeStatus(uri)
		if method == "HEAD" {
			size = 0
		}
	}
	g.emit(p, addr, user, method, uri, proto, status, size, ref, ua)
}

// binaryRequest returns what nginx logs as the request line of a
// connection that does not speak HTTP: mostly a TLS ClientHello, sometimes
// RDP, SSH, SMB or an echo scanner.
func (g *httpGen) binaryRequest() string {
	var raw []byte
	switch r := g.rng.IntN(100); {
	case r < 75:
		n := 0x200 + g.rng.IntN(0x100)
		raw = []byte{0x16, 0x03, 0x01, byte(n >> 8), byte(n), 0x01, 0x00, byte((n - 4) >> 8), byte(n - 4), 0x03, 0x03}
		for range 16 + g.rng.IntN(48) {
			raw = append(raw, byte(g.rng.IntN(256)))
		}
	case r < 85:
		raw = []byte("\x03\x00\x00/*\xe0\x00\x00\x00\x00\x00Cookie: mstshash=Administr")
	case r < 90:
		return "SSH-2.0-Go"
	case r < 95:
		return "MGLNDD_" + g.siteAddr.String() + "_80"
	default:
		raw = []byte("\x00\x00\x00\x85\xffSMBr\x00\x00\x00\x00\x18S\xc8")
	}
	return nginxEscape(raw)
}

// nginxEscape writes bytes as nginx's access log does: '"', '\\' and bytes
// outside printable ASCII as \xHH.
func nginxEscape(b []byte) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, 4*len(b))
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}
