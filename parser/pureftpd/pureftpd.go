// Package pureftpd recognises failed log-ins in the syslog lines of the
// Pure-FTPd server (program "pure-ftpd") and turns them into phalanx.Events
// that name the client's address.
//
// Pure-FTPd writes "(ACCOUNT@HOST) [LEVEL] MESSAGE", where ACCOUNT is "?"
// until a log-in succeeds and HOST is the client's address (or its name,
// when name resolution is on: no event, names are never resolved, and no
// other line of the session names the address). A failure is
// "(?@ADDR) [WARNING] Authentication failed for user [U]", U being the
// client's and ending the line.
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon name) or keep state.
package pureftpd

import (
	"bytes"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/sshd"
)

const maxMessage = 2048

// Parser recognises Pure-FTPd lines. It keeps no state between lines.
type Parser struct{}

// New returns a parser.
func New() *Parser { return &Parser{} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is Pure-FTPd's.
func IsProgram(prog []byte) bool { return string(prog) == "pure-ftpd" }

const failed = ") [WARNING] Authentication failed for user ["

// Parse examines one framed Pure-FTPd line. When it is a failed log-in from
// an address it fills ev.Kind, ev.Source and ev.User, leaves the other
// fields alone and returns true; otherwise it leaves ev alone and returns
// false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage {
		return false
	}
	rest, ok := bytes.CutPrefix(msg, []byte("(?@"))
	if !ok {
		return false
	}
	end := bytes.IndexByte(rest, ')')
	if end < 0 || !bytes.HasPrefix(rest[end:], []byte(failed)) || msg[len(msg)-1] != ']' {
		return false
	}
	addr, ok := sshd.ParseAddr(rest[:end])
	if !ok {
		return false
	}
	user := rest[end+len(failed) : len(rest)-1]
	ev.Kind, ev.Source, ev.User = phalanx.KindAuthFailure, addr, sshd.UserString(user)
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }
