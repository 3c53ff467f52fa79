package netfilter

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"phalanx"
	"phalanx/logline"
)

// FuzzParse feeds arbitrary kernel messages: Parse must not panic, must
// leave the event alone when it returns false, and an event must blame the
// address of the line's first SRC= field, normalised, with a port path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{ufwSyn, nftSyn6, "IN=eth0 OUT= SRC=::ffff:203.0.113.7 DST=::ffff:192.0.2.1 PROTO=UDP DPT=25",
		"[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.1 DST=192.0.2.1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.1 DST=198.51.100.1 PROTO=UDP SPT=53 DPT=4000 ]"} {
		f.Add(s)
	}
	p := New()
	f.Fuzz(func(t *testing.T, msg string) {
		fr := logline.Frame{Program: []byte("kernel"), PID: -1, Message: []byte(msg)}
		var ev phalanx.Event
		if !p.Parse(&fr, &ev) {
			if !reflect.DeepEqual(ev, phalanx.Event{}) {
				t.Fatalf("no event but changed: %+v", ev)
			}
			return
		}
		if ev.Kind != phalanx.KindPortProbe || !strings.HasPrefix(ev.Path, "tcp/") && !strings.HasPrefix(ev.Path, "udp/") {
			t.Fatalf("event %+v", ev)
		}
		// The oracle: the first field "SRC=..." after the IN= field, before
		// a quoted packet.
		in := fieldStart([]byte(msg), "IN=")
		if in < 0 {
			t.Fatalf("no IN= in %q", msg)
		}
		text, found := "", false
		for _, f := range strings.Split(msg[in:], " ") {
			if strings.HasPrefix(f, "[") {
				break
			}
			if v, ok := strings.CutPrefix(f, "SRC="); ok {
				text, found = v, true
				break
			}
		}
		if !found {
			t.Fatalf("no SRC= in %q", msg)
		}
		want, err := netip.ParseAddr(text)
		if err != nil || phalanx.Normalize(want) != ev.Source || ev.Source.Is4In6() {
			t.Fatalf("blamed %v for SRC=%q", ev.Source, text)
		}
	})
}
