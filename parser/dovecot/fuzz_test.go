package dovecot

import (
	"testing"

	"phalanx/parser/parsertest"
)

// FuzzParse feeds arbitrary messages to one parser (see parsertest.Fuzz): at
// most one event a line, whose user is at most 128 bytes and appears in it.
func FuzzParse(f *testing.F) {
	seeds := append([]string{
		"imap-login: Disconnected (auth failed, 1 attempts): user=<x>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1",
		"auth: passwd-file(a,b,c,203.0.113.13,<s>): unknown user",
		"auth: Info: ldap(dog,203.0.113.12,): invalid credentials",
		"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=1.2.3.4 rhost=203.0.113.14  user=bob",
	}, parsertest.SampleMessages("dovecot", "dovecot")...)
	parsertest.Fuzz(f, "dovecot", New, seeds, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}
