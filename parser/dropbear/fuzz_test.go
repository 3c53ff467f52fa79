package dropbear

import (
	"reflect"
	"strings"
	"testing"

	"phalanx"
	"phalanx/logline"
)

var fuzzSeeds = []string{
	"Bad password attempt for 'root' from 198.51.100.87:5543",
	"bad password attempt for 'root' from [2001:db8::7]:22",
	"Bad PAM password attempt for 'x' from 192.0.2.66:22' from 203.0.113.5:40000",
	"Login attempt for nonexistent user from ::ffff:198.51.100.215:60495",
	"Login attempt for nonexistent user 'a' from 192.0.2.66:22' from 203.0.113.5:40000",
	"Child connection from 198.51.100.91:5001\nExit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'",
	"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 1.2.3.4:60588",
	"Exit before auth from <203.0.113.5:40000>: (user 'x> from <192.0.2.66:22', 1 fails): y",
	"Exit before auth from <2001:db8::93:5002>: Exited normally",
	"Child connection from 198.51.100.94:5003\nExit before auth: Disconnect received",
	"Child connection from 192.0.2.10:5004\nPassword auth succeeded for 'deploy' from 192.0.2.10:5004\nExit before auth: x",
}

// FuzzParse feeds arbitrary messages, one per line, to one parser over two
// connections. It must never panic, and every event must blame a valid,
// normalised address whose text appears in a line of the same connection.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data string, salt uint8) {
		p := New()
		seen := map[int]string{}
		for i, msg := range strings.Split(data, "\n") {
			pid := 1 + (i+int(salt))%2
			seen[pid] += msg + "\n"
			fr := logline.Frame{Host: []byte("h"), Program: []byte("dropbear"), PID: pid, Message: []byte(msg)}
			var ev phalanx.Event
			if !p.Parse(&fr, &ev) {
				if !reflect.DeepEqual(ev, phalanx.Event{}) {
					t.Fatalf("Parse returned false but changed the event: %+v", ev)
				}
				continue
			}
			a := ev.Source
			switch {
			case !a.IsValid():
				t.Fatalf("invalid source for %q", msg)
			case a.Is4In6() || a.Zone() != "":
				t.Fatalf("source %v not normalised for %q", a, msg)
			case ev.Kind == phalanx.KindUnknown || strings.HasPrefix(ev.Kind.String(), "kind("):
				t.Fatalf("bad kind %v for %q", ev.Kind, msg)
			case !strings.Contains(seen[pid], a.String()):
				t.Fatalf("source %v does not appear in the connection's lines %q", a, seen[pid])
			case len(ev.User) > 128:
				t.Fatalf("user of %d bytes", len(ev.User))
			case !strings.Contains(msg, ev.User):
				t.Fatalf("user %q does not appear in %q", ev.User, msg)
			}
		}
	})
}
