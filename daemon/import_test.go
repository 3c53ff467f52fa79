package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/feed"
)

// procStatus returns a field of /proc/self/status in MiB (VmRSS, VmHWM).
func procStatus(t *testing.T, field string) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// benchAddr returns the i-th address of a large list: IPv4 and IPv6 in turn.
func benchAddr(i int) netip.Addr {
	if i%2 == 0 {
		return netip.AddrFrom4([4]byte{byte(11 + i>>24&0x3f), byte(i >> 16), byte(i >> 8), byte(i)})
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 10: byte(i >> 16), 11: byte(i >> 24), 14: byte(i >> 8), 15: byte(i)})
}

// TestFeedMemory1M subscribes a daemon to a list of 1,000,000 entries and
// reports the process's peak RSS and the bytes allocated to load it. A
// benchmark: run alone with PHALANX_BENCH=1 (the peak is the process's).
func TestFeedMemory1M(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	const n = 1_000_000
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	f, err := os.Create(list)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintln(w, benchAddr(i))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{filepath.Join(dir, "auth.log")}
	cfg.Feeds.Sources = []feed.Source{{Name: "big", URL: list, Interval: time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t.Logf("before the daemon: RSS %.1f MiB, peak %.1f MiB", procStatus(t, "VmRSS"), procStatus(t, "VmHWM"))
	start := time.Now()
	d, err := New(ctx, Options{DataDir: filepath.Join(dir, "data"), Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.Close() })
	go d.Run(ctx)
	<-d.Ready()
	deadline := time.Now().Add(5 * time.Minute)
	for st := d.feeds.Status(); st[0].LastSuccess.IsZero(); st = d.feeds.Status() {
		if st[0].LastError != "" {
			t.Fatalf("the feed failed: %s", st[0].LastError)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d feed decisions after 5 minutes", d.table.Len(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	t.Logf("%d feed decisions in %v: peak RSS %.1f MiB, allocated %.1f MiB, live heap after GC %.1f MiB",
		d.table.Len(), took.Round(time.Millisecond), procStatus(t, "VmHWM"),
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(live.HeapAlloc)/(1<<20))
	if path := os.Getenv("PHALANX_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	if _, ok := d.table.Lookup(benchAddr(n-1), time.Now()); !ok {
		t.Errorf("the list's last entry is not banned")
	}
}

// startImportDaemon starts a daemon with enforcement off on a fresh data
// directory (or dir, when not empty) and waits until it has caught up; it
// stops with the test.
func startImportDaemon(tb testing.TB, dir string) *Daemon {
	d, _ := startStoppable(tb, dir)
	return d
}

// startStoppable is startImportDaemon that also returns a function that
// stops the daemon before the test ends.
func startStoppable(tb testing.TB, dir string) (*Daemon, func()) {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{filepath.Join(dir, "auth.log")}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, Options{DataDir: filepath.Join(dir, "data"), Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			d.Close()
		})
	}
	tb.Cleanup(stop)
	<-d.Ready()
	for deadline := time.Now().Add(10 * time.Second); !d.caughtUp.Load() || d.Addr() == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the daemon did not catch up within 10s")
		}
	}
	return d, stop
}

// TestImportRows imports rows of every kind: the good ones become manual
// bans through one signed batch, the bad ones are refused by line with the
// reason a manual ban would get, and repeated values count once with the
// longest duration.
func TestImportRows(t *testing.T) {
	d := startImportDaemon(t, "")
	var rows []ImportRow
	for i := range 200 {
		rows = append(rows, ImportRow{Line: i + 1, Value: fmt.Sprintf("100.64.%d.%d", i/250, i%250+1), Duration: "2h", Reason: "list A"})
	}
	bad := []ImportRow{
		{Line: 301, Value: "not an address"},
		{Line: 302, Value: "127.0.0.1"},
		{Line: 303, Value: "10.0.0.0/8"},
		{Line: 304, Value: "100.64.9.1", Duration: "90000h"},
		{Line: 305, Value: "100.64.9.2", Reason: "bell\a"},
		{Line: 306, Value: "100.64.9.3", Scope: "country"},
		{Line: 307, Value: "100.64.9.4", Type: "captcha"},
		{Line: 308, Value: "100.64.9.5", Duration: "-1h"},
		{Line: 309, Value: "::1"},
	}
	rows = append(rows, bad...)
	rows = append(rows,
		ImportRow{Line: 401, Value: "2001:db8::/48", Duration: "1d", Scope: "Range", Type: "ban"},
		ImportRow{Line: 402, Value: "100.64.0.1", Duration: "3h"},   // again, longer
		ImportRow{Line: 403, Value: " 100.64.0.2 ", Duration: "1h"}, // again, shorter
	)
	before := d.ctr.published.Load()
	res, err := d.importRows(t.Context(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != len(rows) || res.Imported != 201 || res.Refused != len(bad) || res.Duplicates != 2 || res.Reports != 1 {
		t.Errorf("result %+v; want 201 imported, %d refused, 2 duplicates, 1 report", res, len(bad))
	}
	want := map[int]string{301: "neither an address", 302: "territory", 303: "wider than the charter allows",
		304: "over the charter's limit", 305: "reason", 306: "scope", 307: "only ban", 308: "positive duration", 309: "territory"}
	for _, r := range res.Refusals {
		if !strings.Contains(r.Reason, want[r.Line]) {
			t.Errorf("line %d refused for %q, want a reason with %q", r.Line, r.Reason, want[r.Line])
		}
		delete(want, r.Line)
	}
	if len(want) > 0 {
		t.Errorf("rows not refused: %v", want)
	}
	now := time.Now()
	for _, c := range []struct {
		value string
		dur   time.Duration
	}{{"100.64.0.1", 3 * time.Hour}, {"100.64.0.2", 2 * time.Hour}, {"100.64.0.200", 2 * time.Hour}, {"2001:db8:0:1::9", 24 * time.Hour}} {
		x, ok := d.table.Lookup(netip.MustParseAddr(c.value), now)
		if !ok || x.Origin != phalanx.OriginManual || x.Scenario != "import" || x.Until.Sub(x.Start) != c.dur {
			t.Errorf("%s: %+v %v, want a manual ban of %v", c.value, x, ok, c.dur)
		}
	}
	for _, v := range []string{"127.0.0.1", "10.1.2.3", "100.64.9.1", "100.64.9.2"} {
		if _, ok := d.table.Lookup(netip.MustParseAddr(v), now); ok {
			t.Errorf("%s banned by a refused row", v)
		}
	}
	if n := d.table.Len(); n != 201 {
		t.Errorf("%d decisions, want 201", n)
	}
	waitFor := time.Now().Add(10 * time.Second)
	for d.ctr.published.Load() == before && time.Now().Before(waitFor) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.ctr.published.Load() - before; got != 1 {
		t.Errorf("%d reports published for one import, want 1", got)
	}
	if r := d.status().Rejected; r[string(arbiter.ReasonRateLimited)] != 0 {
		t.Errorf("rejections %v", r)
	}
}

// TestImportDecode checks the request decoder's bounds.
func TestImportDecode(t *testing.T) {
	row := `{"line":1,"value":"192.0.2.1"}`
	many := `{"rows":[` + strings.Repeat(row+",", MaxImportRows) + row + `]}`
	for _, c := range []struct {
		body string
		want error
	}{
		{`{"rows":[` + row + `]}`, nil},
		{`{"rows":[` + row + `]}{"rows":[]}`, errBadRequest},
		{`{"rows":[` + row + `]} x`, errBadRequest},
		{`{"rows":[{"line":1,"value":"192.0.2.1","extra":1}]}`, errBadRequest},
		{`{"rows":[]}`, errBadRequest},
		{`{"rows":[{"line":"one","value":"192.0.2.1"}]}`, errBadRequest},
		{`[]`, errBadRequest},
		{``, errBadRequest},
		{many, errTooLarge},
	} {
		_, err := decodeImport(strings.NewReader(c.body))
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%.60s: %v, want %v", c.body, err, c.want)
		}
	}
	// Over the body limit: 413.
	w := httptest.NewRecorder()
	big := `{"rows":[` + strings.Repeat(`{"line":1,"value":"`+strings.Repeat("1", 1000)+`"},`, 1100) + row + `]}`
	_, err := decodeImport(http.MaxBytesReader(w, io.NopCloser(strings.NewReader(big)), maxAdminBody))
	if !errors.Is(err, errTooLarge) {
		t.Errorf("a body over the limit: %v", err)
	}
}

func TestParseImportDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"4h": 4 * time.Hour, "90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "3h59m59.5s": 4*time.Hour - 500*time.Millisecond, "0s": 0, "-1h": 0, "d": 0, "1d-2h": 0, "x": 0, "99999d": 0} {
		got, err := parseImportDuration(in)
		if want == 0 && err == nil || want != 0 && (err != nil || got != want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
}

// FuzzImportRequest decodes fuzzed bodies and validates their rows as the
// handler does: nothing panics, and no accepted row touches territory, is
// wider or longer than the charter allows.
func FuzzImportRequest(f *testing.F) {
	f.Add([]byte(`{"rows":[{"line":1,"value":"192.0.2.1","duration":"4h","reason":"x","scope":"ip","type":"ban"}]}`))
	f.Add([]byte(`{"rows":[{"line":2,"value":"10.0.0.0/8"},{"line":3,"value":"127.0.0.1"},{"line":4,"value":"::ffff:1.2.3.4"}]}`))
	f.Add([]byte(`{"rows":[{"line":5,"value":"fe80::1%eth0","duration":"1d2h"}]} trailing`))
	d := startImportDaemon(f, "")
	c := &d.charter().c
	terr := newTerritorySet(c)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeImport(strings.NewReader(string(body)))
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, errTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		for _, row := range req.Rows {
			br, err := d.checkImportRow(row, terr, time.Now())
			if err != nil {
				if status(err) == http.StatusInternalServerError {
					t.Fatalf("row %+v: an error of no kind: %v", row, err)
				}
				continue
			}
			if c.IsTerritory(br.Value) || c.Limits.TooWide(br.Value) || br.Duration <= 0 || br.Duration > c.Policy.ManualMax {
				t.Fatalf("row %+v accepted as %+v", row, br)
			}
			if _, ok := phalanx.NormalizePrefix(br.Value); !ok || br.Value.Addr().Zone() != "" {
				t.Fatalf("row %+v accepted as %+v", row, br)
			}
		}
	})
}

