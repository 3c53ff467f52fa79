// Package dovecot recognises attacks in the log lines of the Dovecot IMAP,
// POP3, submission and ManageSieve server and turns them into
// phalanx.Events that name the attacking address. It reads Dovecot's lines
// through syslog or the journal (program "dovecot", or a process name such
// as "imap-login", "auth", "auth-worker") and from Dovecot's own log file
// (log_path), whose lines Frame splits.
//
// User names are attacker-controlled and Dovecot writes them unescaped, so
// the address is read where the user cannot reach it: a login process's
// line names the client in its last "rip=" field (the fields after the user
// are the server's: method, rip, lip, TLS state, session); an auth process's
// line writes "PASSDB(USER,ADDR[,<SESSION>]): RESULT", read from the right,
// from the last "): ". A line whose address is not canonical IP text (a
// host name) yields no event.
//
// One failed log-in can show twice: the auth process's line (with
// auth_verbose) and the login process's summary when the connection ends.
// When both carry the session id (Dovecot 2.3 and later), the summary of a
// session whose failures an auth line counted yields no event; a table of
// 256 recent sessions bounds that memory.
//
// The package must not resolve names, use regular expressions, allocate per
// line (except the user string of an uncommon name) or keep unbounded state.
//
// # What it recognises
//
//	message shape (after "imap-login: ", "auth: ", "auth-worker(N): ",
//	and a level such as "Info: ")                                      kind
//	REASON (auth failed, N attempts[ in T secs]): user=<U>, ...,
//	    rip=ADDR, ...                                                  auth-failure
//	REASON (tried to use disabled|disallowed plaintext auth): ...,
//	    rip=ADDR, ...                                                  auth-failure
//	REASON (proxy dest auth failed): user=<U>, ..., rip=ADDR, ...      auth-failure
//	REASON (no auth attempts[ in T secs]): ..., rip=ADDR, ...          preauth-close (1)
//	REASON (disconnected before auth was ready, ...): ..., rip=ADDR    preauth-close (1)
//	REASON (client didn't finish SASL auth, ...): ..., rip=ADDR        preauth-close (1)
//	PASSDB(U,ADDR[,<S>]): unknown user[ ...]                           invalid-user
//	PASSDB(U,ADDR[,<S>]): pam_authenticate() failed: User not known
//	    to the underlying authentication module...                     invalid-user
//	PASSDB(U,ADDR[,<S>]): pam_authenticate() failed: ...               auth-failure
//	PASSDB(U,ADDR[,<S>]): Password mismatch[ ...]                      auth-failure
//	PASSDB(U,ADDR[,<S>]): invalid credentials                          auth-failure
//	pam_unix(dovecot:auth): authentication failure; ... ruser=R
//	    rhost=ADDR[  user=U]                                           auth-failure
//
// PASSDB is pam, passwd-file, passwd, shadow, sql, ldap, checkpassword,
// bsdauth, static, oauth2 or lua.
//
// (1) A connection that never tried to log in: fail2ban's dovecot filter
// counts these only in its aggressive mode; here they feed the mail-probe
// scenario, which needs a burst of them.
package dovecot

import (
	"bytes"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/logtime"
	"phalanx/parser/pamlog"
	"phalanx/parser/sshd"
)

// maxMessage bounds the messages examined.
const maxMessage = 4096

// Parser recognises Dovecot lines. It is not safe for concurrent use.
type Parser struct {
	loc *time.Location
	// counted holds the sessions (hashed) whose failures an auth process
	// line already counted, so that the login process's summary of the
	// same session adds nothing (see the package doc). Direct-mapped: a
	// newer session evicts an older one, whose summary then counts again.
	counted [sessionSlots]uint64
}

// sessionSlots is the size of Parser.counted.
const sessionSlots = 256

// New returns a parser that reads the ISO times of Dovecot's own log file
// in UTC.
func New() *Parser { return NewIn(time.UTC) }

