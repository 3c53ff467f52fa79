// Package outbox keeps a member's own signed reports on its own disk, by
// their per-member sequence numbers 1, 2, 3, ..., until it is safe to drop
// them. The member appends each report here before it publishes it, so a
// report survives kill -9, power loss and hours without a fabric; it
// publishes from here, answers other members' gap-repair requests from
// here (Get, Range), and republishes what the fabric lost. The fabric
// (NATS JetStream) can lose acknowledged messages; the outbox is what makes
// that a delay rather than a loss.
//
// Records live in append-only segment files with a checksum each (see
// segment.go for the format); an index in memory maps sequence numbers to
// places in them. Open rebuilds the index by reading the segments, cuts a
// torn or corrupt tail (a crash mid-write), skips damaged records in the
// middle and keeps what follows, and never hands back a record whose
// checksum fails. A lock on the directory keeps a second daemon out.
//
// The outbox stores opaque bytes: it does not parse, sign or verify
// reports (package report does), talks to no network, reads no clock (Trim
// takes now) and starts no goroutines.
package outbox

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Errors callers may test for with errors.Is.
var (
	ErrClosed   = errors.New("outbox is closed")
	ErrOrder    = errors.New("sequence number out of order")
	ErrTooLarge = errors.New("record too large")
	ErrInUse    = errors.New("outbox directory is in use")
)

// Defaults for Options.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultMaxAge       = 8 * 24 * time.Hour
	DefaultSegmentBytes = 16 << 20
)

// Options configure an Outbox. The zero value gives the defaults.
type Options struct {
	// MaxBytes is the size Trim brings the outbox down to, by dropping its
	// oldest segments, as far as it may: it never drops a record the
	// fabric has not acknowledged (above Published), so while the fabric
	// is down the outbox grows past MaxBytes. Default 256 MiB.
	MaxBytes int64
	// MaxAge is how long Trim keeps a record at least, after its time
	// (the time given to Append); it deletes a segment once its newest
	// record is older. Default 8 days.
	MaxAge time.Duration
	// SegmentBytes is the size of a segment file: a new one starts when
	// the next record would make the current one larger. Trim deletes whole
	// segments. Default 16 MiB; 4 KiB to 64 MiB.
	SegmentBytes int64
	// NoSync skips fsync. Records then survive the death of the process
	// (kill -9) but not of the machine (power loss, kernel panic). For tests
	// and benchmarks; a daemon leaves it false.
	NoSync bool
	// Logger receives what Open repaired and what Trim dropped; nil
	// discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes < 0 || o.MaxAge < 0 || o.SegmentBytes < 0 {
		return o, fmt.Errorf("outbox options: MaxBytes, MaxAge and SegmentBytes must not be negative")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes < minSegmentBytes || o.SegmentBytes > maxSegmentBytes {
		return o, fmt.Errorf("outbox options: SegmentBytes %d is outside %d to %d: choose a size in that range", o.SegmentBytes, minSegmentBytes, maxSegmentBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Record is one record for AppendBatch.
type Record struct {
	Seq  uint64
	Time time.Time // the report's time; Trim drops records by it
	Data []byte    // at most MaxRecordSize bytes
}

// Outbox is a member's store of its own reports. Its methods may be called
// from several goroutines.
type Outbox struct {
	dir    string
	opt    Options
	log    *slog.Logger
	unlock func() error

	// appendMu serializes the writers (AppendBatch, Trim, Close) and is
	// held across their fsyncs; readers never take it.
	appendMu sync.Mutex
	wbuf     []byte // encoding buffer, reused
	broken   error  // a write or sync failed: refuse appends until reopened

	// pubMu serializes writes of the published mark.
	pubMu   sync.Mutex
	pubFile *os.File

	// mu guards the fields below. It is held only briefly (across no
	// fsync but Close's): readers take it shared, writers update under it
	// once their records are durable.
	mu        sync.RWMutex
	segs      []*segment // oldest first; appends go to the last
	last      uint64     // highest seq accepted: stored, or published if higher
	published uint64
	closed    bool
}

// segment is one segment file and the index of its records.
type segment struct {
	path    string
	nameSeq uint64
	f       *os.File // read-only, but read-write for the last segment
	seed    uint32   // checksum seed from the header's salt
	size    int64    // file size; appends go here (guarded by appendMu)
	first   uint64   // seq of locs[0]
	locs    []loc    // locs[i] holds seq first+i; a zero loc is a record lost to damage
	newest  int64    // Unix nanoseconds of the newest record
	full    bool     // take no more records (guarded by appendMu)
}

// loc is where a record lies in its segment; off 0 (the header) means none.
type loc struct{ off, n uint32 }

func (s *segment) empty() bool { return len(s.locs) == 0 }

// lastSeq returns the highest seq in s; s must not be empty.
func (s *segment) lastSeq() uint64 { return s.first + uint64(len(s.locs)) - 1 }

// add indexes a record; seq must be above lastSeq (gaps become zero locs;
// callers bound them).
func (s *segment) add(seq uint64, l loc, nanos int64) {
	if s.empty() {
		s.first = seq
	}
	for s.first+uint64(len(s.locs)) < seq {
		s.locs = append(s.locs, loc{})
	}
	s.locs = append(s.locs, l)
	if nanos > s.newest || len(s.locs) == 1 {
		s.newest = nanos
	}
}

// lookup returns where seq lies in s.
func (s *segment) lookup(seq uint64) (loc, bool) {
	if s.empty() || seq < s.first || seq > s.lastSeq() {
		return loc{}, false
	}
	l := s.locs[seq-s.first]
	return l, l.off != 0
}

const publishedName = "published"

// Open opens the outbox in dir, creating the directory if needed, and
// locks it: a second Open of the same directory, from this process or
// another, fails with ErrInUse until Close.
//
// Open reads every segment to rebuild the index. A torn or damaged tail of
// the last segment (a crash mid-write, a truncated or bit-flipped last
// record) is cut off at the last good record. Damaged records elsewhere are
// skipped, and the records after them kept, but the damaged bytes stay on
// disk. A segment whose header is damaged cannot be read at all: Open
// renames it to NAME.corrupt and leaves it for the operator. Everything
// dropped is logged.
func Open(dir string, opt Options) (*Outbox, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create outbox directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	o := &Outbox{dir: dir, opt: opt, log: opt.Logger, unlock: unlock}
	if err := o.load(); err != nil {
		o.closeFiles()
		unlock()
		return nil, err
	}
	return o, nil
}

// load reads the published mark and the segments.
func (o *Outbox) load() error {
	pub, err := o.loadPublished()
	if err != nil {
		return err
	}
	if err := o.loadSegments(); err != nil {
		return err
	}
	var first, stored uint64
	for _, s := range o.segs {
		if !s.empty() {
			if first == 0 {
				first = s.first
			}
			stored = s.lastSeq()
		}
	}
	// Records below the first stored one were trimmed (only ever after
	// being published) or predate the outbox.
	if first > 1 && first-1 > pub {
		pub = first - 1
	}
	o.published = pub
	o.last = max(stored, pub)
	if pub > stored {
		o.log.Error("outbox lost records the fabric had acknowledged; numbering continues after them",
			"dir", o.dir, "published", pub, "last_stored", stored)
	}
	o.log.Info("opened outbox", "dir", o.dir, "segments", len(o.segs), "first", first, "last", o.last, "published", pub)
	return nil
}

// loadPublished opens the published mark: 8 bytes of seq and their
// CRC-32C. A missing or damaged mark reads as 0 (which only costs
// republishing what the fabric already has).
func (o *Outbox) loadPublished() (uint64, error) {
	f, err := os.OpenFile(filepath.Join(o.dir, publishedName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open outbox published mark: %w", err)
	}
	o.pubFile = f
	var b [12]byte
	n, err := f.ReadAt(b[:], 0)
	switch {
	case n == 0 && err == io.EOF:
		return 0, nil
	case err != nil && err != io.EOF:
		return 0, fmt.Errorf("read outbox published mark: %w", err)
	case n < len(b) || crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:]):
		o.log.Warn("outbox published mark is damaged; republishing from the first record", "file", f.Name())
		return 0, nil
	}
	return binary.BigEndian.Uint64(b[:8]), nil
}

// loadSegments reads and indexes every segment file.
func (o *Outbox) loadSegments() error {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("list outbox directory: %w", err)
	}
	var buf []byte
	var prev uint64
	type scanned struct {
		res  scanResult
		read int64 // bytes read of the file
	}
	var scans []scanned         // parallel to o.segs
	for _, e := range entries { // sorted by name, so by sequence
		name := e.Name()
		if strings.HasSuffix(name, ".seg.tmp") { // a segment whose creation was cut short
			os.Remove(filepath.Join(o.dir, name))
			continue
		}
		nameSeq, ok := parseSegmentName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(o.dir, name)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open outbox segment: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("stat outbox segment: %w", err)
		}
		size := st.Size()
		n := min(size, readLimit)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, 0); err != nil {
			f.Close()
			return fmt.Errorf("read outbox segment: %w", err)
		}
		seed, ok := decodeHeader(buf)
		if !ok {
			f.Close()
			o.log.Error("outbox segment header is damaged, so none of its records can be read: set it aside; delete it when done looking",
				"segment", path, "renamed_to", path+".corrupt", "bytes", size)
			if err := os.Rename(path, path+".corrupt"); err != nil {
				return fmt.Errorf("set aside damaged outbox segment %s: %w", path, err)
			}
			continue
		}
		res := scan(buf, seed, prev, nameSeq)
		s := &segment{path: path, nameSeq: nameSeq, f: f, seed: seed, size: size}
		for _, r := range res.recs {
			s.add(r.seq, loc{off: r.off, n: r.n}, r.nanos)
		}
		if !s.empty() {
			prev = s.lastSeq()
		}
		if size > n {
			o.log.Error("outbox segment is larger than phalanx writes; ignoring its end", "segment", path, "bytes", size, "read", n)
		}
		o.segs = append(o.segs, s)
		scans = append(scans, scanned{res, n})
	}
	if len(o.segs) == 0 {
		return nil
	}
	// The last segment is the one appends go to: reopen it for writing,
	// and cut a damaged tail (but not bytes it never read).
	act := o.segs[len(o.segs)-1]
	last := scans[len(scans)-1]
	bad := last.res.bad
	tail := len(bad) > 0 && int64(bad[len(bad)-1].end) == last.read && last.read == act.size && !last.res.gaveUp
	// Appending after bytes Open cannot read would make the new records
	// unreadable at the next Open too: start a new segment instead.
	act.full = last.res.gaveUp || act.size > last.read
	for i, s := range o.segs {
		bad := scans[i].res.bad
		for j, b := range bad {
			if s == act && tail && j == len(bad)-1 {
				continue
			}
			o.logBad(s.path, b, scans[i].res.gaveUp && j == len(bad)-1)
		}
	}
	f, err := os.OpenFile(act.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open outbox segment for writing: %w", err)
	}
	act.f.Close()
	act.f = f
	if tail {
		b := bad[len(bad)-1]
		o.log.Warn("outbox segment had a torn or damaged tail (a crash while writing?); cut it at the last good record",
			"segment", act.path, "offset", b.off, "bytes", b.end-b.off, "last_good_seq", prev)
		if err := f.Truncate(int64(last.res.end)); err != nil {
			return fmt.Errorf("cut damaged tail of outbox segment: %w", err)
		}
		if !o.opt.NoSync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("sync outbox segment: %w", err)
			}
		}
		act.size = int64(last.res.end)
	}
	return nil
}

