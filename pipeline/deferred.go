package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"phalanx"
)

// held is an event that a deferred pipeline keeps until Finish: about 64
// bytes, with the user name interned.
type held struct {
	at       int64 // judging time, Unix nanoseconds
	line     int64
	addr     netip.Addr
	user     uint32 // 1-based index in Pipeline.userList; 0 for none
	stream   uint32
	kind     phalanx.Kind
	svc      uint8
	yearless bool
}

// evidenceBits is where a deferred pipeline packs the stream into an
// evidence line number (see EvidenceLine).
const evidenceBits = 40

// Defer makes the pipeline hold every event until Finish instead of judging
// it at once, so that a replay gives the same decisions whatever the order of
// its input: rotated files in any order, hosts with skewed clocks merged into
// one file. Call it before the first NewStream. Events reach the sink's Event
// in input order at Finish, after any year correction.
func (p *Pipeline) Defer() {
	p.deferred = true
	p.users = map[string]uint32{}
}

func (p *Pipeline) hold(s *Stream, ev *phalanx.Event, yearless bool) {
	h := held{
		at:       ev.Time.UnixNano(),
		line:     ev.Line,
		addr:     ev.Source,
		stream:   uint32(s.index),
		kind:     ev.Kind,
		yearless: yearless && s.shift,
	}
	for i := range services {
		if services[i].name == ev.Service {
			h.svc = uint8(i)
		}
	}
	if ev.User != "" {
		id, ok := p.users[ev.User]
		if !ok {
			p.userList = append(p.userList, ev.User)
			id = uint32(len(p.userList))
			p.users[ev.User] = id
		}
		h.user = id
	}
	p.held = append(p.held, h)
}

// Finish judges the events a deferred pipeline held: it moves each stream
// whose newest year-less line would lie in the future (more than a day after
// the stream's reference: a file's modification time, or now for standard
// input) back by whole years, hands every event to the sink in input order,
// then runs detection over all of them in time order. Ties are broken by
// content, not by input order. Alert evidence then holds packed line numbers
// (see EvidenceLine).
func (p *Pipeline) Finish() {
	if !p.deferred {
		return
	}
	p.correctYears()
	ev := &phalanx.Event{}
	if p.sink != nil {
		for i := range p.held {
			p.toEvent(&p.held[i], ev, false)
			p.c.Events++
			p.sink.Event(ev)
		}
	} else {
		p.c.Events += int64(len(p.held))
	}
	slices.SortFunc(p.held, func(a, b held) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		if c := cmp.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		if c := cmp.Compare(p.userName(a.user), p.userName(b.user)); c != 0 {
			return c
		}
		return cmp.Compare(a.line, b.line)
	})
	for i := range p.held {
		p.toEvent(&p.held[i], ev, true)
		p.detect(ev)
	}
	p.held, p.users, p.userList = nil, map[string]uint32{}, nil
}

func (p *Pipeline) userName(id uint32) string {
	if id == 0 {
		return ""
	}
	return p.userList[id-1]
}

// toEvent fills ev from h; packed makes Line carry the stream too.
func (p *Pipeline) toEvent(h *held, ev *phalanx.Event, packed bool) {
	*ev = phalanx.Event{
		Time:    time.Unix(0, h.at),
		Service: services[h.svc].name,
		Kind:    h.kind,
		Source:  h.addr,
		User:    p.userName(h.user),
		Line:    h.line,
	}
	ev.Written = ev.Time
	if packed {
		ev.Line = int64(h.stream+1)<<evidenceBits | h.line
	}
}

// EvidenceLine splits a line number of a deferred pipeline's alert evidence
// into the index of its stream (in NewStream order) and its line number.
func EvidenceLine(v int64) (stream int, line int64) {
	return int(v>>evidenceBits) - 1, v & (1<<evidenceBits - 1)
}

// correctYears moves back, by whole years, the year-less events of every
// stream whose newest year-less event lies more than a day after the
// stream's reference: a year-less log is taken to be from the newest year
// that does not put it in the future.
func (p *Pipeline) correctYears() {
	newest := make([]int64, len(p.streams))
	for i := range p.held {
		if h := &p.held[i]; h.yearless {
			newest[h.stream] = max(newest[h.stream], h.at)
		}
	}
	years := make([]int, len(p.streams))
	any := false
	for i, s := range p.streams {
		if newest[i] == 0 {
			continue
		}
		limit := s.ref.Add(24 * time.Hour)
		t := time.Unix(0, newest[i]).In(s.loc)
		for k := 1; k <= 3 && t.After(limit); k++ {
			t = time.Unix(0, newest[i]).In(s.loc).AddDate(-k, 0, 0)
			years[i] = k
		}
		any = any || years[i] > 0
	}
	if !any {
		return
	}
	for i := range p.held {
		h := &p.held[i]
		if k := years[h.stream]; k > 0 && h.yearless {
			h.at = time.Unix(0, h.at).In(p.streams[h.stream].loc).AddDate(-k, 0, 0).UnixNano()
			p.c.YearsShifted++
		}
	}
}
