package loggen

import (
	"net/netip"
	"strconv"
	"strings"
)

// setupLegit creates n legitimate parties and starts the ones that run on
// their own schedule (monitors, crawlers, API clients). Below 100 clients
// all are browsers.
func (g *httpGen) setupLegit(n int) {
	var mon, crawl, api, authors, nats int
	if n >= 100 {
		mon = min(2+n/1000, 20)
		crawl = min(3+n/500, 40)
		api = min(2+n/100, 1000)
		authors = min(2+n/250, 100)
		nats = min(2+n/500, 100)
	}
	for i := range mon {
		p := g.newParty(hMonitor)
		p.addr = g.clientAddr(25)
		p.ua = g.d.monitorUA[i%len(g.d.monitorUA)]
		m := &httpMonitor{p: p, method: "GET", path: "/", proto: "HTTP/1.1", size: sizeOf("/", 9000, 48000)}
		switch p.ua[0] {
		case 'M': // UptimeRobot (HEAD), StatusCake
			if strings.Contains(p.ua, "UptimeRobot") {
				m.method, m.size = "HEAD", 0
			}
		case 'c': // curl
			m.path, m.size, m.proto = "/health", 15, "HTTP/2.0"
		case 'G': // Go
			m.path, m.size = "/healthz", 2
		case 'B': // Blackbox exporter, Better Stack
			m.path, m.size = "/health", 15
		}
		m.period = [...]int64{30_000, 60_000, 60_000, 45_000}[g.rng.IntN(4)]
		g.push(g.rng.Int64N(m.period), m)
	}
	for i := range crawl {
		p := g.newParty(hCrawler)
		c := &httpCrawler{p: p, n: crawl, google: i%5 != 2 && i%5 != 4}
		switch {
		case c.google && i%3 == 1:
			// 2001:4860:4801::/48 holds Googlebot's IPv6 /64s.
			for {
				b := [16]byte{0x20, 0x01, 0x48, 0x60, 0x48, 0x01, 0, byte(0x10 + g.rng.IntN(0x90))}
				b[15] = byte(1 + g.rng.IntN(0xfe))
				p.addr = netip.AddrFrom16(b)
				if g.claim(netip.PrefixFrom(p.addr, 64).Masked().Addr()) {
					break
				}
			}
		case c.google:
			for {
				p.addr = netip.AddrFrom4([4]byte{66, 249, byte(64 + g.rng.IntN(32)), byte(1 + g.rng.IntN(254))})
				if g.claim(p.addr) {
					break
				}
			}
		default:
			nets := [][3]byte{{157, 55, 39}, {207, 46, 13}, {40, 77, 167}, {52, 167, 144}}
			for {
				n := nets[g.rng.IntN(len(nets))]
				p.addr = netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(1 + g.rng.IntN(254))})
				if g.claim(p.addr) {
					break
				}
			}
		}
		g.push(g.rng.Int64N(600_000), c)
	}
	for range api {
		p := g.newParty(hAPI)
		p.addr = g.clientAddr(20)
		p.ua = g.pick(g.d.apiUA)
		a := &httpAPI{p: p, n: api, proto: "HTTP/1.1"}
		if g.pct(20) {
			a.user = g.pick(g.d.apiUsers)
		}
		if g.pct(40) {
			a.proto = "HTTP/2.0"
		}
		g.push(g.rng.Int64N(a.idle(g)), a)
	}
	for range authors {
		p := g.newParty(hAuthor)
		p.addr = g.clientAddr(25)
		p.uaKind, p.ua = uaDesktop, g.pick(g.d.desktopUA)
		g.authors = append(g.authors, p)
	}
	for range nats {
		p := g.newParty(hNAT)
		p.addr = g.newV4()
		g.nats = append(g.nats, p)
	}
	for range n - mon - crawl - api - authors - nats {
		k := hBrowser
		switch r := g.rng.IntN(100); {
		case r < 12:
			k = hPreview
		case r < 27:
			k = hCustomer
		}
		p := g.newParty(k)
		p.addr = g.clientAddr(25)
		p.uaKind, p.ua = g.browserUA()
		if k == hPreview {
			p.ua = g.pick(g.d.previewUA)
		}
		g.browse = append(g.browse, p)
	}
	ord := g.rng.Perm(len(g.browse))
	g.browseOrd = make([]int32, len(ord))
	for i, v := range ord {
		g.browseOrd[i] = int32(v)
	}
}

