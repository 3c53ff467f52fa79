package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/config"
	"phalanx/daemon"
)

// member is one daemon running in the test process.
type member struct {
	t      *testing.T
	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan error
	dir    string
	log    string
}

func startMember(t *testing.T, dir, logPath string) *member {
	t.Helper()
	return startWith(t, dir, logPath, nil)
}

// startWith starts a daemon on dir tailing logPath, with enforcement off and
// the API on a free loopback port unless mod changes the configuration or
// the options, and waits until it serves.
func startWith(t *testing.T, dir, logPath string, mod func(*config.File, *daemon.Options)) *member {
	t.Helper()
	return startHooked(t, dir, logPath, mod, nil)
}

// startHooked is startWith with hook, when not nil, run between New and
// Run.
func startHooked(t *testing.T, dir, logPath string, mod func(*config.File, *daemon.Options), hook func(*daemon.Daemon)) *member {
	t.Helper()
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{logPath}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opts := daemon.Options{DataDir: dir, Logger: logger}
	if mod != nil {
		mod(&cfg, &opts)
	}
	opts.Config = cfg
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if hook != nil {
		hook(d)
	}
	m := &member{t: t, d: d, cancel: cancel, done: make(chan error, 1), dir: dir, log: logPath}
	go func() { m.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-m.done:
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon not ready within 20s")
	}
	waitFor(t, 10*time.Second, "API address", func() bool { return d.Addr() != "" })
	t.Cleanup(m.stop)
	return m
}

func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		m.t.Error("daemon did not stop within 15s")
	}
	m.d.Close()
	m.cancel = nil
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func attack(addr string, n int) []string {
	now := time.Now()
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2",
			now.Format(time.Stamp), 2000+i, addr, 40000+i))
	}
	return out
}

func (m *member) admin(method, path string, out any) int {
	m.t.Helper()
	return m.adminBody(method, path, nil, out)
}

