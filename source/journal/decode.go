package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"sync/atomic"
	"time"
)

// The export format, as journalctl --output=export writes it:
//
//	entry = field* "\n"
//	field = NAME "=" VALUE "\n"                   text: VALUE is printable UTF-8 without "\n"
//	      | NAME "\n" LE64(length) DATA "\n"      binary: anything else
//
// Entries start with __CURSOR. Every field of an entry but MESSAGE is set by
// journald or journalctl; MESSAGE and the client-supplied fields
// (SYSLOG_IDENTIFIER, SYSLOG_PID) may be written by attackers.

// DefaultMaxField is the longest field value, in bytes, that a Journal keeps
// when Options.MaxField is 0. An entry whose MESSAGE is longer is skipped
// whole and counted (Stats.Skipped), like an overlong line in a file tail.
const DefaultMaxField = 64 << 10

// maxMaxField bounds Options.MaxField.
const maxMaxField = 64 << 20

// maxName is the longest field name the decoder accepts. journald's limit is
// 64; the decoder is more lenient so that only garbage fails.
const maxName = 256

// maxBinary is the largest length prefix of a binary field taken for a
// length. journald stores no field that large (its limit is 768 MiB), so a
// larger one means the stream is out of step: the decoder resynchronises
// rather than skip gigabytes.
const maxBinary = 1 << 30

// maxCursor bounds a cursor's length; journald's are about 130 bytes.
const maxCursor = 512

// cursorPrefix starts every entry of the export format.
const cursorPrefix = "__CURSOR="

// Field slots: the fields an Entry is made from. outputFields is the list
// given to journalctl, which adds __CURSOR, __REALTIME_TIMESTAMP,
// __MONOTONIC_TIMESTAMP and _BOOT_ID by itself.
const (
	slotCursor = iota
	slotRealtime
	slotHostname
	slotIdentifier
	slotComm
	slotPID
	slotSyslogPID
	slotUnit
	slotMessage
	numSlots
)

const outputFields = "_HOSTNAME,SYSLOG_IDENTIFIER,_COMM,_PID,SYSLOG_PID,_SYSTEMD_UNIT,MESSAGE"

func slotOf(name []byte) int {
	switch string(name) {
	case "__CURSOR":
		return slotCursor
	case "__REALTIME_TIMESTAMP":
		return slotRealtime
	case "_HOSTNAME":
		return slotHostname
	case "SYSLOG_IDENTIFIER":
		return slotIdentifier
	case "_COMM":
		return slotComm
	case "_PID":
		return slotPID
	case "SYSLOG_PID":
		return slotSyslogPID
	case "_SYSTEMD_UNIT":
		return slotUnit
	case "MESSAGE":
		return slotMessage
	}
	return -1
}

// counters are what a Journal and its decoders count.
type counters struct {
	entries, bytes, restarts, decodeErrors, oversize, skipped, stderrLines, cursorNotFound atomic.Int64
}

// decoder reads entries in the export format. It keeps only the fields of
// an Entry, each at most max bytes long, so that its memory is bounded
// whatever the input; it skips malformed entries (counting them) and never
// panics.
type decoder struct {
	r   *bufio.Reader
	max int
	c   *counters

	val     [numSlots][]byte
	seen    uint16 // bit per slot: the field was set in this entry
	started bool   // a field of this entry was read
	tooLong bool   // its MESSAGE was longer than max

	// The last hostname, identifier and unit returned, reused while they
	// do not change so that an entry costs fewer allocations.
	host, ident, unit string
}

func newDecoder(r io.Reader, max int, c *counters) *decoder {
	return &decoder{r: bufio.NewReaderSize(r, max+maxName+2), max: max, c: c}
}

func (d *decoder) reset() {
	d.seen, d.started, d.tooLong = 0, false, false
}

// next decodes the next entry into e. It returns io.EOF at the end of the
// input between entries, io.ErrUnexpectedEOF when the input ends inside an
// entry (journalctl was stopped while writing it), or the read error.
func (d *decoder) next(e *Entry) error {
	d.reset()
	for {
		line, err := d.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if err := d.longLine(line); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return d.readErr(err, len(line) > 0)
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			if !d.started {
				continue // blank lines between entries
			}
			if d.finish(e) {
				return nil
			}
			d.reset()
			continue
		}
		d.started = true
		if i := bytes.IndexByte(line, '='); i >= 0 {
			name := line[:i]
			if !validName(name) {
				if err := d.resync(false); err != nil {
					return err
				}
				continue
			}
			d.set(slotOf(name), line[i+1:])
			continue
		}
		if !validName(line) {
			if err := d.resync(false); err != nil {
				return err
			}
			continue
		}
		bad, err := d.binary(slotOf(line))
		if err != nil {
			return err
		}
		if bad {
			if err := d.resync(true); err != nil {
				return err
			}
		}
	}
}

// entryBuffered reports whether the buffer holds the end of an entry, so
// that the next call need not wait for journalctl. (A binary field may fool
// it; then next waits for the rest of an entry that journalctl is writing.)
func (d *decoder) entryBuffered() bool {
	b, _ := d.r.Peek(d.r.Buffered())
	return bytes.Contains(b, []byte("\n\n"))
}

// readErr turns a read error into what next returns.
func (d *decoder) readErr(err error, partial bool) error {
	if err == io.EOF && (partial || d.started) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *decoder) has(slot int) bool { return d.seen&(1<<slot) != 0 }

