package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"phalanx/loggen"
)

// TestCases: -cases writes what loggen.Cases writes, and -truth its cases
// as JSON that decodes back to the same truth.
func TestCases(t *testing.T) {
	dir := t.TempDir()
	logPath, truthPath := filepath.Join(dir, "auth.log"), filepath.Join(dir, "truth.json")
	start := "2026-02-03T04:05:06Z"
	if err := run([]string{"-cases", "-seed", "9", "-host", "gw", "-start", start, "-o", logPath, "-truth", truthPath}, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	st, _ := time.Parse(time.RFC3339, start)
	var want bytes.Buffer
	wantTruth, err := loggen.Cases(&want, loggen.CasesConfig{Seed: 9, Host: "gw", Start: st})
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, logPath, truthPath, want.Bytes(), wantTruth, "-cases wrote other bytes than loggen.Cases")

	var stdout bytes.Buffer
	if err := run([]string{"-cases", "-seed", "9", "-host", "gw", "-start", start}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want.Bytes()) {
		t.Error("-cases to standard output differs from -o")
	}
}

func TestCasesRejectsMixFlags(t *testing.T) {
	for _, args := range [][]string{{"-cases", "-lines", "10"}, {"-cases", "-attackers", "3"}} {
		var out bytes.Buffer
		err := run(args, &out)
		if err == nil || !strings.Contains(err.Error(), "does not apply to -cases") {
			t.Errorf("%q: err = %v, want it refused", args, err)
		}
		if out.Len() != 0 {
			t.Errorf("%q: wrote %d bytes despite the error", args, out.Len())
		}
	}
}

// TestHTTP: -http writes what loggen.HTTP writes, and -truth its truth as
// JSON that decodes back to the same truth.
func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	logPath, truthPath := filepath.Join(dir, "access.log"), filepath.Join(dir, "truth.json")
	start := "2026-12-06T16:21:43Z"
	args := []string{"-http", "-lines", "3000", "-seed", "9", "-clients", "200", "-attackers", "30", "-start", start}
	if err := run(append(args, "-o", logPath, "-truth", truthPath), new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	st, _ := time.Parse(time.RFC3339, start)
	var want bytes.Buffer
	wantTruth, err := loggen.HTTP(&want, loggen.HTTPConfig{Lines: 3000, Seed: 9, Start: st, Clients: 200, Attackers: 30})
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, logPath, truthPath, want.Bytes(), wantTruth, "-http wrote other bytes than loggen.HTTP")

	var stdout bytes.Buffer
	if err := run(args, &stdout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want.Bytes()) {
		t.Error("-http to standard output differs from -o")
	}
}

// TestHTTPDefaults: without -attackers and -clients, -http takes
// loggen.HTTP's defaults, not the sshd mix's 1000 attackers.
func TestHTTPDefaults(t *testing.T) {
	var got, want bytes.Buffer
	if err := run([]string{"-http", "-lines", "2000"}, &got); err != nil {
		t.Fatal(err)
	}
	st, _ := time.Parse(time.RFC3339, loggen.DefaultStart)
	if _, err := loggen.HTTP(&want, loggen.HTTPConfig{Lines: 2000, Seed: 1, Start: st}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("-http without -attackers and -clients differs from loggen.HTTP's defaults")
	}
}

func TestHTTPRejectsOtherFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-http", "-cases"}, "different logs"},
		{[]string{"-http", "-host", "gw"}, "-host does not apply"},
		{[]string{"-clients", "10"}, "-http only"},
		{[]string{"-http", "-clients", "-5", "-lines", "10"}, "clients is -5"},
	} {
		var out bytes.Buffer
		err := run(tt.args, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.args, err, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("%q: wrote %d bytes despite the error", tt.args, out.Len())
		}
	}
}

// checkFiles checks that the command wrote want to logPath (else says
// what) and a truth file at truthPath that decodes, strictly, to
// wantTruth.
func checkFiles[T any](t *testing.T, logPath, truthPath string, want []byte, wantTruth T, what string) {
	t.Helper()
	got, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error(what)
	}
	raw, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var gotTruth T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gotTruth); err != nil {
		t.Fatalf("decode truth: %v", err)
	}
	if !reflect.DeepEqual(gotTruth, wantTruth) {
		t.Errorf("truth file decodes to\n%+v\nwant\n%+v", gotTruth, wantTruth)
	}
}
