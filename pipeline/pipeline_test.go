package pipeline_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/pipeline"
)

type recorder struct {
	events    []phalanx.Event
	alerts    []phalanx.Alert
	decisions []phalanx.Decision
	refused   []error
}

func (r *recorder) Event(ev *phalanx.Event) { r.events = append(r.events, *ev) }
func (r *recorder) Alert(a *phalanx.Alert)  { r.alerts = append(r.alerts, *a) }
func (r *recorder) Decision(d *phalanx.Decision, a *phalanx.Alert) {
	r.decisions = append(r.decisions, *d)
}
func (r *recorder) Refused(a *phalanx.Alert, err error) { r.refused = append(r.refused, err) }

var ref = time.Date(2026, time.November, 28, 0, 0, 0, 0, time.UTC)

func newStream(t *testing.T, cfg pipeline.Config) (*pipeline.Pipeline, *pipeline.Stream, *recorder) {
	t.Helper()
	rec := &recorder{}
	p, err := pipeline.New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return p, p.NewStream(ref, time.UTC), rec
}

func feed(s *pipeline.Stream, lines ...string) {
	for i, l := range lines {
		s.Line([]byte(l), int64(i+1))
	}
}

func failures(addr string, n int, start time.Time, every time.Duration) []string {
	var out []string
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * every).Format(time.Stamp)
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 1000+i, addr, 40000+i))
	}
	return out
}

func TestBruteForceIsBannedAndLegitIsNot(t *testing.T) {
	_, s, rec := newStream(t, pipeline.DefaultConfig())
	start := time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC)
	lines := failures("203.0.113.7", 10, start, time.Second)
	lines = append(lines, failures("198.51.100.20", 2, start, time.Minute)...) // a user who mistypes twice
	feed(s, lines...)
	if len(rec.events) != 12 {
		t.Fatalf("events = %d, want 12", len(rec.events))
	}
	banned := map[netip.Prefix]bool{}
	for _, d := range rec.decisions {
		banned[d.Value] = true
		if d.Origin != phalanx.OriginSelf || d.Type != "ban" {
			t.Errorf("decision %+v: want a self ban", d)
		}
	}
	if !banned[netip.MustParsePrefix("203.0.113.7/32")] {
		t.Errorf("brute force not banned; decisions: %+v", rec.decisions)
	}
	if banned[netip.MustParsePrefix("198.51.100.20/32")] {
		t.Errorf("a user who mistyped twice was banned")
	}
}

func TestTerritoryIsNeverBanned(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Remedy.Allowlist = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	_, s, rec := newStream(t, cfg)
	start := time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC)
	var lines []string
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.9", "192.0.2.44", "::ffff:192.0.2.45"} {
		lines = append(lines, failures(a, 20, start, time.Second)...)
	}
	feed(s, lines...)
	if len(rec.events) == 0 {
		t.Fatal("no events: the lines were not recognised, so the test proves nothing")
	}
	if len(rec.decisions) != 0 {
		t.Fatalf("territory banned: %+v", rec.decisions)
	}
}

func TestBadInputIsSkippedAndCounted(t *testing.T) {
	p, s, rec := newStream(t, pipeline.DefaultConfig())
	good := failures("203.0.113.9", 1, time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC), time.Second)[0]
	lines := []string{
		good,
		"\x00\x01\x02\xff\xfe binary garbage",
		"",
		"Nov 27 05:0", // truncated
		"Foo 27 05:00:00 web1 sshd[1]: Failed password",                                           // bad month
		"Nov 27 05:00:01 web1 sshd[1]: Failed password for \xff\xfe from 203.0.113.9 port 1 ssh2", // invalid UTF-8
		"Nov 27 04:00:00 web1 sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2",     // an hour back: judged, counted
		"unknown format entirely",
		strings.Repeat("A", 1<<20),
	}
	feed(s, lines...)
	c := p.Counters()
	if c.Lines != int64(len(lines)) {
		t.Errorf("lines = %d, want %d", c.Lines, len(lines))
	}
	if len(rec.events) != 2 {
		t.Errorf("events = %d (%+v), want the good line and the one dated an hour back", len(rec.events), rec.events)
	}
	if c.OutOfOrder != 1 {
		t.Errorf("out of order = %d, want 1", c.OutOfOrder)
	}
	for reason, want := range map[string]int64{pipeline.SkipFormat: 6, pipeline.SkipEncoding: 1} {
		if got := c.Skipped[reason]; got != want {
			t.Errorf("skipped[%s] = %d, want %d (all: %v)", reason, got, want, c.Skipped)
		}
	}
}

// FuzzStream feeds arbitrary lines: the pipeline must never panic, and any
// decision it makes must name an address that is written in the input.
func FuzzStream(f *testing.F) {
	for _, l := range failures("203.0.113.7", 3, time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC), time.Second) {
		f.Add([]byte(l + "\n" + l + "\n" + l + "\n" + l + "\n" + l + "\n" + l))
	}
	f.Add([]byte("Nov 27 05:49:28 h sshd[1]: Invalid user x from 2001:db8::1 port 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &recorder{}
		p, err := pipeline.New(pipeline.DefaultConfig(), rec)
		if err != nil {
			t.Fatal(err)
		}
		s := p.NewStream(ref, time.UTC)
		for i, l := range bytes.Split(data, []byte("\n")) {
			s.Line(l, int64(i+1))
		}
		for _, ev := range rec.events {
			if !ev.Source.IsValid() {
				t.Fatalf("event without a source: %+v", ev)
			}
		}
		for _, d := range rec.decisions {
			if !d.Value.IsValid() || d.Value.Bits() == 0 {
				t.Fatalf("bad decision value %v", d.Value)
			}
		}
	})
}
