package httplog

import (
	"fmt"
	"testing"
)

// benchLines are typical lines of each shape, as a busy server writes them.
var benchLines = map[string]string{
	"combined":         `203.0.113.7 - - [06/Dec/2026:16:21:43 +0000] "GET /wp-content/themes/x/style.css?ver=6.4.2 HTTP/1.1" 200 5120 "https://example.com/blog/post" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`,
	"combined-ipv6":    `2001:db8:1234:5678::7 - - [06/Dec/2026:16:21:43 +0000] "GET /wp-content/themes/x/style.css?ver=6.4.2 HTTP/1.1" 200 5120 "https://example.com/blog/post" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`,
	"main-behind-lb":   `10.0.0.5 - - [06/Dec/2026:16:21:43 +0000] "GET /wp-content/themes/x/style.css?ver=6.4.2 HTTP/1.1" 200 5120 "https://example.com/blog/post" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" "198.51.100.23, 10.0.0.7"`,
	"common":           `203.0.113.7 - frank [06/Dec/2026:16:21:43 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
	"vhost-combined":   `example.com:443 203.0.113.7 - - [06/Dec/2026:16:21:43 +0000] "GET /wp-login.php HTTP/1.1" 404 437 "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
	"traefik-clf":      `203.0.113.7 - - [06/Dec/2026:16:21:43 +0000] "GET /x HTTP/1.1" 404 19 "-" "curl/8.5.0" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
	"caddy":            `{"level":"info","ts":1733502103.1234567,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"203.0.113.7","remote_port":"41342","client_ip":"203.0.113.7","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/wp-login.php","headers":{"User-Agent":["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"],"Accept":["*/*"],"Accept-Encoding":["gzip, deflate, br"]},"tls":{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":"example.com"}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":404,"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"]}}`,
	"caddy-escaped":    `{"level":"info","ts":1733502103.1234567,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"198.51.100.23","proto":"HTTP/1.1","method":"GET","host":"example.com","uri":"/a?q=\u003cscript\u003e","headers":{"User-Agent":["sqlmap/1.7 \"x\""],"X-Forwarded-For":["198.51.100.23"]}},"bytes_read":0,"user_id":"","duration":0.0009,"size":0,"status":403,"resp_headers":{}}`,
	"traefik-json":     `{"ClientAddr":"203.0.113.7:51234","ClientHost":"203.0.113.7","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":19,"DownstreamStatus":404,"Duration":301500,"OriginContentSize":19,"OriginDuration":250000,"OriginStatus":404,"Overhead":51500,"RequestAddr":"example.com","RequestContentSize":0,"RequestCount":12,"RequestHost":"example.com","RequestMethod":"GET","RequestPath":"/wp-login.php","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"http","RetryAttempts":0,"RouterName":"web@docker","ServiceAddr":"172.17.0.3:80","ServiceName":"web@docker","ServiceURL":"http://172.17.0.3:80","StartLocal":"2026-12-06T16:21:43.123456789Z","StartUTC":"2026-12-06T16:21:43.123456789Z","entryPointName":"web","level":"info","msg":"","request_User-Agent":"Mozilla/5.0","time":"2026-12-06T16:21:43Z"}`,
	"haproxy":          `203.0.113.7:51234 [06/Dec/2026:16:21:43.123] http-in~ web/web1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {example.com|Mozilla/5.0 (X11)} "GET /index.html HTTP/1.1"`,
	"nginx-error":      `2026/12/06 16:21:43 [error] 1234#1234: *5 user "admin": password mismatch, client: 203.0.113.7, server: example.com, request: "GET /private HTTP/1.1", host: "example.com"`,
	"nginx-error-open": `2026/12/06 16:21:43 [error] 1234#1234: *5 open() "/usr/share/nginx/html/wp-login.php" failed (2: No such file or directory), client: 203.0.113.7, server: localhost, request: "GET /wp-login.php HTTP/1.1", host: "192.0.2.10"`,
	"apache-error":     `[Sat Dec 06 16:21:43.123456 2026] [auth_basic:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01617: user admin: authentication failure for "/private": Password Mismatch`,
	"not-a-log-line":   `Dec  6 16:21:43 web1 systemd[1]: Started nginx.service - A high performance web server.`,
}

// benchParse reports the cost of Parse for one line shape, with its time
// changing every line (as a log's does) so that the clock's cache of the
// last second is not always hit.
func benchParse(b *testing.B, p *Parser, line string) {
	buf := []byte(line)
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Parse(buf, &r)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{
		"combined", "combined-ipv6", "main-behind-lb", "common", "vhost-combined", "traefik-clf",
		"caddy", "caddy-escaped", "traefik-json", "haproxy", "nginx-error", "nginx-error-open", "apache-error",
		"not-a-log-line",
	} {
		b.Run(name, func(b *testing.B) { benchParse(b, newTestParser(nil), benchLines[name]) })
	}
}

// BenchmarkParseFormat is the cost of lines of the operator's formats.
func BenchmarkParseFormat(b *testing.B) {
	for _, c := range []struct{ name, spec, line string }{
		{"combined", debianCombined, benchLines["combined"]},
		{"main-behind-lb", nginxMain, benchLines["main-behind-lb"]},
		{"json", jsonFormat, `{"time":"2026-12-06T17:21:41+01:00","remote_addr":"10.0.0.5","x_forwarded_for":"198.51.100.23, 10.0.0.7","remote_user":"","request":"GET /wp-login.php HTTP/1.1","status": 404,"body_bytes_sent":179,"request_time":0.001,"http_referrer":"","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","host":"example.com"}`},
	} {
		f, err := CompileNginx(c.spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { benchParse(b, newTestParser(f), c.line) })
	}
}

// BenchmarkParseCombinedStream is a stream of combined lines whose second
// changes every 16 lines, from many addresses.
func BenchmarkParseCombinedStream(b *testing.B) {
	lines := make([][]byte, 4096)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `203.0.%d.%d - - [06/Dec/2026:16:%02d:%02d +0000] "GET /p/%d?x=%d HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
			i/250%250, i%250+1, i/16/60%60, i/16%60, i, i*7, []int{200, 404, 301, 403}[i%4], 100+i)
	}
	p := newTestParser(nil)
	var r Request
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Parse(lines[i%len(lines)], &r)
	}
}

// TestAllocs checks that Parse allocates nothing once warm, for every shape.
func TestAllocs(t *testing.T) {
	for name, line := range benchLines {
		p := newTestParser(nil)
		buf := []byte(line)
		var r Request
		p.Parse(buf, &r)
		if got := testing.AllocsPerRun(100, func() { p.Parse(buf, &r) }); got != 0 {
			t.Errorf("%s: %v allocations per line", name, got)
		}
	}
	for _, spec := range []string{debianCombined, nginxMain, jsonFormat, timed} {
		f := mustCompile(t, spec)
		p := newTestParser(f)
		buf := []byte(benchLines["main-behind-lb"])
		var r Request
		if got := testing.AllocsPerRun(100, func() { p.Parse(buf, &r) }); got != 0 {
			t.Errorf("format %q: %v allocations per line", spec, got)
		}
	}
}