func (o *Outbox) logBad(path string, b span, gaveUp bool) {
	msg := "outbox segment has damaged bytes; skipped them and kept the records around them (on disk unchanged)"
	if gaveUp {
		msg = "outbox segment is damaged beyond repair from here; its records after this offset are lost (on disk unchanged)"
	}
	o.log.Error(msg, "segment", path, "offset", b.off, "bytes", b.end-b.off)
}

// Append stores one record and returns once it is durable (written and,
// unless Options.NoSync, fsynced). seq is normally Last()+1; it may be
// higher, so that a member whose earlier reports live only on the fabric
// (an outbox that stores none, or one restored from an older backup)
// continues its numbering: the seqs skipped are then simply absent (Get
// reports false; in an empty outbox they count as published). t is the
// report's time, which Trim goes by.
//
// After a write or fsync error the Outbox refuses further appends: Close it
// and Open it again, which keeps whatever reached the disk intact (Last
// tells how far that is).
func (o *Outbox) Append(seq uint64, t time.Time, data []byte) error {
	return o.AppendBatch([]Record{{Seq: seq, Time: t, Data: data}})
}

// AppendBatch stores records with consecutive seqs, starting at Last()+1
// (as for Append), and returns once all are durable, with one fsync for
// the lot (one per segment it fills). If the machine dies before it
// returns, a prefix of the batch may survive.
func (o *Outbox) AppendBatch(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	o.mu.RLock()
	closed, last, published := o.closed, o.last, o.published
	empty := true
	for _, s := range o.segs {
		empty = empty && s.empty()
	}
	o.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if o.broken != nil {
		return fmt.Errorf("outbox refuses appends after an earlier write error (%v): close it and open it again", o.broken)
	}
	next := last + 1
	for i, r := range recs {
		switch {
		case last == math.MaxUint64 && i == 0:
			return fmt.Errorf("append seq %d: sequence numbers are exhausted: %w", r.Seq, ErrOrder)
		case i == 0 && r.Seq > last:
			// The first record of an empty outbox may start anywhere, and
			// numbering may jump forward: a member whose outbox is behind
			// what the fabric has seen of it (restored from a backup, or
			// replaced) must continue above that.
		case r.Seq != next:
			return fmt.Errorf("append seq %d: want %d (Last()+1): %w", r.Seq, next, ErrOrder)
		}
		if len(r.Data) > MaxRecordSize {
			return fmt.Errorf("append seq %d: %d bytes of data, at most %d: %w", r.Seq, len(r.Data), MaxRecordSize, ErrTooLarge)
		}
		if r.Time.IsZero() || !time.Unix(0, r.Time.UnixNano()).Equal(r.Time) {
			return fmt.Errorf("append seq %d: time %v is zero or outside the years 1678 to 2262", r.Seq, r.Time)
		}
		next = r.Seq + 1
		if next == 0 && i < len(recs)-1 {
			return fmt.Errorf("append seq %d: sequence numbers are exhausted: %w", r.Seq, ErrOrder)
		}
	}

	type pending struct {
		seg   *segment
		seq   uint64
		loc   loc
		nanos int64
	}
	pend := make([]pending, 0, len(recs))
	var act *segment
	if len(o.segs) > 0 {
		act = o.segs[len(o.segs)-1]
	}
	buf := o.wbuf[:0]
	// flush writes buf at the end of act and syncs it.
	flush := func() error {
		if len(buf) > 0 {
			if _, err := act.f.WriteAt(buf, act.size); err != nil {
				return fmt.Errorf("write outbox segment: %w", err)
			}
			act.size += int64(len(buf))
			buf = buf[:0]
		}
		if o.opt.NoSync {
			return nil
		}
		if err := act.f.Sync(); err != nil {
			return fmt.Errorf("sync outbox segment: %w", err)
		}
		return nil
	}
	jump := !empty && recs[0].Seq != last+1 // a segment's records are consecutive: a jump starts a new one
	for i, r := range recs {
		size := int64(recHeaderSize + len(r.Data))
		used := act != nil && act.size+int64(len(buf)) > headerSize
		if act == nil || act.full || i == 0 && jump || used && act.size+int64(len(buf))+size > o.opt.SegmentBytes {
			if act != nil {
				if err := flush(); err != nil {
					o.broken = err
					return err
				}
				act.full = true
			}
			s, err := o.createSegment(r.Seq)
			if err != nil {
				o.broken = err
				return err
			}
			act = s
		}
		off := act.size + int64(len(buf))
		nanos := r.Time.UnixNano()
		buf = appendRecord(buf, act.seed, r.Seq, nanos, r.Data)
		pend = append(pend, pending{act, r.Seq, loc{off: uint32(off), n: uint32(len(r.Data))}, nanos})
	}
	if err := flush(); err != nil {
		o.broken = err
		return err
	}
	if cap(buf) <= 4*MaxRecordSize {
		o.wbuf = buf
	}
	if first := recs[0].Seq; empty && first-1 > published {
		// Numbering starts above what the outbox holds: the records below
		// are not the outbox's to publish.
		if err := o.markPublished(first - 1); err != nil {
			o.log.Warn("could not record where the outbox's numbering starts", "seq", first, "err", err)
		}
	}
	o.mu.Lock()
	for _, p := range pend {
		p.seg.add(p.seq, p.loc, p.nanos)
	}
	o.last = recs[len(recs)-1].Seq
	o.mu.Unlock()
	return nil
}