func (g *httpGen) browserUA() (uint8, string) {
	switch r := g.rng.IntN(100); {
	case r < 55:
		return uaDesktop, g.pick(g.d.desktopUA)
	case r < 80:
		return uaIOS, g.pick(g.d.iosUA)
	default:
		return uaAndroid, g.pick(g.d.androidUA)
	}
}

// nextBrowser returns every browser once, in random order, then random ones.
func (g *httpGen) nextBrowser() *httpParty {
	i := g.browseN
	g.browseN++
	if i < len(g.browseOrd) {
		return g.browse[g.browseOrd[i]]
	}
	return g.browse[g.rng.IntN(len(g.browse))]
}

// sizeOf returns a response size in [lo, hi] that is the same for the same
// URI, as a static file's is.
func sizeOf(uri string, lo, hi int) int {
	h := uint32(2166136261)
	for i := 0; i < len(uri); i++ {
		h ^= uint32(uri[i])
		h *= 16777619
	}
	return lo + int(h%uint32(hi-lo+1))
}

// Sizes of nginx's own error pages (with "nginx/1.18.0" in them) and of the
// shop's.
const (
	nginx400 = 157
	nginx403 = 153
	nginx404 = 153
	nginx405 = 157
	nginx401 = 179
)

// appNotFound is the shop's 404 page for path-like URIs (the application
// answers them), nginx's for files it looks up itself.
func appNotFound(uri string) int { return sizeOf(uri, 5100, 5300) }

// httpBrowseSpawner starts visits so that their lines come at browseRate.
type httpBrowseSpawner struct{}

func (httpBrowseSpawner) step(g *httpGen) (int64, bool) {
	var v *httpVisit
	r := g.rng.IntN(1000)
	switch {
	case r < 80 && len(g.nats) > 0:
		v = g.planBrowse(g.nats[g.rng.IntN(len(g.nats))], true)
	case r < 86 && len(g.authors) > 0:
		// An author edits in one window at a time.
		if a := g.authors[g.rng.IntN(len(g.authors))]; a.until <= g.now {
			v = g.planAuthor(a)
			a.until = v.t
		}
	}
	if v == nil {
		v = g.planBrowse(g.nextBrowser(), false)
	}
	g.push(v.reqs[0].at, v)
	return g.now + g.exp(int64(float64(len(v.reqs))*1000/g.browseRate)), true
}

// httpReq is one planned request of a visit.
type httpReq struct {
	at     int64
	method string
	uri    string
	ref    string
	status int32
	size   int32
}

// httpVisit is a browser's visit, planned when it starts: a list of
// requests in time order.
type httpVisit struct {
	p     *httpParty
	ua    string
	proto string
	reqs  []httpReq
	i     int
	t     int64 // planning clock
}

func (v *httpVisit) add(method, uri string, status, size int, ref string) {
	v.reqs = append(v.reqs, httpReq{at: v.t, method: method, uri: uri, ref: ref, status: int32(status), size: int32(size)})
}

func (v *httpVisit) step(g *httpGen) (int64, bool) {
	r := &v.reqs[v.i]
	g.emit(v.p, v.p.addr, "-", r.method, r.uri, v.proto, int(r.status), int(r.size), r.ref, v.ua)
	v.i++
	if v.i < len(v.reqs) {
		return v.reqs[v.i].at, true
	}
	v.reqs = v.reqs[:0]
	v.p = nil
	g.freeVisit = append(g.freeVisit, v)
	return 0, false
}

func (g *httpGen) newVisit(p *httpParty) *httpVisit {
	var v *httpVisit
	if n := len(g.freeVisit); n > 0 {
		v = g.freeVisit[n-1]
		g.freeVisit = g.freeVisit[:n-1]
	} else {
		v = &httpVisit{reqs: make([]httpReq, 0, 32)}
	}
	v.p, v.i, v.t = p, 0, g.now
	v.ua, v.proto = p.ua, "HTTP/2.0"
	if g.pct(8) {
		v.proto = "HTTP/1.1"
	}
	return v
}

