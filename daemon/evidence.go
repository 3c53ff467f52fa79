package daemon

import (
	"fmt"
	"net/netip"
	"sync"

	"phalanx"
	"phalanx/report"
)

// evidence keeps the last few raw lines per source address, so a report can
// carry the lines behind its alert. Bounded in sources and lines.
type evidence struct {
	mu       sync.Mutex
	max      int
	bySource map[netip.Addr]*evSource
	order    []netip.Addr
}

// evSource is the evidence kept for one source address, oldest first.
type evSource struct{ lines []evLine }

// evLine is one evidence line as read: it is made fit for a report
// (evidenceText) only when a report takes it, since most lines of a flood
// never do. A line too long for a report is cut when it is kept (text is
// then final), so that memory stays bounded whatever the line.
type evLine struct {
	text, via string
	num       int64 // the line's number in its source (phalanx.Event.Line)
	final     bool
}

const evidencePerSource = 16

func newEvidence(max int) *evidence {
	return &evidence{max: max, bySource: map[netip.Addr]*evSource{}}
}

// Bounds of an evidence line: a longer line keeps its head and its tail
// (where an access log has the status and the user agent after a huge
// URI), with what was cut marked.
const (
	evidenceHead = 600
	evidenceTail = 380
)

func evidenceText(raw, via string) string {
	if via == "" && len(raw) <= evidenceHead+evidenceTail+44 {
		return report.EvidenceText(raw) // no copy when it is fit already
	}
	b := make([]byte, 0, min(len(raw), evidenceHead+evidenceTail+44)+len(via)+3)
	if via != "" {
		b = append(append(append(b, '['), via...), "] "...)
	}
	if len(raw) <= evidenceHead+evidenceTail+44 {
		b = append(b, raw...)
	} else {
		b = append(b, raw[:evidenceHead]...)
		b = fmt.Appendf(b, " …[%d bytes cut]… ", len(raw)-evidenceHead-evidenceTail)
		b = append(b, raw[len(raw)-evidenceTail:]...)
	}
	// Valid UTF-8 without line breaks, within a report's bound, whatever
	// the cuts split.
	return report.EvidenceLine(b)
}

// report returns l as a report carries it.
func (l evLine) report() string {
	if l.final {
		return l.text
	}
	return evidenceText(l.text, l.via)
}

func (e *evidence) add(ev *phalanx.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	src := e.bySource[ev.Source]
	if src == nil {
		if len(e.order) >= e.max {
			// The oldest source is forgotten, and its room taken over
			// (a flood of new sources allocates nothing more here).
			src = e.bySource[e.order[0]]
			delete(e.bySource, e.order[0])
			e.order = e.order[1:]
			clear(src.lines)
			src.lines = src.lines[:0]
		} else {
			// Room for a few lines at once: most sources that get here
			// (a scenario's few events) need no more.
			src = &evSource{lines: make([]evLine, 0, evidencePerSource/2)}
		}
		e.order = append(e.order, ev.Source)
		e.bySource[ev.Source] = src
	}
	l := src.lines
	if n := len(l); n > 0 && !l[n-1].final && l[n-1].via == ev.Via && l[n-1].text == string(ev.Raw) {
		return // one line, several events (an HTTP probe for /.env is two)
	}
	line := evLine{via: ev.Via, num: ev.Line}
	if len(ev.Raw) > evidenceHead+evidenceTail+44 {
		line.text, line.final = evidenceText(string(ev.Raw), ev.Via), true
		if n := len(l); n > 0 && l[n-1].final && l[n-1].text == line.text {
			return
		}
	} else {
		line.text = string(ev.Raw)
	}
	if len(l) >= evidencePerSource {
		copy(l, l[1:]) // the oldest goes; the array is kept
		l[len(l)-1] = line
		return
	}
	src.lines = append(l, line)
}

// lines returns the evidence for addr, or for every address inside group
// when addr is unknown.
func (e *evidence) lines(group netip.Prefix, addr netip.Addr) []string {
	return evidenceReport(e.raw(group, addr))
}

// raw returns the evidence for addr, or for every address inside group
// when addr is unknown, as kept: evidenceReport makes it fit for a report
// (on another goroutine than the one that reads the lines).
func (e *evidence) raw(group netip.Prefix, addr netip.Addr) []evLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	if addr.IsValid() {
		if src := e.bySource[addr]; src != nil && len(src.lines) > 0 {
			return append([]evLine(nil), src.lines...)
		}
		return nil
	}
	var kept []evLine
	for a, src := range e.bySource {
		if group.Contains(a) {
			kept = append(kept, src.lines...)
		}
	}
	if len(kept) > evidencePerSource {
		kept = kept[len(kept)-evidencePerSource:]
	}
	return kept
}

// evidenceUpTo returns kept up to the last line numbered as the line that
// made a fire (the last of its Evidence), all of it when none is: the
// evidence of a decision ends with that line, though the lines after it
// may have been kept already (a tail that parses apart keeps them as it
// parses them). A line of another source with the same number can only
// leave more lines, never fewer.
func evidenceUpTo(kept []evLine, a *phalanx.Alert) []evLine {
	if len(a.Evidence) == 0 {
		return kept
	}
	last := a.Evidence[len(a.Evidence)-1]
	for i := len(kept) - 1; i >= 0; i-- {
		if kept[i].num == last {
			return kept[:i+1]
		}
	}
	return kept
}

// evidenceReport returns kept as a report carries it.
func evidenceReport(kept []evLine) []string {
	if len(kept) == 0 {
		return nil
	}
	out := make([]string, len(kept))
	for i, l := range kept {
		out[i] = l.report()
	}
	return out
}
