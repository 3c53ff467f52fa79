package httplog

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"phalanx/parser/ipaddr"
	"phalanx/parser/parsertest"
)

// fuzzSeeds are lines of every shape, including hostile ones.
var fuzzSeeds = []string{
	`203.0.113.7 - - [06/Dec/2026:16:21:43 +0000] "GET /x?y HTTP/1.1" 404 153 "-" "Mozilla/5.0"`,
	`10.0.0.5 - a [b] c [06/Dec/2026:16:21:43 +0100] "GET / HTTP/1.1" 200 1 "-" "x\" \"y" "192.0.2.66, 198.51.100.1, 10.0.0.7"`,
	`10.0.0.5 - - [06/Dec/2026:16:21:43 +0000] "\x16\x03\x01\x00" 400 157 "-" "-" "[2001:db8::9]:4711, ::ffff:10.0.0.7"`,
	`::ffff:10.0.0.5 - - [06/Dec/2026:16:21:43 +0000] "-" 400 0 "-" "-" "fe80::1%eth0, 10.1.1.1"`,
	`10.0.0.5 - - [06/Dec/2026:16:21:43 +0000] "GET /x HTTP/1.1" 404 19 "-" "x" "192.0.2.66" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
	`example.com:443 10.0.0.5 - - [06/Dec/2026:16:21:43 +0000] "GET / HTTP/1.1" 200 4 "-" "-"`,
	`{"level":"info","ts":1733502103.123,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.5","remote_port":"41342","client_ip":"192.0.2.66","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/.env","headers":{"User-Agent":["curl \"x\" \u00e9"],"X-Forwarded-For":["192.0.2.66, 198.51.100.1","10.0.0.9"]}},"user_id":"","status":404}`,
	`{"request":{"remote_addr":"[2001:db8:ffff::1]:41342","client_ip":"2001:db8::5","method":"GET","uri":"/","proto":"HTTP/1.1","headers":{"X-Forwarded-For":[1]}},"ts":"2026-12-06T16:21:43.5Z","status":200}`,
	`{"ClientAddr":"10.0.0.5:51234","ClientHost":"192.0.2.66, 198.51.100.1","ClientUsername":"-","DownstreamStatus":404,"RequestHost":"example.com","RequestMethod":"GET","RequestPath":"/wp-login.php","RequestProtocol":"HTTP/2.0","StartUTC":"2026-12-06T16:21:43.123456789Z","request_User-Agent":"Mozilla/5.0","request_X-Forwarded-For":"192.0.2.66, 198.51.100.1"}`,
	`{"ClientHost":"10.0.0.5","OriginStatus":502,"time":"2026-12-06T17:21:43+01:00"}`,
	`203.0.113.7:51234 [06/Dec/2026:16:21:43.123] http-in~ web/web1 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 {example.com|Mozilla} {text/html} "GET /x HTTP/1.1"`,
	`10.0.0.5:51234 [06/Dec/2026:16:21:43.123] http-in http-in/<NOSRV> -1/-1/-1/-1/+0 400 187 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>"`,
	`2001:db8::1:51234 [06/Dec/2026:16:21:43.123] http-in web/web1 5/0/0/-1/+5 -1 +0 - - CR-- 1/1/0/0/0 0/0 "GET /aaaa`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 user "admin": password mismatch, client: 203.0.113.7, server: example.com, request: "GET /private HTTP/1.1", host: "example.com"`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 user "x" was not found in "/etc/nginx/.htpasswd", client: 10.0.0.5, server: example.com, request: "GET /, client: 192.0.2.66, server: x HTTP/1.1", upstream: "http://127.0.0.1/", host: "h", referrer: "r"`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 no user/password was provided for basic authentication, client: 2001:db8::7, server: example.com`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 limiting requests, excess: 10.500 by zone "one", client: 203.0.113.7, server: example.com, request: "GET / HTTP/1.1"`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 limiting connections by zone "addr", client: 203.0.113.7, server: example.com`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 access forbidden by rule, client: 203.0.113.7, server: example.com`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 open() "/var/www/a, client: 192.0.2.66, server: x" failed (2: No such file or directory), client: 203.0.113.7, server: example.com`,
	`2026/12/06 16:21:43 [error] 1234#1234: *5 "/var/www/index.html" is not found (20: Not a directory), client: 203.0.113.7, server: example.com`,
	`[Sat Dec 06 16:21:43.123456 2026] [auth_basic:error] [pid 123:tid 456] [client 203.0.113.7:5678] AH01617: user admin: authentication failure for "/a\"b": Password Mismatch, referer: x`,
	`[Sat Dec 06 16:21:43.123456 2026] [auth_basic:error] [pid 123] [client 2001:db8::1:5678] AH01618: user x not found: /private`,
	`[Sat Dec 06 16:21:43.123456 2026] [core:error] [pid 123:tid 456] (2)No such file or directory: [remote 10.0.0.5:5678] AH00128: File does not exist: /x`,
	`[Sat Dec  6 16:21:43 2026] [error] [client 203.0.113.7] client denied by server configuration: /var/www/x`,
	`[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.7:1] [client 203.0.113.7] ModSecurity: Access denied with code 403 [uri "/a\"b"], referer: x`,
	"[auth_digest:error] [pid 1] [client [2001:db8::1]:5] AH01790: user `a' in realm `b' not found: /x",
	`[:error] [client 203.0.113.7] Digest: user : password mismatch: `,
	`2026/12/06 16:21:43 [crit] 1#1: *5 SSL_do_handshake() failed (SSL: error:1:SSL routines::http request) while SSL handshaking, client: 203.0.113.7, server: 0.0.0.0:443`,
	`{"time":"2026-12-06T17:21:43+01:00","remote_addr":"10.0.0.5","x_forwarded_for":"198.51.100.1\",\"request\":\"x","remote_user":"","request":"GET /x?y HTTP/1.1","status": 404,"body_bytes_sent":153,"request_time":0.004,"http_referrer":"","http_user_agent":"","host":"example.com"}`,
}