// createSegment makes a new, empty segment for records from seq on and
// makes it the last one. Its header is written and synced under a
// temporary name first, so a crash never leaves a segment without one.
func (o *Outbox) createSegment(seq uint64) (*segment, error) {
	if n := len(o.segs); n > 0 && o.segs[n-1].nameSeq >= seq {
		seq = o.segs[n-1].nameSeq + 1 // names must sort after the last
	}
	var salt [8]byte
	rand.Read(salt[:])
	hdr := encodeHeader(salt)
	seed, _ := decodeHeader(hdr)
	path := filepath.Join(o.dir, segmentName(seq))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create outbox segment: %w", err)
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create outbox segment: %w", err)
	}
	if _, err := f.Write(hdr); err != nil {
		return fail(err)
	}
	if !o.opt.NoSync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if !o.opt.NoSync {
		if err := syncDir(o.dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("create outbox segment: sync directory: %w", err)
		}
	}
	s := &segment{path: path, nameSeq: seq, f: f, seed: seed, size: headerSize}
	o.mu.Lock()
	o.segs = append(o.segs, s)
	o.mu.Unlock()
	return s, nil
}

// Last returns the highest sequence number the outbox has accepted: that
// of the last durable Append (also after a reopen), or Published() if
// records up to it were lost from disk. It is 0 for a new outbox. The next
// Append takes Last()+1.
func (o *Outbox) Last() uint64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.last
}

