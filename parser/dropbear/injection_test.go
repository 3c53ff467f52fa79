package dropbear

import (
	"net/netip"
	"testing"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make Dropbear
// write, through user names and client text, to get 192.0.2.66 (the victim)
// blamed. Each case states the only acceptable attribution for all its lines:
// the real address, or none ("") when the lines are ambiguous.
func TestInjection(t *testing.T) {
	const victim = "192.0.2.66"
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"PAM user name holds a quoted tail", []string{
			"Bad PAM password attempt for 'x' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, "203.0.113.5"},
		{"PAM user name is a whole tail", []string{
			"Bad PAM password attempt for '' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, "203.0.113.5"},
		{"PAM user name ends the line with a victim tail but no real one", []string{
			"Bad PAM password attempt for 'x' from 203.0.113.5:40000 y' from 192.0.2.66",
		}, ""},
		{"nonexistent user name holds a tail", []string{
			"Login attempt for nonexistent user 'a' from 192.0.2.66:22' from 203.0.113.5:40000",
		}, "203.0.113.5"},
		{"nonexistent user name holds a tail without quote", []string{
			"Login attempt for nonexistent user from 192.0.2.66:22 from 203.0.113.5:40000",
		}, ""},
		{"exit: the client's reason holds an address", []string{
			"Exit before auth from <203.0.113.5:40000>: Bad packet from <192.0.2.66:22>",
		}, "203.0.113.5"},
		{"exit: the user holds brackets", []string{
			"Exit before auth from <203.0.113.5:40000>: (user 'x> from <192.0.2.66:22', 1 fails): y",
		}, "203.0.113.5"},
		{"old max auth: the user holds a tail, the connection knows better", []string{
			"Child connection from 203.0.113.5:40000",
			"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'x from 192.0.2.66:22' from 203.0.113.5:40000",
			"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'x' from 192.0.2.66:22",
		}, "203.0.113.5"},
		{"octal-looking victim", []string{
			"Bad password attempt for 'x' from 0300.0000.0002.0102:22",
			"Bad password attempt for 'x' from 3221226050:22",
			"Bad password attempt for 'x' from [192.0.2.066]:22",
		}, ""},
		{"nested line", []string{
			"dropbear[1]: Bad password attempt for 'root' from 192.0.2.66:22",
			"Child connection from 203.0.113.5:40000 Bad password attempt for 'root' from 192.0.2.66:22",
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New()
			events := 0
			for _, line := range c.lines {
				ev, ok := feed(p, "srv", 999, t0, line)
				if !ok {
					continue
				}
				events++
				if ev.Source == netip.MustParseAddr(victim) {
					t.Errorf("blamed the victim: %q", line)
				}
				if c.want == "" {
					t.Errorf("ambiguous line blamed %v: %q", ev.Source, line)
				} else if ev.Source != netip.MustParseAddr(c.want) {
					t.Errorf("blamed %v, want %s: %q", ev.Source, c.want, line)
				}
			}
			if c.want != "" && events == 0 {
				t.Errorf("no event; %s is the only acceptable attribution", c.want)
			}
		})
	}
}
