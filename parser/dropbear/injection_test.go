package dropbear

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make Dropbear
// write, through user names and client text, to get 192.0.2.66 (the victim)
// blamed. Each case states the only acceptable attribution for all its lines:
// the real address, or none ("") when the lines are ambiguous.
func TestInjection(t *testing.T) {
	cases := []parsertest.Injection{
		{Name: "PAM user name holds a quoted tail", Lines: []string{
			"Bad PAM password attempt for 'x' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, Want: "203.0.113.5"},
		{Name: "PAM user name is a whole tail", Lines: []string{
			"Bad PAM password attempt for '' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, Want: "203.0.113.5"},
		{Name: "PAM user name ends the line with a victim tail but no real one", Lines: []string{
			"Bad PAM password attempt for 'x' from 203.0.113.5:40000 y' from 192.0.2.66",
		}, Want: ""},
		{Name: "nonexistent user name holds a tail", Lines: []string{
			"Login attempt for nonexistent user 'a' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, Want: "203.0.113.5"},
		{Name: "nonexistent user name holds a tail without quote", Lines: []string{
			"Login attempt for nonexistent user from 192.0.2.66:22 from 203.0.113.5:40000",
		}, Want: ""},
		{Name: "exit: the client's reason holds an address", Lines: []string{
			"Exit before auth from <203.0.113.5:40000>: Bad packet from <192.0.2.66:22>",
		}, Want: "203.0.113.5"},
		{Name: "exit: the user holds brackets", Lines: []string{
			"Exit before auth from <203.0.113.5:40000>: (user 'x> from <192.0.2.66:22', 1 fails): y",
		}, Want: "203.0.113.5"},
		{Name: "old max auth: the user holds a tail, the connection knows better", Lines: []string{
			"Child connection from 203.0.113.5:40000",
			"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'x from 192.0.2.66:22' from 203.0.113.5:40000",
			"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'x' from 192.0.2.66:22",
		}, Want: "203.0.113.5"},
		{Name: "octal-looking victim", Lines: []string{
			"Bad password attempt for 'x' from 0300.0000.0002.0102:22",
			"Bad password attempt for 'x' from 3221226050:22",
			"Bad password attempt for 'x' from [192.0.2.066]:22",
		}, Want: ""},
		{Name: "nested line", Lines: []string{
			"dropbear[1]: Bad password attempt for 'root' from 192.0.2.66:22",
			"Child connection from 203.0.113.5:40000 Bad password attempt for 'root' from 192.0.2.66:22",
		}, Want: ""},
	}
	parsertest.Injections(t, "dropbear", New, cases)
}
