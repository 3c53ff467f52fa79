package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/loggen"
	"phalanx/pipeline"
	"phalanx/replay"
)

// TestDefaultsJudgeTheCases replays loggen's labelled cases through the
// product's own path with the default scenarios: every attack case is banned
// (what fail2ban's default jail, sshguard or CrowdSec would ban, and the
// shapes they miss), no legitimate case is, whether the log comes as a file
// or on standard input.
func TestDefaultsJudgeTheCases(t *testing.T) {
	var log bytes.Buffer
	truth, err := loggen.Cases(&log, loggen.CasesConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file dated just after its last line, and standard input replayed a
	// month later: the year must come out the same.
	end := lastTime(t, log.Bytes())
	if err := os.Chtimes(path, end.Add(time.Minute), end.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	runs := map[string]replay.Options{
		"file":  {Files: []string{path}},
		"stdin": {Files: []string{"-"}, Stdin: bytes.NewReader(log.Bytes()), Now: end.Add(30 * 24 * time.Hour)},
	}
	for name, opts := range runs {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			opts.Pipeline, opts.Stdout, opts.Location = pipeline.DefaultConfig(), &out, time.UTC
			sum, err := replay.Run(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if sum.SkippedTotal() != 0 {
				t.Errorf("skipped %v", sum.Skipped)
			}
			bans := map[string][]string{} // value -> scenarios
			dec := json.NewDecoder(&out)
			for dec.More() {
				var o struct{ Type, Value, Scenario, Start string }
				if err := dec.Decode(&o); err != nil {
					t.Fatal(err)
				}
				if o.Type == "decision" {
					bans[o.Value] = append(bans[o.Value], o.Scenario)
					if !strings.HasPrefix(o.Start, end.Format("2006")) {
						t.Errorf("decision dated %s, want the log's year %d", o.Start, end.Year())
					}
				}
			}
			for _, c := range truth.Cases {
				var values []string
				for _, a := range c.Addrs {
					values = append(values, a.String())
				}
				if c.Prefix.IsValid() {
					values = append(values, c.Prefix.String())
				}
				var by []string
				for _, v := range values {
					by = append(by, bans[v]...)
				}
				switch {
				case c.Attack && len(by) == 0:
					t.Errorf("attack %q not banned: %s", c.Name, c.Description)
				case !c.Attack && len(by) > 0:
					t.Errorf("legitimate %q banned by %v: %s", c.Name, by, c.Description)
				}
				t.Logf("%-20s attack=%-5v banned by %v", c.Name, c.Attack, by)
			}
		})
	}
}

// lastTime reads the time of the log's last line, in the year the log was
// generated in (loggen's default start).
func lastTime(t *testing.T, log []byte) time.Time {
	lines := bytes.Split(bytes.TrimSpace(log), []byte("\n"))
	last := string(lines[len(lines)-1])
	ts, err := time.Parse(time.Stamp, last[:len(time.Stamp)])
	if err != nil {
		t.Fatal(err)
	}
	start, _ := time.Parse(time.RFC3339, loggen.DefaultStart)
	ts = ts.AddDate(start.Year(), 0, 0)
	if ts.Before(start) {
		ts = ts.AddDate(1, 0, 0)
	}
	return ts
}
