package loggen

import (
	"net/netip"
	"strconv"
)

// An op is one line of a connection's script, written delay ms after the
// previous one.
type op struct {
	code  uint8
	arg   uint8
	delay int32
}

// The lines a connection can write.
const (
	// attacks and probes (sshd)
	opInvalidUser uint8 = iota
	opCheckPass
	opPamAuthFail
	opFailedPw
	opMaxAuth
	opTooMany
	opPamMore
	opPamIgnore
	opByePreauth
	opDisconnectedPreauth
	opClosedPreauth
	opResetPreauth
	opKex
	opHostKey
	opIdentInvalid
	opBanner
	opIdentClosed
	opClosedPlain
	opIdentReset
	opResetPlain
	opTimeout
	// legitimate sessions (sshd, then noise from other programs)
	opAcceptedPw
	opAcceptedKey
	opSessOpen
	opRecvDiscUser
	opDisconnectedUser
	opSessClose
	opLogindNew
	opScopeStart
	opSudo
	opSudoOpen
	opSudoClose
	opLogindOut
	opLogindRemoved
	opScopeDone
	opScopeCPU
)

// Who a connection's closing lines name.
const (
	whoNone    uint8 = iota // no user name was sent
	whoValid                // "authenticating user NAME"
	whoInvalid              // "invalid user NAME"
)

const maxOps = 32

// conn is one TCP connection to sshd and, for legitimate users, the session
// that follows it. It has one pid for its whole life.
type conn struct {
	ops      [maxOps]op
	n, i     int
	prog     string // "sshd" or "sshd-session"
	pid      int
	addr     netip.Addr
	port     int
	user     string
	who      uint8
	attempts int    // password attempts in the script
	arg      string // kex offer or protocol garbage
	att      *attacker
	la       *legitAddr
	lu       *legitUser
	session  int // logind session id
	tty      int
	cpuMS    int64
}

func (g *gen) newConn() *conn {
	var c *conn
	if n := len(g.free); n > 0 {
		c = g.free[n-1]
		g.free = g.free[:n-1]
		*c = conn{}
	} else {
		c = new(conn)
	}
	c.prog = "sshd"
	if g.rng.IntN(100) < 30 { // OpenSSH 9.8+ logs per-connection lines as sshd-session
		c.prog = "sshd-session"
	}
	c.pid = g.nextPID()
	return c
}

func (c *conn) add(code uint8, delay int64) { c.addArg(code, 0, delay) }

func (c *conn) addArg(code, arg uint8, delay int64) {
	if c.n < maxOps {
		c.ops[c.n] = op{code: code, arg: arg, delay: int32(delay)}
		c.n++
	}
}

// start schedules the connection's first line.
func (g *gen) start(c *conn) {
	if c.n == 0 {
		g.free = append(g.free, c)
		return
	}
	g.push(g.now+int64(c.ops[0].delay), c)
}

func (c *conn) step(g *gen) (int64, bool) {
	g.connLine(c, c.ops[c.i])
	c.i++
	if c.i >= c.n {
		g.free = append(g.free, c)
		return 0, false
	}
	return g.now + int64(c.ops[c.i].delay), true
}

// addr appends "ADDR" and records that the address appeared.
func (g *gen) addr(b []byte, c *conn) []byte {
	switch {
	case c.att != nil:
		c.att.seen = true
	case c.la != nil:
		c.la.seen = true
	}
	return c.addr.AppendTo(b)
}

// addrPort appends "ADDR port PORT".
func (g *gen) addrPort(b []byte, c *conn) []byte {
	b = g.addr(b, c)
	b = append(b, " port "...)
	return strconv.AppendInt(b, int64(c.port), 10)
}

// whoAddrPort appends "[authenticating user NAME |invalid user NAME ]ADDR port PORT".
func (g *gen) whoAddrPort(b []byte, c *conn) []byte {
	switch c.who {
	case whoValid:
		b = append(b, "authenticating user "...)
		b = append(b, c.user...)
		b = append(b, ' ')
	case whoInvalid:
		b = append(b, "invalid user "...)
		b = append(b, c.user...)
		b = append(b, ' ')
	}
	return g.addrPort(b, c)
}

