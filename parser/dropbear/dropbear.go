// Package dropbear recognises attacks in the log lines of the Dropbear SSH
// server (program "dropbear") and turns them into phalanx.Events that name
// the attacking address.
//
// User names are attacker-controlled (Dropbear quotes them but does not
// escape quotes), so, as in package sshd, the address is read only where
// Dropbear writes it: at the end of the message after the last "' from "
// when a quoted user comes first, and between "<" and ">" right after "Exit
// before auth from " when the client's text comes last. When a line and its
// connection's state name different addresses, the line yields no event.
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an event), or keep unbounded state.
//
// # What it recognises
//
// Kinds by message shape (the first letter may be lower-case, as older
// Dropbears wrote; ADDR:PORT is also [ADDR]:PORT, and an IPv6 ADDR is written
// without brackets as in ::ffff:192.0.2.1:22, the port after the last colon):
//
//	message shape                                                          kind
//	Bad password attempt for 'U' from ADDR:PORT                            auth-failure
//	Bad PAM password attempt for 'U' from ADDR:PORT                        auth-failure
//	Login attempt for nonexistent user[ 'U'] from ADDR:PORT                invalid-user
//	Exit before auth from <ADDR:PORT>: (user 'U', N fails): Max auth
//	    tries reached - user 'U'                                           max-auth
//	Exit before auth (user 'U', N fails): Max auth tries reached - user
//	    'U'[ from ADDR:PORT]  (older Dropbears)                            max-auth (1)
//	Exit before auth from <ADDR:PORT>: [(user 'U', N fails): ]REASON       preauth-close
//	Exit before auth[ (user 'U', N fails)]: REASON  (older Dropbears)      preauth-close (1)
//
// `Child connection from ADDR:PORT` only names the connection's address.
// `Password auth succeeded ...` and `Pubkey auth succeeded ...` make the
// parser forget the connection.
//
// (1) The address is the one that an earlier line of the same connection
// (same host and pid) named; a trailing "from ADDR:PORT" of the max-auth
// message must agree with it, or names it when no earlier line did. Without
// either, no event.
package dropbear

import (
	"bytes"
	"net/netip"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/sshd"
)

const (
	// slots is the size of the connection table: a direct-mapped cache
	// keyed by host and pid, where a newer connection evicts an older one
	// of the same slot.
	slots = 1024
	// stateTTL is how long, in seconds of log time, a connection's address
	// is trusted; Dropbear's auth timeout is five minutes.
	stateTTL = 600
	// maxMessage bounds the messages examined: Dropbear formats into a
	// 1024-byte buffer.
	maxMessage = 2048
)

// conn is what the parser remembers of one Dropbear process.
type conn struct {
	key  uint64 // host and pid; 0 marks a free slot
	addr netip.Addr
	at   int64 // unix time of the last update; 0 when lines carry no time
}

// Parser recognises Dropbear lines. A Parser is not safe for concurrent use.
type Parser struct {
	conns [slots]conn
}

// New returns a parser.
func New() *Parser { return &Parser{} }

// IsProgram reports whether a syslog program name belongs to Dropbear.
func IsProgram(prog []byte) bool { return string(prog) == "dropbear" }

// action says what a recognised line means for its connection.
type action uint8

const (
	actNone   action = iota
	actEvent         // an event with the address in the line
	actState         // an event whose address the connection's state gives (1)
	actHelper        // names the connection's address, no event
	actForget        // a successful log-in
)

// result is what classify learned from one message.
type result struct {
	act  action
	kind phalanx.Kind
	addr netip.Addr // for actState: the address the line also names, if any
	user []byte     // aliases the message
}

// Parse examines one framed Dropbear line. When it recognises an attack
// event it fills ev.Kind, ev.Source and ev.User, leaves the other fields
// alone and returns true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	var r result
	if !classify(fr.Message, &r) {
		return false
	}
	var now int64
	if !fr.Time.IsZero() {
		now = fr.Time.Unix()
	}
	var c *conn
	var key uint64
	if fr.PID >= 0 {
		key = connKey(fr.Host, fr.PID)
		c = &p.conns[key&(slots-1)]
		if c.key != key || now != 0 && c.at != 0 && (now-c.at > stateTTL || c.at-now > stateTTL) {
			*c = conn{}
		}
	}
	addr := r.addr
	switch r.act {
	case actForget:
		if c != nil {
			*c = conn{}
		}
		return false
	case actState:
		var known netip.Addr
		if c != nil {
			known = c.addr
		}
		switch {
		case known.IsValid() && addr.IsValid() && known != addr:
			return false // two addresses: no event
		case !addr.IsValid():
			addr = known
		}
		if !addr.IsValid() {
			return false
		}
	}
	if c != nil {
		*c = conn{key: key, addr: addr, at: now}
	}
	if r.act == actHelper {
		return false
	}
	ev.Kind, ev.Source, ev.User = r.kind, addr, sshd.UserString(r.user)
	return true
}

// Next reports a further event of the line last given to Parse. Dropbear
// lines yield at most one event, so it always returns false; it is here so
// that both SSH parsers are called the same way (see package sshd).
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// connKey identifies a Dropbear process on a host; 0 is reserved for "none".
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

func hasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

func cut(s []byte, p string) ([]byte, bool) {
	if hasPrefix(s, p) {
		return s[len(p):], true
	}
	return s, false
}

// cutFold is cut where the first letter of p may also be lower-case (older
// Dropbears wrote "bad password attempt").
func cutFold(s []byte, p string) ([]byte, bool) {
	if len(s) < len(p) || string(s[1:len(p)]) != p[1:] {
		return s, false
	}
	if s[0] != p[0] && s[0] != p[0]+('a'-'A') {
		return s, false
	}
	return s[len(p):], true
}

