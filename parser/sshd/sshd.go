// Package sshd recognises attacks in the log lines of the OpenSSH server
// (programs sshd, sshd-session and sshd-auth) and turns them into
// phalanx.Events that name the attacking address.
//
// Every field of an sshd message that a client can influence (user names,
// protocol banners, disconnect reasons, key ids, hostbased client names) is
// attacker-controlled, so the parser never searches a message for "an
// address": each shape is parsed by hand at the positions that sshd itself
// writes, anchored at the end of the message when the attacker's text comes
// first (`Invalid user U from ADDR port N`) and at the start when it comes
// last (`Received disconnect from ADDR port N:11: REASON`). When a line could
// be read two ways that blame different addresses, it yields no event: it
// may cost a detection, never an innocent address.
//
// The package must not resolve names (a host name where an address belongs
// yields no event), use regular expressions, allocate per line (except the
// user string of an event), or keep unbounded state.
//
// # What it recognises
//
// Kinds by message shape (after an optional "error: ", "fatal: ",
// "error: PAM: " prefix and " [preauth]" suffix):
//
//	message shape                                                         kind
//	Failed METHOD for [invalid user ]U from ADDR [port N] [sshN][: INFO]   auth-failure (1)
//	[aA]uthentication (failure|error|failed) for U from ADDR [via H]       auth-failure
//	ROOT LOGIN REFUSED FROM ADDR [port N]                                 auth-failure
//	Received disconnect from ADDR [port N]:3: ...: Auth fail              auth-failure
//	Received disconnect from ADDR [port N]:14: No [supported ]authentication methods available  auth-failure
//	Disconnecting (invalid|authenticating) user U ADDR port N:
//	    Change of username or service not allowed: ...                    auth-failure
//	pam_X(sshd:auth): authentication failure; ... rhost=ADDR [user=U]     auth-failure (2)
//	Connection closed by|Connection reset by|Disconnected from
//	    authenticating user U ADDR port N [preauth]                       auth-failure (5)
//	[iI]nvalid user U from ADDR [port N], [iI]llegal user ...             invalid-user
//	User U from ADDR not allowed because (AllowUsers/DenyUsers/groups)    invalid-user
//	User not known to the underlying authentication module for U from A  invalid-user
//	unknown user for [illegal user ]U from ADDR (OpenPAM, after PAM: )    invalid-user
//	User U not allowed because account is locked                          invalid-user (3)
//	User U not allowed because shell S (does not exist|is not executable) invalid-user (3)
//	maximum authentication attempts exceeded for U from ADDR port N ssh2  max-auth
//	Disconnecting: Too many authentication failures [for U]               max-auth (3)
//	Connection closed by [invalid user U ]ADDR [port N] [preauth]        preauth-close
//	Connection reset by ..., Disconnected from ... [preauth]             preauth-close (4)
//	Received disconnect from ADDR [port N]:CODE: ... [preauth]            preauth-close
//	Timeout before authentication for ADDR port N                        grace-timeout
//	Timeout before authentication for connection from ADDR to ADDR[, pid = N]  grace-timeout (6)
//	Read from socket failed: Connection reset by peer [preauth]           preauth-close (3)
//	Did not receive identification string from ADDR [port N]              probe
//	kex_exchange_identification: [read: ](Connection closed by remote
//	    host|Connection reset by peer)                                    probe (3)
//	drop connection #N from [ADDR]:P on [ADDR]:P penalty: REASON         probe (6)
//	drop connection ... penalty: exceeded LoginGraceTime                 grace-timeout (6)
//	refused connect from ... (ADDR)                                       probe
//	Bad protocol version identification '...' from ADDR [port N]         protocol-error
//	banner exchange: Connection from ADDR port N: invalid format          protocol-error
//	Unable to negotiate with ADDR port N: no matching ... found. ...      protocol-error
//	Protocol major versions differ for ADDR [port N]: ...                 protocol-error
//	kex_exchange_identification: client sent invalid protocol identifier  protocol-error (3)
//	Unable to negotiate a ..., no matching ... found: ...                 protocol-error (3)
//	ssh_dispatch_run_fatal: Connection from ID: REASON [preauth]          protocol-error (7)
//	ssh_dispatch_run_fatal: Connection from ID: message authentication
//	    code incorrect [preauth]                                          exploit (7)
//
// Lines that only teach the parser a connection's address (no event of their
// own): `Connection from ADDR port N [on ...]`, `SSH: Server;Ltype:
// ...;Remote: ADDR-PORT;...`, `Failed publickey|none for U from ADDR ...` of
// an existing user (clients try several keys, and "none" to learn the
// methods), `PAM N more authentication failures; ... rhost=ADDR ...`, and
// Received disconnect, Connection closed/reset and Disconnected without
// [preauth] (a normal log-out). Such a line still attributes a failure that
// an earlier line of the connection left without an address (3).
// `Accepted METHOD for U from ADDR` is never an event; it makes the parser
// forget the connection. `drop connection ... past MaxStartups` (innocent
// clients are dropped too while someone else floods) and `srclimit_penalise:
// ...` (sshd's other lines already carry the failure it penalises, and it
// names a masked range) yield nothing.
//
// # Events of a line
//
// Parse yields at most one event; a line can yield a second one, which Next
// returns (see (2)). A caller calls Next after every Parse until it returns
// false:
//
//	for ok := p.Parse(fr, &ev); ok; ok = p.Next(&ev) { handle(&ev) }
//
// Both events of a line belong to that line (its time and number); the first
// is the older one.
//
// # Notes
//
// (1) Both an address inside the user name and one inside the INFO that
// publickey and hostbased attempts append (certificate key ids, hostbased
// client names) are attacker-controlled. Every place where `from ADDR[ port
// N][ sshN]` ends the message or is followed by ":" is a candidate; those
// with a port are preferred (sshd has written the port for two decades, so
// the port-less `ruser from ADDR` of an ssh1 INFO loses to the real one), and
// the preferred candidates must all name the same address, or the line yields
// no event. sshds so old that they wrote no port can therefore be fooled by a
// user name holding a tail with a port.
//
// (2) pam_unix logs its failure just before sshd logs "Failed password" for
// the same attempt, and it also fails when a later PAM module then lets the
// user in ("Accepted password"). So a PAM failure is held on its connection
// (same host and pid) and the connection's next recognised line decides: a
// Failed line or sshd's "PAM: Authentication failure" line for the same
// address is the event of that attempt (the PAM line adds nothing), Accepted
// drops it, another PAM failure of the same user and address is the same
// attempt logged again (by another module or process) and keeps it held, and
// any other line of the connection (a PAM failure of another user, a close,
// max-auth, "PAM N more authentication failures", a line naming another
// address) first turns the held failure into an auth-failure event, which
// the line yields before its own. A held failure that no line of its
// connection decides within pamGrace of log time (a log that keeps only
// PAM's lines) becomes an auth-failure event then, yielded by whatever line
// comes next; one is lost only when its connection's state is (the oldest
// of the table's connections) before that. The PAM key=value list has a fixed order
// ending in user=, so rhost is read in its place before user=, and the user
// is everything after user=.
//
// (3) The line names no address. It is attributed to the address that an
// earlier line of the same connection (same host and pid) named, or else
// remembered and attributed by the next line of the connection that does.
// A [preauth] close that follows takes the remembered, stronger kind.
//
// (4) Newer sshds log the client's "Received disconnect ... [preauth]" and
// then "Disconnected from ... [preauth]" for the same close: the second
// yields no event, unless it makes an auth-failure (5).
//
// (5) A client that gave up, or was refused, while authenticating as an
// existing user. Key-only servers log nothing else for a password-guessing
// bot, so this close is the bot's failure. It is an auth-failure only when
// the connection has not already yielded an auth-failure, invalid-user or
// max-auth event; otherwise it stays a preauth-close (one attempt, one
// count). A successful log-in never logs it. Lines without a pid have no
// connection state, so their close always counts.
//
// (6) Logged by the listening sshd, whose pid is not the connection's: the
// line neither uses nor changes connection state. The first address is the
// client's; both are written by sshd. A drop for a penalty refuses a source
// that sshd has already penalised for its failures.
//
// (7) ID is sshd's connection id, `[(authenticating|invalid) user U ]ADDR
// port N`; REASON is sshd's own error text. A corrupted MAC before log-in is
// the trace of CVE-2024-6387 ("regreSSHion") exploitation; other reasons are
// protocol garbage, except network errors (Broken pipe, Connection timed
// out, ...), which yield nothing. Without [preauth] (after log-in) these are
// not attack signals and yield nothing.
package sshd

