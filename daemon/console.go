package daemon

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"phalanx"
	"phalanx/alliance"
	"phalanx/charter"
	"phalanx/console"
	"phalanx/pipeline"
)

// fileReadOnlyToken is the console's read-only token, in the data
// directory next to the admin token.
const fileReadOnlyToken = "console-readonly.token"

// fanout hands every timeline entry to the console's subscribers, each
// through a bounded channel: a subscriber that falls behind is dropped
// (its channel closed) and counted, never waited for.
type fanout struct {
	mu      sync.Mutex
	subs    map[chan console.Entry]struct{}
	last    map[string]time.Time // member → its latest entry here
	dropped atomic.Int64
	names   func(id string) string
}

func newFanout(names func(string) string) *fanout {
	return &fanout{subs: map[chan console.Entry]struct{}{}, last: map[string]time.Time{}, names: names}
}

// publish runs under the timeline's lock; f may be nil (no console).
func (f *fanout) publish(e entry) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Member != "" && e.Time.After(f.last[e.Member]) && len(f.last) < 4096 {
		f.last[e.Member] = e.Time
	}
	if len(f.subs) == 0 {
		return
	}
	ce := consoleEntry(e)
	ce.MemberName = f.names(e.Member)
	for ch := range f.subs {
		select {
		case ch <- ce:
		default:
			delete(f.subs, ch)
			close(ch)
			f.dropped.Add(1)
		}
	}
}

func (f *fanout) subscribe(buf int) (<-chan console.Entry, func()) {
	ch := make(chan console.Entry, buf)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}

func (f *fanout) lastHeard(member string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[member]
}

func consoleEntry(e entry) console.Entry {
	return console.Entry{Time: e.Time, What: e.What, Member: e.Member, MemberName: e.MemberName, Scenario: e.Scenario,
		Origin: e.Origin, Value: e.Value, Until: e.Until, DecisionID: e.DecisionID, Detail: e.Detail, Evidence: e.Evidence}
}

// last returns up to n of the newest entries, oldest first.
func (t *timeline) last(n int) []entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	size := len(t.entries)
	n = min(n, size)
	out := make([]entry, 0, n)
	for i := size - n; i < size; i++ {
		out = append(out, t.entries[(t.start+i)%size])
	}
	return out
}

// console builds the web console served under /ui/ and starts its live
// feed, which ends with Run's context.
func (d *Daemon) console() http.Handler {
	ro, err := loadOrCreateReadOnlyToken(d.opts.DataDir)
	if err == nil {
		var c *console.Console
		f := newFanout(d.memberName)
		d.timeline.mu.Lock()
		d.timeline.live = f
		d.timeline.mu.Unlock()
		d.newest.Store(&newestIndex{})
		c, err = console.New(console.Options{Backend: &consoleBackend{d: d, f: f}, Logger: d.log.With("component", "console"),
			AdminToken: d.token, ReadOnlyToken: ro, Member: d.id.ID, Now: d.now})
		if err == nil {
			d.wg.Add(1)
			go func() { defer d.wg.Done(); c.Run(d.life) }()
			return c
		}
	}
	d.log.Error("the console is off", "err", err)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the console is off: "+err.Error(), http.StatusServiceUnavailable)
	})
}

func (d *Daemon) memberName(id string) string {
	if m, _, ok := d.charter().c.Member(id); ok {
		return m.Name
	}
	return ""
}

// loadOrCreateReadOnlyToken returns the console's read-only token,
// creating it on first use.
func loadOrCreateReadOnlyToken(dir string) (string, error) {
	path := filepath.Join(dir, fileReadOnlyToken)
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("read-only token %s is too short: delete it and restart to make a new one", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the console's read-only token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the console's read-only token: %w", err)
	}
	return tok, nil
}

// consoleBackend is what the console sees of the daemon. Changes go
// through the admin API's own handlers, so that they obey the same charter
// rules and give the same refusals as the CLI.
type consoleBackend struct {
	d *Daemon
	f *fanout
}

var _ console.Backend = (*consoleBackend)(nil)

// recorder is a minimal in-memory http.ResponseWriter for calling the
// admin handlers.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// call runs an admin handler in process; a status of 300 or more is an
// *console.ActionError with the handler's message.
func (b *consoleBackend) call(ctx context.Context, h http.HandlerFunc, method, target string, body any, out any, path map[string]string) error {
	var rd bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd.Reset(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, &rd)
	if err != nil {
		return err
	}
	for k, v := range path {
		req.SetPathValue(k, v)
	}
	rec := &recorder{h: http.Header{}}
	h(rec, req)
	if rec.code >= 300 {
		var e struct{ Message string }
		json.Unmarshal(rec.body.Bytes(), &e)
		if e.Message == "" {
			e.Message = http.StatusText(rec.code)
		}
		return &console.ActionError{Status: rec.code, Message: e.Message}
	}
	if out != nil {
		return json.Unmarshal(rec.body.Bytes(), out)
	}
	return nil
}

