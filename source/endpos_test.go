package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEndPositionResumesAfterExistingLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\npartial"), 0o600); err != nil {
		t.Fatal(err)
	}
	pos, err := EndPosition(path)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Offset != int64(len("one\ntwo\nthree\n")) || pos.Line != 3 || pos.FirstLineHash == 0 || pos.Inode == 0 {
		t.Fatalf("EndPosition = %+v", pos)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" line\nfive\n")
	f.Close()
	tail, err := OpenTail(path, TailOptions{Start: &pos})
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []struct {
		line string
		num  int64
	}{{"partial line", 4}, {"five", 5}} {
		line, p, err := tail.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(line) != want.line || p.Line != want.num {
			t.Errorf("got %q (line %d), want %q (line %d)", line, p.Line, want.line, want.num)
		}
	}
}

func TestEndPositionMissingFile(t *testing.T) {
	if _, err := EndPosition(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("no error for a missing file")
	}
}
