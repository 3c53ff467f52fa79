// Package postgresql recognises failed log-ins in PostgreSQL's log and turns
// them into phalanx.Events that name the client's address. It reads the log
// file itself (Frame splits lines that start with log_line_prefix's %m or
// %t and an optional " [%p]") and the same messages through syslog or the
// journal (program "postgres").
//
// PostgreSQL writes the client's address only where the operator asks, so
// the parser takes it from one of three places, safest first:
//
//   - the message itself, for "no pg_hba.conf entry for host "ADDR", ..."
//     and "pg_hba.conf rejects connection for host "ADDR", ...": the
//     address is the first field, before the attacker's user name;
//   - the "connection received: host=ADDR port=P" line of the same backend
//     (log_connections = on), remembered by host and pid in a table of 1024
//     backends for ten minutes of log time: it holds no client text;
//   - log_line_prefix's %h (or %r, "ADDR(PORT)") when it is the prefix's
//     last field, the token right before the severity ("FATAL:"); the
//     attacker's user name (%u) and database (%d) may come earlier in the
//     prefix and again in the message, so a line that holds the failure's
//     words twice is read no further.
//
// When the prefix and the remembered connection name different addresses,
// the line yields no event. Configure %h last in log_line_prefix (for
// example '%m [%p] %q%u@%d %h '), or log_connections = on, or both.
//
// Failures recognised (severity FATAL):
//
//	password authentication failed for user "U"                  auth-failure
//	no pg_hba.conf entry for host "ADDR", user "U", ...          auth-failure
//	pg_hba.conf rejects connection for host "ADDR", user "U", ... auth-failure
//	role "U" does not exist                                       invalid-user
//
// The package must not resolve names, use regular expressions or allocate
// per line (except the user string of an uncommon name); its state is the
// bounded table above.
package postgresql

import (
	"bytes"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/sshd"
)

const (
	slots      = 1024
	stateTTL   = 600
	maxMessage = 4096
)

type conn struct {
	key  uint64
	addr netip.Addr
	at   int64
}

// Parser recognises PostgreSQL lines. It is not safe for concurrent use.
type Parser struct {
	loc   *time.Location
	conns [slots]conn
}

// New returns a parser that reads the log file's zone-less times in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the log file's times without a known
// zone in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is PostgreSQL's.
func IsProgram(prog []byte) bool {
	switch string(prog) {
	case "postgres", "postgresql", "postmaster":
		return true
	}
	return false
}

// Frame splits a line of PostgreSQL's own log file: "YYYY-MM-DD
// hh:mm:ss[.mmm] ZONE [PID] REST" (%m or %t, then " [%p]" if the prefix
// has it); REST, with the rest of the prefix, is the message.
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	if len(line) < 20 || line[10] != ' ' {
		return false // a syslog line's ISO stamp has a "T"
	}
	t, n, ok := logtime.ISO(line, p.loc)
	if !ok {
		return false
	}
	rest := line[n:]
	// A zone abbreviation that logtime did not read ("CET", "EDT").
	if len(rest) > 1 && rest[0] == ' ' && rest[1] >= 'A' && rest[1] <= 'Z' {
		z := 1
		for z < len(rest) && z < 8 && (rest[z] >= 'A' && rest[z] <= 'Z' || rest[z] >= '0' && rest[z] <= '9' || rest[z] == '+' || rest[z] == '-') {
			z++
		}
		rest = rest[z:]
	}
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	pid := -1
	if rest[0] == '[' {
		d := 1
		v := 0
		for d < len(rest) && d < 11 && rest[d] >= '0' && rest[d] <= '9' {
			v = v*10 + int(rest[d]-'0')
			d++
		}
		if d > 1 && d+1 < len(rest) && rest[d] == ']' && rest[d+1] == ' ' {
			pid, rest = v, rest[d+2:]
		}
	}
	*fr = logline.Frame{Time: t, Program: []byte("postgres"), PID: pid, Message: rest}
	return true
}

const (
	fatal      = "FATAL:  "
	pwFailed   = "password authentication failed for user \""
	noEntry    = "no pg_hba.conf entry for host \""
	rejects    = "pg_hba.conf rejects connection for host \""
	noRole     = "role \""
	roleSuffix = "\" does not exist"
	received   = "connection received: host="
)

