package parsertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// goldenEvent is one line of an events.golden file.
type goldenEvent struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	User   string `json:"user,omitempty"`
}

// Golden frames each testdata/<case>/input.log of the calling package with
// the logline package, parses the lines isProgram accepts in order with one
// new parser (Parse, then Next), and compares the events with
// testdata/<case>/events.golden. With update (the package's -update flag) it
// rewrites the golden files first.
func Golden[P Parser](t *testing.T, update bool, isProgram func([]byte) bool, newParser func() P) {
	t.Helper()
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
			p := newParser()
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(data))
			for no := 1; sc.Scan(); no++ {
				var fr logline.Frame
				if err := framer.Frame(sc.Bytes(), &fr); err != nil {
					t.Fatalf("line %d: %v", no, err)
				}
				if !isProgram(fr.Program) {
					continue
				}
				var ev phalanx.Event
				for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
					b, err := json.Marshal(goldenEvent{Line: no, Kind: ev.Kind.String(), Source: ev.Source.String(), User: ev.User})
					if err != nil {
						t.Fatal(err)
					}
					out.Write(b)
					out.WriteByte('\n')
				}
			}
			golden := filepath.Join(dir, "events.golden")
			if update {
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
