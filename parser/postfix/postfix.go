// Package postfix recognises attacks in the log lines of the Postfix mail
// server (programs "postfix/smtpd", "postfix/postscreen",
// "postfix/submission/smtpd", and the same under a multi-instance name such
// as "postfix-out/smtpd") and turns them into phalanx.Events that name the
// attacking address.
//
// Postfix writes the client as HOST[ADDR] (smtpd, where HOST is a name it
// verified or "unknown") or [ADDR]:PORT (postscreen) right after a fixed
// phrase, before any text the client chose (HELO names, envelope addresses,
// SASL data): the address is read only there, and only when HOST is made of
// the characters of a host name. Text after it never names the address.
//
// The package must not resolve names, use regular expressions, allocate per
// line, or keep unbounded state: its only memory is a fixed table of smtpd
// processes (see Parser).
//
// # What it recognises
//
//	message shape                                                         kind
//	warning: HOST[ADDR][:PORT]: SASL MECH authentication failed: REASON   auth-failure (1)
//	warning: HOST[ADDR]: SASL MECH authentication failed: Invalid
//	    authentication mechanism                                          protocol-error
//	warning: non-SMTP command from HOST[ADDR]: ...                        protocol-error
//	QUEUEID: reject: CMD from HOST[ADDR]: REPLY; from=<...> ...           mail-reject (2)
//	NOQUEUE: reject: CMD from [ADDR]:PORT: REPLY ... (postscreen)         mail-reject (2)
//	QUEUEID: milter-reject: CMD from HOST[ADDR]: REPLY ...                mail-reject (2)
//	improper command pipelining after CMD from HOST[ADDR]...              protocol-error
//	too many errors after CMD from HOST[ADDR]                             protocol-error
//	lost connection after CMD from HOST[ADDR]   (CMD: CONNECT, EHLO,
//	    HELO, STARTTLS, AUTH or UNKNOWN)                                  preauth-close
//	disconnect from HOST[ADDR] ... auth=0/N ...                           auth-failure (3)
//	PREGREET N after T from [ADDR]:PORT: ...                              protocol-error
//	COMMAND TIME|COUNT|LENGTH LIMIT, COMMAND PIPELINING, NON-SMTP
//	    COMMAND, BARE NEWLINE from [ADDR]:PORT ...                        protocol-error
//	HANGUP after T from [ADDR]:PORT in ...                                probe
//	DNSBL rank N for [ADDR]:PORT                                          dnsbl
//
// (1) Not when REASON is "Connection lost to authentication server": that
// is the server's own trouble.
//
// (2) A reply that says "blocked using LIST" is a dnsbl event instead; a
// greylisting reply (a temporary "Greylisted" or "try again later") is no
// event, since every legitimate first-time sender gets one.
//
// (3) The summary of a connection whose N log-in attempts all failed, when
// fewer than N "SASL ... authentication failed" lines of the same smtpd
// process (same host and pid) were seen: the client gave up in the middle
// of AUTH, which Postfix logs as "lost connection after AUTH" and no
// failure line. One event for what was not counted already. "connect from
// HOST[ADDR]" starts a connection's memory; a table of 1024 processes,
// forgetting after ten minutes of log time, bounds it.
package postfix

import (
	"bytes"
	"net/netip"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/sshd"
)

const (
	// slots is the size of the smtpd process table (direct-mapped by host
	// and pid; a newer process evicts an older one of the same slot).
	slots = 1024
	// stateTTL is how long, in seconds of log time, a connection's
	// failure count is kept: Postfix's smtpd_timeout is 300 s by default.
	stateTTL = 600
	// maxMessage bounds the messages examined (Postfix's lines stay well
	// under 2 KiB; a longer one is cut by syslog anyway).
	maxMessage = 4096
)

// conn is what the parser remembers of one smtpd process's connection.
type conn struct {
	key      uint64 // host and pid; 0 marks a free slot
	addr     netip.Addr
	failures int // SASL failure lines seen for the connection
	at       int64
}

// Parser recognises Postfix lines. It is not safe for concurrent use.
type Parser struct {
	conns [slots]conn
}

