package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPoll is how often a tail looks at its file when inotify is not
// available. With inotify it still looks every 4×Poll, so that a missed
// notification cannot stall it.
const DefaultPoll = 250 * time.Millisecond

// releaseIdle is how long a tail keeps reading a file that was renamed or
// removed while no new file with content has appeared at the path. After that
// it closes the old file (so that a deleted log's space is freed) and waits for
// the path.
const releaseIdle = 30 * time.Second

// tailBufSize is the buffer a tail's reader starts with.
const tailBufSize = 64 << 10

// hashPrefix is how much of a file's first line goes into FirstLineHash.
const hashPrefix = 4096

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("tail is closed")

// Position says where a tail is in a file: just after the line it goes with.
// The caller persists it (it is JSON-serialisable) and passes it back in
// TailOptions.Start after a restart.
type Position struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	// FirstLineHash is a 64-bit FNV-1a hash of the file's first line (at most
	// its first 4096 bytes); it tells a new file apart from an old one whose
	// inode number it reuses. Never 0 once a line has been read.
	FirstLineHash uint64 `json:"first_line_hash"`
	Offset        int64  `json:"offset"` // bytes, just after the line's "\n"
	Line          int64  `json:"line"`   // 1-based number of the line
}

// TailOptions configures OpenTail. The zero value tails from the end of the
// file, like tail -F.
type TailOptions struct {
	// Start resumes at a saved position if the file at the path is still
	// that file (same device, inode and first line) and still that long.
	// Otherwise the file is new since the position was saved, and the tail
	// reads it from its beginning (lines left in the rotated file are not
	// looked for) and logs so.
	Start *Position
	// FromStart reads the existing content from the beginning when there is
	// no Start. By default the tail starts after the last complete line.
	FromStart bool
	// MaxLine is the longest line returned, in bytes; longer lines are
	// skipped whole and counted. Default DefaultMaxLine.
	MaxLine int
	// Poll is the interval for looking at the file without inotify. Default
	// DefaultPoll.
	Poll time.Duration
	// Logger receives rotations, truncations and trouble. Default: discard.
	Logger *slog.Logger
	// Idle, when not nil, is called by Next each time it has returned every
	// line it found and is about to wait for more: a reader that is behind
	// the file (a burst of lines appended at once) is not idle until it
	// has caught up. It runs on Next's goroutine with the tail locked, so
	// it must be quick and must not call the tail.
	Idle func()

	disableNotify bool // tests: poll even where inotify works
}

// TailStats counts what a tail went through.
type TailStats struct {
	Lines       int64 // lines returned
	Rotations   int64 // switches to a new file at the path
	Truncations int64 // restarts at offset 0 because the file shrank or was rewritten
	Skipped     int64 // overlong lines skipped whole
	Polling     bool  // inotify is unavailable, so the tail polls
}

// Tail follows a growing log file by path: across rotation by rename (it
// reads the old file to its end before it switches to the new one), across
// truncation (copytruncate), and across restarts through Position. A line is
// returned only once its "\n" is written. Next is for one goroutine; Stats
// and Close may be called from any.
type Tail struct {
	path        string
	log         *slog.Logger
	poll        time.Duration
	recheck     time.Duration
	releaseIdle time.Duration

	done      chan struct{}
	closeOnce sync.Once
	wake      chan struct{}

	mu     sync.Mutex // held by Next except while it waits, and by Close
	notify *notifier  // nil: polling
	timer  *time.Timer
	rd     *Reader
	hbuf   []byte // scratch for hashing the first line
	idle   func() // TailOptions.Idle

	// The open file; f is nil while waiting for the path.
	f         *os.File
	fi        os.FileInfo
	dev, ino  uint64
	firstHash uint64
	lastSize  int64
	grewAt    time.Time
	lastOff   int64 // position after the last line returned
	lastLine  int64

	// How to start in the next file opened.
	resume  *Position // resume here if it matches
	fromEnd bool      // no resume: start after the last complete line

	// Counting the lines before the starting point when starting at the end:
	// countTo >= 0 while that is pending.
	countTo, scanOff, scanLines, scanLastNL int64

	rotated     bool     // the path no longer names f: drain f
	next        *os.File // the file found at the path since, to switch to
	switchReady bool     // then, at f's end, switch to next (or the path)
	backoff     bool     // after trouble: wait for the timer, not for events
	dirWatched  bool     // inotify watches the directory, so creations wake us
	rotPending  bool     // a switch let go of a file before a new one was there
	polling     atomic.Bool
	lastErr     string
	fresh       bool // check just ran: the next fill need not check again

	lines, rotations, truncations, skipped atomic.Int64
}

