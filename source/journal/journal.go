// Package journal reads the systemd journal, for hosts where sshd logs only
// there (Debian 12 and later, Fedora, RHEL: no /var/log/auth.log). It runs
// journalctl --follow --output=export, decodes its output into Entries, and
// restarts journalctl with backoff when it exits, resuming after the last
// entry returned, so that nothing is read twice and nothing is missed.
//
// Journal is a source in the style of source.Tail: Open, Next, Stats, Close.
// It does not persist cursors: the caller saves Entry.Cursor (the daemon, in
// its data directory) and passes it back in Options.Cursor.
//
// Messages are written by attackers: the decoder keeps at most
// Options.MaxField bytes per field, skips malformed entries (counting them)
// and never panics. This package must not interpret messages (that belongs to
// logline and the parsers), link libsystemd or read journal files itself
// (journalctl is the one reader that follows every journal format), use
// package-level state, or log once per entry or per retry.
package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phalanx/lograte"
)

// Default backoff bounds between journalctl runs.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// probeTimeout bounds the journalctl run that finds the journal's end.
const probeTimeout = 30 * time.Second

// maxBatch is the most entries handed to Next at once.
const maxBatch = 256

// stderrGrace is how long, after journalctl has exited, its standard error
// is read before it is closed (something it started may still hold it).
const stderrGrace = time.Second

// maxStderrLine is the longest journalctl error line logged; the rest is cut.
const maxStderrLine = 1024

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("journal source is closed")

// Entry is one journal entry. Its strings and Message belong to the caller.
type Entry struct {
	// Cursor names the entry. Options.Cursor set to it resumes after this
	// entry: nothing is read twice.
	Cursor string
	// Time is __REALTIME_TIMESTAMP: when journald received the entry
	// (microseconds).
	Time time.Time
	// Host is _HOSTNAME.
	Host string
	// Identifier is SYSLOG_IDENTIFIER ("sshd", "sshd-session"), else the
	// process name _COMM; "" when the entry has neither.
	Identifier string
	// PID is _PID (set by journald), else SYSLOG_PID (set by the client);
	// -1 when the entry has neither.
	PID int
	// Unit is _SYSTEMD_UNIT, such as "ssh.service".
	Unit string
	// Message is MESSAGE as written, possibly not UTF-8. A multi-line
	// message keeps its "\n"s: the caller splits it. Nil when the entry has
	// no MESSAGE.
	Message []byte
}

// Options configures Open. The zero value follows the whole local journal
// from its current end.
type Options struct {
	// Spec selects the entries read; see ParseSpec. No matches: all.
	Spec Spec
	// Directory is a directory of journal files (journalctl --directory),
	// such as a journal received from another host. Empty: the system
	// journal, with the journals of other machines kept on this host
	// (containers', received ones) merged in.
	Directory string
	// Cursor resumes after the entry it names (Entry.Cursor): nothing read
	// twice, nothing missed. When that entry is gone (its file was rotated
	// away and vacuumed) the Journal starts at the next later entry and logs
	// so.
	Cursor string
	// FromStart reads the journal from its oldest entry when there is no
	// Cursor. By default a Journal starts at the journal's current end: old
	// entries are history, not attacks in progress.
	FromStart bool
	// Journalctl is the program run; default "journalctl", looked up in
	// PATH.
	Journalctl string
	// MaxField is the longest field value kept, in bytes; default
	// DefaultMaxField. An entry with a longer MESSAGE is skipped and
	// counted.
	MaxField int
	// MinBackoff and MaxBackoff bound the wait before journalctl is started
	// again after it exits; the wait doubles while runs fail. Defaults
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives restarts and journalctl's complaints, rate-limited.
	// Default: discard.
	Logger *slog.Logger
}

// Stats counts what a Journal went through.
type Stats struct {
	Entries        int64 // entries returned by Next
	Bytes          int64 // bytes read from journalctl's output
	Restarts       int64 // journalctl runs that ended and were started again
	DecodeErrors   int64 // malformed entries dropped
	Oversize       int64 // field values longer than MaxField, not kept
	Skipped        int64 // entries dropped because their MESSAGE was longer than MaxField
	StderrLines    int64 // lines journalctl wrote to its standard error
	CursorNotFound int64 // resumptions whose cursor's entry was gone
}

