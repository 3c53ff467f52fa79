package parsertest

import (
	"net/netip"
	"strconv"
	"testing"

	"phalanx"
)

// Blame is one event on a sample line, as text.
type Blame struct {
	Kind, Source, User string
}

// Blames writes events as Blames.
func Blames(evs []phalanx.Event) []Blame {
	out := make([]Blame, len(evs))
	for i, ev := range evs {
		out[i] = Blame{Kind: ev.Kind.String(), Source: ev.Source.String(), User: ev.User}
	}
	return out
}

// Line is a sample line and the events it yielded, for Conformance.Check.
type Line struct {
	*Sample
	Msg    string // the message after the syslog tag: the key of Misses and Extras
	Events []Blame
}

// Tally counts one sample file's lines by what Conformance.Check made of them.
type Tally struct {
	Annotated int // annotated lines
	Expected  int // matches with an IP address
	Matched   int // of those, lines with an event that blames the address
	Missed    int // of those, documented misses
	FalsePos  int // lines fail2ban matches in no mode, with an event
	NonIP     int // matches with a host name or non-canonical address
	Hostless  int // matches annotated without address
}

func (a *Tally) add(b Tally) {
	a.Annotated += b.Annotated
	a.Expected += b.Expected
	a.Matched += b.Matched
	a.Missed += b.Missed
	a.FalsePos += b.FalsePos
	a.NonIP += b.NonIP
	a.Hostless += b.Hostless
}

// Conformance judges sample lines against fail2ban's annotations: every line
// fail2ban matches with an IP address yields an event blaming that address,
// every line it matches without saying the address yields an event, a line
// that names a host name or a non-canonical address yields none, and no line
// that fail2ban matches in no mode yields an event. Misses and Extras are the
// exceptions; Finish fails for one no line needed.
type Conformance struct {
	// Misses are sample lines fail2ban matches with an IP address where no
	// event is yielded on purpose, keyed by message, with the reason.
	Misses map[string]string
	// Extras are sample lines annotated as no match where an event is
	// yielded on purpose, keyed by message, with the reason.
	Extras map[string]string
	// FalsePositive reports whether an event on a line fail2ban matches in
	// no mode counts against it; nil counts every event.
	FalsePositive func(Blame) bool
	// ByMessage tells two lines apart by message rather than whole text
	// when deciding whether fail2ban matches a line in some mode.
	ByMessage bool

	usedMiss, usedExtra map[string]bool
	total               Tally
}

// Check judges one sample file's lines and logs its tally, followed by note
// (which no-event errors repeat).
func (c *Conformance) Check(t *testing.T, file string, lines []Line, note string) Tally {
	t.Helper()
	if c.usedMiss == nil {
		c.usedMiss, c.usedExtra = map[string]bool{}, map[string]bool{}
	}
	key := func(l *Line) string {
		if c.ByMessage {
			return l.Msg
		}
		return l.Text
	}
	// A line annotated as matching anywhere in the file (fail2ban tests some
	// lines under several modes) may yield an event everywhere.
	matchesSomewhere := map[string]bool{}
	for i := range lines {
		if lines[i].Match {
			matchesSomewhere[key(&lines[i])] = true
		}
	}
	var n Tally
	for i := range lines {
		l := &lines[i]
		if l.Annotated {
			n.Annotated++
		}
		where := file + ":" + strconv.Itoa(l.No)
		if !l.Match {
			if matchesSomewhere[key(l)] {
				continue
			}
			var bad []Blame
			for _, ev := range l.Events {
				if c.FalsePositive == nil || c.FalsePositive(ev) {
					bad = append(bad, ev)
				}
			}
			if len(bad) == 0 {
				continue
			}
			if _, ok := c.Extras[l.Msg]; ok {
				c.usedExtra[l.Msg] = true
				continue
			}
			n.FalsePos++
			for _, ev := range bad {
				t.Errorf("%s: fail2ban matches this line in no mode, but got %s %s user %q: %s", where, ev.Kind, ev.Source, ev.User, l.Text)
			}
			continue
		}
		if l.Host == "" {
			// fail2ban blames the address an earlier line of the connection
			// named, and the annotation does not say which; the parsers'
			// shape tests check the address for such shapes.
			n.Hostless++
			if len(l.Events) == 0 {
				t.Errorf("%s: no event, fail2ban matches it: %s", where, l.Text)
			}
			continue
		}
		want, err := netip.ParseAddr(l.Host)
		if err != nil {
			// A host name, or an address in a form sshd never writes
			// (192.030.0.6: octal or decimal?): no event.
			n.NonIP++
			for _, ev := range l.Events {
				t.Errorf("%s: host %q is not an IP address, but got %s %s: %s", where, l.Host, ev.Kind, ev.Source, l.Text)
			}
			continue
		}
		n.Expected++
		want = phalanx.Normalize(want)
		found := false
		for _, ev := range l.Events {
			found = found || ev.Source == want.String()
		}
		switch {
		case found:
			n.Matched++
		case len(l.Events) > 0:
			t.Errorf("%s: blamed %s, fail2ban blames %v: %s", where, l.Events[0].Source, want, l.Text)
		default:
			if _, ok := c.Misses[l.Msg]; ok {
				c.usedMiss[l.Msg] = true
				n.Missed++
				continue
			}
			t.Errorf("%s: no event, fail2ban matches %v (%s): %s", where, want, note, l.Text)
		}
	}
	t.Logf("%s: %d annotated lines, %d matches with an IP address expected, %d matched, %d documented misses, "+
		"%d false positives, %d matches with a host name or non-canonical address (no event by design), "+
		"%d matches annotated without address (all yield events); %s",
		file, n.Annotated, n.Expected, n.Matched, n.Missed, n.FalsePos, n.NonIP, n.Hostless, note)
	c.total.add(n)
	return n
}

