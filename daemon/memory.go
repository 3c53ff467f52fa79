package daemon

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

// idSet remembers recently seen report ids, bounded: the oldest are
// forgotten first. The fast path and the stream deliver each report twice.
type idSet struct {
	max  int
	m    map[string]struct{}
	ring []string
	next int
}

func newIDSet(max int) *idSet {
	return &idSet{max: max, m: make(map[string]struct{}, 1024), ring: make([]string, max)}
}

// forget drops id, so that a later copy counts as new.
func (s *idSet) forget(id string) { delete(s.m, id) }

// has reports whether id is remembered.
func (s *idSet) has(id string) bool {
	_, ok := s.m[id]
	return ok
}

// add reports whether id is new, and remembers it.
func (s *idSet) add(id string) bool {
	if _, ok := s.m[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.m, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % s.max
	s.m[id] = struct{}{}
	return true
}

// Entry is one step of an incident's history, as `phalanx explain` shows
// it and Options.Observe receives it.
type Entry = entry

// entry is one step of an incident's history.
type entry struct {
	Time       time.Time `json:"time"`
	What       string    `json:"what"` // alert, report, decision, enforced, refused, pardon
	Member     string    `json:"member,omitempty"`
	MemberName string    `json:"member_name,omitempty"` // the member's name in the charter, filled by explain
	Scenario   string    `json:"scenario,omitempty"`
	Origin     string    `json:"origin,omitempty"`
	Value      string    `json:"value"`
	Until      time.Time `json:"until,omitzero"`
	DecisionID uint64    `json:"decision_id,omitempty"`
	ReportID   string    `json:"report_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Evidence   []string  `json:"evidence,omitempty"`
}

// timeline keeps the recent history of every value, bounded in entries:
// what `phalanx explain` prints.
type timeline struct {
	observe func(Entry) // Options.Observe; nil for none
	mu      sync.Mutex
	max     int
	entries []entry
	start   int
	live    *fanout // the console's live stream (console.go); nil for none
}

func (t *timeline) add(v netip.Prefix, e entry) {
	e.Value = v.String()
	if v.IsSingleIP() {
		e.Value = v.Addr().String()
	}
	if t.observe != nil {
		t.observe(e)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live.publish(e)
	if len(t.entries) < t.max {
		t.entries = append(t.entries, e)
		return
	}
	t.entries[t.start] = e
	t.start = (t.start + 1) % t.max
}

// about returns every entry whose value contains addr, in time order.
func (t *timeline) about(addr netip.Addr) []entry {
	t.mu.Lock()
	var out []entry
	for _, e := range t.entries {
		p, err := netip.ParsePrefix(e.Value)
		if err != nil {
			a, err2 := netip.ParseAddr(e.Value)
			if err2 != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Contains(addr) {
			out = append(out, e)
		}
	}
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// recent returns the newest n entries of one kind, oldest first.
func (t *timeline) recent(what string, n int) []entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []entry
	size := len(t.entries)
	for i := 0; i < size && len(out) < n; i++ {
		e := t.entries[(t.start+size-1-i)%size]
		if e.What == what {
			out = append(out, e)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// heldEntries keeps other members' enforcement entries for values this
// member has not banned yet (their record can arrive before the report
// that leads here to the same decision), until the decision comes, bounded
// in values: a flood of records for values never banned cannot grow it.
type heldEntries struct {
	mu    sync.Mutex
	max   int
	m     map[netip.Prefix][]entry
	order []netip.Prefix
}

func newHeldEntries(max int) *heldEntries {
	return &heldEntries{max: max, m: map[netip.Prefix][]entry{}}
}

// hold keeps e until take(v); the oldest value goes when max are held.
func (h *heldEntries) hold(v netip.Prefix, e entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.m[v]; !ok {
		if len(h.order) >= h.max {
			delete(h.m, h.order[0])
			h.order = h.order[1:]
		}
		h.order = append(h.order, v)
	}
	if len(h.m[v]) < 64 {
		h.m[v] = append(h.m[v], e)
	}
}

// take returns and forgets the entries held for v.
func (h *heldEntries) take(v netip.Prefix) []entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	es, ok := h.m[v]
	if !ok {
		return nil
	}
	delete(h.m, v)
	if i := slices.Index(h.order, v); i >= 0 {
		h.order = slices.Delete(h.order, i, i+1)
	}
	return es
}
