package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// readAll drains a Reader, recording each line with its number and offset.
func readAll(t testing.TB, r *Reader) []gotLine {
	t.Helper()
	var got []gotLine
	for {
		line, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, gotLine{string(line), r.Line(), r.Offset()})
		if len(got) > 1<<20 {
			t.Fatal("too many lines")
		}
	}
}

type gotLine struct {
	Text   string
	Line   int64
	Offset int64
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []gotLine
		skipped int64
	}{
		{"empty", "", 10, nil, 0},
		{"one line", "abc\n", 10, []gotLine{{"abc", 1, 4}}, 0},
		{"final line without newline", "abc\ndef", 10, []gotLine{{"abc", 1, 4}, {"def", 2, 7}}, 0},
		{"empty lines", "\n\nx\n", 10, []gotLine{{"", 1, 1}, {"", 2, 2}, {"x", 3, 4}}, 0},
		{"crlf stripped", "a\r\nb\r\n", 10, []gotLine{{"a", 1, 3}, {"b", 2, 6}}, 0},
		{"only one cr stripped", "a\r\r\n", 10, []gotLine{{"a\r", 1, 4}}, 0},
		{"cr in the middle kept", "a\rb\n", 10, []gotLine{{"a\rb", 1, 4}}, 0},
		{"final cr without newline kept", "a\r", 10, []gotLine{{"a\r", 1, 2}}, 0},
		{"exactly max", "12345\nx\n", 5, []gotLine{{"12345", 1, 6}, {"x", 2, 8}}, 0},
		{"exactly max with crlf", "12345\r\nx\n", 5, []gotLine{{"12345", 1, 7}, {"x", 2, 9}}, 0},
		{"max plus one skipped", "123456\nx\n", 5, []gotLine{{"x", 2, 9}}, 1},
		{"max plus one with crlf skipped", "123456\r\nx\n", 5, []gotLine{{"x", 2, 10}}, 1},
		{"overlong final line skipped", "x\n123456", 5, []gotLine{{"x", 1, 2}}, 1},
		{"final line of max plus one skipped", "x\n12345\r", 5, []gotLine{{"x", 1, 2}}, 1},
		{"two overlong in a row", "1234567890\n1234567890\nok\n", 5, []gotLine{{"ok", 3, 25}}, 2},
		{"overlong is not split", strings.Repeat("a", 20) + "\n", 5, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through chunks of every size, so the buffer edges fall
			// everywhere.
			for chunk := 1; chunk <= len(tc.in)+1; chunk++ {
				r := NewReader(&chunkReader{data: []byte(tc.in), sizes: []byte{byte(chunk)}}, tc.max)
				got := readAll(t, r)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("chunk %d: got %v, want %v", chunk, got, tc.want)
				}
				if r.Skipped() != tc.skipped {
					t.Fatalf("chunk %d: skipped %d, want %d", chunk, r.Skipped(), tc.skipped)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("Next after EOF: %v, want io.EOF again", err)
				}
			}
		})
	}
}

func TestReaderLongLineSkippedWhole(t *testing.T) {
	long := bytes.Repeat([]byte("A"), 1<<20)
	// A forged line hides inside the long one: it must not come out.
	copy(long[len(long)-100:], "Failed password for root from 10.0.0.1")
	in := "before\n" + string(long) + "\nafter\n"
	r := NewReader(strings.NewReader(in), 0)
	got := readAll(t, r)
	want := []gotLine{{"before", 1, 7}, {"after", 3, int64(len(in))}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %.200v, want %v", got, want)
	}
	if r.Skipped() != 1 {
		t.Fatalf("skipped %d, want 1", r.Skipped())
	}
	if len(r.buf) > readerBufSize {
		t.Fatalf("buffer grew to %d for a line it skips", len(r.buf))
	}
}

func TestReaderLargeMaxGrowsBuffer(t *testing.T) {
	line := strings.Repeat("b", 600<<10)
	r := NewReader(strings.NewReader("a\n"+line+"\nc\n"), 1<<20)
	got := readAll(t, r)
	if len(got) != 3 || got[1].Text != line || got[2].Text != "c" {
		t.Fatalf("got %d lines, want the long one kept", len(got))
	}
	if r.Skipped() != 0 {
		t.Fatalf("skipped %d", r.Skipped())
	}
}

