package console

import (
	"strings"
	"testing"
	"time"
)

// TestRates samples a member reporting 6 times a minute for 70 minutes
// and a source that reads 5 lines a second, then falls silent.
func TestRates(t *testing.T) {
	r := newRates()
	t0 := time.Date(2026, 12, 6, 10, 0, 30, 0, time.UTC)
	var reports, lines int64
	var now time.Time
	for i := range 70 * 30 { // every 2 s for 70 minutes
		now = t0.Add(time.Duration(i) * sampleEvery)
		if i%5 == 0 { // a report every 10 s
			reports++
		}
		if now.Before(t0.Add(69 * time.Minute)) {
			lines += 10
		}
		r.add(now, Totals{Reports: map[string]int64{"m-a": reports, "m-b": 0}, Lines: map[string]int64{"/var/log/auth.log": lines}})
	}
	rs := r.members(now, []string{"m-a", "m-b", "m-c"}, map[string]string{"m-a": "alpha"})
	if len(rs) != 3 || rs[0].Name != "alpha" || rs[0].ID != "m-a" {
		t.Fatalf("%+v", rs)
	}
	a := rs[0]
	// Older samples are a minute apart: the count between two is taken
	// as even, to within one report.
	if a.LastMinute != 6 || a.Last10 < 59 || a.Last10 > 61 || a.Last60 < 359 || a.Last60 > 361 {
		t.Fatalf("alpha: last minute %d, 10 minutes %d, hour %d; want 6, 60±1, 360±1", a.LastMinute, a.Last10, a.Last60)
	}
	for k, n := range a.PerMinute[:59] {
		if n != 6 {
			t.Fatalf("alpha per minute %v: minute %d has %d, want 6", a.PerMinute, k, n)
		}
	}
	if n := a.PerMinute[59]; n < 0 || n > 6 {
		t.Fatalf("this minute so far: %d", n)
	}
	if b := rs[1]; b.LastMinute != 0 || b.Last60 != 0 || b.PerMinute[10] != 0 {
		t.Fatalf("a silent member: %+v", b)
	}
	src := r.sources(now)["/var/log/auth.log"]
	if src.PerSecond != 0 || !src.LastLine.Equal(t0.Add(69*time.Minute-sampleEvery)) {
		t.Fatalf("a source silent for a minute: %+v", src)
	}
	if src := r.sources(now.Add(-90 * time.Second)); len(src) != 1 {
		t.Fatal(src)
	}
	// The first hour after the console started: the minutes before it
	// are not counted as silent.
	r = newRates()
	start := t0
	for i := range 10 * 30 {
		now = start.Add(time.Duration(i) * sampleEvery)
		r.add(now, Totals{Reports: map[string]int64{"m-a": int64(i)}, Lines: map[string]int64{"x": int64(i) * 5}})
	}
	a = r.members(now, []string{"m-a"}, nil)[0]
	if a.PerMinute[0] != -1 || a.PerMinute[48] != -1 || a.PerMinute[50] != 30 || a.Last60 != 299 {
		t.Fatalf("after 10 minutes: %+v", a)
	}
	if got := r.sources(now)["x"].PerSecond; got != 2.5 {
		t.Fatalf("lines per second %v, want 2.5", got)
	}
}

// TestRatesShown: the alliance view shows each member's reports per
// minute, the sources view each source's lines per second and last line.
func TestRatesShown(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 31 {
		if i > 0 {
			f.clk.add(sampleEvery)
		}
		f.b.count(&f.b.totals.Reports, "m-b", 2)
		f.b.count(&f.b.totals.Lines, "/var/log/auth.log", 20)
		f.c.sample()
	}
	ck, _ := f.signIn(viewerTok)
	_, body := f.get("/ui/alliance", ck)
	i := strings.Index(body, `<tr data-member="m-b"><td>beta</td>`)
	if i < 0 {
		t.Fatal("no report rate for beta")
	}
	if row := body[i:]; !strings.HasPrefix(row[strings.Index(row, "</td>")+5:], `<td class="num">60</td>`) || !strings.Contains(row[:strings.Index(row, "</tr>")], "<rect") {
		t.Fatalf("beta's rate: %q", row[:min(len(row), 300)])
	}
	_, body = f.get("/ui/sources", ck)
	i = strings.Index(body, `<tr data-source="/var/log/auth.log">`)
	if i < 0 {
		t.Fatal("no source row")
	}
	row := body[i : i+strings.Index(body[i:], "</tr>")]
	if !strings.Contains(row, `<td class="num rate">10.0</td>`) || !strings.Contains(row, when(f.clk.now())) {
		t.Fatalf("source row: %s", row)
	}
}
