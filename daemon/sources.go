package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"phalanx/fail2ban"
	"phalanx/logline"
	"phalanx/pipeline"
	"phalanx/source"
)

// defaultLogs are the sshd log files watched when no source is configured
// and one of them is being written.
var defaultLogs = []string{"/var/log/auth.log", "/var/log/secure"}

// defaultWebLogs are the web servers' logs, as Debian and RHEL-likes place
// them, watched beside sshd's when no source is configured and they exist.
var defaultWebLogs = []string{
	"nginx:/var/log/nginx/access.log", "nginx:/var/log/nginx/error.log",
	"apache:/var/log/apache2/access.log", "apache:/var/log/apache2/error.log",
	"apache:/var/log/httpd/access_log", "apache:/var/log/httpd/error_log",
}

// serviceDefault is one service that `phalanx run` watches on defaults
// when it finds the service installed.
type serviceDefault struct {
	service   string
	installed []string // paths whose existence says the service is installed: its program or config directory
	logs      []string // its usual log files, as Debian and RHEL-likes place them; globs allowed
	journal   bool     // read journal:SERVICE when none of its log files is being written
}

// defaultServiceLogs are the built-in services beyond sshd and the web
// servers. Several share a file (postfix and dovecot write mail.log): it
// is watched once, and each line goes to its program's service.
var defaultServiceLogs = []serviceDefault{
	{"postfix", []string{"/usr/sbin/postfix", "/etc/postfix"}, []string{"/var/log/mail.log", "/var/log/maillog"}, true},
	{"dovecot", []string{"/usr/sbin/dovecot", "/etc/dovecot"}, []string{"/var/log/mail.log", "/var/log/maillog", "/var/log/dovecot.log"}, true},
	{"exim", []string{"/usr/sbin/exim4", "/usr/sbin/exim"}, []string{"/var/log/exim4/mainlog", "/var/log/exim/main.log"}, true},
	{"vsftpd", []string{"/usr/sbin/vsftpd"}, []string{"/var/log/vsftpd.log"}, true},
	{"proftpd", []string{"/usr/sbin/proftpd"}, []string{"/var/log/proftpd/proftpd.log"}, true},
	{"pure-ftpd", []string{"/usr/sbin/pure-ftpd"}, nil, true},
	{"mysql", []string{"/usr/sbin/mysqld", "/usr/sbin/mariadbd"}, []string{"/var/log/mysql/error.log", "/var/log/mariadb/mariadb.log", "/var/log/mysqld.log"}, true},
	{"postgresql", []string{"/usr/lib/postgresql", "/usr/bin/postgres", "/usr/pgsql"}, []string{"/var/log/postgresql/postgresql-*.log"}, true},
	// The kernel's LOG lines: kern.log only takes the kernel's facility,
	// which no local user can write (the journal source matches
	// _TRANSPORT=kernel for the same reason).
	// Watched where kern.log exists, or where ufw (which logs the packets
	// it blocks) is installed.
	{"netfilter", []string{"/var/log/kern.log", "/usr/sbin/ufw"}, []string{"/var/log/kern.log"}, true},
}

// freshLog is how recently a default log file must have been written to be
// taken as the one the system writes (Debian 12+ and RHEL-likes may keep a
// stale auth.log from before they moved to the journal).
const freshLog = 7 * 24 * time.Hour

// sources feeds the pipeline from every configured source — tailed files,
// the journal, syslog receivers — remembering where each one was across
// restarts.
type sources struct {
	log        *slog.Logger
	path       string // file positions
	cursorPath string // journal cursors
	files      []*tailed
	journals   []*journaled
	syslogs    []*received
	specs      []string // what is watched, as written

	mu      sync.Mutex
	pos     map[string]source.Position
	cursors map[string]string
	// counts are each source's events and skipped lines, by the name its
	// lines are counted under; written under d.pipeMu (by the pipeline),
	// the map itself under mu.
	counts map[string]*pipeline.StreamCounters
}

// counters returns the pipeline counters of the source named name,
// made on first use.
func (s *sources) counters(name string) *pipeline.StreamCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]*pipeline.StreamCounters{}
	}
	c := s.counts[name]
	if c == nil {
		c = &pipeline.StreamCounters{}
		s.counts[name] = c
	}
	return c
}

// countsOf returns a copy of the pipeline counters of the source named
// name, false when it has none; the caller holds d.pipeMu.
func (s *sources) countsOf(name string) (pipeline.StreamCounters, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.counts[name]; c != nil {
		return *c, true
	}
	return pipeline.StreamCounters{}, false
}