type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(&errReader{data: []byte("a\npartial"), err: boom}, 0)
	if line, err := r.Next(); err != nil || string(line) != "a" {
		t.Fatalf("got %q, %v", line, err)
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the reader's error, sticky", err)
		}
	}

	r = NewReader(&errReader{err: nil}, 0) // (0, nil) forever
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}

	r = NewReader(badCountReader{}, 0)
	if _, err := r.Next(); err == nil {
		t.Fatal("an impossible read count must be an error")
	}
}

type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderNoAllocs(t *testing.T) {
	src := &loopReader{block: bytes.Repeat([]byte("Jan  1 00:00:00 host sshd[1]: Failed password\n"), 1000)}
	r := NewReader(src, 0)
	allocs := testing.AllocsPerRun(10000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per line, want 0", allocs)
	}
}

// chunkReader returns data in reads of the sizes given, in turn; a size of
// 0 is a (0, nil) read. A size with the high bit set hands io.EOF together
// with the last bytes.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
	zeros int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	s := byte(1)
	if len(c.sizes) > 0 {
		s = c.sizes[c.i%len(c.sizes)]
		c.i++
	}
	n := int(s & 0x7f)
	if n == 0 && c.zeros < 5 {
		c.zeros++
		return 0, nil
	}
	c.zeros = 0
	if n == 0 {
		n = 1
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	if len(c.data) == 0 && s&0x80 != 0 {
		return n, io.EOF
	}
	return n, nil
}

// splitLines is the reference: the lines that bytes.Split finds, with the
// rules the Reader documents.
func splitLines(data []byte, max int) (want []gotLine, skipped int64) {
	parts := bytes.Split(data, []byte("\n"))
	var off int64
	for i, p := range parts {
		last := i == len(parts)-1
		if last && len(p) == 0 {
			break
		}
		off += int64(len(p))
		if !last {
			off++
			p = bytes.TrimSuffix(p, []byte("\r"))
		}
		if len(p) > max {
			skipped++
			continue
		}
		want = append(want, gotLine{string(p), int64(i + 1), off})
	}
	return want, skipped
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), []byte{1, 2, 3}, uint8(4))
	f.Add([]byte("0123456789\nab\n\n\r\n"), []byte{0, 0x85, 7}, uint8(3))
	f.Add([]byte(strings.Repeat("x", 300)+"\nshort\n"), []byte{64, 0, 200}, uint8(10))
	f.Add([]byte("no newline at all"), []byte{0x83}, uint8(0))
	f.Fuzz(func(t *testing.T, data, sizes []byte, max uint8) {
		m := int(max)%64 + 1
		want, skipped := splitLines(data, m)
		r := newReader(&chunkReader{data: data, sizes: sizes}, m, 16+int(max)%48)
		got := readAll(t, r)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("max %d:\n got %+v\nwant %+v", m, got, want)
		}
		if r.Skipped() != skipped {
			t.Fatalf("skipped %d, want %d", r.Skipped(), skipped)
		}
		if len(r.buf) > m+2 {
			t.Fatalf("buffer grew to %d for max %d", len(r.buf), m)
		}
	})
}

// loopReader returns block over and over.
type loopReader struct {
	block []byte
	off   int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.block[l.off:])
	l.off = (l.off + n) % len(l.block)
	return n, nil
}

func BenchmarkReader(b *testing.B) {
	for _, bc := range []struct {
		name string
		line string
	}{
		{"short", "Jan  1 00:00:00 h x\n"},
		{"sshd", "Jan  1 00:00:00 host sshd[12345]: Failed password for invalid user admin from 203.0.113.7 port 52314 ssh2\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			block := bytes.Repeat([]byte(bc.line), (1<<20)/len(bc.line))
			block = block[:len(block)/len(bc.line)*len(bc.line)]
			r := NewReader(&loopReader{block: block}, 0)
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
