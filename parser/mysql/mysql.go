// Package mysql recognises failed log-ins in the error log of MySQL and
// MariaDB and turns them into phalanx.Events that name the client's
// address. It reads the error log file itself (Frame splits its lines:
// "2019-01-03T08:50:04.634875Z 113 [Note] [MY-010926] [Server] ...",
// "2015-10-07  8:25:38 139845235329792 [Warning] ...", "130324 17:56:13
// [Warning] ...") and the same messages through syslog or the journal
// (programs "mysqld", "mariadbd", "mariadb").
//
// The message is "Access denied for user 'U'@'HOST' (using password:
// YES|NO)", where U is the attacker's, unescaped, and HOST is the client as
// the server knows it: the address with skip-name-resolve, else a name
// (no event: names are never resolved). So the host is read from the right:
// between the last "'@'" and the closing "' (using password: ...)", which
// must end the line.
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon name) or keep state.
package mysql

import (
	"bytes"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/sshd"
)

// maxMessage bounds the messages examined: MySQL user names are at most 32
// characters, host names 255.
const maxMessage = 2048

// Parser recognises MySQL and MariaDB lines. It keeps no state between
// lines.
type Parser struct {
	loc *time.Location
}

// New returns a parser that reads the error log's zone-less times in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the error log's zone-less times in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is MySQL's or MariaDB's.
func IsProgram(prog []byte) bool {
	switch string(prog) {
	case "mysqld", "mariadbd", "mariadb", "mysql":
		return true
	}
	return false
}

// Frame splits a line of the error log file: a time stamp (ISO, with "T"
// or one or two spaces, or the old "YYMMDD HH:MM:SS"), then a thread number
// and/or "[Level]". The message starts after the stamp.
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	t, n, ok := logtime.ISO(line, p.loc)
	if !ok {
		if t, n, ok = logtime.Short(line, p.loc); !ok {
			return false
		}
	}
	rest := line[n:]
	if len(rest) < 2 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	// "113 [Note]" or "[Warning]": the server's, never a syslog host.
	d := 0
	for d < len(rest) && d < 20 && rest[d] >= '0' && rest[d] <= '9' {
		d++
	}
	if d > 0 {
		if d >= len(rest) || rest[d] != ' ' {
			return false
		}
		d++
	}
	if d >= len(rest) || rest[d] != '[' {
		return false
	}
	*fr = logline.Frame{Time: t, Program: []byte("mysqld"), PID: -1, Message: rest}
	return true
}

const (
	phrase    = "] Access denied for user '"
	tailYes   = "' (using password: YES)"
	tailNo    = "' (using password: NO)"
	separator = "'@'"
)

// Parse examines one framed line. When it is a failed log-in from an
// address it fills ev.Kind, ev.Source and ev.User, leaves the other fields
// alone and returns true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage {
		return false
	}
	for len(msg) > 0 && (msg[len(msg)-1] == ' ' || msg[len(msg)-1] == '\r') {
		msg = msg[:len(msg)-1]
	}
	// The phrase follows the server's "[Warning]" or "[Server]": the first
	// one is the server's, as no client text comes before it.
	i := bytes.Index(msg, []byte(phrase))
	if i < 0 {
		return false
	}
	rest := msg[i+len(phrase):]
	switch {
	case bytes.HasSuffix(rest, []byte(tailYes)):
		rest = rest[:len(rest)-len(tailYes)]
	case bytes.HasSuffix(rest, []byte(tailNo)):
		rest = rest[:len(rest)-len(tailNo)]
	default:
		return false
	}
	at := bytes.LastIndex(rest, []byte(separator))
	if at < 0 {
		return false
	}
	addr, ok := sshd.ParseAddr(rest[at+len(separator):])
	if !ok {
		return false
	}
	ev.Kind, ev.Source, ev.User = phalanx.KindAuthFailure, addr, sshd.UserString(rest[:at])
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }
