// Package pipeline turns log lines into events, events into alerts and alerts
// into decisions: framing, the service parsers, the scenario engine and the
// remedy policy wired in that order. It is used by `phalanx replay` and by the
// daemon. It reads no files and keeps no clock: time comes with each line.
//
// A line's written time is evidence, not a clock. Live sources hand each
// line over with the time it arrived (Stream.LineAt), and the line is judged
// then: its written time counts only within a short catch-up window before
// the arrival (CatchUp), so a line dated in the future or the past can
// neither blind a source nor make old lines count as new. A replay judges
// lines by their written times in an order that does not depend on the order
// of its input (Defer, Finish). No line is dropped for its time; lines that
// go back in time are only counted.
//
// It must not block, and it must not trust a line: every line it cannot use
// is counted by reason, never fatal.
package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"phalanx"
	"phalanx/httprules"
	"phalanx/logline"
	"phalanx/parser/httplog"
	"phalanx/remedy"
	"phalanx/scenario"
)

// Config is the detection part of the configuration.
type Config struct {
	Scenarios scenario.Config
	Remedy    remedy.Config
	// Tolerance is how far a line's written time may go back before the
	// time of the line before it in its stream before the line is counted
	// as out of order (it is judged all the same).
	Tolerance time.Duration
	// CatchUp is how far before its arrival a live line's written time is
	// believed: a source catching up after a restart keeps the spacing of
	// its recent lines; older or future-dated lines are judged at the edge
	// of the window.
	CatchUp time.Duration
	// HTTP configures the web tier: trusted proxies, the rule pack, log
	// formats and crawler checks.
	HTTP HTTPConfig
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Scenarios: scenario.DefaultConfig(),
		Remedy:    remedy.DefaultConfig(),
		Tolerance: time.Minute,
		CatchUp:   10 * time.Minute,
	}
}

// Sink receives what the pipeline produces. The pointers are valid only for
// the duration of the call.
type Sink interface {
	Event(ev *phalanx.Event)
	Alert(a *phalanx.Alert)
	Decision(d *phalanx.Decision, a *phalanx.Alert)
	Refused(a *phalanx.Alert, reason error)
}

// LoginSink is a Sink that also hears of successful log-ins (never events:
// nothing counts them), such as sshd's "Accepted …" lines. A live
// pipeline calls Login; a deferred (replay) one does not.
type LoginSink interface {
	Login(addr netip.Addr, service string, at time.Time)
}

// ParseSink is a Sink that also hears of each event of a live pipeline as
// its line is parsed, before it is judged: on the goroutine that parses,
// which for a stream that parses apart (Stream.ParseAt) is not the one
// that judges, so Parsed must be safe for concurrent use. A line's event
// is handed to Parsed once, however many times the line counts. What
// Parsed sets in ev.Kept comes back with the event when it is judged
// (Sink.Event, before the Alert and Decision calls it causes); nothing
// else of ev may change.
type ParseSink interface {
	Parsed(ev *phalanx.Event)
}

// loginParser is a service parser that names the address of a successful
// log-in on the line it parsed last.
type loginParser interface {
	LoggedIn() (netip.Addr, bool)
}

// Skip reasons, as reported in Counters.Skipped.
const (
	SkipFormat   = "format"   // no known line shape (binary garbage, truncated lines)
	SkipOverlong = "overlong" // longer than the line limit; counted by the reader
	SkipEncoding = "encoding" // a service line that is not valid UTF-8
	// SkipNoClient (http.go): a web line from a trusted proxy naming no
	// client that can be believed.
)

// maxRepeat bounds the events that one "message repeated N times: [ ... ]"
// line stands for.
const maxRepeat = 1000

// Counters are the pipeline's running totals.
type Counters struct {
	Lines     int64
	Events    int64
	Alerts    int64
	Decisions int64
	Refused   int64
	Banned    int64 // alerts for a value this pipeline had already banned, still active
	// OutOfOrder counts lines whose written time went back further than the
	// tolerance before the line before them. They are judged all the
	// same: a time is evidence, never a reason to drop a line.
	OutOfOrder int64
	// Repeated counts the events that syslog daemons folded into "message
	// repeated N times" lines, beyond the one each such line shows.
	Repeated int64
	// Twins counts HTTP events that a second log of the same server
	// repeated (the access and the error log of one request): counted once.
	Twins int64
	// YearsShifted counts year-less lines that a replay moved back by whole
	// years because their stream would otherwise end in the future.
	YearsShifted int64
	Skipped      map[string]int64
}

