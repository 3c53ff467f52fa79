package syslog

import (
	"bytes"
	"errors"
	"io"
)

// Framing outcomes other than a message.
var (
	errMore     = errors.New("need more data")
	errOversize = errors.New("message over the length limit")
	errFraming  = errors.New("broken octet-counted framing")
)

// maxCountDigits bounds an octet count: 10 digits is more than any message.
const maxCountDigits = 10

// framer splits a TCP stream into messages: octet-counted ("LEN SP <PRI>...",
// RFC 6587: detected by a run of at most 10 digits, a space and '<') or
// ended by LF, CRLF or NUL (anything else, including a line that starts with
// a number). It keeps one buffer of the maximum
// message length plus a count's header, and never grows it.
type framer struct {
	buf        []byte
	start, end int
	max        int
	discardN   int  // bytes of an oversize octet-counted message still to drop
	discarding bool // dropping an oversize line up to its delimiter
}

func newFramer(max int) *framer {
	return &framer{buf: make([]byte, max+maxCountDigits+2), max: max}
}

// fill reads more of the stream into the buffer.
func (f *framer) fill(r io.Reader) (int, error) {
	if f.start > 0 {
		f.end = copy(f.buf, f.buf[f.start:f.end])
		f.start = 0
	}
	if f.end == len(f.buf) {
		// next never leaves a full buffer without a decision.
		return 0, errors.New("framer: full buffer")
	}
	n, err := r.Read(f.buf[f.end:])
	f.end += n
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// pending reports whether part of a message is buffered or being dropped.
func (f *framer) pending() bool {
	for _, c := range f.buf[f.start:f.end] {
		if c != '\n' && c != '\r' && c != 0 {
			return true
		}
	}
	return f.discardN > 0 || f.discarding
}

// next returns the next message as one line (aliasing the buffer until the
// next fill; never holding '\n'; without its trailer), or errMore,
// errOversize (one per message dropped) or errFraming.
func (f *framer) next() ([]byte, error) {
	if f.discardN > 0 {
		n := min(f.discardN, f.end-f.start)
		f.start += n
		f.discardN -= n
		if f.discardN > 0 {
			return nil, errMore
		}
	}
	if f.discarding {
		i := delimiter(f.buf[f.start:f.end])
		if i < 0 {
			f.start = f.end
			return nil, errMore
		}
		f.start += i + 1
		f.discarding = false
	}
	for f.start < f.end && (f.buf[f.start] == '\n' || f.buf[f.start] == '\r' || f.buf[f.start] == 0) {
		f.start++
	}
	b := f.buf[f.start:f.end]
	if len(b) == 0 {
		return nil, errMore
	}
	if isDigit(b[0]) {
		n, hdr, st := octetCount(b)
		switch {
		case st == countMore, st == countOK && len(b) == hdr:
			return nil, errMore // cannot tell yet whether a count starts the message
		case st == countOK && b[hdr] == '<':
			if n == 0 {
				return nil, errFraming
			}
			if n > f.max {
				f.start += hdr
				f.discardN = n
				return nil, errOversize
			}
			if len(b) < hdr+n {
				return nil, errMore
			}
			msg := b[hdr : hdr+n]
			f.start += hdr + n
			return oneLine(msg), nil
		}
		// Digits, but no "LEN SP <PRI>": a line that starts with a number,
		// read as newline-framed.
	}
	i := delimiter(b)
	if i < 0 {
		// More than max+1 bytes cannot become a line of max bytes even if
		// a '\r' ends them; the buffer holds max+12, so the decision never
		// depends on how the stream was cut into reads.
		if len(b) > f.max+1 {
			f.start = f.end
			f.discarding = true
			return nil, errOversize
		}
		return nil, errMore
	}
	f.start += i + 1
	line := trimEnd(b[:i])
	if len(line) > f.max {
		return nil, errOversize
	}
	return line, nil
}

// oneLine makes one line of a message framed by its length (an octet-counted
// frame or a datagram), in place: it drops leading and trailing '\n', '\r'
// and NUL bytes and replaces each '\n' inside with a space. It never splits the message:
// a sender could otherwise forge a line of its own, with a header of its
// choosing, inside a message it relays (the reason package source never
// splits a line either).
func oneLine(msg []byte) []byte {
	n := len(msg)
	for n > 0 && (msg[n-1] == '\n' || msg[n-1] == '\r' || msg[n-1] == 0) {
		n--
	}
	msg = msg[:n]
	for len(msg) > 0 && (msg[0] == '\n' || msg[0] == '\r' || msg[0] == 0) {
		msg = msg[1:]
	}
	for i := bytes.IndexByte(msg, '\n'); i >= 0; {
		msg[i] = ' '
		j := bytes.IndexByte(msg[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return msg
}

// Results of octetCount.
const (
	countOK   = iota // "DIGITS SP": n and the header's length
	countMore        // digits up to the end of the buffer: more is needed
	countNone        // not a count (more than maxCountDigits digits, or no space after them)
)

// octetCount reads "DIGITS SP" at the start of b.
func octetCount(b []byte) (n, hdr, status int) {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		if i == maxCountDigits {
			return 0, 0, countNone
		}
		n = n*10 + int(b[i]-'0')
		i++
	}
	switch {
	case i == len(b):
		return 0, 0, countMore
	case b[i] != ' ':
		return 0, 0, countNone
	}
	return n, i + 1, countOK
}

// delimiter returns the index of the first LF or NUL in b, or -1.
// It looks for a NUL only before the LF: scanning the whole buffer for one
// per line would make a buffer of short lines cost its length squared.
func delimiter(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, 0)
	}
	if j := bytes.IndexByte(b[:i], 0); j >= 0 {
		return j
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
