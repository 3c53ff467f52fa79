package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"phalanx/source/journal"
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

// TestChooseServiceDefaults: with nothing configured, the services found
// installed are watched too: their log files that are being written, once
// each even when two services share one, else their journal entries, else
// their stale log files; services not installed are not looked for.
func TestChooseServiceDefaults(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	postfixBin := write("postfix", 0)
	dovecotBin := write("dovecot", 0)
	mysqlBin := write("mariadbd", 0)
	mailLog := write("mail.log", time.Hour)
	mysqlLog := write("error.log", 30*24*time.Hour)
	pgLog := write("postgresql-16-main.log", time.Minute)
	table := []serviceDefault{
		{"postfix", []string{postfixBin}, []string{mailLog, filepath.Join(dir, "maillog")}, true},
		{"dovecot", []string{filepath.Join(dir, "nope"), dovecotBin}, []string{mailLog}, true},
		{"mysql", []string{mysqlBin}, []string{mysqlLog}, true},
		{"postgresql", []string{dir}, []string{filepath.Join(dir, "postgresql-*.log")}, true},
		{"pure-ftpd", []string{postfixBin}, nil, true},
		{"vsftpd", []string{filepath.Join(dir, "vsftpd")}, []string{mailLog}, true}, // not installed
	}
	fake := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	choose := func(journalctl string) []string {
		return chooseServiceDefaults(sourceOptions{serviceLogs: table, journalctl: journalctl, now: now}, log)
	}
	want := []string{"postfix:" + mailLog, "journal:mysql", "postgresql:" + pgLog, "journal:pure-ftpd"}
	if got := choose(fake); !slices.Equal(got, want) {
		t.Errorf("with journalctl: %v, want %v", got, want)
	}
	want = []string{"postfix:" + mailLog, "mysql:" + mysqlLog, "postgresql:" + pgLog}
	if got := choose(filepath.Join(dir, "no-journalctl")); !slices.Equal(got, want) {
		t.Errorf("without journalctl: %v, want %v", got, want)
	}
	if got := chooseServiceDefaults(sourceOptions{defaultLogs: []string{mailLog}, now: now}, log); got != nil {
		t.Errorf("a caller pretending to be another host: %v, want none", got)
	}
	// Every built-in default names a service that sources accept.
	for _, sd := range defaultServiceLogs {
		if err := (sourceOptions{}).check(sd.service); err != nil {
			t.Errorf("default service %q: %v", sd.service, err)
		}
		if _, err := journal.ParseSpec("journal:" + sd.service); sd.journal && err != nil {
			t.Errorf("default service %q has no journal: source: %v", sd.service, err)
		}
	}
}