// SkippedTotal is the sum of all skip reasons.
func (c *Counters) SkippedTotal() int64 {
	var n int64
	for _, v := range c.Skipped {
		n += v
	}
	return n
}

// Pipeline processes the lines of many streams. Create a Stream per source of
// lines; all streams share one scenario engine and one policy, so evidence
// from several files adds up. A Pipeline is not safe for concurrent use.
type Pipeline struct {
	cfg    Config
	engine *scenario.Engine
	policy *remedy.Policy
	pack   *httprules.Pack
	sink   Sink
	logins LoginSink // sink, when it hears of log-ins
	parsed ParseSink // sink, when it hears of parsed events
	c      Counters  // but the counts in t
	t      tally
	alerts []phalanx.Alert
	// active holds the end of every ban this pipeline decided, so that an
	// alert on a value already banned does not decide again: once banned, an
	// attacker's further lines are what a firewall would have stopped.
	active    map[netip.Prefix]time.Time
	pruneSize int
	banned    func(netip.Prefix) bool // replaces active when set

	// A deferred pipeline (Defer) holds events until Finish.
	deferred bool
	held     heldStore
	strs     interned // user names and paths of held events
	details  interned // rule names of held events
	streams  []*Stream
	nstreams int   // streams made, for their ids
	twins    twins // HTTP events already given by another stream
}

// New validates cfg and builds a pipeline that reports to sink.
func New(cfg Config, sink Sink) (*Pipeline, error) {
	if err := cfg.Scenarios.Validate(); err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	if err := cfg.Remedy.Validate(); err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	if cfg.Tolerance < 0 {
		return nil, errors.New("tolerance must not be negative")
	}
	if cfg.CatchUp < 0 {
		return nil, errors.New("catch-up window must not be negative")
	}
	pack := cfg.HTTP.Pack
	if pack == nil {
		pack = httprules.Default()
	}
	for _, p := range cfg.HTTP.TrustedProxies {
		if !p.IsValid() || p.Bits() == 0 {
			return nil, fmt.Errorf("http.trusted_proxies: %s is empty or trusts every address, which lets any client choose the address it is blamed under: list your proxies", p)
		}
	}
	sc := cfg.Scenarios
	specs, err := combineScenarios(sc.Scenarios, pack.Scenarios())
	if err != nil {
		return nil, err
	}
	sc.Scenarios = specs
	eng, err := scenario.New(sc)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	pol, err := remedy.New(cfg.Remedy)
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	logins, _ := sink.(LoginSink)
	parsed, _ := sink.(ParseSink)
	return &Pipeline{cfg: cfg, engine: eng, policy: pol, pack: pack, sink: sink, logins: logins, parsed: parsed, active: map[netip.Prefix]time.Time{}, pruneSize: 1024}, nil
}

// SetBanned replaces the pipeline's own memory of the bans it made with a
// check of the real decision table (the daemon's), so that a ban lifted by
// a pardon is not still taken as running: an attacker pardoned and back is
// banned again.
func (p *Pipeline) SetBanned(banned func(v netip.Prefix) bool) { p.banned = banned }

// Policy returns the pipeline's remedy policy (for territory checks).
func (p *Pipeline) Policy() *remedy.Policy { return p.policy }

// Engine returns the pipeline's scenario engine (for its statistics).
func (p *Pipeline) Engine() *scenario.Engine { return p.engine }

// Counters returns a copy of the running totals.
func (p *Pipeline) Counters() Counters {
	c := p.c
	c.Lines, c.OutOfOrder, c.Repeated = p.t.lines, p.t.outOfOrder, p.t.repeated
	c.Skipped = map[string]int64{
		SkipFormat:   p.t.skipped[0],
		SkipOverlong: p.t.skipped[1],
		SkipEncoding: p.t.skipped[2],
		SkipNoClient: p.t.skipped[3],
	}
	return c
}

// CountOverlong records n lines that the reader skipped for their length.
func (p *Pipeline) CountOverlong(n int64) {
	p.t.skipped[1] += n
	p.t.lines += n
}

// tally is what parsing counts: in the pipeline's totals, or in a Parsed
// batch until it is judged.
type tally struct {
	lines, outOfOrder, repeated int64
	skipped                     [4]int64 // by reason: SkipFormat, SkipOverlong, SkipEncoding, SkipNoClient
}