type tailed struct {
	path    string
	service string
	ext     func() pipeline.External // fail2ban jails reading the file too; nil for none
}

// sourceOptions are what the sources need from the daemon's options.
type sourceOptions struct {
	dataDir     string
	specs       []string
	defaultLogs []string // nil for defaultLogs
	journalDir  string
	journalctl  string // "" for journalctl on PATH
	syslogAllow []netip.Prefix
	syslogRate  float64
	now         time.Time
	webLogs     []string // nil for defaultWebLogs
	// serviceLogs are the services watched on defaults when installed;
	// nil for defaultServiceLogs, or for none when defaultLogs is set.
	serviceLogs []serviceDefault
	// checkService checks a declared service ("sshd", "nginx/main"); nil
	// accepts the built-in services without log formats.
	checkService func(name string) error
	// fail2ban: the jails whose logs are watched too; nil for none.
	fail2ban *fail2ban.Setup
}

func (o sourceOptions) check(service string) error {
	if o.checkService != nil {
		return o.checkService(service)
	}
	c := pipeline.DefaultConfig()
	return c.CheckService(service)
}

func openSources(o sourceOptions, log *slog.Logger) (_ *sources, err error) {
	s := &sources{log: log, path: filepath.Join(o.dataDir, filePositions), cursorPath: filepath.Join(o.dataDir, fileCursors),
		pos: map[string]source.Position{}, cursors: map[string]string{}}
	readJSON(s.path, &s.pos, "tail positions; files are read from their end", log)
	readJSON(s.cursorPath, &s.cursors, "journal cursors; the journal is read from its end", log)
	specs := o.specs
	if len(specs) == 0 {
		specs = append(chooseDefaults(o, log), chooseWebDefaults(o, log)...)
		specs = append(specs, chooseServiceDefaults(o, log)...)
	}
	defer func() {
		if err != nil {
			s.close() // listeners bound before the bad spec
		}
	}()
	seen := map[string]bool{}
	for _, text := range specs {
		sp, err := source.ParseSpec(text, func(p string) bool { _, err := os.Stat(p); return err == nil })
		if err != nil {
			return nil, err
		}
		if sp.Service != "" && sp.Kind != source.KindJournal {
			if err := o.check(sp.Service); err != nil {
				return nil, fmt.Errorf("source %q: %w", text, err)
			}
		}
		switch sp.Kind {
		case source.KindFile:
			if sp.Target == "-" {
				return nil, fmt.Errorf("source %q: the daemon cannot read standard input; name a file (phalanx replay reads -)", text)
			}
			abs, err := filepath.Abs(sp.Target)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", text, err)
			}
			if seen[abs] {
				continue
			}
			seen[abs] = true
			s.files = append(s.files, &tailed{path: abs, service: sp.Service})
			s.specs = append(s.specs, abs)
		case source.KindJournal:
			j, err := newJournaled(sp, o)
			if err != nil {
				return nil, err
			}
			if seen[sp.Text] {
				continue
			}
			seen[sp.Text] = true
			s.journals = append(s.journals, j)
			s.specs = append(s.specs, sp.Text)
		case source.KindSyslog:
			r, err := newReceived(sp, o, log)
			if err != nil {
				return nil, err
			}
			s.syslogs = append(s.syslogs, r)
			s.specs = append(s.specs, r.text)
		}
	}
	if o.fail2ban != nil {
		if err := s.addFail2ban(o.fail2ban, o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// chooseDefaults picks what `phalanx run` watches when nothing is
// configured, and says why: the usual sshd log file when one is being
// written, otherwise sshd's entries in the journal (Debian 12+, Fedora and
// RHEL-likes write no auth.log), otherwise a stale log file, otherwise
// nothing.
func chooseDefaults(o sourceOptions, log *slog.Logger) []string {
	logs := o.defaultLogs
	if logs == nil {
		logs = defaultLogs
	}
	var stale string
	for _, p := range logs {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if age := o.now.Sub(fi.ModTime()); age < freshLog {
			log.Info("no source configured: watching the sshd log file that is being written", "path", p, "last_written", fi.ModTime().Format(time.RFC3339))
			return []string{p}
		}
		if stale == "" {
			stale = p
		}
	}
	if _, err := lookJournalctl(o.journalctl); err == nil {
		log.Info("no source configured and no sshd log file is being written: reading sshd's entries from the systemd journal",
			"looked_for", strings.Join(logs, ", "), "source", "journal:sshd")
		return []string{"journal:sshd"}
	}
	if stale != "" {
		log.Warn("no source configured: watching an sshd log file that has not been written for a week (journalctl is not installed)", "path", stale)
		return []string{stale}
	}
	log.Warn("watching nothing: none of the usual sshd logs exists and journalctl is not installed; give --source PATH or daemon.sources in the config",
		"looked_for", strings.Join(logs, ", "))
	return nil
}

// chooseWebDefaults returns the default web-server logs that exist.
func chooseWebDefaults(o sourceOptions, log *slog.Logger) []string {
	logs := o.webLogs
	if logs == nil {
		logs = defaultWebLogs
	}
	var out []string
	for _, spec := range logs {
		_, path, _ := strings.Cut(spec, ":")
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			out = append(out, spec)
		}
	}
	if len(out) > 0 {
		log.Info("no source configured: watching the web server logs that exist", "sources", strings.Join(out, ", "))
	}
	return out
}

// chooseServiceDefaults returns, for each service of o.serviceLogs (the
// built-in defaultServiceLogs) found installed, its log files that are
// being written, else its journal entries when journalctl is there, else
// its log files that exist; and says which, and which installed services
// it cannot watch.
func chooseServiceDefaults(o sourceOptions, log *slog.Logger) []string {
	table := o.serviceLogs
	if table == nil {
		if o.defaultLogs != nil {
			// A caller that replaced the sshd logs pretends to be another
			// host (tests): this host's services are not looked for.
			return nil
		}
		table = defaultServiceLogs
	}
	_, jerr := lookJournalctl(o.journalctl)
	var out, unwatched []string
	taken := map[string]bool{}
	for _, sd := range table {
		if !anyExists(sd.installed) {
			continue
		}
		var fresh, stale []string
		for _, pattern := range sd.logs {
			paths, _ := filepath.Glob(pattern)
			for _, p := range paths {
				fi, err := os.Stat(p)
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
				if o.now.Sub(fi.ModTime()) < freshLog {
					fresh = append(fresh, p)
				} else {
					stale = append(stale, p)
				}
			}
		}
		var chosen []string
		switch {
		case len(fresh) > 0:
			for _, p := range fresh {
				chosen = append(chosen, sd.service+":"+p)
			}
		case sd.journal && jerr == nil:
			chosen = []string{"journal:" + sd.service}
		default:
			for _, p := range stale {
				chosen = append(chosen, sd.service+":"+p)
			}
		}
		if len(chosen) == 0 {
			unwatched = append(unwatched, sd.service)
		}
		for _, spec := range chosen {
			// A file two services share is watched once; its lines go to
			// their programs' services.
			key := spec
			if _, path, ok := strings.Cut(spec, ":"); ok && !strings.HasPrefix(spec, "journal:") {
				key = path
			}
			if !taken[key] {
				taken[key] = true
				out = append(out, spec)
			}
		}
	}
	if len(out) > 0 {
		log.Info("no source configured: watching the logs of the services installed here", "sources", strings.Join(out, ", "))
	}
	if len(unwatched) > 0 {
		log.Warn("services installed here whose logs were not found and journalctl is not installed: give --source SERVICE:PATH for them",
			"services", strings.Join(unwatched, ", "))
	}
	return out
}

func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func lookJournalctl(path string) (string, error) {
	if path == "" {
		path = "journalctl"
	}
	return exec.LookPath(path)
}

func readJSON(path string, v any, what string, log *slog.Logger) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Warn("ignoring unreadable "+what, "path", path, "err", err)
	}
}

