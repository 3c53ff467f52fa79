package parsertest

import (
	"net/netip"
	"testing"
)

// Victim is the address the lines of an Injection case try to get blamed;
// the attacker writes them from 203.0.113.5 (or another address named as the
// real one).
const Victim = "192.0.2.66"

// Injection is one case of Injections: lines an attacker can make the
// program write, and the only acceptable attribution for all of them.
type Injection struct {
	Name  string
	Lines []string
	Want  string // the only address any line may be attributed to; "" = no event at all
}

// Injections runs each case as a subtest: it feeds the case's lines, logged by
// program (host srv, pid 999), to one new parser. Any event that blames the
// victim, or anything but the case's address, fails, and so does a case with
// an address that yields no event.
func Injections[P Parser](t *testing.T, program string, newParser func() P, cases []Injection) {
	t.Helper()
	victim := netip.MustParseAddr(Victim)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := newParser()
			events := 0
			for _, line := range c.Lines {
				for _, ev := range Feed(p, program, "srv", 999, T0, line) {
					events++
					if ev.Source == victim {
						t.Errorf("blamed the victim: %q", line)
					}
					if c.Want == "" {
						t.Errorf("ambiguous line blamed %v: %q", ev.Source, line)
					} else if ev.Source != netip.MustParseAddr(c.Want) {
						t.Errorf("blamed %v, want %s: %q", ev.Source, c.Want, line)
					}
				}
			}
			if c.Want != "" && events == 0 {
				t.Errorf("no event; %s is the only acceptable attribution", c.Want)
			}
		})
	}
}
