// Package exim recognises attacks in the main log of the Exim mail server
// (mainlog, "/var/log/exim4/mainlog" on Debian), whose lines Frame splits,
// and in the same messages through syslog or the journal (program "exim"
// or "exim4"), and turns them into phalanx.Events that name the attacking
// address.
//
// Exim writes the client as "[NAME ][(HELO) ][ADDR][:PORT]": NAME is a
// name Exim looked up, HELO the client's own greeting (Exim accepts only a
// domain or an address literal there, so it holds no space) and ADDR the
// address. The client is read at a fixed place of each shape — right after
// "H=" at the start of the message, after "authenticator failed for ",
// "SMTP call from " — before any other client text. Two shapes have client
// text on both sides of "H=" (the command an SMTP synchronization error
// quotes, and the input after it): those count only when the line holds a
// single " H=".
//
//	message shape                                                     kind
//	NAME authenticator failed for CLIENT: 535 ...[ (set_id=U)]        auth-failure
//	H=CLIENT ... rejected RCPT <...>: REASON                          mail-reject (1)
//	H=CLIENT ... rejected after DATA: REASON                          mail-reject (1)
//	H=CLIENT sender verify fail for <...>: ...                        mail-reject
//	SMTP connection from CLIENT ... closed by DROP in ACL             mail-reject
//	SMTP protocol error in "CMD" H=CLIENT ... AUTH command used when
//	    not advertised                                                protocol-error
//	SMTP protocol synchronization error (...): rejected connection
//	    from H=CLIENT ...                                             protocol-error
//	SMTP protocol synchronization error (...): rejected "CMD" H=CLIENT protocol-error
//	SMTP call from CLIENT dropped: too many ...                       protocol-error
//	no MAIL in SMTP connection from CLIENT ...                        preauth-close
//	no host name found for IP address ADDR                            probe
//	no IP address found for host NAME (during SMTP connection from
//	    [ADDR])                                                       probe
//
// (1) dnsbl when REASON names a DNS blocklist ("dnsbl", "black list").
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon set_id) or keep state.
package exim

import (
	"bytes"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/sshd"
)

const maxMessage = 4096

// Parser recognises Exim lines. It keeps no state between lines.
type Parser struct {
	loc *time.Location
}

// New returns a parser that reads the main log's zone-less times in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the main log's zone-less times in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is Exim's.
func IsProgram(prog []byte) bool { return string(prog) == "exim" || string(prog) == "exim4" }

// Frame splits a line of Exim's main log: "YYYY-MM-DD hh:mm:ss[.fff][
// +zone] [[PID] ]MESSAGE", and the same stamp before a syslog-like "HOST
// exim[PID]: " tag.
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	if len(line) < 20 || line[10] != ' ' {
		return false
	}
	t, n, ok := logtime.ISO(line, p.loc)
	if !ok || n >= len(line) || line[n] != ' ' {
		return false
	}
	rest := line[n+1:]
	rest, pid, ok := cutPID(rest)
	if !ok {
		rest, pid = cutTag(rest)
	}
	*fr = logline.Frame{Time: t, Program: []byte("exim"), PID: pid, Message: rest}
	return true
}

// cutTag cuts a syslog-like "HOST exim[PID]: " from the start of s, if
// there, and returns the pid (-1 when not).
func cutTag(s []byte) ([]byte, int) {
	sp := bytes.IndexByte(s, ' ')
	if sp <= 0 || sp > 255 {
		return s, -1
	}
	tag := s[sp+1:]
	for _, name := range [...]string{"exim[", "exim4["} {
		v, ok := bytes.CutPrefix(tag, []byte(name))
		if !ok {
			continue
		}
		d, pid := 0, 0
		for d < len(v) && d < 10 && v[d] >= '0' && v[d] <= '9' {
			pid = pid*10 + int(v[d]-'0')
			d++
		}
		if d > 0 && bytes.HasPrefix(v[d:], []byte("]: ")) {
			return v[d+3:], pid
		}
	}
	return s, -1
}

// cutPID cuts "[PID] " from the start of s.
func cutPID(s []byte) ([]byte, int, bool) {
	if len(s) < 3 || s[0] != '[' {
		return s, -1, false
	}
	d, v := 1, 0
	for d < len(s) && d < 11 && s[d] >= '0' && s[d] <= '9' {
		v = v*10 + int(s[d]-'0')
		d++
	}
	if d == 1 || d+1 >= len(s) || s[d] != ']' || s[d+1] != ' ' {
		return s, -1, false
	}
	return s[d+2:], v, true
}