// stats are the counters of the sources that keep their own (the journal,
// syslog receivers), by source.
func (s *sources) stats() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, j := range s.journals {
		if st := j.stats(); st != nil {
			out[j.text] = st
		}
	}
	for _, r := range s.syslogs {
		out[r.text] = r.stats()
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// paths lists what is watched.
func (s *sources) paths() []string { return s.specs }

func (s *sources) run(ctx context.Context, d *Daemon) {
	var wg sync.WaitGroup
	for _, f := range s.files {
		wg.Go(func() { s.follow(ctx, d, f) })
	}
	for _, j := range s.journals {
		wg.Go(func() { s.followJournal(ctx, d, j) })
	}
	for _, r := range s.syslogs {
		wg.Go(func() { r.run(ctx, d) })
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var last pipeline.Counters
	lastLog := time.Now()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case now := <-t.C:
			if now.Sub(lastLog) >= time.Minute {
				last = s.logTrouble(d, last)
				lastLog = now
			}
			// Positions move on only while no report is waiting for the
			// fabric: after a crash, lines whose reports were not stored are
			// read again, so their decisions are made again.
			if d.inflight.Load() == 0 {
				s.savePositions()
			}
		}
	}
}

// logTrouble logs, at most once a minute, the lines that could not be used
// or came out of order since the last time: counted always, said in the log
// without flooding it.
func (s *sources) logTrouble(d *Daemon, last pipeline.Counters) pipeline.Counters {
	d.pipeMu.Lock()
	c := d.pipe.Counters()
	d.pipeMu.Unlock()
	if last.Skipped == nil {
		last.Skipped = map[string]int64{}
	}
	var args []any
	for _, r := range []string{pipeline.SkipFormat, pipeline.SkipOverlong, pipeline.SkipEncoding} {
		if n := c.Skipped[r] - last.Skipped[r]; n > 0 {
			args = append(args, "skipped_"+r, n)
		}
	}
	if n := c.OutOfOrder - last.OutOfOrder; n > 0 {
		args = append(args, "out_of_order", n)
	}
	if len(args) > 0 && c.Lines >= last.Lines {
		s.log.Warn("log lines in the last minute that could not be used or went back in time (counted; see phalanx status)", args...)
	}
	return c
}

