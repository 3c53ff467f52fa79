package dropbear

import (
	"net/netip"
	"testing"

	"phalanx"
	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated Dropbear sample through
// the parser in file order: every line fail2ban matches must yield an event
// blaming fail2ban's address, and no line it does not match may yield one.
func TestFail2banConformance(t *testing.T) {
	const file = "dropbear"
	parsertest.RequireSamples(t, file)
	parsed, fallback := parsertest.ParseSamples(t, parsertest.ReadSamples(t, file), "dropbear", IsProgram, New)
	var annotated, expected, matched int
	for _, l := range parsed {
		if !l.Annotated {
			continue
		}
		annotated++
		if !l.Match {
			for _, ev := range l.Events {
				t.Errorf("%s:%d: false positive %v %v: %s", file, l.No, ev.Kind, ev.Source, l.Text)
			}
			continue
		}
		want, err := netip.ParseAddr(l.Host)
		if err != nil {
			t.Fatalf("%s:%d: host %q", file, l.No, l.Host)
		}
		expected++
		switch {
		case len(l.Events) == 0:
			t.Errorf("%s:%d: no event, fail2ban matches %v: %s", file, l.No, want, l.Text)
		case l.Events[0].Source != phalanx.Normalize(want):
			t.Errorf("%s:%d: blamed %v, fail2ban blames %v: %s", file, l.No, l.Events[0].Source, want, l.Text)
		default:
			matched++
		}
	}
	if expected == 0 {
		t.Fatal("no annotated matches in the sample")
	}
	t.Logf("%s: %d annotated lines, %d matches expected, %d matched, %d lines framed by the test's fallback",
		file, annotated, expected, matched, fallback)
}