// New returns a parser.
func New() *Parser { return &Parser{} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is Postfix's: "postfix", or "NAME/DAEMON" where NAME is "postfix" or
// starts with "postfix-" (a multi-instance syslog_name).
func IsProgram(prog []byte) bool {
	if string(prog) == "postfix" {
		return true
	}
	i := bytes.IndexByte(prog, '/')
	if i < 0 || i == len(prog)-1 {
		return false
	}
	name := prog[:i]
	return string(name) == "postfix" || len(name) > len("postfix-") && string(name[:len("postfix-")]) == "postfix-"
}

// act says what a recognised line means.
type act uint8

const (
	actNone       act = iota
	actEvent          // an event
	actFailure        // a SASL failure: an event, counted for the connection
	actConnect        // a connection starts: remember it, no event
	actDisconnect     // a connection's summary: an event for uncounted failures
)

type result struct {
	act   act
	kind  phalanx.Kind
	addr  netip.Addr
	fails int // actDisconnect: failed log-ins in the summary
}

// Parse examines one framed Postfix line. When it recognises an attack event
// it fills ev.Kind and ev.Source, leaves the other fields alone and returns
// true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	var r result
	if !classify(fr.Message, &r) {
		return false
	}
	var c *conn
	if fr.PID >= 0 && r.act != actEvent {
		var now int64
		if !fr.Time.IsZero() {
			now = fr.Time.Unix()
		}
		key := connKey(fr.Host, fr.PID)
		c = &p.conns[key&(slots-1)]
		if c.key != key || c.addr != r.addr || now != 0 && c.at != 0 && (now-c.at > stateTTL || c.at-now > stateTTL) {
			*c = conn{key: key, addr: r.addr}
		}
		c.at = now
	}
	switch r.act {
	case actConnect:
		if c != nil {
			c.failures = 0
		}
		return false
	case actFailure:
		if c != nil {
			c.failures++
		}
	case actDisconnect:
		counted := 0
		if c != nil {
			counted = c.failures
			*c = conn{}
		}
		if r.fails <= counted {
			return false
		}
	}
	ev.Kind, ev.Source = r.kind, r.addr
	return true
}

// Next reports a further event of the line last given to Parse: a Postfix
// line yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

func connKey(host []byte, pid int) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range host {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= uint64(pid) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	if h == 0 {
		h = 1
	}
	return h
}

func cut(s []byte, p string) ([]byte, bool) {
	if len(s) >= len(p) && string(s[:len(p)]) == p {
		return s[len(p):], true
	}
	return s, false
}

// classify recognises one message.
func classify(msg []byte, r *result) bool {
	if len(msg) > maxMessage || len(msg) < 12 {
		return false
	}
	if rest, ok := cut(msg, "warning: "); ok {
		return warning(rest, r)
	}
	if rest, ok := cut(msg, "connect from "); ok {
		addr, _, ok := client(rest)
		r.act, r.addr = actConnect, addr
		return ok
	}
	if rest, ok := cut(msg, "disconnect from "); ok {
		return disconnect(rest, r)
	}
	if rest, ok := cut(msg, "lost connection after "); ok {
		cmd, rest, ok := command(rest)
		if !ok {
			return false
		}
		switch string(cmd) {
		case "CONNECT", "EHLO", "HELO", "STARTTLS", "AUTH", "UNKNOWN":
		default:
			return false // a client lost during DATA is as likely a flaky peer
		}
		return fromClient(rest, phalanx.KindPreauthClose, r)
	}
	if rest, ok := cut(msg, "improper command pipelining after "); ok {
		_, rest, ok := command(rest)
		return ok && fromClient(rest, phalanx.KindProtocol, r)
	}
	if rest, ok := cut(msg, "too many errors after "); ok {
		_, rest, ok := command(rest)
		return ok && fromClient(rest, phalanx.KindProtocol, r)
	}
	switch msg[0] {
	case 'P':
		if rest, ok := cut(msg, "PREGREET "); ok {
			return postscreenAfter(rest, phalanx.KindProtocol, r)
		}
	case 'H':
		if rest, ok := cut(msg, "HANGUP after "); ok {
			return postscreenAfter(rest, phalanx.KindProbe, r)
		}
	case 'C', 'N', 'B':
		for _, p := range [...]string{"COMMAND TIME LIMIT from ", "COMMAND COUNT LIMIT from ", "COMMAND LENGTH LIMIT from ",
			"COMMAND PIPELINING from ", "NON-SMTP COMMAND from ", "BARE NEWLINE from "} {
			if rest, ok := cut(msg, p); ok {
				return fromClient(rest, phalanx.KindProtocol, r)
			}
		}
	case 'D':
		if rest, ok := cut(msg, "DNSBL rank "); ok {
			n := digitCount(rest)
			if n == 0 {
				return false
			}
			rest, ok = cut(rest[n:], " for ")
			return ok && fromClient(rest, phalanx.KindDNSBL, r)
		}
	}
	return reject(msg, r)
}

// warning handles what follows "warning: ".
func warning(s []byte, r *result) bool {
	if rest, ok := cut(s, "non-SMTP command from "); ok {
		return fromClient(rest, phalanx.KindProtocol, r)
	}
	addr, rest, ok := client(s)
	if !ok {
		return false
	}
	if rest, ok = cut(rest, ": SASL "); !ok {
		return false
	}
	// The mechanism: LOGIN, PLAIN, CRAM-MD5, login, Plain, ...
	n := 0
	for n < len(rest) && n < 32 && (isAlnum(rest[n]) || rest[n] == '-' || rest[n] == '_') {
		n++
	}
	if n == 0 {
		return false
	}
	reason, ok := cut(rest[n:], " authentication failed:")
	if !ok {
		return false
	}
	reason = bytes.TrimSpace(reason)
	switch string(reason) {
	case "Connection lost to authentication server":
		return false
	case "Invalid authentication mechanism":
		r.act, r.kind, r.addr = actEvent, phalanx.KindProtocol, addr
		return true
	}
	r.act, r.kind, r.addr = actFailure, phalanx.KindAuthFailure, addr
	return true
}