import (
	"bytes"
	"net/netip"
	"unicode/utf8"

	"phalanx"
	"phalanx/logline"
)

const (
	// defaultConns bounds the per-connection state; the oldest connection
	// is forgotten first.
	defaultConns = 4096
	// stateTTL is how long, in seconds of log time, a connection's state
	// is trusted; sshd's LoginGraceTime is two minutes by default.
	stateTTL = 600
	// maxMessage bounds the messages examined: sshd formats into a
	// 1024-byte buffer, so longer messages are not sshd's.
	maxMessage = 2048
	// maxUser bounds the user name copied into an event (sshd truncates
	// names at 100 bytes before escaping them).
	maxUser = 128
	// pamGrace is how long, in seconds of log time, a held PAM failure
	// waits for its connection's next line (sshd logs its own line for the
	// attempt after PAM's delay of about two seconds).
	pamGrace = 30
	// heldWatch bounds the held PAM failures watched for pamGrace.
	heldWatch = 1024
)

// Parser recognises sshd lines. It keeps a bounded table of connections
// keyed by host and pid. A Parser is not safe for concurrent use.
type Parser struct {
	conns *table
	// queue holds the line's further events when Parse returned an older
	// one first; Next hands them over.
	queue  [2]found
	nq, qi int
	// heldKeys are the connections whose PAM failure is held, oldest
	// first (a ring; see pamGrace).
	heldKeys [heldWatch]uint64
	hHead    int
	hLen     int
	// login is the address of the line's successful log-in, if any.
	login netip.Addr
}

// found is an event before it is copied into the caller's phalanx.Event.
type found struct {
	kind phalanx.Kind
	addr netip.Addr
	user string
}

// New returns a parser.
func New() *Parser { return newParser(defaultConns) }

func newParser(conns int) *Parser { return &Parser{conns: newTable(conns)} }

// IsProgram reports whether a syslog program name belongs to sshd: "sshd",
// and "sshd-session" and "sshd-auth", into which OpenSSH 9.8 and 10.0 split it.
func IsProgram(prog []byte) bool {
	switch string(prog) {
	case "sshd", "sshd-session", "sshd-auth":
		return true
	}
	return false
}

// Parse examines one framed sshd line. When it recognises an attack event it
// fills ev.Kind, ev.Source and ev.User, leaves the other fields alone and
// returns true; otherwise it leaves ev alone and returns false. A line may
// yield a second event: call Next after every Parse (see the package doc).
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	p.nq, p.qi = 0, 0
	p.login = netip.Addr{}
	var now int64
	if !fr.Time.IsZero() {
		now = fr.Time.Unix()
	}
	var key uint64
	if fr.PID >= 0 {
		key = connKey(fr.Host, fr.PID)
	}
	expired, hasExpired := p.expireHeld(now, key)
	var r result
	ok := classify(fr.Message, &r)
	if ok && r.act == actForget {
		p.login = r.addr
	}
	if !ok {
		if hasExpired {
			return fill(ev, expired)
		}
		return false
	}
	if r.stateless {
		return p.yield(ev, expired, hasExpired, found{}, false, found{r.kind, r.addr, r.userString()}, true)
	}
	var c *conn
	if key != 0 {
		c = p.lookup(key, now)
	}
	var released found
	if c != nil && c.held {
		switch {
		case r.act == actForget:
			// Another PAM module let the user in: no failure.
		case r.consumes && r.addr == c.addr:
			// sshd's own record of the same attempt is the event.
		case r.act == actPAM && r.addr == c.addr && r.pamUser == c.pamUser:
			// The same attempt, logged again by another module or
			// process of the connection: still one held failure.
			c.at = now
			return false
		default:
			released = found{phalanx.KindAuthFailure, c.addr, c.heldUser}
			c.failed = true
		}
		c.held, c.heldUser = false, ""
	}
	own, ok := p.apply(&r, c, key, now)
	if r.act == actPAM && key != 0 {
		if c = p.conns.get(key); c != nil && c.held && c.heldAt == now {
			p.watchHeld(key)
		}
	}
	return p.yield(ev, expired, hasExpired, released, released.kind != phalanx.KindUnknown, own, ok)
}

// yield fills ev with the first of the line's events, oldest first, and
// queues the others for Next.
func (p *Parser) yield(ev *phalanx.Event, a found, hasA bool, b found, hasB bool, c found, hasC bool) bool {
	var all [3]found
	n := 0
	for _, f := range [...]struct {
		f  found
		ok bool
	}{{a, hasA}, {b, hasB}, {c, hasC}} {
		if f.ok {
			all[n] = f.f
			n++
		}
	}
	if n == 0 {
		return false
	}
	p.nq = copy(p.queue[:], all[1:n])
	return fill(ev, all[0])
}

