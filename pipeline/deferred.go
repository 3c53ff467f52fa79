package pipeline

import (
	"container/heap"
	"net/netip"
	"runtime"
	"time"

	"phalanx"
)

// held is an event that a deferred pipeline keeps until Finish: 48 bytes,
// with the address unzoned and its strings interned.
type held struct {
	at       int64 // judging time, Unix nanoseconds
	line     int64
	addr     [16]byte
	user     uint32 // the user name's 1-based index in Pipeline.strs; 0 for none
	path     uint32 // the HTTP path's, likewise
	detail   uint16 // the rule name's, in Pipeline.details
	stream   uint16
	kind     phalanx.Kind
	svc      uint8
	is4      bool
	yearless bool
}

// heldChunk is how many held events one block of the store holds: the store
// grows a block at a time, never copying what it holds.
const heldChunk = 1 << 14

// heldStore keeps held events in input order in fixed-size blocks.
// The first block comes from the Go heap, so that a short replay maps
// nothing; the others from mem (see heldMem).
type heldStore struct {
	blocks [][]held
	n      int
	mem    *heldMem // set by Defer
}

func (hs *heldStore) add(h held) {
	if hs.n%heldChunk == 0 {
		var b []held
		if hs.n > 0 {
			b = hs.mem.block()
		}
		if b == nil {
			b = make([]held, 0, heldChunk)
		}
		hs.blocks = append(hs.blocks, b)
	}
	b := &hs.blocks[len(hs.blocks)-1]
	*b = append(*b, h)
	hs.n++
}

func (hs *heldStore) at(i int) *held { return &hs.blocks[i/heldChunk][i%heldChunk] }

// evidenceBits is where a deferred pipeline packs the stream into an
// evidence line number (see EvidenceLine).
const evidenceBits = 40

// Defer makes the pipeline hold every event until Finish instead of judging
// it at once, so that a replay gives the same decisions whatever the order of
// its input: rotated files in any order, hosts with skewed clocks merged into
// one file. Call it before the first NewStream. Events reach the sink's Event
// in input order at Finish, after any year correction.
func (p *Pipeline) Defer() {
	if p.deferred {
		return
	}
	p.deferred = true
	// Finish frees the held events' memory; a pipeline dropped before it
	// frees it when collected.
	p.held.mem = &heldMem{}
	runtime.AddCleanup(p, (*heldMem).free, p.held.mem)
}

func (p *Pipeline) hold(s *Stream, ev *phalanx.Event, svc int, yearless bool) {
	h := held{
		at:       nanos(ev.Time),
		line:     ev.Line,
		addr:     ev.Source.As16(),
		is4:      ev.Source.Is4(),
		stream:   uint16(s.index),
		kind:     ev.Kind,
		svc:      uint8(svc),
		yearless: yearless && s.shift,
	}
	h.user = p.strs.intern(ev.User)
	h.path = p.strs.intern(ev.Path)
	if d := p.details.intern(ev.Detail); d <= 1<<16-1 {
		h.detail = uint16(d)
	}
	p.held.add(h)
}

// interned is a table of strings, each kept once and known by its 1-based
// index; "" is 0.
type interned struct {
	ids  map[string]uint32
	list []string
}

