// Package jsonout writes JSON by hand for the large and hot responses of
// phalanx (the bouncer stream, feeds, replay output), where encoding/json
// would cost more than the work itself: string escaping exactly as
// encoding/json does it, and a writer that streams a response in chunks.
// It must not grow buffers without bound or trust the text it escapes:
// scenario names, reasons and user names may carry text an attacker chose.
package jsonout

import (
	"io"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a quoted JSON string.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendEscaped(b, s)
	return append(b, '"')
}

// AppendEscaped appends s escaped for the inside of a JSON string, as
// encoding/json escapes: quotes, backslashes, control characters, <, >, &,
// U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func AppendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// ChunkSize is how much a Chunked gathers before it writes.
const ChunkSize = 64 << 10

// Chunked gathers a response in Buf and writes it to W in chunks of about
// ChunkSize, so a response of any size needs one small buffer. The first
// write error is kept in Err and ends further writing.
type Chunked struct {
	W   io.Writer
	Buf []byte
	N   int // items written, for the caller's separators
	Err error
}

// NewChunked returns a Chunked writing to w.
func NewChunked(w io.Writer) *Chunked {
	return &Chunked{W: w, Buf: make([]byte, 0, ChunkSize+4096)}
}

// Str appends s.
func (c *Chunked) Str(s string) {
	c.Buf = append(c.Buf, s...)
	c.MaybeFlush()
}

// MaybeFlush writes the buffer once it holds a chunk.
func (c *Chunked) MaybeFlush() {
	if len(c.Buf) >= ChunkSize {
		_ = c.Flush()
	}
}

// Flush writes what is buffered and returns the first write error.
func (c *Chunked) Flush() error {
	if c.Err == nil && len(c.Buf) > 0 {
		_, c.Err = c.W.Write(c.Buf)
	}
	c.Buf = c.Buf[:0]
	return c.Err
}