// feeder hands one source's lines to the daemon's pipeline, on a stream of
// its own that it renews when a reload replaces the pipeline.
type feeder struct {
	d       *Daemon
	service string
	ext     func() pipeline.External // a new External for each new stream; nil for none
	via     string                   // Event.Via of its lines
	counts  *pipeline.StreamCounters // its source's; nil for none
	pipe    *pipeline.Pipeline
	gen     uint64 // d.pipeGen when pipe was last looked at (parseLine)
	stream  *pipeline.Stream
	n       int
}

// current returns the feeder's stream, renewing it when needed; the
// caller holds d.pipeMu.
func (f *feeder) current(now time.Time) *pipeline.Stream {
	if f.d.pipe != f.pipe {
		f.renew(now)
	}
	return f.count(now)
}

// count counts one more line of the feeder's stream, arrived at now, and
// returns the stream: its reference time moves every 1,024 lines.
func (f *feeder) count(now time.Time) *pipeline.Stream {
	if f.n&1023 == 0 {
		f.stream.SetReference(now)
	}
	f.n++
	return f.stream
}

// renew gives the feeder a stream of the daemon's pipeline; the caller
// holds d.pipeMu.
func (f *feeder) renew(now time.Time) {
	f.pipe = f.d.pipe
	f.stream = f.pipe.NewStream(now, nil)
	if f.service != "" {
		f.stream.SetService(f.service) // checked when the source was opened
	}
	f.stream.SetVia(f.via)
	f.stream.SetCounters(f.counts)
	if f.ext != nil {
		f.stream.SetExternal(f.ext())
	}
}

// parseLine parses one raw line that arrived at now into b, apart from
// the pipeline (feedApart): d.pipeMu is taken only when a reload has
// replaced the pipeline, to renew the stream. The feeder has no External
// (pipeline.Stream.ParseAt).
func (f *feeder) parseLine(line []byte, num int64, now time.Time, b *pipeline.Parsed) {
	d := f.d
	if d.pipeGen.Load() != f.gen {
		d.pipeMu.Lock()
		f.gen = d.pipeGen.Load()
		if d.pipe != f.pipe {
			f.renew(now)
		}
		d.pipeMu.Unlock()
	}
	f.count(now).ParseAt(line, num, now, b)
}

// line feeds one raw line that arrived now; num 0 numbers it by the
// feeder's count (a syslog sender's lines have no file position).
func (f *feeder) line(line []byte, num int64) { f.lineAt(line, num, f.d.now()) }

// lineAt feeds one raw line that arrived at now.
func (f *feeder) lineAt(line []byte, num int64, now time.Time) {
	d := f.d
	d.pipeMu.Lock()
	st := f.current(now)
	if num == 0 {
		num = int64(f.n)
	}
	st.LineAt(line, num, now)
	d.pipeMu.Unlock()
}

// frame feeds one line its source already split.
func (f *feeder) frame(fr *logline.Frame, raw []byte, num int64) {
	d := f.d
	d.pipeMu.Lock()
	now := d.now()
	f.current(now).FrameAt(fr, raw, num, now)
	d.pipeMu.Unlock()
}