// First returns the lowest sequence number stored, 0 when none is.
func (o *Outbox) First() uint64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, s := range o.segs {
		if !s.empty() {
			return s.first
		}
	}
	return 0
}

// Get returns the data stored under seq. It reports false when the record
// is not stored (never appended, trimmed, lost to damage) or fails its
// checksum now (which is logged): it never returns damaged data.
func (o *Outbox) Get(seq uint64) ([]byte, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return nil, false
	}
	for i := len(o.segs) - 1; i >= 0; i-- {
		s := o.segs[i]
		if s.empty() || seq < s.first {
			continue
		}
		l, ok := s.lookup(seq)
		if !ok {
			return nil, false
		}
		data, err := o.read(s, seq, l)
		if err != nil {
			o.log.Error("outbox record cannot be read back; is the disk failing?", "seq", seq, "segment", s.path, "err", err)
			return nil, false
		}
		return data, true
	}
	return nil, false
}

// read reads and checks one record; o.mu must be held.
func (o *Outbox) read(s *segment, seq uint64, l loc) ([]byte, error) {
	rec := make([]byte, recHeaderSize+int(l.n))
	if _, err := s.f.ReadAt(rec, int64(l.off)); err != nil {
		return nil, err
	}
	h := readRecHeader(rec)
	if h.n != l.n || h.seq != seq || recordCRC(s.seed, rec) != binary.BigEndian.Uint32(rec[4:8]) {
		return nil, fmt.Errorf("record at offset %d fails its checksum", l.off)
	}
	return rec[recHeaderSize:], nil
}

// Range calls fn for the stored records with from ≤ seq ≤ to, in order,
// at most limit of them, until fn returns false. Records not stored are
// skipped, as are records that fail their checksum now (which is logged).
// fn runs without locks held, so it may call the Outbox's methods; data
// is fn's to keep. Range returns an error for bad arguments, a closed outbox
// and read errors.
func (o *Outbox) Range(from, to uint64, limit int, fn func(seq uint64, data []byte) bool) error {
	if from > to || limit <= 0 {
		return fmt.Errorf("outbox range %d to %d, at most %d: want from ≤ to and a limit above 0", from, to, limit)
	}
	seq := from
	var w readAhead // readahead.go
	for n := 0; n < limit; {
		o.mu.RLock()
		if o.closed {
			o.mu.RUnlock()
			return ErrClosed
		}
		s, l, ok := o.nextStored(seq)
		if !ok || l.seq > to {
			o.mu.RUnlock()
			return nil
		}
		data, err := o.readVia(&w, s, l.seq, l.loc)
		o.mu.RUnlock()
		seq = l.seq
		if err != nil {
			o.log.Error("outbox record cannot be read back; is the disk failing?", "seq", seq, "segment", s.path, "err", err)
		} else {
			n++
			if !fn(seq, data) {
				return nil
			}
		}
		if seq == math.MaxUint64 {
			return nil
		}
		seq++
	}
	return nil
}

// seqLoc is a stored record's seq and place.
type seqLoc struct {
	seq uint64
	loc loc
}

