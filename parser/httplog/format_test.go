package httplog

import (
	"strings"
	"testing"
)

// Formats as operators paste them.
const (
	// debianCombined is nginx's built-in combined format, Debian's default.
	debianCombined = `'$remote_addr - $remote_user [$time_local] '
                    '"$request" $status $body_bytes_sent '
                    '"$http_referer" "$http_user_agent"'`
	// nginxMain is the "main" format of nginx's own packages.
	nginxMain = `main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';`
	// timed adds the host and timings, unquoted at the end.
	timed = `'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $host rt=$request_time uct="$upstream_connect_time" urt=$upstream_response_time'`
	// jsonFormat is an escape=json format shaped like JSON.
	jsonFormat = `escape=json
  '{'
    '"time":"$time_iso8601",'
    '"remote_addr":"$remote_addr",'
    '"x_forwarded_for":"$http_x_forwarded_for",'
    '"remote_user":"$remote_user",'
    '"request":"$request",'
    '"status": $status,'
    '"body_bytes_sent":$body_bytes_sent,'
    '"request_time":$request_time,'
    '"http_referrer":"$http_referer",'
    '"http_user_agent":"$http_user_agent",'
    '"host":"$host"'
  '}'`
)

func mustCompile(t *testing.T, spec string) *Format {
	t.Helper()
	f, err := CompileNginx(spec)
	if err != nil {
		t.Fatalf("CompileNginx(%q): %v", spec, err)
	}
	return f
}

func TestCompileNginxText(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{debianCombined, `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`},
		{`combined ` + debianCombined, `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`},
		{`log_format combined ` + debianCombined + `;`, `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`},
		{`$remote_addr [$time_local] "$request" $status`, `$remote_addr [$time_local] "$request" $status`},
		{`"$remote_addr" "$request" $status`, `"$remote_addr" "$request" $status`},
		{`"$remote_addr [$time_local] \"$request\" $status"`, `$remote_addr [$time_local] "$request" $status`},
		{"\"$remote_addr \"\n  \"\\\"$request\\\" $status\"", `$remote_addr "$request" $status`},
		{`'$remote_addr\t"$request"\t$status'`, "$remote_addr\t\"$request\"\t$status"},
		{`'${remote_addr} "${request}" ${status}'`, `${remote_addr} "${request}" ${status}`},
	} {
		f := mustCompile(t, c.spec)
		if f.String() != c.want {
			t.Errorf("CompileNginx(%q).String() = %q, want %q", c.spec, f.String(), c.want)
		}
	}
}

func TestCompileNginxErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{``, "empty"},
		{`  ;`, "empty"},
		{`''`, "empty"},
		{`'$remote_user [$time_local] "$request" $status'`, "no $remote_addr"},
		{`'$remote_addr [$time_local] $status'`, "no request"},
		{`'$remote_addr $request_method $status'`, "no request"},
		{`'$remote_addr $ "$request"'`, "not followed by a variable name"},
		{`'$remote_addr ${request "'`, "not closed with }"},
		{`'${remote-addr} "$request"'`, "not a variable name"},
		{`'$remote_addr "$request"`, "not closed"},
		{`'$remote_addr''"$request"'`, "white space"},
		{`escape=yaml '$remote_addr "$request"'`, "unknown escape=yaml"},
		{`'$remote_addr$remote_user "$request"'`, "$remote_addr is written next to another variable"},
		{`'$http_x_forwarded_for$remote_addr "$request"'`, "next to another variable"},
		{`'$http_user_agent $remote_addr "$request"'`, "$http_user_agent precedes $remote_addr"},
		{`'"$http_user_agent $remote_addr" "$request"'`, "$http_user_agent precedes $remote_addr"},
		{`'$remote_addr "$request" "$http_user_agent $http_x_forwarded_for"'`, "$http_user_agent precedes $http_x_forwarded_for"},
		{`'$remote_addr "$request" "$http_x_forwarded_for $http_user_agent"'`, "$http_user_agent follows $http_x_forwarded_for"},
		{`'$remote_addr "$request" $http_x_forwarded_for $request_time $upstream_addr'`, "$upstream_addr follows $http_x_forwarded_for"},
		{`escape=none '$remote_addr "$request" "$http_user_agent" "$http_x_forwarded_for"'`, "$http_user_agent precedes $http_x_forwarded_for"},
		{`escape=none '$remote_user $remote_addr "$request"'`, "$remote_user precedes $remote_addr"},
	} {
		_, err := CompileNginx(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CompileNginx(%q) = %v, want an error containing %q", c.spec, err, c.want)
		}
	}
	// Allowed: the quoted field closes the client's text before the
	// address fields.
	for _, spec := range []string{
		nginxMain, timed, jsonFormat, debianCombined,
		`escape=none '$remote_addr "$request" $status "$http_user_agent"'`,
		`'$remote_addr "$request" $status $http_x_forwarded_for'`,
		`'$remote_addr "$request" $status $http_x_forwarded_for $request_time'`,
		`'$remote_addr $request_method $uri$is_args$args $status'`,
	} {
		mustCompile(t, spec)
	}
}