// Journal follows the journal through journalctl. Next is for one
// goroutine; Stats, Cursor and Close may be called from any.
type Journal struct {
	path      string
	dir       string
	spec      Spec
	maxField  int
	minB      time.Duration
	maxB      time.Duration
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	batches   chan []Entry // from the goroutine that runs journalctl to Next
	exited    chan struct{}
	c         counters
	restartLg lograte.Limit
	stderrLg  lograte.Limit

	// Owned by the goroutine that runs journalctl (and by Open before it
	// starts).
	resume    string // the cursor of the last entry handed to Next
	needProbe bool   // find the journal's end before following

	pending []Entry // owned by Next: the rest of the last batch received

	mu     sync.Mutex
	cursor string // Cursor()
	pid    int    // the running journalctl --follow, 0 when none
}

// Open checks the options, finds the journal's end when it is to start
// there, and starts following. It fails for bad options and for a missing
// journalctl; trouble later is logged and retried.
func Open(opt Options) (*Journal, error) {
	switch {
	case opt.MaxField < 0 || opt.MaxField > maxMaxField:
		return nil, fmt.Errorf("journal source: max field %d is out of range: use 0 for the default (%d) or at most %d", opt.MaxField, DefaultMaxField, maxMaxField)
	case opt.MinBackoff < 0 || opt.MaxBackoff < 0:
		return nil, errors.New("journal source: negative backoff: use 0 for the defaults")
	case opt.Cursor != "" && !validCursor(opt.Cursor):
		return nil, fmt.Errorf("journal source: saved cursor %.40q is malformed: delete it to start at the journal's end", opt.Cursor)
	}
	for _, m := range opt.Spec.Matches {
		if err := m.validate(); err != nil {
			return nil, fmt.Errorf("journal source %s: %w", opt.Spec, err)
		}
	}
	if opt.MaxField == 0 {
		opt.MaxField = DefaultMaxField
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = max(DefaultMaxBackoff, opt.MinBackoff)
	}
	if opt.MaxBackoff < opt.MinBackoff {
		return nil, fmt.Errorf("journal source: max backoff %v is below min backoff %v", opt.MaxBackoff, opt.MinBackoff)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Directory != "" {
		fi, err := os.Stat(opt.Directory)
		if err != nil {
			return nil, fmt.Errorf("journal source: journal directory: %w: give a directory of journal files, or no directory for the system journal", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("journal source: %s is not a directory: give a directory of journal files", opt.Directory)
		}
	}
	name := opt.Journalctl
	if name == "" {
		name = "journalctl"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("journal source: cannot run %s: %w: install systemd (Debian package systemd provides journalctl) or read a log file source instead", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &Journal{
		path:      path,
		dir:       opt.Directory,
		spec:      opt.Spec,
		maxField:  opt.MaxField,
		minB:      opt.MinBackoff,
		maxB:      opt.MaxBackoff,
		log:       opt.Logger.With("source", opt.Spec.String()),
		ctx:       ctx,
		cancel:    cancel,
		batches:   make(chan []Entry),
		exited:    make(chan struct{}),
		restartLg: lograte.Limit{Interval: time.Minute, Burst: 3},
		stderrLg:  lograte.Limit{Interval: time.Minute, Burst: 10},
		resume:    opt.Cursor,
		cursor:    opt.Cursor,
		needProbe: opt.Cursor == "" && !opt.FromStart,
	}
	if j.needProbe {
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := j.probe(pctx)
		pcancel()
		if err != nil {
			j.log.Warn("cannot find the journal's end yet: will retry", "err", err)
		}
	}
	go j.run()
	return j, nil
}

// Next returns the next entry, blocking until there is one, ctx is done,
// or the Journal is closed.
func (j *Journal) Next(ctx context.Context) (Entry, error) {
	if j.ctx.Err() != nil {
		return Entry{}, ErrClosed
	}
	if len(j.pending) == 0 {
		select {
		case j.pending = <-j.batches:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		case <-j.ctx.Done():
			return Entry{}, ErrClosed
		}
	}
	e := j.pending[0]
	j.pending[0] = Entry{}
	j.pending = j.pending[1:]
	j.c.entries.Add(1)
	j.mu.Lock()
	j.cursor = e.Cursor
	j.mu.Unlock()
	return e, nil
}

// Cursor returns where the Journal would resume: the cursor of the last
// entry Next returned, or before that, Options.Cursor or the journal's end
// found by Open. A caller that starts at the end saves it at once, so that a
// crash before the first entry loses nothing. "" means the start of the
// journal (or an end not found yet).
func (j *Journal) Cursor() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cursor
}

// Stats returns the counters so far.
func (j *Journal) Stats() Stats {
	return Stats{
		Entries:        j.c.entries.Load(),
		Bytes:          j.c.bytes.Load(),
		Restarts:       j.c.restarts.Load(),
		DecodeErrors:   j.c.decodeErrors.Load(),
		Oversize:       j.c.oversize.Load(),
		Skipped:        j.c.skipped.Load(),
		StderrLines:    j.c.stderrLines.Load(),
		CursorNotFound: j.c.cursorNotFound.Load(),
	}
}

// Close stops journalctl, waits for it, and ends a pending Next with
// ErrClosed.
func (j *Journal) Close() error {
	j.cancel()
	<-j.exited
	return nil
}

// childPID returns the pid of the running journalctl --follow, 0 when none.
func (j *Journal) childPID() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pid
}

func (j *Journal) setPID(pid int) {
	j.mu.Lock()
	j.pid = pid
	j.mu.Unlock()
}

// run keeps journalctl running until Close.
func (j *Journal) run() {
	defer close(j.exited)
	backoff := j.minB
	for {
		started := time.Now()
		delivered, err := j.follow()
		if j.ctx.Err() != nil {
			return
		}
		if delivered > 0 || time.Since(started) >= j.maxB {
			backoff = j.minB
		}
		n := j.c.restarts.Add(1)
		if ok, suppressed := j.restartLg.Allow(time.Now()); ok {
			j.log.Warn("journalctl stopped: starting it again after the last entry read",
				"err", err, "after", backoff, "restarts", n, "not_logged", suppressed)
		}
		t := time.NewTimer(backoff)
		select {
		case <-j.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, j.maxB)
	}
}

// baseArgs are the arguments of every journalctl run. --merge: journalctl
// --follow otherwise shows only the current boot, which would lose the
// entries after a saved cursor written before a reboot. (It also makes the
// system journal include the journals of other machines kept on this host,
// such as containers'; Entry.Host tells them apart.)
func (j *Journal) baseArgs() []string {
	var a []string
	if j.dir != "" {
		a = append(a, "--directory="+j.dir)
	}
	return append(a, "--merge", "--no-pager", "--output=export")
}

func (j *Journal) matchArgs() []string {
	if len(j.spec.Matches) == 0 {
		return nil
	}
	return append([]string{"--"}, j.spec.args()...)
}

// probe finds the cursor of the journal's last (matching) entry, where a
// Journal without a cursor starts.
func (j *Journal) probe(ctx context.Context) error {
	args := append(j.baseArgs(), "--lines=1", "--output-fields=__CURSOR")
	args = append(args, j.matchArgs()...)
	var last string
	_, err := j.runJournalctl(ctx, args, false, func(d *decoder) error {
		for {
			var e Entry
			if err := d.next(&e); err != nil {
				return err
			}
			last = e.Cursor
		}
	})
	if err != nil {
		return err
	}
	j.resume, j.needProbe = last, false
	j.mu.Lock()
	j.cursor = last
	j.mu.Unlock()
	if last == "" {
		j.log.Info("journal has no matching entry yet: reading from its start")
	}
	return nil
}

// follow runs journalctl --follow once, handing entries to Next, and
// returns how many it handed over.
func (j *Journal) follow() (int, error) {
	if j.needProbe {
		ctx, cancel := context.WithTimeout(j.ctx, probeTimeout)
		err := j.probe(ctx)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("find the journal's end: %w", err)
		}
	}
	args := append(j.baseArgs(), "--follow", "--lines=all", "--output-fields="+outputFields)
	cursor := j.resume
	if cursor != "" {
		// --cursor, not --after-cursor: journalctl 252 --after-cursor
		// skips one entry too many when the cursor's entry is gone. The
		// cursor's own entry comes first and is dropped below.
		args = append(args, "--cursor="+cursor)
	}
	args = append(args, j.matchArgs()...)
	// Entries go to Next in batches of those already in the pipe, so that
	// a busy journal does not cost a goroutine switch per entry. A batch
	// handed over counts as delivered: the entries not yet returned wait in
	// Next's queue, and journalctl resumes after the batch's last one.
	delivered := 0
	first := true
	var batch []Entry
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		last, n := batch[len(batch)-1].Cursor, len(batch)
		select {
		case j.batches <- batch: // Next owns it now
		case <-j.ctx.Done():
			return j.ctx.Err()
		}
		j.resume = last
		delivered += n
		batch = nil
		return nil
	}
	seekFailed, err := j.runJournalctl(j.ctx, args, true, func(d *decoder) error {
		for {
			var e Entry
			if err := d.next(&e); err != nil {
				if serr := send(); serr != nil {
					return serr
				}
				return err
			}
			if first {
				first = false
				if cursor != "" {
					if e.Cursor == cursor {
						continue
					}
					j.c.cursorNotFound.Add(1)
					j.log.Warn("journal cursor not found (its entry was rotated away and vacuumed, or no longer matches): resuming at the next later entry",
						"cursor", cursor, "resumed_at", e.Cursor)
				}
			}
			batch = append(batch, e)
			if len(batch) < maxBatch && d.entryBuffered() {
				continue
			}
			if err := send(); err != nil {
				return err
			}
		}
	})
	if seekFailed && delivered == 0 && cursor != "" && j.ctx.Err() == nil {
		j.log.Error("journalctl rejects the saved cursor: starting at the journal's end; entries since the cursor are not read", "cursor", cursor)
		j.resume, j.needProbe = "", true
	}
	return delivered, err
}

