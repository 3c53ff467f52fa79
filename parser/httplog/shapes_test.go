package httplog

import (
	"fmt"
	"strings"
	"testing"
)

// shape is one line of a table test and what Parse must make of it ("" =
// not understood).
type shape struct {
	name, line, want string
}

// runShapes parses each line with one new parser per case.
func runShapes(t *testing.T, newParser func() *Parser, cases []shape) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseLine(newParser(), c.line); got != c.want {
				t.Errorf("line %q\n got %s\nwant %s", c.line, orNone(got), orNone(c.want))
			}
		})
	}
}

const ts = "[06/Dec/2026:16:21:43 +0000]"

func TestAccessShapes(t *testing.T) {
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"combined (nginx, Debian default)",
			`203.0.113.7 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/x?y" proto="HTTP/1.1" status=404 referer="https://example.com/" ua="Mozilla/5.0 (X11; Linux x86_64)"`},
		{"common (CLF) with zone and user",
			`203.0.113.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
			`peer=203.0.113.7 client=203.0.113.7 time=2000-10-10T13:55:36-07:00 method="GET" uri="/apache_pb.gif" proto="HTTP/1.0" status=200 user="frank"`},
		{"common, byte count dash (Apache %b)",
			`203.0.113.7 - - ` + ts + ` "HEAD / HTTP/1.1" 304 -`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="HEAD" uri="/" proto="HTTP/1.1" status=304`},
		{"unescaped quote in a user name (Traefik) garbles only the line's own fields",
			`203.0.113.7 - a [01/Jan/2020:00:00:00 +0000] "GET /fake HTTP/1.1" 200 0 ` + ts + ` "POST /login HTTP/1.1" 401 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2020-01-01T00:00:00Z method="GET" uri="/fake" proto="HTTP/1.1" status=200 user="a"`},
		{"user with spaces and brackets, no quote (nginx escapes it)",
			`203.0.113.7 - a [01/Jan/2020:00:00:00 +0000] b ` + ts + ` "POST /login HTTP/1.1" 401 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="POST" uri="/login" proto="HTTP/1.1" status=401 user="a [01/Jan/2020:00:00:00 +0000] b"`},
		{"ipv6 peer",
			`2001:db8::7 - - ` + ts + ` "GET / HTTP/2.0" 200 5 "-" "curl/8.5.0"`,
			`peer=2001:db8::7 client=2001:db8::7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/2.0" status=200 ua="curl/8.5.0"`},
		{"ipv4-mapped peer is unmapped",
			`::ffff:203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 5 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200`},
		{"tls handshake on port 80 (nginx escapes)",
			`203.0.113.7 - - ` + ts + ` "\x16\x03\x01\x00\xF4\x01\x00\x00\xF0\x03\x03\xA5" 400 157 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true status=400`},
		{"raw binary request",
			"203.0.113.7 - - " + ts + " \"\x16\x03\x01\x00\xf4\x01\x00\x00\xf0\x03\x03 \xa5\" 400 157 \"-\" \"-\"",
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true status=400`},
		{"empty request",
			`203.0.113.7 - - ` + ts + ` "-" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z norequest=true status=400`},
		{"empty request, quotes only",
			`203.0.113.7 - - ` + ts + ` "" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z norequest=true status=400`},
		{"http/0.9 request",
			`203.0.113.7 - - ` + ts + ` "GET /" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true status=400`},
		{"uri with a space",
			`203.0.113.7 - - ` + ts + ` "GET /a b HTTP/1.1" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true status=400`},
		{"absolute uri (proxy probe)",
			`203.0.113.7 - - ` + ts + ` "GET http://example.net/ HTTP/1.1" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="http://example.net/" proto="HTTP/1.1" status=400`},
		{"connect",
			`203.0.113.7 - - ` + ts + ` "CONNECT example.net:443 HTTP/1.1" 400 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="CONNECT" uri="example.net:443" proto="HTTP/1.1" status=400`},
		{"quotes in user agent, nginx escape",
			`203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "x\x22 \x22198.51.100.1"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 ua="x\\x22 \\x22198.51.100.1"`},
		{"quotes in user agent, apache escape",
			`203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "x\" \"198.51.100.1\\"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 ua="x\\\" \\\"198.51.100.1\\\\"`},
		{"quote in apache user name",
			`203.0.113.7 - a\"b ` + ts + ` "GET / HTTP/1.1" 401 1 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=401 user="a\\\"b"`},
		{"invalid utf-8 and a long uri",
			`203.0.113.7 - - ` + ts + ` "GET /` + strings.Repeat("\xff", 65536) + ` HTTP/1.1" 414 0 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/` + strings.Repeat(`\xff`, 65536) + `" proto="HTTP/1.1" status=414`},
		{"nginx main with x-forwarded-for from an untrusted peer",
			`203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "curl/8" "198.51.100.1"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 ua="curl/8" fwd="198.51.100.1"`},
		{"main with extra trailing fields",
			`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "curl/8" "198.51.100.1" 0.004 0.003 .`,
			`peer=10.0.0.5 client=198.51.100.1 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 ua="curl/8" fwd="198.51.100.1"`},
		{"combined with extra quoted trailing fields: no forwarded",
			`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "curl/8" "198.51.100.1" "example.com"`,
			`peer=10.0.0.5 client=none time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 ua="curl/8"`},
		{"traefik clf",
			`203.0.113.7 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "curl/8" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/x" proto="HTTP/1.1" status=404 ua="curl/8"`},
		{"traefik clf, a user agent that forges a forwarded field",
			`10.0.0.5 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "x" "192.0.2.66" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
			`peer=10.0.0.5 client=none time=2026-12-06T16:21:43Z method="GET" uri="/x" proto="HTTP/1.1" status=404 ua="x"`},
		{"traefik clf, an unescaped quote garbles the user agent only",
			`203.0.113.7 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "a"b" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/x" proto="HTTP/1.1" status=404 ua="a"`},
		{"traefik clf with a forwarded list for an address",
			`198.51.100.1, 10.0.0.5 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "curl/8" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
			``},
		{"apache vhost_combined",
			`example.com:443 203.0.113.7 - - ` + ts + ` "GET /wp-login.php HTTP/1.1" 404 437 "-" "Mozilla/5.0"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/wp-login.php" proto="HTTP/1.1" status=404 host="example.com" ua="Mozilla/5.0"`},
		{"apache vhost_combined, vhost is an address",
			`192.0.2.10:80 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 4 "-" "-"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200 host="192.0.2.10"`},
		{"host name instead of an address (HostnameLookups)",
			`scanner.example.net - - ` + ts + ` "GET / HTTP/1.1" 200 4 "-" "-"`,
			``},
		{"unix socket peer",
			`unix: - - ` + ts + ` "GET / HTTP/1.1" 200 4 "-" "-"`,
			``},
		{"octal-looking address",
			`010.0.0.1 - - ` + ts + ` "GET / HTTP/1.1" 200 4 "-" "-"`,
			``},
		{"time out of range",
			`203.0.113.7 - - [31/Feb/2026:16:21:43 +0000] "GET / HTTP/1.1" 200 4 "-" "-"`,
			``},
		{"no status", `203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1"`, ``},
		{"status not a number", `203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" abc 1`, ``},
		{"unterminated request", `203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1 200 1`, ``},
		{"crlf line end",
			`203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "-"` + "\r",
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200`},
		{"empty", ``, ``},
		{"garbage", `hello world, this is not a log line`, ``},
		{"syslog header not stripped", `Dec  6 16:21:43 web1 nginx: 203.0.113.7 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "-"`, ``},
	})
}

func TestForwardedShapes(t *testing.T) {
	line := func(peer, xff string) string {
		return peer + ` - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "-" "` + xff + `"`
	}
	want := func(peer, client, xff string) string {
		w := `peer=` + peer + ` client=` + client + ` time=2026-12-06T16:21:43Z method="GET" uri="/" proto="HTTP/1.1" status=200`
		if xff != "" && xff != "-" {
			w += fmt.Sprintf(" fwd=%q", xff)
		}
		return w
	}
	long := "198.51.100.1" + strings.Repeat(" ", 60)
	hops33 := strings.TrimSuffix(strings.Repeat("10.9.9.9, ", 33), ", ")
	hops32 := strings.TrimSuffix(strings.Repeat("10.9.9.9, ", 32), ", ")
	cases := []struct{ name, peer, xff, client string }{
		{"untrusted peer ignores xff", "203.0.113.7", "192.0.2.66", "203.0.113.7"},
		{"trusted peer, one hop", "10.0.0.5", "198.51.100.1", "198.51.100.1"},
		{"trusted peer walks past trusted hops", "10.0.0.5", "198.51.100.1, 10.0.0.7, 10.1.2.3", "198.51.100.1"},
		{"forged left part is not believed", "10.0.0.5", "192.0.2.66, 198.51.100.1, 10.0.0.7", "198.51.100.1"},
		{"garbage left of the client is not needed", "10.0.0.5", "<script>, 198.51.100.1", "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.5", "10.1.1.1, 10.0.0.7", "10.1.1.1"},
		{"missing", "10.0.0.5", "-", "none"},
		{"empty", "10.0.0.5", "", "none"},
		{"unreadable element needed", "10.0.0.5", "198.51.100.1, unknown, 10.0.0.7", "none"},
		{"empty element needed", "10.0.0.5", "198.51.100.1,,10.0.0.7", "none"},
		{"trailing comma", "10.0.0.5", "198.51.100.1,", "none"},
		{"no spaces", "10.0.0.5", "198.51.100.1,10.0.0.7", "198.51.100.1"},
		{"tabs and spaces", "10.0.0.5", "198.51.100.1 ,\t10.0.0.7 ", "198.51.100.1"},
		{"ipv4 with port", "10.0.0.5", "198.51.100.1:4711", "198.51.100.1"},
		{"bracketed ipv6 with port", "10.0.0.5", "[2001:db8::9]:4711, 10.0.0.7", "2001:db8::9"},
		{"bracketed ipv6", "10.0.0.5", "[2001:db8::9]", "2001:db8::9"},
		{"bare ipv6", "10.0.0.5", "2001:db8::9", "2001:db8::9"},
		{"trusted ipv6 cdn", "2001:db8:ffff::1", "198.51.100.1, 2001:db8:ffff::2", "198.51.100.1"},
		{"ipv4-mapped is unmapped", "10.0.0.5", "::ffff:198.51.100.1", "198.51.100.1"},
		{"zone rejected", "10.0.0.5", "fe80::1%eth0", "none"},
		{"bad port", "10.0.0.5", "198.51.100.1:99999", "none"},
		{"host name", "10.0.0.5", "client.example.net", "none"},
		{"escaped quote", "10.0.0.5", `198.51.100.1\x22`, "none"},
		{"element too long", "10.0.0.5", long, "none"},
		{"32 trusted hops then the client", "10.0.0.5", "198.51.100.1, " + hops32, "198.51.100.1"},
		{"33 trusted hops", "10.0.0.5", "198.51.100.1, " + hops33, "none"},
		{"ipv4-mapped trusted peer", "::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"},
	}
	var shapes []shape
	for _, c := range cases {
		peer := strings.TrimPrefix(c.peer, "::ffff:")
		shapes = append(shapes, shape{c.name, line(c.peer, c.xff), want(peer, c.client, c.xff)})
	}
	runShapes(t, func() *Parser { return newTestParser(nil) }, shapes)

	// Without Trusted, nothing is trusted.
	p := New(Options{})
	if got, w := parseLine(p, line("10.0.0.5", "198.51.100.1")), want("10.0.0.5", "10.0.0.5", "198.51.100.1"); got != w {
		t.Errorf("nil Trusted:\n got %s\nwant %s", got, w)
	}
}

func TestCaddyShapes(t *testing.T) {
	caddy := func(request, rest string) string {
		return `{"level":"info","ts":1733502103.123,"logger":"http.log.access.log0","msg":"handled request","request":{` + request +
			`},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":404` + rest + `,"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"]}}`
	}
	const req = `"proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env?x=1","headers":{"User-Agent":["curl/8.5.0"],"Accept":["*/*"]},"tls":{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":"example.com"}`
	const base = `time=2024-12-06T16:21:43.123Z method="GET" uri="/.env?x=1" proto="HTTP/2.0" status=404 host="example.com" ua="curl/8.5.0"`
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"caddy 2.7+",
			caddy(`"remote_ip":"203.0.113.7","remote_port":"41342","client_ip":"203.0.113.7",`+req, ``),
			`peer=203.0.113.7 client=203.0.113.7 ` + base},
		{"caddy, untrusted peer: client_ip not believed",
			caddy(`"remote_ip":"203.0.113.7","remote_port":"41342","client_ip":"192.0.2.66",`+req, ``),
			`peer=203.0.113.7 client=203.0.113.7 ` + base + ` fwd="192.0.2.66"`},
		{"caddy, trusted peer: client_ip believed",
			caddy(`"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"198.51.100.1",`+req, ``),
			`peer=10.0.0.5 client=198.51.100.1 ` + base + ` fwd="198.51.100.1"`},
		{"caddy, trusted peer, client_ip is the peer: nobody",
			caddy(`"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"10.0.0.5",`+req, ``),
			`peer=10.0.0.5 client=none ` + base},
		{"caddy, trusted peer, X-Forwarded-For walked rather than Caddy's leftmost pick",
			caddy(`"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"192.0.2.66","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env?x=1","headers":{"User-Agent":["curl/8.5.0"],"X-Forwarded-For":["192.0.2.66, 198.51.100.1"]}`, ``),
			`peer=10.0.0.5 client=198.51.100.1 ` + base + ` fwd="192.0.2.66, 198.51.100.1"`},
		{"caddy, X-Forwarded-For in two header lines",
			caddy(`"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"192.0.2.66","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env?x=1","headers":{"User-Agent":["curl/8.5.0"],"X-Forwarded-For":["192.0.2.66","198.51.100.1, 10.0.0.9"]}`, ``),
			`peer=10.0.0.5 client=198.51.100.1 ` + base + ` fwd="192.0.2.66, 198.51.100.1, 10.0.0.9"`},
		{"caddy, X-Forwarded-For not an array of strings: nobody",
			caddy(`"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"198.51.100.1","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env?x=1","headers":{"User-Agent":["curl/8.5.0"],"X-Forwarded-For":[1]}`, ``),
			`peer=10.0.0.5 client=none ` + base},
		{"caddy before 2.5 (remote_addr)",
			caddy(`"remote_addr":"[2001:db8::7]:41342",`+req, ``),
			`peer=2001:db8::7 client=2001:db8::7 ` + base},
		{"caddy, a header named like the address field is not it",
			caddy(`"remote_ip":"203.0.113.7","remote_port":"41342","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env?x=1","headers":{"Remote_ip":["192.0.2.66"],"User-Agent":["curl/8.5.0"],"X":["\"},\"remote_ip\":\"192.0.2.66"]}`, ``),
			`peer=203.0.113.7 client=203.0.113.7 ` + base},
		{"caddy, duplicate remote_ip",
			caddy(`"remote_ip":"203.0.113.7","remote_ip":"192.0.2.66",`+req, ``), ``},
		{"caddy, duplicate request object",
			caddy(`"remote_ip":"203.0.113.7",`+req, `,"request":{"remote_ip":"192.0.2.66"}`), ``},
		{"caddy, escapes in the user agent and uri",
			caddy(`"remote_ip":"203.0.113.7","proto":"HTTP/1.1","method":"GET","host":"example.com","uri":"/a\u0022b","headers":{"User-Agent":["x \"y\" \u00e9 \ud83d\ude00 \ud800"]}`, ``),
			`peer=203.0.113.7 client=203.0.113.7 time=2024-12-06T16:21:43.123Z method="GET" uri="/a\"b" proto="HTTP/1.1" status=404 host="example.com" ua="x \"y\" é 😀 �"`},
		{"caddy, authenticated user and iso time",
			`{"level":"info","ts":"2026-12-06T16:21:43.5Z","logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.7","proto":"HTTP/1.1","method":"POST","host":"example.com","uri":"/admin","headers":{}},"user_id":"alice","status":401}`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.5Z method="POST" uri="/admin" proto="HTTP/1.1" status=401 host="example.com" user="alice"`},
		{"caddy, remote_ip of the wrong type",
			caddy(`"remote_ip":203,`+req, ``), ``},
		{"caddy, remote_ip missing", caddy(req, ``), ``},
		{"caddy, status of the wrong type",
			`{"request":{"remote_ip":"203.0.113.7","method":"GET","uri":"/","proto":"HTTP/1.1"},"status":"404"}`,
			`peer=203.0.113.7 client=203.0.113.7 method="GET" uri="/" proto="HTTP/1.1"`},
		{"caddy, method missing",
			`{"request":{"remote_ip":"203.0.113.7","uri":"/","proto":"HTTP/1.1"},"status":400}`,
			`peer=203.0.113.7 client=203.0.113.7 bad=true status=400`},
		{"truncated json", caddy(`"remote_ip":"203.0.113.7",`+req, ``)[:200], ``},
		{"json with trailing garbage", caddy(`"remote_ip":"203.0.113.7",`+req, ``) + `x`, ``},
		{"json, raw control byte in a string",
			`{"request":{"remote_ip":"203.0.113.7","uri":"/` + "\x01" + `"}}`, ``},
		{"json nested too deep",
			`{"request":{"remote_ip":"203.0.113.7"},"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ``},
		{"json nested deep but allowed",
			`{"request":{"remote_ip":"203.0.113.7"},"x":` + strings.Repeat(`{"a":[`, 20) + strings.Repeat("]}", 20) + `}`,
			`peer=203.0.113.7 client=203.0.113.7 bad=true`},
		{"json, a duplicate of another key: the last counts",
			`{"request":{"remote_ip":"203.0.113.7","method":"GET","uri":"/","proto":"HTTP/1.1","method":"POST"},"status":200,"status":404}`,
			`peer=203.0.113.7 client=203.0.113.7 method="POST" uri="/" proto="HTTP/1.1" status=404`},
		{"json of neither server", `{"level":"info","msg":"started"}`, ``},
		{"caddy's error log", `{"level":"error","logger":"http.log.error","msg":"x","request":{"remote_ip":"203.0.113.7","method":"GET","uri":"/","proto":"HTTP/1.1"},"status":502}`, ``},
	})
}