// pinFirst records where each file watched for the first time ends now,
// before the daemon says it runs: a line written after the start is read
// even when the daemon dies before its tail opens the file (a restart
// would otherwise begin at the file's new end and skip it).
func (s *sources) pinFirst() {
	pinned := false
	for _, f := range s.files {
		_, _, p := s.position(f.path)
		pinned = pinned || p
	}
	if pinned {
		s.savePositions()
	}
}

// position returns where the file at path is to be read from: its saved
// place, or, the first time it is watched, its current end (old lines are
// history, not attacks in progress), recorded at once so that a crash
// before the first line loses nothing; pinned says that place is new and
// is to be saved. ok is false for a file watched for the first time that is
// empty or missing: it is read from its start.
func (s *sources) position(path string) (pos source.Position, ok, pinned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos, ok = s.pos[path]; ok {
		return pos, true, false
	}
	if end, err := source.EndPosition(path); err == nil && end.Offset > 0 {
		s.pos[path] = end
		return end, true, true
	}
	return source.Position{}, false, false
}

func (s *sources) follow(ctx context.Context, d *Daemon, f *tailed) {
	start, ok, pinned := s.position(f.path)
	if pinned {
		s.savePositions()
	}
	var idle func() // set by the way the lines are fed: feedApart or feedInline
	opt := source.TailOptions{Logger: s.log.With("source", f.path), Idle: func() { idle() }}
	if ok {
		opt.Start = &start
	} else {
		opt.FromStart = true
	}
	t, err := source.OpenTail(f.path, opt)
	if err != nil {
		s.log.Error("cannot tail log file", "path", f.path, "err", err)
		return
	}
	defer t.Close()
	service := f.service
	if service == "" {
		service = "recognised from each line"
	}
	s.log.Info("watching log file", "path", f.path, "service", service)
	fd := &feeder{d: d, service: f.service, ext: f.ext, counts: s.counters(f.path)}
	if f.ext != nil {
		s.feedInline(ctx, f, t, fd, &idle)
		return
	}
	s.feedApart(ctx, f, t, fd, &idle)
}

// next returns the tail's next line, and whether to go on: false once
// the tail has ended (ctx, or trouble it logs). first says the line is the
// first since the tail waited: busy (the tail has returned lines it found
// without waiting since it last waited) is set then, and the tail counts
// in d.behind until the caller says it has caught up.
func (s *sources) next(ctx context.Context, d *Daemon, f *tailed, t *source.Tail, busy *bool) (line []byte, pos source.Position, first, ok bool) {
	line, pos, err := t.Next(ctx)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, source.ErrClosed) {
			s.log.Error("tail stopped", "path", f.path, "err", err)
		}
		return nil, pos, false, false
	}
	if first = !*busy; first {
		*busy = true
		d.behind.Add(1)
	}
	return line, pos, first, true
}

// arrival dates the lines a tail finds without waiting: they arrived
// together, so the clock is read after every wait and every arrivalEvery
// lines, not for each line of a flood.
type arrival struct {
	now   time.Time
	fresh int
}

// at returns the arrival time of the next line; first says it is the
// first since the tail waited.
func (a *arrival) at(d *Daemon, first bool) time.Time {
	if first {
		a.fresh = 0
	}
	if a.fresh == 0 {
		a.now = d.now()
	}
	a.fresh = (a.fresh + 1) % arrivalEvery
	return a.now
}

// feedInline feeds each of f's lines to the pipeline as it reads it,
// under d.pipeMu: for a file whose stream cannot parse apart (fail2ban's
// jails read it too).
func (s *sources) feedInline(ctx context.Context, f *tailed, t *source.Tail, fd *feeder, idle *func()) {
	d := fd.d
	// busy: this tail has returned lines it found without waiting since it
	// last waited; it counts in d.behind meanwhile.
	busy := false
	defer func() {
		if busy {
			d.caughtUpTail()
		}
	}()
	*idle = func() {
		if busy {
			busy = false
			d.caughtUpTail()
		}
	}
	lines := d.met.lines.WithLabelValues(f.path)
	var arr arrival
	for {
		line, pos, first, ok := s.next(ctx, d, f, t, &busy)
		if !ok {
			return
		}
		fd.lineAt(line, pos.Line, arr.at(d, first))
		lines.Inc()
		s.setPosition(f.path, pos)
	}
}

// setPosition records that the file at path has been read, and judged,
// up to pos.
func (s *sources) setPosition(path string, pos source.Position) {
	s.mu.Lock()
	s.pos[path] = pos
	s.mu.Unlock()
}