// nextStored returns the stored record with the lowest seq ≥ seq; o.mu
// must be held.
func (o *Outbox) nextStored(seq uint64) (*segment, seqLoc, bool) {
	for _, s := range o.segs {
		if s.empty() || s.lastSeq() < seq {
			continue
		}
		i := uint64(0)
		if seq > s.first {
			i = seq - s.first
		}
		for ; i < uint64(len(s.locs)); i++ {
			if s.locs[i].off != 0 {
				return s, seqLoc{s.first + i, s.locs[i]}, true
			}
		}
	}
	return nil, seqLoc{}, false
}

// Published returns the highest seq the fabric has acknowledged, as told
// by MarkPublished (or implied: see Append).
func (o *Outbox) Published() uint64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.published
}

// MarkPublished records that the fabric has acknowledged every record up
// to seq, which must not be above Last(). Marks below Published() are
// ignored, so acknowledgements may arrive out of order.
//
// The mark is written at once but fsynced only by Trim (before it deletes
// anything the mark allows) and Close: after a machine crash it may go
// back, which costs republishing records the fabric already has (receivers
// deduplicate them) and nothing else.
func (o *Outbox) MarkPublished(seq uint64) error {
	o.mu.RLock()
	closed, last := o.closed, o.last
	o.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if seq > last {
		return fmt.Errorf("mark seq %d published: the outbox holds only up to %d: %w", seq, last, ErrOrder)
	}
	return o.markPublished(seq)
}

func (o *Outbox) markPublished(seq uint64) error {
	o.pubMu.Lock()
	defer o.pubMu.Unlock()
	o.mu.RLock()
	closed, published := o.closed, o.published
	o.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if seq <= published {
		return nil
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := o.pubFile.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("write outbox published mark: %w", err)
	}
	o.mu.Lock()
	o.published = seq
	o.mu.Unlock()
	return nil
}

// Trim deletes the oldest segments, whole, while their newest record is
// older than MaxAge (by the times given to Append, against now) or the
// outbox is larger than MaxBytes. It never deletes a record above
// Published(), nor the last segment (so Last() survives a reopen). Call it
// now and then, say every minute.
func (o *Outbox) Trim(now time.Time) error {
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	o.mu.RLock()
	closed, published, segs := o.closed, o.published, o.segs
	o.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	cutoff := now.Add(-o.opt.MaxAge).UnixNano()
	var total int64
	for _, s := range segs {
		total += s.size
	}
	drop := 0
	for _, s := range segs[:max(len(segs)-1, 0)] {
		if !s.empty() && (s.lastSeq() > published || s.newest >= cutoff && total <= o.opt.MaxBytes) {
			break
		}
		total -= s.size
		drop++
	}
	if total > o.opt.MaxBytes {
		o.log.Warn("outbox is over its size limit, holding records the fabric has not acknowledged; keeping them",
			"bytes", total, "max_bytes", o.opt.MaxBytes, "published", published)
	}
	if drop == 0 {
		return nil
	}
	// Make the mark that allows the deletion durable before deleting.
	if !o.opt.NoSync {
		o.pubMu.Lock()
		err := o.pubFile.Sync()
		o.pubMu.Unlock()
		if err != nil {
			return fmt.Errorf("sync outbox published mark: %w", err)
		}
	}
	dropped := segs[:drop]
	o.mu.Lock()
	o.segs = o.segs[drop:]
	for _, s := range dropped {
		s.f.Close()
	}
	o.mu.Unlock()
	var errs []error
	var through uint64
	for _, s := range dropped {
		if !s.empty() {
			through = s.lastSeq()
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if !o.opt.NoSync {
		if err := syncDir(o.dir); err != nil {
			errs = append(errs, err)
		}
	}
	o.log.Info("trimmed outbox", "segments", drop, "through_seq", through, "bytes_left", total)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete trimmed outbox segments: %w", err)
	}
	return nil
}

// Close syncs the published mark, closes the files and releases the
// directory lock. Calls after the first do nothing.
func (o *Outbox) Close() error {
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	o.pubMu.Lock()
	defer o.pubMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	if !o.opt.NoSync {
		if err := o.pubFile.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync outbox published mark: %w", err))
		}
	}
	errs = append(errs, o.closeFiles(), o.unlock())
	return errors.Join(errs...)
}

// closeFiles closes every file but the lock.
func (o *Outbox) closeFiles() error {
	var errs []error
	if o.pubFile != nil {
		errs = append(errs, o.pubFile.Close())
	}
	for _, s := range o.segs {
		errs = append(errs, s.f.Close())
	}
	return errors.Join(errs...)
}