func (c *conn) userForm(b []byte) []byte {
	if c.who == whoInvalid {
		b = append(b, "invalid user "...)
	}
	return append(b, c.user...)
}

func (g *gen) pamTail(b []byte, c *conn) []byte {
	b = append(b, "logname= uid=0 euid=0 tty=ssh ruser= rhost="...)
	b = g.addr(b, c)
	if c.who == whoValid {
		b = append(b, "  user="...)
		b = append(b, c.user...)
	}
	return b
}

// connLine writes the line for o.
func (g *gen) connLine(c *conn, o op) {
	var b []byte
	switch o.code {
	case opLogindNew, opLogindOut, opLogindRemoved:
		b = g.begin("systemd-logind", g.logindPID)
		switch o.code {
		case opLogindNew:
			b = append(b, "New session "...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, " of user "...)
			b = append(b, c.user...)
			b = append(b, '.')
		case opLogindOut:
			b = append(b, "Session "...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, " logged out. Waiting for processes to exit."...)
		default:
			b = append(b, "Removed session "...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, '.')
		}
		g.end(b)
		return
	case opScopeStart, opScopeDone, opScopeCPU:
		b = g.begin("systemd", 1)
		switch o.code {
		case opScopeStart:
			b = append(b, "Started session-"...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, ".scope - Session "...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, " of User "...)
			b = append(b, c.user...)
			b = append(b, '.')
		case opScopeDone:
			b = append(b, "session-"...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, ".scope: Deactivated successfully."...)
		default:
			b = append(b, "session-"...)
			b = strconv.AppendInt(b, int64(c.session), 10)
			b = append(b, ".scope: Consumed "...)
			b = strconv.AppendInt(b, c.cpuMS/1000, 10)
			b = append(b, '.')
			b = appendPad(b, c.cpuMS%1000, 3, '0')
			b = append(b, "s CPU time."...)
		}
		g.end(b)
		return
	case opSudo, opSudoOpen, opSudoClose:
		b = g.begin("sudo", -1) // sudo logs without a pid
		switch o.code {
		case opSudo:
			for i := len(c.user); i < 8; i++ {
				b = append(b, ' ')
			}
			b = append(b, c.user...)
			b = append(b, " : TTY=pts/"...)
			b = strconv.AppendInt(b, int64(c.tty), 10)
			b = append(b, " ; PWD="...)
			b = append(b, c.lu.home...)
			b = append(b, " ; USER=root ; COMMAND="...)
			b = append(b, g.names.sudo[int(o.arg)%len(g.names.sudo)]...)
		case opSudoOpen:
			b = append(b, "pam_unix(sudo:session): session opened for user root(uid=0) by "...)
			b = append(b, c.user...)
			b = append(b, "(uid="...)
			b = strconv.AppendInt(b, int64(c.lu.uid), 10)
			b = append(b, ')')
		default:
			b = append(b, "pam_unix(sudo:session): session closed for user root"...)
		}
		g.end(b)
		return
	}

	b = g.begin(c.prog, c.pid)
	switch o.code {
	case opInvalidUser:
		b = append(b, "Invalid user "...)
		b = append(b, c.user...)
		b = append(b, " from "...)
		b = g.addrPort(b, c)
	case opCheckPass:
		b = append(b, "pam_unix(sshd:auth): check pass; user unknown"...)
	case opPamAuthFail:
		b = append(b, "pam_unix(sshd:auth): authentication failure; "...)
		b = g.pamTail(b, c)
	case opFailedPw:
		b = append(b, "Failed password for "...)
		b = c.userForm(b)
		b = append(b, " from "...)
		b = g.addrPort(b, c)
		b = append(b, " ssh2"...)
	case opMaxAuth:
		b = append(b, "error: maximum authentication attempts exceeded for "...)
		b = c.userForm(b)
		b = append(b, " from "...)
		b = g.addrPort(b, c)
		b = append(b, " ssh2 [preauth]"...)
	case opTooMany:
		b = append(b, "Disconnecting "...)
		b = g.whoAddrPort(b, c)
		b = append(b, ": Too many authentication failures [preauth]"...)
	case opPamMore:
		b = append(b, "PAM "...)
		b = strconv.AppendInt(b, int64(c.attempts-1), 10)
		b = append(b, " more authentication failures; "...)
		b = g.pamTail(b, c)
	case opPamIgnore:
		b = append(b, "PAM service(sshd) ignoring max retries; "...)
		b = strconv.AppendInt(b, int64(c.attempts), 10)
		b = append(b, " > 3"...)
	case opByePreauth:
		b = append(b, "Received disconnect from "...)
		b = g.addrPort(b, c)
		b = append(b, ":11: Bye Bye [preauth]"...)
	case opDisconnectedPreauth:
		b = append(b, "Disconnected from "...)
		b = g.whoAddrPort(b, c)
		b = append(b, " [preauth]"...)
	case opClosedPreauth:
		b = append(b, "Connection closed by "...)
		b = g.whoAddrPort(b, c)
		b = append(b, " [preauth]"...)
	case opResetPreauth:
		b = append(b, "Connection reset by "...)
		b = g.whoAddrPort(b, c)
		b = append(b, " [preauth]"...)
	case opKex:
		b = append(b, "Unable to negotiate with "...)
		b = g.addrPort(b, c)
		b = append(b, ": no matching key exchange method found. Their offer: "...)
		b = append(b, c.arg...)
		b = append(b, " [preauth]"...)
	case opHostKey:
		b = append(b, "Unable to negotiate with "...)
		b = g.addrPort(b, c)
		b = append(b, ": no matching host key type found. Their offer: "...)
		b = append(b, c.arg...)
		b = append(b, " [preauth]"...)
	case opIdentInvalid:
		b = append(b, "error: kex_exchange_identification: client sent invalid protocol identifier \""...)
		b = append(b, c.arg...)
		b = append(b, '"')
	case opBanner:
		b = append(b, "banner exchange: Connection from "...)
		b = g.addrPort(b, c)
		b = append(b, ": invalid format"...)
	case opIdentClosed:
		b = append(b, "error: kex_exchange_identification: Connection closed by remote host"...)
	case opClosedPlain:
		b = append(b, "Connection closed by "...)
		b = g.addrPort(b, c)
	case opIdentReset:
		b = append(b, "error: kex_exchange_identification: read: Connection reset by peer"...)
	case opResetPlain:
		b = append(b, "Connection reset by "...)
		b = g.addrPort(b, c)
	case opTimeout:
		b = append(b, "fatal: Timeout before authentication for "...)
		b = g.addrPort(b, c)
	case opAcceptedPw, opAcceptedKey:
		b = append(b, "Accepted "...)
		if o.code == opAcceptedPw {
			b = append(b, "password"...)
		} else {
			b = append(b, "publickey"...)
		}
		b = append(b, " for "...)
		b = append(b, c.user...)
		b = append(b, " from "...)
		b = g.addrPort(b, c)
		b = append(b, " ssh2"...)
		if o.code == opAcceptedKey {
			b = append(b, ": "...)
			b = append(b, c.lu.key...)
		}
	case opSessOpen:
		b = append(b, "pam_unix(sshd:session): session opened for user "...)
		b = append(b, c.user...)
		b = append(b, "(uid="...)
		b = strconv.AppendInt(b, int64(c.lu.uid), 10)
		b = append(b, ") by (uid=0)"...)
	case opRecvDiscUser:
		b = append(b, "Received disconnect from "...)
		b = g.addrPort(b, c)
		b = append(b, ":11: disconnected by user"...)
	case opDisconnectedUser:
		b = append(b, "Disconnected from user "...)
		b = append(b, c.user...)
		b = append(b, ' ')
		b = g.addrPort(b, c)
	case opSessClose:
		b = append(b, "pam_unix(sshd:session): session closed for user "...)
		b = append(b, c.user...)
	}
	g.end(b)
}