func lastIndex(s []byte, p string) int {
	for i := len(s) - len(p); i >= 0; i-- {
		if s[i] == p[0] && string(s[i:i+len(p)]) == p {
			return i
		}
	}
	return -1
}

func trimRight(s []byte) []byte {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// hostPort parses Dropbear's address string, "ADDR:PORT" or "[ADDR]:PORT",
// as the whole of b.
func hostPort(b []byte) (netip.Addr, bool) {
	colon := bytes.LastIndexByte(b, ':')
	if colon <= 0 || !isPort(b[colon+1:]) {
		return netip.Addr{}, false
	}
	host := b[:colon]
	if host[0] == '[' {
		if len(host) < 3 || host[len(host)-1] != ']' {
			return netip.Addr{}, false
		}
		host = host[1 : len(host)-1]
	}
	return sshd.ParseAddr(host)
}

// isPort reports whether b is 1-5 decimal digits.
func isPort(b []byte) bool {
	if len(b) == 0 || len(b) > 5 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// quotedFrom parses "'U' from ADDR:PORT" as the whole of s, where U is
// anything: the address follows the last "' from " and ends the message.
func quotedFrom(s []byte, kind phalanx.Kind, r *result) bool {
	if len(s) == 0 || s[0] != '\'' {
		return false
	}
	i := lastIndex(s, "' from ")
	if i < 1 {
		return false
	}
	addr, ok := hostPort(s[i+len("' from "):])
	if !ok {
		return false
	}
	r.act, r.kind, r.addr, r.user = actEvent, kind, addr, s[1:i]
	return true
}

// classify recognises one message.
func classify(msg []byte, r *result) bool {
	if len(msg) > maxMessage {
		return false
	}
	msg = trimRight(msg)
	if len(msg) < 8 {
		return false
	}
	switch msg[0] {
	case 'B', 'b':
		if rest, ok := cutFold(msg, "Bad password attempt for "); ok {
			return quotedFrom(rest, phalanx.KindAuthFailure, r)
		}
		if rest, ok := cutFold(msg, "Bad PAM password attempt for "); ok {
			return quotedFrom(rest, phalanx.KindAuthFailure, r)
		}
	case 'L', 'l':
		if rest, ok := cutFold(msg, "Login attempt for nonexistent user "); ok {
			if tok, ok := cut(rest, "from "); ok {
				addr, ok := hostPort(tok)
				if !ok {
					return false
				}
				r.act, r.kind, r.addr = actEvent, phalanx.KindInvalidUser, addr
				return true
			}
			return quotedFrom(rest, phalanx.KindInvalidUser, r)
		}
	case 'C', 'c':
		if rest, ok := cutFold(msg, "Child connection from "); ok {
			addr, ok := hostPort(rest)
			if !ok {
				return false
			}
			r.act, r.addr = actHelper, addr
			return true
		}
	case 'E', 'e':
		if rest, ok := cutFold(msg, "Exit before auth"); ok {
			return parseExit(rest, r)
		}
	case 'P', 'p':
		if hasPrefix(msg[1:], "assword auth succeeded for ") || hasPrefix(msg[1:], "ubkey auth succeeded for ") {
			r.act = actForget
			return true
		}
	}
	return false
}

// parseExit handles what follows "Exit before auth": " from <ADDR:PORT>:
// [(user 'U', N fails): ]REASON", or, from older Dropbears, "[ (user 'U', N
// fails)]: REASON".
func parseExit(s []byte, r *result) bool {
	r.kind = phalanx.KindPreauthClose
	if rest, ok := cut(s, " from <"); ok {
		end := bytes.IndexByte(rest, '>')
		if end < 0 {
			return false
		}
		addr, ok := hostPort(rest[:end])
		if !ok {
			return false
		}
		reason, ok := cut(rest[end+1:], ": ")
		if !ok {
			return false
		}
		if reason, r.user, ok = userFails(reason); !ok {
			return false
		}
		if hasPrefix(reason, "Max auth tries reached") {
			r.kind = phalanx.KindMaxAuth
		}
		r.act, r.addr = actEvent, addr
		return true
	}
	// Older: "Exit before auth (user 'U', N fails): REASON" or "Exit
	// before auth: REASON"; the address comes from the connection, or
	// from the max-auth reason's "from ADDR:PORT" tail.
	var reason []byte
	switch {
	case hasPrefix(s, " (user '"):
		var ok bool
		if reason, r.user, ok = userFails(s[1:]); !ok {
			return false
		}
	case hasPrefix(s, ": "):
		reason = s[2:]
	default:
		return false
	}
	r.act = actState
	if hasPrefix(reason, "Max auth tries reached") {
		r.kind = phalanx.KindMaxAuth
		if i := lastIndex(reason, " from "); i >= 0 {
			addr, ok := hostPort(reason[i+len(" from "):])
			if !ok {
				return false
			}
			r.addr = addr
		}
	}
	return true
}

// userFails reads "(user 'U', N fails): " at the start of s, if there, and
// returns the rest and U. Without it, it returns s unchanged.
func userFails(s []byte) (rest, user []byte, ok bool) {
	in, ok := cut(s, "(user '")
	if !ok {
		return s, nil, true
	}
	// U is an existing account's name; the count and ": " follow it.
	for i := 0; i+len("', ") <= len(in); i++ {
		if in[i] != '\'' || string(in[i:i+len("', ")]) != "', " {
			continue
		}
		j := i + len("', ")
		d := j
		for d < len(in) && d-j < 10 && in[d] >= '0' && in[d] <= '9' {
			d++
		}
		if d > j {
			if tail, ok := cut(in[d:], " fails): "); ok {
				return tail, in[:i], true
			}
		}
	}
	return nil, nil, false
}