// Finish logs the total of the files checked and fails for each exception no
// line needed (unless the test failed already: an exception may look unused
// only because its line failed otherwise).
func (c *Conformance) Finish(t *testing.T) {
	t.Helper()
	n := c.total
	t.Logf("total: %d annotated lines, %d matches expected, %d matched (%.1f%%), %d documented misses, %d false positives, %d non-IP hosts",
		n.Annotated, n.Expected, n.Matched, 100*float64(n.Matched)/float64(max(n.Expected, 1)),
		n.Missed, n.FalsePos, n.NonIP)
	if t.Failed() {
		return
	}
	for msg := range c.Misses {
		if !c.usedMiss[msg] {
			t.Errorf("documented miss no longer needed (remove it): %q", msg)
		}
	}
	for msg := range c.Extras {
		if !c.usedExtra[msg] {
			t.Errorf("documented extra no longer needed (remove it): %q", msg)
		}
	}
}

// SSHDMisses are the sshd sample lines fail2ban matches with an IP address
// where phalanx yields no event on purpose, keyed by message (the text after
// "sshd[pid]: "), with the reason: the exceptions of both the parser's and
// the replay's conformance tests.
func SSHDMisses() map[string]string {
	return map[string]string{
		"Accepted password for known from 192.0.2.114 port 52100 ssh2": "a successful log-in is never an event; " +
			"fail2ban uses it to release the PAM failures it held back for the same connection",
		"Accepted password for known from 192.0.2.116 port 52100 ssh2": "a successful log-in is never an event (as above)",
		"Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": "ambiguous: " +
			"OpenSSH appends no info to password failures, so the user name 'test from 127.0.0.1 port 58946 ssh2:' " +
			"from 10.10.1.2 writes this very line; fail2ban's choice (127.0.0.1) lets an attacker blame any address",
	}
}

// SSHDExtras are the sshd sample lines annotated as no match where phalanx
// yields an auth-failure event on purpose, keyed by message, with the reason.
func SSHDExtras() map[string]string {
	return map[string]string{
		"Disconnected from authenticating user admin 192.0.2.6 port 33553 [preauth]": "annotated only for fail2ban's " +
			"normal mode ('no failure in normal mode'); its extra and aggressive modes match this shape, as the " +
			"sample 'Disconnected from authenticating user root 192.0.2.6 ...' annotated in extra mode shows, and " +
			"phalanx counts such a close of an existing user that never got in as its failure (key-only servers log nothing else)",
	}
}
