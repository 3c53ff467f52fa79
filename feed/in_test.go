package feed

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// recordingApplier keeps every ApplyFeed call; refuse (nil for none)
// plays the daemon's territory check.
type recordingApplier struct {
	refuse func(netip.Prefix) bool
	mu     sync.Mutex
	calls  []applied
}

type applied struct {
	name     string
	prefixes []string
	until    time.Time
}

func (a *recordingApplier) ApplyFeed(name string, prefixes []netip.Prefix, until time.Time) int {
	var s []string
	refused := 0
	for _, p := range prefixes {
		if a.refuse != nil && a.refuse(p) {
			refused++
			continue
		}
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return refused // changes nothing
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, applied{name, s, until})
	return refused
}

func (a *recordingApplier) snapshot() []applied {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]applied(nil), a.calls...)
}

// listServer serves whatever body holds, or the status in it when it
// starts with "HTTP ".
type listServer struct {
	*httptest.Server
	body atomic.Value // string
}

func newListServer(t *testing.T, body string) *listServer {
	t.Helper()
	s := &listServer{}
	s.body.Store(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := s.body.Load().(string)
		var status int
		if _, err := fmt.Sscanf(b, "HTTP %d", &status); err == nil {
			http.Error(w, "no list today", status)
			return
		}
		_, _ = w.Write([]byte(b))
	}))
	t.Cleanup(s.Close)
	return s
}