func (b *consoleBackend) Status() console.Status {
	d := b.d
	st := d.status()
	out := console.Status{Member: st.Member, MemberName: d.memberName(st.Member), Alliance: st.Alliance, Charter: st.Charter,
		Uptime: st.Uptime, Enforce: st.Enforce, EnforceNote: st.EnforceWhy, Decisions: st.Decisions,
		Pipeline: st.Pipeline, Reports: st.Reports, Rejected: st.Rejected, Dropped: b.f.dropped.Load()}
	lag := vecValues(d.met.lag, "member")
	recv := vecValues(d.met.reportsIn, "member")
	missing := d.gaps.behind()
	c := &d.charter().c
	for _, m := range c.Members {
		cm := console.Member{ID: m.ID, Name: m.Name, Founding: m.Founding, Self: m.ID == st.Member, Leader: m.ID == st.Leader,
			Fabric: m.Fabric, Reports: int64(recv[m.ID]), Lag: time.Duration(lag[m.ID] * float64(time.Second)),
			Missing: missing[m.ID], LastReport: b.f.lastHeard(m.ID)}
		for _, a := range m.Addresses {
			cm.Addresses = append(cm.Addresses, a.String())
		}
		out.Members = append(out.Members, cm)
	}
	return out
}

// behind returns, for each member with a gap in its sequence, how many of
// its reports are missing below the highest received.
func (g *gaps) behind() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]uint64{}
	for member, t := range g.m {
		if len(t.above) == 0 {
			continue
		}
		var top uint64
		for s := range t.above {
			top = max(top, s)
		}
		out[member] = top - t.low - uint64(len(t.above))
	}
	return out
}

// vecValues reads a counter or gauge vector's values by one label.
func vecValues(c prometheus.Collector, label string) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		var key []string
		for _, l := range pb.GetLabel() {
			if label == "" || l.GetName() == label {
				key = append(key, l.GetValue())
			}
		}
		v := pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
		out[strings.Join(key, "/")] += v
	}
	return out
}

func consoleDecision(x phalanx.Decision) console.Decision {
	v := x.Value.String()
	if x.Value.IsSingleIP() {
		v = x.Value.Addr().String()
	}
	return console.Decision{ID: x.ID, Origin: string(x.Origin), Type: x.Type, Value: v, Scenario: x.Scenario,
		Reason: x.Reason, Start: x.Start, Until: x.Until}
}

// Decisions pages through the table on the server, in q's order. The
// console's first view (every decision, newest first) comes from the
// newest index, whatever the table's size. Other orders and searches scan
// every decision and keep the first Offset+Limit of the order (the
// console bounds that depth), so one page costs one pass over the table
// and memory for the page's depth only.
func (b *consoleBackend) Decisions(q console.Query) console.Page {
	d := b.d
	now := d.now()
	if p, ok := d.newest.Load().page(d, q, now); ok {
		return p
	}
	order := decisionOrder(q)
	var p console.Page
	if q.Addr.IsValid() {
		all := d.table.Covering(phalanx.Normalize(q.Addr), now)
		slices.SortFunc(all, func(a, b phalanx.Decision) int { return order(&a, &b) })
		p.Total = len(all)
		for _, x := range all[min(q.Offset, len(all)):min(q.Offset+q.Limit, len(all))] {
			p.Items = append(p.Items, consoleDecision(x))
		}
		return p
	}
	match := func(x *phalanx.Decision) bool { return true }
	switch {
	case q.Prefix.IsValid():
		want, _ := phalanx.NormalizePrefix(q.Prefix)
		match = func(x *phalanx.Decision) bool {
			return x.Value.Bits() >= want.Bits() && want.Contains(x.Value.Addr()) || x.Value.Contains(want.Addr()) && x.Value.Bits() <= want.Bits()
		}
	case q.Word != "":
		match = func(x *phalanx.Decision) bool {
			return containsFold(x.Scenario, q.Word) || containsFold(string(x.Origin), q.Word) || containsFold(x.Reason, q.Word)
		}
	}
	depth := q.Offset + q.Limit
	if depth <= 0 {
		return p
	}
	// first holds the first depth decisions of the order seen so far, as
	// a heap whose root is the last of them.
	first := make([]phalanx.Decision, 0, min(depth, 1024))
	d.table.All(func(x phalanx.Decision) bool {
		if !x.Active(now) || !match(&x) {
			return true
		}
		p.Total++
		switch {
		case len(first) < depth:
			first = append(first, x)
			heapUp(first, len(first)-1, order)
		case order(&x, &first[0]) < 0:
			first[0] = x
			heapDown(first, 0, order)
		}
		return true
	})
	slices.SortFunc(first, func(a, b phalanx.Decision) int { return order(&a, &b) })
	for _, x := range first[min(q.Offset, len(first)):] {
		p.Items = append(p.Items, consoleDecision(x))
	}
	return p
}