// set keeps a text field's value, the first one where an entry repeats a
// field.
func (d *decoder) set(slot int, value []byte) {
	if slot < 0 || d.has(slot) {
		return
	}
	if len(value) > d.max {
		d.overlong(slot)
		return
	}
	d.val[slot] = append(d.val[slot][:0], value...)
	d.seen |= 1 << slot
}

// overlong counts a field longer than max; when it is the MESSAGE, the entry
// is skipped.
func (d *decoder) overlong(slot int) {
	d.c.oversize.Add(1)
	if slot < 0 || d.has(slot) {
		return
	}
	d.seen |= 1 << slot
	if slot == slotMessage {
		d.tooLong = true
	}
}

// longLine handles a text line that does not fit in the buffer (whose
// beginning is chunk): its value is longer than max, so it is counted and
// skipped without being kept.
func (d *decoder) longLine(chunk []byte) error {
	i := bytes.IndexByte(chunk, '=')
	if i < 0 || !validName(chunk[:i]) {
		return d.skipLine(true)
	}
	d.started = true
	d.overlong(slotOf(chunk[:i]))
	return d.skipLine(false)
}

// skipLine discards the rest of the current line; garbage says to
// resynchronise afterwards.
func (d *decoder) skipLine(garbage bool) error {
	for {
		_, err := d.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return d.readErr(err, true)
		}
		if garbage {
			return d.resync(false)
		}
		return nil
	}
}

// binary reads a binary field whose name line was just read. It reports bad
// when the framing is wrong.
func (d *decoder) binary(slot int) (bad bool, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
		return false, d.readErr(err, true)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	if n > maxBinary {
		return true, nil
	}
	if slot >= 0 && !d.has(slot) && n <= uint64(d.max) {
		buf := d.val[slot][:0]
		if uint64(cap(buf)) < n {
			buf = make([]byte, 0, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(d.r, buf); err != nil {
			return false, d.readErr(err, true)
		}
		d.val[slot] = buf
		d.seen |= 1 << slot
	} else {
		if n > uint64(d.max) {
			d.overlong(slot)
		}
		if _, err := d.r.Discard(int(n)); err != nil {
			return false, d.readErr(err, true)
		}
	}
	c, err := d.r.ReadByte()
	if err != nil {
		return false, d.readErr(err, true)
	}
	return c != '\n', nil
}

// resync drops the entry being decoded, counts it, and skips to where the
// next one starts: after an empty line, or at a line that starts with
// __CURSOR= (which it reads). midLine says the input is not at a line's
// start.
func (d *decoder) resync(midLine bool) error {
	d.c.decodeErrors.Add(1)
	d.reset()
	atStart := !midLine
	for {
		line, err := d.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			atStart = false
			continue
		}
		if err != nil {
			if err == io.EOF {
				return io.EOF // the broken entry is counted already
			}
			return err
		}
		if atStart {
			if len(line) == 1 {
				return nil
			}
			if bytes.HasPrefix(line, []byte(cursorPrefix)) {
				d.started = true
				d.set(slotCursor, line[len(cursorPrefix):len(line)-1])
				return nil
			}
		}
		atStart = true
	}
}

// finish makes e from the fields read, and reports whether the entry is
// good.
func (d *decoder) finish(e *Entry) bool {
	if d.tooLong {
		d.c.skipped.Add(1)
		return false
	}
	if !d.has(slotCursor) || !validCursor(d.val[slotCursor]) || !d.has(slotRealtime) {
		d.c.decodeErrors.Add(1)
		return false
	}
	us, ok := parseDecimal(d.val[slotRealtime], 19)
	if !ok || us > math.MaxInt64 {
		d.c.decodeErrors.Add(1)
		return false
	}
	*e = Entry{
		Cursor: string(d.val[slotCursor]),
		Time:   time.UnixMicro(int64(us)),
		PID:    -1,
	}
	if d.has(slotHostname) {
		e.Host = reuse(&d.host, d.val[slotHostname])
	}
	switch {
	case d.has(slotIdentifier):
		e.Identifier = reuse(&d.ident, d.val[slotIdentifier])
	case d.has(slotComm):
		e.Identifier = reuse(&d.ident, d.val[slotComm])
	}
	if d.has(slotPID) {
		e.PID = parsePID(d.val[slotPID])
	}
	if e.PID < 0 && d.has(slotSyslogPID) {
		e.PID = parsePID(d.val[slotSyslogPID])
	}
	if d.has(slotUnit) {
		e.Unit = reuse(&d.unit, d.val[slotUnit])
	}
	if d.has(slotMessage) {
		e.Message = append([]byte(nil), d.val[slotMessage]...)
	}
	return true
}

// reuse returns b as a string, the last one returned when b equals it.
func reuse(last *string, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if string(b) == *last {
		return *last
	}
	*last = string(b)
	return *last
}

func validName(b []byte) bool {
	if len(b) == 0 || len(b) > maxName {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validCursor accepts what journald's cursors are made of:
// key=value pairs of letters and hex digits separated by ';'.
func validCursor[T string | []byte](c T) bool {
	if len(c) == 0 || len(c) > maxCursor {
		return false
	}
	eq := false
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == ';':
		case ch == '=':
			eq = true
		default:
			return false
		}
	}
	return eq
}

// parseDecimal reads an unsigned decimal number of at most maxDigits digits.
func parseDecimal(b []byte, maxDigits int) (uint64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parsePID returns the process id in b, or -1 when b is not one.
func parsePID(b []byte) int {
	n, ok := parseDecimal(b, 10)
	if !ok || n == 0 || n > math.MaxInt32 {
		return -1
	}
	return int(n)
}
