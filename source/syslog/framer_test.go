package syslog

import (
	"bytes"
	"errors"
	"io"
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
			msgs = append(msgs, string(trimEnd(m))) // as deliver does
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
		{"octet message holding a newline", oc("<13>a\nb"), 0, []string{"<13>a\nb"}, 0, 0},
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

// FuzzFrame: any stream, in any chunking, never panics, never returns a
// message longer than the limit, and never stalls with a full buffer.
func FuzzFrame(f *testing.F) {
	f.Add([]byte("12 <13>abcdefgh\n<14>x\n"), uint8(3))
	f.Add([]byte("999999 <"+strings.Repeat("x", 100)), uint8(1))
	f.Add([]byte(strings.Repeat("7", 20)+" <\x00\n\r"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		const max = 64
		fr := newFramer(max)
		r := &chunked{b: bytes.Clone(data), size: int(size%16) + 1}
		for steps := 0; steps < 100000; steps++ {
			m, err := fr.next()
			switch {
			case err == nil:
				if len(m) > max || bytes.IndexByte(m, 0) >= 0 && !bytes.HasPrefix(m, []byte("<")) {
					t.Fatalf("message %q over the limit or holding a NUL", m)
				}
				continue
			case errors.Is(err, errOversize):
				continue
			case errors.Is(err, errFraming):
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
	})
}
