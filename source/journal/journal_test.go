package journal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx/testenv"
)

// waitFor bounds every blocking step of these tests.
const waitFor = 15 * time.Second

func needJournalctl(t *testing.T) string {
	return testenv.Program(t, "systemd", "journalctl")
}

func needRemote(t *testing.T) string {
	return testenv.Program(t, "systemd-journal-remote", "systemd-journal-remote", "/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
}

// journalDir is a directory of journal files written by the real
// systemd-journal-remote.
type journalDir struct {
	t      *testing.T
	dir    string
	remote string
}

func newJournalDir(t *testing.T) *journalDir {
	t.Helper()
	needJournalctl(t)
	return &journalDir{t: t, dir: t.TempDir(), remote: needRemote(t)}
}

// write appends records to the journal file name (created when missing).
func (d *journalDir) write(name string, rs ...record) {
	d.t.Helper()
	cmd := exec.Command(d.remote, "--output="+filepath.Join(d.dir, name), "--split-mode=none", "-")
	cmd.Stdin = bytes.NewReader(exportRecords(rs...))
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("systemd-journal-remote: %v: %s", err, out)
	}
}

func sshdRange(from, to int) []record {
	var rs []record
	for i := from; i <= to; i++ {
		rs = append(rs, sshd(i))
	}
	return rs
}

func open(t *testing.T, opt Options) (*Journal, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	j, err := Open(opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		_ = j.Close()
		if t.Failed() {
			t.Logf("stats %+v; log:\n%s", j.Stats(), logs)
		}
	})
	return j, logs
}

func next(t *testing.T, j *Journal) Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	e, err := j.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v (stats %+v)", err, j.Stats())
	}
	return e
}

// expectPorts reads entries until it has one per port wanted and compares
// their ports; it returns the entries.
func expectPorts(t *testing.T, j *Journal, from, to int) []Entry {
	t.Helper()
	var es []Entry
	for p := from; p <= to; p++ {
		e := next(t, j)
		if got := port(e); got != p {
			t.Fatalf("entry with port %d (%q), want port %d", got, e.Message, p)
		}
		es = append(es, e)
	}
	return es
}

// waitUntil polls cond until it holds, failing the test after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestEntriesInOrderWithFields(t *testing.T) {
	d := newJournalDir(t)
	d.write("remote.journal", sshdRange(1, 5)...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	es := expectPorts(t, j, 1, 5)
	e := es[0]
	if e.Host != "web1" || e.Identifier != "sshd" || e.PID != 1001 || e.Unit != "ssh.service" ||
		!e.Time.Equal(time.UnixMicro(sshd(1).realtime())) || !strings.HasPrefix(e.Cursor, "s=") {
		t.Fatalf("entry %+v", e)
	}
	if s := j.Stats(); s.Entries != 5 || s.DecodeErrors != 0 || s.Bytes == 0 {
		t.Fatalf("stats %+v", s)
	}
	if j.Cursor() != es[4].Cursor {
		t.Fatalf("Cursor() %q, want the last entry's %q", j.Cursor(), es[4].Cursor)
	}
}

// TestStartsAtEndAndFollows: without a cursor the old entries are history;
// entries appended later, and in a new file of the directory, are read.
func TestStartsAtEndAndFollows(t *testing.T) {
	d := newJournalDir(t)
	d.write("remote.journal", sshdRange(1, 3)...)
	j, _ := open(t, Options{Directory: d.dir})
	if j.Cursor() == "" {
		t.Fatal("Cursor() is empty after Open: the journal's end was not found")
	}
	d.write("remote.journal", sshdRange(4, 5)...)
	expectPorts(t, j, 4, 5)
	d.write("other.journal", sshd(6))
	expectPorts(t, j, 6, 6)
	d.write("remote.journal", sshd(7))
	expectPorts(t, j, 7, 7)
}

// TestEmptyDirectory: a journal without entries is read from its start once
// they come.
func TestEmptyDirectory(t *testing.T) {
	d := newJournalDir(t)
	j, _ := open(t, Options{Directory: d.dir})
	waitUntil(t, "journalctl to run", func() bool { return j.childPID() != 0 })
	d.write("remote.journal", sshdRange(1, 2)...)
	expectPorts(t, j, 1, 2)
}