func TestTraefikShapes(t *testing.T) {
	const rest = `"ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":19,"DownstreamStatus":404,"Duration":301500,"OriginContentSize":19,"OriginDuration":250000,"OriginStatus":404,"Overhead":51500,"RequestAddr":"example.com:443","RequestContentSize":0,"RequestCount":12,"RequestHost":"example.com","RequestMethod":"GET","RequestPath":"/wp-login.php?x=1","RequestPort":"443","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"web@docker","ServiceAddr":"172.17.0.3:80","ServiceName":"web@docker","ServiceURL":"http://172.17.0.3:80","StartLocal":"2026-12-06T17:21:43.123456789+01:00","StartUTC":"2026-12-06T16:21:43.123456789Z","entryPointName":"websecure","level":"info","msg":"","request_User-Agent":"Mozilla/5.0","time":"2026-12-06T17:21:43+01:00"`
	const base = `time=2026-12-06T16:21:43.123456789Z method="GET" uri="/wp-login.php?x=1" proto="HTTP/2.0" status=404 host="example.com" ua="Mozilla/5.0"`
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"traefik json",
			`{"ClientAddr":"203.0.113.7:51234","ClientHost":"203.0.113.7",` + rest + `}`,
			`peer=203.0.113.7 client=203.0.113.7 ` + base},
		{"traefik json, untrusted peer with a ClientHost from X-Forwarded-For",
			`{"ClientAddr":"203.0.113.7:51234","ClientHost":"192.0.2.66",` + rest + `}`,
			`peer=203.0.113.7 client=203.0.113.7 ` + base + ` fwd="192.0.2.66"`},
		{"traefik json, trusted peer, ClientHost is a list",
			`{"ClientAddr":"10.0.0.5:51234","ClientHost":"192.0.2.66, 198.51.100.1",` + rest + `}`,
			`peer=10.0.0.5 client=198.51.100.1 ` + base + ` fwd="192.0.2.66, 198.51.100.1"`},
		{"traefik json, trusted peer, logged X-Forwarded-For",
			`{"ClientAddr":"[2001:db8:ffff::1]:51234","ClientHost":"192.0.2.66","request_X-Forwarded-For":"192.0.2.66, 198.51.100.1",` + rest + `}`,
			`peer=2001:db8:ffff::1 client=198.51.100.1 ` + base + ` fwd="192.0.2.66, 198.51.100.1"`},
		{"traefik json, trusted peer without forwarded evidence",
			`{"ClientAddr":"10.0.0.5:51234","ClientHost":"10.0.0.5",` + rest + `}`,
			`peer=10.0.0.5 client=none ` + base},
		{"traefik json, ClientAddr dropped",
			`{"ClientHost":"203.0.113.7",` + rest + `}`,
			`peer=203.0.113.7 client=203.0.113.7 ` + base},
		{"traefik json, ClientAddr dropped, ClientHost a list",
			`{"ClientHost":"192.0.2.66, 203.0.113.7",` + rest + `}`, ``},
		{"traefik json, ClientAddr unreadable",
			`{"ClientAddr":"203.0.113.7","ClientHost":"203.0.113.7",` + rest + `}`, ``},
		{"traefik json, duplicate ClientHost",
			`{"ClientAddr":"10.0.0.5:51234","ClientHost":"198.51.100.1","ClientHost":"192.0.2.66",` + rest + `}`, ``},
		{"traefik json, authenticated user, origin status only",
			`{"ClientAddr":"203.0.113.7:51234","ClientHost":"203.0.113.7","ClientUsername":"alice","OriginStatus":502,"RequestMethod":"GET","RequestPath":"/","RequestProtocol":"HTTP/1.1","time":"2026-12-06T17:21:43+01:00"}`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T17:21:43+01:00 method="GET" uri="/" proto="HTTP/1.1" status=502 user="alice"`},
		{"caddy and traefik fields at once",
			`{"ClientAddr":"203.0.113.7:51234","request":{"remote_ip":"192.0.2.66"}}`, ``},
	})
}

func TestHAProxyShapes(t *testing.T) {
	const when = `[06/Dec/2026:16:21:43.123]`
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"httplog",
			`203.0.113.7:51234 ` + when + ` http-in~ web/web1 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123Z method="GET" uri="/x" proto="HTTP/1.1" status=404`},
		{"httplog with header captures",
			`203.0.113.7:51234 ` + when + ` http-in web/web1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {example.com|Mozilla/5.0 (X11)} {text/html} "GET /index.html HTTP/1.1"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123Z method="GET" uri="/index.html" proto="HTTP/1.1" status=200`},
		{"httplog, bad request, no server",
			`203.0.113.7:51234 ` + when + ` http-in http-in/<NOSRV> -1/-1/-1/-1/+0 400 187 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123Z bad=true status=400`},
		{"httplog, client went away",
			`203.0.113.7:51234 ` + when + ` http-in web/web1 5/0/0/-1/+5 -1 +0 - - CR-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123Z method="GET" uri="/" proto="HTTP/1.1"`},
		{"httplog, ipv6 client without brackets",
			`2001:db8::1:51234 ` + when + ` http-in web/web1 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`,
			`peer=2001:db8::1 client=2001:db8::1 time=2026-12-06T16:21:43.123Z method="GET" uri="/x" proto="HTTP/1.1" status=404`},
		{"httplog, request cut at the line length limit",
			`203.0.113.7:51234 ` + when + ` http-in web/web1 0/0/1/2/3 414 153 - - ---- 1/1/0/0/0 0/0 "GET /aaaaaaaaaaaaaaaa`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123Z bad=true status=414`},
		{"httplog, trusted peer (an lb in front): nobody",
			`10.0.0.5:51234 ` + when + ` http-in web/web1 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`,
			`peer=10.0.0.5 client=none time=2026-12-06T16:21:43.123Z method="GET" uri="/x" proto="HTTP/1.1" status=404`},
		{"tcplog is not http",
			`203.0.113.7:51234 ` + when + ` tcp-in back/srv1 0/0/5007 212 -- 1/1/1/1/0 0/0`, ``},
		{"httplog without port", `203.0.113.7 ` + when + ` http-in web/web1 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`, ``},
	})
}

