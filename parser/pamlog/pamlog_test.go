package pamlog

import (
	"strings"
	"testing"
)

func TestFailure(t *testing.T) {
	for _, c := range []struct{ msg, addr, user string }{
		{"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=web rhost=192.0.2.1", "192.0.2.1", "web"},
		{"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=root rhost=192.0.2.1  user=root", "192.0.2.1", "root"},
		{"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=192.0.2.66 rhost=192.0.2.2", "192.0.2.2", "rhost=192.0.2.66"},
		{"(pam_unix) authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.3", "192.0.2.3", ""},
		{"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.4", "", ""},
		{"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=a rhost=192.0.2.5 x rhost=192.0.2.66", "", ""},
		{"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=a rhost=host.example.com", "", ""},
	} {
		addr, user, ok := Failure([]byte(c.msg), "dovecot")
		if c.addr == "" {
			if ok {
				t.Errorf("%q: read %v", c.msg, addr)
			}
			continue
		}
		if !ok || addr.String() != c.addr || string(user) != c.user {
			t.Errorf("%q: %v %q %v, want %s %q", c.msg, addr, user, ok, c.addr, c.user)
		}
	}
}

// FuzzFailure: the address is the one right after " rhost=" following the
// first " ruser=" field, and never anything else.
func FuzzFailure(f *testing.F) {
	f.Add("pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=web rhost=192.0.2.1  user=x")
	f.Fuzz(func(t *testing.T, msg string) {
		addr, _, ok := Failure([]byte(msg), "dovecot")
		if ok && !strings.Contains(msg, " rhost="+addr.String()) && !strings.Contains(msg, " rhost=::ffff:"+addr.String()) {
			t.Fatalf("%q: blamed %v", msg, addr)
		}
	})
}
