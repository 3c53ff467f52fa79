package outbox

import (
	"encoding/binary"
	"slices"
)

// readAheadSize is how much of a segment Range reads at once.
const readAheadSize = 256 << 10

// readAhead is a window on one segment that Range serves consecutive
// records from, with one read per window instead of one per record: a
// restart reads the whole outbox (a member's own alerts among its
// enforcement records), a million records or more.
type readAhead struct {
	s   *segment
	off int64
	buf []byte
}

// readVia is read, served from w when it holds the record; o.mu must be
// held. A record that does not check out in the window is read again
// directly, which decides: the window may hold bytes of a record appended
// while it was read.
func (o *Outbox) readVia(w *readAhead, s *segment, seq uint64, l loc) ([]byte, error) {
	n := recHeaderSize + int64(l.n)
	if n > readAheadSize {
		return o.read(s, seq, l)
	}
	start := int64(l.off)
	if w.s != s || start < w.off || start+n > w.off+int64(len(w.buf)) {
		if cap(w.buf) < readAheadSize {
			w.buf = make([]byte, readAheadSize)
		}
		k, _ := s.f.ReadAt(w.buf[:readAheadSize], start) // a short read near the end is the rule
		w.s, w.off, w.buf = s, start, w.buf[:k]
		if int64(k) < n {
			w.s = nil
			return o.read(s, seq, l)
		}
	}
	rec := w.buf[start-w.off : start-w.off+n]
	h := readRecHeader(rec)
	if h.n != l.n || h.seq != seq || recordCRC(s.seed, rec) != binary.BigEndian.Uint32(rec[4:8]) {
		w.s = nil
		return o.read(s, seq, l)
	}
	return slices.Clone(rec[recHeaderSize:]), nil
}