// Parse examines one framed PostgreSQL line. When it recognises a failed
// log-in from an address it fills ev.Kind, ev.Source and ev.User, leaves
// the other fields alone and returns true; otherwise it leaves ev alone and
// returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage || len(msg) < 16 {
		return false
	}
	for len(msg) > 0 && (msg[len(msg)-1] == ' ' || msg[len(msg)-1] == '\r') {
		msg = msg[:len(msg)-1]
	}
	var c *conn
	if fr.PID >= 0 {
		var now int64
		if !fr.Time.IsZero() {
			now = fr.Time.Unix()
		}
		key := connKey(fr.Host, fr.PID)
		c = &p.conns[key&(slots-1)]
		if c.key != key || now != 0 && c.at != 0 && (now-c.at > stateTTL || c.at-now > stateTTL) {
			*c = conn{key: key, at: now}
		}
	}
	if i := bytes.LastIndex(msg, []byte(received)); i >= 0 {
		// "LOG:  connection received: host=ADDR port=P", which must end
		// the line: a backend's first line, before any client text (a
		// client's text elsewhere ends in a quote).
		v := msg[i+len(received):]
		sp := bytes.IndexByte(v, ' ')
		if sp < 0 || !bytes.HasSuffix(msg[:i], []byte("LOG:  ")) {
			return false
		}
		port, ok := bytes.CutPrefix(v[sp:], []byte(" port="))
		if !ok || len(port) == 0 || len(port) > 5 {
			return false
		}
		for _, d := range port {
			if d < '0' || d > '9' {
				return false
			}
		}
		if addr, ok := sshd.ParseAddr(v[:sp]); ok && c != nil {
			c.addr = addr
		}
		return false
	}
	sev := bytes.Index(msg, []byte(fatal))
	if sev < 0 || sev > 0 && msg[sev-1] != ' ' {
		return false
	}
	body := msg[sev+len(fatal):]
	var (
		kind phalanx.Kind
		user []byte
		addr netip.Addr
	)
	switch {
	case len(body) > len(pwFailed) && bytes.HasPrefix(body, []byte(pwFailed)) && body[len(body)-1] == '"':
		kind, user = phalanx.KindAuthFailure, body[len(pwFailed):len(body)-1]
		if bytes.Count(msg, []byte(pwFailed)) != 1 {
			return false // the user's name repeats the words
		}
	case bytes.HasPrefix(body, []byte(noEntry)), bytes.HasPrefix(body, []byte(rejects)):
		phrase := noEntry
		if bytes.HasPrefix(body, []byte(rejects)) {
			phrase = rejects
		}
		if bytes.Count(msg, []byte(phrase)) != 1 {
			return false // the user's name repeats the words
		}
		v := body[len(phrase):]
		q := bytes.IndexByte(v, '"')
		if q < 0 {
			return false
		}
		a, ok := sshd.ParseAddr(v[:q])
		if !ok {
			return false
		}
		kind, addr = phalanx.KindAuthFailure, a
		if u, ok := bytes.CutPrefix(v[q:], []byte("\", user \"")); ok {
			if e := bytes.Index(u, []byte("\", database \"")); e >= 0 {
				user = u[:e]
			}
		}
	case len(body) >= len(noRole)+len(roleSuffix) && bytes.HasPrefix(body, []byte(noRole)) && bytes.HasSuffix(body, []byte(roleSuffix)):
		kind, user = phalanx.KindInvalidUser, body[len(noRole):len(body)-len(roleSuffix)]
		if bytes.Count(msg, []byte(roleSuffix)) != 1 {
			return false
		}
	default:
		return false
	}
	if !addr.IsValid() {
		prefixed := prefixHost(msg[:sev])
		var known netip.Addr
		if c != nil {
			known = c.addr
		}
		switch {
		case prefixed.IsValid() && known.IsValid() && prefixed != known:
			return false
		case prefixed.IsValid():
			addr = prefixed
		default:
			addr = known
		}
		if !addr.IsValid() {
			return false
		}
	}
	ev.Kind, ev.Source, ev.User = kind, addr, sshd.UserString(user)
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// prefixHost reads the last token of the prefix (what comes before the
// severity) as %h, "ADDR", or %r, "ADDR(PORT)".
func prefixHost(prefix []byte) netip.Addr {
	prefix = bytes.TrimRight(prefix, " ")
	tok := prefix[bytes.LastIndexByte(prefix, ' ')+1:]
	if len(tok) > 2 && tok[len(tok)-1] == ')' {
		open := bytes.LastIndexByte(tok, '(')
		if open < 1 {
			return netip.Addr{}
		}
		for _, c := range tok[open+1 : len(tok)-1] {
			if c < '0' || c > '9' {
				return netip.Addr{}
			}
		}
		tok = tok[:open]
	}
	addr, ok := sshd.ParseAddr(tok)
	if !ok {
		return netip.Addr{}
	}
	return addr
}

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