// runJournalctl runs journalctl with args, gives its output to consume, and
// waits for it to end. follow marks the long-running journalctl whose pid
// childPID shows. It reports whether journalctl complained about a cursor.
func (j *Journal) runJournalctl(ctx context.Context, args []string, follow bool, consume func(*decoder) error) (seekFailed bool, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return false, fmt.Errorf("pipe for journalctl: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return false, fmt.Errorf("pipe for journalctl: %w", err)
	}
	cmd := exec.Command(j.path, args...)
	cmd.Stdout, cmd.Stderr = outW, errW
	prepare(cmd)
	startErr := cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if startErr != nil {
		_ = outR.Close()
		_ = errR.Close()
		return false, fmt.Errorf("start journalctl: %w", startErr)
	}
	if follow {
		j.setPID(cmd.Process.Pid)
	}
	j.log.Debug("journalctl started", "pid", cmd.Process.Pid, "args", args)
	var lastErrLine atomic.Pointer[string]
	var badCursor atomic.Bool
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		j.readStderr(errR, &lastErrLine, &badCursor)
	}()
	// On Close: kill journalctl and unblock the decoder, even if something
	// journalctl started still holds the pipe.
	stop := context.AfterFunc(ctx, func() {
		_ = cmd.Process.Kill()
		_ = outR.Close()
	})
	cerr := consume(newDecoder(&countingReader{r: &pacedReader{r: outR}, n: &j.c.bytes}, j.maxField, &j.c))
	if cerr != io.EOF && cerr != io.ErrUnexpectedEOF {
		_ = cmd.Process.Kill() // the decoder stopped reading: it is not waited for
	}
	if follow {
		j.setPID(0)
	}
	werr := cmd.Wait()
	stop()
	_ = outR.Close()
	grace := time.NewTimer(stderrGrace)
	select {
	case <-errDone:
	case <-grace.C:
		_ = errR.Close()
		<-errDone
	}
	grace.Stop()
	_ = errR.Close()
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case werr != nil:
		if l := lastErrLine.Load(); l != nil {
			return badCursor.Load(), fmt.Errorf("journalctl: %w: %s", werr, *l)
		}
		return badCursor.Load(), fmt.Errorf("journalctl: %w", werr)
	case cerr != io.EOF && cerr != io.ErrUnexpectedEOF:
		return badCursor.Load(), fmt.Errorf("read journalctl output: %w", cerr)
	case follow:
		return badCursor.Load(), errors.New("journalctl exited")
	}
	return badCursor.Load(), nil
}

