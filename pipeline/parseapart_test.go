package pipeline_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/pipeline"
)

// told records, as text and in order, all that a pipeline tells its sink;
// parsed apart, since a stream that parses apart tells Parsed early.
type told struct {
	out, parsed []string
}

func evText(ev *phalanx.Event) string {
	return fmt.Sprintf("%s %v %s %q %d %q %q %q %q %s %s", ev.Service, ev.Kind, ev.Source, ev.User, ev.Line, ev.Raw, ev.Via,
		ev.Path, ev.Detail, ev.Time.Format(time.RFC3339Nano), ev.Written.Format(time.RFC3339Nano))
}

func (t *told) Event(ev *phalanx.Event)  { t.out = append(t.out, "event "+evText(ev)) }
func (t *told) Parsed(ev *phalanx.Event) { t.parsed = append(t.parsed, evText(ev)) }
func (t *told) Alert(a *phalanx.Alert)   { t.out = append(t.out, fmt.Sprintf("alert %+v", *a)) }
func (t *told) Decision(d *phalanx.Decision, a *phalanx.Alert) {
	t.out = append(t.out, fmt.Sprintf("decision %+v", *d))
}
func (t *told) Refused(a *phalanx.Alert, err error) {
	t.out = append(t.out, fmt.Sprintf("refused %s %v", a.Source, err))
}
func (t *told) Login(addr netip.Addr, service string, at time.Time) {
	t.out = append(t.out, fmt.Sprintf("login %s %s %s", addr, service, at.Format(time.RFC3339Nano)))
}

// apartLines is a mix of what a live source gives: attacks over IPv4 and
// IPv6, a log-in, a folded repeat, a web probe, garbage, a line that is
// not UTF-8, and times that go back.
func apartLines() []string {
	start := ref.Add(time.Hour)
	var lines []string
	lines = append(lines, failures("203.0.113.7", 7, start, time.Second)...)
	lines = append(lines,
		start.Format(time.Stamp)+" web1 sshd[77]: Accepted password for bob from 198.51.100.9 port 2222 ssh2",
		start.Format(time.Stamp)+" web1 sshd[78]: message repeated 4 times: [ Failed password for root from 192.0.2.44 port 22 ssh2]",
		`203.0.113.50 - - [28/Nov/2026:01:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8.5"`,
		"\x00\x01 garbage that no shape fits",
		start.Format(time.Stamp)+" web1 sshd[79]: Failed password for \xff\xfe from 192.0.2.45 port 22 ssh2",
		start.Add(-2*time.Hour).Format(time.Stamp)+" web1 sshd[80]: Failed password for root from 192.0.2.44 port 23 ssh2",
	)
	lines = append(lines, failures("2001:db8:1:2::9", 7, start.Add(time.Minute), time.Second)...)
	lines = append(lines, failures("192.0.2.44", 3, start.Add(2*time.Minute), time.Second)...)
	return lines
}

// liveStream is a live pipeline on defaults that tells rec, and a stream
// of it counting in c.
func liveStream(t testing.TB) (rec *told, p *pipeline.Pipeline, s *pipeline.Stream, c *pipeline.StreamCounters) {
	t.Helper()
	rec = &told{}
	p, err := pipeline.New(pipeline.DefaultConfig(), rec)
	if err != nil {
		t.Fatal(err)
	}
	c = &pipeline.StreamCounters{}
	s = p.NewStream(ref, time.UTC)
	s.SetCounters(c)
	return rec, p, s, c
}

// judgeInline feeds lines as LineAt does, arriving at arrival.
func judgeInline(t testing.TB, lines [][]byte, arrival time.Time) (*told, pipeline.Counters, pipeline.StreamCounters) {
	t.Helper()
	rec, p, s, c := liveStream(t)
	for i, l := range lines {
		s.LineAt(l, int64(i+1), arrival)
	}
	return rec, p.Counters(), *c
}

