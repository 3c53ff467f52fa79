package console

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Row is one ban on the live view: who detected it, with what evidence,
// and how it spread (each member's enforcement after the detection).
type Row struct {
	Value      string   `json:"value"`
	Origin     string   `json:"origin"`
	Scenario   string   `json:"scenario"`
	Service    string   `json:"service"`
	DetectedBy string   `json:"detected_by"` // member id
	DetectedOn string   `json:"detected_on"` // its name
	Detected   string   `json:"detected"`    // RFC 3339 with milliseconds
	Evidence   []string `json:"evidence"`
	Hops       []Hop    `json:"hops"`
	State      string   `json:"state"` // banned, pardoned, refused, pending
	Note       string   `json:"note,omitempty"`
	// Pulls are this member's bouncers, each with whether it has pulled
	// the ban since this member enforced it; only while banned.
	Pulls []Pull `json:"pulls,omitempty"`

	t0      time.Time
	updated time.Time
}

// Hop is one member's enforcement of a row's ban.
type Hop struct {
	Member string `json:"member"` // id; names are filled in when sent
	Name   string `json:"name"`
	After  string `json:"after"` // "+3 ms" after the detection
	Layer  string `json:"layer"`
	at     time.Time
}

// Pull is one of this member's bouncers on a row: "bouncer fw1 at its
// next pull", or "bouncer fw1 pulled it ≤ +5s" after this member's
// enforcement (pull times are kept to the second).
type Pull struct {
	Bouncer string `json:"bouncer"`
	Text    string `json:"text"`
	Pulled  bool   `json:"pulled"`
}

// maxPulls bounds the bouncers named on a row; the rest are counted.
const maxPulls = 8

// pulls are the bouncers' pulls of r's ban, which this member (self)
// enforced at its hop.
func pulls(r *Row, self string, bouncers []Bouncer) []Pull {
	if r.State != "banned" || len(bouncers) == 0 {
		return nil
	}
	var ref time.Time
	for _, h := range r.Hops {
		if h.Member == self {
			ref = h.at
		}
	}
	out := make([]Pull, 0, min(len(bouncers), maxPulls+1))
	for i, b := range bouncers {
		if i == maxPulls {
			out = append(out, Pull{Text: "and " + strconv.Itoa(len(bouncers)-maxPulls) + " more bouncers"})
			break
		}
		p := Pull{Bouncer: b.Name, Text: "at its next pull"}
		if !ref.IsZero() && b.LastPull.After(ref) {
			p.Pulled = true
			p.Text = "pulled it ≤ +" + b.LastPull.Add(time.Second).Sub(ref).Round(time.Second).String()
		}
		out = append(out, p)
	}
	return out
}

// serviceOf is the service family of a scenario name ("ssh-bf" → "ssh").
func serviceOf(scenario string) string {
	if i := strings.IndexByte(scenario, '-'); i > 0 {
		return scenario[:i]
	}
	return scenario
}

func (r *Row) stamp(names map[string]string, self string, bouncers []Bouncer) {
	r.Pulls = pulls(r, self, bouncers)
	r.DetectedOn = nameOr(names, r.DetectedBy)
	r.Detected = ""
	if !r.t0.IsZero() {
		r.Detected = r.t0.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	for i := range r.Hops {
		r.Hops[i].After = after(r.Hops[i].at.Sub(r.t0))
		r.Hops[i].Name = nameOr(names, r.Hops[i].Member)
	}
}

// nameOr is a member's name, with the head of its id when another member
// has the same name (members on one host), or the head of its id alone.
func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		for other, on := range names {
			if on == n && other != id {
				return n + "·" + id[:min(len(id), 6)]
			}
		}
		return n
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func after(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 0:
		return "−" + trimMS(-ms)
	default:
		return "+" + trimMS(ms)
	}
}

