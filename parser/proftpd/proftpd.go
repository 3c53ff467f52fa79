// Package proftpd recognises failed log-ins in the logs of the ProFTPD
// server and turns them into phalanx.Events that name the client's
// address: its syslog lines (program "proftpd") and its own log file
// (SystemLog, "/var/log/proftpd/proftpd.log"), whose lines Frame splits.
//
// ProFTPD writes "SERVER (CLIENT[ADDR]): MESSAGE" (or " - MESSAGE"), where
// SERVER is the server's name, CLIENT the client's name as the resolver
// gave it (or its address) and MESSAGE may hold the client's words (the
// user name). The address is read only from the first " (" of the line:
// a name of host-name characters, then "[ADDR])". A server name that
// holds " (" makes no event.
//
//	MESSAGE                                                       kind
//	USER U (Login failed): REASON                                 auth-failure
//	USER U: no such user found from ...                           invalid-user
//	SECURITY VIOLATION: U login attempted[.]                      auth-failure
//	Maximum login attempts (N) exceeded                           max-auth
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon name) or keep state.
package proftpd

import (
	"bytes"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/sshd"
)

const maxMessage = 2048

// Parser recognises ProFTPD lines. It keeps no state between lines.
type Parser struct {
	loc *time.Location
}

// New returns a parser that reads the log file's times in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the log file's times (without a zone)
// in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is ProFTPD's.
func IsProgram(prog []byte) bool { return string(prog) == "proftpd" }

// Frame splits a line of ProFTPD's own log: "2013-11-16 21:59:30,121 HOST
// proftpd[PID] MESSAGE" (the tag may end in ':').
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	t, n, ok := logtime.ISO(line, p.loc)
	if !ok || n >= len(line) || line[n] != ' ' {
		return false
	}
	rest := line[n+1:]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 || sp > 255 {
		return false
	}
	host := rest[:sp]
	rest, ok = bytes.CutPrefix(rest[sp+1:], []byte("proftpd["))
	if !ok {
		return false
	}
	pid, d := 0, 0
	for d < len(rest) && d < 10 && rest[d] >= '0' && rest[d] <= '9' {
		pid = pid*10 + int(rest[d]-'0')
		d++
	}
	if d == 0 || d >= len(rest) || rest[d] != ']' {
		return false
	}
	rest = rest[d+1:]
	rest, _ = bytes.CutPrefix(rest, []byte(":"))
	if rest, ok = bytes.CutPrefix(rest, []byte(" ")); !ok {
		return false
	}
	*fr = logline.Frame{Time: t, Host: host, Program: []byte("proftpd"), PID: pid, Message: rest}
	return true
}

// Parse examines one framed ProFTPD line. When it is a failed log-in from
// an address it fills ev.Kind, ev.Source and ev.User, leaves the other
// fields alone and returns true; otherwise it leaves ev alone and returns
// false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage {
		return false
	}
	for len(msg) > 0 && (msg[len(msg)-1] == ' ' || msg[len(msg)-1] == '\r') {
		msg = msg[:len(msg)-1]
	}
	addr, body, ok := client(msg)
	if !ok {
		return false
	}
	var kind phalanx.Kind
	var user []byte
	switch {
	case bytes.HasPrefix(body, []byte("USER ")):
		u := body[len("USER "):]
		if i := bytes.LastIndex(u, []byte(" (Login failed):")); i >= 0 {
			kind, user = phalanx.KindAuthFailure, u[:i]
		} else if i := bytes.LastIndex(u, []byte(": no such user found from ")); i >= 0 {
			kind, user = phalanx.KindInvalidUser, u[:i]
		} else {
			return false
		}
	case bytes.HasPrefix(body, []byte("SECURITY VIOLATION: ")):
		u := body[len("SECURITY VIOLATION: "):]
		u = bytes.TrimSuffix(u, []byte("."))
		u, ok = bytes.CutSuffix(u, []byte(" login attempted"))
		if !ok {
			return false
		}
		kind, user = phalanx.KindAuthFailure, u
	case bytes.HasPrefix(body, []byte("Maximum login attempts (")) && bytes.HasSuffix(body, []byte(") exceeded")):
		kind = phalanx.KindMaxAuth
	default:
		return false
	}
	ev.Kind, ev.Source, ev.User = kind, addr, sshd.UserString(user)
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// client reads "SERVER (CLIENT[ADDR]): " or "SERVER (CLIENT[ADDR]) - " at
// the first " (" of msg and returns the address and the message after it.
func client(msg []byte) (netip.Addr, []byte, bool) {
	i := bytes.Index(msg, []byte(" ("))
	if i < 0 || i > 255 {
		return netip.Addr{}, nil, false
	}
	s := msg[i+2:]
	n := 0
	for n < len(s) && n < 255 && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9' ||
		s[n] == '.' || s[n] == '-' || s[n] == '_' || s[n] == ':') {
		n++
	}
	if n == 0 || n >= len(s) || s[n] != '[' {
		return netip.Addr{}, nil, false
	}
	end := bytes.IndexByte(s[n:], ']')
	if end < 0 {
		return netip.Addr{}, nil, false
	}
	addr, ok := sshd.ParseAddr(s[n+1 : n+end])
	if !ok {
		return netip.Addr{}, nil, false
	}
	rest := s[n+end+1:]
	if body, ok := bytes.CutPrefix(rest, []byte("): ")); ok {
		return addr, body, true
	}
	if body, ok := bytes.CutPrefix(rest, []byte(") - ")); ok {
		return addr, body, true
	}
	return netip.Addr{}, nil, false
}
