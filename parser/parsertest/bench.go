package parsertest

import (
	"testing"

	"phalanx"
	"phalanx/logline"
)

// Benchmark reports the cost of one line of frames, taken in turn by one
// parser (ns/op and allocs/op per line), and the events per line.
func Benchmark(b *testing.B, p Parser, frames []logline.Frame) {
	b.Helper()
	var ev phalanx.Event
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for ok := p.Parse(&frames[i%len(frames)], &ev); ok; ok = p.Next(&ev) {
			events++
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/line")
}

// Alloc is a message of an Allocs table and the allocations its Parse may
// cost.
type Alloc struct {
	Msg  string
	Want float64
}

// Allocs checks the allocation budget of Parse, message by message in order
// with the one parser p, each framed as program[7] on host.
func Allocs(t *testing.T, p Parser, program, host string, cases []Alloc) {
	t.Helper()
	for _, c := range cases {
		fr := logline.Frame{Host: []byte(host), Program: []byte(program), PID: 7, Message: []byte(c.Msg)}
		var ev phalanx.Event
		if got := testing.AllocsPerRun(100, func() { p.Parse(&fr, &ev) }); got != c.Want {
			t.Errorf("%q: %v allocations per line, want %v", c.Msg, got, c.Want)
		}
	}
}
