package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"phalanx/logline"
	"phalanx/pipeline"
	"phalanx/source"
	"phalanx/source/journal"
)

// journaled is a journal: source: sshd's entries (or a field match) read
// through journalctl, resumed after the cursor saved in the data directory.
type journaled struct {
	text       string
	spec       journal.Spec
	dir        string
	journalctl string
	open       atomic.Pointer[journal.Journal] // while followed
	ext        func() pipeline.External        // fail2ban jails reading the entries; nil for none
}

func newJournaled(sp source.Spec, o sourceOptions) (*journaled, error) {
	js, err := journal.ParseSpec(sp.Text)
	if err != nil {
		return nil, err
	}
	if js.Service != "" {
		if err := o.check(js.Service); err != nil {
			return nil, fmt.Errorf("source %q: %w", sp.Text, err)
		}
	}
	if _, err := lookJournalctl(o.journalctl); err != nil {
		return nil, fmt.Errorf("source %q: journalctl not found (%v): install systemd (Debian package systemd) or watch a log file instead", sp.Text, err)
	}
	return &journaled{text: sp.Text, spec: js, dir: o.journalDir, journalctl: o.journalctl}, nil
}

func (s *sources) followJournal(ctx context.Context, d *Daemon, j *journaled) {
	s.mu.Lock()
	cursor := s.cursors[j.text]
	s.mu.Unlock()
	jr, err := journal.Open(journal.Options{Spec: j.spec, Directory: j.dir, Cursor: cursor, Journalctl: j.journalctl,
		Logger: s.log}) // the journal names its source in its own log lines
	if err != nil {
		s.log.Error("cannot read the journal", "source", j.text, "err", err)
		return
	}
	defer jr.Close()
	j.open.Store(jr)
	where := "the system journal"
	if j.dir != "" {
		where = j.dir
	}
	s.log.Info("watching the journal", "source", j.text, "journal", where, "resumed", cursor != "")
	if cursor == "" {
		// Remember the journal's end at once, so that entries written
		// while the daemon is down are read after a restart.
		if c := jr.Cursor(); c != "" {
			s.mu.Lock()
			s.cursors[j.text] = c
			s.mu.Unlock()
		}
	}
	fd := &feeder{d: d, service: j.spec.Service, ext: j.ext, counts: s.counters(j.text)}
	lines := d.met.lines.WithLabelValues(j.text)
	var (
		fr  logline.Frame
		raw []byte
		num int64
	)
	for {
		e, err := jr.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, journal.ErrClosed) {
				s.log.Error("journal source stopped", "source", j.text, "err", err)
			}
			return
		}
		// A multi-line message is one line per line, each with the entry's
		// header, as journalctl -o short prints it.
		msg := e.Message
		for {
			one := msg
			nl := bytes.IndexByte(msg, '\n')
			if nl >= 0 {
				one, msg = msg[:nl], msg[nl+1:]
			}
			num++
			fr = logline.Frame{Time: e.Time, Host: []byte(e.Host), Program: []byte(e.Identifier), PID: e.PID, Message: one}
			raw = renderEntry(raw[:0], &e, one)
			fd.frame(&fr, raw, num)
			lines.Inc()
			if nl < 0 {
				break
			}
		}
		s.mu.Lock()
		s.cursors[j.text] = e.Cursor
		s.mu.Unlock()
	}
}

// renderEntry writes an entry's line the way journalctl -o short-iso prints
// it, as the evidence a report carries.
func renderEntry(b []byte, e *journal.Entry, msg []byte) []byte {
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, e.Host...)
	b = append(b, ' ')
	b = append(b, e.Identifier...)
	if e.PID >= 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(e.PID), 10)
		b = append(b, ']')
	}
	b = append(b, ':', ' ')
	return append(b, msg...)
}

// stats are the journal source's counters, or nil before it opened.
func (j *journaled) stats() map[string]int64 {
	jr := j.open.Load()
	if jr == nil {
		return nil
	}
	st := jr.Stats()
	return map[string]int64{"entries": st.Entries, "restarts": st.Restarts, "decode_errors": st.DecodeErrors,
		"oversize": st.Skipped, "cursor_not_found": st.CursorNotFound, "journalctl_errors": st.StderrLines}
}