// OpenTail starts following the file at path, which need not exist yet. It
// fails only for bad options or a path it can never read (such as a
// directory); trouble later is logged and retried.
func OpenTail(path string, opt TailOptions) (*Tail, error) {
	if path == "" {
		return nil, errors.New("tail: empty path: give the log file to follow")
	}
	if opt.MaxLine < 0 {
		return nil, fmt.Errorf("tail %s: max line %d is negative: use 0 for the default", path, opt.MaxLine)
	}
	if opt.Poll < 0 {
		return nil, fmt.Errorf("tail %s: poll interval %v is negative: use 0 for the default", path, opt.Poll)
	}
	if opt.MaxLine == 0 {
		opt.MaxLine = DefaultMaxLine
	}
	if opt.Poll == 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tail{
		path:        path,
		log:         opt.Logger.With("path", path),
		poll:        opt.Poll,
		idle:        opt.Idle,
		recheck:     4 * opt.Poll,
		releaseIdle: releaseIdle,
		done:        make(chan struct{}),
		wake:        make(chan struct{}, 1),
		timer:       time.NewTimer(time.Hour),
		rd:          newReader(nil, opt.MaxLine, tailBufSize),
		hbuf:        make([]byte, hashPrefix),
		countTo:     -1,
	}
	t.rd.follow = true
	t.rd.beforeFill = t.beforeFill
	t.timer.Stop()
	if opt.Start != nil && (opt.Start.Dev != 0 || opt.Start.Inode != 0) {
		p := *opt.Start
		t.resume = &p
	} else {
		t.fromEnd = !opt.FromStart
	}
	if !opt.disableNotify {
		n, err := newNotifier(path, t.wake)
		if err != nil {
			t.log.Warn("inotify unavailable: polling", "interval", t.poll, "err", err)
		} else {
			t.notify = n
		}
	}
	t.polling.Store(t.notify == nil)
	if err := t.open(); err != nil {
		t.closeNotify()
		return nil, err
	}
	return t, nil
}

// Next returns the next complete line (without "\n" or "\r\n") and the
// position just after it, blocking until there is one, ctx is done, or the
// tail is closed. The line is valid until the next call.
func (t *Tail) Next(ctx context.Context) ([]byte, Position, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if t.closed() {
			return nil, Position{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, Position{}, err
		}
		if t.f == nil && !t.backoff {
			if err := t.open(); err != nil {
				t.trouble("open", err)
			}
		}
		if t.f != nil && !t.backoff {
			if t.countTo >= 0 {
				if err := t.countExisting(ctx); err != nil {
					return nil, Position{}, err
				}
			}
			line, err := t.rd.Next()
			t.skipped.Store(t.rd.Skipped())
			switch {
			case err == nil:
				return line, t.position(), nil
			case err != errNoLine:
				t.trouble("read", err)
				t.dropFile()
			case t.switchReady:
				line, ok := t.rd.flush()
				t.skipped.Store(t.rd.Skipped())
				var pos Position
				if ok {
					pos = t.position()
				}
				t.switchFile()
				if ok {
					return line, pos, nil
				}
				continue
			}
		}
		if t.idle != nil {
			t.idle()
		}
		if err := t.wait(ctx); err != nil {
			return nil, Position{}, err
		}
		t.backoff = false
		if t.f != nil {
			t.check()
		}
	}
}

