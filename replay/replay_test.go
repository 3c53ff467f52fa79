package replay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/loggen"
	"phalanx/pipeline"
	"phalanx/replay"
)

type record struct {
	Type      string    `json:"type"`
	Scenario  string    `json:"scenario"`
	Source    string    `json:"source"`
	Value     string    `json:"value"`
	Scope     string    `json:"scope"`
	Kind      string    `json:"kind"`
	User      *string   `json:"user"`
	Line      int64     `json:"line"`
	Time      time.Time `json:"time"`
	Lines     int64     `json:"lines"`
	Events    int64     `json:"events"`
	Alerts    int64     `json:"alerts"`
	Decisions int64     `json:"decisions"`
	Skipped   int64     `json:"skipped"`
	Seconds   *float64  `json:"seconds"`
	Duration  string    `json:"duration"`
}

func runReplay(t *testing.T, opts replay.Options) []record {
	t.Helper()
	var out bytes.Buffer
	opts.Stdout = &out
	if opts.Pipeline.Scenarios.Scenarios == nil {
		opts.Pipeline = pipeline.DefaultConfig()
	}
	opts.Location = time.UTC
	if _, err := replay.Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var recs []record
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line is not JSON: %v: %q", err, sc.Text())
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 || recs[len(recs)-1].Type != "summary" {
		t.Fatalf("output does not end with a summary: %+v", recs)
	}
	return recs
}

// TestGeneratedLog replays a generated log whose truth is known: attackers
// are banned, legitimate users never, and the summary adds up.
func TestGeneratedLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := loggen.Generate(f, loggen.Config{Lines: 200_000, Seed: 7, Attackers: 300})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	recs := runReplay(t, replay.Options{Files: []string{path}})
	sum := recs[len(recs)-1]
	if sum.Lines != 200_000 {
		t.Errorf("summary lines = %d, want 200000", sum.Lines)
	}
	legit := map[netip.Addr]bool{}
	for _, a := range truth.Legit {
		legit[a] = true
	}
	attackers := map[netip.Addr]bool{}
	for _, a := range truth.Attackers {
		attackers[a] = true
	}
	var decisions, alerts, banned int
	for _, r := range recs {
		switch r.Type {
		case "alert":
			alerts++
		case "decision":
			decisions++
			p, err := netip.ParsePrefix(r.Value)
			if err != nil {
				a, err2 := netip.ParseAddr(r.Value)
				if err2 != nil {
					t.Fatalf("decision value %q: %v", r.Value, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			for l := range legit {
				if p.Contains(l) {
					t.Errorf("legitimate address %v banned by %+v", l, r)
				}
			}
			if p.IsSingleIP() && attackers[p.Addr()] {
				banned++
			}
			if _, err := time.ParseDuration(r.Duration); err != nil {
				t.Errorf("decision duration %q: %v", r.Duration, err)
			}
		}
	}
	if int64(decisions) != sum.Decisions || int64(alerts) != sum.Alerts {
		t.Errorf("summary says %d alerts, %d decisions; output has %d, %d", sum.Alerts, sum.Decisions, alerts, decisions)
	}
	if banned < len(truth.Attackers)/3 {
		t.Errorf("only %d of %d attackers banned", banned, len(truth.Attackers))
	}
	t.Logf("%d lines, %d events, %d alerts, %d decisions; %d of %d fixed-address attackers banned",
		sum.Lines, sum.Events, sum.Alerts, sum.Decisions, banned, len(truth.Attackers))
}

func TestEventsMode(t *testing.T) {
	in := "Nov 27 05:49:28 web1 sshd[10]: Invalid user admin\x1b[2J from 203.0.113.5 port 4000\n" +
		"Nov 27 05:49:29 web1 CRON[11]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n" +
		"Nov 27 05:49:30 web1 sshd-session[12]: Failed password for root from 2001:db8::7 port 4001 ssh2\n"
	recs := runReplay(t, replay.Options{Files: []string{"-"}, Stdin: strings.NewReader(in), Events: true,
		Now: time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)})
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 2 events and a summary: %+v", len(recs), recs)
	}
	want := []struct {
		kind, source, user string
		line               int64
	}{{"invalid-user", "203.0.113.5", "admin\x1b[2J", 1}, {"auth-failure", "2001:db8::7", "root", 3}}
	for i, w := range want {
		r := recs[i]
		if r.Type != "event" || r.Kind != w.kind || r.Source != w.source || r.User == nil || *r.User != w.user || r.Line != w.line {
			t.Errorf("event %d = %+v, want %+v", i, r, w)
		}
		if r.Time.Year() != 2026 || r.Time.Month() != time.November {
			t.Errorf("event %d time %v: want November 2026", i, r.Time)
		}
	}
}

func TestMissingFileFailsBeforeOutput(t *testing.T) {
	var out bytes.Buffer
	_, err := replay.Run(context.Background(), replay.Options{Pipeline: pipeline.DefaultConfig(),
		Files: []string{"/nonexistent/auth.log"}, Stdout: &out})
	if err == nil || !strings.Contains(err.Error(), "open log file") {
		t.Fatalf("err = %v, want an open error", err)
	}
	if out.Len() != 0 {
		t.Fatalf("output written before failing: %q", out.String())
	}
}

// TestServicePrefix: "sshd:PATH" reads PATH as sshd's lines, so a line with
// no program tag is an sshd line; journal and syslog sources are refused
// with a hint, and an unknown service is named.
func TestServicePrefix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tagless.log")
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("2026-11-27T05:00:0%d auth.info: Invalid user u%d from 203.0.113.50 port %d", i, i, 4000+i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := replay.Run(context.Background(), replay.Options{Pipeline: pipeline.DefaultConfig(), Files: []string{"sshd:" + path}, Stdout: &out, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 5 || sum.Decisions != 1 {
		t.Errorf("summary %+v: want 5 events and a ban", sum.Counters)
	}
	// Dropbear's lines with no program tag are read as Dropbear's only
	// when the source says so.
	path = filepath.Join(dir, "dropbear.log")
	lines = nil
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("2026-11-27T05:00:0%d auth.info: Bad password attempt for 'root' from 203.0.113.51:%d", i, 4000+i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]int64{path: 0, "dropbear:" + path: 5} {
		sum, err := replay.Run(context.Background(), replay.Options{Pipeline: pipeline.DefaultConfig(), Files: []string{spec}, Stdout: io.Discard, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Events != want {
			t.Errorf("%s: %d events, want %d", spec, sum.Events, want)
		}
	}
	for _, bad := range []struct{ spec, want string }{
		{"journal:sshd", "pipe it in"},
		{"syslog:udp://127.0.0.1:5514", "replay reads files"},
		{"nosuch:" + path, `unknown service "nosuch"`},
	} {
		_, err := replay.Run(context.Background(), replay.Options{Pipeline: pipeline.DefaultConfig(), Files: []string{bad.spec}, Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one containing %q", bad.spec, err, bad.want)
		}
	}
}
