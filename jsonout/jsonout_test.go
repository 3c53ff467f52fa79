package jsonout

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzAppendString holds AppendString to encoding/json's output.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\b\f\n\r\t", "<>&", "\u2028\u2029", "\xff\xfe", "ü€😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("gone")
}

type sizes struct {
	bytes.Buffer
	writes []int
}

func (s *sizes) Write(p []byte) (int, error) {
	s.writes = append(s.writes, len(p))
	return s.Buffer.Write(p)
}

func TestChunked(t *testing.T) {
	var out sizes
	c := NewChunked(&out)
	for i := 0; i < 3*ChunkSize/10; i++ {
		c.Str("0123456789")
	}
	if len(out.writes) < 2 {
		t.Errorf("%d writes before Flush, want the buffer written chunk by chunk", len(out.writes))
	}
	for _, n := range out.writes {
		if n < ChunkSize || n > ChunkSize+10 {
			t.Errorf("a write of %d bytes: want about one chunk", n)
		}
	}
	if err := c.Flush(); err != nil || out.Len() != 3*ChunkSize/10*10 || strings.Trim(out.String(), "0123456789") != "" {
		t.Errorf("after Flush: %d bytes, err %v", out.Len(), err)
	}
	fw := &failWriter{}
	c = NewChunked(fw)
	for i := 0; i < 3*ChunkSize/10; i++ {
		c.Str("0123456789")
	}
	if c.Flush() == nil || fw.n != 1 {
		t.Errorf("a failing writer was written %d times, err %v: want once, and the error kept", fw.n, c.Err)
	}
}