func trimMS(ms float64) string {
	if ms >= 10000 {
		return time.Duration(ms * float64(time.Millisecond)).Round(time.Second).String()
	}
	if ms < 10 {
		return strings.TrimRight(strings.TrimRight(strconvF(ms, 1), "0"), ".") + " ms"
	}
	return strconvF(ms, 0) + " ms"
}

// live keeps the newest rows and sends their changes to the open streams.
type live struct {
	mu      sync.Mutex
	rows    map[string]*Row
	names   map[string]string // member id → name, from the entries
	maxRows int
	subs    map[chan []byte]struct{}
	max     int
	refused int64
	dropped int64

	self     string    // this member's id
	bouncers []Bouncer // this member's bouncers, by name
}

func newLive(maxStreams, maxRows int, self string) *live {
	return &live{rows: map[string]*Row{}, names: map[string]string{}, maxRows: maxRows, subs: map[chan []byte]struct{}{}, max: maxStreams, self: self}
}

// setBouncers takes this member's bouncers as they are now, and sends
// the rows whose pulls changed.
func (l *live) setBouncers(bs []Bouncer) {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b Bouncer) int { return strings.Compare(a.Name, b.Name) })
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.bouncers
	l.bouncers = bs
	if len(l.subs) == 0 {
		return
	}
	for _, r := range l.rows {
		if !slices.Equal(pulls(r, l.self, old), pulls(r, l.self, bs)) {
			l.send(r)
		}
	}
}

type liveCounts struct{ open, refused, dropped int64 }

func (l *live) counts() liveCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return liveCounts{int64(len(l.subs)), l.refused, l.dropped}
}

// subscribe opens a stream of row changes (JSON); nil when too many are
// open.
func (l *live) subscribe() chan []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.subs) >= l.max {
		l.refused++
		return nil
	}
	ch := make(chan []byte, 64)
	l.subs[ch] = struct{}{}
	return ch
}

func (l *live) unsubscribe(ch chan []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[ch]; ok {
		delete(l.subs, ch)
		close(ch)
	}
}

func (l *live) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		delete(l.subs, ch)
		close(ch)
	}
}

func (l *live) seed(es []Entry) {
	for _, e := range es {
		l.apply(e, false)
	}
}

func (l *live) add(e Entry) { l.apply(e, true) }

func (l *live) apply(e Entry, send bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Member != "" && e.MemberName != "" && len(l.names) < 4096 {
		l.names[e.Member] = e.MemberName
	}
	r := l.rows[e.Value]
	switch e.What {
	case "alert", "report", "decision", "refused":
		if r == nil || (e.What == "decision" && r.State == "pardoned") {
			if e.What == "refused" && r == nil {
				r = &Row{Value: e.Value, State: "refused"}
			} else if r == nil || r.State == "pardoned" {
				r = &Row{Value: e.Value, State: "pending"}
			}
			l.rows[e.Value] = r
		}
	case "enforced", "pardon":
		if r == nil {
			return
		}
	default:
		return
	}
	earliest := func(t time.Time) {
		if !t.IsZero() && (r.t0.IsZero() || t.Before(r.t0)) {
			r.t0 = t
		}
	}
	switch e.What {
	case "alert":
		earliest(e.Time)
		r.DetectedBy, r.Scenario = e.Member, e.Scenario
	case "report":
		earliest(e.Time)
		if r.DetectedBy == "" {
			r.DetectedBy = e.Member
		}
		if r.Scenario == "" || r.Scenario == "manual" {
			r.Scenario = e.Scenario
		}
		if len(e.Evidence) > 0 {
			r.Evidence = append([]string(nil), e.Evidence...)
		}
		if e.Detail != "" && r.State == "pending" {
			r.Note = e.Detail
		}
	case "decision":
		earliest(e.Time)
		r.State, r.Origin, r.Note = "banned", e.Origin, ""
		if e.Scenario != "" {
			r.Scenario = e.Scenario
		}
		if r.DetectedBy == "" {
			r.DetectedBy = e.Member
		}
	case "enforced":
		for _, h := range r.Hops {
			if h.Member == e.Member {
				return
			}
		}
		earliest(e.Time)
		r.Hops = append(r.Hops, Hop{Member: e.Member, Layer: e.Detail, at: e.Time})
		sort.SliceStable(r.Hops, func(i, j int) bool { return r.Hops[i].at.Before(r.Hops[j].at) })
	case "pardon":
		r.State, r.Note = "pardoned", "pardoned by "+e.Member
		if e.Detail != "" {
			r.Note += ": " + e.Detail
		}
	case "refused":
		if r.State != "banned" {
			r.State, r.Note = "refused", e.Detail
		}
		if r.Scenario == "" {
			r.Scenario = e.Scenario
		}
	}
	r.Service = serviceOf(r.Scenario)
	r.updated = e.Time
	if len(l.rows) > l.maxRows {
		l.evict()
	}
	if send {
		l.send(r)
	}
}