// fuzzFormats are the compiled formats FuzzParse also reads each input
// with.
var fuzzFormats = []string{nginxMain, jsonFormat, timed}

// FuzzParse feeds arbitrary lines to the auto-detecting parser and to
// parsers of a few nginx formats, and checks what Parse promises of every
// line (see checkRequest).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	// fail2ban's annotated web samples, when installed: whole lines, and
	// the messages of the syslog-wrapped ones.
	for _, name := range []string{"apache-auth", "apache-botsearch", "apache-modsecurity", "apache-noscript",
		"apache-overflows", "apache-shellshock", "nginx-http-auth", "nginx-botsearch", "haproxy-http-auth"} {
		data, err := os.ReadFile(filepath.Join(parsertest.Fail2banLogs, name))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			f.Add(l)
			if _, msg, ok := strings.Cut(l, "]: "); ok {
				f.Add(msg)
			}
		}
	}
	ins, _ := filepath.Glob("testdata/*/input.log")
	for _, in := range ins {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			f.Add(l)
		}
	}
	var formats []*Format
	for _, spec := range fuzzFormats {
		fm, err := CompileNginx(spec)
		if err != nil {
			f.Fatal(err)
		}
		formats = append(formats, fm)
	}
	f.Fuzz(func(t *testing.T, line string) {
		checkLine(t, newTestParser(nil), line)
		for _, fm := range formats {
			checkLine(t, newTestParser(fm), line)
		}
	})
}

// FuzzFormat compiles arbitrary formats and reads arbitrary lines with
// those it accepts.
func FuzzFormat(f *testing.F) {
	for _, spec := range append(fuzzFormats, debianCombined, `$remote_addr $request_method $uri$is_args$args $server_protocol $status $msec`) {
		for _, s := range fuzzSeeds[:4] {
			f.Add(spec, s)
		}
	}
	f.Fuzz(func(t *testing.T, spec, line string) {
		fm, err := CompileNginx(spec)
		if err != nil {
			return
		}
		checkLine(t, newTestParser(fm), line)
	})
}

// checkLine parses line twice with p (the second time with its state
// warm) and checks the promises of Parse: no panic; false leaves the Request
// zero; a valid, normalised Peer; a Client that is Peer when Peer is not
// trusted, and otherwise an address of the forwarded field; byte fields
// inside the line or the parser's scratch; a status of at most three digits;
// a bad request without its parts.
func checkLine(t *testing.T, p *Parser, line string) {
	t.Helper()
	b := []byte(line)
	var first string
	for pass := 0; pass < 2; pass++ {
		var r Request
		ok := p.Parse(b, &r)
		if !ok {
			if !reflect.DeepEqual(r, Request{}) {
				t.Fatalf("Parse returned false but filled the request: %+v", r)
			}
			if pass == 1 && first != "" {
				t.Fatalf("second parse not understood, first: %s", first)
			}
			continue
		}
		d := describe(&r)
		if pass == 0 {
			first = d
		} else if d != first {
			t.Fatalf("parsing again changed the result:\n%s\n%s", first, d)
		}
		checkRequest(t, p, b, &r)
	}
}