// watchHeld starts watching a connection's held PAM failure (see pamGrace).
func (p *Parser) watchHeld(key uint64) {
	if p.hLen == len(p.heldKeys) {
		p.hHead = (p.hHead + 1) % len(p.heldKeys) // the oldest is no longer watched
		p.hLen--
	}
	p.heldKeys[(p.hHead+p.hLen)%len(p.heldKeys)] = key
	p.hLen++
}

// expireHeld releases the oldest held PAM failure that no line of its
// connection decided within pamGrace, as an auth-failure; at most one per
// line. The connection of the line being parsed decides its own.
func (p *Parser) expireHeld(now int64, current uint64) (found, bool) {
	for range 4 {
		if p.hLen == 0 || now == 0 {
			return found{}, false
		}
		key := p.heldKeys[p.hHead]
		c := p.conns.get(key)
		if c != nil && c.held && key != current && now-c.heldAt < pamGrace && c.heldAt-now < pamGrace {
			return found{}, false // the oldest is still within its grace
		}
		p.hHead = (p.hHead + 1) % len(p.heldKeys)
		p.hLen--
		if c == nil || !c.held || key == current {
			continue // decided already, forgotten, or decided by this line
		}
		f := found{phalanx.KindAuthFailure, c.addr, c.heldUser}
		c.held, c.heldUser, c.failed = false, "", true
		return f, true
	}
	return found{}, false
}

// Next fills ev with the further event of the line last given to Parse, if
// there is one, like Parse does, and reports whether there was. It returns
// true at most once per line.
func (p *Parser) Next(ev *phalanx.Event) bool {
	if p.qi >= p.nq {
		return false
	}
	p.qi++
	return fill(ev, p.queue[p.qi-1])
}

func fill(ev *phalanx.Event, f found) bool {
	ev.Kind, ev.Source, ev.User = f.kind, f.addr, f.user
	return true
}

// isFailure reports whether kind counts as a failed log-in of a connection,
// after which its [preauth] close is no longer one (note 5).
func isFailure(kind phalanx.Kind) bool {
	return kind == phalanx.KindAuthFailure || kind == phalanx.KindInvalidUser || kind == phalanx.KindMaxAuth
}

// apply updates the connection's state for a recognised line and returns the
// line's own event, if any.
func (p *Parser) apply(r *result, c *conn, key uint64, now int64) (found, bool) {
	kind, addr := r.kind, r.addr
	switch r.act {
	case actEvent:
		failed := c != nil && c.failed && c.addr == addr
		if kind == phalanx.KindPreauthClose && r.close && c != nil && c.goodbye && c.addr == addr {
			// "Disconnected from ... [preauth]" after the client's
			// "Received disconnect ... [preauth]": one close, unless it
			// is the failure of a user who never got in.
			p.conns.del(key)
			if !r.authUser || failed {
				return found{}, false
			}
			return found{phalanx.KindAuthFailure, addr, r.userString()}, true
		}
		switch {
		case c != nil && c.pending != phalanx.KindUnknown && kind == phalanx.KindPreauthClose:
			kind = c.pending
		case kind == phalanx.KindPreauthClose && r.authUser && !failed:
			kind = phalanx.KindAuthFailure
		}
		if c = p.remember(c, key, addr, now, r.close); c != nil {
			c.maxAuth = c.maxAuth || kind == phalanx.KindMaxAuth
			c.goodbye = c.goodbye || r.goodbye
			c.failed = c.failed || isFailure(kind)
		}
	case actNoAddr:
		if kind == phalanx.KindMaxAuth && c != nil && c.maxAuth {
			// OpenSSH 6.8 to 7.x log "Disconnecting: Too many
			// authentication failures" after "maximum authentication
			// attempts exceeded": one event.
			return found{}, false
		}
		if c != nil && c.addr.IsValid() {
			if kind == phalanx.KindMaxAuth {
				c.maxAuth = true
			}
			c.failed = c.failed || isFailure(kind)
			addr = c.addr
			c.at = now
			break
		}
		if key != 0 {
			if c == nil {
				c = p.conns.put(key)
			}
			c.pending, c.at = kind, now
		}
		return found{}, false
	case actHelper:
		if c == nil || c.pending == phalanx.KindUnknown {
			p.remember(c, key, addr, now, r.close)
			return found{}, false
		}
		kind = c.pending
		if c = p.remember(c, key, addr, now, r.close); c != nil {
			c.failed = c.failed || isFailure(kind)
		}
	case actPAM:
		fire := c != nil && c.pending != phalanx.KindUnknown
		if fire {
			kind = c.pending
		}
		if c = p.remember(c, key, addr, now, false); c != nil {
			c.pamUser, c.held, c.heldUser, c.heldAt = r.pamUser, true, userString(r.user), now
			c.failed = c.failed || fire && isFailure(kind)
		}
		if !fire {
			return found{}, false
		}
		// The pending failure is the event; the PAM line's own user
		// belongs to the held failure.
		return found{kind, addr, ""}, true
	case actReset:
		if key != 0 {
			if c == nil {
				c = p.conns.put(key)
			}
			*c = conn{key: key, addr: addr, at: now}
		}
		return found{}, false
	case actForget:
		if c != nil {
			p.conns.del(key)
		}
		return found{}, false
	default:
		return found{}, false
	}
	return found{kind, addr, r.userString()}, true
}

// lookup returns the connection's state unless it is absent or stale.
func (p *Parser) lookup(key uint64, now int64) *conn {
	c := p.conns.get(key)
	if c == nil {
		return nil
	}
	if now != 0 && c.at != 0 && (now-c.at > stateTTL || c.at-now > stateTTL) {
		p.conns.del(key)
		return nil
	}
	return c
}

// remember records that the connection talks to addr, clearing any pending
// failure (the caller has used it), or forgets the connection when it closed.
// A new address starts a new connection's history.
func (p *Parser) remember(c *conn, key uint64, addr netip.Addr, now int64, closed bool) *conn {
	if key == 0 {
		return nil
	}
	if closed {
		if c != nil {
			p.conns.del(key)
		}
		return nil
	}
	if c == nil {
		c = p.conns.put(key)
	} else if c.addr != addr {
		c.pamUser, c.held, c.heldUser, c.failed, c.maxAuth, c.goodbye = 0, false, "", false, false, false
	}
	c.addr, c.pending, c.at = addr, phalanx.KindUnknown, now
	return c
}