// readStderr counts and logs (rate-limited) what journalctl writes to its
// standard error.
func (j *Journal) readStderr(r io.Reader, last *atomic.Pointer[string], badCursor *atomic.Bool) {
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, err := br.ReadSlice('\n')
		cut := err == bufio.ErrBufferFull
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			for cut {
				_, err = br.ReadSlice('\n')
				cut = err == bufio.ErrBufferFull
			}
			j.c.stderrLines.Add(1)
			last.Store(&text)
			if strings.Contains(strings.ToLower(text), "seek to cursor") {
				badCursor.Store(true)
			}
			if ok, suppressed := j.stderrLg.Allow(time.Now()); ok {
				j.log.Warn("journalctl says", "line", text, "not_logged", suppressed)
			}
		}
		if err != nil {
			return
		}
	}
}

// countingReader counts the bytes read through it.
// pacedReader lets journalctl fill the pipe between two reads that each
// found little in it: journalctl writes entry by entry, and a reader that
// keeps up wakes (a read, a batch handed to Next) once per entry, which
// cost more than decoding it (bench/journal.sh). After a short read it
// waits pipePause before reading again; while journalctl catches up, the
// next read then takes many entries at once, and a live entry waits at
// most pipePause longer, only when it follows another within that time.
type pacedReader struct {
	r     io.Reader
	short bool // the last read returned less than pipeFull
}

const (
	pipeFull  = 16 << 10 // bytes: a read this large is not short
	pipePause = time.Millisecond
)

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.short {
		time.Sleep(pipePause)
	}
	n, err := p.r.Read(b)
	p.short = n < pipeFull && n < len(b)
	return n, err
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
