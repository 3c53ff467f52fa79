package dropbear

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// feed parses one message as if dropbear[pid] on host had logged it at t.
func feed(p *Parser, host string, pid int, t time.Time, msg string) (phalanx.Event, bool) {
	fr := logline.Frame{Time: t, Host: []byte(host), Program: []byte("dropbear"), PID: pid, Message: []byte(msg)}
	var ev phalanx.Event
	ok := p.Parse(&fr, &ev)
	return ev, ok
}

func describe(ev phalanx.Event, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("%v %v %q", ev.Kind, ev.Source, ev.User)
}

func orNone(s string) string {
	if s == "" {
		return "no event"
	}
	return s
}

// step is one line of a connection and the event it must yield ("" = none).
type step struct {
	msg  string
	want string
	pid  int           // 0: the case's connection (pid 4092)
	dt   time.Duration // log time after t0
}

// TestShapes covers every message shape the parser knows, and some it must
// ignore, one connection per case.
func TestShapes(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{"bad password", []step{{msg: "Bad password attempt for 'root' from 198.51.100.87:5543", want: `auth-failure 198.51.100.87 "root"`}}},
		{"bad password (old, lower-case)", []step{{msg: "bad password attempt for 'root' from 198.51.100.87:5543", want: `auth-failure 198.51.100.87 "root"`}}},
		{"bad password ipv6 unbracketed", []step{{msg: "Bad password attempt for 'admin' from 2001:db8::7:22", want: `auth-failure 2001:db8::7 "admin"`}}},
		{"bad password ipv6 bracketed", []step{{msg: "Bad password attempt for 'admin' from [2001:db8::7]:22", want: `auth-failure 2001:db8::7 "admin"`}}},
		{"bad password ipv4-mapped", []step{{msg: "Bad password attempt for 'admin' from ::ffff:198.51.100.215:60495", want: `auth-failure 198.51.100.215 "admin"`}}},
		{"bad password loopback ipv6", []step{{msg: "Bad password attempt for 'x' from ::1:22", want: `auth-failure ::1 "x"`}}},
		{"bad password host name", []step{{msg: "Bad password attempt for 'root' from gw.example.net:22"}}},
		{"bad password no port", []step{{msg: "Bad password attempt for 'root' from 198.51.100.87"}}},
		{"bad password port too long", []step{{msg: "Bad password attempt for 'root' from 198.51.100.87:123456"}}},
		{"bad PAM password", []step{{msg: "Bad PAM password attempt for 'oracle' from 198.51.100.88:40000", want: `auth-failure 198.51.100.88 "oracle"`}}},
		{"nonexistent user", []step{{msg: "Login attempt for nonexistent user from 1.2.3.4:60794", want: `invalid-user 1.2.3.4 ""`}}},
		{"nonexistent user (old)", []step{{msg: "login attempt for nonexistent user from ::ffff:198.51.100.215:60495", want: `invalid-user 198.51.100.215 ""`}}},
		{"nonexistent user named", []step{{msg: "Login attempt for nonexistent user 'ubnt' from 198.51.100.89:1234", want: `invalid-user 198.51.100.89 "ubnt"`}}},
		{"nonexistent user, garbage after the address", []step{{msg: "Login attempt for nonexistent user from 1.2.3.4:60794 x"}}},
		{"max auth (new)", []step{{msg: "Exit before auth from <198.51.100.90:5000>: (user 'root', 10 fails): Max auth tries reached - user 'root'", want: `max-auth 198.51.100.90 "root"`}}},
		{"max auth (new) invalid user", []step{{msg: "Exit before auth from <198.51.100.90:5000>: Max auth tries reached - user 'is invalid'", want: `max-auth 198.51.100.90 ""`}}},
		{"max auth (old) with address", []step{{msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 1.2.3.4:60588", want: `max-auth 1.2.3.4 "root"`}}},
		{"max auth (old) from the connection", []step{
			{msg: "Child connection from 198.51.100.91:5001"},
			{msg: "Bad password attempt for 'root' from 198.51.100.91:5001", want: `auth-failure 198.51.100.91 "root"`},
			{msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'", want: `max-auth 198.51.100.91 "root"`},
		}},
		{"max auth (old) disagrees with the connection", []step{
			{msg: "Child connection from 198.51.100.91:5001"},
			{msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 198.51.100.92:5001"},
		}},
		{"max auth (old) without any address", []step{{msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'"}}},
		{"exit before auth", []step{{msg: "Exit before auth from <198.51.100.93:5002>: Exited normally", want: `preauth-close 198.51.100.93 ""`}}},
		{"exit before auth with user", []step{{msg: "Exit before auth from <198.51.100.93:5002>: (user 'admin', 2 fails): Disconnect received", want: `preauth-close 198.51.100.93 "admin"`}}},
		{"exit before auth ipv6", []step{{msg: "Exit before auth from <2001:db8::93:5002>: Exited normally", want: `preauth-close 2001:db8::93 ""`}}},
		{"exit before auth (old) from the connection", []step{
			{msg: "Child connection from 198.51.100.94:5003"},
			{msg: "Exit before auth: Disconnect received", want: `preauth-close 198.51.100.94 ""`},
		}},
		{"exit before auth (old) without address", []step{{msg: "Exit before auth: Disconnect received"}}},
		{"exit malformed", []step{
			{msg: "Exit before auth from <198.51.100.93:5002: Exited normally"},
			{msg: "Exit before auth from <198.51.100.93:5002>Exited normally"},
			{msg: "Exit before auth from <198.51.100.93:5002>: (user 'x', many fails): y"},
			{msg: "Exit before authentication"},
		}},
		{"success forgets the connection", []step{
			{msg: "Child connection from 192.0.2.10:5004"},
			{msg: "Password auth succeeded for 'deploy' from 192.0.2.10:5004"},
			{msg: "Exit before auth: Disconnect received"},
		}},
		{"state is per pid", []step{
			{msg: "Child connection from 192.0.2.11:5005"},
			{msg: "Exit before auth: Disconnect received", pid: 7},
		}},
		{"stale state", []step{
			{msg: "Child connection from 192.0.2.12:5006"},
			{msg: "Exit before auth: Disconnect received", dt: time.Hour},
		}},
		{"unrelated lines", []step{
			{msg: "Running in background"},
			{msg: "Not backgrounding"},
			{msg: "Exit (deploy) from <192.0.2.10:5004>: Disconnect received"},
			{msg: "Early exit from <192.0.2.10:5004>: x"},
			{msg: "Pubkey auth succeeded for 'deploy' with ssh-ed25519 key SHA256:Zm9v from 192.0.2.10:5004"},
			{msg: ""},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New()
			for i, s := range c.steps {
				pid := s.pid
				if pid == 0 {
					pid = 4092
				}
				if got := describe(feed(p, "srv", pid, t0.Add(s.dt), s.msg)); got != s.want {
					t.Errorf("line %d %q:\n got %s\nwant %s", i+1, s.msg, orNone(got), orNone(s.want))
				}
			}
		})
	}
}

func TestIsProgram(t *testing.T) {
	for prog, want := range map[string]bool{"dropbear": true, "": false, "sshd": false, "dropbear[1]": false, "Dropbear": false} {
		if got := IsProgram([]byte(prog)); got != want {
			t.Errorf("IsProgram(%q) = %v", prog, got)
		}
	}
}

// TestParseLeavesOtherFields checks that Parse fills only Kind, Source, User
// and leaves the event alone when it returns false.
func TestParseLeavesOtherFields(t *testing.T) {
	p := New()
	ev := phalanx.Event{Time: t0, Service: "dropbear", Line: 7, User: "keep"}
	fr := logline.Frame{Time: t0, Host: []byte("srv"), Program: []byte("dropbear"), PID: 1, Message: []byte("Running in background")}
	if p.Parse(&fr, &ev) || ev.User != "keep" || ev.Kind != phalanx.KindUnknown {
		t.Fatalf("unrecognised line changed the event: %+v", ev)
	}
	fr.Message = []byte("Bad password attempt for 'root' from 192.0.2.1:22")
	if !p.Parse(&fr, &ev) {
		t.Fatal("no event")
	}
	if ev.Time != t0 || ev.Service != "dropbear" || ev.Line != 7 || ev.User != "root" {
		t.Errorf("event fields: %+v", ev)
	}
}

func TestUserBounded(t *testing.T) {
	long := strings.Repeat("é", 200)
	ev, ok := feed(New(), "srv", 1, t0, "Bad PAM password attempt for '"+long+"' from 192.0.2.1:22")
	if !ok {
		t.Fatal("no event")
	}
	if len(ev.User) > 128 || !strings.HasPrefix(long, ev.User) {
		t.Errorf("user of %d bytes", len(ev.User))
	}
}