// disconnect handles "HOST[ADDR] ehlo=1 auth=0/1 quit=1 commands=2/3".
func disconnect(s []byte, r *result) bool {
	addr, rest, ok := client(s)
	if !ok {
		return false
	}
	r.act, r.kind, r.addr = actDisconnect, phalanx.KindAuthFailure, addr
	// The counters are Postfix's own words: "name=N" or "name=N/M".
	for len(rest) > 0 {
		if rest[0] != ' ' {
			return false
		}
		rest = rest[1:]
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		tok := rest[:end]
		rest = rest[end:]
		v, ok := cut(tok, "auth=")
		if !ok {
			continue
		}
		good := digitCount(v)
		if good == 0 || good >= len(v) || v[good] != '/' {
			return false
		}
		total := digitCount(v[good+1:])
		if total == 0 || good+1+total != len(v) || total > 6 || good > 6 {
			return false
		}
		g, t := atoi(v[:good]), atoi(v[good+1:])
		if g != 0 || t == 0 {
			return false // a log-in succeeded, or none was tried
		}
		r.fails = t
		return true
	}
	return false
}

// reject handles "QUEUEID: reject: CMD from CLIENT: REPLY".
func reject(msg []byte, r *result) bool {
	i := 0
	for i < len(msg) && i < 32 && isAlnum(msg[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	rest, ok := cut(msg[i:], ": reject: ")
	if !ok {
		if rest, ok = cut(msg[i:], ": milter-reject: "); !ok {
			return false
		}
	}
	_, rest, ok = command(rest)
	if !ok {
		return false
	}
	addr, reply, ok := client(rest)
	if !ok {
		return false
	}
	if reply, ok = cut(reply, ": "); !ok {
		return false
	}
	// The server's reply ends where the envelope (client text) begins.
	if end := bytes.Index(reply, []byte("; from=<")); end >= 0 {
		reply = reply[:end]
	}
	kind := phalanx.KindMailReject
	switch {
	case bytes.Contains(reply, []byte(" blocked using ")):
		kind = phalanx.KindDNSBL
	case bytes.Contains(reply, []byte("reylist")), bytes.Contains(reply, []byte("try again later")):
		return false
	}
	r.act, r.kind, r.addr = actEvent, kind, addr
	return true
}

// command reads an SMTP command word ("RCPT", "CONNECT") and " from ".
func command(s []byte) (cmd, rest []byte, ok bool) {
	n := 0
	for n < len(s) && n < 16 && s[n] >= 'A' && s[n] <= 'Z' {
		n++
	}
	if n == 0 {
		return nil, nil, false
	}
	rest, ok = cut(s[n:], " from ")
	return s[:n], rest, ok
}

// fromClient reads the client that starts s, whatever follows it.
func fromClient(s []byte, kind phalanx.Kind, r *result) bool {
	addr, _, ok := client(s)
	if !ok {
		return false
	}
	r.act, r.kind, r.addr = actEvent, kind, addr
	return true
}

// postscreenAfter handles "N after T from [ADDR]:PORT..." and "T from
// [ADDR]:PORT..." (what follows "PREGREET " and "HANGUP after ").
func postscreenAfter(s []byte, kind phalanx.Kind, r *result) bool {
	i := bytes.Index(s, []byte(" from ["))
	if i < 0 || i > 40 {
		return false
	}
	for _, c := range s[:i] {
		if !(c >= '0' && c <= '9' || c == '.' || c == ' ' || c == 'a' || c == 'f' || c == 't' || c == 'e' || c == 'r') {
			return false
		}
	}
	return fromClient(s[i+len(" from "):], kind, r)
}

// client reads "HOST[ADDR]" (optionally followed by ":PORT") or
// "[ADDR]:PORT" at the start of s and returns the address and what follows.
func client(s []byte) (netip.Addr, []byte, bool) {
	i := 0
	for i < len(s) && i < 255 && (isAlnum(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_') {
		i++
	}
	if i >= len(s) || s[i] != '[' {
		return netip.Addr{}, nil, false
	}
	end := bytes.IndexByte(s[i+1:], ']')
	if end < 0 {
		return netip.Addr{}, nil, false
	}
	addr, ok := sshd.ParseAddr(s[i+1 : i+1+end])
	if !ok {
		return netip.Addr{}, nil, false
	}
	rest := s[i+1+end+1:]
	if len(rest) > 1 && rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9' {
		n := digitCount(rest[1:])
		if n > 5 {
			return netip.Addr{}, nil, false
		}
		rest = rest[1+n:]
	} else if i == 0 {
		return netip.Addr{}, nil, false // postscreen's [ADDR] always has a port
	}
	return addr, rest, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func digitCount(s []byte) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func atoi(s []byte) int {
	v := 0
	for _, c := range s {
		v = v*10 + int(c-'0')
	}
	return v
}
