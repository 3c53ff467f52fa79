// Package httplog reads the access and error logs of web servers and
// proxies (nginx, Apache httpd, Caddy, Traefik, HAProxy) into Requests: the
// peer that connected, the client to blame, the request line, the status,
// and for error logs what went wrong (a failed log-in, a refusal, a rate
// limit, a missing file). It is the HTTP pipeline's first step and knows
// nothing of scenarios: it judges no request.
//
// Nearly every byte of such a line is written by the client (the URI, the
// headers, the user name, X-Forwarded-For), so the package must not take an
// address the client wrote for itself: the peer is read only at the
// position the server writes it, before any client text, and forwarded
// evidence is believed only from a trusted proxy. It must not resolve names,
// use regular expressions, encoding/json or time.Parse per line, allocate
// per line once warm (a Parser's scratch grows to the longest JSON line it
// has seen), or keep state that changes what a line means.
//
// # Shapes
//
// With Options.Format nil, Parse recognises each line by its first bytes:
//
//	ADDR - USER [06/Dec/2026:16:21:43 +0000] "GET /x HTTP/1.1" 404 153    common (CLF)
//	    ... "REFERER" "UA"                                             combined (nginx's and Debian's default)
//	    ... "REFERER" "UA" "XFF"                                       nginx's "main" (X-Forwarded-For last)
//	    ... "REFERER" "UA" 12 "router" "http://backend" 3ms            Traefik's CLF; other trailing fields too
//	HOST:PORT ADDR - USER [...] "..." ...                              Apache's vhost_combined
//	{"level":"info","ts":...,"logger":"http.log.access...","request":{"remote_ip":...}...}   Caddy
//	{"ClientAddr":"ADDR:PORT","ClientHost":...,"RequestMethod":...}    Traefik's JSON
//	ADDR:PORT [06/Dec/2026:16:21:43.123] FE BE/SRV 0/0/1/2/3 404 153 - - ---- 1/1/0/0/0 0/0 [{...}] "GET /x HTTP/1.1"   HAProxy httplog
//	2026/12/06 16:21:43 [error] 1234#1234: *5 MESSAGE, client: ADDR, server: ...   nginx error log
//	[Sat Dec 06 16:21:43.123456 2026] [MOD:LEVEL] [pid N:tid M] [client ADDR:PORT] MESSAGE   Apache 2.4 error log (and 2.2's)
//	[MOD:LEVEL] [pid N:tid M] [client ADDR:PORT] MESSAGE               Apache's "ErrorLog syslog" message (the time is syslog's)
//
// A line wrapped by syslog must first lose its syslog header; what remains
// (HAProxy's message, nginx's "access_log syslog:" message) is one of the
// above. Lines of an nginx log_format the operator wrote are read with a
// Format from CompileNginx instead.
//
// Error-log messages and their kinds (other error lines are not understood):
//
//	nginx: user "U": password mismatch                             ErrAuthFailure
//	nginx: user "U" was not found in "FILE"                        ErrAuthFailure
//	nginx: no user/password was provided for basic authentication  ErrNoAuth
//	nginx: limiting requests, excess: N by zone "Z"                ErrLimited (Zone)
//	nginx: limiting connections by zone "Z"                        ErrLimited (Zone)
//	nginx: access forbidden by rule                                ErrDenied
//	nginx: open() "PATH" failed (2: No such file or directory)     ErrNotFound (Path; also 20: Not a directory)
//	nginx: "PATH" is not found (2: No such file or directory)      ErrNotFound (Path)
//	nginx: SSL_do_handshake() failed (SSL: ...:REASON) while SSL handshaking   ErrBadRequest, for
//	       the reasons of bytes that are not TLS (packet length too long, http request, ...)
//	Apache: [AH01617: ]user U: authentication failure for "URI": REASON   ErrAuthFailure
//	Apache: [AH01618: ]user U not found[: URI]                     ErrAuthFailure (U may be empty)
//	Apache: [AH01614: ]client used wrong authentication scheme: URI   ErrAuthFailure
//	Apache: [Digest: |AH01792: ]user U: password mismatch: URI     ErrAuthFailure
//	Apache: [Digest: |AH01790: ]user `U' in realm `R' not found: URI   ErrAuthFailure
//	Apache: digest responses no server asked for (invalid qop, realm mismatch, unknown
//	        algorithm, a nonce from the future or of the wrong length)   ErrAuthFailure
//	Apache: [AH01631: ]user U: authorization failure for "URI": ...   ErrDenied
//	Apache: [AH01637: ]Authorization of user U to access URI failed, reason: ...   ErrDenied
//	Apache: [AH01630: |AH01797: ]client denied by server configuration: PATH   ErrDenied (Path)
//	Apache: ModSecurity: ... Access denied with code N ... [uri "URI"] ...   ErrDenied
//	Apache: [AH00128: ]File does not exist: PATH                   ErrNotFound (Path)
//	Apache: [AH02811: ]script not found or unable to stat: PATH    ErrNotFound (Path; also "script 'PATH' not found ...")
//	Apache: [AH00126: ]Invalid URI in request ..., Invalid method in request ...,
//	        request failed: (URI too long|...)                     ErrBadRequest
//	Apache: [AH01215: ]/bin/bash: warning: X: ignoring function definition attempt
//	        (or: error importing function definition for `X')     ErrFunctionImport
//
// nginx's request, host and referrer fields fill Method, URI, Proto, Host
// and Referer; Apache's ", referer: R" fills Referer, and the URI its
// messages name fills URI. Apache writes the client's address before the
// message, so nothing a client puts in a message changes whom the line
// blames, only what its own line says.
//
// # Whom a line blames
//
// Peer is the connecting address as the server wrote it. Client is Peer,
// unless Options.Trusted says Peer is a trusted proxy: then the forwarded
// field is walked from the right past trusted addresses to the first
// untrusted one, or to the leftmost if all are trusted. A trusted peer whose
// forwarded field is missing, "-", or has an element the walk needs that
// cannot be read (not an address, a zone, longer than 64 bytes, more than 32
// trusted hops) leaves Client invalid: the line blames nobody, since
// banning the load balancer would lock everyone out. Elements may carry
// ports and [IPv6] brackets; IPv4-mapped IPv6 addresses are unmapped.
//
// The forwarded field is X-Forwarded-For where the log has it (nginx's
// $http_x_forwarded_for, Caddy's and Traefik's logged request header), or
// else the server's own idea of the client: Caddy's client_ip and Traefik's
// ClientHost (Traefik copies X-Forwarded-For there). Neither is believed
// unless the peer is trusted here. Caddy logs the request's headers by
// default, and its X-Forwarded-For is preferred to client_ip, because
// Caddy's trusted_proxies take the leftmost address of the header unless
// trusted_proxies_strict is set, and behind a proxy that appends to the
// header the client writes that address itself.
//
// JSON lines are read by a strict scanner, so a client's header values stay
// strings. Of a key written twice, the last value counts, except for the
// fields that name addresses (Caddy's remote_ip, remote_addr, client_ip and
// X-Forwarded-For header; Traefik's ClientAddr, ClientHost and
// request_X-Forwarded-For): a line repeating one of those is not understood,
// so no order of keys can choose whom a line blames.
//
// A server may itself have replaced the peer with a forwarded address
// (nginx's realip module, Apache's mod_remoteip, Traefik's CLF, which
// writes X-Forwarded-For in place of the peer when its trusted proxies sent
// one): Parse cannot tell, and takes the written address as the peer. A
// Traefik CLF line whose address field is a list is not understood.
//
// # Escapes and quotes
//
// nginx escapes quotes and backslashes in the values it logs (\x22, \x5C)
// and Apache escapes them with a backslash (\", \\), so a quoted field
// ends at the first quote no backslash escapes. Byte fields of access lines
// are returned as logged, escapes included; strings of JSON lines are
// unescaped (into the Parser's scratch when they hold escapes). Traefik's
// CLF does not escape quotes: a client can garble its own referer and user
// agent there, but not its address, and a trailing quoted field is read as
// X-Forwarded-For only when no quote follows it on the line.
package httplog