func TestFormatShapes(t *testing.T) {
	type fcase struct {
		spec  string
		cases []shape
	}
	const line = `203.0.113.7 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "Mozilla/5.0"`
	const base = `time=2026-12-06T16:21:43Z method="GET" uri="/x?y" proto="HTTP/1.1" status=404`
	for _, fc := range []fcase{
		{debianCombined, []shape{
			{"combined", line, `peer=203.0.113.7 client=203.0.113.7 ` + base + ` ua="Mozilla/5.0"`},
			{"user that forges a time", `203.0.113.7 - a [01/Jan/2020:00:00:00 +0000] b ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "-"`,
				`peer=203.0.113.7 client=203.0.113.7 ` + base + ` user="a [01/Jan/2020:00:00:00 +0000] b"`},
			{"trailing field not in the format", line + ` "198.51.100.1"`, ``},
			{"tls handshake", `203.0.113.7 - - ` + ts + ` "\x16\x03\x01" 400 157 "-" "-"`,
				`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z bad=true status=400`},
			{"empty request", `203.0.113.7 - - ` + ts + ` "-" 400 0 "-" "-"`,
				`peer=203.0.113.7 client=203.0.113.7 time=2026-12-06T16:21:43Z norequest=true status=400`},
			{"trusted peer without forwarded field", `10.0.0.5 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "-"`,
				`peer=10.0.0.5 client=none ` + base},
			{"not an address", `example.net - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "-"`, ``},
		}},
		{nginxMain, []shape{
			{"untrusted", line + ` "192.0.2.66"`, `peer=203.0.113.7 client=203.0.113.7 ` + base + ` ua="Mozilla/5.0" fwd="192.0.2.66"`},
			{"trusted walk", `10.0.0.5 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "Mozilla/5.0" "192.0.2.66, 198.51.100.1, 10.0.0.7"`,
				`peer=10.0.0.5 client=198.51.100.1 ` + base + ` ua="Mozilla/5.0" fwd="192.0.2.66, 198.51.100.1, 10.0.0.7"`},
			{"trusted, missing", `10.0.0.5 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "Mozilla/5.0" "-"`,
				`peer=10.0.0.5 client=none ` + base + ` ua="Mozilla/5.0"`},
			{"user agent that forges a forwarded field", `10.0.0.5 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "x\x22 \x22192.0.2.66" "198.51.100.1"`,
				`peer=10.0.0.5 client=198.51.100.1 ` + base + ` ua="x\\x22 \\x22192.0.2.66" fwd="198.51.100.1"`},
		}},
		{timed, []shape{
			{"upstream list", `10.0.0.5 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "curl/8" "198.51.100.1" example.com rt=0.004 uct="0.001, 0.000" urt=0.003, 0.001`,
				`peer=10.0.0.5 client=198.51.100.1 ` + base + ` host="example.com" ua="curl/8" fwd="198.51.100.1"`},
			{"no upstream", `203.0.113.7 - - ` + ts + ` "GET /x?y HTTP/1.1" 404 153 "-" "curl/8" "-" - rt=0.000 uct="-" urt=-`,
				`peer=203.0.113.7 client=203.0.113.7 ` + base + ` ua="curl/8"`},
		}},
		{`'$remote_addr "$request" $status $http_x_forwarded_for $request_time'`, []shape{
			{"unquoted forwarded field the client padded to look like the end", `10.0.0.5 "GET /x?y HTTP/1.1" 404 192.0.2.66 0.004, 198.51.100.1 0.004`,
				`peer=10.0.0.5 client=198.51.100.1 method="GET" uri="/x?y" proto="HTTP/1.1" status=404 fwd="192.0.2.66 0.004, 198.51.100.1"`},
			{"unquoted forwarded field", `10.0.0.5 "GET /x?y HTTP/1.1" 404 192.0.2.66, 198.51.100.1 0.004`,
				`peer=10.0.0.5 client=198.51.100.1 method="GET" uri="/x?y" proto="HTTP/1.1" status=404 fwd="192.0.2.66, 198.51.100.1"`},
		}},
		{jsonFormat, []shape{
			{"json", `{"time":"2026-12-06T17:21:43+01:00","remote_addr":"10.0.0.5","x_forwarded_for":"198.51.100.1","remote_user":"","request":"GET /x?y HTTP/1.1","status": 404,"body_bytes_sent":153,"request_time":0.004,"http_referrer":"","http_user_agent":"Mozilla/5.0 \"x\"","host":"example.com"}`,
				`peer=10.0.0.5 client=198.51.100.1 time=2026-12-06T17:21:43+01:00 method="GET" uri="/x?y" proto="HTTP/1.1" status=404 host="example.com" ua="Mozilla/5.0 \\\"x\\\"" fwd="198.51.100.1"`},
			{"json, escaped quote forging a field", `{"time":"2026-12-06T17:21:43+01:00","remote_addr":"10.0.0.5","x_forwarded_for":"192.0.2.66\",\"remote_user\":\"\",\"request\":\"x","remote_user":"","request":"GET /x?y HTTP/1.1","status": 404,"body_bytes_sent":153,"request_time":0.004,"http_referrer":"","http_user_agent":"","host":"example.com"}`,
				`peer=10.0.0.5 client=none time=2026-12-06T17:21:43+01:00 method="GET" uri="/x?y" proto="HTTP/1.1" status=404 host="example.com" fwd="192.0.2.66\\\",\\\"remote_user\\\":\\\"\\\",\\\"request\\\":\\\"x"`},
		}},
		{`$remote_addr $request_method $uri$is_args$args $server_protocol $status $msec`, []shape{
			{"parts and msec", `203.0.113.7 GET /x?y HTTP/1.1 404 1733502103.123`,
				`peer=203.0.113.7 client=203.0.113.7 time=2024-12-06T16:21:43.123Z method="GET" uri="/x?y" proto="HTTP/1.1" status=404`},
			{"bad method", `203.0.113.7 \x16\x03 /x HTTP/1.1 400 1733502103.123`,
				`peer=203.0.113.7 client=203.0.113.7 time=2024-12-06T16:21:43.123Z bad=true status=400`},
		}},
		{`$remote_addr [$time_local] $request_method "$uri?$args" $status $host`, []shape{
			{"uri and args", `203.0.113.7 ` + ts + ` GET "/x?y" 404 example.com`,
				`peer=203.0.113.7 client=203.0.113.7 ` + `time=2026-12-06T16:21:43Z method="GET" uri="/x?y" status=404 host="example.com"`},
			{"uri without args", `203.0.113.7 ` + ts + ` GET "/x?" 404 example.com`,
				`peer=203.0.113.7 client=203.0.113.7 ` + `time=2026-12-06T16:21:43Z method="GET" uri="/x" status=404 host="example.com"`},
		}},
	} {
		f := mustCompile(t, fc.spec)
		t.Run(f.String(), func(t *testing.T) {
			runShapes(t, func() *Parser { return newTestParser(f) }, fc.cases)
		})
	}
}
