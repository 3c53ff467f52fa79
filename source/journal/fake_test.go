package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeJournalctl writes a shell script that stands in for journalctl; it
// appends its arguments, one run per line, to the file args next to it.
func fakeJournalctl(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "journalctl")
	script := "#!/bin/sh\necho \"$*\" >> " + filepath.Join(dir, "args") + "\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeRuns returns the arguments of each run of a fake journalctl.
func fakeRuns(path string) []string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "args"))
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// writeData writes data next to the fake for it to print.
func writeData(t *testing.T, fake, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(fake), name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFakeExitsAtOnce(t *testing.T) {
	fake := fakeJournalctl(t, "echo 'Failed to open journal: oops' >&2\nexit 1")
	j, logs := open(t, Options{Journalctl: fake, FromStart: true, MinBackoff: time.Millisecond, MaxBackoff: 8 * time.Millisecond})
	waitUntil(t, "20 restarts", func() bool { return j.Stats().Restarts >= 20 })
	s := j.Stats()
	if s.StderrLines < 20 {
		t.Fatalf("stderr lines %d, want at least 20", s.StderrLines)
	}
	// Rate-limited: a few lines per minute, not one per retry.
	if n := strings.Count(logs.String(), "journalctl stopped"); n < 1 || n > 3 {
		t.Fatalf("%d restart log lines for %d restarts:\n%s", n, s.Restarts, logs)
	}
	if n := strings.Count(logs.String(), "journalctl says"); n < 1 || n > 10 {
		t.Fatalf("%d stderr log lines for %d:\n%s", n, s.StderrLines, logs)
	}
	if !strings.Contains(logs.String(), "oops") {
		t.Fatalf("journalctl's complaint not logged:\n%s", logs)
	}
}

// TestFakeBackoffGrows: runs that deliver nothing are started again after
// a wait that doubles.
func TestFakeBackoffGrows(t *testing.T) {
	fake := fakeJournalctl(t, "exit 1")
	start := time.Now()
	j, _ := open(t, Options{Journalctl: fake, FromStart: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond})
	waitUntil(t, "6 restarts", func() bool { return j.Stats().Restarts >= 6 })
	// 10+20+40+80+80 ms at least before the sixth run.
	if d := time.Since(start); d < 230*time.Millisecond {
		t.Fatalf("6 restarts in %v: backoff is not growing", d)
	}
}

// TestFakeGarbage: garbage around a good entry; journalctl prints the same
// again on every run, and the entry is returned once.
func TestFakeGarbage(t *testing.T) {
	fake := fakeJournalctl(t, `cat "$(dirname "$0")/data"`)
	data := []byte("garbage without equals\n\x00\x01\x02\nMESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff\n\n")
	data = append(data, sshd(1).withCursor()...)
	data = append(data, "MESSAGE\n\x02\x00\x00\x00\x00\x00\x00\x00abcdef\n\n"...)
	writeData(t, fake, "data", data)
	j, _ := open(t, Options{Journalctl: fake, FromStart: true, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	expectPorts(t, j, 1, 1)
	waitUntil(t, "5 restarts", func() bool { return j.Stats().Restarts >= 5 })
	s := j.Stats()
	if s.Entries != 1 || s.DecodeErrors < 5 {
		t.Fatalf("stats %+v", s)
	}
	runs := fakeRuns(fake)
	if len(runs) < 2 || !strings.Contains(runs[1], "--cursor="+string(cursorOf(sshd(1)))) {
		t.Fatalf("second run did not resume at the entry returned: %q", runs)
	}
}

func cursorOf(r record) []byte {
	line := r.withCursor()
	return line[len("__CURSOR="):strings.IndexByte(string(line), '\n')]
}

// TestFakeHugeField: a MESSAGE of 1 MiB is skipped without being kept; the
// next entry comes; journalctl keeps running.
func TestFakeHugeField(t *testing.T) {
	fake := fakeJournalctl(t, `cat "$(dirname "$0")/data"; exec sleep 600`)
	huge := sshd(1)
	huge.message = []byte(strings.Repeat("A", 1<<20))
	bin := sshd(2)
	bin.message = append([]byte{0xff, '\n'}, make([]byte, 1<<20)...)
	var data []byte
	data = append(data, huge.withCursor()...)
	data = append(data, bin.withCursor()...)
	data = append(data, sshd(3).withCursor()...)
	writeData(t, fake, "data", data)
	j, _ := open(t, Options{Journalctl: fake, FromStart: true})
	expectPorts(t, j, 3, 3)
	if s := j.Stats(); s.Skipped != 2 || s.Oversize != 2 || s.Restarts != 0 || s.Bytes < 2<<20 {
		t.Fatalf("stats %+v", s)
	}
	done := make(chan error)
	go func() { done <- j.Close() }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Close did not return")
	}
}

// TestFakeArguments checks what journalctl is told.
func TestFakeArguments(t *testing.T) {
	fake := fakeJournalctl(t, "exit 0")
	dir := t.TempDir()
	spec, err := ParseSpec("journal:dropbear")
	if err != nil {
		t.Fatal(err)
	}
	j, _ := open(t, Options{Journalctl: fake, Directory: dir, Spec: spec, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	waitUntil(t, "a follow run", func() bool { return len(fakeRuns(fake)) >= 2 })
	_ = j.Close()
	runs := fakeRuns(fake)
	want := []string{
		"--directory=" + dir + " --merge --no-pager --output=export --lines=1 --output-fields=__CURSOR -- SYSLOG_IDENTIFIER=dropbear + _SYSTEMD_UNIT=dropbear.service",
		"--directory=" + dir + " --merge --no-pager --output=export --follow --lines=all --output-fields=" + outputFields + " -- SYSLOG_IDENTIFIER=dropbear + _SYSTEMD_UNIT=dropbear.service",
	}
	for i, w := range want {
		if runs[i] != w {
			t.Errorf("run %d:\n got %s\nwant %s", i, runs[i], w)
		}
	}
}

// TestFakeRejectedCursor: journalctl refuses the saved cursor; the source
// says so and starts at the journal's end instead of retrying forever.
func TestFakeRejectedCursor(t *testing.T) {
	fake := fakeJournalctl(t, `case "$*" in
*--cursor=*) echo "Failed to seek to cursor: Invalid argument" >&2; exit 1 ;;
*--follow*) exec sleep 600 ;;
esac
exit 0`)
	j, logs := open(t, Options{Journalctl: fake, Cursor: "s=1;i=2", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	waitUntil(t, "the third run", func() bool { return len(fakeRuns(fake)) >= 3 })
	runs := fakeRuns(fake)
	if !strings.Contains(runs[0], "--cursor=s=1;i=2") || !strings.Contains(runs[1], "--lines=1") ||
		!strings.Contains(runs[2], "--follow") || strings.Contains(runs[2], "--cursor") {
		t.Fatalf("runs:\n%s", strings.Join(runs, "\n"))
	}
	waitUntil(t, "the error logged", func() bool { return strings.Contains(logs.String(), "rejects the saved cursor") })
	if len(fakeRuns(fake)) != 3 || j.Stats().Restarts != 1 {
		t.Fatalf("runs %d, stats %+v", len(fakeRuns(fake)), j.Stats())
	}
}