func checkRequest(t *testing.T, p *Parser, line []byte, r *Request) {
	t.Helper()
	normal := func(a netip.Addr) bool { return a.IsValid() && !a.Is4In6() && a.Zone() == "" }
	switch {
	case !normal(r.Peer):
		t.Fatalf("peer %v not valid and normalised for %q", r.Peer, line)
	case r.Peer.Is4() && !bytes.Contains(line, []byte(r.Peer.String())) && !bytes.Contains(p.scratch, []byte(r.Peer.String())):
		t.Fatalf("peer %v is not in the line %q", r.Peer, line)
	case !isTestTrusted(r.Peer) && r.Client != r.Peer:
		t.Fatalf("untrusted peer %v, client %v for %q", r.Peer, r.Client, line)
	case isTestTrusted(r.Peer) && r.Client.IsValid() && (!normal(r.Client) || !inForwarded(r.Client, r.Forwarded)):
		t.Fatalf("trusted peer %v, client %v not from the forwarded field %q of %q", r.Peer, r.Client, r.Forwarded, line)
	case r.Status < 0 || r.Status > 999:
		t.Fatalf("status %d for %q", r.Status, line)
	case (r.BadRequest || r.NoRequest) && len(r.Method)+len(r.URI)+len(r.Proto) > 0:
		t.Fatalf("bad or no request with parts %q %q %q", r.Method, r.URI, r.Proto)
	case r.BadRequest && r.NoRequest:
		t.Fatalf("a request both bad and absent: %q", line)
	case r.Error > ErrFunctionImport:
		t.Fatalf("error kind %v", r.Error)
	}
	scratch := p.scratch[:cap(p.scratch)]
	for name, v := range map[string][]byte{
		"Forwarded": r.Forwarded, "Method": r.Method, "URI": r.URI, "Proto": r.Proto, "Host": r.Host,
		"Referer": r.Referer, "UserAgent": r.UserAgent, "User": r.User, "Zone": r.Zone, "Path": r.Path,
	} {
		if !within(line, v) && !within(scratch, v) {
			t.Fatalf("%s %q is neither in the line nor in the scratch space", name, v)
		}
	}
}

// within reports whether inner lies inside outer's memory.
func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	o := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	i := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	return i >= o && i+uintptr(len(inner)) <= o+uintptr(len(outer))
}

// inForwarded reports whether a is one of the elements of a forwarded
// field, read with net/netip (independently of the parser).
func inForwarded(a netip.Addr, fwd []byte) bool {
	for _, e := range strings.Split(string(fwd), ",") {
		e = strings.Trim(e, " \t")
		var b netip.Addr
		if x, err := netip.ParseAddr(e); err == nil {
			b = x
		} else if ap, err := netip.ParseAddrPort(e); err == nil {
			b = ap.Addr()
		} else if n := len(e); n > 2 && e[0] == '[' && e[n-1] == ']' {
			if x, err := netip.ParseAddr(e[1 : n-1]); err == nil {
				b = x
			}
		}
		if b.IsValid() && b.Zone() == "" && b.Unmap() == a {
			return true
		}
	}
	return false
}

// FuzzParseIP checks the hand-written address reader against net/netip:
// whatever it accepts, netip reads as the same address, and it accepts what
// netip does (but zones of other characters than an interface name's).
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1", "::ffff:192.0.2.1",
		"fe80::1%eth0", "1:2:3:4:5:6:7:8", "1::", "1:0:0:0:0:0:0:8", "::ffff:1.2.3.4:5", "010.1.1.1",
		"2001:DB8::1", "1.2.3", "1.2.3.4.5", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "[::1]", "1.2.3.256",
		"1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "0:0:0:0:0:0:0:0:0", "2001:0db8::00001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, zoned, ok := parseIP([]byte(s))
		want, err := netip.ParseAddr(s)
		if !ok {
			if err == nil && (want.Zone() == "" || ipaddr.ValidZone([]byte(want.Zone()))) && len(s) <= ipaddr.MaxText {
				t.Fatalf("parseIP rejects %q", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseIP(%q) = %v, netip: %v", s, got, err)
		}
		if got != want.WithZone("").Unmap() || zoned != (want.Zone() != "") {
			t.Fatalf("parseIP(%q) = %v (zoned %v), netip: %v", s, got, zoned, want)
		}
	})
}