// Stats returns the counters so far.
func (t *Tail) Stats() TailStats {
	return TailStats{
		Lines:       t.lines.Load(),
		Rotations:   t.rotations.Load(),
		Truncations: t.truncations.Load(),
		Skipped:     t.skipped.Load(),
		Polling:     t.polling.Load(),
	}
}

// Close stops the tail and ends a pending Next with ErrClosed.
func (t *Tail) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeNotify()
	t.timer.Stop()
	t.closeNext()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", t.path, err)
	}
	return nil
}

func (t *Tail) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *Tail) closeNotify() {
	if t.notify != nil {
		t.notify.close()
		t.notify = nil
	}
}

// wait blocks until an event, the re-check timer, ctx or Close.
func (t *Tail) wait(ctx context.Context) error {
	interval := t.poll
	wake := t.wake
	if t.notify != nil && t.dirWatched && !t.backoff {
		interval = t.recheck
	}
	if t.backoff {
		wake = nil
	}
	t.timer.Reset(interval)
	t.mu.Unlock()
	defer t.mu.Lock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.done:
		return ErrClosed
	case <-wake:
	case <-t.timer.C:
	}
	return nil
}

// trouble logs an error once per distinct message and makes the tail wait a
// poll interval before trying again.
func (t *Tail) trouble(what string, err error) {
	t.backoff = true
	if msg := err.Error(); msg != t.lastErr {
		t.lastErr = msg
		t.log.Warn("cannot "+what+" log file: will retry; check that it exists and is readable", "err", err)
	}
}

// open opens the file at the path, if there is one, and places the reader as
// resume or fromEnd say. A missing file is not an error: the tail waits.
func (t *Tail) open() error {
	if t.notify != nil {
		t.dirWatched = t.notify.watchDir() // before looking, so that a creation is not missed
	}
	f, fi, err := t.openPath()
	if errors.Is(err, fs.ErrNotExist) {
		t.fromEnd = false // a file that appears later is all new
		return nil
	}
	if err != nil {
		return err
	}
	t.adopt(f, fi)
	return nil
}

// openPath opens the file at the path; fs.ErrNotExist when there is none.
func (t *Tail) openPath() (*os.File, os.FileInfo, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("stat log file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, fmt.Errorf("tail %s: not a regular file (%v): follow a log file, or pipe other input to replay", t.path, fi.Mode().Type())
	}
	return f, fi, nil
}

// adopt makes f the file being read.
func (t *Tail) adopt(f *os.File, fi os.FileInfo) {
	t.f, t.fi = f, fi
	t.dev, t.ino = fileIdentity(fi)
	t.firstHash = t.hashFirstLine()
	t.lastSize = fi.Size()
	t.grewAt = time.Now()
	t.rotated, t.switchReady = false, false
	t.lastErr = ""
	if t.rotPending {
		t.rotPending = false
		t.rotations.Add(1)
		t.log.Info("following the new log file", "inode", t.ino)
	}
	var start, line int64
	switch {
	case t.resume != nil:
		start, line = t.resumeAt(*t.resume)
	case t.fromEnd:
		t.countTo, t.scanOff, t.scanLines, t.scanLastNL = fi.Size(), 0, 0, -1
	}
	t.resume, t.fromEnd = nil, false
	t.place(start, line)
	if t.notify != nil {
		t.notify.watchFile(f, t.path)
	}
}

// place makes the reader continue at offset start, after line lines.
func (t *Tail) place(start, line int64) {
	if _, err := t.f.Seek(start, io.SeekStart); err != nil {
		t.log.Warn("cannot seek in log file: reading from its beginning", "offset", start, "err", err)
		start, line = 0, 0
		_, _ = t.f.Seek(0, io.SeekStart)
	}
	t.rd.reset(t.f, start, line)
	t.lastOff, t.lastLine = start, line
}