// tailBatch is a batch of a tail's lines, parsed and waiting to be judged
// (feedApart).
type tailBatch struct {
	p        pipeline.Parsed
	pos      source.Position // the file's position after its last line
	caughtUp bool            // it ends what the tail found without waiting
}

// Bounds on a tailBatch: lines, and bytes of the lines it keeps. A flood's
// batches are large so that the two goroutines of a tail seldom wait for
// each other: a goroutine woken by the other (a batch to judge, a batch
// free again) may wait up to a millisecond for a processor, on the
// processor of the goroutine that woke it while the other one idles (in
// traces of a 600,000-line flood on two cores, far less often at 2,048
// lines a batch than at 256). A line that comes alone is a batch of one at
// once.
const (
	batchLines = 2048
	batchBytes = 1 << 20
	// batchDepth is how many batches a tail has: being parsed, waiting and
	// being judged.
	batchDepth = 4
)

// feedApart reads, frames and parses f's lines on this goroutine and
// judges them on another, in batches: a batch is parsed
// (pipeline.Stream.ParseAt) while the one before it is judged under
// d.pipeMu (pipeline.Pipeline.Judge), so that a flood's lines take both
// cores, not one. A batch's position is recorded once it is judged, and
// the tail counts as behind (d.behind) until the batch that ends what it
// found without waiting is judged. Batches not judged when ctx ends are
// dropped: their lines were not recorded as read, and are read again at
// the next start.
func (s *sources) feedApart(ctx context.Context, f *tailed, t *source.Tail, fd *feeder, idle *func()) {
	d := fd.d
	free := make(chan *tailBatch, batchDepth)
	for range batchDepth {
		free <- &tailBatch{}
	}
	// full never blocks: it holds every batch there is.
	full := make(chan *tailBatch, batchDepth)
	judged := make(chan struct{})
	go func() {
		defer close(judged)
		lines := d.met.lines.WithLabelValues(f.path)
		for b := range full {
			if n := b.p.Lines(); n > 0 && ctx.Err() == nil {
				d.pipeMu.Lock()
				d.pipe.Judge(&b.p) // and empties it
				d.pipeMu.Unlock()
				lines.Add(float64(n))
				s.setPosition(f.path, b.pos)
			} else {
				b.p.Reset()
			}
			if b.caughtUp {
				d.caughtUpTail()
			}
			free <- b
		}
	}()
	// b is the batch being filled; it is not nil while the tail is busy
	// (it has returned lines it found without waiting since it last
	// waited, and counts in d.behind meanwhile), but while the tail waits
	// for a free batch. A full batch is sent when the next line comes, or
	// as the one that catches up.
	var b *tailBatch
	busy := false
	send := func(caughtUp bool) {
		b.caughtUp = caughtUp
		full <- b
		b = nil
	}
	defer func() {
		switch {
		case busy && b != nil:
			send(true)
		case busy: // stopped while waiting for a free batch
			d.caughtUpTail()
		}
		close(full)
		<-judged
	}()
	*idle = func() {
		if busy {
			busy = false
			send(true)
		}
	}
	var arr arrival
	for {
		line, pos, first, ok := s.next(ctx, d, f, t, &busy)
		if !ok {
			return
		}
		if b != nil && (b.p.Lines() >= batchLines || b.p.Size() >= batchBytes) {
			send(false)
		}
		if b == nil {
			select {
			case b = <-free:
			case <-ctx.Done():
				return // the line is dropped unjudged, as a batch is
			}
		}
		fd.parseLine(line, pos.Line, arr.at(d, first), &b.p)
		b.pos = pos
	}
}

// arrivalEvery is how many lines a tail reads without waiting that take
// one reading of the clock as their arrival time (see arrival).
const arrivalEvery = 64

func (s *sources) savePositions() {
	s.mu.Lock()
	b, err := json.MarshalIndent(s.pos, "", "  ")
	var c []byte
	if len(s.cursors) > 0 {
		c, _ = json.MarshalIndent(s.cursors, "", "  ")
	}
	s.mu.Unlock()
	if err != nil {
		return
	}
	if err := writeFileAtomic(s.path, b, 0o600); err != nil {
		s.log.Warn("save tail positions", "err", err)
	}
	if c != nil {
		if err := writeFileAtomic(s.cursorPath, c, 0o600); err != nil {
			s.log.Warn("save journal cursors", "err", err)
		}
	}
}

// close releases what opening the sources took (syslog listeners).
func (s *sources) close() {
	for _, r := range s.syslogs {
		r.close()
	}
}