// Page kinds.
const (
	pgHome uint8 = iota
	pgProduct
	pgCategory
	pgBlog
	pgSearch
	pgStatic
)

type httpPage struct {
	uri  string
	kind uint8
}

func (g *httpGen) product() string {
	return g.pick(g.d.adjectives) + "-" + g.pick(g.d.nouns)
}

// page returns a page of the shop; home weighs the home page.
func (g *httpGen) page(home int) httpPage {
	switch r := g.rng.IntN(100); {
	case r < home:
		return httpPage{"/", pgHome}
	case r < home+35:
		return httpPage{"/products/" + g.product(), pgProduct}
	case r < home+55:
		u := "/category/" + g.pick(g.d.categories)
		if g.pct(20) {
			u += "?page=" + strconv.Itoa(2+g.rng.IntN(5))
		} else if g.pct(10) {
			u += "?sort=price-asc"
		}
		return httpPage{u, pgCategory}
	case r < home+70:
		if g.pct(15) {
			return httpPage{"/blog/", pgBlog}
		}
		return httpPage{"/blog/" + g.pick(g.d.posts), pgBlog}
	case r < home+82:
		u := "/search?q=" + g.pick(g.d.searches)
		if g.pct(10) {
			u += "&page=2"
		}
		return httpPage{u, pgSearch}
	default:
		return httpPage{g.pick(g.d.statics), pgStatic}
	}
}

// planBrowse plans a visit of a browser, or of one of the many browsers
// behind a NAT gateway.
func (g *httpGen) planBrowse(p *httpParty, nat bool) *httpVisit {
	v := g.newVisit(p)
	if p.kind == hPreview {
		g.planPreview(v)
		return v
	}
	uaKind := p.uaKind
	if nat {
		uaKind, v.ua = g.browserUA()
	}
	// Most visitors have been here before this log began: their browsers
	// keep the site's CSS, scripts and fonts.
	cached := g.pct(65)
	if p.visits > 0 {
		cached = g.pct(80)
	}
	p.visits++
	customer := p.kind == hCustomer || (nat && g.pct(20))
	pages := 1
	for pages < 12 && g.pct(50) {
		pages++
	}
	ref := "-"
	if g.pct(60) {
		ref = g.pick(g.d.externalRef)
	}
	login := -1
	if customer && g.pct(70) {
		login = g.rng.IntN(pages)
	}
	pg := g.page(30)
	for i := range pages {
		if i == login {
			ref = g.planLogin(v, p, ref)
		}
		g.planPage(v, pg, ref, i == 0, cached, uaKind)
		ref = httpSite + pg.uri
		if i < pages-1 {
			v.t += 3000 + g.exp(22_000)
			pg = g.page(8)
		}
	}
	switch {
	case customer:
		g.planShop(v, ref)
	case g.pct(2):
		v.t += g.ms(5000, 20_000)
		v.add("GET", "/contact", 200, sizeOf("/contact", 9000, 48000), ref)
		v.t += g.ms(30_000, 180_000)
		v.add("POST", "/contact", 302, 0, httpSite+"/contact")
		v.t += g.ms(80, 300)
		v.add("GET", "/contact?sent=1", 200, sizeOf("/contact?sent=1", 9000, 48000), httpSite+"/contact")
	case g.pct(1):
		v.t += g.ms(5000, 60_000)
		v.add("POST", "/newsletter/subscribe", 200, 27, ref)
	}
	return v
}

// planPreview plans a link preview (a page, then the picture its og:image
// names) or a feed reader's poll.
func (g *httpGen) planPreview(v *httpVisit) {
	v.proto = "HTTP/1.1"
	if v.ua[0] == 'F' || strings.Contains(v.ua, "Inoreader") {
		if g.pct(60) {
			v.add("GET", "/blog/feed/", 304, 0, "-")
		} else {
			v.add("GET", "/blog/feed/", 200, sizeOf("/blog/feed/", 30_000, 40_000), "-")
		}
		return
	}
	pg := g.page(10)
	v.add("GET", pg.uri, 200, sizeOf(pg.uri, 9000, 48000), "-")
	if g.pct(60) {
		v.t += g.ms(100, 1500)
		u := "/images/og/" + g.product() + ".jpg"
		if pg.kind == pgProduct {
			u = "/images/products/" + pg.uri[len("/products/"):] + "-1.webp"
		}
		v.add("GET", u, 200, sizeOf(u, 40_000, 180_000), "-")
	}
}

