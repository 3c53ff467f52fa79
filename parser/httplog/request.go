package httplog

import (
	"net/netip"
	"time"
)

// Request is what one web-server log line says. Byte fields are slices of
// the line (zero-copy) or of the Parser's scratch space, valid until the
// Parser's next call; a field the line does not have, or logs as "-", is
// empty. Every field is attacker-controlled except Peer.
type Request struct {
	// Time is the time written in the line; zero when the line has none
	// (a custom format without $time_local or $time_iso8601).
	Time time.Time
	// Peer is the address that connected to the server ($remote_addr,
	// Caddy's remote_ip, HAProxy's client address).
	Peer netip.Addr
	// Client is the address to blame: Peer, or, when Peer is a trusted
	// proxy, the last untrusted address of Forwarded. It is invalid when no
	// address can be believed (a trusted proxy's request with no readable
	// client address): such a line blames nobody.
	Client netip.Addr
	// Forwarded is X-Forwarded-For as logged, or, for logs without it, the
	// server's own forwarded evidence (Caddy's client_ip, Traefik's
	// ClientHost); see the package doc. It is believed only when Peer is a
	// trusted proxy.
	Forwarded []byte
	// Method, URI and Proto are the request line's three parts. URI is the
	// target as sent: a path with its query, an absolute URI, or an
	// authority for CONNECT. A request line that is not "METHOD URI PROTO"
	// (binary bytes, a TLS handshake sent to port 80, "-") leaves them
	// empty and sets BadRequest.
	Method, URI, Proto []byte
	// BadRequest reports a request line that is not HTTP.
	BadRequest bool
	// NoRequest reports a connection that sent no request at all (logged
	// as "-", "" or HAProxy's <BADREQ> with nothing): what browsers'
	// unused preconnections leave. BadRequest is then false.
	NoRequest bool
	// Status is the response status, 0 when the line has none.
	Status    int
	Host      []byte
	Referer   []byte
	UserAgent []byte
	// User is the HTTP authentication user ($remote_user), if any.
	User []byte
	// Error is set for error-log lines (Method, URI and Status are then
	// empty unless the line names the request); 0 for access-log lines.
	Error ErrorKind
	// Zone is the limit_req (or limit_conn) zone of an ErrLimited line.
	Zone []byte
	// Path is the file-system path an error-log line names (nginx's
	// open() "PATH" failed, Apache's "File does not exist: PATH" and
	// "client denied by server configuration: PATH"); it derives from the
	// request's URI, so the client writes it too.
	Path []byte
}

// ErrorKind is what an error-log line reports.
type ErrorKind uint8

// Error-log line kinds.
const (
	ErrNone           ErrorKind = iota
	ErrAuthFailure              // HTTP authentication failed: wrong password, unknown user (nginx "password mismatch", "was not found in" for the user file; Apache AH01617, AH01618, a wrong scheme, digest failures)
	ErrNoAuth                   // basic authentication was required and none was sent (nginx "no user/password was provided"); a client's first request does this
	ErrDenied                   // access denied by the server's configuration (Apache AH01630, an authorization failure of an authenticated user, a ModSecurity denial; nginx "access forbidden by rule")
	ErrLimited                  // a request refused by a rate limit (nginx "limiting requests, excess: … by zone")
	ErrNotFound                 // a file that is not there (nginx "open() … failed (2: No such file or directory)", "… is not found"; Apache "File does not exist", "script not found or unable to stat"); URI holds the request's path when the line gives it
	ErrBadRequest               // a request the server could not read as HTTP (Apache "Invalid URI in request", "Invalid method in request", an overlong request line; nginx's TLS handshake failing on bytes that are not TLS)
	ErrFunctionImport           // a CGI script's bash refused a function definition it found in its environment, where the request's headers are (what a Shellshock request sends)
)