func TestNginxErrorShapes(t *testing.T) {
	const head = `2026/12/06 16:21:43 [error] 1234#1234: *5 `
	const tail = `, client: 203.0.113.7, server: example.com, request: "GET /private HTTP/1.1", host: "example.com"`
	const base = `peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z method="GET" uri="/private" proto="HTTP/1.1" host="example.com"`
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"password mismatch", head + `user "admin": password mismatch` + tail, base + ` user="admin" error=auth-failure`},
		{"user not found", head + `user "x" was not found in "/etc/nginx/.htpasswd"` + tail, base + ` user="x" error=auth-failure`},
		{"user with quotes", head + `user "a" was not found in "b" was not found in "/etc/nginx/.htpasswd"` + tail, base + ` user="a\" was not found in \"b" error=auth-failure`},
		{"no credentials", head + `no user/password was provided for basic authentication` + tail, base + ` error=no-auth`},
		{"limit_req", head + `limiting requests, excess: 10.500 by zone "one"` + tail, base + ` error=limited zone="one"`},
		{"limit_req, warn level", `2026/12/06 16:21:43 [warn] 1234#1234: *5 limiting requests, excess: 0.990 by zone "api"` + tail, base + ` error=limited zone="api"`},
		{"limit_conn", head + `limiting connections by zone "addr"` + tail, base + ` error=limited zone="addr"`},
		{"access forbidden", head + `access forbidden by rule` + tail, base + ` error=denied`},
		{"open failed", head + `open() "/var/www/html/private" failed (2: No such file or directory)` + tail, base + ` error=not-found path="/var/www/html/private"`},
		{"open failed, not a directory", head + `open() "/var/www/html/index.php/x" failed (20: Not a directory)` + tail, base + ` error=not-found path="/var/www/html/index.php/x"`},
		{"open failed, permission", head + `open() "/var/www/html/private" failed (13: Permission denied)` + tail, ``},
		{"open failed while sending to client (auth_request)", head + `open() "/var/www/html/private" failed (2: No such file or directory) while sending to client` + tail, base + ` error=not-found path="/var/www/html/private"`},
		{"open failed, context too long", head + `open() "/var/www/html/private" failed (2: No such file or directory) while ` + strings.Repeat("a", 80) + tail, ``},
		{"is not found", head + `"/var/www/html/private/index.html" is not found (2: No such file or directory)` + tail, base + ` error=not-found path="/var/www/html/private/index.html"`},
		{"with upstream and referrer",
			head + `access forbidden by rule, client: 2001:db8::7, server: _, request: "POST /x HTTP/2.0", upstream: "http://127.0.0.1:8080/x", host: "example.com", referrer: "https://example.com/"`,
			`peer=2001:db8::7 client=2001:db8::7 time=2026-12-06T16:21:43Z method="POST" uri="/x" proto="HTTP/2.0" host="example.com" referer="https://example.com/" error=denied`},
		{"without request", head + `no user/password was provided for basic authentication, client: 203.0.113.7, server: example.com`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=no-auth`},
		{"bad request line", head + `access forbidden by rule, client: 203.0.113.7, server: example.com, request: "\x16\x03\x01", host: "example.com"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true host="example.com" error=denied`},
		{"request forging a client field after the real one",
			head + `user "admin": password mismatch, client: 203.0.113.7, server: example.com, request: "GET /, client: 192.0.2.66, server: x HTTP/1.1", host: "example.com"`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true host="example.com" user="admin" error=auth-failure`},
		{"path forging a client field before the real one",
			head + `open() "/var/www/a, client: 192.0.2.66, server: x" failed (2: No such file or directory)` + tail, ``},
		{"path forging the real client: harmless",
			head + `open() "/var/www/a, client: 203.0.113.7, server: x" failed (2: No such file or directory)` + tail,
			base + ` error=not-found path="/var/www/a, client: 203.0.113.7, server: x"`},
		{"path forging an unreadable client field",
			head + `open() "/var/www/a, client: me, server: x" failed (2: No such file or directory)` + tail,
			base + ` error=not-found path="/var/www/a, client: me, server: x"`},
		{"trusted peer: nobody",
			head + `user "admin": password mismatch, client: 10.0.0.5, server: example.com`,
			`peer=10.0.0.5 client=none time=2026-12-06T16:21:43Z user="admin" error=auth-failure`},
		{"upstream timed out is not one of ours",
			head + `upstream timed out (110: Connection timed out) while reading response header from upstream` + tail, ``},
		{"handshake on bytes that are not TLS",
			`2026/12/06 16:21:43 [crit] 1234#1234: *5 SSL_do_handshake() failed (SSL: error:1408F0C6:SSL routines:ssl3_get_record:packet length too long) while SSL handshaking, client: 203.0.113.7, server: 0.0.0.0:443`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=bad-request`},
		{"handshake on plain HTTP, OpenSSL 3",
			`2026/12/06 16:21:43 [info] 1234#1234: *5 SSL_do_handshake() failed (SSL: error:0A00009C:SSL routines::http request) while SSL handshaking, client: 2001:db8::7, server: [::]:443`,
			`peer=2001:db8::7 client=2001:db8::7 time=2026-12-06T16:21:43Z error=bad-request`},
		{"handshake of an old TLS client is not one of ours",
			`2026/12/06 16:21:43 [info] 1234#1234: *5 SSL_do_handshake() failed (SSL: error:0A0000C1:SSL routines::no shared cipher) while SSL handshaking, client: 203.0.113.7, server: 0.0.0.0:443`, ``},
		{"handshake failure with a certificate the client refused is not one of ours",
			`2026/12/06 16:21:43 [info] 1234#1234: *5 SSL_do_handshake() failed (SSL: error:0A000416:SSL routines::sslv3 alert certificate unknown:SSL alert number 46) while SSL handshaking, client: 203.0.113.7, server: 0.0.0.0:443`, ``},
		{"startup message", `2026/12/06 16:21:43 [notice] 1#1: start worker processes`, ``},
		{"unix socket client", head + `access forbidden by rule, client: unix:, server: example.com`, ``},
	})
}

