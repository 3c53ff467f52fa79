// Package parsertest holds the test machinery the log line parsers (package
// sshd, package dropbear) share: the golden runner over testdata/<case>/
// folders, the table runners for message shapes and injected addresses, the
// fuzz, allocation and benchmark harnesses, and the reader and judge of
// fail2ban's annotated sample logs (used by the replay tests too). It is for
// tests only: it must not be imported by code the binary ships, and it holds
// no parser knowledge of its own beyond the sshd exceptions to fail2ban.
package parsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// Parser is what the tests call of a log line parser: Parse fills ev with the
// line's first event and reports whether there was one; Next fills ev with a
// further event of the same line.
type Parser interface {
	Parse(fr *logline.Frame, ev *phalanx.Event) bool
	Next(ev *phalanx.Event) bool
}

// maxEvents bounds the events of one line: Next returns true at most once a
// line (see package sshd).
const maxEvents = 2

// T0 is the log time of the lines the table tests feed.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Feed parses one message as if program[pid] on host had logged it at at, and
// returns its events (Parse's, then Next's). It panics if the line yields more
// events than a parser may.
func Feed(p Parser, program, host string, pid int, at time.Time, msg string) []phalanx.Event {
	fr := logline.Frame{Time: at, Host: []byte(host), Program: []byte(program), PID: pid, Message: []byte(msg)}
	var evs []phalanx.Event
	var ev phalanx.Event
	for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
		evs = append(evs, ev)
		if len(evs) > maxEvents {
			panic("more than two events for one line")
		}
	}
	return evs
}

// Describe writes a line's events as `kind source "user"`, joined by " + "
// ("" for none).
func Describe(evs []phalanx.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = fmt.Sprintf("%v %v %q", ev.Kind, ev.Source, ev.User)
	}
	return strings.Join(s, " + ")
}

// OrNone returns s, or "no event" for an empty description.
func OrNone(s string) string {
	if s == "" {
		return "no event"
	}
	return s
}

// Step is one line of a connection in a Shapes case and the events it must
// yield, written as Describe writes them ("" = none).
type Step struct {
	Msg  string
	Want string
	PID  int           // 0: the case's connection (the pid given to Shapes)
	Host string        // "": "srv"
	DT   time.Duration // log time after T0
}

// Case is one connection of Shapes: its name and its lines in order.
type Case struct {
	Name  string
	Steps []Step
}

// Shapes runs each case as a subtest: it feeds the case's lines, logged by
// program with pid unless a step says otherwise, to one new parser, and
// compares each line's events with the step's.
func Shapes[P Parser](t *testing.T, program string, pid int, newParser func() P, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := newParser()
			for i, s := range c.Steps {
				spid, host := s.PID, s.Host
				if spid == 0 {
					spid = pid
				}
				if host == "" {
					host = "srv"
				}
				if got := Describe(Feed(p, program, host, spid, T0.Add(s.DT), s.Msg)); got != s.Want {
					t.Errorf("line %d %q:\n got %s\nwant %s", i+1, s.Msg, OrNone(got), OrNone(s.Want))
				}
			}
		})
	}
}

// IsProgram checks isProgram against want, program name by program name.
func IsProgram(t *testing.T, isProgram func([]byte) bool, want map[string]bool) {
	t.Helper()
	for prog, w := range want {
		if got := isProgram([]byte(prog)); got != w {
			t.Errorf("IsProgram(%q) = %v", prog, got)
		}
	}
}

// LeavesOtherFields checks that Parse fills only Kind, Source and User, and
// leaves the event alone when it returns false: ignored must be a message of
// program that yields no event, rootFailure one that yields an event for the
// user root.
func LeavesOtherFields(t *testing.T, p Parser, program, ignored, rootFailure string) {
	t.Helper()
	ev := phalanx.Event{Time: T0, Service: program, Line: 7, User: "keep"}
	fr := logline.Frame{Time: T0, Host: []byte("srv"), Program: []byte(program), PID: 1, Message: []byte(ignored)}
	if p.Parse(&fr, &ev) || ev.User != "keep" || ev.Kind != phalanx.KindUnknown {
		t.Fatalf("unrecognised line changed the event: %+v", ev)
	}
	fr.Message = []byte(rootFailure)
	if !p.Parse(&fr, &ev) {
		t.Fatal("no event")
	}
	if ev.Time != T0 || ev.Service != program || ev.Line != 7 || ev.User != "root" {
		t.Errorf("event fields: %+v", ev)
	}
}

// UserBounded checks that a user name of 400 bytes (200 two-byte runes),
// put in format's %s, comes out of the one event of the line cut to at most
// limit bytes, at a rune boundary (so at most 3 bytes short of it).
func UserBounded(t *testing.T, p Parser, program, format string, limit int) {
	t.Helper()
	long := strings.Repeat("é", 200)
	evs := Feed(p, program, "srv", 1, T0, fmt.Sprintf(format, long))
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	u := evs[0].User
	if len(u) > limit || !strings.HasPrefix(long, u) || len(u) < limit-3 {
		t.Errorf("user of %d bytes: %q", len(u), u)
	}
}
