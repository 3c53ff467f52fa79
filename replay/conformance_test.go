package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/parser/parsertest"
	"phalanx/pipeline"
)

// replayEvent is one "type":"event" line of `phalanx replay --events`.
type replayEvent struct {
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	Source  string `json:"source"`
	User    string `json:"user"`
	Line    int    `json:"line"`
	Skipped int64  `json:"skipped"`
	// SkippedBy is the summary's skips by reason.
	SkippedBy map[string]int64 `json:"skipped_by_reason"`
}

// TestFail2banConformanceReplay replays fail2ban's annotated sshd and
// sshd-journal samples, one file each, through replay.Run: the framing,
// parsers and pipeline that `phalanx replay --events` users get, no test
// fallback. The journal sample ("srv sshd[123]: msg") is rendered the way
// `journalctl -o short` prints it, with failJSON's time (in UTC) when it has
// one. parsertest.Conformance judges the events by the rules and exceptions
// of the parser level test in parser/sshd/conformance_test.go, except that
// only auth-failure events count against a line fail2ban matches in no mode,
// and lines are told apart by message (the text after the syslog tag).
//
// Each file is one replay, as a user would run it, so state (fail2ban's per
// pid, phalanx's per host and pid) carries across the sample's filterOptions
// blocks; no exception is needed for that today.
func TestFail2banConformanceReplay(t *testing.T) {
	files := []string{"sshd", "sshd-journal"}
	parsertest.RequireSamples(t, files...)
	c := parsertest.Conformance{
		Misses: parsertest.SSHDMisses(),
		Extras: parsertest.SSHDExtras(),
		FalsePositive: func(b parsertest.Blame) bool {
			return b.Kind == phalanx.KindAuthFailure.String()
		},
		ByMessage: true,
	}
	for _, f := range files {
		samples := parsertest.ReadSamples(t, f)
		events, summary := replaySamples(t, f, samples)
		lines := make([]parsertest.Line, len(samples))
		for i, s := range samples {
			lines[i] = parsertest.Line{Sample: s, Msg: parsertest.Message(s.Text), Events: events[i]}
		}
		c.Check(t, f, lines, fmt.Sprintf("replay skipped %d lines %v", summary.Skipped, summary.SkippedBy))
	}
	c.Finish(t)
}

// replaySamples writes the sample's log lines to a file and replays it with
// events. It returns the events of each sample line and the summary.
func replaySamples(t *testing.T, name string, samples []*parsertest.Sample) ([][]parsertest.Blame, replayEvent) {
	t.Helper()
	journal := strings.HasSuffix(name, "-journal")
	var in bytes.Buffer
	when := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range samples {
		if journal {
			// journalctl -o short: "Jan 03 12:34:56 srv sshd[123]: msg".
			if !s.Time.IsZero() {
				when = s.Time
			}
			in.WriteString(when.Format("Jan 02 15:04:05 "))
		}
		in.WriteString(s.Text)
		in.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), name+".log")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), Options{
		Events: true, Files: []string{path}, Stdout: &out, Location: time.UTC, Pipeline: pipeline.DefaultConfig(),
	}); err != nil {
		t.Fatal(err)
	}
	events := make([][]parsertest.Blame, len(samples))
	var summary replayEvent
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev replayEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("output line is not JSON: %v: %q", err, sc.Text())
		}
		switch ev.Type {
		case "summary":
			summary = ev
		case "event":
			if ev.Line < 1 || ev.Line > len(samples) {
				t.Fatalf("event for line %d of %d: %q", ev.Line, len(samples), sc.Text())
			}
			events[ev.Line-1] = append(events[ev.Line-1], parsertest.Blame{Kind: ev.Kind, Source: ev.Source, User: ev.User})
		}
	}
	if summary.Type != "summary" {
		t.Fatal("no summary line")
	}
	return events, summary
}
