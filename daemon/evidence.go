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
//
// A source's lines are a chain of nodes, newest first, that never change
// once made (evNode): keeping a line makes a node whose prev is the
// source's chain so far, and the node goes back with the event
// (phalanx.Event.Kept). The goroutine that judges the event takes its
// evidence from that node, without the lock: the lines up to the one that
// made an alert fire, whatever the goroutine that parses has kept since.
// A tail's lines are then kept as they are parsed while earlier ones are
// judged (feedApart), and neither goroutine waits for the other's lock.
type evidence struct {
	mu       sync.Mutex
	max      int
	bySource map[netip.Addr]*evSlot
	order    []netip.Addr
}

// evSlot holds a source's newest line kept: a line of a source already
// kept changes its slot, not the map, and a new source takes the slot of
// the one it makes forgotten.
type evSlot struct{ head *evNode }

// evNode is one line kept, and the lines its source had kept before it
// (prev). n counts the nodes of the chain from it, itself included; a
// chain that would grow past evidenceChain nodes is copied first, its
// newest evidencePerSource-1 (see recent), so a source that sends lines
// for ever holds a bounded chain.
type evNode struct {
	line evLine
	prev *evNode
	n    int32
}

// evLine is one evidence line as read: it is made fit for a report
// (evidenceText) only when a report takes it, since most lines of a flood
// never do. A line too long for a report is cut when it is kept (text is
// then final), so that memory stays bounded whatever the line.
type evLine struct {
	text, via string
	num       int64 // the line's number in its source (phalanx.Event.Line)
	final     bool
}

// evidencePerSource is how many lines a source's evidence has at most;
// evidenceChain, how many nodes its chain has at most.
const (
	evidencePerSource = 16
	evidenceChain     = evidencePerSource + evidencePerSource/2
)

func newEvidence(max int) *evidence {
	return &evidence{max: max, bySource: map[netip.Addr]*evSlot{}}
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

// add keeps ev's line as evidence of its source and returns the node
// that ends its source's evidence with it (the last node kept, when the
// line is the one kept last: one line, several events).
func (e *evidence) add(ev *phalanx.Event) *evNode {
	e.mu.Lock()
	defer e.mu.Unlock()
	slot := e.bySource[ev.Source]
	if slot == nil {
		if len(e.order) >= e.max {
			slot = e.bySource[e.order[0]] // the oldest source is forgotten
			delete(e.bySource, e.order[0])
			e.order = e.order[1:]
			slot.head = nil
		} else {
			slot = &evSlot{}
		}
		e.order = append(e.order, ev.Source)
		e.bySource[ev.Source] = slot
	}
	head := slot.head
	if head != nil && !head.line.final && head.line.via == ev.Via && head.line.text == string(ev.Raw) {
		return head // one line, several events (an HTTP probe for /.env is two)
	}
	line := evLine{via: ev.Via, num: ev.Line}
	if len(ev.Raw) > evidenceHead+evidenceTail+44 {
		line.text, line.final = evidenceText(string(ev.Raw), ev.Via), true
		if head != nil && head.line.final && head.line.text == line.text {
			return head
		}
	} else {
		line.text = string(ev.Raw)
	}
	n := &evNode{line: line, prev: head, n: 1}
	if head != nil {
		if head.n >= evidenceChain {
			head = head.recent(evidencePerSource - 1)
		}
		n.prev, n.n = head, head.n+1
	}
	slot.head = n
	return n
}

// recent returns a copy of the newest k nodes of n's chain (one
// allocation), for a chain that is not to grow longer.
func (n *evNode) recent(k int) *evNode {
	nodes := make([]evNode, min(k, int(n.n)))
	for i, x := 0, n; i < len(nodes); i, x = i+1, x.prev {
		nodes[i] = evNode{line: x.line, n: int32(len(nodes) - i)}
		if i > 0 {
			nodes[i-1].prev = &nodes[i]
		}
	}
	return &nodes[0]
}

// lines returns the evidence that ends with n's line, oldest first.
func (n *evNode) lines() []evLine {
	out := make([]evLine, min(int(n.n), evidencePerSource))
	for i, x := len(out)-1, n; i >= 0; i, x = i-1, x.prev {
		out[i] = x.line
	}
	return out
}

// lines returns the evidence for addr, or for every address inside group
// when addr is unknown.
func (e *evidence) lines(group netip.Prefix, addr netip.Addr) []string {
	return evidenceReport(e.raw(group, addr))
}

// raw returns the evidence for addr, or for every address inside group
// when addr is unknown, as kept: evidenceReport makes it fit for a report
// (on another goroutine than the one that reads the lines). Detection
// takes the evidence of the event it judges from the event instead
// (evNode.lines): raw is for an alert that came otherwise.
func (e *evidence) raw(group netip.Prefix, addr netip.Addr) []evLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	if addr.IsValid() {
		if slot := e.bySource[addr]; slot != nil && slot.head != nil {
			return slot.head.lines()
		}
		return nil
	}
	var kept []evLine
	for a, slot := range e.bySource {
		if group.Contains(a) && slot.head != nil {
			kept = append(kept, slot.head.lines()...)
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
