package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/pipeline"
)

// TestDeferredHoldsManyEvents: a replay that holds more events than one
// block of the held store (the later blocks are mapped outside the Go
// heap) hands every event back as it was read, in input order, and judges
// them in time order whatever the order of its halves.
func TestDeferredHoldsManyEvents(t *testing.T) {
	const sources = 12000 // 4 failures each: 48,000 events, three blocks
	start := time.Date(2026, time.November, 27, 5, 0, 0, 0, time.UTC)
	var first, second []string
	for i := range sources {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
		lines := failures(addr, 4, start.Add(time.Duration(i)*time.Second), time.Second)
		first = append(first, lines[:2]...)
		second = append(second, lines[2:]...)
	}
	// Every source fails twice in each half; the attacker below fails six
	// times within a minute, split between the halves.
	first = append(first, failures("203.0.113.9", 3, start, 5*time.Second)...)
	second = append(second, failures("203.0.113.9", 3, start.Add(20*time.Second), 5*time.Second)...)
	run := func(files ...[]string) *recorder {
		rec := &recorder{}
		p, err := pipeline.New(pipeline.DefaultConfig(), rec)
		if err != nil {
			t.Fatal(err)
		}
		p.Defer()
		for _, f := range files {
			s := p.NewStream(start.Add(30*24*time.Hour), time.UTC)
			for i, l := range f {
				s.Line([]byte(l), int64(i+1))
			}
		}
		p.Finish()
		return rec
	}
	inOrder := run(first, second)
	if n := len(inOrder.events); n != len(first)+len(second) {
		t.Fatalf("%d events of %d lines", n, len(first)+len(second))
	}
	for i, l := range slices.Concat(first, second) {
		ev := inOrder.events[i]
		if want := ev.Source.String(); !strings.Contains(l, "from "+want+" ") {
			t.Fatalf("event %d: source %v, but its line is %q", i, ev.Source, l)
		}
	}
	if got := inOrder.banned(); !slices.Equal(got, []string{"203.0.113.9/32"}) {
		t.Fatalf("banned %v, want only the attacker", got)
	}
	swapped := run(second, first)
	if got := swapped.banned(); !slices.Equal(got, inOrder.banned()) {
		t.Errorf("halves swapped: banned %v, in order %v", got, inOrder.banned())
	}
}