// Parse examines one framed Exim line. When it recognises an attack event
// it fills ev.Kind, ev.Source and ev.User, leaves the other fields alone
// and returns true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage || len(msg) < 16 {
		return false
	}
	msg, _, _ = cutPID(msg)
	msg = cutMessageID(msg)
	var (
		kind phalanx.Kind
		addr netip.Addr
		user []byte
		ok   bool
		rest []byte
	)
	switch {
	case bytes.HasPrefix(msg, []byte("H=")):
		if addr, rest, ok = client(msg[2:]); !ok {
			return false
		}
		switch {
		case bytes.HasPrefix(rest, []byte(" sender verify fail for ")):
			kind = phalanx.KindMailReject
		case bytes.Contains(rest, []byte(" rejected RCPT ")), bytes.Contains(rest, []byte(" rejected after DATA")):
			kind = phalanx.KindMailReject
			if bytes.Contains(rest, []byte("dnsbl")) || bytes.Contains(rest, []byte("black list")) || bytes.Contains(rest, []byte("blacklist")) {
				kind = phalanx.KindDNSBL
			}
		default:
			return false
		}
	case bytes.HasPrefix(msg, []byte("SMTP protocol error in \"")):
		if !bytes.HasSuffix(msg, []byte(" AUTH command used when not advertised")) {
			return false
		}
		// The command is the client's; what follows the client is Exim's.
		i := bytes.LastIndex(msg, []byte(" H="))
		if i < 0 {
			return false
		}
		if addr, _, ok = client(msg[i+3:]); !ok {
			return false
		}
		kind = phalanx.KindProtocol
	case bytes.HasPrefix(msg, []byte("SMTP protocol synchronization error (")):
		if i := bytes.Index(msg, []byte("): rejected connection from H=")); i >= 0 {
			addr, _, ok = client(msg[i+len("): rejected connection from H="):])
		} else if bytes.Contains(msg, []byte("): rejected \"")) && bytes.Count(msg, []byte(" H=")) == 1 {
			i := bytes.Index(msg, []byte(" H="))
			addr, _, ok = client(msg[i+3:])
		}
		if !ok {
			return false
		}
		kind = phalanx.KindProtocol
	case bytes.HasPrefix(msg, []byte("SMTP call from ")):
		if addr, rest, ok = client(msg[len("SMTP call from "):]); !ok || !bytes.Contains(rest, []byte(" dropped: too many ")) {
			return false
		}
		kind = phalanx.KindProtocol
	case bytes.HasPrefix(msg, []byte("no MAIL in SMTP connection from ")):
		if addr, _, ok = client(msg[len("no MAIL in SMTP connection from "):]); !ok {
			return false
		}
		kind = phalanx.KindPreauthClose
	case bytes.HasPrefix(msg, []byte("SMTP connection from ")):
		if addr, rest, ok = client(msg[len("SMTP connection from "):]); !ok || !bytes.HasSuffix(rest, []byte(" closed by DROP in ACL")) {
			return false
		}
		kind = phalanx.KindMailReject
	case bytes.HasPrefix(msg, []byte("no host name found for IP address ")):
		if addr, ok = sshd.ParseAddr(msg[len("no host name found for IP address "):]); !ok {
			return false
		}
		kind = phalanx.KindProbe
	case bytes.HasPrefix(msg, []byte("no IP address found for host ")):
		i := bytes.Index(msg, []byte(" (during SMTP connection from ["))
		if i < 0 || msg[len(msg)-1] != ')' || msg[len(msg)-2] != ']' {
			return false
		}
		if addr, ok = sshd.ParseAddr(msg[i+len(" (during SMTP connection from [") : len(msg)-2]); !ok {
			return false
		}
		kind = phalanx.KindProbe
	default:
		i := bytes.Index(msg, []byte(" authenticator failed for "))
		if i <= 0 || bytes.IndexByte(msg[:i], ' ') >= 0 {
			return false
		}
		if addr, rest, ok = client(msg[i+len(" authenticator failed for "):]); !ok {
			return false
		}
		// The rest: "[ I=[ADDR]:PORT]: 535 Incorrect authentication data[
		// (set_id=U)]".
		if v, ok := bytes.CutPrefix(rest, []byte(" I=")); ok {
			if _, r, ok := client(v); ok {
				rest = r
			} else {
				return false
			}
		}
		if !bytes.HasPrefix(rest, []byte(": 535 ")) {
			return false
		}
		if j := bytes.LastIndex(rest, []byte(" (set_id=")); j >= 0 && rest[len(rest)-1] == ')' {
			user = rest[j+len(" (set_id=") : len(rest)-1]
		}
		kind = phalanx.KindAuthFailure
	}
	ev.Kind, ev.Source, ev.User = kind, addr, sshd.UserString(user)
	return true
}

// Next reports a further event of the line last given to Parse: a line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// cutMessageID cuts a message id ("1ahr79-0006jK-G9 ", 6-6-2 or the newer
// 6-11-4 base-62 form) from the start of s.
func cutMessageID(s []byte) []byte {
	sp := bytes.IndexByte(s, ' ')
	if sp < 14 || sp > 24 {
		return s
	}
	id := s[:sp]
	dashes := 0
	for _, c := range id {
		switch {
		case c == '-':
			dashes++
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		default:
			return s
		}
	}
	if dashes != 2 || id[6] != '-' {
		return s
	}
	return s[sp+1:]
}

// client reads "[NAME ][(HELO) ][ADDR][:PORT]" at the start of s and
// returns the address and what follows.
func client(s []byte) (netip.Addr, []byte, bool) {
	if n := nameLen(s); n > 0 && n < len(s) && s[n] == ' ' {
		s = s[n+1:]
	}
	if len(s) > 0 && s[0] == '(' {
		end := bytes.IndexByte(s, ')')
		if end < 0 || end > 256 || bytes.IndexByte(s[1:end], ' ') >= 0 || bytes.IndexByte(s[1:end], '(') >= 0 ||
			end+1 >= len(s) || s[end+1] != ' ' {
			return netip.Addr{}, nil, false
		}
		s = s[end+2:]
	}
	if len(s) == 0 || s[0] != '[' {
		return netip.Addr{}, nil, false
	}
	end := bytes.IndexByte(s, ']')
	if end < 0 {
		return netip.Addr{}, nil, false
	}
	addr, ok := sshd.ParseAddr(s[1:end])
	if !ok {
		return netip.Addr{}, nil, false
	}
	rest := s[end+1:]
	if len(rest) > 1 && rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9' {
		d := 1
		for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
			d++
		}
		if d > 6 {
			return netip.Addr{}, nil, false
		}
		rest = rest[d:]
	}
	return addr, rest, true
}

// nameLen returns the length of the host name at the start of s.
func nameLen(s []byte) int {
	n := 0
	for n < len(s) && n < 255 && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9' ||
		s[n] == '.' || s[n] == '-' || s[n] == '_') {
		n++
	}
	return n
}
