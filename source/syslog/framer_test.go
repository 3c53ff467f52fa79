package syslog

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// frameAll feeds the stream to a framer in chunks of size and returns the
// messages and the count of each error.
func frameAll(stream []byte, max, size int) (msgs []string, oversize, framing int) {
	f := newFramer(max)
	r := &chunked{b: stream, size: size}
	for {
		m, err := f.next()
		switch {
		case err == nil:
			msgs = append(msgs, string(m))
			continue
		case errors.Is(err, errOversize):
			oversize++
			continue
		case errors.Is(err, errFraming):
			framing++
			return
		}
		if _, err := f.fill(r); err != nil {
			return
		}
	}
}

type chunked struct {
	b    []byte
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func TestFramer(t *testing.T) {
	const rfc5424 = "<34>1 2026-12-06T14:00:00Z h sshd 12 - - Failed password for root from 192.0.2.1 port 22 ssh2"
	const rfc3164 = "<38>Dec  6 14:00:00 h sshd[12]: Invalid user x from 192.0.2.2"
	oc := func(m string) string { return itoa(len(m)) + " " + m }
	tests := []struct {
		name     string
		stream   string
		max      int
		want     []string
		oversize int
		framing  int
	}{
		{"lf", rfc3164 + "\n" + rfc5424 + "\n", 0, []string{rfc3164, rfc5424}, 0, 0},
		{"crlf and blank lines", rfc3164 + "\r\n\r\n\n" + rfc5424 + "\r\n", 0, []string{rfc3164, rfc5424}, 0, 0},
		{"nul trailer", rfc3164 + "\x00" + rfc5424 + "\x00", 0, []string{rfc3164, rfc5424}, 0, 0},
		{"octet counting", oc(rfc5424) + oc(rfc3164), 0, []string{rfc5424, rfc3164}, 0, 0},
		{"octet counting with a newline between", oc(rfc5424) + "\n" + oc(rfc3164), 0, []string{rfc5424, rfc3164}, 0, 0},
		{"mixed", oc(rfc5424) + rfc3164 + "\n", 0, []string{rfc5424, rfc3164}, 0, 0},
		{"octet message holding newlines: one line, never two", oc("<13>a\nb\n<38>forged\r\n"), 0, []string{"<13>a b <38>forged"}, 0, 0},
		{"octet message with a NUL trailer", oc("<13>a\x00"), 0, []string{"<13>a"}, 0, 0},
		{"binary passes through", "<13>\xff\xfe\x01\x7f\n" + oc("<13>\x00\xc3("), 0, []string{"<13>\xff\xfe\x01\x7f", "<13>\x00\xc3("}, 0, 0},
		{"a line of exactly the limit", strings.Repeat("C", 100) + "\r\n" + strings.Repeat("D", 101) + "\n", 100, []string{strings.Repeat("C", 100)}, 1, 0},
		{"an octet message of exactly the limit", "100 <" + strings.Repeat("E", 99) + "101 <" + strings.Repeat("F", 100) + "5 <13>x", 100, []string{"<" + strings.Repeat("E", 99), "<13>x"}, 1, 0},
		{"a count that lies: too short", "10 <13>abcdefghijk\n", 0, []string{"<13>abcdef", "ghijk"}, 0, 0},
		{"a count that lies: too long, eating the next message", "30 <13>short\n" + oc(rfc3164) + "\n", 0, []string{"<13>short 61 <38>Dec  6 14:00:", "00 h sshd[12]: Invalid user x from 192.0.2.2"}, 0, 0},
		{"a line starting with a number", "2026-12-06T14:00:00 h sshd[1]: x\n123 not a count\n", 0, []string{"2026-12-06T14:00:00 h sshd[1]: x", "123 not a count"}, 0, 0},
		{"eleven digits are no count", "12345678901 <x\n", 0, []string{"12345678901 <x"}, 0, 0},
		{"oversize line, then a good one", strings.Repeat("A", 300) + "\n" + rfc3164 + "\n", 100, []string{rfc3164}, 1, 0},
		{"oversize octet message, then a good one", "300 <" + strings.Repeat("B", 299) + oc(rfc3164), 100, []string{rfc3164}, 1, 0},
		{"a count that lies: huge", "99999999999 <x\n", 0, []string{"99999999999 <x"}, 0, 0},
		{"a count that lies: 9999999999", "9999999999 <x", 100, nil, 1, 0},
		{"zero count", "0 <x", 0, nil, 0, 1},
		{"cut off", rfc3164, 0, nil, 0, 0},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 7, 4096} {
			max := tt.max
			if max == 0 {
				max = DefaultMaxLine
			}
			got, over, fr := frameAll([]byte(tt.stream), max, size)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || over != tt.oversize || fr != tt.framing {
				t.Errorf("%s (chunks of %d): got %q oversize %d framing %d, want %q oversize %d framing %d",
					tt.name, size, got, over, fr, tt.want, tt.oversize, tt.framing)
			}
		}
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// FuzzFrame: any stream, in any chunking, never panics, never stalls with
// a full buffer, never returns an empty message, one longer than the limit
// or one holding '\n' (or a NUL outside an octet-counted frame), and frames
// the same whether it comes in one read or byte by byte.
func FuzzFrame(f *testing.F) {
	f.Add([]byte("12 <13>abcdefgh\n<14>x\n"), uint8(3))
	f.Add([]byte("999999 <"+strings.Repeat("x", 100)), uint8(1))
	f.Add([]byte(strings.Repeat("7", 20)+" <\x00\n\r"), uint8(5))
	f.Add([]byte("9 <13>a\nb\n\n\r\n64 <"+strings.Repeat("y", 63)+"\r\n"+strings.Repeat("z", 64)+"\r\n"), uint8(2))
	f.Add([]byte("0 <x\n1 <2 <<"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		const max = 64
		run := func(size int) (msgs []string, oversize, framing int) {
			fr := newFramer(max)
			r := &chunked{b: bytes.Clone(data), size: size}
			for steps := 0; steps < 1000000; steps++ {
				m, err := fr.next()
				switch {
				case err == nil:
					if len(m) == 0 || len(m) > max || bytes.IndexByte(m, '\n') >= 0 || bytes.IndexByte(m, 0) >= 0 && m[0] != '<' {
						t.Fatalf("message %q: empty, over the limit, or holding a newline or a NUL", m)
					}
					msgs = append(msgs, string(m))
					continue
				case errors.Is(err, errOversize):
					oversize++
					continue
				case errors.Is(err, errFraming):
					framing++
					return
				}
				if _, err := fr.fill(r); err != nil {
					if err != io.EOF {
						t.Fatalf("fill: %v", err)
					}
					return
				}
			}
			t.Fatal("no progress")
			return
		}
		m1, o1, f1 := run(int(size%16) + 1)
		m2, o2, f2 := run(len(data) + 1)
		if !slices.Equal(m1, m2) || o1 != o2 || f1 != f2 {
			t.Fatalf("chunks of %d: %q oversize %d framing %d; whole: %q oversize %d framing %d", size%16+1, m1, o1, f1, m2, o2, f2)
		}
	})
}