// planPage plans one page view: the HTML, then what it loads.
func (g *httpGen) planPage(v *httpVisit, pg httpPage, ref string, first, cached bool, uaKind uint8) {
	status, size := 200, sizeOf(pg.uri, 9000, 48000)
	switch n := g.rng.IntN(1000); {
	case n < 3:
		status, size = 499, 0 // the user went away before the page came
	case n < 5:
		status, size = 500, 1834
	case n < 6:
		status, size = 400, 233 // "Request Header Or Cookie Too Large"
	}
	v.add("GET", pg.uri, status, size, ref)
	if status != 200 {
		return
	}
	page := httpSite + pg.uri
	v.t += g.ms(30, 250)
	css := "/assets/css/app." + g.deploy + ".css"
	switch {
	case first && !cached:
		v.add("GET", css, 200, sizeOf(css, 30_000, 60_000), page)
		for _, js := range [...]string{"runtime", "vendor", "app"} {
			v.t += g.ms(0, 40)
			u := "/assets/js/" + js + "." + g.deploy + ".js"
			v.add("GET", u, 200, sizeOf(u, 2000, 280_000), page)
		}
		v.t += g.ms(20, 120)
		for _, f := range [...]string{"/assets/fonts/inter-latin-400.woff2", "/assets/fonts/inter-latin-600.woff2"} {
			v.add("GET", f, 200, sizeOf(f, 24_000, 48_000), httpSite+css)
			v.t += g.ms(0, 30)
		}
		v.add("GET", "/images/logo.svg", 200, 3418, page)
	case first && g.pct(20):
		// Revalidation of what the browser keeps.
		v.add("GET", css, 304, 0, page)
		v.t += g.ms(0, 40)
		u := "/assets/js/app." + g.deploy + ".js"
		v.add("GET", u, 304, 0, page)
	}
	// Images of an earlier page, or of an earlier visit, come from the
	// browser's cache.
	if (first || g.pct(50)) && (!cached || g.pct(40)) {
		g.planImages(v, pg, page)
	}
	if !first {
		return
	}
	switch {
	case !cached && g.pct(25):
		v.t += g.ms(50, 400)
		v.add("GET", "/favicon.ico", 404, nginx404, page)
	case cached && g.pct(3):
		// Pages kept from before the last deploy ask for its assets.
		v.t += g.ms(10, 100)
		v.add("GET", "/assets/css/app."+g.oldDeploy+".css", 404, nginx404, page)
		v.add("GET", "/assets/js/app."+g.oldDeploy+".js", 404, nginx404, page)
	}
	switch {
	case uaKind == uaIOS && g.pct(30):
		v.t += g.ms(100, 900)
		v.add("GET", "/apple-touch-icon-precomposed.png", 404, nginx404, "-")
		v.t += g.ms(5, 60)
		v.add("GET", "/apple-touch-icon.png", 404, nginx404, "-")
	case uaKind == uaDesktop && g.pct(2):
		// Developer tools open: source maps, which the shop does not publish.
		v.t += g.ms(200, 2000)
		v.add("GET", "/assets/js/app."+g.deploy+".js.map", 404, nginx404, "-")
		v.add("GET", css+".map", 404, nginx404, "-")
	}
}

// planImages plans the images a page shows (those below the fold load
// lazily, and often never).
func (g *httpGen) planImages(v *httpVisit, pg httpPage, page string) {
	img := func(u string, lo, hi int) {
		v.t += g.ms(5, 120)
		v.add("GET", u, 200, sizeOf(u, lo, hi), page)
	}
	thumbs := func(n int) {
		for range n {
			img("/images/products/"+g.product()+"-thumb.webp", 6000, 24_000)
		}
	}
	switch pg.kind {
	case pgHome:
		img("/images/hero/winter-collection.webp", 120_000, 240_000)
		thumbs(3)
	case pgProduct:
		slug := pg.uri[len("/products/"):]
		for i := range 1 + g.rng.IntN(3) {
			img("/images/products/"+slug+"-"+strconv.Itoa(i+1)+".webp", 40_000, 180_000)
		}
		thumbs(2)
	case pgCategory:
		thumbs(4 + g.rng.IntN(5)) // the rest load lazily, if the user scrolls
	case pgBlog:
		if pg.uri != "/blog/" {
			img("/images/blog/"+pg.uri[len("/blog/"):]+"-hero.jpg", 80_000, 300_000)
		}
	case pgSearch:
		thumbs(2 + g.rng.IntN(5))
	}
}

