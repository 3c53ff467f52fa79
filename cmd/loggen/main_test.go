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
	got, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("-cases wrote other bytes than loggen.Cases")
	}
	raw, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var gotTruth loggen.CaseTruth
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gotTruth); err != nil {
		t.Fatalf("decode truth: %v", err)
	}
	if !reflect.DeepEqual(gotTruth, wantTruth) {
		t.Errorf("truth file decodes to\n%+v\nwant\n%+v", gotTruth, wantTruth)
	}

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