// newestIndex keeps the newest decisions of the table by (Start, ID), up
// to newestKeep and at least console.MaxDepth when the table holds as
// many, so that the console's first view (newest first, no search) is a
// walk over its first page, not a pass over a table of a million. It
// learns of every change of the table from decisionsChanged (called where
// the journal records them, under the daemon's mu) and rebuilds itself
// from one pass over the table when it cannot trust what it holds: at its
// first use, when the table's size is not what the changes it saw make it
// (a change that did not go through the journal), when more changes came
// than it keeps waiting, or when deletions leave it too short for a page.
type newestIndex struct {
	mu     sync.Mutex       // serializes page and rebuild
	keys   []newestKey      // ascending: the newest last
	in     map[uint64]int64 // id → start of every key
	whole  bool             // keys hold every stored decision
	valid  bool
	builds int // passes over the table, for tests

	// Changes wait here for the next page; guarded by pendMu, appended
	// to under the daemon's mu.
	pendMu   sync.Mutex
	pending  []newestChange
	expect   int  // the table's size the changes seen make
	overflow bool // more changes came than pending keeps: rebuild
}

type newestKey struct {
	start int64
	id    uint64
}

type newestChange struct {
	newestKey
	deleted bool
}

const (
	// newestKeep bounds the index; it is trimmed back to
	// console.MaxDepth past it.
	newestKeep = 2 * console.MaxDepth
	// newestPending bounds the changes waiting for the next page.
	newestPending = 16 << 10
)

func keyOf(x *phalanx.Decision) newestKey {
	return newestKey{start: x.Start.UnixNano(), id: x.ID}
}

