package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"phalanx"
)

var update = flag.Bool("update", false, "rewrite the golden alerts under testdata")

// TestGolden runs each folder under testdata: events.txt (one event a line:
// offset, service, kind, source, optional user; # comments), an optional
// config.yaml decoded strictly over DefaultConfig, and alerts.golden, the
// expected alerts as JSON lines. Run with -update to rewrite the goldens,
// then read the diff.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/events.txt")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases found (%v)", err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := DefaultConfig()
			if data, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
				if err := decodeStrict(data, &c); err != nil {
					t.Fatalf("config.yaml: %v", err)
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			e := mustNew(t, c)
			evs := readEvents(t, path)
			var got bytes.Buffer
			var buf []phalanx.Alert
			for i := range evs {
				buf = e.Observe(&evs[i], buf[:0])
				for _, a := range buf {
					writeAlert(t, &got, a)
				}
			}
			golden := filepath.Join(dir, "alerts.golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("alerts differ from %s\ngot:\n%s\nwant:\n%s", golden, got.Bytes(), want)
			}
		})
	}
}

func decodeStrict(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return c.Validate()
}

func readEvents(t *testing.T, path string) []phalanx.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []phalanx.Event
	sc := bufio.NewScanner(f)
	for n := int64(1); sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || len(fields) > 5 {
			t.Fatalf("%s:%d: want offset service kind source [user, or port for port-probe]", path, n)
		}
		off, err := time.ParseDuration(fields[0])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		kind, err := phalanx.ParseKind(fields[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		src, err := netip.ParseAddr(fields[3])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		ev := phalanx.Event{Time: at(off), Service: fields[1], Kind: kind, Source: src, Line: n}
		if len(fields) == 5 {
			if kind == phalanx.KindPortProbe {
				ev.Path = fields[4] // the protocol and port, such as tcp/23
			} else {
				ev.User = fields[4]
			}
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func writeAlert(t *testing.T, w *bytes.Buffer, a phalanx.Alert) {
	t.Helper()
	b, err := json.Marshal(struct {
		Scenario string  `json:"scenario"`
		Source   string  `json:"source"`
		Addr     string  `json:"addr"`
		First    string  `json:"first"`
		Last     string  `json:"last"`
		Count    int     `json:"count"`
		Evidence []int64 `json:"evidence"`
	}{a.Scenario, a.Source.String(), a.Addr.String(), a.First.Sub(t0).String(), a.Last.Sub(t0).String(), a.Count, a.Evidence})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.WriteByte('\n')
}