// NewIn returns a parser that reads the times of Dovecot's own log file,
// which carry no zone, in loc.
func NewIn(loc *time.Location) *Parser { return &Parser{loc: loc} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is Dovecot's: "dovecot", "dovecot-auth", or one of its processes that
// log under their own name.
func IsProgram(prog []byte) bool {
	if i := bytes.IndexByte(prog, '('); i > 0 && prog[len(prog)-1] == ')' {
		prog = prog[:i] // "auth-worker(22401)" in Dovecot's own log file
	}
	switch string(prog) {
	case "dovecot", "dovecot-auth", "auth", "auth-worker", "imap-login", "pop3-login", "submission-login", "managesieve-login":
		return true
	}
	return false
}

// Frame splits a line of Dovecot's own log file: "STAMP PROCESS: MESSAGE"
// where STAMP is an ISO "YYYY-MM-DD hh:mm:ss" or a daemontools TAI64N
// label ("@4000...", whose time is left to the pipeline), and
// PROCESS is a Dovecot process name, optionally followed by "(...)". The
// message keeps the process name. It fills fr and reports whether the line
// had that shape. Dovecot's default stamp, "Mmm dd hh:mm:ss PROCESS: ",
// is a host-less syslog line that the syslog framer reads (with the year
// it infers); IsProgram takes its PROCESS.
func (p *Parser) Frame(line []byte, fr *logline.Frame) bool {
	rest, ok := stamp(line)
	if !ok {
		return false
	}
	// A process name: lower-case letters, digits and '-', optionally "(...)".
	n := 0
	for n < len(rest) && n < 32 && (rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= '0' && rest[n] <= '9' || rest[n] == '-') {
		n++
	}
	if n == 0 || n >= len(rest) {
		return false
	}
	if rest[n] == '(' {
		end := bytes.IndexByte(rest[n:], ')')
		if end < 0 || end > 64 {
			return false
		}
		n += end + 1
	}
	if !bytes.HasPrefix(rest[n:], []byte(": ")) {
		return false
	}
	*fr = logline.Frame{Program: []byte("dovecot"), PID: -1, Message: rest}
	if t, _, ok := logtime.ISO(line, p.loc); ok && len(line) > 19 && line[10] == ' ' {
		fr.Time = t
	}
	return true
}

// stamp skips the time stamp at the start of a Dovecot log file's line.
func stamp(line []byte) ([]byte, bool) {
	switch {
	case len(line) > 26 && line[0] == '@' && line[25] == ' ':
		for _, c := range line[1:25] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return nil, false
			}
		}
		return line[26:], true
	case len(line) > 20 && line[4] == '-' && line[10] == ' ' && line[13] == ':' && line[19] == ' ':
		return line[20:], true
	}
	return nil, false
}

// Parse examines one framed Dovecot line. When it recognises an attack
// event it fills ev.Kind, ev.Source and ev.User, leaves the other fields
// alone and returns true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage || len(msg) < 16 {
		return false
	}
	var (
		kind phalanx.Kind
		addr netip.Addr
		user []byte
		ok   bool
	)
	switch {
	case bytes.Contains(msg, []byte("(dovecot:auth): authentication failure;")):
		kind = phalanx.KindAuthFailure
		addr, user, ok = pamlog.Failure(msg, "dovecot")
	default:
		var session []byte
		if kind, addr, user, session, ok = login(msg); ok {
			if h := sessionHash(session); h != 0 && p.counted[h%sessionSlots] == h {
				p.counted[h%sessionSlots] = 0
				return false // the auth process's lines counted the session
			}
		} else if kind, addr, user, session, ok = passdb(msg); ok {
			if h := sessionHash(session); h != 0 {
				p.counted[h%sessionSlots] = h
			}
		}
	}
	if !ok {
		return false
	}
	ev.Kind, ev.Source, ev.User = kind, addr, sshd.UserString(user)
	return true
}

