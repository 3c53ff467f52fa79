// Package source delivers log lines from where they are written: a Reader
// splits any stream (stdin, a finished file) into lines for replay, and a Tail
// follows a growing log file across rotation and truncation for the daemon.
//
// Lines are written by attackers, so this package never splits a long line
// into pieces (which would let an attacker forge a second line), never grows a
// buffer past the configured maximum line length, and never panics on input.
// It must not interpret lines: parsing belongs to logline and the parsers.
package source

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLine is the longest line, in bytes, that readers and tails return
// when no maximum is given. Longer lines are skipped whole and counted.
const DefaultMaxLine = 64 << 10

// readerBufSize is the size of the buffer that NewReader starts with.
const readerBufSize = 256 << 10

// maxEmptyReads is how many consecutive (0, nil) reads a Reader accepts before
// it gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// errNoLine is what a following reader returns at the end of the data when no
// complete line is buffered: more may come later.
var errNoLine = errors.New("no complete line yet")

// errBadRead is returned when the underlying io.Reader reports an impossible
// byte count.
var errBadRead = errors.New("reader returned an invalid count")

// Reader splits a stream into lines without allocating per line. It is not
// safe for concurrent use.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int // buf[r:w] is read but not yet consumed
	max  int
	// limit is the largest the buffer may grow to: one line of max bytes plus
	// "\r\n".
	limit    int
	err      error // sticky error from rd (io.EOF cleared in follow mode)
	follow   bool  // at the end of data, keep a partial line and report errNoLine
	skipping bool  // inside an overlong line, discarding until its '\n'
	skipped  int64
	line     int64 // lines consumed, returned or skipped
	pos      int64 // stream offset of buf[r]
	// beforeFill, if set, runs before each read from rd; when it returns
	// true it has placed the reader elsewhere (reset) and Next starts over.
	beforeFill func() bool
}

// NewReader returns a Reader of newline-terminated lines from r. Lines longer
// than max bytes (not counting "\n" or "\r\n") are skipped whole and counted;
// max <= 0 means DefaultMaxLine. The buffer starts at 256 KiB and grows only
// when max needs more.
func NewReader(r io.Reader, max int) *Reader {
	return newReader(r, max, readerBufSize)
}

func newReader(r io.Reader, max, size int) *Reader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	limit := max + 2
	if limit < max { // overflow: a maximum this large only bounds by memory
		limit = max
	}
	if size > limit {
		size = limit
	}
	return &Reader{rd: r, buf: make([]byte, size), max: max, limit: limit}
}

// Next returns the next line without its "\n" and without a '\r' right before
// it. The line is valid until the next call. A last line without "\n" is
// returned at the end of the stream; after that Next returns io.EOF. Any other
// error from the underlying reader is returned as is, and again on every later
// call.
func (r *Reader) Next() ([]byte, error) {
	empty := 0
	for {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			line := r.buf[r.r : r.r+i]
			r.r += i + 1
			r.pos += int64(i + 1)
			r.line++
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if r.skipping || len(line) > r.max {
				r.skipping = false
				r.skipped++
				continue
			}
			return line, nil
		}
		// No '\n' in what is buffered. More than max+1 bytes cannot become a
		// line short enough even if a '\r' ends it: drop them and the rest
		// of the line as it arrives.
		if r.skipping || r.w-r.r > r.max+1 {
			r.skipping = true
			r.pos += int64(r.w - r.r)
			r.r, r.w = 0, 0
		}
		if r.err != nil {
			if r.err != io.EOF {
				return nil, r.err
			}
			if r.follow {
				r.err = nil
				return nil, errNoLine
			}
			if line, ok := r.flush(); ok {
				return line, nil
			}
			return nil, io.EOF
		}
		if r.beforeFill != nil && r.beforeFill() {
			continue
		}
		n, err := r.fill()
		if err != nil {
			r.err = err
		}
		if n == 0 && err == nil {
			empty++
			if empty >= maxEmptyReads {
				r.err = io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
}

// flush ends the line in progress as if the stream ended here: a partial line
// is returned if it is short enough, an overlong one is counted as skipped.
func (r *Reader) flush() ([]byte, bool) {
	if r.skipping {
		r.skipping = false
		r.skipped++
		r.line++
		return nil, false
	}
	if r.w == r.r {
		return nil, false
	}
	line := r.buf[r.r:r.w]
	r.pos += int64(r.w - r.r)
	r.r, r.w = 0, 0
	r.line++
	if len(line) > r.max {
		r.skipped++
		return nil, false
	}
	return line, true
}

// fill reads once into the free end of the buffer, first moving unconsumed
// bytes to the front or growing the buffer when it is full.
func (r *Reader) fill() (int, error) {
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if r.w == len(r.buf) {
		if r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		} else {
			// Full of one partial line that may still fit: grow, at most
			// to limit (Next drops anything longer before we get here).
			size := 2 * len(r.buf)
			if size > r.limit || size < len(r.buf) {
				size = r.limit
			}
			buf := make([]byte, size)
			r.w = copy(buf, r.buf[r.r:r.w])
			r.buf = buf
		}
	}
	n, err := r.rd.Read(r.buf[r.w:])
	if n < 0 || n > len(r.buf)-r.w {
		return 0, errBadRead
	}
	r.w += n
	return n, err
}

// reset makes the reader continue from rd, whose next byte is at stream
// offset pos and starts line number line+1. Skipped lines stay counted.
func (r *Reader) reset(rd io.Reader, pos, line int64) {
	r.rd = rd
	r.r, r.w = 0, 0
	r.err = nil
	r.skipping = false
	r.pos = pos
	r.line = line
}

// Skipped returns how many overlong lines were skipped.
func (r *Reader) Skipped() int64 { return r.skipped }

// Line returns the 1-based number of the line just returned, counting skipped
// lines. After io.EOF it is the number of lines in the stream.
func (r *Reader) Line() int64 { return r.line }

// Offset returns the byte offset just after the line just returned, its "\n"
// included.
func (r *Reader) Offset() int64 { return r.pos }

// readPos returns the stream offset of the next byte to read from rd.
func (r *Reader) readPos() int64 { return r.pos + int64(r.w-r.r) }
