// Package vsftpd recognises failed log-ins in the logs of the vsftpd FTP
// server and turns them into phalanx.Events that name the client's
// address: its own log file (vsftpd.log, dual_log_enable or
// xferlog_enable with xferlog_std_format=NO), whose lines Frame splits,
// and the PAM failures it logs through syslog or the journal (program
// "vsftpd").
//
// In "[USER] FAIL LOGIN: Client "ADDR"", USER is the client's, unescaped:
// the address is read after the last "] FAIL LOGIN: Client \"", whose
// quoted address ends the line or is followed only by vsftpd's reason
// (", \"...\"").
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon name) or keep state.
package vsftpd

import (
	"bytes"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/pamlog"
	"phalanx/parser/sshd"
)

const maxMessage = 2048

// Parser recognises vsftpd lines. It keeps no state between lines.
type Parser struct {
	loc *time.Location
}

// New returns a parser that reads the log file's times in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the log file's times (ctime, without a
// zone) in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is vsftpd's.
func IsProgram(prog []byte) bool { return string(prog) == "vsftpd" }

// Frame splits a line of vsftpd's own log: "Fri Jan 19 12:20:33 2007 [pid
// 27202] MESSAGE".
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	t, n, ok := logtime.Ctime(line, p.loc)
	if !ok {
		return false
	}
	rest, ok := bytes.CutPrefix(line[n:], []byte(" [pid "))
	if !ok {
		return false
	}
	pid, d := 0, 0
	for d < len(rest) && d < 10 && rest[d] >= '0' && rest[d] <= '9' {
		pid = pid*10 + int(rest[d]-'0')
		d++
	}
	if d == 0 || d+1 >= len(rest) || rest[d] != ']' || rest[d+1] != ' ' {
		return false
	}
	*fr = logline.Frame{Time: t, Program: []byte("vsftpd"), PID: pid, Message: rest[d+2:]}
	return true
}

const failLogin = "] FAIL LOGIN: Client \""

// Parse examines one framed vsftpd line. When it is a failed log-in from
// an address it fills ev.Kind, ev.Source and ev.User, leaves the other
// fields alone and returns true; otherwise it leaves ev alone and returns
// false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage || len(msg) < 20 {
		return false
	}
	if addr, user, ok := pamlog.Failure(msg, "vsftpd"); ok {
		ev.Kind, ev.Source, ev.User = phalanx.KindAuthFailure, addr, userString(user)
		return true
	}
	if msg[0] != '[' {
		return false
	}
	i := bytes.LastIndex(msg, []byte(failLogin))
	if i < 1 {
		return false
	}
	v := msg[i+len(failLogin):]
	q := bytes.IndexByte(v, '"')
	if q < 0 {
		return false
	}
	if tail := v[q+1:]; len(tail) > 0 && !(bytes.HasPrefix(tail, []byte(", \"")) && tail[len(tail)-1] == '"') {
		return false
	}
	addr, ok := sshd.ParseAddr(v[:q])
	if !ok {
		return false
	}
	ev.Kind, ev.Source, ev.User = phalanx.KindAuthFailure, addr, userString(msg[1:i])
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// userString is sshd.UserString with FTP's own common names, which then
// cost no allocation.
func userString(b []byte) string {
	switch string(b) {
	case "anonymous":
		return "anonymous"
	case "ftp":
		return "ftp"
	}
	return sshd.UserString(b)
}