// planLogin plans a customer's log-in: now and then one mistyped password
// first, never more than two failures per address in ten minutes.
func (g *httpGen) planLogin(v *httpVisit, p *httpParty, ref string) string {
	v.t += g.ms(2000, 10_000)
	v.add("GET", "/login", 200, sizeOf("/login", 6000, 8000), ref)
	form := httpSite + "/login"
	v.t += g.ms(5000, 25_000)
	if g.pct(8) && p.allowFail(v.t) {
		p.recordFail(v.t)
		v.add("POST", "/login", 401, sizeOf("/login?failed", 6000, 8000), form)
		v.t += g.ms(5000, 20_000)
	}
	v.add("POST", "/login", 302, 0, form)
	v.t += g.ms(60, 400)
	v.add("GET", "/account", 200, sizeOf("/account", 9000, 20_000), form)
	return httpSite + "/account"
}

// planShop plans what a logged-in customer posts: the cart, a checkout,
// settings, a log-out.
func (g *httpGen) planShop(v *httpVisit, ref string) {
	get := func(u, r string) {
		v.t += g.ms(60, 400)
		v.add("GET", u, 200, sizeOf(u, 9000, 40_000), r)
	}
	if g.pct(50) {
		v.t += g.ms(3000, 30_000)
		v.add("POST", "/cart/add", 302, 0, ref)
		get("/cart", ref)
		if g.pct(40) {
			v.t += g.ms(10_000, 60_000)
			v.add("GET", "/checkout", 200, sizeOf("/checkout", 9000, 40_000), httpSite+"/cart")
			v.t += g.ms(30_000, 180_000)
			v.add("POST", "/checkout", 302, 0, httpSite+"/checkout")
			get("/checkout/complete?order="+strconv.Itoa(100_000+g.rng.IntN(900_000)), httpSite+"/checkout")
		}
	}
	if g.pct(10) {
		v.t += g.ms(3000, 30_000)
		v.add("GET", "/account/settings", 200, sizeOf("/account/settings", 9000, 40_000), ref)
		v.t += g.ms(10_000, 90_000)
		v.add("POST", "/account/settings", 302, 0, httpSite+"/account/settings")
		get("/account/settings?saved=1", httpSite+"/account/settings")
	}
	if g.pct(15) {
		v.t += g.ms(3000, 30_000)
		v.add("POST", "/logout", 302, 0, ref)
		get("/", ref)
	}
}