// Next reports a further event of the line last given to Parse: a Dovecot
// line yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// login reads a login process's "REASON (WHY): user=<U>, method=M,
// rip=ADDR, lip=ADDR, ..." line.
func login(msg []byte) (phalanx.Kind, netip.Addr, []byte, []byte, bool) {
	// The reason ends at the first "): "; the user comes after it.
	end := bytes.Index(msg, []byte("): "))
	if end < 0 {
		return 0, netip.Addr{}, nil, nil, false
	}
	if u := bytes.Index(msg, []byte("user=<")); u >= 0 && u < end {
		return 0, netip.Addr{}, nil, nil, false // the reason is in the user's name
	}
	open := bytes.LastIndexByte(msg[:end], '(')
	if open < 0 {
		return 0, netip.Addr{}, nil, nil, false
	}
	why := msg[open+1 : end]
	var kind phalanx.Kind
	switch {
	case bytes.HasPrefix(why, []byte("auth failed, ")),
		string(why) == "tried to use disabled plaintext auth",
		string(why) == "tried to use disallowed plaintext auth",
		string(why) == "proxy dest auth failed":
		kind = phalanx.KindAuthFailure
	case bytes.HasPrefix(why, []byte("no auth attempts")),
		bytes.HasPrefix(why, []byte("disconnected before auth was ready")),
		bytes.HasPrefix(why, []byte("client didn't finish SASL auth")):
		kind = phalanx.KindPreauthClose
	default:
		return 0, netip.Addr{}, nil, nil, false
	}
	fields := msg[end+len("): "):]
	// The last rip= is the server's: a user name may hold ", rip=" but
	// comes first.
	i := bytes.LastIndex(fields, []byte("rip="))
	if i < 0 || i > 0 && fields[i-1] != ' ' {
		return 0, netip.Addr{}, nil, nil, false
	}
	v := fields[i+len("rip="):]
	if c := bytes.IndexByte(v, ','); c >= 0 {
		v = v[:c]
	}
	addr, ok := sshd.ParseAddr(v)
	if !ok {
		return 0, netip.Addr{}, nil, nil, false
	}
	var user, session []byte
	if u, ok := bytes.CutPrefix(fields, []byte("user=<")); ok {
		if e := bytes.Index(u, []byte(">, ")); e >= 0 {
			user = u[:e]
		}
	}
	// The session, after rip= as every field the server writes.
	if j := bytes.LastIndex(fields[i:], []byte("session=<")); j >= 0 {
		sess := fields[i+j+len("session=<"):]
		if e := bytes.IndexByte(sess, '>'); e > 0 {
			session = sess[:e]
		}
	}
	return kind, addr, user, session, true
}

// sessionHash hashes a session id; 0 for none.
func sessionHash(s []byte) uint64 {
	if len(s) == 0 {
		return 0
	}
	h := uint64(14695981039346656037)
	for _, c := range s {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h | 1
}

// passdbs are the password databases whose failures Dovecot's auth
// processes log as "NAME(USER,ADDR...): RESULT".
var passdbs = [...]string{"pam(", "passwd-file(", "passwd(", "shadow(", "sql(", "ldap(", "checkpassword(", "bsdauth(", "static(", "oauth2(", "lua("}

// passdb reads "... PASSDB(USER,ADDR[,<SESSION>]): RESULT" from the right.
func passdb(msg []byte) (phalanx.Kind, netip.Addr, []byte, []byte, bool) {
	end := bytes.LastIndex(msg, []byte("): "))
	if end < 0 {
		return 0, netip.Addr{}, nil, nil, false
	}
	result := msg[end+len("): "):]
	var kind phalanx.Kind
	switch {
	case phrase(result, "unknown user"),
		bytes.HasPrefix(result, []byte("pam_authenticate() failed: User not known to the underlying authentication module")):
		kind = phalanx.KindInvalidUser
	case bytes.HasPrefix(result, []byte("pam_authenticate() failed: ")),
		phrase(result, "Password mismatch"),
		string(result) == "invalid credentials":
		kind = phalanx.KindAuthFailure
	default:
		return 0, netip.Addr{}, nil, nil, false
	}
	head := msg[:end]
	// The session: ",<id>" or a bare ",".
	var session []byte
	if len(head) > 0 && head[len(head)-1] == '>' {
		lt := bytes.LastIndexByte(head, '<')
		if lt < 1 || head[lt-1] != ',' {
			return 0, netip.Addr{}, nil, nil, false
		}
		session = head[lt+1 : len(head)-1]
		head = head[:lt-1]
	} else if len(head) > 0 && head[len(head)-1] == ',' {
		head = head[:len(head)-1]
	}
	comma := bytes.LastIndexByte(head, ',')
	if comma < 0 {
		return 0, netip.Addr{}, nil, nil, false
	}
	addr, ok := sshd.ParseAddr(head[comma+1:])
	if !ok {
		return 0, netip.Addr{}, nil, nil, false
	}
	// The database's name opens the parenthesis; the user fills the rest.
	start := -1
	for _, name := range passdbs {
		if i := bytes.Index(head[:comma], []byte(name)); i >= 0 && (start < 0 || i < start) {
			if i == 0 || head[i-1] == ' ' {
				start = i + len(name)
			}
		}
	}
	if start < 0 || start > comma {
		return 0, netip.Addr{}, nil, nil, false
	}
	return kind, addr, head[start:comma], session, true
}

// phrase reports whether s is p, or p followed by " (" and more.
func phrase(s []byte, p string) bool {
	return string(s) == p || len(s) > len(p)+1 && string(s[:len(p)]) == p && s[len(p)] == ' ' && s[len(p)+1] == '('
}