// TestImportMemory1M imports 1,000,000 rows in requests of MaxImportRows,
// as the CLI sends them, and reports the time, the process's peak RSS and
// the bytes allocated. A benchmark: run alone with PHALANX_BENCH=1.
func TestImportMemory1M(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	const n = 1_000_000
	d := startImportDaemon(t, "")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t.Logf("idle daemon: RSS %.1f MiB, peak %.1f MiB", procStatus(t, "VmRSS"), procStatus(t, "VmHWM"))
	start := time.Now()
	rows := make([]ImportRow, 0, MaxImportRows)
	for i := 0; i < n; {
		rows = rows[:0]
		for ; i < n && len(rows) < MaxImportRows; i++ {
			rows = append(rows, ImportRow{Line: i + 1, Value: benchAddr(i).String()})
		}
		res, err := d.importRows(t.Context(), rows)
		if err != nil || res.Imported != len(rows) {
			t.Fatalf("rows up to %d: %+v %v", i, res, err)
		}
	}
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if path := os.Getenv("PHALANX_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	t.Logf("%d imported decisions in %v: peak RSS %.1f MiB, allocated %.1f MiB, live heap after GC %.1f MiB, rejected %v",
		d.table.Len(), took.Round(time.Millisecond), procStatus(t, "VmHWM"),
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(live.HeapAlloc)/(1<<20), d.status().Rejected)
}

// TestImportPacedByRate imports more batches than the charter's report
// rate lets a member publish at once: the import waits for the rate, so
// that its own arbiter rejects none of them and every ban is in force.
func TestImportPacedByRate(t *testing.T) {
	dir := t.TempDir()
	_, stop := startStoppable(t, dir)
	stop()
	path := filepath.Join(dir, "data", "charter.yaml")
	c, err := charter.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Limits.ReportsPerMinute = 30 // 27 batches at once, then one every 2s
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startImportDaemon(t, dir)
	if got := d.charter().c.Limits.ReportsPerMinute; got != 30 {
		t.Fatalf("the restarted daemon's rate is %d", got)
	}
	// A reason per row: a batch holds at most report.MaxBatchReasons.
	var rows []ImportRow
	for i := range 31 * 255 { // one batch more than the rate allows at once
		rows = append(rows, ImportRow{Line: i + 1, Value: fmt.Sprintf("100.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff), Reason: fmt.Sprintf("r%d", i)})
	}
	start := time.Now()
	res, err := d.importRows(t.Context(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reports != 31 || res.Imported != len(rows) {
		t.Errorf("result %+v, want 31 reports and every row imported", res)
	}
	if r := d.status().Rejected; r[arbiter.ReasonRateLimited] != 0 {
		t.Errorf("rejected %v", r)
	}
	t.Logf("%d rows in 31 batches at 30 reports a minute: %v", len(rows), time.Since(start).Round(time.Millisecond))
}