// send sends r to the streams; l.mu is held.
func (l *live) send(r *Row) {
	if len(l.subs) == 0 {
		return
	}
	cp := *r
	cp.Hops = append([]Hop(nil), r.Hops...)
	cp.stamp(l.names, l.self, l.bouncers)
	msg, err := json.Marshal(&cp)
	if err != nil {
		return
	}
	for ch := range l.subs {
		select {
		case ch <- msg:
		default: // too slow: dropped, its browser reconnects and starts again
			delete(l.subs, ch)
			close(ch)
			l.dropped++
		}
	}
}

// evict drops the least recently changed tenth of the rows.
func (l *live) evict() {
	all := make([]*Row, 0, len(l.rows))
	for _, r := range l.rows {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].updated.Before(all[j].updated) })
	for _, r := range all[:len(all)/10+1] {
		delete(l.rows, r.Value)
	}
}

// snapshot returns the newest n rows, newest first, stamped.
func (l *live) snapshot(n int) []Row {
	l.mu.Lock()
	out := make([]Row, 0, len(l.rows))
	for _, r := range l.rows {
		cp := *r
		cp.Hops = append([]Hop(nil), r.Hops...)
		out = append(out, cp)
	}
	names := maps.Clone(l.names)
	bouncers := l.bouncers // replaced, never changed
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].t0.After(out[j].t0) })
	if len(out) > n {
		out = out[:n]
	}
	for i := range out {
		out[i].stamp(names, l.self, bouncers)
	}
	return out
}

func strconvF(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

// Propagation is how long members took to enforce bans after their
// detection, over the live view's rows.
type Propagation struct {
	N             int
	P50, P99, Max time.Duration
	Buckets       []count // by upper bound
}

// propagation summarises every hop but the first of each row detected
// since since (the first is the detector's own enforcement).
func (l *live) propagation(since time.Time) Propagation {
	l.mu.Lock()
	var ds []time.Duration
	for _, r := range l.rows {
		if r.t0.Before(since) {
			continue
		}
		for i, h := range r.Hops {
			if i > 0 {
				ds = append(ds, max(0, h.at.Sub(r.t0)))
			}
		}
	}
	l.mu.Unlock()
	p := Propagation{N: len(ds)}
	bounds := []time.Duration{time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
		25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second}
	counts := make([]int, len(bounds)+1)
	for _, d := range ds {
		i := sort.Search(len(bounds), func(i int) bool { return d <= bounds[i] })
		counts[i]++
	}
	top := 0
	for _, n := range counts {
		top = max(top, n)
	}
	for i, n := range counts {
		name := "> 1s"
		if i < len(bounds) {
			name = "≤ " + bounds[i].String()
		}
		p.Buckets = append(p.Buckets, count{Name: name, N: n, Max: max(top, 1)})
	}
	if len(ds) == 0 {
		return p
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p.P50, p.P99, p.Max = ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
	return p
}
