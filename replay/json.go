package replay

import (
	"bufio"
	"net/netip"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"phalanx"
	"phalanx/pipeline"
)

// jsonSink writes the pipeline's output as JSON lines. It encodes by hand:
// the output of a million-line replay must not cost more than the detection.
type jsonSink struct {
	w      *bufio.Writer
	events bool
	files  []string // the inputs, in the order their streams were made
	buf    []byte
	err    error
}

func (s *jsonSink) flush(b []byte) {
	b = append(b, '}', '\n')
	if _, err := s.w.Write(b); err != nil && s.err == nil {
		s.err = err
	}
	s.buf = b[:0]
}

// file names the input of a deferred pipeline's stream.
func (s *jsonSink) file(stream int) string {
	if stream >= 0 && stream < len(s.files) {
		return s.files[stream]
	}
	return ""
}

func (s *jsonSink) Event(ev *phalanx.Event) {
	if !s.events {
		return
	}
	b := append(s.buf[:0], `{"type":"event","time":`...)
	b = appendTime(b, ev.Time)
	b = appendField(b, "service", ev.Service)
	b = appendField(b, "kind", ev.Kind.String())
	b = append(b, `,"source":"`...)
	b = ev.Source.AppendTo(b)
	b = append(b, '"')
	if ev.User != "" {
		b = appendField(b, "user", ev.User)
	}
	if ev.Path != "" {
		b = appendField(b, "path", ev.Path)
	}
	if ev.Detail != "" {
		b = appendField(b, "detail", ev.Detail)
	}
	stream, line := pipeline.EvidenceLine(ev.Line)
	b = appendField(b, "file", s.file(stream))
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, line, 10)
	s.flush(b)
}

func (s *jsonSink) Alert(a *phalanx.Alert) {
	if s.events {
		return
	}
	b := append(s.buf[:0], `{"type":"alert","scenario":`...)
	b = appendString(b, a.Scenario)
	b = append(b, `,"source":"`...)
	b = appendPrefix(b, a.Source)
	b = append(b, `","first":`...)
	b = appendTime(b, a.First)
	b = append(b, `,"last":`...)
	b = appendTime(b, a.Last)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(a.Count), 10)
	if a.Detail != "" {
		b = appendField(b, "detail", a.Detail)
	}
	// "file" is the file of the event that fired, "evidence" the line
	// numbers; "evidence_files" appears when the evidence spans files.
	last := -1
	spans := false
	for i, v := range a.Evidence {
		st, _ := pipeline.EvidenceLine(v)
		if i > 0 && st != last {
			spans = true
		}
		last = st
	}
	b = appendField(b, "file", s.file(last))
	b = append(b, `,"evidence":[`...)
	for i, v := range a.Evidence {
		if i > 0 {
			b = append(b, ',')
		}
		_, l := pipeline.EvidenceLine(v)
		b = strconv.AppendInt(b, l, 10)
	}
	b = append(b, ']')
	if spans {
		b = append(b, `,"evidence_files":[`...)
		for i, v := range a.Evidence {
			if i > 0 {
				b = append(b, ',')
			}
			st, _ := pipeline.EvidenceLine(v)
			b = appendString(b, s.file(st))
		}
		b = append(b, ']')
	}
	s.flush(b)
}

func (s *jsonSink) Decision(d *phalanx.Decision, a *phalanx.Alert) {
	if s.events {
		return
	}
	b := append(s.buf[:0], `{"type":"decision","decision":`...)
	b = appendString(b, d.Type)
	b = appendField(b, "scope", d.Scope())
	b = append(b, `,"value":"`...)
	b = appendPrefix(b, d.Value)
	b = append(b, '"')
	b = appendField(b, "origin", string(d.Origin))
	b = appendField(b, "scenario", d.Scenario)
	b = append(b, `,"start":`...)
	b = appendTime(b, d.Start)
	b = append(b, `,"until":`...)
	b = appendTime(b, d.Until)
	b = appendField(b, "duration", d.Duration().String())
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(a.Count), 10)
	s.flush(b)
}

func (s *jsonSink) Refused(a *phalanx.Alert, reason error) {
	if s.events {
		return
	}
	b := append(s.buf[:0], `{"type":"refused","scenario":`...)
	b = appendString(b, a.Scenario)
	b = append(b, `,"source":"`...)
	b = appendPrefix(b, a.Source)
	b = append(b, '"')
	b = appendField(b, "reason", reason.Error())
	b = append(b, `,"time":`...)
	b = appendTime(b, a.Last)
	s.flush(b)
}

func (s *jsonSink) summary(sum *Summary) {
	b := append(s.buf[:0], `{"type":"summary","lines":`...)
	b = strconv.AppendInt(b, sum.Lines, 10)
	b = append(b, `,"events":`...)
	b = strconv.AppendInt(b, sum.Events, 10)
	b = append(b, `,"alerts":`...)
	b = strconv.AppendInt(b, sum.Alerts, 10)
	b = append(b, `,"decisions":`...)
	b = strconv.AppendInt(b, sum.Decisions, 10)
	b = append(b, `,"refused":`...)
	b = strconv.AppendInt(b, sum.Refused, 10)
	b = append(b, `,"already_banned":`...)
	b = strconv.AppendInt(b, sum.Banned, 10)
	b = append(b, `,"out_of_order":`...)
	b = strconv.AppendInt(b, sum.OutOfOrder, 10)
	b = append(b, `,"repeated":`...)
	b = strconv.AppendInt(b, sum.Repeated, 10)
	b = append(b, `,"twins":`...)
	b = strconv.AppendInt(b, sum.Twins, 10)
	b = append(b, `,"years_shifted":`...)
	b = strconv.AppendInt(b, sum.YearsShifted, 10)
	b = append(b, `,"skipped":`...)
	b = strconv.AppendInt(b, sum.SkippedTotal(), 10)
	b = append(b, `,"skipped_by_reason":{`...)
	reasons := make([]string, 0, len(sum.Skipped))
	for r := range sum.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for i, r := range reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r)
		b = append(b, ':')
		b = strconv.AppendInt(b, sum.Skipped[r], 10)
	}
	b = append(b, `},"sources_tracked":`...)
	b = strconv.AppendInt(b, int64(sum.Sources), 10)
	b = append(b, `,"seconds":`...)
	b = strconv.AppendFloat(b, sum.Seconds, 'f', 3, 64)
	s.flush(b)
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
}

func appendField(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, val)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendPrefix writes a single address without its length, a range with it.
func appendPrefix(b []byte, p netip.Prefix) []byte {
	if p.IsSingleIP() {
		return p.Addr().AppendTo(b)
	}
	return p.AppendTo(b)
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string. Control characters are escaped and
// invalid UTF-8 becomes U+FFFD, so attacker-written user names cannot break
// the output apart.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