func (t *interned) intern(s string) uint32 {
	if s == "" {
		return 0
	}
	if id, ok := t.ids[s]; ok {
		return id
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	t.list = append(t.list, s)
	id := uint32(len(t.list))
	t.ids[s] = id
	return id
}

func (t *interned) get(id uint32) string {
	if id == 0 {
		return ""
	}
	return t.list[id-1]
}

// Finish judges the events a deferred pipeline held: it moves each stream
// whose newest year-less line would lie in the future (more than a day after
// the stream's reference: a file's modification time, or now for standard
// input) back by whole years, hands every event to the sink in input order,
// then runs detection over all of them in time order (events of the same
// instant in input order). The input is mostly runs already in order (each
// file, each rotation), so the runs are merged rather than sorted. Alert
// evidence then holds packed line numbers (see EvidenceLine).
func (p *Pipeline) Finish() {
	if !p.deferred {
		return
	}
	p.correctYears()
	hs := &p.held
	ev := &phalanx.Event{}
	p.c.Events += int64(hs.n)
	if p.sink != nil {
		for i := range hs.n {
			p.toEvent(hs.at(i), ev, false)
			p.sink.Event(ev)
		}
	}
	// Runs: maximal stretches of input whose times never go back.
	var runs []run
	for i := range hs.n {
		if i == 0 || hs.at(i).at < hs.at(i-1).at {
			runs = append(runs, run{next: i})
			if len(runs) > 1 {
				runs[len(runs)-2].end = i
			}
		}
	}
	if len(runs) > 0 {
		runs[len(runs)-1].end = hs.n
	}
	m := merger{hs: hs, runs: runs}
	for i := range runs {
		m.heap = append(m.heap, int32(i))
	}
	heap.Init(&m)
	for m.Len() > 0 {
		r := &runs[m.heap[0]]
		h := hs.at(r.next)
		p.toEvent(h, ev, true)
		stream := p.streams[h.stream].id
		r.next++
		if r.next == r.end {
			heap.Pop(&m)
		} else {
			heap.Fix(&m, 0)
		}
		p.detect(ev, stream)
	}
	p.held.mem.free()
	p.held, p.strs, p.details = heldStore{mem: p.held.mem}, interned{}, interned{}
}

// run is a stretch of held events in time order: the next one to judge and
// the end.
type run struct{ next, end int }

// merger is a min-heap of runs by the time of their next event, then by
// input order.
type merger struct {
	hs   *heldStore
	runs []run
	heap []int32
}

func (m *merger) Len() int { return len(m.heap) }
func (m *merger) Less(i, j int) bool {
	a, b := &m.runs[m.heap[i]], &m.runs[m.heap[j]]
	ta, tb := m.hs.at(a.next).at, m.hs.at(b.next).at
	return ta < tb || ta == tb && a.next < b.next
}
func (m *merger) Swap(i, j int) { m.heap[i], m.heap[j] = m.heap[j], m.heap[i] }
func (m *merger) Push(x any)    { m.heap = append(m.heap, x.(int32)) }
func (m *merger) Pop() any {
	x := m.heap[len(m.heap)-1]
	m.heap = m.heap[:len(m.heap)-1]
	return x
}

// nanos returns t in Unix nanoseconds, clamped to what int64 holds (years
// 1678 to 2262); the scenario engine clamps further.
func nanos(t time.Time) int64 {
	const lo, hi = -9_200_000_000, 9_200_000_000 // seconds
	switch s := t.Unix(); {
	case s < lo:
		return lo * int64(time.Second)
	case s > hi:
		return hi * int64(time.Second)
	}
	return t.UnixNano()
}

// toEvent fills ev from h; packed makes Line carry the stream too.
func (p *Pipeline) toEvent(h *held, ev *phalanx.Event, packed bool) {
	addr := netip.AddrFrom16(h.addr)
	if h.is4 {
		addr = addr.Unmap()
	}
	*ev = phalanx.Event{
		Time:    time.Unix(0, h.at),
		Service: services[h.svc].name,
		Kind:    h.kind,
		Source:  addr,
		User:    p.strs.get(h.user),
		Path:    p.strs.get(h.path),
		Detail:  p.details.get(uint32(h.detail)),
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
	hs := &p.held
	for i := range hs.n {
		if h := hs.at(i); h.yearless {
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
	for i := range hs.n {
		h := hs.at(i)
		if k := years[h.stream]; k > 0 && h.yearless {
			h.at = time.Unix(0, h.at).In(p.streams[h.stream].loc).AddDate(-k, 0, 0).UnixNano()
			p.c.YearsShifted++
		}
	}
}
