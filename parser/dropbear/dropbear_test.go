package dropbear

import (
	"flag"
	"testing"
	"time"

	"phalanx/parser/parsertest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden checks the events of the Dropbear lines of each
// testdata/<case>/input.log against its events.golden (go test -update
// rewrites them).
func TestGolden(t *testing.T) { parsertest.Golden(t, *update, IsProgram, New) }

// TestShapes covers every message shape the parser knows, and some it must
// ignore, one connection per case.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "dropbear", 4092, New, []parsertest.Case{
		{Name: "bad password", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'root' from 198.51.100.87:5543", Want: `auth-failure 198.51.100.87 "root"`}}},
		{Name: "bad password (old, lower-case)", Steps: []parsertest.Step{{Msg: "bad password attempt for 'root' from 198.51.100.87:5543", Want: `auth-failure 198.51.100.87 "root"`}}},
		{Name: "bad password ipv6 unbracketed", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'admin' from 2001:db8::7:22", Want: `auth-failure 2001:db8::7 "admin"`}}},
		{Name: "bad password ipv6 bracketed", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'admin' from [2001:db8::7]:22", Want: `auth-failure 2001:db8::7 "admin"`}}},
		{Name: "bad password ipv4-mapped", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'admin' from ::ffff:198.51.100.215:60495", Want: `auth-failure 198.51.100.215 "admin"`}}},
		{Name: "bad password loopback ipv6", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'x' from ::1:22", Want: `auth-failure ::1 "x"`}}},
		{Name: "bad password host name", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'root' from gw.example.net:22"}}},
		{Name: "bad password no port", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'root' from 198.51.100.87"}}},
		{Name: "bad password port too long", Steps: []parsertest.Step{{Msg: "Bad password attempt for 'root' from 198.51.100.87:123456"}}},
		{Name: "bad PAM password", Steps: []parsertest.Step{{Msg: "Bad PAM password attempt for 'oracle' from 198.51.100.88:40000", Want: `auth-failure 198.51.100.88 "oracle"`}}},
		{Name: "nonexistent user", Steps: []parsertest.Step{{Msg: "Login attempt for nonexistent user from 1.2.3.4:60794", Want: `invalid-user 1.2.3.4 ""`}}},
		{Name: "nonexistent user (old)", Steps: []parsertest.Step{{Msg: "login attempt for nonexistent user from ::ffff:198.51.100.215:60495", Want: `invalid-user 198.51.100.215 ""`}}},
		{Name: "nonexistent user named", Steps: []parsertest.Step{{Msg: "Login attempt for nonexistent user 'ubnt' from 198.51.100.89:1234", Want: `invalid-user 198.51.100.89 "ubnt"`}}},
		{Name: "nonexistent user, garbage after the address", Steps: []parsertest.Step{{Msg: "Login attempt for nonexistent user from 1.2.3.4:60794 x"}}},
		{Name: "max auth (new)", Steps: []parsertest.Step{{Msg: "Exit before auth from <198.51.100.90:5000>: (user 'root', 10 fails): Max auth tries reached - user 'root'", Want: `max-auth 198.51.100.90 "root"`}}},
		{Name: "max auth (new) invalid user", Steps: []parsertest.Step{{Msg: "Exit before auth from <198.51.100.90:5000>: Max auth tries reached - user 'is invalid'", Want: `max-auth 198.51.100.90 ""`}}},
		{Name: "max auth (old) with address", Steps: []parsertest.Step{{Msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 1.2.3.4:60588", Want: `max-auth 1.2.3.4 "root"`}}},
		{Name: "max auth (old) from the connection", Steps: []parsertest.Step{
			{Msg: "Child connection from 198.51.100.91:5001"},
			{Msg: "Bad password attempt for 'root' from 198.51.100.91:5001", Want: `auth-failure 198.51.100.91 "root"`},
			{Msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'", Want: `max-auth 198.51.100.91 "root"`},
		}},
		{Name: "max auth (old) disagrees with the connection", Steps: []parsertest.Step{
			{Msg: "Child connection from 198.51.100.91:5001"},
			{Msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 198.51.100.92:5001"},
		}},
		{Name: "max auth (old) without any address", Steps: []parsertest.Step{{Msg: "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'"}}},
		{Name: "exit before auth", Steps: []parsertest.Step{{Msg: "Exit before auth from <198.51.100.93:5002>: Exited normally", Want: `preauth-close 198.51.100.93 ""`}}},
		{Name: "exit before auth with user", Steps: []parsertest.Step{{Msg: "Exit before auth from <198.51.100.93:5002>: (user 'admin', 2 fails): Disconnect received", Want: `preauth-close 198.51.100.93 "admin"`}}},
		{Name: "exit before auth ipv6", Steps: []parsertest.Step{{Msg: "Exit before auth from <2001:db8::93:5002>: Exited normally", Want: `preauth-close 2001:db8::93 ""`}}},
		{Name: "exit before auth (old) from the connection", Steps: []parsertest.Step{
			{Msg: "Child connection from 198.51.100.94:5003"},
			{Msg: "Exit before auth: Disconnect received", Want: `preauth-close 198.51.100.94 ""`},
		}},
		{Name: "exit before auth (old) without address", Steps: []parsertest.Step{{Msg: "Exit before auth: Disconnect received"}}},
		{Name: "exit malformed", Steps: []parsertest.Step{
			{Msg: "Exit before auth from <198.51.100.93:5002: Exited normally"},
			{Msg: "Exit before auth from <198.51.100.93:5002>Exited normally"},
			{Msg: "Exit before auth from <198.51.100.93:5002>: (user 'x', many fails): y"},
			{Msg: "Exit before authentication"},
		}},
		{Name: "success forgets the connection", Steps: []parsertest.Step{
			{Msg: "Child connection from 192.0.2.10:5004"},
			{Msg: "Password auth succeeded for 'deploy' from 192.0.2.10:5004"},
			{Msg: "Exit before auth: Disconnect received"},
		}},
		{Name: "state is per pid", Steps: []parsertest.Step{
			{Msg: "Child connection from 192.0.2.11:5005"},
			{Msg: "Exit before auth: Disconnect received", PID: 7},
		}},
		{Name: "stale state", Steps: []parsertest.Step{
			{Msg: "Child connection from 192.0.2.12:5006"},
			{Msg: "Exit before auth: Disconnect received", DT: time.Hour},
		}},
		{Name: "unrelated lines", Steps: []parsertest.Step{
			{Msg: "Running in background"},
			{Msg: "Not backgrounding"},
			{Msg: "Exit (deploy) from <192.0.2.10:5004>: Disconnect received"},
			{Msg: "Early exit from <192.0.2.10:5004>: x"},
			{Msg: "Pubkey auth succeeded for 'deploy' with ssh-ed25519 key SHA256:Zm9v from 192.0.2.10:5004"},
			{Msg: ""},
		}},
	})
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"dropbear": true, "": false, "sshd": false, "dropbear[1]": false, "Dropbear": false})
}

// TestParseLeavesOtherFields checks that Parse fills only Kind, Source, User
// and leaves the event alone when it returns false.
func TestParseLeavesOtherFields(t *testing.T) {
	parsertest.LeavesOtherFields(t, New(), "dropbear", "Running in background", "Bad password attempt for 'root' from 192.0.2.1:22")
}

// TestUserBounded checks that a long user name is cut to 128 bytes.
func TestUserBounded(t *testing.T) {
	parsertest.UserBounded(t, New(), "dropbear", "Bad PAM password attempt for '%s' from 192.0.2.1:22", 128)
}
