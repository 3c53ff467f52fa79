package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"phalanx/testenv"
)

// waitFor bounds every blocking step of these tests.
const waitFor = 10 * time.Second

// modes runs f once with inotify and once polling, so that both ways of
// noticing changes are tested.
func modes(t *testing.T, f func(t *testing.T, opt TailOptions)) {
	t.Run("inotify", func(t *testing.T) { f(t, TailOptions{}) })
	t.Run("poll", func(t *testing.T) { f(t, TailOptions{Poll: 5 * time.Millisecond, disableNotify: true}) })
}

func openTail(t *testing.T, path string, opt TailOptions) (*Tail, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tl, err := OpenTail(path, opt)
	if err != nil {
		t.Fatalf("OpenTail: %v", err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	return tl, logs
}

func next(t *testing.T, tl *Tail) (string, Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	line, pos, err := tl.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return string(line), pos
}

// expectLines reads len(want) lines and compares text and line numbers
// (firstLine is the number of the first; 0 skips that check).
func expectLines(t *testing.T, tl *Tail, firstLine int64, want ...string) []Position {
	t.Helper()
	var poss []Position
	for i, w := range want {
		got, pos := next(t, tl)
		if got != w {
			t.Fatalf("line %d: got %q, want %q", i, got, w)
		}
		if firstLine > 0 && pos.Line != firstLine+int64(i) {
			t.Fatalf("line %q: number %d, want %d", got, pos.Line, firstLine+int64(i))
		}
		poss = append(poss, pos)
	}
	return poss
}

// expectNothing checks that no line comes within a short while. It is a
// check that nothing happens, not a wait for something to happen.
func expectNothing(t *testing.T, tl *Tail) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	line, _, err := tl.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got line %q, err %v; want nothing yet", line, err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func joinLines(lines []string) string {
	return strings.Join(lines, "\n") + "\n"
}

func TestTailAppend(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "a\nb\n")
		opt.FromStart = true
		tl, _ := openTail(t, path, opt)
		poss := expectLines(t, tl, 1, "a", "b")
		if poss[1].Offset != 4 || poss[1].Path != path || poss[1].Inode == 0 || poss[1].FirstLineHash == 0 {
			t.Fatalf("position %+v", poss[1])
		}
		appendTo(t, path, "c\n")
		expectLines(t, tl, 3, "c")
		appendTo(t, path, "partial")
		expectNothing(t, tl) // held until its newline is written
		appendTo(t, path, " line\r\n")
		poss = expectLines(t, tl, 4, "partial line")
		if poss[0].Offset != int64(len("a\nb\nc\npartial line\r\n")) {
			t.Fatalf("offset %d", poss[0].Offset)
		}
		if s := tl.Stats(); s.Lines != 4 || s.Polling != opt.disableNotify {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestTailFromEnd(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "old1\nold2\nhalf")
		tl, _ := openTail(t, path, opt)
		appendTo(t, path, "-written\nnew\n")
		// Starts at the last complete line's end, so the half-written line
		// comes whole, numbered after the lines before it.
		expectLines(t, tl, 3, "half-written", "new")
	})
}

func TestTailFileCreatedLater(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		dir := filepath.Join(t.TempDir(), "not", "yet")
		path := filepath.Join(dir, "auth.log")
		tl, _ := openTail(t, path, opt) // from the end: but a new file is all new
		expectNothing(t, tl)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		appendTo(t, path, "first\nsecond\n")
		expectLines(t, tl, 1, "first", "second")
		appendTo(t, path, "third\n")
		expectLines(t, tl, 3, "third")
	})
}

func TestTailRenameRotation(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "")
		opt.FromStart = true
		tl, logs := openTail(t, path, opt)

		// The writer keeps its descriptor: it writes to the old file
		// before and after the rename, until it reopens the path.
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		old := numbered("old", 0, 50)
		if _, err := w.WriteString(joinLines(old[:40])); err != nil {
			t.Fatal(err)
		}
		expectLines(t, tl, 1, old[:5]...) // the tail is mid-file at the rotation
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteString(joinLines(old[40:]) + "unfinished"); err != nil {
			t.Fatal(err)
		}
		appendTo(t, path, joinLines(numbered("new", 0, 30)))

		poss := expectLines(t, tl, 6, old[5:]...)
		// The old file's unfinished last line is not lost either.
		last, lastPos := next(t, tl)
		if last != "unfinished" || lastPos.Inode != poss[0].Inode {
			t.Fatalf("got %q at %+v, want the old file's last partial line", last, lastPos)
		}
		newPoss := expectLines(t, tl, 1, numbered("new", 0, 30)...)
		if newPoss[0].Inode == poss[0].Inode {
			t.Fatal("the new file's lines carry the old inode")
		}
		if s := tl.Stats(); s.Rotations != 1 || s.Truncations != 0 {
			t.Fatalf("stats %+v", s)
		}
		if !strings.Contains(logs.String(), "rotated") {
			t.Fatalf("rotation not logged:\n%s", logs)
		}
		expectNothing(t, tl)
	})
}