// Stream is one ordered source of lines, such as a file.
type Stream struct {
	p       *Pipeline
	framer  *logline.Framer
	parsers []lineParser    // by service index, made on first use
	service int             // index in services of the stream's declared service; -1 for none
	format  *httplog.Format // the declared nginx log_format; nil for the built-in shapes
	index   int             // position in p.streams (deferred pipelines)
	id      int             // unique among the pipeline's streams
	last    time.Time       // written time of the stream's previous line
	via     string          // Event.Via of the stream's events
	ref     time.Time
	loc     *time.Location
	shift   bool // a deferred stream may move its year-less lines by whole years
	frame   logline.Frame
	ev      phalanx.Event
	ext     External        // reads the lines instead of the services' parsers; nil for none
	evs     []phalanx.Event // ext's events of the current line
	counts  *StreamCounters // its source's counters; nil for none
	progs   programCache
	out     *Parsed // where ParseAt puts what it parses; nil: judged at once
}

// StreamCounters are one source's share of the pipeline's counters. They
// outlive a stream: the source's next stream (after a reload) adds to
// them. They are read and written under the lock that serialises the
// pipeline.
type StreamCounters struct {
	Events  int64
	skipped [4]int64 // as tally.skipped
}

// Skipped returns the source's skipped lines by reason (Skip*), only the
// reasons that occurred.
func (c *StreamCounters) Skipped() map[string]int64 {
	out := map[string]int64{}
	for i, r := range []string{SkipFormat, SkipOverlong, SkipEncoding, SkipNoClient} {
		if c.skipped[i] > 0 {
			out[r] = c.skipped[i]
		}
	}
	return out
}

// SetCounters makes the stream count its events and skipped lines in c as
// well as in the pipeline's totals.
func (s *Stream) SetCounters(c *StreamCounters) { s.counts = c }

// skip counts a line skipped for reason i (the index in tally.skipped),
// and in its source's counters: now, or when a Parsed batch is judged.
func (s *Stream) skip(i int) {
	s.tally().skipped[i]++
	if s.out == nil && s.counts != nil {
		s.counts.skipped[i]++
	}
}

// tally returns the counters the stream's parsing adds to.
func (s *Stream) tally() *tally {
	if s.out != nil {
		return &s.out.t
	}
	return &s.p.t
}

// counted counts an event of the stream in its source's counters.
func (s *Stream) counted() {
	if s.counts != nil {
		s.counts.Events++
	}
}

// NewStream starts a stream whose year-less timestamps are read in loc and
// dated against ref (see logline.Framer.SetReference). In a deferred
// pipeline, year inference follows the stream (logline.Framer.SetContinuous)
// and Finish moves a stream whose newest year-less line would be in the
// future (after ref plus a day) back by whole years.
func (p *Pipeline) NewStream(ref time.Time, loc *time.Location) *Stream {
	if loc == nil {
		loc = time.Local
	}
	s := &Stream{p: p, framer: logline.NewFramer(ref, loc), parsers: make([]lineParser, len(services)), service: -1, ref: ref, loc: loc, id: p.nstreams}
	p.nstreams++
	if p.deferred {
		s.framer.SetContinuous(true)
		s.shift = true
		s.index = len(p.streams)
		p.streams = append(p.streams, s)
	}
	return s
}

// SetYear gives the stream's first year-less timestamp this year (replay
// --year) instead of inferring it; later ones follow it, and Finish moves
// nothing.
func (s *Stream) SetYear(year int) {
	s.framer.SetYear(year)
	s.shift = false
}

// SetService declares which service the stream's lines come from (a source
// written "sshd:PATH"): lines whose tag names no program are read as that
// service's. Without it such lines are read as sshd's. A web server's
// name may be followed by "/FORMAT", a log format of HTTPConfig.Formats
// ("nginx/main"). It returns an error for an unknown service or format.
func (s *Stream) SetService(name string) error {
	i, format, err := s.p.cfg.service(name)
	if err != nil {
		return err
	}
	s.service, s.format = i, format
	return nil
}

// CheckService reports whether name, as a source declares it ("sshd",
// "nginx/main"), is a built-in service, with a log format that c defines.
func (c *Config) CheckService(name string) error {
	_, _, err := c.service(name)
	return err
}

