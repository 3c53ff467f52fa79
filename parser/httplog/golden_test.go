package httplog

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden parses each testdata/<case>/input.log with one parser (trusting
// testTrusted, reading zoneless times as UTC, and with the nginx log_format
// of testdata/<case>/format.conf when there is one) and compares what each
// line says with testdata/<case>/requests.golden (go test -update rewrites
// them).
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*/input.log")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, in := range ins {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var f *Format
			if spec, err := os.ReadFile(filepath.Join(dir, "format.conf")); err == nil {
				if f, err = CompileNginx(string(spec)); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			p := newTestParser(f)
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for no := 1; sc.Scan(); no++ {
				var r Request
				d := "-"
				if p.Parse(sc.Bytes(), &r) {
					d = describe(&r)
				}
				fmt.Fprintf(&out, "%d %s\n", no, d)
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "requests.golden")
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
				t.Errorf("requests differ from %s:\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}
		})
	}
}