func newTestIn(t *testing.T, c Config, a Applier, refuse func(netip.Prefix) bool) *In {
	t.Helper()
	in, err := NewIn(c, a, refuse, slog.New(slog.NewTextHandler(testWriter{t}, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// testWriter sends logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestInRefreshCycle runs a feed through good, bad and good again: a bad
// fetch applies nothing, so the last good version stays, and says so.
func TestInRefreshCycle(t *testing.T) {
	srv := newListServer(t, "192.0.2.1\n198.51.100.0/24\n")
	a := &recordingApplier{}
	in := newTestIn(t, Config{Sources: []Source{{Name: "list", URL: srv.URL, Interval: time.Hour}}}, a, nil)
	ctx := t.Context()

	before := time.Now()
	if err := in.refresh(ctx, 0); err != nil {
		t.Fatal(err)
	}
	calls := a.snapshot()
	if len(calls) != 1 || strings.Join(calls[0].prefixes, " ") != "192.0.2.1/32 198.51.100.0/24" || calls[0].name != "list" {
		t.Fatalf("applied %+v", calls)
	}
	if d := calls[0].until.Sub(before); d < 2*time.Hour || d > 2*time.Hour+time.Minute {
		t.Errorf("until is %v after the fetch, want the default duration of twice the interval", d)
	}
	st := in.Status()[0]
	if st.Entries != 2 || st.LastError != "" || st.LastSuccess.IsZero() || st.Failures != 0 {
		t.Errorf("status after a good fetch: %+v", st)
	}
	good := st.LastSuccess

	bad := []struct{ name, body, err string }{
		{"server error", "HTTP 503", "503"},
		{"not found", "HTTP 404", "404"},
		{"garbage only", "<html>maintenance</html>\n", "no valid entry"},
		{"empty", "", "no valid entry"},
	}
	for i, b := range bad {
		srv.body.Store(b.body)
		err := in.refresh(ctx, 0)
		if err == nil || !strings.Contains(err.Error(), b.err) {
			t.Errorf("%s: err %v, want one saying %q", b.name, err, b.err)
		}
		if n := len(a.snapshot()); n != 1 {
			t.Errorf("%s: a failed fetch applied something (%d calls)", b.name, n)
		}
		st := in.Status()[0]
		if !strings.Contains(st.LastError, b.err) || st.Failures != i+1 || !st.LastSuccess.Equal(good) || st.Entries != 2 {
			t.Errorf("%s: status %+v", b.name, st)
		}
	}

	srv.body.Store("# v2\n203.0.113.0/24\n")
	if err := in.refresh(ctx, 0); err != nil {
		t.Fatal(err)
	}
	calls = a.snapshot()
	if len(calls) != 2 || strings.Join(calls[1].prefixes, " ") != "203.0.113.0/24" {
		t.Fatalf("applied %+v", calls)
	}
	st = in.Status()[0]
	if st.Entries != 1 || st.LastError != "" || st.Failures != 0 || !st.LastSuccess.After(good) {
		t.Errorf("status after recovery: %+v", st)
	}
}

// TestInRefused checks that wildcards and what refuse rejects are counted
// and never applied, and that a list refused whole keeps the last good one.
func TestInRefused(t *testing.T) {
	srv := newListServer(t, "0.0.0.0/0\n::/0\n::ffff:0.0.0.0/96\n10.1.2.3\n192.0.2.1\n2001:db8::/32\n")
	a := &recordingApplier{}
	territory := netip.MustParsePrefix("10.0.0.0/8")
	refuse := func(p netip.Prefix) bool { return p.Overlaps(territory) || p.Addr().Is6() && p.Bits() < 48 }
	in := newTestIn(t, Config{Sources: []Source{{Name: "list", URL: srv.URL}}}, a, refuse)
	if err := in.refresh(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	calls := a.snapshot()
	if len(calls) != 1 || strings.Join(calls[0].prefixes, " ") != "192.0.2.1/32" {
		t.Fatalf("applied %+v", calls)
	}
	if st := in.Status()[0]; st.Refused != 4 || st.Entries != 1 || st.Skipped != 1 {
		// ::ffff:0.0.0.0/96 is 0.0.0.0/0 again: a duplicate, skipped.
		t.Errorf("status %+v, want 4 refused, 1 entry, 1 skipped", st)
	}

	srv.body.Store("0.0.0.0/0\n10.0.0.1\n")
	if err := in.refresh(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err %v, want one saying every entry was refused", err)
	}
	if n := len(a.snapshot()); n != 1 {
		t.Errorf("a list refused whole was applied")
	}
}

// TestInApplierRefuses checks that what the Applier refuses is counted
// with the rest, and that a list it refuses whole is a failed fetch that
// keeps the last good version.
func TestInApplierRefuses(t *testing.T) {
	srv := newListServer(t, "10.1.2.3\n192.0.2.1\n198.51.100.0/24\n")
	territory := netip.MustParsePrefix("10.0.0.0/8")
	a := &recordingApplier{refuse: func(p netip.Prefix) bool { return p.Overlaps(territory) }}
	in := newTestIn(t, Config{Sources: []Source{{Name: "list", URL: srv.URL}}}, a, nil)
	if err := in.refresh(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	calls := a.snapshot()
	if len(calls) != 1 || strings.Join(calls[0].prefixes, " ") != "192.0.2.1/32 198.51.100.0/24" {
		t.Fatalf("applied %+v", calls)
	}
	if st := in.Status()[0]; st.Refused != 1 || st.Entries != 2 || st.LastError != "" {
		t.Errorf("status %+v, want 1 refused, 2 entries", st)
	}
	srv.body.Store("10.0.0.1\n10.9.9.0/24\n")
	if err := in.refresh(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "every entry (2) was refused") {
		t.Errorf("err %v, want one saying every entry was refused", err)
	}
	if st := in.Status()[0]; st.Entries != 2 || st.Failures != 1 || st.LastSuccess.IsZero() {
		t.Errorf("status after a list refused whole %+v: want the last good version kept, one failure", st)
	}
	if n := len(a.snapshot()); n != 1 {
		t.Errorf("a list refused whole was applied")
	}
}

// TestInHangingServer checks that a server that never answers, or stops
// in the middle of the list, is cut by the timeout.
func TestInHangingServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/midway" {
			_, _ = w.Write([]byte("192.0.2.1\n192.0.2."))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	for _, path := range []string{"/silent", "/midway"} {
		t.Run(path, func(t *testing.T) {
			a := &recordingApplier{}
			const timeout = 300 * time.Millisecond
			in := newTestIn(t, Config{Timeout: timeout, Sources: []Source{{Name: "hang", URL: srv.URL + path}}}, a, nil)
			start := time.Now()
			err := in.refresh(t.Context(), 0)
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "timeout") {
				t.Errorf("err %v, want a timeout", err)
			}
			if took < timeout || took > timeout+5*time.Second {
				t.Errorf("the fetch took %v with a timeout of %v", took, timeout)
			}
			if len(a.snapshot()) != 0 {
				t.Errorf("a cut fetch was applied")
			}
			if st := in.Status()[0]; st.Failures != 1 || !strings.Contains(st.LastError, "timeout") {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestInOversized checks that a list larger than MaxBytes fails, whether
// the server announces its length or not.
func TestInOversized(t *testing.T) {
	var body bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&body, "192.0.2.%d\n", i%250)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			for b := body.Bytes(); len(b) > 0; {
				n := min(len(b), 100)
				_, _ = w.Write(b[:n])
				w.(http.Flusher).Flush()
				b = b[n:]
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(body.Len()))
		_, _ = w.Write(body.Bytes())
	}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/chunked", "/announced"} {
		t.Run(path, func(t *testing.T) {
			a := &recordingApplier{}
			max := int64(body.Len() - 1)
			in := newTestIn(t, Config{MaxBytes: max, Sources: []Source{{Name: "big", URL: srv.URL + path}}}, a, nil)
			if err := in.refresh(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "max_bytes") {
				t.Errorf("err %v, want one naming max_bytes", err)
			}
			if len(a.snapshot()) != 0 {
				t.Errorf("an oversized list was applied")
			}
			// One byte more and it fits.
			in.cfg.MaxBytes = int64(body.Len())
			if err := in.refresh(t.Context(), 0); err != nil {
				t.Errorf("a list of exactly max_bytes: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:secret@example.org/list.txt?key=secret": "https://user:xxxxx@example.org/list.txt?redacted",
		"https://example.org/drop.txt":                        "https://example.org/drop.txt",
		"/var/lib/phalanx/list.txt":                           "/var/lib/phalanx/list.txt",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInTooManyEntries(t *testing.T) {
	srv := newListServer(t, "192.0.2.1\n192.0.2.2\n192.0.2.3\n")
	a := &recordingApplier{}
	in := newTestIn(t, Config{MaxEntries: 2, Sources: []Source{{Name: "many", URL: srv.URL}}}, a, nil)
	if err := in.refresh(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "max_entries") {
		t.Errorf("err %v, want one naming max_entries", err)
	}
	if len(a.snapshot()) != 0 {
		t.Errorf("a list over max_entries was applied")
	}
}

func TestInFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drop.txt")
	if err := os.WriteFile(path, []byte("; DROP\n192.0.2.0/24 ; SBL1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{path, "file://" + path} {
		a := &recordingApplier{}
		in := newTestIn(t, Config{Sources: []Source{{Name: "drop", URL: loc, Format: FormatDROP}}}, a, nil)
		if err := in.refresh(t.Context(), 0); err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if c := a.snapshot(); len(c) != 1 || strings.Join(c[0].prefixes, " ") != "192.0.2.0/24" {
			t.Errorf("%s: applied %+v", loc, c)
		}
	}
	a := &recordingApplier{}
	in := newTestIn(t, Config{Sources: []Source{{Name: "dir", URL: dir}, {Name: "gone", URL: filepath.Join(dir, "gone")}}}, a, nil)
	for i, want := range []string{"not a regular file", "no such file"} {
		if err := in.refresh(t.Context(), i); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	}
}

// TestInRun checks that Run fetches every source at once and again each
// interval, and returns when its context ends.
func TestInRun(t *testing.T) {
	srv := newListServer(t, "192.0.2.1\n")
	bad := newListServer(t, "HTTP 500")
	a := &recordingApplier{}
	in := newTestIn(t, Config{Sources: []Source{{Name: "good", URL: srv.URL}, {Name: "bad", URL: bad.URL}}}, a, nil)
	for i := range in.cfg.Sources {
		in.cfg.Sources[i].Interval = 20 * time.Millisecond // below MinInterval, which Validate enforces
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		st := in.Status()
		if len(a.snapshot()) >= 3 && st[1].Failures >= 3 {
			if st[0].Entries != 1 || st[0].LastError != "" || !st[1].LastSuccess.IsZero() {
				t.Errorf("status %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d applied, status %+v", len(a.snapshot()), st)
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	for _, c := range a.snapshot() {
		if c.name != "good" {
			t.Errorf("the failing feed applied %+v", c)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Source{Name: "spamhaus-drop", URL: "https://www.spamhaus.org/drop/drop.txt", Format: FormatDROP}
	tests := []struct {
		name string
		c    Config
		err  string // "" for valid
	}{
		{"no sources", Config{}, ""},
		{"defaults", Config{Sources: []Source{ok}}, ""},
		{"file", Config{Sources: []Source{{Name: "local", URL: "/etc/phalanx/block.txt"}}}, ""},
		{"empty name", Config{Sources: []Source{{URL: ok.URL}}}, "name must be"},
		{"bad name", Config{Sources: []Source{{Name: "a b", URL: ok.URL}}}, "letters"},
		{"twice", Config{Sources: []Source{ok, ok}}, "appears twice"},
		{"no url", Config{Sources: []Source{{Name: "x"}}}, "url is empty"},
		{"ftp", Config{Sources: []Source{{Name: "x", URL: "ftp://example.org/x"}}}, "only http"},
		{"no host", Config{Sources: []Source{{Name: "x", URL: "http:///x"}}}, "give a URL"},
		{"file host", Config{Sources: []Source{{Name: "x", URL: "file://host/x"}}}, "file:///"},
		{"format", Config{Sources: []Source{{Name: "x", URL: ok.URL, Format: "csv"}}}, "format"},
		{"interval", Config{Sources: []Source{{Name: "x", URL: ok.URL, Interval: time.Second}}}, "interval"},
		{"duration", Config{Sources: []Source{{Name: "x", URL: ok.URL, Interval: time.Hour, Duration: time.Minute}}}, "duration"},
		{"negative max", Config{MaxEntries: -1}, "max_entries"},
		{"negative bytes", Config{MaxBytes: -1}, "max_bytes"},
		{"negative timeout", Config{Timeout: -1}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := NewIn(Config{Sources: []Source{{Name: "x"}}}, &recordingApplier{}, nil, nil, nil); err == nil {
		t.Error("NewIn took an invalid config")
	}
	if _, err := NewIn(Config{}, nil, nil, nil, nil); err == nil {
		t.Error("NewIn took no applier")
	}
}

// TestConfigYAML decodes a configuration section strictly over the
// defaults, as the daemon will.
func TestConfigYAML(t *testing.T) {
	src := `
sources:
  - name: spamhaus-drop
    url: https://www.spamhaus.org/drop/drop.txt
    format: drop
    interval: 12h
  - name: local
    url: /var/lib/phalanx/block.txt
    duration: 3h
max_entries: 5000
max_bytes: 1048576
timeout: 10s
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	want := Config{
		Sources: []Source{
			{Name: "spamhaus-drop", URL: "https://www.spamhaus.org/drop/drop.txt", Format: "drop", Interval: 12 * time.Hour, Duration: 24 * time.Hour},
			{Name: "local", URL: "/var/lib/phalanx/block.txt", Format: "plain", Interval: time.Hour, Duration: 3 * time.Hour},
		},
		MaxEntries: 5000, MaxBytes: 1 << 20, Timeout: 10 * time.Second,
	}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	bad := yaml.NewDecoder(strings.NewReader("sources: []\nmax_entires: 5\n"))
	bad.KnownFields(true)
	if err := bad.Decode(&c); err == nil {
		t.Error("an unknown key was accepted")
	}
}
