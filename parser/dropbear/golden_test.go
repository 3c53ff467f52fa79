package dropbear

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenEvent is one line of an events.golden file.
type goldenEvent struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	User   string `json:"user,omitempty"`
}

// TestGolden frames each testdata/<case>/input.log with the logline package,
// parses the dropbear lines in order with one Parser, and compares the
// events with testdata/<case>/events.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*/input.log")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, in := range ins {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			framer := logline.NewFramer(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.UTC)
			p := New()
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(data))
			for no := 1; sc.Scan(); no++ {
				var fr logline.Frame
				if err := framer.Frame(sc.Bytes(), &fr); err != nil {
					t.Fatalf("line %d: %v", no, err)
				}
				if !IsProgram(fr.Program) {
					continue
				}
				var ev phalanx.Event
				if !p.Parse(&fr, &ev) {
					continue
				}
				b, err := json.Marshal(goldenEvent{Line: no, Kind: ev.Kind.String(), Source: ev.Source.String(), User: ev.User})
				if err != nil {
					t.Fatal(err)
				}
				out.Write(b)
				out.WriteByte('\n')
			}
			golden := filepath.Join(dir, "events.golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("events differ from %s:\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}
		})
	}
}