func (c *Config) service(name string) (int, *httplog.Format, error) {
	svc, format, hasFormat := strings.Cut(name, "/")
	i := serviceIndex(svc)
	if i < 0 {
		return -1, nil, fmt.Errorf("unknown service %q (known: %s)", svc, ServiceNames())
	}
	if !hasFormat {
		return i, nil, nil
	}
	if !services[i].web {
		return -1, nil, fmt.Errorf("service %q: only a web server's log has a log format (%q)", svc, name)
	}
	f, ok := c.HTTP.Formats[format]
	if !ok {
		names := make([]string, 0, len(c.HTTP.Formats))
		for n := range c.HTTP.Formats {
			names = append(names, n)
		}
		slices.Sort(names)
		return -1, nil, fmt.Errorf("log format %q is not defined: add it under http.log_formats in the config (defined: %s)", format, strings.Join(names, ", "))
	}
	return i, f, nil
}

// SetVia says how the stream's lines arrive, when that is evidence too (a
// syslog sender's address): every event of the stream carries it.
func (s *Stream) SetVia(via string) { s.via = via }

// SetReference moves the reference time for year inference (a live tail
// sets it to the current time now and then).
func (s *Stream) SetReference(ref time.Time) {
	s.framer.SetReference(ref)
	s.ref = ref
}

// Line processes one line (without its newline) whose 1-based number in its
// stream is num, judged at the time written in it (a replay).
func (s *Stream) Line(line []byte, num int64) {
	s.line(line, num, time.Time{})
}

// LineAt processes one line of a live source that arrived at arrival: it is
// judged then (see Config.CatchUp), and its written time is kept as
// evidence in Event.Written.
func (s *Stream) LineAt(line []byte, num int64, arrival time.Time) {
	s.line(line, num, arrival)
}

func (s *Stream) line(line []byte, num int64, arrival time.Time) {
	s.tally().lines++
	fr := &s.frame
	if s.ext != nil {
		framed := s.framer.Frame(line, fr) == nil
		s.external(line, fr, framed, num, arrival)
	}
	if s.service >= 0 {
		if f, ok := s.parser(s.service).(ownFramer); ok && f.Frame(line, fr) {
			s.framed(fr, line, num, arrival, s.service)
			return
		}
	}
	if err := s.framer.Frame(line, fr); err != nil {
		if s.service < 0 && s.parser(httpService).(*webParser).Frame(line, fr) {
			s.framed(fr, line, num, arrival, httpService)
			return
		}
		s.skip(0)
		return
	}
	s.framed(fr, line, num, arrival, -1)
}

// parser returns the stream's parser for the service at index svc.
func (s *Stream) parser(svc int) lineParser {
	parser := s.parsers[svc]
	if parser == nil {
		parser = services[svc].parser(s)
		if w, ok := parser.(*webParser); ok {
			w.stream = s
		}
		s.parsers[svc] = parser
	}
	return parser
}

// FrameAt processes a line that its source has already split into its parts
// (the journal's fields), arriving at arrival; raw is the line as evidence.
// fr.Time may be zero when the source knows no time.
func (s *Stream) FrameAt(fr *logline.Frame, raw []byte, num int64, arrival time.Time) {
	s.tally().lines++
	if s.ext != nil {
		s.external(raw, fr, true, num, arrival)
	}
	s.framed(fr, raw, num, arrival, -1)
}

// framed processes a framed line; svc is the index of the service whose
// parser framed it, or -1 to go by the line's program and the stream's
// service.
func (s *Stream) framed(fr *logline.Frame, line []byte, num int64, arrival time.Time, svc int) {
	p := s.p
	switch {
	case svc >= 0:
	case len(fr.Program) > 0:
		svc = s.progs.service(fr.Program)
	case s.service >= 0:
		svc = s.service
	default:
		svc = 0 // no program named: sshd's shapes are distinctive enough
	}
	if svc < 0 {
		return
	}
	if !utf8.Valid(fr.Message) {
		s.skip(2)
		return
	}
	repeat := 1
	if inner, n, ok := unwrapRepeated(fr.Message); ok {
		fr.Message, repeat = inner, n
	}
	written := fr.Time
	if written.IsZero() {
		// RFC 5424 allows "-" for the time: take the previous line's time,
		// or the reference before any line carried one.
		written = s.last
		if written.IsZero() {
			written = s.ref
		}
		if !arrival.IsZero() {
			written = arrival
		}
	}
	if laterBy(s.last, written, p.cfg.Tolerance) {
		s.tally().outOfOrder++
	}
	s.last = written
	judged := p.judge(written, arrival)
	fr.Time = judged // the parser's connection state ages with the judged time
	parser := s.parser(svc)
	ev := &s.ev
	*ev = phalanx.Event{}
	for ok := parser.Parse(fr, ev); ok; ok = parser.Next(ev) {
		ev.Time = judged
		ev.Written = written
		ev.Service = services[svc].name
		ev.Line = num
		ev.Raw = line
		ev.Via = s.via
		if repeat > 1 {
			s.tally().repeated += int64(repeat - 1)
		}
		if p.parsed != nil && !p.deferred {
			p.parsed.Parsed(ev)
		}
		if s.out != nil {
			s.out.event(ev, repeat, false)
		} else {
			for range repeat {
				s.counted()
				if p.deferred {
					p.hold(s, ev, svc, fr.YearInferred)
				} else {
					p.event(ev, s.id)
				}
			}
		}
		*ev = phalanx.Event{}
	}
	if p.logins != nil && !p.deferred {
		if lp, ok := parser.(loginParser); ok {
			if a, ok := lp.LoggedIn(); ok {
				if s.out != nil {
					s.out.event(&phalanx.Event{Source: a, Service: services[svc].name, Time: judged}, 1, true)
				} else {
					p.logins.Login(a, services[svc].name, judged)
				}
			}
		}
	}
}

