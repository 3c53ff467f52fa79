package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const attack = "Nov 27 05:49:2%d web1 sshd[1%d]: Failed password for root from 203.0.113.50 port 4%d ssh2\n"

func attackLog(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strings.NewReplacer("%d", string(rune('0'+i))).Replace(attack))
	}
	return b.String()
}

func TestReplayFlagsAfterFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte(attackLog(8)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "replay", path, "--events")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(out, `"type":"event"`); n != 8 {
		t.Errorf("%d events printed, want 8:\n%s", n, out)
	}
	code, out, _ = runCLI(t, "", "replay", path)
	if code != 0 || !strings.Contains(out, `"type":"decision"`) || !strings.Contains(out, `"value":"203.0.113.50"`) {
		t.Errorf("exit %d, want a decision on 203.0.113.50:\n%s", code, out)
	}
}

func TestReplayStdin(t *testing.T) {
	code, out, errs := runCLI(t, attackLog(8), "replay", "-")
	if code != 0 || !strings.Contains(out, `"type":"summary","lines":8,`) {
		t.Fatalf("exit %d, stderr %q, out:\n%s", code, errs, out)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		errPart string
	}{
		{[]string{"replay"}, 2, "name at least one log file"},
		{[]string{"replay", "--bogus", "x"}, 2, "flag provided but not defined"},
		{[]string{"replay", "/nonexistent/file"}, 1, "open log file"},
		{[]string{"replay", "--config", "/nonexistent/config.yaml", "-"}, 1, "read config"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"replay", "--help"}, 0, "Usage: phalanx replay"},
		{nil, 2, "Usage:"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.errPart) {
			t.Errorf("phalanx %v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, errs, tt.code, tt.errPart)
		}
	}
}

func TestReplayConfigIsStrict(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("decisions:\n  duraton: 1h\n"), 0o600)
	code, _, errs := runCLI(t, "", "replay", "--config", bad, "-")
	if code != 1 || !strings.Contains(errs, "duraton") {
		t.Errorf("misspelt key: exit %d, stderr %q; want exit 1 naming the key", code, errs)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("decisions:\n  duration: 1h\n  max_duration: 2h\n"), 0o600)
	code, out, errs := runCLI(t, attackLog(8), "replay", "--config", good, "-")
	if code != 0 || !strings.Contains(out, `"duration":"1h0m0s"`) {
		t.Errorf("exit %d, stderr %q; want a 1h decision:\n%s", code, errs, out)
	}
}

func TestParseArgsDashDash(t *testing.T) {
	code, out, errs := runCLI(t, attackLog(2), "replay", "--events", "--", "-")
	if code != 0 || strings.Count(out, `"type":"event"`) != 2 {
		t.Errorf("exit %d, stderr %q, out %s", code, errs, out)
	}
}
