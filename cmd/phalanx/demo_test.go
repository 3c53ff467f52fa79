package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `phalanx demo` as a user would and checks that its output
// tells the whole story: detection on A, enforcement on B and C, the pardon
// arriving on B and C, and the summary; and that it cleans up after itself.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	began := time.Now()
	code := run(ctx, []string{"demo", "--attacker", "198.51.100.23"}, strings.NewReader(""), &out, &errb)
	took := time.Since(began)
	t.Logf("demo took %v; output:\n%s", took.Round(time.Millisecond), out.String())
	if code != 0 {
		t.Fatalf("exit %d after %v; stderr:\n%s", code, took, errb.String())
	}
	if took > 90*time.Second {
		t.Errorf("the demo took %v, want at most 90s", took)
	}
	text := out.String()
	for _, want := range []struct{ what, re string }{
		{"the first attack line", `(?m)^\s+\d+\s+attacker → A: failed password 1/\d+$`},
		{"detection on A", `(?m)^\s+\d+\s+A\s+detected ssh-bf: \d+ events from 198\.51\.100\.23$`},
		{"self-defense on A", `(?m)^\s+\d+\s+A\s+decided: self-defense ban, \S+$`},
		{"enforcement on A", `(?m)^\s+\d+\s+A\s+enforced for \S+ \(layer api`},
		{"the alliance decision on B", `(?m)^\s+\d+\s+B\s+decided: alliance ban, from A's signed report, \S+$`},
		{"enforcement on B", `(?m)^\s+\d+\s+B\s+enforced for \S+ \(layer api`},
		{"enforcement on C", `(?m)^\s+\d+\s+C\s+enforced for \S+ \(layer api`},
		{"the pardon on B", `(?m)^\s+\d+\s+B\s+pardon from A: ban lifted$`},
		{"the pardon on C", `(?m)^\s+\d+\s+C\s+pardon from A: ban lifted$`},
		{"the ban summary", `(?m)^  detected on A → banned on B and C in \d+(\.\d)? ms$`},
		{"the pardon summary", `(?m)^  pardon on A → lifted on every member in \d+(\.\d)? ms$`},
		{"the distributed attack", `(?m)^\s+\d+\s+attacker → C: failed password 4/4$`},
		{"a sighting counted on A", `(?m)^\s+\d+\s+A\s+counts B's sighting towards fleet-bf: \d+ events from 198\.51\.100\.24/32`},
		{"the fleet ban on A", `(?m)^\s+\d+\s+A\s+decided: fleet ban \(fleet-bf\), from the members' sightings, \S+$`},
		{"the fleet ban on B", `(?m)^\s+\d+\s+B\s+decided: fleet ban \(fleet-bf\), from the members' sightings, \S+$`},
		{"the fleet ban on C", `(?m)^\s+\d+\s+C\s+decided: fleet ban \(fleet-bf\), from the members' sightings, \S+$`},
		{"the fleet summary", `(?m)^  distributed attack \(4 on each member, under every member's threshold\) → banned on every member \d+(\.\d)? ms after its last line \(10s of it the sightings' hold\)$`},
		{"what to try next", `alliance in five minutes`},
	} {
		if !regexp.MustCompile(want.re).MatchString(text) {
			t.Errorf("the output does not show %s (/%s/)", want.what, want.re)
		}
	}
	// B and C enforce only after A detected the attack.
	detected := strings.Index(text, "detected ssh-bf")
	enforcedB := regexp.MustCompile(`B\s+enforced`).FindStringIndex(text)
	if detected < 0 || enforcedB == nil || enforcedB[0] < detected {
		t.Errorf("enforcement on B (%v) is not shown after the detection on A (at %d)", enforcedB, detected)
	}
	// For newcomers: letters, not member ids; no log records on the terminal.
	if id := regexp.MustCompile(`\bm[0-9a-f]{16}\b`).FindString(text + errb.String()); id != "" {
		t.Errorf("the output shows the member id %s", id)
	}
	if strings.Contains(text+errb.String(), "level=") {
		t.Errorf("log records reached the terminal; stderr:\n%s", errb.String())
	}
	// Without --keep, the temporary directory is gone.
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "phalanx-demo-") {
			t.Errorf("the demo left %s behind", e.Name())
		}
	}
}

func TestDemoArguments(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		errPart string
	}{
		{[]string{"demo", "--help"}, 0, "Usage: phalanx demo"},
		{[]string{"demo", "--attacker", "not-an-address"}, 2, "is not an IP address"},
		{[]string{"demo", "--attacker", "127.0.0.1"}, 2, "is never banned"},
		{[]string{"demo", "--attacker", "::1"}, 2, "is never banned"},
		{[]string{"demo", "extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.errPart) {
			t.Errorf("phalanx %v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, errs, tt.code, tt.errPart)
		}
		if out != "" {
			t.Errorf("phalanx %v printed %q on stdout before refusing", tt.args, out)
		}
	}
}

func TestDemoMS(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0.0"},
		{-time.Millisecond, "0.0"},
		{1450 * time.Microsecond, "1.4"},
		{9949 * time.Microsecond, "9.9"},
		{12 * time.Millisecond, "12"},
		{1500 * time.Millisecond, "1500"},
	}
	for _, tt := range tests {
		if got := demoMS(tt.in); got != tt.want {
			t.Errorf("demoMS(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDemoDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{4 * time.Hour, "4h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{90 * time.Second, "1m30s"},
		{4*time.Hour - 300*time.Millisecond, "4h"},
		{168 * time.Hour, "168h"},
		{45 * time.Second, "45s"},
		{0, "0s"},
		{-time.Second, "0s"},
	}
	for _, tt := range tests {
		if got := demoDuration(tt.in); got != tt.want {
			t.Errorf("demoDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