// Parsed holds lines that a stream parsed apart from its pipeline
// (Stream.ParseAt), on a goroutine of their own, waiting to be judged
// (Pipeline.Judge) under the lock that serialises the pipeline: their
// events and log-ins in order, copies of their lines, and their share of
// the counters. A flood's lines are then parsed while the ones before
// them are judged, on two cores. The zero Parsed is ready; Judge empties
// it for reuse.
type Parsed struct {
	s      *Stream
	items  []parsed
	raw    []byte // the items' lines, back to back
	t      tally
	lines  int // ParseAt calls since the last Judge
	copied int // the call whose line raw ends with, 0 for none
	from   int // where in raw that line starts
}

// parsed is one event or log-in of a Parsed batch.
type parsed struct {
	ev       phalanx.Event // Raw is set when judged, from raw[from:to]
	from, to int
	repeat   int  // times the event counts ("message repeated N times")
	login    bool // a successful log-in (Source, Service and Time), not an event
}

// Lines returns how many lines the batch holds; Size, how many bytes of
// them it keeps (the lines that gave events or log-ins).
func (b *Parsed) Lines() int { return b.lines }

// Size returns how many bytes of lines the batch keeps.
func (b *Parsed) Size() int { return len(b.raw) }

// event adds ev (whose Raw is the line being parsed, copied once however
// many events it gives; nil for a log-in, which needs none) to the batch.
func (b *Parsed) event(ev *phalanx.Event, repeat int, login bool) {
	if ev.Raw != nil && b.copied != b.lines {
		b.copied, b.from = b.lines, len(b.raw)
		b.raw = append(b.raw, ev.Raw...)
	}
	it := parsed{ev: *ev, from: b.from, to: len(b.raw), repeat: repeat, login: login}
	it.ev.Raw = nil
	b.items = append(b.items, it)
}

// ParseAt reads one line of a live source that arrived at arrival, as
// LineAt does, but only parses it: its events, log-ins and counts go to
// b, to be judged by Judge. ParseAt touches nothing the pipeline shares,
// so it may run while another goroutine holds the pipeline (judging
// earlier lines); a stream's lines must all go through one goroutine.
// It returns false, having done nothing, for a stream with an External or
// of a deferred pipeline: their lines go through LineAt.
func (s *Stream) ParseAt(line []byte, num int64, arrival time.Time, b *Parsed) bool {
	if s.ext != nil || s.p.deferred {
		return false
	}
	b.s = s
	b.lines++
	s.out = b
	s.line(line, num, arrival)
	s.out = nil
	return true
}

// Judge judges, in order, what ParseAt put in b, as LineAt would have
// (detection, the sink, the counters), then empties b for reuse. b's
// stream may be of an older pipeline that p replaced meanwhile (a
// reload): its lines are judged by p all the same.
func (p *Pipeline) Judge(b *Parsed) {
	s := b.s
	p.t.lines += b.t.lines
	p.t.outOfOrder += b.t.outOfOrder
	p.t.repeated += b.t.repeated
	for i, n := range b.t.skipped {
		p.t.skipped[i] += n
		if s != nil && s.counts != nil {
			s.counts.skipped[i] += n
		}
	}
	for i := range b.items {
		it := &b.items[i]
		if it.login {
			if p.logins != nil {
				p.logins.Login(it.ev.Source, it.ev.Service, it.ev.Time)
			}
			continue
		}
		it.ev.Raw = b.raw[it.from:it.to:it.to]
		for range it.repeat {
			s.counted()
			p.event(&it.ev, s.id)
		}
	}
	b.Reset()
}