// TestTailRotationWhileReading rotates repeatedly while another goroutine
// reads, so the rename lands at every stage of the tail's work.
func TestTailRotationWhileReading(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "")
		opt.FromStart = true
		tl, _ := openTail(t, path, opt)

		const rotations, perFile = 5, 200
		var want []string
		got := make(chan []string, 1)
		var received atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		go func() {
			var lines []string
			for len(lines) < rotations*perFile+perFile {
				line, _, err := tl.Next(ctx)
				if err != nil {
					break
				}
				lines = append(lines, string(line))
				received.Add(1)
			}
			got <- lines
		}()
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= rotations; r++ {
			for i := range perFile {
				line := fmt.Sprintf("file%d line%03d", r, i)
				want = append(want, line)
				if _, err := w.WriteString(line + "\n"); err != nil {
					t.Fatal(err)
				}
				if i == perFile/2 && r < rotations {
					// One rotation at a time, as logrotate does: wait
					// (with a deadline) until the tail is in this file.
					deadline := time.Now().Add(waitFor)
					for received.Load() <= int64(r*perFile) && time.Now().Before(deadline) {
						runtime.Gosched()
					}
					if err := os.Rename(path, fmt.Sprintf("%s.%d", path, r)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if r < rotations { // the writer reopens, as after logrotate's HUP
				w.Close()
				if w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		w.Close()
		lines := <-got
		if !slices.Equal(lines, want) {
			t.Fatalf("got %d lines, want %d; first difference at %d", len(lines), len(want), firstDiff(lines, want))
		}
		if s := tl.Stats(); s.Rotations != rotations {
			t.Fatalf("rotations %d, want %d", s.Rotations, rotations)
		}
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTailCopyTruncate(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, joinLines(numbered("before", 0, 10)))
		opt.FromStart = true
		tl, logs := openTail(t, path, opt)
		expectLines(t, tl, 1, numbered("before", 0, 10)...)

		// copytruncate: copy, then truncate in place; the file shrinks.
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".1", data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendTo(t, path, "after0\nafter1\n")
		expectLines(t, tl, 1, "after0", "after1")
		if s := tl.Stats(); s.Truncations != 1 {
			t.Fatalf("truncations %d, want 1", s.Truncations)
		}
		if !strings.Contains(logs.String(), "truncated") {
			t.Fatalf("truncation not logged:\n%s", logs)
		}

		// Truncated and written past the old offset before the tail looked:
		// the first line changed, so the tail starts over rather than
		// reading from the middle of a line.
		long := numbered("rewritten with a longer line ", 0, 10)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendTo(t, path, joinLines(long))
		expectLines(t, tl, 1, long...)
		if s := tl.Stats(); s.Truncations != 2 {
			t.Fatalf("truncations %d, want 2", s.Truncations)
		}
	})
}

func TestTailResume(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		lines := numbered("l", 0, 10)
		appendTo(t, path, joinLines(lines[:6]))
		first := opt
		first.FromStart = true
		tl, _ := openTail(t, path, first)
		poss := expectLines(t, tl, 1, lines[:4]...)
		saved, err := json.Marshal(poss[3])
		if err != nil {
			t.Fatal(err)
		}
		if err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tl.Next(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}

		appendTo(t, path, joinLines(lines[6:])) // written while stopped
		var start Position
		if err := json.Unmarshal(saved, &start); err != nil {
			t.Fatal(err)
		}
		second := opt
		second.Start = &start
		tl2, _ := openTail(t, path, second)
		expectLines(t, tl2, 5, lines[4:]...)
		expectNothing(t, tl2)
	})
}

func TestTailResumeAfterRotationWhileStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, "a\nb\n")
	tl, _ := openTail(t, path, TailOptions{FromStart: true})
	poss := expectLines(t, tl, 1, "a")
	tl.Close()

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "c\n")
	tl2, logs := openTail(t, path, TailOptions{Start: &poss[0]})
	expectLines(t, tl2, 1, "c")
	if !strings.Contains(logs.String(), "replaced since the saved position") {
		t.Fatalf("not logged:\n%s", logs)
	}
}

// TestTailInodeReuse gives the saved position's device and inode to a file
// with other content, as a reused inode would: the first line tells them
// apart. (Rewriting in place makes the same inode certain; a real delete and
// create reuses it only sometimes.)
func TestTailInodeReuse(t *testing.T) {
	for _, tc := range []struct {
		name, before, after string
		wantFromStart       bool
	}{
		{"other first line", "one\ntwo\nthree\n", "uno\ndos\ntres\ncuatro\n", true},
		{"same first line", "one\ntwo\nthree\n", "one\ntwo\nthree\nfour\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "auth.log")
			appendTo(t, path, tc.before)
			tl, _ := openTail(t, path, TailOptions{FromStart: true})
			poss := expectLines(t, tl, 1, "one", "two")
			tl.Close()

			if err := os.WriteFile(path, []byte(tc.after), 0o644); err != nil { // same inode
				t.Fatal(err)
			}
			tl2, logs := openTail(t, path, TailOptions{Start: &poss[1]})
			got, pos := next(t, tl2)
			if tc.wantFromStart {
				if got != "uno" || pos.Line != 1 {
					t.Fatalf("got %q (line %d), want the reused inode's file from its start", got, pos.Line)
				}
				if !strings.Contains(logs.String(), "first line differs") {
					t.Fatalf("not logged:\n%s", logs)
				}
			} else if got != "three" || pos.Line != 3 {
				t.Fatalf("got %q (line %d), want to resume at line 3", got, pos.Line)
			}
		})
	}
}

func TestTailResumeBeyondEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, "a\nb\nc\n")
	tl, _ := openTail(t, path, TailOptions{FromStart: true})
	poss := expectLines(t, tl, 1, "a", "b", "c")
	tl.Close()
	if err := os.Truncate(path, 2); err != nil { // "a\n" is left: same first line
		t.Fatal(err)
	}
	appendTo(t, path, "d\n")
	tl2, _ := openTail(t, path, TailOptions{Start: &poss[2]})
	expectLines(t, tl2, 1, "a", "d")
	if s := tl2.Stats(); s.Truncations != 1 {
		t.Fatalf("truncations %d, want 1", s.Truncations)
	}
}

func TestTailOverlongLine(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "")
		opt.FromStart = true
		tl, _ := openTail(t, path, opt)
		appendTo(t, path, "short1\n")
		expectLines(t, tl, 1, "short1")

		// 1 MB in pieces, with the tail looking in between: nothing of it
		// may come out, not even the forged line at its end.
		long := strings.Repeat("A", 1<<20-64)
		appendTo(t, path, long[:300<<10])
		expectNothing(t, tl)
		appendTo(t, path, long[300<<10:])
		expectNothing(t, tl)
		appendTo(t, path, "Failed password for root from 192.0.2.1\nshort2\r\n")
		expectLines(t, tl, 3, "short2")
		if s := tl.Stats(); s.Skipped != 1 {
			t.Fatalf("skipped %d, want 1", s.Skipped)
		}
	})
}

func TestTailDeletedThenRecreated(t *testing.T) {
	modes(t, func(t *testing.T, opt TailOptions) {
		path := filepath.Join(t.TempDir(), "auth.log")
		appendTo(t, path, "a\n")
		opt.FromStart = true
		tl, _ := openTail(t, path, opt)
		tl.mu.Lock()
		tl.releaseIdle = time.Millisecond // let go of a deleted file at once
		tl.mu.Unlock()
		expectLines(t, tl, 1, "a")
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		expectNothing(t, tl)
		appendTo(t, path, "b\n")
		expectLines(t, tl, 1, "b")
		if s := tl.Stats(); s.Rotations != 1 {
			t.Fatalf("rotations %d, want 1", s.Rotations)
		}
	})
}

func TestTailCloseEndsNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	tl, _ := openTail(t, path, TailOptions{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := tl.Next(context.Background())
		errc <- err
	}()
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Next still blocked after Close")
	}
}

func TestOpenTailErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		opt  TailOptions
	}{
		{"empty path", "", TailOptions{}},
		{"negative max line", filepath.Join(dir, "x"), TailOptions{MaxLine: -1}},
		{"negative poll", filepath.Join(dir, "x"), TailOptions{Poll: -time.Second}},
		{"directory", dir, TailOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, err := OpenTail(tc.path, tc.opt)
			if err == nil {
				tl.Close()
				t.Fatal("want an error")
			}
		})
	}
}

// TestTailLatency logs how long a line takes from write to Next. It asserts
// only that every line arrives.
func TestTailLatency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	appendTo(t, path, "")
	tl, _ := openTail(t, path, TailOptions{})
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var took []time.Duration
	for i := range 50 {
		start := time.Now()
		if _, err := io.WriteString(w, fmt.Sprintf("line %d\n", i)); err != nil {
			t.Fatal(err)
		}
		expectLines(t, tl, int64(i+1), fmt.Sprintf("line %d", i))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("append→Next latency: median %v, max %v (polling=%v)", took[len(took)/2], took[len(took)-1], tl.Stats().Polling)
}

// BenchmarkTailCatchUp reads a file that is already written, as a tail does
// after a restart or a burst, to show the cost of the per-read checks.
func BenchmarkTailCatchUp(b *testing.B) {
	path := filepath.Join(b.TempDir(), "auth.log")
	line := "Jan  1 00:00:00 host sshd[12345]: Failed password for invalid user admin from 203.0.113.7 port 52314 ssh2\n"
	const n = 200_000
	if err := os.WriteFile(path, []byte(strings.Repeat(line, n)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)) * n)
	for range b.N {
		tl, err := OpenTail(path, TailOptions{FromStart: true})
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if _, _, err := tl.Next(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		tl.Close()
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "lines/s")
}
