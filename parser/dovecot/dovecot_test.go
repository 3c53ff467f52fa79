package dovecot

import (
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers the message shapes the parser knows, as Dovecot 2.3 and
// 2.4 write them through syslog and the journal (program "dovecot"), and
// some it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "dovecot", -1, New, []parsertest.Case{
		{Name: "imap auth failed", Steps: []parsertest.Step{{Msg: "imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 12 secs): user=<info@example.org>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, TLS, session=<abc>", Want: `auth-failure 203.0.113.7 "info@example.org"`}}},
		{Name: "pop3 auth failed ipv6", Steps: []parsertest.Step{{Msg: "pop3-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): user=<bob>, method=LOGIN, rip=2001:db8::7, lip=2001:db8::1, mpid=0, secured, session=<x>", Want: `auth-failure 2001:db8::7 "bob"`}}},
		{Name: "no user", Steps: []parsertest.Step{{Msg: "imap-login: Disconnected (auth failed, 1 attempts): method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, TLS: Disconnected", Want: `auth-failure 203.0.113.7 ""`}}},
		{Name: "plaintext", Steps: []parsertest.Step{{Msg: "pop3-login: Aborted login (tried to use disallowed plaintext auth): rip=203.0.113.8, lip=192.0.2.1, session=<x>", Want: `auth-failure 203.0.113.8 ""`}}},
		{Name: "no auth attempts", Steps: []parsertest.Step{{Msg: "imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.9, lip=192.0.2.1, TLS handshaking: SSL_accept() failed", Want: `preauth-close 203.0.113.9 ""`}}},
		{Name: "passdb unknown user", Steps: []parsertest.Step{{Msg: "auth: passwd-file(admin,203.0.113.10,<sessid>): unknown user", Want: `invalid-user 203.0.113.10 "admin"`}}},
		{Name: "passdb mismatch", Steps: []parsertest.Step{{Msg: "auth: Info: sql(bob@example.org,203.0.113.10,<s>): Password mismatch", Want: `auth-failure 203.0.113.10 "bob@example.org"`}}},
		{Name: "pam failed", Steps: []parsertest.Step{{Msg: "auth-worker(31326): pam(root,203.0.113.11): pam_authenticate() failed: Authentication failure (password mismatch?)", Want: `auth-failure 203.0.113.11 "root"`}}},
		{Name: "pam unknown", Steps: []parsertest.Step{{Msg: "auth-worker(1): pam(x,203.0.113.11): pam_authenticate() failed: User not known to the underlying authentication module: 2 Time(s)", Want: `invalid-user 203.0.113.11 "x"`}}},
		{Name: "ldap empty session", Steps: []parsertest.Step{{Msg: "auth: Info: ldap(dog,203.0.113.12,): invalid credentials", Want: `auth-failure 203.0.113.12 "dog"`}}},
		{Name: "user holds commas", Steps: []parsertest.Step{{Msg: "auth: passwd-file(a,b,c,203.0.113.13,<s>): unknown user", Want: `invalid-user 203.0.113.13 "a,b,c"`}}},
		{Name: "pam_unix", Steps: []parsertest.Step{{Msg: "pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=203.0.113.14  user=bob", Want: `auth-failure 203.0.113.14 "bob"`}}},
		{Name: "a session counted by its auth line", Steps: []parsertest.Step{
			{Msg: "auth-worker(3100): pam(admin,203.0.113.16,<Qk1+2pQ>): pam_authenticate() failed: Authentication failure (password mismatch?)", Want: `auth-failure 203.0.113.16 "admin"`},
			{Msg: "auth-worker(3100): pam(admin,203.0.113.16,<Qk1+2pQ>): pam_authenticate() failed: Authentication failure (password mismatch?)", Want: `auth-failure 203.0.113.16 "admin"`},
			{Msg: "imap-login: Disconnected (auth failed, 2 attempts in 4 secs): user=<admin>, method=PLAIN, rip=203.0.113.16, lip=192.0.2.1, TLS, session=<Qk1+2pQ>"},
			{Msg: "imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<admin>, method=PLAIN, rip=203.0.113.16, lip=192.0.2.1, TLS, session=<Other>", Want: `auth-failure 203.0.113.16 "admin"`},
		}},
		{Name: "a user name cannot claim a counted session", Steps: []parsertest.Step{
			{Msg: "auth: passwd-file(x,203.0.113.17,<S1>): unknown user", Want: `invalid-user 203.0.113.17 "x"`},
			{Msg: "imap-login: Disconnected (auth failed, 1 attempts): user=<session=<S1>>, method=PLAIN, rip=203.0.113.17, lip=192.0.2.1, session=<S2>", Want: `auth-failure 203.0.113.17 "session=<S1>"`},
		}},
		{Name: "host names", Steps: []parsertest.Step{
			{Msg: "imap-login: Disconnected (auth failed, 1 attempts): user=<x>, rip=mail.example.com, lip=192.0.2.1"},
			{Msg: "auth: passwd-file(admin,mail.example.com): unknown user"},
		}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "imap-login: Login: user=<bob>, method=PLAIN, rip=203.0.113.15, lip=192.0.2.1, mpid=123, TLS, session=<x>"},
			{Msg: "imap(bob)<123><x>: Disconnected: Logged out in=10 out=100"},
			{Msg: "auth: passwd-file(admin,203.0.113.15): Password mismatch is not what this says: x"},
			{Msg: "master: Dovecot v2.3.21 (47349e2482) starting up for imap, pop3"},
		}},
	})
}

// TestFrame: Dovecot's own log file's shapes.
func TestFrame(t *testing.T) {
	p := New()
	for line, want := range map[string]string{
		"Jan 29 13:54:06 auth-worker(22401): Info: sql(admin@example.de,192.0.2.5,<n4JL>): unknown user":      "", // the syslog framer's
		"2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2.3.4): pam_authenticate() failed: x": `auth-failure 1.2.3.4 "username"`,
		"@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): rip=192.0.2.6":  `auth-failure 192.0.2.6 ""`,
		"Jan 29 13:54:06 mail dovecot: auth: x": "",
		"garbage":                               "",
	} {
		var fr logline.Frame
		if !p.Frame([]byte(line), &fr) {
			if want != "" {
				t.Errorf("%q: not framed", line)
			}
			continue
		}
		if got := parsertest.Describe(parsertest.Feed(p, string(fr.Program), "", -1, time.Time{}, string(fr.Message))); got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
	var fr logline.Frame
	if !p.Frame([]byte("2013-08-11 03:56:40 auth: x: y"), &fr) || !fr.Time.Equal(time.Date(2013, 8, 11, 3, 56, 40, 0, time.UTC)) {
		t.Errorf("ISO time: %v", fr.Time)
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"dovecot": true, "imap-login": true, "auth": true, "sshd": false, "": false, "dovecot2": false, "auth-worker(22401)": true, "auth-worker(": false})
}

// TestUserBounded checks that a long user name is cut to 128 bytes.
func TestUserBounded(t *testing.T) {
	parsertest.UserBounded(t, New(), "dovecot", "auth: passwd-file(%s,192.0.2.1): unknown user", 128)
}