// resumeAt checks a saved position against the file just opened and returns
// where to start.
func (t *Tail) resumeAt(p Position) (start, line int64) {
	switch {
	case p.Dev != t.dev || p.Inode != t.ino:
		t.log.Info("log file was replaced since the saved position (rotated while stopped?): reading the new file from its beginning; lines left in the old file are not read",
			"saved_inode", p.Inode, "inode", t.ino)
		return 0, 0
	case p.FirstLineHash != 0 && p.FirstLineHash != t.firstHash:
		t.log.Warn("log file reuses the inode of the saved position but its first line differs: reading it from its beginning", "inode", t.ino)
		return 0, 0
	case p.Offset < 0 || p.Offset > t.fi.Size():
		t.truncations.Add(1)
		t.log.Warn("log file is shorter than the saved position (truncated?): reading it from its beginning", "saved_offset", p.Offset, "size", t.fi.Size())
		return 0, 0
	case p.Offset > 0 && !t.newlineAt(p.Offset-1):
		t.log.Warn("saved position is not at a line's end: reading the log file from its beginning", "saved_offset", p.Offset)
		return 0, 0
	}
	if p.Line < 0 {
		p.Line = 0
	}
	return p.Offset, p.Line
}

func (t *Tail) newlineAt(off int64) bool {
	var b [1]byte
	n, _ := t.f.ReadAt(b[:], off)
	return n == 1 && b[0] == '\n'
}

// countExisting counts the lines before the end seen at open, to start after
// the last complete one with the right line number. It can be interrupted by
// ctx and goes on where it stopped.
func (t *Tail) countExisting(ctx context.Context) error {
	buf := t.rd.buf // the reader is placed again afterwards
	for t.scanOff < t.countTo {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int64(len(buf))
		if rest := t.countTo - t.scanOff; rest < n {
			n = rest
		}
		k, err := t.f.ReadAt(buf[:n], t.scanOff)
		chunk := buf[:k]
		if c := bytes.Count(chunk, []byte{'\n'}); c > 0 {
			t.scanLines += int64(c)
			t.scanLastNL = t.scanOff + int64(bytes.LastIndexByte(chunk, '\n'))
		}
		t.scanOff += int64(k)
		if err != nil || k == 0 {
			break // shorter than it was: the truncation check sorts it out
		}
	}
	t.countTo = -1
	t.place(t.scanLastNL+1, t.scanLines)
	return nil
}

// position returns where the line just read ends, and remembers it.
func (t *Tail) position() Position {
	if t.firstHash == 0 {
		t.firstHash = t.hashFirstLine()
	}
	t.lastOff, t.lastLine = t.rd.Offset(), t.rd.Line()
	t.lines.Add(1)
	return Position{
		Path:          t.path,
		Dev:           t.dev,
		Inode:         t.ino,
		FirstLineHash: t.firstHash,
		Offset:        t.lastOff,
		Line:          t.lastLine,
	}
}

// beforeFill runs before each read from the file: it makes sure that the
// reader does not go on at an offset that a truncation made stale, which
// would return the middle of a line as a line.
func (t *Tail) beforeFill() bool {
	if t.fresh {
		t.fresh = false
		return false
	}
	return t.checkTruncation()
}

// check looks at the open file and the path after a wake-up: a file that
// shrank or whose first line changed was truncated (read it again from 0); a
// path that names another file means rotation.
func (t *Tail) check() {
	if t.notify != nil {
		t.dirWatched = t.notify.watchDir()
	}
	if t.checkTruncation() || t.f == nil {
		return
	}
	t.fresh = true
	if t.switchReady {
		return
	}
	now := time.Now()
	pfi, err := os.Stat(t.path)
	switch {
	case err == nil && os.SameFile(pfi, t.fi):
		t.rotated = false
		t.closeNext()
		return
	case err == nil:
		if !t.rotated {
			t.log.Info("log file was rotated: reading the rest of the old file")
		}
		t.rotated = true
		t.pinNext(pfi)
	default:
		if !t.rotated {
			t.log.Info("log file was renamed or removed: reading the rest of it while waiting for a new one")
		}
		t.rotated = true
		t.pinNext(nil)
	}
	if !t.switchReady && now.Sub(t.grewAt) >= t.releaseIdle {
		t.switchReady = true // idle too long: let go of the old file
	}
}

