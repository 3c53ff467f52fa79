package httplog

import (
	"net/netip"
	"testing"
)

// victim is the address the lines of TestInjection try to get blamed; the
// attacker is 203.0.113.5, directly or through the trusted proxy 10.0.0.5.
var victim = netip.MustParseAddr("192.0.2.66")

// TestInjection feeds lines an attacker can make each server write, with
// the victim's address in every field the attacker controls. No line may
// name the victim as its peer or client.
func TestInjection(t *testing.T) {
	auto := []string{
		// nginx: user name, request, referer, user agent, forwarded header.
		`203.0.113.5 - 192.0.2.66 ` + ts + ` "GET /?192.0.2.66 HTTP/1.1" 404 1 "http://192.0.2.66/" "192.0.2.66" "192.0.2.66"`,
		`10.0.0.5 - 192.0.2.66 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "x\x22 \x22192.0.2.66" "192.0.2.66, 203.0.113.5"`,
		`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "-" "192.0.2.66 203.0.113.5"`,
		`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "-" "192.0.2.66\x22, \x22203.0.113.5"`,
		`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "-" "192.0.2.66%eth0"`,
		// Apache's escapes.
		`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "x\" \"192.0.2.66" "203.0.113.5"`,
		`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "x\\\" \"192.0.2.66" "203.0.113.5"`,
		// Traefik's CLF does not escape: a user agent that forges the
		// trailing field.
		`10.0.0.5 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "x" "192.0.2.66" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
		`10.0.0.5 - - ` + ts + ` "GET /x HTTP/1.1" 404 19 "-" "x" "192.0.2.66"" 12 "web@docker" "http://172.17.0.3:80" 3ms`,
		// Caddy: header values and the URI are strings in the JSON.
		`{"logger":"http.log.access","request":{"remote_ip":"203.0.113.5","client_ip":"192.0.2.66","method":"GET","uri":"/\",\"remote_ip\":\"192.0.2.66","proto":"HTTP/1.1","headers":{"Remote_ip":["192.0.2.66"],"X-Forwarded-For":["192.0.2.66"]}},"status":404}`,
		`{"logger":"http.log.access","request":{"remote_ip":"10.0.0.5","client_ip":"192.0.2.66","method":"GET","uri":"/","proto":"HTTP/1.1","headers":{"X-Forwarded-For":["192.0.2.66, 203.0.113.5"]}},"status":404}`,
		`{"logger":"http.log.access","request":{"remote_ip":"10.0.0.5","client_ip":"192.0.2.66","method":"GET","uri":"/","proto":"HTTP/1.1","headers":{"X-Forwarded-For":["203.0.113.5"],"X-Forwarded-For":["192.0.2.66"]}},"status":404}`,
		// Traefik's JSON: request headers are "request_<Name>".
		`{"ClientAddr":"203.0.113.5:4000","ClientHost":"192.0.2.66","request_ClientAddr":"192.0.2.66:1","request_X-Forwarded-For":"192.0.2.66","RequestMethod":"GET","RequestPath":"/","RequestProtocol":"HTTP/1.1"}`,
		`{"ClientAddr":"10.0.0.5:4000","ClientHost":"192.0.2.66, 203.0.113.5","request_X-Forwarded-For":"192.0.2.66, 203.0.113.5","RequestMethod":"GET","RequestPath":"/","RequestProtocol":"HTTP/1.1"}`,
		// HAProxy: captured headers and the request.
		`203.0.113.5:4000 [06/Dec/2026:16:21:43.123] fe be/srv 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 {192.0.2.66|192.0.2.66:80} "GET /192.0.2.66:80 HTTP/1.1"`,
		// nginx's error log: user names hold no colon, paths and requests
		// anything.
		`2026/12/06 16:21:43 [error] 1#1: *5 user "192.0.2.66": password mismatch, client: 203.0.113.5, server: x, request: "GET /, client: 192.0.2.66, server: x HTTP/1.1", host: "192.0.2.66", referrer: ", client: 192.0.2.66"`,
		`2026/12/06 16:21:43 [error] 1#1: *5 open() "/var/www/, client: 192.0.2.66, server: x" failed (2: No such file or directory), client: 203.0.113.5, server: x, request: "GET /, client: 192.0.2.66, server: x HTTP/1.1"`,
		`2026/12/06 16:21:43 [error] 1#1: *5 "/var/www/x" is not found (2: No such file or directory), client: 203.0.113.5, server: x, request: "GET /x HTTP/1.1", host: "x, client: 192.0.2.66, server: y"`,
		// Apache's error log: the message follows the address field.
		`[Sat Dec 06 16:21:43.123456 2026] [auth_basic:error] [pid 1] [client 203.0.113.5:4000] AH01618: user 192.0.2.66 not found: /[client 192.0.2.66:1]`,
		`[Sat Dec 06 16:21:43.123456 2026] [wsgi:error] [pid 1] [client 203.0.113.5:4000] [remote 192.0.2.66:1] AH01618: user x not found: /`,
		`[Sat Dec 06 16:21:43 2026] [error] [client 203.0.113.5] File does not exist: /var/www/[client 192.0.2.66], referer: [client 192.0.2.66]`,
		`[Sat Dec 06 16:21:43.123456 2026] [:error] [pid 1] [client 203.0.113.5:4000] [client 192.0.2.66] ModSecurity: Access denied with code 403 [uri "/"]`,
		`[Sat Dec 06 16:21:43.123456 2026] [:error] [pid 1] [client 203.0.113.5:4000] [client 203.0.113.5] ModSecurity: Access denied with code 403 [data "[client 192.0.2.66]"] [uri "/\"] [client 192.0.2.66]"]`,
		"[Sat Dec 06 16:21:43.123456 2026] [auth_digest:error] [pid 1] [client 203.0.113.5:4000] AH01790: user `192.0.2.66' in realm `x' not found: /[client 192.0.2.66:1]",
		`[Sat Dec 06 16:21:43.123456 2026] [authz_core:error] [pid 1] [client [203.0.113.5]:4000] AH01630: client denied by server configuration: /[client [192.0.2.66]:1]`,
		`[error] [client 203.0.113.5] File does not exist: /var/www/[client 192.0.2.66]`,
		`[authz_core:error] [pid 1] [client 203.0.113.5:4000] AH01631: user [client 192.0.2.66:1]: authorization failure for "/": `,
	}
	check := func(t *testing.T, p *Parser, line string) {
		t.Helper()
		var r Request
		if p.Parse([]byte(line), &r) && (r.Peer == victim || r.Client == victim) {
			t.Errorf("blames the victim: %s\nline %q", describe(&r), line)
		}
	}
	for _, line := range auto {
		check(t, newTestParser(nil), line)
	}
	for spec, lines := range map[string][]string{
		nginxMain: {
			`10.0.0.5 - 192.0.2.66 ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "x\x22 \x22192.0.2.66" "192.0.2.66, 203.0.113.5"`,
			`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 1 "-" "\x22 \x22192.0.2.66" "203.0.113.5"`,
		},
		jsonFormat: {
			`{"time":"2026-12-06T17:21:41+01:00","remote_addr":"10.0.0.5","x_forwarded_for":"192.0.2.66\",\"x\":\"","remote_user":"","request":"GET / HTTP/1.1","status": 401,"body_bytes_sent":179,"request_time":0.001,"http_referrer":"","http_user_agent":"\",\"remote_addr\":\"192.0.2.66","host":"example.com"}`,
		},
		timed: {
			`10.0.0.5 - - ` + ts + ` "GET / HTTP/1.1" 404 153 "-" "curl/8" "192.0.2.66, 203.0.113.5" 192.0.2.66 rt=0.004 uct="192.0.2.66" urt=192.0.2.66`,
		},
	} {
		f := mustCompile(t, spec)
		for _, line := range lines {
			check(t, newTestParser(f), line)
		}
	}
}
