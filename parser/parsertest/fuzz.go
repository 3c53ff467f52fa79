package parsertest

import (
	"reflect"
	"strings"
	"testing"

	"phalanx"
	"phalanx/logline"
)

// Promise is what a parser promises of the events of one line, beyond what
// Fuzz checks of every event.
type Promise struct {
	Events int // events a line may yield at most
	User   int // bytes of an event's user at most
	// UserInLine: the event's user appears in the event's own line, not
	// only in the lines of its connection so far.
	UserInLine bool
	// Implied is a user a line may imply without naming it ("root").
	Implied string
}

// Fuzz is a parser's FuzzParse: seeded with seeds, it feeds arbitrary
// messages, one per line, to a new parser as program's over two connections
// (the salt shifts which line goes to which). Parse and Next must not panic,
// must leave the event alone when they return false, and must keep promise;
// every event must have a known kind and blame a valid, normalised address
// whose text appears in a line of the same connection.
func Fuzz[P Parser](f *testing.F, program string, newParser func() P, seeds []string, promise Promise) {
	for _, s := range seeds {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data string, salt uint8) {
		fuzzLines(t, newParser(), program, data, salt, promise)
	})
}

// fuzzLines is one input of Fuzz.
func fuzzLines(t *testing.T, p Parser, program, data string, salt uint8, promise Promise) {
	t.Helper()
	seen := map[int]string{}
	for i, msg := range strings.Split(data, "\n") {
		pid := 1 + (i+int(salt))%2
		seen[pid] += msg + "\n"
		fr := logline.Frame{Host: []byte("h"), Program: []byte(program), PID: pid, Message: []byte(msg)}
		var ev phalanx.Event
		n := 0
		for ok := p.Parse(&fr, &ev); ; ok = p.Next(&ev) {
			if !ok {
				if !reflect.DeepEqual(ev, phalanx.Event{}) {
					t.Fatalf("Parse or Next returned false but changed the event: %+v", ev)
				}
				break
			}
			if n++; n > promise.Events {
				t.Fatalf("more than %d events for %q", promise.Events, msg)
			}
			checkEvent(t, ev, msg, seen[pid], promise)
			ev = phalanx.Event{}
		}
	}
}

// checkEvent checks one event of Fuzz: a known kind, a valid, normalised
// address that appears in the connection's lines, and a user as promised.
func checkEvent(t *testing.T, ev phalanx.Event, msg, seen string, promise Promise) {
	t.Helper()
	a := ev.Source
	userIn := seen
	if promise.UserInLine {
		userIn = msg
	}
	switch {
	case !a.IsValid():
		t.Fatalf("invalid source for %q", msg)
	case a.Is4In6() || a.Zone() != "":
		t.Fatalf("source %v not normalised for %q", a, msg)
	case ev.Kind == phalanx.KindUnknown || ev.Kind.String() == "" || strings.HasPrefix(ev.Kind.String(), "kind("):
		t.Fatalf("bad kind %v for %q", ev.Kind, msg)
	case !strings.Contains(seen, a.String()):
		t.Fatalf("source %v does not appear in the connection's lines %q", a, seen)
	case len(ev.User) > promise.User:
		t.Fatalf("user of %d bytes", len(ev.User))
	case !strings.Contains(userIn, ev.User) && (promise.Implied == "" || ev.User != promise.Implied):
		t.Fatalf("user %q does not appear in %q", ev.User, userIn)
	}
}