// adminBody is admin with a JSON request body (none when body is nil).
func (m *member) adminBody(method, path string, body, out any) int {
	m.t.Helper()
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		m.t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			m.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+info.Addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// waitTailing appends harmless lines until the daemon has read one: a tail
// that starts on an existing file begins at its end, so lines written before
// it opened the file are not read.
func (m *member) waitTailing() {
	m.t.Helper()
	var st daemon.Status
	waitFor(m.t, 10*time.Second, "the tail to read a line", func() bool {
		appendLines(m.t, m.log, time.Now().Format(time.Stamp)+" web1 CRON[9]: (root) CMD (true)")
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["lines"] > 0
	})
}

func banned(d *daemon.Daemon, addr string) bool {
	_, ok := d.Table().Lookup(netip.MustParseAddr(addr), time.Now())
	return ok
}

func TestTailToDecisionAndRestart(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLines(t, logPath, "Nov 27 00:00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	m := startMember(t, filepath.Join(dir, "data"), logPath)

	m.waitTailing()
	appendLines(t, logPath, attack("203.0.113.77", 8)...)
	waitFor(t, 10*time.Second, "a ban on 203.0.113.77", func() bool { return banned(m.d, "203.0.113.77") })
	// The self-defense ban is followed by the alliance decision from the
	// member's own signed report, round-tripped through the fabric.
	var st daemon.Status
	waitFor(t, 10*time.Second, "the report to be decided", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Reports["decided"] >= 1
	})
	if banned(m.d, "203.0.113.78") {
		t.Fatal("a neighbour address is banned")
	}
	var alerts, reports []map[string]any
	if m.admin("GET", "/api/alerts", &alerts); len(alerts) != 1 || alerts[0]["scenario"] != "ssh-bf" {
		t.Errorf("/api/alerts: %v", alerts)
	}
	if m.admin("GET", "/api/reports", &reports); len(reports) != 1 || reports[0]["evidence"] == nil {
		t.Errorf("/api/reports: %v", reports)
	}
	var ex daemon.Explanation
	if code := m.admin("GET", "/api/explain?address=203.0.113.77", &ex); code != 200 || !ex.Banned || len(ex.Timeline) < 2 {
		t.Fatalf("explain: %d %+v", code, ex)
	}
	var sawEvidence bool
	for _, e := range ex.Timeline {
		for _, l := range e.Evidence {
			sawEvidence = sawEvidence || strings.Contains(l, "Failed password for root from 203.0.113.77")
		}
	}
	if !sawEvidence {
		t.Errorf("explain shows no evidence lines: %+v", ex.Timeline)
	}

	// The metrics tell the same story, once the stream has acknowledged the
	// report (the decision above came on the fast path, which may be first).
	published := regexp.MustCompile(`(?m)^phalanx_reports_published_total [1-9]`)
	var body []byte
	waitFor(t, 10*time.Second, "the report to be published", func() bool {
		resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return published.Match(body)
	})
	for _, want := range []string{
		`phalanx_source_lines_total{source="` + logPath + `"}`,
		`phalanx_parser_events_total{kind="auth-failure",parser="sshd"} 8`,
		`phalanx_scenario_alerts_total{scenario="ssh-bf"} 1`,
		`phalanx_arbiter_verdicts_total{verdict=`,
		`phalanx_decisions_active{origin="alliance",scope="Ip"} 1`,
		`phalanx_fabric_lag_seconds{member="` + m.d.ID() + `"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Restart: the decision is rebuilt from the durable report stream.
	var before phalanx.Decision
	before, _ = m.d.Table().Lookup(netip.MustParseAddr("203.0.113.77"), time.Now())
	m.stop()
	m2 := startMember(t, m.dir, logPath)
	after, ok := m2.d.Table().Lookup(netip.MustParseAddr("203.0.113.77"), time.Now())
	if !ok {
		t.Fatal("decision lost across a restart")
	}
	if !after.Until.Equal(before.Until) {
		t.Errorf("decision until %v after restart, %v before", after.Until, before.Until)
	}
	if n := m2.d.Table().Len(); n != 1 {
		t.Errorf("%d decisions after restart, want 1", n)
	}
}

func TestAdminAuthAndErrors(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	resp, err := http.Get("http://" + m.d.Addr() + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status without token: %d, want 403", resp.StatusCode)
	}
	resp, err = http.Get("http://" + m.d.Addr() + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"message"`) {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
	if code := m.admin("POST", "/api/decisions", nil); code != 400 {
		t.Errorf("add without body: %d, want 400", code)
	}
	info, _ := daemon.ReadClientInfo(m.dir)
	big := `{"value":"192.0.2.1","reason":"` + strings.Repeat("x", 2<<20) + `"}`
	req, _ := http.NewRequest("POST", "http://"+info.Addr+"/api/decisions", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
	if code := m.admin("GET", "/api/alerts?limit=0", nil); code != 400 {
		t.Errorf("alerts with limit=0: %d, want 400", code)
	}
}

func jsonDecode(t *testing.T, r io.Reader, v any) {
	t.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPardonedAttackerIsBannedAgain: after a pardon, the same attacker's
// next brute force is banned again (the pipeline must not think the lifted
// ban still runs).
func TestPardonedAttackerIsBannedAgain(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack("203.0.113.88", 8)...)
	waitFor(t, 10*time.Second, "the first ban", func() bool { return banned(m.d, "203.0.113.88") })
	if code := m.admin("DELETE", "/api/decisions?value=203.0.113.88", nil); code != 200 {
		t.Fatalf("pardon: %d", code)
	}
	if banned(m.d, "203.0.113.88") {
		t.Fatal("still banned after the pardon")
	}
	appendLines(t, logPath, attack("203.0.113.88", 8)...)
	waitFor(t, 10*time.Second, "the ban after the pardon", func() bool { return banned(m.d, "203.0.113.88") })
}

// TestFutureLineDoesNotBlindTail is issue 9's hole, on the running daemon:
// one line dated an hour ahead appended to a tailed auth.log, then ten
// failures dated now. The ten are banned; nothing is skipped.
func TestFutureLineDoesNotBlindTail(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	appendLines(t, logPath, "Nov 27 00:00:00 web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	ahead := time.Now().Add(time.Hour).Format(time.Stamp)
	appendLines(t, logPath, ahead+" web1 sshd[9]: Failed password for root from 198.51.100.61 port 4 ssh2")
	appendLines(t, logPath, attack("203.0.113.61", 10)...)
	waitFor(t, 10*time.Second, "a ban on 203.0.113.61", func() bool { return banned(m.d, "203.0.113.61") })
	// The ban comes at the attack's 6th line; the status counts the lines
	// after it once the pipeline has read them.
	var st daemon.Status
	waitFor(t, 10*time.Second, "every line in the status", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["lines"] >= 12
	})
	if n := st.Pipeline["skipped"]; n != 0 || st.Pipeline["events"] != 11 {
		t.Errorf("status pipeline %v: want 11 events and nothing skipped", st.Pipeline)
	}
	if banned(m.d, "198.51.100.61") {
		t.Error("the single future-dated failure was banned")
	}
}
