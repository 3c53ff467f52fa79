package daemon

import (
	"bytes"
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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"phalanx"
	"phalanx/console"
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

// Decisions pages through the table on the server: an unfiltered page
// stops once it is full, a filtered one scans every decision to count.
func (b *consoleBackend) Decisions(q console.Query) console.Page {
	d := b.d
	now := d.now()
	var p console.Page
	if q.Addr.IsValid() {
		for i, x := range d.table.Covering(phalanx.Normalize(q.Addr), now) {
			if i >= q.Offset && len(p.Items) < q.Limit {
				p.Items = append(p.Items, consoleDecision(x))
			}
			p.Total++
		}
		return p
	}
	match := func(x *phalanx.Decision) bool { return true }
	filtered := true
	switch {
	case q.Prefix.IsValid():
		want, _ := phalanx.NormalizePrefix(q.Prefix)
		match = func(x *phalanx.Decision) bool {
			return x.Value.Bits() >= want.Bits() && want.Contains(x.Value.Addr()) || x.Value.Contains(want.Addr()) && x.Value.Bits() <= want.Bits()
		}
	case q.Word != "":
		match = func(x *phalanx.Decision) bool {
			return strings.Contains(strings.ToLower(x.Scenario), q.Word) || strings.Contains(string(x.Origin), q.Word) ||
				strings.Contains(strings.ToLower(x.Reason), q.Word)
		}
	default:
		filtered = false
		p.Total = d.table.Len()
	}
	seen := 0
	d.table.All(func(x phalanx.Decision) bool {
		if !x.Active(now) || !match(&x) {
			return true
		}
		if seen >= q.Offset && len(p.Items) < q.Limit {
			p.Items = append(p.Items, consoleDecision(x))
		}
		seen++
		return filtered || len(p.Items) < q.Limit
	})
	if filtered {
		p.Total = seen
	}
	return p
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
		out = append(out, console.Bouncer{Name: k.Name, Created: k.Created, LastPull: k.LastPull})
	}
	return out
}

func (b *consoleBackend) AddBouncer(name string) (string, error) {
	var out struct {
		Key string `json:"api_key"`
	}
	err := b.call(context.Background(), b.d.apiAddBouncer, "POST", "/api/bouncers", map[string]string{"name": name}, &out, nil)
	return out.Key, err
}

func (b *consoleBackend) DeleteBouncer(name string) error {
	return b.call(context.Background(), b.d.apiDeleteBouncer, "DELETE", "/api/bouncers/"+url.PathEscape(name), nil, nil, map[string]string{"name": name})
}

func (b *consoleBackend) Charter() console.Charter {
	cs := b.d.charter()
	data, err := cs.c.Marshal()
	if err != nil {
		data = []byte("# " + err.Error())
	}
	return console.Charter{Name: cs.c.Name, Hash: cs.hash, YAML: string(data)}
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
	for _, n := range names {
		out.List = append(out.List, console.Source{Name: n, Lines: int64(lines[n]), Stats: stats[n]})
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