// planAuthor plans a WordPress author's session: log-in (after at most one
// typo), the dashboard, editing with the heartbeat every 15 seconds, saving.
func (g *httpGen) planAuthor(p *httpParty) *httpVisit {
	v := g.newVisit(p)
	login := httpSite + "/wp-login.php"
	admin := httpSite + "/wp-admin/"
	ref := "-"
	if g.pct(50) {
		ref = httpSite + "/"
	}
	v.add("GET", "/wp-login.php", 200, 4316, ref)
	v.t += g.ms(4000, 20_000)
	if g.pct(25) && p.allowFail(v.t) {
		p.recordFail(v.t)
		v.add("POST", "/wp-login.php", 200, 4533, login)
		v.t += g.ms(6000, 25_000)
	}
	v.add("POST", "/wp-login.php", 302, 0, login)
	v.t += g.ms(100, 500)
	v.add("GET", "/wp-admin/", 200, sizeOf("/wp-admin/", 60_000, 90_000), login)
	v.t += g.ms(50, 300)
	v.add("GET", "/wp-admin/load-styles.php?c=1&dir=ltr&load%5Bchunk_0%5D=dashicons,admin-bar,common,forms,admin-menu,dashboard,list-tables,edit,revisions,media,themes,about,nav-menus,wp-pointer,widgets&load%5Bchunk_1%5D=,site-icon,l10n,buttons,wp-auth-check&ver=6.9", 200, 88_412, admin)
	v.t += g.ms(0, 60)
	v.add("GET", "/wp-admin/load-scripts.php?c=1&load%5Bchunk_0%5D=jquery-core,jquery-migrate,utils&ver=6.9", 200, 38_105, admin)
	for range 1 + g.rng.IntN(3) {
		v.t += g.ms(5000, 60_000)
		v.add("GET", "/wp-admin/edit.php", 200, sizeOf("/wp-admin/edit.php", 50_000, 70_000), admin)
		post := strconv.Itoa(100 + g.rng.IntN(1900))
		edit := "/wp-admin/post.php?post=" + post + "&action=edit"
		v.t += g.ms(3000, 30_000)
		v.add("GET", edit, 200, sizeOf(edit, 70_000, 120_000), httpSite+"/wp-admin/edit.php")
		v.t += g.ms(200, 900)
		rest := "/wp-json/wp/v2/posts/" + post + "?context=edit&_locale=user"
		v.add("GET", rest, 200, sizeOf(rest, 3000, 30_000), httpSite+edit)
		for range 8 + g.rng.IntN(90) {
			v.t += g.ms(14_500, 15_500)
			v.add("POST", "/wp-admin/admin-ajax.php", 200, 142+g.rng.IntN(60), httpSite+edit)
			if g.pct(3) {
				v.t += g.ms(500, 3000)
				v.add("POST", "/wp-admin/async-upload.php", 200, 1024+g.rng.IntN(800), httpSite+edit)
			}
		}
		v.t += g.ms(2000, 10_000)
		if g.pct(50) {
			save := "/wp-json/wp/v2/posts/" + post + "?_locale=user"
			v.add("POST", save, 200, sizeOf(save, 3000, 30_000), httpSite+edit)
		} else {
			v.add("POST", "/wp-admin/post.php", 302, 0, httpSite+edit)
			v.t += g.ms(100, 400)
			v.add("GET", edit+"&message=1", 200, sizeOf(edit, 70_000, 120_000), httpSite+edit)
		}
	}
	if g.pct(40) {
		v.t += g.ms(5000, 60_000)
		v.add("GET", "/wp-login.php?action=logout&_wpnonce="+g.hex(10), 302, 0, admin)
		v.t += g.ms(80, 300)
		v.add("GET", "/wp-login.php?loggedout=true&wp_lang=en_US", 200, 4290, admin)
	}
	return v
}

// httpMonitor checks the site at a fixed period.
type httpMonitor struct {
	p                   *httpParty
	method, path, proto string
	size                int
	period              int64
}

func (m *httpMonitor) step(g *httpGen) (int64, bool) {
	status, size := 200, m.size
	if g.rng.IntN(3000) == 0 {
		status, size = 504, 167
	}
	g.emit(m.p, m.p.addr, "-", m.method, m.path, m.proto, status, size, "-", m.p.ua)
	return g.now + m.period + g.ms(-400, 400), true
}

// httpCrawler is Googlebot or bingbot: sessions of distinct pages at one
// request a second or slower, with pauses between them.
type httpCrawler struct {
	p      *httpParty
	n      int // crawlers in all
	google bool
	left   int
}

const (
	googlebotUA  = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	googlebotMob = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	bingbotUA    = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
)

func (c *httpCrawler) step(g *httpGen) (int64, bool) {
	ua := bingbotUA
	if c.google {
		ua = googlebotUA
		if g.pct(70) {
			ua = googlebotMob
		}
	}
	var uri string
	status := 200
	if c.left == 0 {
		c.left = 20 + g.rng.IntN(380)
		uri = "/robots.txt"
		if g.pct(40) {
			uri = "/sitemap.xml"
		}
	} else {
		switch r := g.rng.IntN(100); {
		case r < 3:
			uri, status = g.pick(g.d.oldPages), 404
		case r < 5:
			uri, status = "/products/"+g.product()+"/", 301
		case r < 8:
			uri = [...]string{"/sitemap-products.xml", "/sitemap-blog.xml", "/sitemap-categories.xml"}[g.rng.IntN(3)]
		default:
			uri = g.page(5).uri
		}
	}
	size := sizeOf(uri, 9000, 48000)
	switch {
	case uri == "/robots.txt":
		size = 412
	case status == 404:
		size = appNotFound(uri)
	case status == 301:
		size = 169
	}
	g.emit(c.p, c.p.addr, "-", "GET", uri, "HTTP/1.1", status, size, "-", ua)
	c.left--
	if c.left > 0 {
		return g.now + 1000 + g.exp(2500), true
	}
	// Pause so that the crawlers together write crawlRate lines a second.
	const meanSession = 210 * 3500 // ms a session of mean length takes
	idle := int64(float64(210*c.n)*1000/crawlRate) - meanSession
	return g.now + 60_000 + g.exp(max(idle, 60_000)), true
}

