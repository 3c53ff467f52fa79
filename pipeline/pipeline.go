// Package pipeline turns log lines into events, events into alerts and alerts
// into decisions: framing, the service parsers, the scenario engine and the
// remedy policy wired in that order. It is used by `phalanx replay` and by the
// daemon. It reads no files and keeps no clock: the time of each line is the
// time written in it. It must not block, and it must not trust a line: every
// line it cannot use is counted by reason, never fatal.
package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/sshd"
	"phalanx/remedy"
	"phalanx/scenario"
)

// Config is the detection part of the configuration.
type Config struct {
	Scenarios scenario.Config
	Remedy    remedy.Config
	// Tolerance is how far a line's time may go back before the newest time seen
	// in the same stream before the line is skipped as out of order.
	Tolerance time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Scenarios: scenario.DefaultConfig(),
		Remedy:    remedy.DefaultConfig(),
		Tolerance: time.Minute,
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

// Skip reasons, as reported in Counters.Skipped.
const (
	SkipFormat     = "format"       // no known line shape (binary garbage, truncated lines)
	SkipOverlong   = "overlong"     // longer than the line limit; counted by the reader
	SkipOutOfOrder = "out-of-order" // time went back further than the tolerance
	SkipEncoding   = "encoding"     // a service line that is not valid UTF-8
)

// Counters are the pipeline's running totals.
type Counters struct {
	Lines     int64
	Events    int64
	Alerts    int64
	Decisions int64
	Refused   int64
	Banned    int64 // alerts for a value this pipeline had already banned, still active
	Skipped   map[string]int64
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
	cfg     Config
	engine  *scenario.Engine
	policy  *remedy.Policy
	sink    Sink
	c       Counters
	skipped [4]int64
	alerts  []phalanx.Alert
	// active holds the end of every ban this pipeline decided, so that an
	// alert on a value already banned does not decide again: once banned, an
	// attacker's further lines are what a firewall would have stopped.
	active    map[netip.Prefix]time.Time
	pruneSize int
	banned    func(netip.Prefix) bool // replaces active when set
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
	eng, err := scenario.New(cfg.Scenarios)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	pol, err := remedy.New(cfg.Remedy)
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	return &Pipeline{cfg: cfg, engine: eng, policy: pol, sink: sink, active: map[netip.Prefix]time.Time{}, pruneSize: 1024}, nil
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
	c.Skipped = map[string]int64{
		SkipFormat:     p.skipped[0],
		SkipOverlong:   p.skipped[1],
		SkipOutOfOrder: p.skipped[2],
		SkipEncoding:   p.skipped[3],
	}
	return c
}

// CountOverlong records n lines that the reader skipped for their length.
func (p *Pipeline) CountOverlong(n int64) {
	p.skipped[1] += n
	p.c.Lines += n
}

// Stream is one ordered source of lines, such as a file.
type Stream struct {
	p      *Pipeline
	framer *logline.Framer
	sshd   *sshd.Parser
	newest time.Time
	ref    time.Time
	frame  logline.Frame
	ev     phalanx.Event
}

// NewStream starts a stream whose year-less timestamps are read in loc and
// dated against ref (see logline.Framer.SetReference).
func (p *Pipeline) NewStream(ref time.Time, loc *time.Location) *Stream {
	return &Stream{p: p, framer: logline.NewFramer(ref, loc), sshd: sshd.New(), ref: ref}
}

// SetReference moves the reference time for year inference (a live tail
// sets it to the current time now and then).
func (s *Stream) SetReference(ref time.Time) {
	s.framer.SetReference(ref)
	s.ref = ref
}

// Line processes one line (without its newline) whose 1-based number in its
// stream is num.
func (s *Stream) Line(line []byte, num int64) {
	p := s.p
	p.c.Lines++
	fr := &s.frame
	if err := s.framer.Frame(line, fr); err != nil {
		p.skipped[0]++
		return
	}
	if !sshd.IsProgram(fr.Program) {
		return
	}
	if !utf8.Valid(fr.Message) {
		p.skipped[3]++
		return
	}
	if fr.Time.IsZero() {
		// RFC 5424 allows "-" for the time: take the stream's newest time,
		// or the reference before any line carried one.
		fr.Time = s.newest
		if fr.Time.IsZero() {
			fr.Time = s.ref
		}
	}
	if fr.Time.Before(s.newest) {
		if s.newest.Sub(fr.Time) > p.cfg.Tolerance {
			p.skipped[2]++
			return
		}
	} else {
		s.newest = fr.Time
	}
	ev := &s.ev
	*ev = phalanx.Event{}
	if !s.sshd.Parse(fr, ev) {
		return
	}
	ev.Time = fr.Time
	ev.Service = "sshd"
	ev.Line = num
	ev.Raw = line
	p.event(ev)
}

func (p *Pipeline) event(ev *phalanx.Event) {
	p.c.Events++
	if p.sink != nil {
		p.sink.Event(ev)
	}
	if p.policy.IsTerritory(ev.Source) {
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
		p.remember(d)
		p.active[a.Source] = d.Until // the alert's group, should the ban have been narrowed
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