func (a newestKey) compare(b newestKey) int {
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// decisionsChanged tells the console's index of a change of the table.
// The caller holds d.mu, and calls it for every change, deletions first.
func (d *Daemon) decisionsChanged(added, deleted []phalanx.Decision) {
	x := d.newest.Load()
	if x == nil {
		return
	}
	x.pendMu.Lock()
	defer x.pendMu.Unlock()
	x.expect += len(added) - len(deleted)
	if x.overflow {
		return
	}
	if len(x.pending)+len(added)+len(deleted) > newestPending {
		x.pending, x.overflow = nil, true
		return
	}
	for i := range deleted {
		x.pending = append(x.pending, newestChange{keyOf(&deleted[i]), true})
	}
	for i := range added {
		x.pending = append(x.pending, newestChange{keyOf(&added[i]), false})
	}
}

// page returns the page q asks of the table when q is the console's first
// view (no search, newest first) and false otherwise. Its Total counts
// the stored decisions, of which those that ended in the last second (the
// expiry's period) are not shown.
func (x *newestIndex) page(d *Daemon, q console.Query, now time.Time) (console.Page, bool) {
	if x == nil || q.Addr.IsValid() || q.Prefix.IsValid() || q.Word != "" || q.Sort != console.SortStart || !q.Desc ||
		q.Offset < 0 || q.Limit <= 0 || q.Offset+q.Limit > console.MaxDepth {
		return console.Page{}, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	total := x.sync(d)
	depth := q.Offset + q.Limit
	if !x.valid || !x.whole && len(x.keys) < depth {
		total = x.rebuild(d)
		if !x.valid || !x.whole && len(x.keys) < depth {
			return console.Page{}, false // changing under it: the pass over the table answers
		}
	}
	p := console.Page{Total: total}
	skip := q.Offset
	for i := len(x.keys) - 1; i >= 0 && len(p.Items) < q.Limit; i-- {
		dec, ok := d.table.Get(x.keys[i].id)
		if !ok || !dec.Active(now) {
			continue // deleted since sync, or ended and not yet expired
		}
		if skip > 0 {
			skip--
			continue
		}
		p.Items = append(p.Items, consoleDecision(dec))
	}
	return p, true
}

// sync applies the waiting changes and returns the table's size; it
// marks the index invalid when that is not the size the changes make.
func (x *newestIndex) sync(d *Daemon) int {
	d.mu.Lock()
	n := d.table.Len()
	x.pendMu.Lock()
	pending, overflow, expect := x.pending, x.overflow, x.expect
	x.pending = nil
	x.pendMu.Unlock()
	d.mu.Unlock()
	if overflow || n != expect {
		x.valid = false
	}
	if x.valid {
		x.apply(pending)
	}
	return n
}

// apply applies changes in order.
func (x *newestIndex) apply(changes []newestChange) {
	for _, c := range changes {
		if c.deleted {
			start, ok := x.in[c.id]
			if !ok {
				continue
			}
			delete(x.in, c.id)
			if i, found := slices.BinarySearchFunc(x.keys, newestKey{start, c.id}, newestKey.compare); found {
				x.keys = slices.Delete(x.keys, i, i+1)
			}
			continue
		}
		if _, ok := x.in[c.id]; ok {
			continue // seen by the rebuild's pass already
		}
		if !x.whole && (len(x.keys) == 0 || c.compare(x.keys[0]) < 0) {
			continue // older than every key: not among the newest
		}
		i, _ := slices.BinarySearchFunc(x.keys, c.newestKey, newestKey.compare)
		x.keys = slices.Insert(x.keys, i, c.newestKey)
		x.in[c.id] = c.start
		if len(x.keys) > newestKeep {
			x.trim()
		}
	}
}

// trim keeps the newest console.MaxDepth keys.
func (x *newestIndex) trim() {
	cut := len(x.keys) - console.MaxDepth
	for _, k := range x.keys[:cut] {
		delete(x.in, k.id)
	}
	x.keys = append(x.keys[:0], x.keys[cut:]...)
	x.whole = false
}

// rebuild makes the index again from one pass over the table, then
// applies the changes made meanwhile; it returns the table's size.
func (x *newestIndex) rebuild(d *Daemon) int {
	d.mu.Lock()
	n := d.table.Len()
	x.pendMu.Lock()
	x.pending, x.overflow, x.expect = nil, false, n
	x.pendMu.Unlock()
	d.mu.Unlock()
	// The newest newestKeep, in a heap whose root is the oldest of them.
	h := make([]newestKey, 0, min(n, newestKeep))
	older := func(i, j int) bool { return h[i].compare(h[j]) < 0 }
	seen := 0
	d.table.All(func(dec phalanx.Decision) bool {
		seen++
		k := keyOf(&dec)
		switch {
		case len(h) < newestKeep:
			h = append(h, k)
			for i := len(h) - 1; i > 0 && older(i, (i-1)/2); i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case k.compare(h[0]) > 0:
			h[0] = k
			for i := 0; ; {
				m, l, r := i, 2*i+1, 2*i+2
				if l < len(h) && older(l, m) {
					m = l
				}
				if r < len(h) && older(r, m) {
					m = r
				}
				if m == i {
					break
				}
				h[i], h[m] = h[m], h[i]
				i = m
			}
		}
		return true
	})
	slices.SortFunc(h, newestKey.compare)
	x.builds++
	x.keys = h
	x.in = make(map[uint64]int64, len(h))
	for _, k := range h {
		x.in[k.id] = k.start
	}
	x.whole = seen == len(h) && len(h) < newestKeep
	x.valid = true
	return x.sync(d)
}

// decisionOrder compares decisions in q's order: by its column, then by
// ID, both descending when q.Desc.
func decisionOrder(q console.Query) func(a, b *phalanx.Decision) int {
	var by func(a, b *phalanx.Decision) int
	switch q.Sort {
	case console.SortID:
	case console.SortValue:
		by = func(a, b *phalanx.Decision) int {
			if c := a.Value.Addr().Compare(b.Value.Addr()); c != 0 {
				return c
			}
			return cmp.Compare(a.Value.Bits(), b.Value.Bits())
		}
	case console.SortOrigin:
		by = func(a, b *phalanx.Decision) int { return strings.Compare(string(a.Origin), string(b.Origin)) }
	case console.SortScenario:
		by = func(a, b *phalanx.Decision) int { return strings.Compare(a.Scenario, b.Scenario) }
	case console.SortReason:
		by = func(a, b *phalanx.Decision) int { return strings.Compare(a.Reason, b.Reason) }
	case console.SortUntil:
		by = func(a, b *phalanx.Decision) int { return a.Until.Compare(b.Until) }
	default:
		by = func(a, b *phalanx.Decision) int { return a.Start.Compare(b.Start) }
	}
	return func(a, b *phalanx.Decision) int {
		c := 0
		if by != nil {
			c = by(a, b)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if q.Desc {
			return -c
		}
		return c
	}
}

// heapUp and heapDown keep h a heap whose root is the last in order.
func heapUp(h []phalanx.Decision, i int, order func(a, b *phalanx.Decision) int) {
	for i > 0 {
		parent := (i - 1) / 2
		if order(&h[parent], &h[i]) >= 0 {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func heapDown(h []phalanx.Decision, i int, order func(a, b *phalanx.Decision) int) {
	for {
		last, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && order(&h[l], &h[last]) > 0 {
			last = l
		}
		if r < len(h) && order(&h[r], &h[last]) > 0 {
			last = r
		}
		if last == i {
			return
		}
		h[i], h[last] = h[last], h[i]
		i = last
	}
}

// containsFold reports whether s contains word, which is lower case, in
// any case, without allocating for an ASCII word.
func containsFold(s, word string) bool {
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), word)
		}
	}
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for ; j < len(word); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

func (b *consoleBackend) Explain(addr netip.Addr) console.Explanation {
	var ex Explanation
	err := b.call(context.Background(), b.d.apiExplain, "GET", "/api/explain?address="+url.QueryEscape(addr.String()), nil, &ex, nil)
	out := console.Explanation{Address: addr.String()}
	if err != nil {
		return out
	}
	out.Address, out.Banned = ex.Address, ex.Banned
	for _, v := range ex.Decisions {
		out.Decisions = append(out.Decisions, console.Decision{ID: v.ID, Origin: v.Origin, Type: v.Type, Value: v.Value,
			Scenario: v.Scenario, Reason: v.Reason, Start: v.Start, Until: v.Until})
	}
	for _, e := range ex.Timeline {
		out.Timeline = append(out.Timeline, consoleEntry(e))
	}
	return out
}

func (b *consoleBackend) Ban(ctx context.Context, value string, dur time.Duration, reason string) (console.Decision, error) {
	var v DecisionView
	err := b.call(ctx, b.d.apiAddDecision, "POST", "/api/decisions", AddRequest{Value: value, Duration: dur.String(), Reason: reason, Type: "ban"}, &v, nil)
	if err != nil {
		return console.Decision{}, err
	}
	return console.Decision{ID: v.ID, Origin: v.Origin, Type: v.Type, Value: v.Value, Scenario: v.Scenario, Reason: v.Reason, Start: v.Start, Until: v.Until}, nil
}

func (b *consoleBackend) Pardon(ctx context.Context, value, reason string) (int, error) {
	var out struct{ Deleted int }
	q := url.Values{"value": {value}, "reason": {reason}}
	if err := b.call(ctx, b.d.apiDeleteDecision, "DELETE", "/api/decisions?"+q.Encode(), nil, &out, nil); err != nil {
		return 0, err
	}
	return out.Deleted, nil
}

func (b *consoleBackend) Bouncers() []console.Bouncer {
	var out []console.Bouncer
	for _, k := range b.d.keys.List() {
		out = append(out, console.Bouncer{Name: k.Name, Created: k.Created, LastPull: k.LastPull, Alliance: k.Alliance})
	}
	return out
}

func (b *consoleBackend) AddBouncer(name string, alliance bool) (string, error) {
	var out struct {
		Key string `json:"api_key"`
	}
	body := map[string]any{"name": name}
	if alliance {
		body["alliance"] = true
	}
	err := b.call(context.Background(), b.d.apiAddBouncer, "POST", "/api/bouncers", body, &out, nil)
	return out.Key, err
}

func (b *consoleBackend) DeleteBouncer(name string, alliance bool) error {
	target := "/api/bouncers/" + url.PathEscape(name)
	if alliance {
		target += "?alliance=true"
	}
	return b.call(context.Background(), b.d.apiDeleteBouncer, "DELETE", target, nil, nil, map[string]string{"name": name})
}

func (b *consoleBackend) Charter() console.Charter {
	cs := b.d.charter()
	data, err := cs.c.Marshal()
	if err != nil {
		data = []byte("# " + err.Error())
	}
	out := console.Charter{Name: cs.c.Name, Hash: cs.hash, YAML: string(data), Version: cs.c.Version}
	hist, _ := readCharterHistory(filepath.Join(b.d.opts.DataDir, fileCharterHistory))
	for _, r := range hist {
		out.History = append(out.History, console.Amendment{Version: r.Version, Time: r.Time, Hash: r.Hash, By: r.By, Changes: r.Changes})
	}
	return out
}

func (b *consoleBackend) Sources() console.Sources {
	d := b.d
	lines := vecValues(d.met.lines, "source")
	stats := d.srcs.stats()
	var out console.Sources
	seen := map[string]bool{}
	for _, s := range d.srcs.paths() {
		seen[s] = true
	}
	names := append([]string(nil), d.srcs.paths()...)
	for k := range lines {
		if !seen[k] {
			names = append(names, k)
			seen[k] = true
		}
	}
	for k := range stats {
		if !seen[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	counts := map[string]pipeline.StreamCounters{}
	d.pipeMu.Lock()
	for _, n := range names {
		if c, ok := d.srcs.countsOf(n); ok {
			counts[n] = c
		}
	}
	d.pipeMu.Unlock()
	for _, n := range names {
		src := console.Source{Name: n, Lines: int64(lines[n])}
		if c, ok := counts[n]; ok {
			// The pipeline's share: events made and lines skipped (by
			// reason) from this source's lines.
			src.Stats = map[string]int64{"events": c.Events}
			if sk := c.Skipped(); len(sk) > 0 {
				src.Skipped = sk
			}
		}
		for k, v := range stats[n] {
			m := &src.Stats
			if sourceSkip(k) {
				m = &src.Skipped
			}
			if *m == nil {
				*m = map[string]int64{}
			}
			(*m)[k] = v
		}
		out.List = append(out.List, src)
	}
	out.Events = map[string]int64{}
	for k, v := range vecValues(d.met.events, "") {
		out.Events[k] = int64(v)
	}
	d.pipeMu.Lock()
	c := d.pipe.Counters()
	d.pipeMu.Unlock()
	out.Skipped = c.Skipped
	return out
}

// sourceSkip reports whether a source's own counter (sources.stats)
// counts lines or entries it dropped.
func sourceSkip(counter string) bool {
	switch counter {
	case "oversize", "decode_errors", "rate_dropped", "partial", "denied", "kernel_drops", "framing_errors":
		return true
	}
	return false
}

// Totals are the counters the console samples every few seconds for its
// rates: reports received by member, lines read by source.
func (b *consoleBackend) Totals() console.Totals {
	out := console.Totals{Reports: map[string]int64{}, Lines: map[string]int64{}}
	for k, v := range vecValues(b.d.met.reportsIn, "member") {
		out.Reports[k] = int64(v)
	}
	for k, v := range vecValues(b.d.met.lines, "source") {
		out.Lines[k] = int64(v)
	}
	return out
}

func (b *consoleBackend) Recent(n int) []console.Entry {
	es := b.d.timeline.last(n)
	out := make([]console.Entry, len(es))
	for i, e := range es {
		out[i] = consoleEntry(e)
		out[i].MemberName = b.d.memberName(e.Member)
	}
	return out
}

func (b *consoleBackend) Subscribe() (<-chan console.Entry, func()) { return b.f.subscribe(4096) }

// fileCharterHistory keeps the amendments this member applied, and those
// it received, verified, when it joined (keepJoinHistory), for the
// console's charter view.
const fileCharterHistory = "charter-history.json"

// maxCharterHistory bounds the amendments kept; the oldest go first.
const maxCharterHistory = 256

// amendmentRecord is one amendment of the charter history file.
type amendmentRecord struct {
	Version int       `json:"version"`
	Time    time.Time `json:"time"` // when the stream stored it
	Hash    string    `json:"hash"`
	Signer  string    `json:"signer"`
	By      string    `json:"by"` // the signer's name in the charter it amended
	Changes []string  `json:"changes"`
}

// recordAmendment adds the amendment am, from prev to next, stored on the
// stream at at, to the charter history in the data directory. It runs on
// the consumer goroutine, for amendments verified against the stream's
// charter: those this member applies, once each (a replay after a
// restart meets them as already in force).
func (d *Daemon) recordAmendment(prev, next *charter.Charter, am alliance.Amendment, at time.Time) {
	path := filepath.Join(d.opts.DataDir, fileCharterHistory)
	hist, err := readCharterHistory(path)
	if err != nil {
		d.log.Warn("the charter history is unreadable: starting it again", "path", path, "err", err)
	}
	for _, r := range hist {
		if r.Version == next.Version && r.Hash == next.Hash() {
			return
		}
	}
	hist = append(hist, newAmendmentRecord(prev, next, am, at))
	if err := writeCharterHistory(path, hist); err != nil {
		d.log.Warn("record the amendment in the charter history", "version", next.Version, "err", err)
	}
	if err := extendCharterChain(d.opts.DataDir, prev, am, at); err != nil {
		d.log.Warn("keep the signed amendment for members that join later", "version", next.Version, "err", err)
	}
}

// newAmendmentRecord is the history's record of am, from prev to next,
// stored on the stream at at.
func newAmendmentRecord(prev, next *charter.Charter, am alliance.Amendment, at time.Time) amendmentRecord {
	by := am.Signer
	if m, _, ok := prev.Member(am.Signer); ok && m.Name != "" {
		by = m.Name + " (" + am.Signer[:min(len(am.Signer), 12)] + ")"
	}
	return amendmentRecord{Version: next.Version, Time: at.UTC(), Hash: next.Hash(), Signer: am.Signer, By: by, Changes: charterChanges(prev, next)}
}

// writeCharterHistory stores hist, keeping its newest maxCharterHistory.
func writeCharterHistory(path string, hist []amendmentRecord) error {
	hist = hist[max(0, len(hist)-maxCharterHistory):]
	data, err := json.MarshalIndent(hist, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// fileCharterChain keeps the signed amendments behind the charter history
// (alliance.History): the inviting member hands them to a member that
// joins, which verifies them and so learns the amendments made before it
// joined.
const fileCharterChain = "charter-chain.json"

func readCharterChain(dir string) (*alliance.History, error) {
	data, err := os.ReadFile(filepath.Join(dir, fileCharterChain))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h alliance.History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", fileCharterChain, err)
	}
	return &h, nil
}

func writeCharterChain(dir string, h *alliance.History) error {
	if err := alliance.TrimHistory(h); err != nil {
		return err
	}
	kept := *h
	kept.Sig = nil // a handover's signature: this member signs its own (joinHistory)
	data, err := json.Marshal(&kept)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, fileCharterChain), data, 0o600)
}

// chainEnd returns the hash of the charter h leads to.
func chainEnd(h *alliance.History) (string, error) {
	last := h.Root
	if n := len(h.Steps); n > 0 {
		am, err := alliance.ParseAmendment(h.Steps[n-1].Amendment)
		if err != nil {
			return "", err
		}
		last = am.Charter
	}
	c, err := charter.Parse(last)
	if err != nil {
		return "", err
	}
	return c.Hash(), nil
}

// chainWith returns the kept chain extended by am, which amends prev:
// the chain starts again from prev when it does not lead to prev (none
// kept yet, a damaged file, an amendment this member missed).
func chainWith(dir string, prev *charter.Charter, am alliance.Amendment, at time.Time) (*alliance.History, error) {
	h, err := readCharterChain(dir)
	if h != nil && err == nil {
		data := am.Marshal()
		for i := len(h.Steps) - 1; i >= 0; i-- {
			if bytes.Equal(h.Steps[i].Amendment, data) {
				return h, nil // kept already: this member's own, sealed when it made it (tamper.go)
			}
		}
		var end string
		if end, err = chainEnd(h); err == nil && end != prev.Hash() {
			h = nil
		}
	}
	if h == nil || err != nil {
		root, err := prev.Marshal()
		if err != nil {
			return nil, err
		}
		h = &alliance.History{Root: root}
	}
	data := am.Marshal()
	if n := len(h.Steps); n > 0 && bytes.Equal(h.Steps[n-1].Amendment, data) {
		return h, nil
	}
	h.Steps = append(h.Steps, alliance.HistoryStep{Amendment: data, Time: at.UTC()})
	return h, alliance.TrimHistory(h)
}

// extendCharterChain adds am, which amends prev, to the kept chain.
func extendCharterChain(dir string, prev *charter.Charter, am alliance.Amendment, at time.Time) error {
	h, err := chainWith(dir, prev, am, at)
	if err != nil {
		return err
	}
	return writeCharterChain(dir, h)
}

// joinHistory is the history handed to a member that am admits: the
// kept chain up to cur, then am. Nil when there is none to give.
func (d *Daemon) joinHistory(cur *charter.Charter, am alliance.Amendment, now time.Time) *alliance.History {
	h, err := chainWith(d.opts.DataDir, cur, am, now)
	if err != nil {
		d.log.Warn("the new member gets no charter history", "err", err)
		return nil
	}
	alliance.SignHistory(d.id, h)
	return h
}

// keepJoinHistory verifies the history a joining member received, which
// must end with am (the amendment that admitted it, checked against the
// token), and keeps it: the charter history the console shows and the
// chain this member hands on in turn. A history that does not verify is
// not kept.
func keepJoinHistory(dir string, h *alliance.History, am alliance.Amendment) error {
	steps, err := alliance.VerifyHistory(h, am)
	if err != nil {
		return err
	}
	hist := make([]amendmentRecord, 0, len(steps))
	for _, s := range steps {
		hist = append(hist, newAmendmentRecord(&s.Prev, &s.Next, s.Amendment, s.Time))
	}
	if err := writeCharterChain(dir, h); err != nil {
		return err
	}
	return writeCharterHistory(filepath.Join(dir, fileCharterHistory), hist)
}

func readCharterHistory(path string) ([]amendmentRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hist []amendmentRecord
	if err := json.Unmarshal(data, &hist); err != nil {
		return nil, err
	}
	return hist, nil
}

// charterChanges says what next changes of prev, for people.
func charterChanges(prev, next *charter.Charter) []string {
	var out []string
	name := func(m charter.Member) string {
		id := m.ID[:min(len(m.ID), 12)]
		if m.Name == "" {
			return id
		}
		return m.Name + " (" + id + ")"
	}
	old := map[string]charter.Member{}
	for _, m := range prev.Members {
		old[m.ID] = m
	}
	for _, m := range next.Members {
		o, ok := old[m.ID]
		delete(old, m.ID)
		switch {
		case !ok && m.Founding:
			out = append(out, "admitted "+name(m)+" as a founding member")
		case !ok:
			out = append(out, "admitted "+name(m))
		default:
			if o.Name != m.Name {
				out = append(out, fmt.Sprintf("renamed %s to %q", name(o), m.Name))
			}
			if o.Founding != m.Founding {
				out = append(out, fmt.Sprintf("%s founding: %v", name(m), m.Founding))
			}
			if o.PublicKey != m.PublicKey {
				out = append(out, name(m)+" has a new key")
			}
			if !slices.Equal(o.Addresses, m.Addresses) {
				out = append(out, fmt.Sprintf("%s's addresses: %v", name(m), m.Addresses))
			}
			if o.Fabric != m.Fabric {
				out = append(out, fmt.Sprintf("%s's fabric address: %q", name(m), m.Fabric))
			}
		}
	}
	for _, m := range prev.Members {
		if _, gone := old[m.ID]; gone {
			out = append(out, "removed "+name(m))
		}
	}
	if !slices.Equal(prev.Territory, next.Territory) {
		out = append(out, fmt.Sprintf("territory: %v", next.Territory))
	}
	field := func(section, key string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			out = append(out, fmt.Sprintf("%s.%s: %v → %v", section, key, a, b))
		}
	}
	p, q := prev.Policy, next.Policy
	field("policy", "decisive", p.Decisive, q.Decisive)
	field("policy", "quorum", p.Quorum, q.Quorum)
	field("policy", "window", p.Window, q.Window)
	field("policy", "duration", p.Duration, q.Duration)
	field("policy", "escalation_window", p.EscalationWindow, q.EscalationWindow)
	field("policy", "max_duration", p.MaxDuration, q.MaxDuration)
	field("policy", "manual_max_duration", p.ManualMax, q.ManualMax)
	field("policy", "pardon", p.Pardon, q.Pardon)
	field("policy", "manual", p.Manual, q.Manual)
	l, k := prev.Limits, next.Limits
	field("limits", "max_prefix_v4", l.MaxPrefixV4, k.MaxPrefixV4)
	field("limits", "max_prefix_v6", l.MaxPrefixV6, k.MaxPrefixV6)
	field("limits", "alert_prefix_v4", l.AlertPrefixV4, k.AlertPrefixV4)
	field("limits", "alert_prefix_v6", l.AlertPrefixV6, k.AlertPrefixV6)
	field("limits", "reports_per_minute", l.ReportsPerMinute, k.ReportsPerMinute)
	field("limits", "skew", l.Skew, k.Skew)
	switch {
	case prev.Fleet == nil && next.Fleet != nil:
		out = append(out, "fleet scenarios turned on")
	case prev.Fleet != nil && next.Fleet == nil:
		out = append(out, "fleet scenarios turned off")
	case prev.Fleet != nil && !reflect.DeepEqual(prev.Fleet, next.Fleet):
		out = append(out, "fleet section changed")
	}
	had := map[string]string{} // alliance bouncer keys: name → hash
	for _, b := range prev.Bouncers {
		had[b.Name] = b.SHA256
	}
	for _, b := range next.Bouncers {
		h, ok := had[b.Name]
		delete(had, b.Name)
		switch {
		case !ok:
			out = append(out, "alliance bouncer key "+b.Name+" added")
		case h != b.SHA256:
			out = append(out, "alliance bouncer key "+b.Name+" replaced")
		}
	}
	for _, b := range prev.Bouncers {
		if _, gone := had[b.Name]; gone {
			out = append(out, "alliance bouncer key "+b.Name+" deleted")
		}
	}
	if len(out) == 0 {
		out = append(out, "no change this console can name: compare the charters")
	}
	return out
}