func TestApacheErrorShapes(t *testing.T) {
	const head = `[Sat Dec 06 16:21:43.123456 2026] `
	const peer = `peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43.123456Z`
	runShapes(t, func() *Parser { return newTestParser(nil) }, []shape{
		{"AH01617", head + `[auth_basic:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01617: user admin: authentication failure for "/private": Password Mismatch`,
			peer + ` uri="/private" user="admin" error=auth-failure`},
		{"AH01617 with referer", head + `[auth_basic:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01617: user admin: authentication failure for "/a\"b": Password Mismatch, referer: https://example.com/`,
			peer + ` uri="/a\\\"b" user="admin" referer="https://example.com/" error=auth-failure`},
		{"AH01618", head + `[auth_basic:error] [pid 123] [client 203.0.113.7:5678] AH01618: user x not found: /private`,
			peer + ` uri="/private" user="x" error=auth-failure`},
		{"AH01630", head + `[authz_core:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01630: client denied by server configuration: /var/www/html/.git`,
			peer + ` error=denied path="/var/www/html/.git"`},
		{"AH01797", head + `[access_compat:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01797: client denied by server configuration: /var/www/html/x`,
			peer + ` error=denied path="/var/www/html/x"`},
		{"AH00128", head + `[core:info] [pid 123:tid 456] [client 203.0.113.7:5678] AH00128: File does not exist: /var/www/html/wp-login.php, referer: http://example.com/`,
			peer + ` referer="http://example.com/" error=not-found path="/var/www/html/wp-login.php"`},
		{"status before the client", head + `[core:error] [pid 123:tid 456] (2)No such file or directory: [client 203.0.113.7:5678] AH00128: File does not exist: /x`,
			peer + ` error=not-found path="/x"`},
		{"ipv6 client with port", head + `[authz_core:error] [pid 123:tid 456] [client 2001:db8::1:5678] AH01630: client denied by server configuration: /x`,
			`peer=2001:db8::1 client=2001:db8::1 time=2026-12-06T16:21:43.123456Z error=denied path="/x"`},
		{"remote field", head + `[authz_core:error] [pid 123:tid 456] [remote 203.0.113.7:5678] AH01630: client denied by server configuration: /x`,
			peer + ` error=denied path="/x"`},
		{"a remote field in the message is the message", head + `[wsgi:error] [pid 123:tid 456] [client 203.0.113.7:5678] [remote 192.0.2.66:1] user x: authentication failure for "/": Password Mismatch`, ``},
		{"2.2 auth failure", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] user x: authentication failure for "/": Password Mismatch`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z uri="/" user="x" error=auth-failure`},
		{"2.2 user not found", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] user admin not found: /admin`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z uri="/admin" user="admin" error=auth-failure`},
		{"2.2 denied", `[Sat Dec 06 16:21:43 2026] [error] [client 2001:db8::1:5] client denied by server configuration: /var/www/x`,
			`peer=2001:db8::1:5 client=2001:db8::1:5 time=2026-12-06T16:21:43Z error=denied path="/var/www/x"`},
		{"2.2 file does not exist", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] File does not exist: /var/www/favicon.ico`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=not-found path="/var/www/favicon.ico"`},
		{"space-padded day", `[Sat Dec  6 16:21:43 2026] [error] [client 203.0.113.7] File does not exist: /x`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=not-found path="/x"`},
		{"trusted peer (mod_remoteip off behind an lb): nobody", head + `[auth_basic:error] [pid 123] [client 10.0.0.5:5678] AH01618: user x not found: /private`,
			`peer=10.0.0.5 client=none time=2026-12-06T16:21:43.123456Z uri="/private" user="x" error=auth-failure`},
		{"AH01618, empty user", head + `[auth_basic:error] [pid 123] [client 203.0.113.7:5678] AH01618: user  not found: /private`,
			peer + ` uri="/private" error=auth-failure`},
		{"2.2 user not found, no uri", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] user root not found`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z user="root" error=auth-failure`},
		{"AH01614 wrong scheme", head + `[auth_basic:error] [pid 123] [client 203.0.113.7:5678] AH01614: client used wrong authentication scheme: /private`,
			peer + ` uri="/private" error=auth-failure`},
		{"AH01631 logged in, refused", head + `[authz_core:error] [pid 123] [client 203.0.113.7:5678] AH01631: user bob: authorization failure for "/admin/": `,
			peer + ` uri="/admin/" user="bob" error=denied`},
		{"AH01637 authz_owner", head + `[authz_owner:error] [pid 123] [client 203.0.113.7:5678] AH01637: Authorization of user bob to access /home/alice/x failed, reason: file owner alice does not match`,
			peer + ` uri="/home/alice/x" user="bob" error=denied`},
		{"AH01792 digest password mismatch", head + `[auth_digest:error] [pid 123] [client 203.0.113.7:5678] AH01792: user bob: password mismatch: /digest/`,
			peer + ` uri="/digest/" user="bob" error=auth-failure`},
		{"2.2 digest user not in realm", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] Digest: user ` + "`bob' in realm `private area'" + ` not found: /digest/`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z uri="/digest/" user="bob" error=auth-failure`},
		{"AH01789 digest unknown algorithm", head + `[auth_digest:error] [pid 123] [client 203.0.113.7:5678] AH01789: unknown algorithm ` + "`x'" + ` received: /digest/`,
			peer + ` error=auth-failure`},
		{"AH01777 digest nonce from the future", head + `[auth_digest:error] [pid 123] [client 203.0.113.7:5678] AH01777: invalid nonce abc= received - user attempted time travel`,
			peer + ` error=auth-failure`},
		{"AH01776 digest nonce of a restarted server is not one of ours", head + `[auth_digest:error] [pid 123] [client 203.0.113.7:5678] AH01776: invalid nonce abc= received - hash is not 0123abcd`, ``},
		{"AH01778 expired digest nonce is not one of ours", head + `[auth_digest:warn] [pid 123] [client 203.0.113.7:5678] AH01778: user bob: nonce expired (310.50 seconds old - max age 300.00) - sending new nonce`, ``},
		{"AH02811 script not found", head + `[cgi:error] [pid 123] [client 203.0.113.7:5678] AH02811: script not found or unable to stat: /usr/lib/cgi-bin/x`,
			peer + ` error=not-found path="/usr/lib/cgi-bin/x"`},
		{"2.2 quoted script not found", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] script '/var/www/it's.php' not found or unable to stat`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=not-found path="/var/www/it's.php"`},
		{"AH00126 invalid URI", head + `[core:error] [pid 123] [client 203.0.113.7:5678] AH00126: Invalid URI in request GET ../../etc/passwd HTTP/1.1`,
			peer + ` error=bad-request`},
		{"2.2 invalid method", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7] Invalid method in request `,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=bad-request`},
		{"AH00565 request line too long", head + `[core:info] [pid 123] [client 203.0.113.7:5678] AH00565: request failed: client's request-line exceeds LimitRequestLine (longer than 8190)`,
			peer + ` error=bad-request`},
		{"AH01215 bash refusing a function", head + `[cgi:error] [pid 123] [client 203.0.113.7:5678] AH01215: /bin/bash: warning: HTTP_X: ignoring function definition attempt`,
			peer + ` error=function-import`},
		{"AH01215 bash failing to import a function", head + `[cgi:error] [pid 123] [client 203.0.113.7:5678] AH01215: /usr/bin/bash: error importing function definition for ` + "`HTTP_X'",
			peer + ` error=function-import`},
		{"AH01215 other output of a script is not one of ours", head + `[cgi:error] [pid 123] [client 203.0.113.7:5678] AH01215: ./x.sh: line 3: bash: command not found`, ``},
		{"ModSecurity denial", head + `[:error] [pid 123:tid 456] [client 203.0.113.7:5678] [client 203.0.113.7] ModSecurity: Access denied with code 403 (phase 2). Pattern match "x" at ARGS:q. [id "1"] [uri "/search\"x"] [unique_id "abc"], referer: https://example.com/`,
			peer + ` uri="/search\\\"x" referer="https://example.com/" error=denied`},
		{"ModSecurity warning is not one of ours", head + `[:error] [pid 123] [client 203.0.113.7:5678] [client 203.0.113.7] ModSecurity: Warning. Pattern match "x" at ARGS:q. [uri "/search"]`, ``},
		{"a second client field naming another address", head + `[:error] [pid 123] [client 203.0.113.7:5678] [client 192.0.2.66] ModSecurity: Access denied with code 403 (phase 2). [uri "/"]`, ``},
		{"bracketed ipv6 client", head + `[authz_core:error] [pid 123] [client [2001:db8::1]:5678] AH01630: client denied by server configuration: /x`,
			`peer=2001:db8::1 client=2001:db8::1 time=2026-12-06T16:21:43.123456Z error=denied path="/x"`},
		{"2.2 level with a port", `[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7:5678] File does not exist: /x`,
			`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z error=not-found path="/x"`},
		{"ErrorLog syslog: no time", `[authz_core:error] [pid 123] [client 203.0.113.7:5678] AH01630: client denied by server configuration: /x`,
			`peer=203.0.113.7 client=203.0.113.7 error=denied path="/x"`},
		{"ErrorLog syslog, 2.2: no time", `[error] [client 203.0.113.7] user x not found: /private`,
			`peer=203.0.113.7 client=203.0.113.7 uri="/private" user="x" error=auth-failure`},
		{"no time and no level", `[client 203.0.113.7] user x not found: /private`, ``},
		{"no time, a level that is none", `[json] [client 203.0.113.7] user x not found: /private`, ``},
		{"other message", head + `[php:error] [pid 123] [client 203.0.113.7:5678] PHP Fatal error:  Uncaught Error`, ``},
		{"no client", head + `[mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations`, ``},
		{"2.4 client without port", head + `[auth_basic:error] [pid 123] [client 203.0.113.7] AH01618: user x not found: /private`, ``},
	})
}
