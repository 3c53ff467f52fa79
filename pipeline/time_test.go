package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/pipeline"
)

// banned lists the values of the recorder's decisions.
func (r *recorder) banned() []string {
	var out []string
	for _, d := range r.decisions {
		out = append(out, d.Value.String())
	}
	slices.Sort(out)
	return out
}

// TestLiveFutureLineDoesNotBlind is the hole of issue 9: one line dated an
// hour ahead, then ten failures dated now, on a live source. Every line is
// judged when it arrives, so the ten are banned; the future-dated line is
// counted as nothing worse than evidence.
func TestLiveFutureLineDoesNotBlind(t *testing.T) {
	now := time.Date(2026, time.December, 6, 14, 0, 0, 0, time.UTC)
	for _, ahead := range []time.Duration{time.Hour, 24 * time.Hour, 74 * 365 * 24 * time.Hour} {
		t.Run(ahead.String(), func(t *testing.T) {
			rec := &recorder{}
			p, err := pipeline.New(pipeline.DefaultConfig(), rec)
			if err != nil {
				t.Fatal(err)
			}
			s := p.NewStream(now, time.UTC)
			future := now.Add(ahead)
			s.LineAt([]byte(future.Format(time.RFC3339)+" web1 sshd[7]: Failed password for root from 198.51.100.1 port 1 ssh2"), 1, now)
			for i, l := range failures("203.0.113.7", 10, now, time.Second) {
				s.LineAt([]byte(l), int64(i+2), now.Add(time.Duration(i)*time.Second))
			}
			if c := p.Counters(); c.SkippedTotal() != 0 || c.Events != 11 {
				t.Fatalf("counters %+v: want all 11 lines judged", c)
			}
			if got := rec.banned(); !slices.Contains(got, "203.0.113.7/32") {
				t.Fatalf("banned %v: the future-dated line blinded the source", got)
			}
			for _, ev := range rec.events {
				if ev.Time.After(now.Add(10 * time.Second)) {
					t.Errorf("event judged at %v, after its arrival", ev.Time)
				}
				if ev.Written.IsZero() {
					t.Errorf("event lost its written time")
				}
			}
		})
	}
}

// TestLiveClockStepBack: a host whose clock stepped back an hour (or a
// central syslog file with a host an hour behind) keeps being judged.
func TestLiveClockStepBack(t *testing.T) {
	now := time.Date(2026, time.December, 6, 14, 0, 0, 0, time.UTC)
	rec := &recorder{}
	p, _ := pipeline.New(pipeline.DefaultConfig(), rec)
	s := p.NewStream(now, time.UTC)
	n := int64(0)
	for i, l := range failures("192.0.2.200", 3, now, time.Second) {
		n++
		s.LineAt([]byte(l), n, now.Add(time.Duration(i)*time.Second))
	}
	back := now.Add(-time.Hour)
	for i, l := range failures("203.0.113.8", 5, back, 5*time.Second) {
		n++
		s.LineAt([]byte(l), n, now.Add(time.Minute+time.Duration(i)*5*time.Second))
	}
	if got := rec.banned(); !slices.Equal(got, []string{"203.0.113.8/32"}) {
		t.Fatalf("banned %v, want the attacker written an hour back", got)
	}
	if c := p.Counters(); c.OutOfOrder != 1 {
		t.Errorf("out of order = %d, want 1: the one jump back", c.OutOfOrder)
	}
}

// TestLiveCatchUpKeepsSpacing: lines read in a burst after a restart keep
// the spacing their written times give them, within the catch-up window, so
// a user's two typos an hour apart are not made a burst; lines older than
// the window cannot go further back than it.
func TestLiveCatchUpKeepsSpacing(t *testing.T) {
	now := time.Date(2026, time.December, 6, 14, 0, 0, 0, time.UTC)
	rec := &recorder{}
	p, _ := pipeline.New(pipeline.DefaultConfig(), rec)
	s := p.NewStream(now, time.UTC)
	// Four failures spread over the last 9 minutes, read at once: ssh-bf
	// needs five within ten minutes, so nothing fires.
	lines := failures("198.51.100.30", 4, now.Add(-9*time.Minute), 3*time.Minute)
	for i, l := range lines {
		s.LineAt([]byte(l), int64(i+1), now)
	}
	if len(rec.decisions) != 0 {
		t.Fatalf("decisions %+v from four failures", rec.decisions)
	}
	for i, ev := range rec.events {
		want := now.Add(-9*time.Minute + time.Duration(i)*3*time.Minute)
		if !ev.Time.Equal(want) {
			t.Errorf("event %d judged at %v, want its written time %v", i, ev.Time, want)
		}
	}
}

