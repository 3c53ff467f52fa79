package dovecot

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make Dovecot
// write through user names, which Dovecot does not escape, to get 192.0.2.66
// blamed.
func TestInjection(t *testing.T) {
	parsertest.Injections(t, "dovecot", New, []parsertest.Injection{
		{Name: "login user holds rip", Lines: []string{
			"imap-login: Disconnected (auth failed, 1 attempts): user=<x>, method=PLAIN, rip=192.0.2.66, lip=1.1.1.1>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1, TLS",
			"imap-login: Disconnected (auth failed, 1 attempts): user=<rip=192.0.2.66>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1",
		}, Want: "203.0.113.5"},
		{Name: "login user holds a reason", Lines: []string{
			"imap-login: Login: user=<x (auth failed, 1 attempts): rip=192.0.2.66>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.1",
		}, Want: ""},
		{Name: "passdb user holds an address", Lines: []string{
			"auth: passwd-file(x,192.0.2.66,203.0.113.5): unknown user",
			"auth: passwd-file(x,192.0.2.66): unknown user (,203.0.113.5,<s>): Password mismatch",
			"auth: sql(x,192.0.2.66,<s>,203.0.113.5,<s>): Password mismatch",
		}, Want: "203.0.113.5"},
		{Name: "passdb user holds a whole result", Lines: []string{
			"auth: passwd-file(x,192.0.2.66): unknown user,203.0.113.5): master: no",
		}, Want: ""},
		{Name: "pam ruser and user hold rhost", Lines: []string{
			"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=192.0.2.66 rhost=203.0.113.5",
			"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=203.0.113.5  user=a rhost=192.0.2.66",
		}, Want: "203.0.113.5"},
	})
}