// connKey identifies an sshd process on a host; 0 is reserved for "none".
func connKey(host []byte, pid int) uint64 {
	h := fnv64(host)
	h ^= uint64(pid) * 0x9e3779b97f4a7c15
	if h == 0 {
		h = 1
	}
	return h
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// UserString copies an attacker-chosen user name into an event, bounded to
// 128 bytes and cut at a rune boundary, without allocating for common names.
// Other parsers (such as package dropbear) use it too.
func UserString(b []byte) string { return userString(b) }

func userString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxUser {
		b = b[:maxUser]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && b[len(b)-1] >= 0x80; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	switch string(b) {
	case "root":
		return "root"
	case "admin":
		return "admin"
	case "test":
		return "test"
	case "user":
		return "user"
	case "ubuntu":
		return "ubuntu"
	case "oracle":
		return "oracle"
	case "postgres":
		return "postgres"
	case "git":
		return "git"
	case "guest":
		return "guest"
	case "pi":
		return "pi"
	case "ftp":
		return "ftp"
	case "debian":
		return "debian"
	}
	return string(b)
}

// action says what a recognised line means for its connection.
type action uint8

const (
	actNone   action = iota
	actEvent         // an attack event with its address
	actNoAddr        // an attack event whose address an earlier or later line names
	actHelper        // names the connection's address, no event of its own
	actPAM           // a PAM authentication failure (see the package doc)
	actReset         // a new connection from an address
	actForget        // a successful log-in: forget the connection
)

// result is what classify learned from one message.
type result struct {
	act       action
	kind      phalanx.Kind
	addr      netip.Addr
	user      []byte // aliases the message
	close     bool   // the connection ended: forget it after this line
	pamUser   uint64 // for actPAM: hash of the user (or ruser) + 1
	root      bool   // the user is root, though the line does not spell it so
	goodbye   bool   // a client's disconnect message before log-in
	consumes  bool   // sshd's own record of an attempt that PAM failed (note 2)
	authUser  bool   // a [preauth] close of an "authenticating user" (note 5)
	stateless bool   // logged by the listening sshd, not the connection (note 6)
}

// userString is the event's user.
func (r *result) userString() string {
	if r.root {
		return "root"
	}
	return userString(r.user)
}

func hasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

func hasSuffix(s []byte, p string) bool {
	return len(s) >= len(p) && string(s[len(s)-len(p):]) == p
}

func cut(s []byte, p string) ([]byte, bool) {
	if hasPrefix(s, p) {
		return s[len(p):], true
	}
	return s, false
}

func cutSuffix(s []byte, p string) ([]byte, bool) {
	if hasSuffix(s, p) {
		return s[:len(s)-len(p)], true
	}
	return s, false
}

func index(s []byte, p string) int {
	for i := 0; i+len(p) <= len(s); i++ {
		j := bytes.IndexByte(s[i:len(s)-len(p)+1], p[0])
		if j < 0 {
			return -1
		}
		i += j
		if string(s[i:i+len(p)]) == p {
			return i
		}
	}
	return -1
}

func lastIndex(s []byte, p string) int {
	for i := len(s) - len(p); i >= 0; i-- {
		if s[i] == p[0] && string(s[i:i+len(p)]) == p {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits returns the length of the run of 1-5 decimal digits at the start of
// s, or 0.
func digits(s []byte) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
		if n > 5 {
			return 0
		}
	}
	return n
}

func trimRight(s []byte) []byte {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// stripPrefixes removes what sshd, PAM and a few platforms put before the
// message proper. The start of a message is sshd's own text, never the
// attacker's.
func stripPrefixes(s []byte) []byte {
	// Solaris: "[ID 800047 auth.info] ".
	if hasPrefix(s, "[ID ") {
		if i := bytes.IndexByte(s, ']'); i > 4 && i < 48 && i+1 < len(s) && s[i+1] == ' ' {
			s = s[i+2:]
		}
	}
	// A kernel timestamp some journal exports carry: "kernel:[  970.699396]: ", "kernel: [ 970.6] ".
	if rest, ok := cut(s, "kernel:"); ok {
		rest, _ = cut(rest, " ")
		if len(rest) > 0 && rest[0] == '[' {
			i := 1
			for i < len(rest) && (rest[i] == ' ' || rest[i] == '.' || isDigit(rest[i])) {
				i++
			}
			if i < len(rest) && rest[i] == ']' {
				rest = rest[i+1:]
				rest, _ = cut(rest, ":")
				for len(rest) > 0 && rest[0] == ' ' {
					rest = rest[1:]
				}
				s = rest
			}
		}
	}
	if hasPrefix(s, "error: ") || hasPrefix(s, "fatal: ") {
		s = s[len("error: "):]
		s, _ = cut(s, "PAM: ")
	}
	return s
}

// classify recognises one message. It fills r and reports whether the line
// means anything to the parser.
func classify(msg []byte, r *result) bool {
	if len(msg) > maxMessage {
		return false
	}
	msg = trimRight(msg)
	preauth := false
	if hasSuffix(msg, " [preauth]") {
		msg = trimRight(msg[:len(msg)-len(" [preauth]")])
		preauth = true
	}
	msg = stripPrefixes(msg)
	if len(msg) < 8 {
		return false
	}
	switch msg[0] {
	case 'A':
		if hasPrefix(msg, "Accepted ") {
			r.act = actForget
			r.addr = acceptedFrom(msg)
			return true
		}
		return parseAuthError(msg, r)
	case 'a':
		return parseAuthError(msg, r)
	case 'B':
		if rest, ok := cut(msg, "Bad protocol version identification "); ok {
			if !lastFromEvent(rest, phalanx.KindProtocol, r) {
				return false
			}
			r.user = nil // the client's banner, not a user
			return true
		}
	case 'C':
		if rest, ok := cut(msg, "Connection closed by "); ok {
			return parseClose(rest, preauth, r)
		}
		if rest, ok := cut(msg, "Connection reset by "); ok {
			return parseClose(rest, preauth, r)
		}
		if rest, ok := cut(msg, "Connection from "); ok {
			tok, n, _, ok := scanAddrTail(rest)
			if !ok || n != len(rest) && !hasPrefix(rest[n:], " on ") {
				return false
			}
			r.act = actReset
			r.addr, ok = parseAddr(tok)
			return ok
		}
	case 'D':
		if rest, ok := cut(msg, "Did not receive identification string from "); ok {
			return startAddrEvent(rest, phalanx.KindProbe, r)
		}
		if rest, ok := cut(msg, "Disconnected from "); ok {
			return parseClose(rest, preauth, r)
		}
		if rest, ok := cut(msg, "Disconnecting: Too many authentication failures"); ok {
			if len(rest) != 0 {
				if rest, ok = cut(rest, " for "); !ok {
					return false
				}
				rest, _ = cut(rest, "invalid user ")
				r.user = rest
			}
			r.act, r.kind = actNoAddr, phalanx.KindMaxAuth
			return true
		}
		if rest, ok := cut(msg, "Disconnecting "); ok {
			return parseDisconnecting(rest, r)
		}
	case 'F':
		if rest, ok := cut(msg, "Failed "); ok {
			return parseFailed(rest, r)
		}
	case 'I', 'i':
		for _, p := range [...]string{"Invalid user ", "invalid user ", "Illegal user ", "illegal user "} {
			if rest, ok := cut(msg, p); ok {
				return lastFromEvent(rest, phalanx.KindInvalidUser, r)
			}
		}
	case 'P':
		if rest, ok := cut(msg, "Protocol major versions differ for "); ok {
			tok, n, _, ok := scanAddrTail(rest)
			if !ok || !hasPrefix(rest[n:], ":") {
				return false
			}
			return setEvent(tok, phalanx.KindProtocol, r)
		}
		if rest, ok := cut(msg, "PAM "); ok {
			return parsePAMMore(rest, r)
		}
	case 'R':
		if rest, ok := cut(msg, "Received disconnect from "); ok {
			return parseReceivedDisconnect(rest, preauth, r)
		}
		if rest, ok := cut(msg, "ROOT LOGIN REFUSED FROM "); ok {
			if !startAddrEvent(rest, phalanx.KindAuthFailure, r) {
				return false
			}
			r.root = true
			return true
		}
		if preauth && string(msg) == "Read from socket failed: Connection reset by peer" {
			r.act, r.kind = actNoAddr, phalanx.KindPreauthClose
			return true
		}
	case 'S':
		if rest, ok := cut(msg, "SSH: Server;Ltype: "); ok {
			return parseLtype(rest, r)
		}
	case 'T':
		if rest, ok := cut(msg, "Timeout before authentication for connection from "); ok {
			return parseGraceTimeout(rest, r)
		}
		if rest, ok := cut(msg, "Timeout before authentication for "); ok {
			if !startAddrEvent(rest, phalanx.KindTimeout, r) {
				return false
			}
			r.close = true
			return true
		}
	case 'U':
		if rest, ok := cut(msg, "User not known to the underlying authentication module for "); ok {
			return viaFromEvent(rest, phalanx.KindInvalidUser, r)
		}
		if rest, ok := cut(msg, "User "); ok {
			return parseNotAllowed(rest, r)
		}
		if rest, ok := cut(msg, "Unable to negotiate with "); ok {
			tok, n, _, ok := scanAddrTail(rest)
			if !ok || !hasPrefix(rest[n:], ": no matching ") {
				return false
			}
			return setEvent(tok, phalanx.KindProtocol, r)
		}
		if hasPrefix(msg, "Unable to negotiate a ") {
			r.act, r.kind = actNoAddr, phalanx.KindProtocol
			return true
		}
	case 'b':
		if rest, ok := cut(msg, "banner exchange: Connection from "); ok {
			tok, n, _, ok := scanAddrTail(rest)
			if !ok || string(rest[n:]) != ": invalid format" {
				return false
			}
			return setEvent(tok, phalanx.KindProtocol, r)
		}
	case 'k':
		if rest, ok := cut(msg, "kex_exchange_identification: "); ok {
			rest, _ = cut(rest, "read: ")
			if hasPrefix(rest, "client sent invalid protocol identifier") || hasPrefix(rest, "Client sent invalid protocol identifier") {
				r.act, r.kind = actNoAddr, phalanx.KindProtocol
				return true
			}
			for _, p := range [...]string{
				"Connection closed by remote host", "connection closed by remote host",
				"Connection reset by peer", "connection reset by peer",
			} {
				if hasPrefix(rest, p) {
					r.act, r.kind = actNoAddr, phalanx.KindProbe
					return true
				}
			}
		}
	case 'm':
		if rest, ok := cut(msg, "maximum authentication attempts exceeded for "); ok {
			rest, _ = cut(rest, "invalid user ")
			return lastFromEvent(rest, phalanx.KindMaxAuth, r)
		}
	case 'n':
		// "no matching mac found: client ... server ..." (older OpenSSH).
		if rest, ok := cut(msg, "no matching "); ok {
			if i := index(rest, " found:"); i > 0 && i < 64 {
				r.act, r.kind = actNoAddr, phalanx.KindProtocol
				return true
			}
		}
	case 'd':
		if rest, ok := cut(msg, "drop connection #"); ok {
			return parseDrop(rest, r)
		}
	case 's':
		if rest, ok := cut(msg, "ssh_dispatch_run_fatal: Connection from "); ok && preauth {
			return parseDispatchFatal(rest, r)
		}
	case 'u':
		// OpenPAM's text for PAM_USER_UNKNOWN, after "error: PAM: ".
		if rest, ok := cut(msg, "unknown user for "); ok {
			return viaFromEvent(rest, phalanx.KindInvalidUser, r)
		}
	case 'p':
		if hasPrefix(msg, "pam_") {
			return parsePAM(msg, r)
		}
	case 'r':
		if rest, ok := cut(msg, "refused connect from "); ok {
			// libwrap: "refused connect from CLIENT (ADDR)"; CLIENT may hold
			// an ident user name, ADDR in the final parentheses does not.
			if len(rest) < 4 || rest[len(rest)-1] != ')' {
				return false
			}
			i := lastIndex(rest, " (")
			if i <= 0 {
				return false
			}
			return setEvent(rest[i+2:len(rest)-1], phalanx.KindProbe, r)
		}
	}
	return false
}

// setEvent fills r with an event of kind blaming the address tok.
func setEvent(tok []byte, kind phalanx.Kind, r *result) bool {
	addr, ok := parseAddr(tok)
	if !ok {
		return false
	}
	r.act, r.kind, r.addr = actEvent, kind, addr
	return true
}

// scanAddrTail reads "TOKEN[ port N][ sshN]" at the start of s, where TOKEN
// is the address in sshd's place (not yet checked) and ends at a space, or at
// a colon that ends the token. It returns the bytes consumed and whether a
// port was present.
func scanAddrTail(s []byte) (tok []byte, n int, port bool, ok bool) {
	for n < len(s) && s[n] != ' ' {
		n++
	}
	if n == 0 {
		return nil, 0, false, false
	}
	tok = s[:n]
	// "from ADDR: info" (no port): the colon is not the address's, unless
	// the address ends in "::".
	if tok[n-1] == ':' && (n < 2 || tok[n-2] != ':') {
		if n == 1 {
			return nil, 0, false, false
		}
		return tok[:n-1], n - 1, false, true
	}
	if rest, ok := cut(s[n:], " port "); ok {
		d := digits(rest)
		if d == 0 {
			return nil, 0, false, false
		}
		n += len(" port ") + d
		port = true
	}
	if hasPrefix(s[n:], " ssh") {
		n += len(" ssh")
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	return tok, n, port, true
}

// startAddrEvent parses "ADDR[ port N]" as the whole of s.
func startAddrEvent(s []byte, kind phalanx.Kind, r *result) bool {
	tok, n, _, ok := scanAddrTail(s)
	if !ok || n != len(s) {
		return false
	}
	return setEvent(tok, kind, r)
}

// lastFrom parses "U from ADDR[ port N][ sshN]" where U is anything: the
// address is after the last " from ", and must end the message.
func lastFrom(s []byte) (tok []byte, pos int, ok bool) {
	pos = lastIndex(s, " from ")
	if pos < 0 {
		return nil, 0, false
	}
	tok, n, _, ok := scanAddrTail(s[pos+len(" from "):])
	if !ok || pos+len(" from ")+n != len(s) {
		return nil, 0, false
	}
	return tok, pos, true
}

// acceptedFrom returns the address of "Accepted METHOD for U from ADDR
// port N sshN[: KEY]", or the zero address.
func acceptedFrom(msg []byte) netip.Addr {
	pos := lastIndex(msg, " from ")
	if pos < 0 {
		return netip.Addr{}
	}
	tail := msg[pos+len(" from "):]
	tok, n, _, ok := scanAddrTail(tail)
	if !ok || n != len(tail) && tail[n] != ':' {
		return netip.Addr{}
	}
	addr, ok := parseAddr(tok)
	if !ok {
		return netip.Addr{}
	}
	return addr
}

// LoggedIn returns the address of a successful log-in on the line Parse
// read last: never an event, but what tells a member that a source is a
// user of its own (see package sighting).
func (p *Parser) LoggedIn() (netip.Addr, bool) { return p.login, p.login.IsValid() }

// lastFromEvent fills r with an event for "U from ADDR[ port N][ sshN]".
func lastFromEvent(s []byte, kind phalanx.Kind, r *result) bool {
	tok, pos, ok := lastFrom(s)
	if !ok || !setEvent(tok, kind, r) {
		return false
	}
	r.user = s[:pos]
	return true
}

// viaFromEvent fills r with an event for "[illegal user ]U from ADDR[ via
// HOST][ port N]", the shape of sshd's PAM errors.
func viaFromEvent(s []byte, kind phalanx.Kind, r *result) bool {
	pos := lastIndex(s, " from ")
	if pos < 0 {
		return false
	}
	tail := s[pos+len(" from "):]
	n := bytes.IndexByte(tail, ' ')
	if n < 0 {
		n = len(tail)
	}
	tok, after := tail[:n], tail[n:]
	if rest, ok := cut(after, " via "); ok {
		if len(rest) == 0 || bytes.IndexByte(rest, ' ') >= 0 {
			return false
		}
		after = nil
	}
	if rest, ok := cut(after, " port "); ok && digits(rest) == len(rest) && len(rest) > 0 {
		after = nil
	}
	if len(after) != 0 || !setEvent(tok, kind, r) {
		return false
	}
	user := s[:pos]
	if u, ok := cut(user, "illegal user "); ok {
		user = u
	} else if u, ok := cut(user, "invalid user "); ok {
		user = u
	}
	r.user = user
	return true
}

// parseAuthError handles "[aA]uthentication (failure|error|failed) for U from
// ADDR[ via HOST]" (sshd's PAM errors, usually after "error: PAM: ").
func parseAuthError(msg []byte, r *result) bool {
	rest := msg[1:]
	if !hasPrefix(rest, "uthentication ") {
		return false
	}
	rest = rest[len("uthentication "):]
	for _, p := range [...]string{"failure for ", "error for ", "failed for "} {
		if s, ok := cut(rest, p); ok {
			r.consumes = true
			return viaFromEvent(s, phalanx.KindAuthFailure, r)
		}
	}
	return false
}

// parseFailed handles "Failed METHOD for [invalid user ]U from ADDR[ port
// N][ sshN][: INFO]" (after "Failed "). U comes before the address and INFO
// after it, and both may be attacker text (INFO holds certificate key ids and
// hostbased client names), so every place where "from ADDR[ port N][ sshN]"
// ends the message or meets ": " is a candidate. Candidates with a port are
// preferred (sshd writes one since OpenSSH 3.x); among the preferred ones all
// must agree.
func parseFailed(s []byte, r *result) bool {
	sp := bytes.IndexByte(s, ' ')
	if sp <= 0 {
		return false
	}
	method := s[:sp]
	rest, ok := cut(s[sp:], " for ")
	if !ok {
		return false
	}
	rest, invalid := cut(rest, "invalid user ")
	var best []byte
	bestPos, bestPort, conflict := 0, false, false
	for off := 0; off < len(rest); {
		i := index(rest[off:], " from ")
		if i < 0 {
			break
		}
		pos := off + i
		off = pos + 1
		tail := rest[pos+len(" from "):]
		tok, n, port, ok := scanAddrTail(tail)
		if !ok || n != len(tail) && tail[n] != ':' {
			continue
		}
		switch {
		case best == nil || port && !bestPort:
			best, bestPos, bestPort, conflict = tok, pos, port, false
		case port == bestPort && !bytes.Equal(tok, best):
			conflict = true
		}
	}
	if best == nil || conflict {
		return false
	}
	addr, ok := parseAddr(best)
	if !ok {
		return false
	}
	r.addr, r.user = addr, rest[:bestPos]
	if !invalid && (string(method) == "publickey" || string(method) == "none") {
		r.act = actHelper
		return true
	}
	r.act, r.kind, r.consumes = actEvent, phalanx.KindAuthFailure, true
	return true
}

// The preambles of sshd's connection id, as parseRemoteID reports them.
const (
	idNone           = iota // "ADDR port N"
	idInvalid               // "invalid user U ADDR port N"
	idAuthenticating        // "authenticating user U ADDR port N": an existing user, before log-in
	idUser                  // "user U ADDR port N": after log-in
)

// parseRemoteID parses sshd's connection id "[(invalid|authenticating) user
// U ]ADDR[ port N]" as the whole of s, reading from the end.
func parseRemoteID(s []byte) (tok, user []byte, ok bool) {
	tok, user, _, ok = parseRemoteIDKind(s)
	return tok, user, ok
}

// parseRemoteIDKind is parseRemoteID that also says which preamble the id has.
func parseRemoteIDKind(s []byte) (tok, user []byte, preamble int, ok bool) {
	if i := lastIndex(s, " port "); i >= 0 && len(s)-i-len(" port ") == digits(s[i+len(" port "):]) && i+len(" port ") < len(s) {
		s = s[:i]
	}
	sp := bytes.LastIndexByte(s, ' ')
	if sp < 0 {
		return s, nil, idNone, len(s) > 0
	}
	tok, before := s[sp+1:], s[:sp+1]
	for i, p := range [...]string{"invalid user ", "authenticating user ", "user "} {
		if u, ok := cut(before, p); ok {
			if len(u) == 0 {
				return nil, nil, idNone, false // sshd writes "user U ADDR": even an empty U leaves two spaces
			}
			return tok, u[:len(u)-1], idInvalid + i, len(tok) > 0
		}
	}
	return nil, nil, idNone, false
}

// parseClose handles "Connection closed by ", "Connection reset by " and
// "Disconnected from " followed by a connection id.
func parseClose(rest []byte, preauth bool, r *result) bool {
	tok, user, preamble, ok := parseRemoteIDKind(rest)
	if !ok {
		return false
	}
	addr, ok := parseAddr(tok)
	if !ok {
		return false
	}
	r.addr, r.user, r.close = addr, user, true
	if preauth {
		r.act, r.kind = actEvent, phalanx.KindPreauthClose
		r.authUser = preamble == idAuthenticating
	} else {
		r.act = actHelper
	}
	return true
}

// parseDisconnecting handles "Disconnecting ID: REASON" (after
// "Disconnecting "), where ID is a connection id.
func parseDisconnecting(rest []byte, r *result) bool {
	if id, ok := cutSuffix(rest, ": Too many authentication failures"); ok {
		// Follows "maximum authentication attempts exceeded", which was
		// the event.
		tok, user, ok := parseRemoteID(id)
		if !ok {
			return false
		}
		addr, ok := parseAddr(tok)
		if !ok {
			return false
		}
		r.act, r.addr, r.user, r.close = actHelper, addr, user, true
		return true
	}
	// "Disconnecting invalid user U ADDR port N: Change of username or
	// service not allowed: (U,SVC) -> (U2,SVC2)": U and U2 are the
	// attacker's; every marker that a connection id precedes is a
	// candidate, and they must agree.
	const marker = ": Change of username or service not allowed: ("
	var best, bestUser []byte
	for off := 0; off < len(rest); {
		i := index(rest[off:], marker)
		if i < 0 {
			break
		}
		pos := off + i
		off = pos + 1
		tok, user, ok := parseRemoteID(rest[:pos])
		if !ok || user == nil {
			continue
		}
		if best == nil {
			best, bestUser = tok, user
		} else if !bytes.Equal(tok, best) {
			return false
		}
	}
	if best == nil || !setEvent(best, phalanx.KindAuthFailure, r) {
		return false
	}
	r.user, r.close = bestUser, true
	return true
}

// parseReceivedDisconnect handles "Received disconnect from ADDR[ port
// N]:[ ]CODE:[ ]REASON" (after "Received disconnect from "). The address is
// where sshd writes it, before the client's code and reason.
func parseReceivedDisconnect(rest []byte, preauth bool, r *result) bool {
	tok, n, _, ok := scanAddrTail(rest)
	if !ok || !hasPrefix(rest[n:], ":") {
		return false
	}
	s := rest[n+1:]
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	d := digits(s)
	if d == 0 || d > 3 || d >= len(s) || s[d] != ':' {
		return false
	}
	code, reason := s[:d], s[d+1:]
	reason, _ = cut(reason, " ")
	addr, ok := parseAddr(tok)
	if !ok {
		return false
	}
	r.addr = addr
	switch {
	case string(code) == "3" && hasSuffix(reason, ": Auth fail"):
		// The client reports that its authentication failed (JSch).
		r.act, r.kind = actEvent, phalanx.KindAuthFailure
	case string(code) == "14" && (hasPrefix(reason, "No supported authentication methods available") ||
		hasPrefix(reason, "No authentication methods available")):
		// The client gave up: none of its methods is left.
		r.act, r.kind = actEvent, phalanx.KindAuthFailure
	case preauth:
		// A client's goodbye (11: Bye Bye) before log-in. Newer sshds go
		// on to log "Disconnected from ... [preauth]": the connection
		// remembers that it has had its preauth-close event.
		r.act, r.kind, r.goodbye = actEvent, phalanx.KindPreauthClose, true
	default:
		// A goodbye after log-in, or fail2ban's "Bye Bye" samples
		// without [preauth]: names the address only.
		r.act, r.close = actHelper, true
	}
	return true
}

// notAllowed are the reasons sshd gives, with the client's host, for refusing
// an existing user (it then treats the user as invalid).
var notAllowed = [...]string{
	" not allowed because not listed in AllowUsers",
	" not allowed because listed in DenyUsers",
	" not allowed because not in any group",
	" not allowed because a group is listed in DenyGroups",
	" not allowed because none of user's groups are listed in AllowGroups",
}

// parseNotAllowed handles "User U from ADDR not allowed because REASON" and
// "User U not allowed because account is locked" (after "User ").
func parseNotAllowed(rest []byte, r *result) bool {
	for _, suffix := range notAllowed {
		if core, ok := cutSuffix(rest, suffix); ok {
			return lastFromEvent(core, phalanx.KindInvalidUser, r)
		}
	}
	if user, ok := cutSuffix(rest, " not allowed because account is locked"); ok {
		r.act, r.kind, r.user = actNoAddr, phalanx.KindInvalidUser, user
		return true
	}
	// "User U not allowed because shell S does not exist" and "... is not
	// executable": U is an existing account, S the administrator's.
	core, ok := cutSuffix(rest, " does not exist")
	if !ok {
		if core, ok = cutSuffix(rest, " is not executable"); !ok {
			return false
		}
	}
	i := index(core, " not allowed because shell ")
	if i < 0 || i+len(" not allowed because shell ") == len(core) {
		return false
	}
	r.act, r.kind, r.user = actNoAddr, phalanx.KindInvalidUser, core[:i]
	return true
}

// parsePAM handles "pam_MODULE(sshd:auth): authentication failure; logname=
// uid=0 euid=0 tty=ssh ruser= rhost=ADDR  user=U". The fields come in this
// order and only the last, user, holds the attacker's text, so the fields are
// read from the front and the user is everything after "user=".
func parsePAM(msg []byte, r *result) bool {
	s := msg[len("pam_"):]
	i := 0
	for i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
		i++
	}
	if i == 0 {
		return false
	}
	s, ok := cut(s[i:], "(sshd:auth): authentication failure;")
	if !ok || !pamFields(s, r) {
		return false
	}
	r.act, r.kind = actPAM, phalanx.KindAuthFailure
	return true
}

// parsePAMMore handles sshd's "PAM N more authentication failure[s];
// logname= ... rhost=ADDR  user=U" (after "PAM "), logged as a connection
// that failed several times ends: it names the address only.
func parsePAMMore(s []byte, r *result) bool {
	d := digits(s)
	if d == 0 {
		return false
	}
	s, ok := cut(s[d:], " more authentication failure")
	if !ok {
		return false
	}
	s, _ = cut(s, "s")
	if s, ok = cut(s, ";"); !ok || !pamFields(s, r) {
		return false
	}
	r.act, r.user, r.pamUser = actHelper, nil, 0
	return true
}

// pamFields reads the key=value list of a PAM failure: " logname= uid=0
// euid=0 tty=ssh ruser= rhost=ADDR  user=U". It sets r.addr, r.user and
// r.pamUser.
func pamFields(s []byte, r *result) bool {
	var ruser, rhost []byte
	for _, key := range [...]string{"logname=", "uid=", "euid=", "tty=", "ruser=", "rhost="} {
		t := s
		for len(t) > 0 && t[0] == ' ' {
			t = t[1:]
		}
		if len(t) == len(s) {
			return false // fields are separated by spaces
		}
		v, ok := cut(t, key)
		if !ok {
			if key == "ruser=" || key == "rhost=" {
				return false
			}
			continue // logname, uid, euid and tty may be missing
		}
		end := bytes.IndexByte(v, ' ')
		if end < 0 {
			end = len(v)
		}
		switch key {
		case "ruser=":
			ruser = v[:end]
		case "rhost=":
			rhost = v[:end]
		}
		s = v[end:]
	}
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	user := ruser
	if len(s) > 0 {
		u, ok := cut(s, "user=")
		if !ok {
			return false
		}
		user, r.user = u, u
	}
	addr, ok := parseAddr(rhost)
	if !ok {
		return false
	}
	r.addr = addr
	r.pamUser = fnv64(user) | 1
	return true
}

// parseGraceTimeout handles "Timeout before authentication for connection
// from ADDR to ADDR[, pid = N]" (after "... from "), which the listening sshd
// logs for a child it killed: the first address is the client's.
func parseGraceTimeout(s []byte, r *result) bool {
	sp := bytes.IndexByte(s, ' ')
	if sp <= 0 {
		return false
	}
	client, rest := s[:sp], s[sp:]
	rest, ok := cut(rest, " to ")
	if !ok {
		return false
	}
	local := rest
	if i := bytes.IndexByte(rest, ','); i >= 0 {
		local = rest[:i]
		pid, ok := cut(rest[i:], ", pid = ")
		if !ok || len(pid) == 0 || len(pid) > 10 {
			return false
		}
		for _, c := range pid {
			if !isDigit(c) {
				return false
			}
		}
	}
	if _, ok := parseAddr(local); !ok || !setEvent(client, phalanx.KindTimeout, r) {
		return false
	}
	r.stateless = true
	return true
}

// parseDrop handles the listening sshd's "drop connection #N from
// [ADDR]:PORT on [ADDR]:PORT REASON" (after "drop connection #"). Only a
// drop for a penalty blames the client: past MaxStartups, or with a full
// penalty table, sshd drops everyone.
func parseDrop(s []byte, r *result) bool {
	d := 0
	for d < len(s) && d < 10 && isDigit(s[d]) {
		d++
	}
	if d == 0 {
		return false
	}
	s, ok := cut(s[d:], " from ")
	if !ok {
		return false
	}
	client, s, ok := bracketHostPort(s)
	if !ok {
		return false
	}
	if s, ok = cut(s, " on "); !ok {
		return false
	}
	if _, s, ok = bracketHostPort(s); !ok {
		return false
	}
	reason, ok := cut(s, " penalty: ")
	if !ok || len(reason) == 0 {
		return false
	}
	kind := phalanx.KindProbe
	if hasPrefix(reason, "exceeded LoginGraceTime") {
		kind = phalanx.KindTimeout // the penalty of sources that hold connections open (CVE-2024-6387 attempts)
	}
	if !setEvent(client, kind, r) {
		return false
	}
	r.stateless = true
	return true
}

// bracketHostPort reads "[ADDR]:PORT" at the start of s and returns the
// address text and the rest.
func bracketHostPort(s []byte) (addr, rest []byte, ok bool) {
	if len(s) == 0 || s[0] != '[' {
		return nil, nil, false
	}
	end := bytes.IndexByte(s, ']')
	if end < 2 || end+1 >= len(s) || s[end+1] != ':' {
		return nil, nil, false
	}
	d := digits(s[end+2:])
	if d == 0 {
		return nil, nil, false
	}
	return s[1:end], s[end+2+d:], true
}

// networkErrors are reasons of ssh_dispatch_run_fatal that a network, not a
// client, causes.
var networkErrors = [...]string{
	"Broken pipe", "Connection timed out", "Connection reset by peer", "Connection refused",
	"No route to host", "Network is unreachable", "Operation timed out", "Connection closed",
}

// parseDispatchFatal handles "ssh_dispatch_run_fatal: Connection from ID:
// REASON" before log-in (after "... from "). REASON is sshd's error text
// and ID ends in " port N", so the reason starts after the last ": " that
// such an id precedes.
func parseDispatchFatal(s []byte, r *result) bool {
	end := len(s)
	for {
		i := lastIndex(s[:end], ": ")
		if i < 0 {
			return false
		}
		id := s[:i]
		if p := lastIndex(id, " port "); p > 0 && digits(id[p+len(" port "):]) == len(id)-p-len(" port ") && p+len(" port ") < len(id) {
			reason := s[i+2:]
			tok, user, _, ok := parseRemoteIDKind(id)
			if !ok || len(reason) == 0 {
				return false
			}
			kind := phalanx.KindProtocol
			if string(reason) == "message authentication code incorrect" {
				kind = phalanx.KindExploit
			}
			for _, e := range networkErrors {
				if string(reason) == e {
					return false
				}
			}
			if !setEvent(tok, kind, r) {
				return false
			}
			r.user = user
			return true
		}
		end = i
	}
}

// parseLtype handles the connection summaries some patched sshds log:
// "SSH: Server;Ltype: Version;Remote: ADDR-PORT;Protocol: ...".
func parseLtype(rest []byte, r *result) bool {
	for _, p := range [...]string{"Version;Remote: ", "Kex;Remote: ", "Authname;Remote: "} {
		if s, ok := cut(rest, p); ok {
			end := bytes.IndexByte(s, ';')
			if end < 0 {
				return false
			}
			hp := s[:end]
			dash := bytes.LastIndexByte(hp, '-')
			if dash <= 0 || digits(hp[dash+1:]) != len(hp)-dash-1 || dash == len(hp)-1 {
				return false
			}
			addr, ok := parseAddr(hp[:dash])
			if !ok {
				return false
			}
			r.act, r.addr = actHelper, addr
			return true
		}
	}
	return false
}
