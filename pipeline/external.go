package pipeline

import (
	"time"

	"phalanx"
	"phalanx/logline"
)

// External reads a stream's lines besides the built-in services' parsers:
// the daemon gives each stream of fail2ban jails one. Line gets
// every raw line, with its frame when the stream could frame it (for the
// time and the program), and appends the line's events to evs: Kind,
// Source, User, Service, and Time when the line gave one (zero: the
// frame's time, or the arrival).
type External interface {
	Line(raw []byte, fr *logline.Frame, framed bool, now time.Time, evs []phalanx.Event) []phalanx.Event
}

// SetExternal makes e read the stream's lines too, before the built-in
// parsers do. A deferred (replay) pipeline ignores its events.
func (s *Stream) SetExternal(e External) { s.ext = e }

// external hands one line to the stream's External and runs its events
// through detection, dated as framed lines are.
func (s *Stream) external(raw []byte, fr *logline.Frame, framed bool, num int64, arrival time.Time) {
	p := s.p
	now := arrival
	if now.IsZero() {
		now = s.ref
	}
	s.evs = s.ext.Line(raw, fr, framed, now, s.evs[:0])
	for i := range s.evs {
		ev := &s.evs[i]
		written := ev.Time
		if written.IsZero() && framed {
			written = fr.Time
		}
		if written.IsZero() {
			written = now
		}
		ev.Time, ev.Written, ev.Line, ev.Raw, ev.Via = p.judge(written, arrival), written, num, raw, s.via
		if ev.Source.IsValid() && !p.deferred {
			if p.parsed != nil {
				p.parsed.Parsed(ev)
			}
			s.counted()
			p.event(ev, s.id)
		}
	}
}