// checkTruncation restarts at offset 0 when the open file shrank below what
// was read or its first line changed, and reports whether it did.
func (t *Tail) checkTruncation() bool {
	fi, err := t.f.Stat()
	if err != nil {
		t.trouble("stat", err)
		return false
	}
	size := fi.Size()
	h := t.hashFirstLine()
	shrank := size < t.rd.readPos()
	rewritten := t.firstHash != 0 && h != 0 && h != t.firstHash
	if shrank || rewritten {
		t.truncations.Add(1)
		t.log.Warn("log file was truncated: reading it again from its beginning", "size", size, "offset", t.rd.readPos(), "first_line_changed", rewritten)
		t.firstHash = h
		t.lastSize = size
		t.countTo = -1
		t.place(0, 0)
		return true
	}
	if t.firstHash == 0 {
		t.firstHash = h
	}
	if size != t.lastSize {
		t.lastSize, t.grewAt = size, time.Now()
	}
	return false
}

// pinNext holds on to the new file at the path (pfi, nil when there is none)
// so that the switch goes to the file seen now even if the path is rotated
// again meanwhile. Once the new file has content, the writer has moved on and
// the old file can be finished.
func (t *Tail) pinNext(pfi os.FileInfo) {
	if t.next != nil {
		fi, err := t.next.Stat()
		switch {
		case err == nil && fi.Size() > 0:
			t.switchReady = true // written to: it is the next file, wherever it went
			return
		case err == nil && pfi != nil && os.SameFile(fi, pfi):
			return // still empty, still at the path
		}
		t.closeNext() // replaced before anything was written to it
	}
	if pfi == nil {
		return
	}
	f, fi, err := t.openPath()
	if err != nil {
		return // gone again, or unreadable: the next check sees
	}
	t.next = f
	if fi.Size() > 0 {
		t.switchReady = true // the writer moved on: switch at the old file's end
	}
}

func (t *Tail) closeNext() {
	if t.next != nil {
		_ = t.next.Close()
		t.next = nil
	}
}

// switchFile closes the drained old file and goes on with the new one from
// its beginning.
func (t *Tail) switchFile() {
	oldIno := t.ino
	if t.notify != nil {
		t.notify.watchFile(nil, "")
	}
	_ = t.f.Close()
	t.f = nil
	t.resume, t.fromEnd, t.countTo = nil, false, -1
	t.rotPending = true
	t.log.Info("done with the old log file", "old_inode", oldIno)
	if t.next != nil {
		f := t.next
		t.next = nil
		if fi, err := f.Stat(); err == nil {
			t.adopt(f, fi)
			return
		}
		_ = f.Close()
	}
	if err := t.open(); err != nil {
		t.trouble("open", err)
	}
}

// dropFile closes the file after a read error; the next open resumes after
// the last line returned if it is still the same file.
func (t *Tail) dropFile() {
	t.resume = &Position{Dev: t.dev, Inode: t.ino, FirstLineHash: t.firstHash, Offset: t.lastOff, Line: t.lastLine}
	if t.notify != nil {
		t.notify.watchFile(nil, "")
	}
	_ = t.f.Close()
	t.f = nil
	t.closeNext()
	t.rotated, t.switchReady = false, false
}

// hashFirstLine returns FirstLineHash for the open file, or 0 while its first
// line is incomplete and shorter than hashPrefix.
func (t *Tail) hashFirstLine() uint64 {
	n, _ := t.f.ReadAt(t.hbuf, 0)
	b := t.hbuf[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else if n < len(t.hbuf) {
		return 0
	}
	return firstLineHash(b)
}

// firstLineHash is FNV-1a (64 bit), never 0.
func firstLineHash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}