// httpAPI is an API client: sessions of JSON calls with pauses between
// them; now and then its token expires.
type httpAPI struct {
	p       *httpParty
	n       int    // API clients in all
	user    string // basic-auth user, or empty for a bearer token
	proto   string
	left    int // calls left in this session
	fail    int // 401s still to come
	refresh bool
	last    string // the call a 401 answered
	expired int64  // when its token last expired
}

func (a *httpAPI) step(g *httpGen) (int64, bool) {
	user := "-"
	if a.user != "" {
		user = a.user
	}
	emit := func(method, uri string, status, size int) {
		g.emit(a.p, a.p.addr, user, method, uri, a.proto, status, size, "-", a.p.ua)
	}
	if a.left == 0 {
		a.left = 5 + g.rng.IntN(116)
	}
	switch {
	case a.fail > 0:
		emit("GET", a.last, 401, 61)
		a.fail--
		if a.fail == 0 && !a.refresh {
			a.left = 0 // gives up until someone fixes its token
			return g.now + g.exp(a.idle(g)), true
		}
		return g.now + g.ms(300, 4000), true
	case a.refresh:
		emit("POST", "/api/v1/auth/token", 200, 412)
		a.refresh = false
		return g.now + g.ms(100, 800), true
	}
	method, uri, status, size := g.apiCall()
	emit(method, uri, status, size)
	a.left--
	if a.user == "" && method == "GET" && (a.expired == 0 || g.now-a.expired > 3_600_000) && g.rng.IntN(300) == 0 {
		// Its token expires: the next two or three calls fail.
		a.expired, a.last, a.fail, a.refresh = g.now, uri, 2+g.rng.IntN(2), g.pct(70)
		return g.now + g.ms(500, 5000), true
	}
	if a.left == 0 {
		return g.now + g.exp(a.idle(g)), true
	}
	return g.now + g.ms(800, 9000), true
}

// idle returns the mean pause after a session so that the API clients
// together write apiRate lines a second.
func (a *httpAPI) idle(g *httpGen) int64 {
	const mean = 62 // calls in a session
	return max(int64(float64(mean*a.n)*1000/g.apiRate)-mean*5000, 30_000)
}

// apiCall returns one call of the shop's JSON API.
func (g *httpGen) apiCall() (method, uri string, status, size int) {
	id := strconv.Itoa(10_000 + g.rng.IntN(90_000))
	switch r := g.rng.IntN(100); {
	case r < 25:
		return "GET", "/api/v1/products?page=" + strconv.Itoa(1+g.rng.IntN(12)) + "&per_page=50", 200, 38_000 + g.rng.IntN(9000)
	case r < 45:
		if g.pct(2) {
			return "GET", "/api/v1/products/" + id, 404, 48
		}
		return "GET", "/api/v1/products/" + id, 200, 1800 + g.rng.IntN(1500)
	case r < 65:
		return "GET", "/api/v1/orders?status=processing&page=1", 200, 2000 + g.rng.IntN(30_000)
	case r < 75:
		return "GET", "/api/v1/orders/" + id, 200, 2400 + g.rng.IntN(2000)
	case r < 83:
		if g.pct(3) {
			return "POST", "/api/v1/orders", 422, 131
		}
		return "POST", "/api/v1/orders", 201, 2600 + g.rng.IntN(1200)
	case r < 90:
		return "PATCH", "/api/v1/orders/" + id, 200, 2500 + g.rng.IntN(1200)
	case r < 97:
		return "GET", "/api/v1/inventory/SKU-" + id, 200, 180 + g.rng.IntN(40)
	default:
		return "GET", "/api/v1/me", 200, 311
	}
}
