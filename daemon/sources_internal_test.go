package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestChooseDefaults: with nothing configured, `phalanx run` watches the
// sshd log file that is being written, otherwise the journal's sshd entries
// (a stock Debian 12 host), otherwise a stale log file, otherwise nothing.
func TestChooseDefaults(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	auth := filepath.Join(dir, "auth.log")
	secure := filepath.Join(dir, "secure")
	fake := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-journalctl")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	choose := func(journalctl string) []string {
		return chooseDefaults(sourceOptions{defaultLogs: []string{auth, secure}, journalctl: journalctl, now: now}, log)
	}
	if got := choose(fake); !slices.Equal(got, []string{"journal:sshd"}) {
		t.Errorf("no log files, journalctl present: %v, want the journal", got)
	}
	if got := choose(missing); got != nil {
		t.Errorf("no log files, no journalctl: %v, want nothing", got)
	}
	if err := os.WriteFile(secure, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(secure, old, old); err != nil {
		t.Fatal(err)
	}
	if got := choose(fake); !slices.Equal(got, []string{"journal:sshd"}) {
		t.Errorf("a stale secure, journalctl present: %v, want the journal", got)
	}
	if got := choose(missing); !slices.Equal(got, []string{secure}) {
		t.Errorf("a stale secure, no journalctl: %v, want the stale file", got)
	}
	if err := os.WriteFile(auth, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := choose(fake); !slices.Equal(got, []string{auth}) {
		t.Errorf("auth.log being written: %v, want it", got)
	}
}

// TestChooseWebDefaults: with nothing configured, the web servers' logs
// that exist are watched too, each as its server's.
func TestChooseWebDefaults(t *testing.T) {
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	errs := filepath.Join(dir, "error.log")
	logs := []string{"nginx:" + access, "apache:" + errs, "nginx:" + dir}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if got := chooseWebDefaults(sourceOptions{webLogs: logs}, log); got != nil {
		t.Errorf("no web logs: %v, want none", got)
	}
	if err := os.WriteFile(access, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := chooseWebDefaults(sourceOptions{webLogs: logs}, log); !slices.Equal(got, []string{"nginx:" + access}) {
		t.Errorf("an nginx access log: %v, want it and not the directory", got)
	}
}