// TestReplayOrderIndependent replays the same attack split over two
// rotations, in both orders, and as one file with the halves swapped: the
// decisions are the same every time, and nothing is dropped.
func TestReplayOrderIndependent(t *testing.T) {
	start := time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC)
	old := failures("203.0.113.7", 3, start, 20*time.Second)
	old = append(old, failures("198.51.100.9", 1, start, time.Second)...)
	recent := failures("203.0.113.7", 3, start.Add(time.Minute), 20*time.Second)
	recent = append(recent, failures("198.51.100.9", 1, start.Add(2*time.Hour), time.Second)...)
	run := func(files ...[]string) ([]string, pipeline.Counters) {
		rec := &recorder{}
		p, _ := pipeline.New(pipeline.DefaultConfig(), rec)
		p.Defer()
		for _, f := range files {
			s := p.NewStream(ref, time.UTC)
			for i, l := range f {
				s.Line([]byte(l), int64(i+1))
			}
		}
		p.Finish()
		return rec.banned(), p.Counters()
	}
	want, _ := run(old, recent)
	if !slices.Equal(want, []string{"203.0.113.7/32"}) {
		t.Fatalf("in order: banned %v", want)
	}
	got, _ := run(recent, old)
	if !slices.Equal(got, want) {
		t.Errorf("rotations newest first: banned %v, want %v", got, want)
	}
	got, c := run(append(append([]string{}, recent...), old...))
	if !slices.Equal(got, want) {
		t.Errorf("one file, halves swapped: banned %v, want %v", got, want)
	}
	if c.Events != 8 || c.SkippedTotal() != 0 || c.OutOfOrder == 0 {
		t.Errorf("counters %+v: want 8 events, none skipped, the jump back counted", c)
	}
}

// TestReplayYearlessFromLastYear replays last December's log through
// standard input this December: the lines after today's date must not be
// put in the future (or dropped), and the whole file lands in last year.
func TestReplayYearlessFromLastYear(t *testing.T) {
	today := time.Date(2026, time.December, 6, 12, 0, 0, 0, time.UTC)
	var lines []string
	for day := 1; day <= 31; day++ {
		at := time.Date(2025, time.December, day, 10, 0, 0, 0, time.UTC)
		lines = append(lines, failures(fmt.Sprintf("203.0.113.%d", day), 5, at, time.Second)...)
	}
	for _, year := range []int{0, 2025} {
		rec := &recorder{}
		p, _ := pipeline.New(pipeline.DefaultConfig(), rec)
		p.Defer()
		s := p.NewStream(today, time.UTC)
		if year != 0 {
			s.SetYear(year)
		}
		for i, l := range lines {
			s.Line([]byte(l), int64(i+1))
		}
		p.Finish()
		if len(rec.events) != len(lines) {
			t.Fatalf("year %d: %d events of %d lines", year, len(rec.events), len(lines))
		}
		for _, ev := range rec.events {
			if ev.Time.Year() != 2025 {
				t.Fatalf("year %d: event dated %v, want December 2025", year, ev.Time)
			}
		}
		if len(rec.decisions) != 31 {
			t.Errorf("year %d: %d decisions, want one per day's attacker", year, len(rec.decisions))
		}
	}
}

// TestMessageRepeated: rsyslog folds identical lines into "message repeated
// N times: [ ... ]"; each one counts.
func TestMessageRepeated(t *testing.T) {
	_, s, rec := newStream(t, pipeline.DefaultConfig())
	l := failures("203.0.113.77", 1, time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC), time.Second)[0]
	i := strings.Index(l, "Failed")
	folded := l[:i] + "message repeated 5 times: [ " + l[i:] + "]"
	feed(s, folded)
	if len(rec.events) != 5 {
		t.Fatalf("%d events, want 5", len(rec.events))
	}
	if got := rec.banned(); !slices.Equal(got, []string{"203.0.113.77/32"}) {
		t.Errorf("banned %v", got)
	}
	// The wrapper is rsyslog's, at the start of the message: the same text
	// inside a user name is not a repetition.
	_, s, rec = newStream(t, pipeline.DefaultConfig())
	feed(s, l[:i]+"Failed password for message repeated 9 times: [ x] from 192.0.2.1 port 1 ssh2")
	if len(rec.events) > 1 {
		t.Errorf("%d events from a user name that looks like the wrapper", len(rec.events))
	}
}

// TestReplayWildDates: lines dated 1970 and 2100 in the middle of an attack
// are judged at their own times and counted; they neither hide the attack
// nor get dropped.
func TestReplayWildDates(t *testing.T) {
	start := time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC)
	lines := failures("203.0.113.7", 2, start, time.Second)
	lines = append(lines,
		"1970-01-01T00:00:00Z web1 sshd[1]: Failed password for root from 198.51.100.1 port 1 ssh2",
		"2100-01-01T00:00:00Z web1 sshd[2]: Failed password for root from 198.51.100.2 port 1 ssh2")
	lines = append(lines, failures("203.0.113.7", 3, start.Add(3*time.Second), time.Second)...)
	rec := &recorder{}
	p, _ := pipeline.New(pipeline.DefaultConfig(), rec)
	p.Defer()
	s := p.NewStream(ref, time.UTC)
	for i, l := range lines {
		s.Line([]byte(l), int64(i+1))
	}
	p.Finish()
	c := p.Counters()
	if c.Events != 7 || c.SkippedTotal() != 0 || c.OutOfOrder != 2 {
		t.Errorf("counters %+v: want 7 events, none skipped, the jumps back to 1970 and from 2100 counted out of order", c)
	}
	if got := rec.banned(); !slices.Equal(got, []string{"203.0.113.7/32"}) {
		t.Errorf("banned %v", got)
	}
}