// TestAcrossBoots: journalctl --follow shows only the current boot unless
// told otherwise; the entries of an earlier boot must be read too.
func TestAcrossBoots(t *testing.T) {
	d := newJournalDir(t)
	var rs []record
	for i := 1; i <= 4; i++ {
		r := sshd(i)
		if i <= 2 {
			r.boot = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		}
		rs = append(rs, r)
	}
	d.write("remote.journal", rs...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	expectPorts(t, j, 1, 4)
}

func TestResumeAfterCursor(t *testing.T) {
	d := newJournalDir(t)
	d.write("remote.journal", sshdRange(1, 5)...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	es := expectPorts(t, j, 1, 3)
	if j.Cursor() != es[2].Cursor {
		t.Fatalf("Cursor() %q, want the last entry returned, %q", j.Cursor(), es[2].Cursor)
	}
	_ = j.Close()
	if _, err := j.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	d.write("remote.journal", sshdRange(6, 7)...)
	j2, logs := open(t, Options{Directory: d.dir, Cursor: es[2].Cursor})
	expectPorts(t, j2, 4, 7)
	if s := j2.Stats(); s.CursorNotFound != 0 {
		t.Fatalf("cursor not found: %+v\n%s", s, logs)
	}
}

// TestKilledJournalctl: journalctl killed while entries are waiting and
// while idle; it is restarted, nothing is read twice or missed.
func TestKilledJournalctl(t *testing.T) {
	d := newJournalDir(t)
	d.write("remote.journal", sshdRange(1, 300)...)
	j, logs := open(t, Options{Directory: d.dir, FromStart: true, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	// kill kills the running journalctl. Entries it wrote before may still
	// wait in the pipe: the next one starts only after they are read, so
	// kill waits for a new one only when told.
	killed := 0
	kill := func(waitNew bool) bool {
		t.Helper()
		pid := j.childPID()
		if waitNew {
			waitUntil(t, "a new journalctl to run", func() bool { pid = j.childPID(); return pid != 0 && pid != killed })
		}
		if pid == 0 || pid == killed {
			return false
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill journalctl: %v", err)
		}
		killed = pid
		return true
	}
	kills := 0
	if kill(true) { // before anything was read
		kills++
	}
	p := 1
	for p < 300 {
		n := min(37, 301-p)
		expectPorts(t, j, p, p+n-1)
		p += n
		if kill(false) {
			kills++
		}
	}
	if kill(true) { // idle: everything was read
		kills++
	}
	waitUntil(t, "a restart per kill", func() bool { return j.Stats().Restarts >= int64(kills) })
	d.write("remote.journal", sshdRange(301, 305)...)
	expectPorts(t, j, 301, 305)
	t.Logf("%d kills", kills)
	if !strings.Contains(logs.String(), "journalctl stopped") {
		t.Fatalf("restart not logged:\n%s", logs)
	}
}

// TestRotation: the file being written is renamed (archived) and a new one
// takes its name, as journald rotates.
func TestRotation(t *testing.T) {
	d := newJournalDir(t)
	d.write("system.journal", sshdRange(1, 3)...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	expectPorts(t, j, 1, 3)
	archived := filepath.Join(d.dir, "system@00000000000000000000000000000001-0000000000000001-0000000000000001.journal")
	if err := os.Rename(filepath.Join(d.dir, "system.journal"), archived); err != nil {
		t.Fatal(err)
	}
	d.write("system.journal", sshdRange(4, 6)...)
	expectPorts(t, j, 4, 6)
	d.write("system.journal", sshd(7))
	expectPorts(t, j, 7, 7)
}

// TestVacuumedCursor: the saved cursor's file was deleted. journalctl
// --after-cursor would skip the next later entry; the source resumes at it
// and logs that the cursor was not found.
func TestVacuumedCursor(t *testing.T) {
	d := newJournalDir(t)
	d.write("old.journal", sshdRange(1, 5)...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	es := expectPorts(t, j, 1, 3)
	_ = j.Close()
	d.write("new.journal", sshdRange(6, 8)...)
	if err := os.Remove(filepath.Join(d.dir, "old.journal")); err != nil {
		t.Fatal(err)
	}
	j2, logs := open(t, Options{Directory: d.dir, Cursor: es[2].Cursor})
	expectPorts(t, j2, 6, 8)
	if s := j2.Stats(); s.CursorNotFound != 1 {
		t.Fatalf("CursorNotFound %d, want 1", s.CursorNotFound)
	}
	if !strings.Contains(logs.String(), "journal cursor not found") {
		t.Fatalf("not logged:\n%s", logs)
	}
}

func TestMatches(t *testing.T) {
	d := newJournalDir(t)
	rs := []record{
		{i: 1, ident: "sshd", unit: "ssh.service", pid: "11"},
		{i: 2, ident: "cron", unit: "cron.service", pid: "12"},
		{i: 3, ident: "sshd-session", pid: "13"},
		{i: 4, ident: "dropbear", unit: "dropbear.service", pid: "14"},
		{i: 5, ident: "sshd-auth", pid: "15"},
		{i: 6, ident: "other", unit: "ssh.service", pid: "16"},
		{i: 7, comm: "sshd", unit: "sshd.service", pid: "17"},
		{i: 8, ident: "sudo", pid: "18"},
		{i: 9, ident: "sshd", pid: "19"}, // the last one: all seen
	}
	d.write("remote.journal", rs...)
	for _, tc := range []struct {
		spec  string
		ports []int
		last  int
	}{
		{"journal:sshd", []int{1, 3, 5, 6, 7, 9}, 9},
		{"journal:dropbear", []int{4}, 4},
		{"journal:SYSLOG_IDENTIFIER=cron", []int{2}, 2},
		{"journal:_SYSTEMD_UNIT=ssh.service", []int{1, 6}, 6},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			spec, err := ParseSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			j, _ := open(t, Options{Directory: d.dir, FromStart: true, Spec: spec})
			var got []int
			for {
				p := port(next(t, j))
				got = append(got, p)
				if p == tc.last {
					break
				}
			}
			if !equalInts(got, tc.ports) {
				t.Fatalf("ports %v, want %v", got, tc.ports)
			}
		})
	}
}

func TestBinaryMessageFromJournal(t *testing.T) {
	d := newJournalDir(t)
	msgs := [][]byte{
		[]byte("Invalid user \xff\xfe\x01 from 192.0.2.9 port 1"),
		[]byte("first line from 192.0.2.9 port 2\nsecond line"),
		bytes.Repeat([]byte("x"), 100_000), // over MaxField: skipped
		[]byte("plain from 192.0.2.9 port 4"),
	}
	var rs []record
	for i, m := range msgs {
		r := sshd(i + 1)
		r.message = m
		rs = append(rs, r)
	}
	d.write("remote.journal", rs...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	for _, i := range []int{0, 1, 3} {
		if e := next(t, j); !bytes.Equal(e.Message, msgs[i]) {
			t.Fatalf("message %q, want %q", e.Message, msgs[i])
		}
	}
	if s := j.Stats(); s.Skipped != 1 || s.DecodeErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestJournalctlMissing(t *testing.T) {
	_, err := Open(Options{Journalctl: filepath.Join(t.TempDir(), "journalctl")})
	if err == nil || !strings.Contains(err.Error(), "install systemd") {
		t.Fatalf("Open: %v, want an error saying to install systemd", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = Open(Options{})
	if err == nil || !strings.Contains(err.Error(), "install systemd") {
		t.Fatalf("Open without journalctl in PATH: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	sh := fakeJournalctl(t, "exit 0")
	for _, opt := range []Options{
		{Journalctl: sh, Cursor: "s=1 2"},
		{Journalctl: sh, Cursor: "no equals sign"},
		{Journalctl: sh, MaxField: -1},
		{Journalctl: sh, MinBackoff: time.Second, MaxBackoff: time.Millisecond},
		{Journalctl: sh, Directory: filepath.Join(t.TempDir(), "missing")},
		{Journalctl: sh, Spec: Spec{Matches: []Match{{Field: "lower", Value: "x"}}}},
	} {
		if _, err := Open(opt); err == nil {
			t.Errorf("Open(%+v) succeeded", opt)
		}
	}
}

// TestJournalctlCursorBehaviour pins what this package relies on in
// journalctl itself: with a cursor whose entry is gone, --cursor starts at the
// next later entry. It also records what --after-cursor does then
// (systemd 252 skips that entry, which is why it is not used).
func TestJournalctlCursorBehaviour(t *testing.T) {
	d := newJournalDir(t)
	d.write("old.journal", sshdRange(1, 3)...)
	j, _ := open(t, Options{Directory: d.dir, FromStart: true})
	c2 := expectPorts(t, j, 1, 2)[1].Cursor
	_ = j.Close()
	d.write("new.journal", sshdRange(4, 6)...)
	if err := os.Remove(filepath.Join(d.dir, "old.journal")); err != nil {
		t.Fatal(err)
	}
	first := func(flag string) int {
		out, err := exec.Command(needJournalctl(t), "--directory="+d.dir, "--merge", "--no-pager", "--output=export", flag+c2).Output()
		if err != nil {
			t.Fatalf("journalctl %s: %v", flag, err)
		}
		es, _, _ := decodeAll(out, DefaultMaxField)
		if len(es) == 0 {
			return -1
		}
		return port(es[0])
	}
	if p := first("--cursor="); p != 4 {
		t.Fatalf("journalctl --cursor with a vacuumed cursor starts at port %d, want 4 (the next later entry)", p)
	}
	t.Logf("journalctl --after-cursor with a vacuumed cursor starts at port %d (4 would be right)", first("--after-cursor="))
}