// judgeApart feeds the same lines through ParseAt and Judge, in batches
// whose sizes follow sizes (cycled).
func judgeApart(t testing.TB, lines [][]byte, arrival time.Time, sizes []int) (*told, pipeline.Counters, pipeline.StreamCounters) {
	t.Helper()
	rec, p, s, c := liveStream(t)
	var b pipeline.Parsed
	k := 0
	for i, l := range lines {
		buf := slices.Clone(l)
		if !s.ParseAt(buf, int64(i+1), arrival, &b) {
			t.Fatal("ParseAt refused a plain live stream")
		}
		clear(buf) // the line's memory is the reader's again: the batch keeps its own copy
		if b.Lines() >= max(1, sizes[k%len(sizes)]) {
			p.Judge(&b)
			k++
		}
	}
	p.Judge(&b)
	if b.Lines() != 0 || b.Size() != 0 {
		t.Fatalf("Judge left %d lines, %d bytes", b.Lines(), b.Size())
	}
	return rec, p.Counters(), *c
}

func sameJudgement(t testing.TB, lines [][]byte, sizes []int) {
	t.Helper()
	arrival := ref.Add(time.Hour + 5*time.Minute)
	in, inC, inS := judgeInline(t, lines, arrival)
	ap, apC, apS := judgeApart(t, lines, arrival, sizes)
	if !slices.Equal(in.out, ap.out) {
		t.Errorf("judged apart (batches %v), the sink heard\n%s\ninstead of\n%s", sizes, bytes.Join(toBytes(ap.out), []byte("\n")), bytes.Join(toBytes(in.out), []byte("\n")))
	}
	if !slices.Equal(in.parsed, ap.parsed) {
		t.Errorf("Parsed heard %q apart, %q inline", ap.parsed, in.parsed)
	}
	if !reflect.DeepEqual(inC, apC) {
		t.Errorf("counters apart %+v, inline %+v", apC, inC)
	}
	if inS.Events != apS.Events || !reflect.DeepEqual(inS.Skipped(), apS.Skipped()) {
		t.Errorf("source counters apart %d %v, inline %d %v", apS.Events, apS.Skipped(), inS.Events, inS.Skipped())
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// TestParseApartJudgesAsInline: lines parsed apart and judged in batches
// of any size give the sink, the counters and the source's counters just
// what LineAt gives, in the same order.
func TestParseApartJudgesAsInline(t *testing.T) {
	var lines [][]byte
	for _, l := range apartLines() {
		lines = append(lines, []byte(l))
	}
	in, c, _ := judgeInline(t, lines, ref.Add(time.Hour+5*time.Minute))
	// The mix is what it says: it bans, logs in, folds, skips and goes back.
	if c.Decisions < 2 || c.Repeated == 0 || c.OutOfOrder == 0 || c.SkippedTotal() == 0 || !slices.ContainsFunc(in.out, func(s string) bool { return s[:5] == "login" }) {
		t.Fatalf("the mix does not exercise the pipeline: %+v", c)
	}
	for _, sizes := range [][]int{{1}, {2}, {3, 1, 7}, {256}, {len(lines)}} {
		sameJudgement(t, lines, sizes)
	}
}

// TestParseApartRefusesExternal: a stream with an External, or of a
// deferred pipeline, does not parse apart.
func TestParseApartRefusesExternal(t *testing.T) {
	p, err := pipeline.New(pipeline.DefaultConfig(), &told{})
	if err != nil {
		t.Fatal(err)
	}
	var b pipeline.Parsed
	s := p.NewStream(ref, time.UTC)
	s.SetExternal(noExternal{})
	if s.ParseAt([]byte("x"), 1, ref, &b) || b.Lines() != 0 {
		t.Error("a stream with an External parsed apart")
	}
	p.Defer()
	if p.NewStream(ref, time.UTC).ParseAt([]byte("x"), 1, ref, &b) || b.Lines() != 0 {
		t.Error("a deferred pipeline's stream parsed apart")
	}
}

type noExternal struct{}

func (noExternal) Line(_ []byte, _ *logline.Frame, _ bool, _ time.Time, evs []phalanx.Event) []phalanx.Event {
	return evs
}

// FuzzParseApart: whatever the lines, parsing apart and judging in
// batches is judging inline.
func FuzzParseApart(f *testing.F) {
	var all []byte
	for _, l := range apartLines() {
		all = append(append(all, l...), '\n')
	}
	f.Add(all, uint8(3))
	f.Add([]byte("Nov 28 01:00:00 h sshd[1]: message repeated 2 times: [ Invalid user x from 2001:db8::1 port 2]\n\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		// Bounded: a folded line may stand for a thousand events.
		lines := bytes.Split(data, []byte("\n"))
		if len(lines) > 64 {
			lines = lines[:64]
		}
		sameJudgement(t, lines, []int{int(size%16) + 1, int(size / 16)})
	})
}