// Reset empties b for reuse, its lines unjudged.
func (b *Parsed) Reset() {
	clear(b.items) // no strings of old events kept alive
	b.items, b.raw, b.t, b.lines, b.copied = b.items[:0], b.raw[:0], tally{}, 0, 0
}

// laterBy reports whether a is more than d after b: what a.Sub(b) > d
// says for times less than 292 years apart (beyond, Sub saturates and
// laterBy stays exact), without Sub's costly overflow check: every line
// asks it.
func laterBy(a, b time.Time, d time.Duration) bool {
	s, ds := a.Unix()-b.Unix(), int64(d/time.Second)
	switch {
	case s > ds+1:
		return true
	case s < ds-1:
		return false
	}
	return (s-ds)*int64(time.Second)+int64(a.Nanosecond()-b.Nanosecond())-int64(d%time.Second) > 0
}

// judge returns when a line written at written that arrived at arrival is
// judged: its written time, kept within CatchUp before the arrival and
// never after it (a zero arrival, a finished file: the written time).
func (p *Pipeline) judge(written, arrival time.Time) time.Time {
	if arrival.IsZero() {
		return written
	}
	if lo := arrival.Add(-p.cfg.CatchUp); written.Before(lo) {
		return lo
	}
	if written.After(arrival) {
		return arrival
	}
	return written
}

// unwrapRepeated reads rsyslog's "message repeated N times: [ MSG]": the
// message it folded and how many times it was logged (bounded by maxRepeat).
func unwrapRepeated(msg []byte) ([]byte, int, bool) {
	const prefix = "message repeated "
	if len(msg) < len(prefix) || string(msg[:len(prefix)]) != prefix || msg[len(msg)-1] != ']' {
		return nil, 0, false
	}
	rest := msg[len(prefix):]
	n, i := 0, 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 10 {
		n = n*10 + int(rest[i]-'0')
		i++
	}
	const mid = " times: ["
	if i == 0 || n < 1 || len(rest) < i+len(mid)+1 || string(rest[i:i+len(mid)]) != mid {
		return nil, 0, false
	}
	inner := rest[i+len(mid) : len(rest)-1]
	if len(inner) > 0 && inner[0] == ' ' {
		inner = inner[1:]
	}
	return inner, min(n, maxRepeat), true
}

func (p *Pipeline) event(ev *phalanx.Event, stream int) {
	p.c.Events++
	if p.sink != nil {
		p.sink.Event(ev)
	}
	p.detect(ev, stream)
}

// detect runs the scenarios and the policy over one event of the stream
// with that id.
func (p *Pipeline) detect(ev *phalanx.Event, stream int) {
	if p.policy.IsTerritory(ev.Source) {
		return
	}
	if p.twins.twin(ev, stream) {
		p.c.Twins++
		return
	}
	p.alerts = p.engine.Observe(ev, p.alerts[:0])
	for i := range p.alerts {
		a := &p.alerts[i]
		p.c.Alerts++
		if p.sink != nil {
			p.sink.Alert(a)
		}
		if p.alreadyBanned(a) {
			p.c.Banned++
			continue
		}
		d, err := p.policy.Decide(*a, a.Last)
		if err != nil {
			p.c.Refused++
			if p.sink != nil {
				p.sink.Refused(a, err)
			}
			continue
		}
		p.c.Decisions++
		if p.banned == nil { // SetBanned's check replaces the pipeline's memory
			p.remember(d)
			p.active[a.Source] = d.Until // the alert's group, should the ban have been narrowed
		}
		if p.sink != nil {
			p.sink.Decision(&d, a)
		}
	}
}

// remember records a ban so that later alerts on its value are not decided
// again while it lasts. Expired entries are pruned whenever the map has
// doubled, so its size follows the number of bans in force.
func (p *Pipeline) remember(d phalanx.Decision) {
	p.active[d.Value] = d.Until
	if len(p.active) < p.pruneSize {
		return
	}
	for v, until := range p.active {
		if !d.Start.Before(until) {
			delete(p.active, v)
		}
	}
	p.pruneSize = max(1024, 2*len(p.active))
}

func (p *Pipeline) alreadyBanned(a *phalanx.Alert) bool {
	if p.banned != nil {
		return p.banned(a.Source)
	}
	until, ok := p.active[a.Source]
	return ok && a.Last.Before(until)
}
