package lapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a server over a fresh table, journal and keys, with one bouncer.
type env struct {
	t       testing.TB
	table   *decision.Table
	journal *Journal
	keys    *Keys
	clock   *clock
	srv     *Server
	h       http.Handler
	key     string // the API key of bouncer "b1"
}

func newEnv(t testing.TB, maxTombstones int) *env {
	t.Helper()
	keys, err := OpenKeys(filepath.Join(t.TempDir(), "bouncers.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Add("b1")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, table: decision.NewTable(), journal: NewJournal(maxTombstones), keys: keys, clock: &clock{t: t0}}
	e.srv = New(Config{}, e.table, e.journal, e.keys, e.clock.now)
	e.h = e.srv.Handler()
	e.key = key
	return e
}

// ban adds a decision on p ending after d, as the daemon would: table first, then journal.
func (e *env) ban(p string, d time.Duration, origin phalanx.Origin, scenario string) phalanx.Decision {
	e.t.Helper()
	now := e.clock.now()
	stored, replaced := e.table.Add(phalanx.Decision{Origin: origin, Type: "ban", Value: netip.MustParsePrefix(p), Scenario: scenario, Start: now, Until: now.Add(d)})
	if stored.ID == 0 {
		e.t.Fatalf("table refused %s", p)
	}
	var del []phalanx.Decision
	if replaced != nil {
		del = append(del, *replaced)
	}
	e.journal.Record([]phalanx.Decision{stored}, del)
	return stored
}

func (e *env) unban(id uint64) {
	e.t.Helper()
	d, ok := e.table.Delete(id)
	if !ok {
		e.t.Fatalf("no decision %d", id)
	}
	e.journal.Record(nil, []phalanx.Decision{d})
}

func (e *env) do(method, target, key string, body io.Reader) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, body)
	if key != "" {
		r.Header.Set("X-Api-Key", key)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// wireDecision is a decision as a bouncer decodes it.
type wireDecision struct {
	Duration string `json:"duration"`
	ID       uint64 `json:"id"`
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
	Scope    string `json:"scope"`
	Type     string `json:"type"`
	Until    string `json:"until"`
	Value    string `json:"value"`
}

type streamResp struct {
	New     []wireDecision `json:"new"`
	Deleted []wireDecision `json:"deleted"`
}

func (e *env) pull(key string, startup bool, extra string) streamResp {
	e.t.Helper()
	w := e.do("GET", fmt.Sprintf("/v1/decisions/stream?startup=%t%s", startup, extra), key, nil)
	if w.Code != 200 {
		e.t.Fatalf("stream: %d %s", w.Code, w.Body)
	}
	var s streamResp
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		e.t.Fatalf("stream body %q: %v", w.Body, err)
	}
	return s
}

func values(ds []wireDecision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Value)
	}
	slices.Sort(out)
	return out
}

// TestResponseShapes pins the exact bytes bouncers get.
func TestResponseShapes(t *testing.T) {
	const (
		ipJSON    = `{"duration":"3h54m42s","id":1,"origin":"crowdsec","scenario":"crowdsecurity/ssh-bf","scope":"Ip","type":"ban","until":"2025-01-01T03:54:42Z","value":"11.4.189.214"}`
		rangeJSON = `{"duration":"4h0m0s","id":1,"origin":"CAPI","scenario":"sshd-bf","scope":"Range","type":"ban","until":"2025-01-01T04:00:00Z","value":"198.51.100.0/24"}`
	)
	ip := func(e *env) {
		e.ban("11.4.189.214/32", 3*time.Hour+54*time.Minute+42*time.Second, phalanx.OriginSelf, "crowdsecurity/ssh-bf")
	}
	rng := func(e *env) { e.ban("198.51.100.0/24", 4*time.Hour, phalanx.OriginAlliance, "sshd-bf") }
	cases := []struct {
		name        string
		setup       func(*env)
		method      string
		target      string
		key         string // "good" for the bouncer's key
		body        string
		status      int
		contentType string
		want        string
		header      [2]string // a header that must be present
	}{
		{"no key", nil, "GET", "/v1/decisions/stream?startup=true", "", "", 403, contentJSON, `{"message":"access forbidden"}`, [2]string{}},
		{"wrong key", nil, "GET", "/v1/decisions/stream?startup=true", "nope", "", 403, contentJSON, `{"message":"access forbidden"}`, [2]string{}},
		{"wrong key on decisions", nil, "GET", "/v1/decisions?ip=1.2.3.4", "nope", "", 403, contentJSON, `{"message":"access forbidden"}`, [2]string{}},
		{"unknown route", nil, "GET", "/v1/alerts", "good", "", 404, contentJSON, `{"message":"Page or Method not found"}`, [2]string{}},
		{"unknown route without key", nil, "GET", "/v2/decisions", "", "", 404, contentJSON, `{"message":"Page or Method not found"}`, [2]string{}},
		{"wrong method", nil, "DELETE", "/v1/decisions", "good", "", 405, contentJSON, `{"message":"method not allowed"}`, [2]string{"Allow", "GET, HEAD"}},
		{"wrong method on metrics", nil, "GET", "/v1/usage-metrics", "good", "", 405, contentJSON, `{"message":"method not allowed"}`, [2]string{"Allow", "POST"}},
		{"startup empty", nil, "GET", "/v1/decisions/stream?startup=true", "good", "", 200, contentJSON, `{"new":[],"deleted":[]}`, [2]string{}},
		{"delta empty", nil, "GET", "/v1/decisions/stream?startup=false", "good", "", 200, contentJSON, `{"new":[],"deleted":[]}`, [2]string{}},
		{"startup ip", ip, "GET", "/v1/decisions/stream?startup=true", "good", "", 200, contentJSON, `{"new":[` + ipJSON + `],"deleted":[]}`, [2]string{}},
		{"startup range", rng, "GET", "/v1/decisions/stream?startup=true", "good", "", 200, contentJSON, `{"new":[` + rangeJSON + `],"deleted":[]}`, [2]string{}},
		{"first delta is everything", ip, "GET", "/v1/decisions/stream", "good", "", 200, contentJSON, `{"new":[` + ipJSON + `],"deleted":[]}`, [2]string{}},
		{"head stream", ip, "HEAD", "/v1/decisions/stream?startup=true", "good", "", 200, contentJSON, ``, [2]string{}},
		{"decisions none", nil, "GET", "/v1/decisions?ip=1.2.3.4", "good", "", 200, contentJSON, `null`, [2]string{}},
		{"decisions ip", ip, "GET", "/v1/decisions?ip=11.4.189.214", "good", "", 200, contentJSON, `[` + ipJSON + `]`, [2]string{}},
		{"decisions ip covered by range", rng, "GET", "/v1/decisions?ip=198.51.100.77", "good", "", 200, contentJSON, `[` + rangeJSON + `]`, [2]string{}},
		{"decisions other ip", rng, "GET", "/v1/decisions?ip=198.51.101.77", "good", "", 200, contentJSON, `null`, [2]string{}},
		{"head decisions", ip, "HEAD", "/v1/decisions?ip=11.4.189.214", "good", "", 200, contentJSON, ``, [2]string{}},
		{"bad ip", nil, "GET", "/v1/decisions?ip=1.2.3.x", "good", "", 400, contentJSON, `{"message":"ip: \"1.2.3.x\" is not an IP address or range"}`, [2]string{}},
		{"bad contains", nil, "GET", "/v1/decisions?ip=1.2.3.4&contains=maybe", "good", "", 400, contentJSON, `{"message":"contains must be true or false, not \"maybe\""}`, [2]string{}},
		{"usage metrics", nil, "POST", "/v1/usage-metrics", "good", `{"remediation_components":[{"type":"crowdsec-firewall-bouncer"}]}`, 201, "", ``, [2]string{}},
		{"usage metrics not json", nil, "POST", "/v1/usage-metrics", "good", `{"x":`, 400, contentJSON, `{"message":"the body must be a JSON object of usage metrics"}`, [2]string{}},
		{"usage metrics not an object", nil, "POST", "/v1/usage-metrics", "good", `[1,2]`, 400, contentJSON, `{"message":"the body must be a JSON object of usage metrics"}`, [2]string{}},
		{"usage metrics too large", nil, "POST", "/v1/usage-metrics", "good", `{"x":"` + strings.Repeat("a", DefaultMaxBody) + `"}`, 413, contentJSON, `{"message":"request body too large"}`, [2]string{}},
		{"usage metrics without key", nil, "POST", "/v1/usage-metrics", "", `{}`, 403, contentJSON, `{"message":"access forbidden"}`, [2]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			if c.setup != nil {
				c.setup(e)
			}
			key := c.key
			if key == "good" {
				key = e.key
			}
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			w := e.do(c.method, c.target, key, body)
			if w.Code != c.status {
				t.Errorf("status %d, want %d (body %.200s)", w.Code, c.status, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := w.Body.String(); got != c.want {
				t.Errorf("body\n got %.300s\nwant %.300s", got, c.want)
			}
			if c.header[0] != "" && w.Header().Get(c.header[0]) != c.header[1] {
				t.Errorf("%s: %q, want %q", c.header[0], w.Header().Get(c.header[0]), c.header[1])
			}
		})
	}
}

// TestTooLargeChunkedBody covers a body without Content-Length.
func TestTooLargeChunkedBody(t *testing.T) {
	e := newEnv(t, 0)
	e.srv = New(Config{MaxBody: 10}, e.table, e.journal, e.keys, e.clock.now)
	r := httptest.NewRequest("POST", "/v1/usage-metrics", io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(strings.Repeat("b", 100)+`"}`)))
	r.ContentLength = -1
	r.Header.Set("X-Api-Key", e.key)
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	if w.Code != 413 {
		t.Fatalf("status %d, want 413", w.Code)
	}
}

// TestHeadKeepsCursor: a HEAD must not move the cursor, or the next GET
// would miss the changes made meanwhile.
func TestHeadKeepsCursor(t *testing.T) {
	e := newEnv(t, 0)
	e.pull(e.key, true, "")
	d := e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "s")
	if w := e.do("HEAD", "/v1/decisions/stream", e.key, nil); w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %q", w.Code, w.Body)
	}
	got := e.pull(e.key, false, "")
	if len(got.New) != 1 || got.New[0].ID != d.ID {
		t.Fatalf("after HEAD, delta = %+v, want decision %d", got, d.ID)
	}
}

// TestCursorsPerBouncer: two bouncers pull at different times and each gets
// what changed since its own previous pull.
func TestCursorsPerBouncer(t *testing.T) {
	e := newEnv(t, 0)
	key2, err := e.keys.Add("b2")
	if err != nil {
		t.Fatal(err)
	}
	a := e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "s")

	if got := values(e.pull(e.key, true, "").New); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("b1 startup new = %v", got)
	}
	b := e.ban("192.0.2.2/32", time.Hour, phalanx.OriginSelf, "s")
	if got := values(e.pull(key2, true, "").New); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Fatalf("b2 startup new = %v", got)
	}
	c := e.ban("192.0.2.3/32", time.Hour, phalanx.OriginSelf, "s")
	e.unban(a.ID)

	s1 := e.pull(e.key, false, "")
	if got := values(s1.New); !slices.Equal(got, []string{"192.0.2.2", "192.0.2.3"}) {
		t.Errorf("b1 delta new = %v, want .2 and .3", got)
	}
	if got := values(s1.Deleted); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("b1 delta deleted = %v, want .1", got)
	}
	s2 := e.pull(key2, false, "")
	if got := values(s2.New); !slices.Equal(got, []string{"192.0.2.3"}) {
		t.Errorf("b2 delta new = %v, want .3 only", got)
	}
	if got := values(s2.Deleted); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("b2 delta deleted = %v, want .1", got)
	}
	// Nothing changed since: both get empty deltas.
	for _, k := range []string{e.key, key2} {
		if s := e.pull(k, false, ""); len(s.New)+len(s.Deleted) != 0 {
			t.Errorf("idle delta = %+v, want empty", s)
		}
	}
	// b2 restarts: startup=true gives everything active and resets its cursor.
	e.unban(b.ID)
	if got := values(e.pull(key2, true, "").New); !slices.Equal(got, []string{"192.0.2.3"}) {
		t.Errorf("b2 second startup = %v, want .3", got)
	}
	if s := e.pull(key2, false, ""); len(s.New)+len(s.Deleted) != 0 {
		t.Errorf("b2 delta after startup = %+v, want empty", s)
	}
	if s := e.pull(e.key, false, ""); !slices.Equal(values(s.Deleted), []string{"192.0.2.2"}) || len(s.New) != 0 {
		t.Errorf("b1 delta = %+v, want .2 deleted", s)
	}
	_ = c
	// Last pulls are recorded.
	for _, b := range e.keys.List() {
		if !b.LastPull.Equal(t0) {
			t.Errorf("%s: last pull %v, want %v", b.Name, b.LastPull, t0)
		}
	}
}

// TestReplacedDecision: a decision extended in place (same ID) reaches the
// bouncer as deleted and new, so that the firewall bouncer, which skips
// adding an address already in its set, refreshes the timeout.
func TestReplacedDecision(t *testing.T) {
	e := newEnv(t, 0)
	d := e.ban("192.0.2.9/32", time.Hour, phalanx.OriginSelf, "s")
	e.pull(e.key, true, "")
	e.clock.advance(time.Minute)
	longer := d
	longer.Until = d.Until.Add(3 * time.Hour)
	stored, replaced := e.table.Add(longer)
	if replaced == nil || stored.ID != d.ID {
		t.Fatalf("table did not replace in place: stored %d replaced %v", stored.ID, replaced)
	}
	e.journal.Record([]phalanx.Decision{stored}, []phalanx.Decision{*replaced})
	s := e.pull(e.key, false, "")
	if len(s.New) != 1 || len(s.Deleted) != 1 || s.New[0].ID != d.ID || s.Deleted[0].ID != d.ID {
		t.Fatalf("delta = %+v, want decision %d deleted and new", s, d.ID)
	}
	if s.New[0].Duration != "3h59m0s" {
		t.Errorf("new duration %q, want 3h59m0s", s.New[0].Duration)
	}
}

// TestExpiredNotNew: a decision that ended before the pull is not sent as new.
func TestExpiredNotNew(t *testing.T) {
	e := newEnv(t, 0)
	e.pull(e.key, true, "")
	e.ban("192.0.2.1/32", time.Minute, phalanx.OriginSelf, "s")
	e.ban("192.0.2.2/32", time.Hour, phalanx.OriginSelf, "s")
	e.clock.advance(2 * time.Minute)
	if got := values(e.pull(e.key, false, "").New); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("delta new = %v, want .2 only", got)
	}
	e.clock.advance(-2 * time.Minute)
	if got := values(e.pull(e.key, true, "").New); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("startup new = %v", got)
	}
	e.clock.advance(2 * time.Minute)
	if got := values(e.pull(e.key, true, "").New); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("startup new after the end = %v, want .2 only", got)
	}
	// Expiry reaches the bouncer as a deletion.
	e.journal.Record(nil, e.table.Expire(e.clock.now()))
	if got := values(e.pull(e.key, false, "").Deleted); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("deleted after Expire = %v, want .1", got)
	}
}

// TestResyncWhenJournalOverflows: a bouncer whose cursor is older than the
// journal's oldest change gets every active decision as new.
func TestResyncWhenJournalOverflows(t *testing.T) {
	e := newEnv(t, 4)
	e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "s")
	e.pull(e.key, true, "")
	x := e.ban("192.0.2.2/32", time.Hour, phalanx.OriginSelf, "s")
	// Within the bound: a delta.
	if s := e.pull(e.key, false, ""); !slices.Equal(values(s.New), []string{"192.0.2.2"}) {
		t.Fatalf("delta = %+v, want .2", s)
	}
	for i := 3; i < 10; i++ {
		e.ban(fmt.Sprintf("192.0.2.%d/32", i), time.Hour, phalanx.OriginSelf, "s")
	}
	e.unban(x.ID)
	s := e.pull(e.key, false, "")
	want := []string{"192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8", "192.0.2.9"}
	if !slices.Equal(values(s.New), want) || len(s.Deleted) != 0 {
		t.Fatalf("after overflow: new %v deleted %v, want every active decision and no deletions", values(s.New), values(s.Deleted))
	}
	if s := e.pull(e.key, false, ""); len(s.New)+len(s.Deleted) != 0 {
		t.Fatalf("after resync: %+v, want empty", s)
	}
}

// TestResyncAfterRestart: a cursor from another journal (another run of the
// daemon) is not trusted.
func TestResyncAfterRestart(t *testing.T) {
	e := newEnv(t, 0)
	e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "s")
	e.pull(e.key, true, "")
	if err := e.keys.Flush(); err != nil {
		t.Fatal(err)
	}
	keys, err := OpenKeys(e.keys.path)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{}, e.table, NewJournal(0), keys, e.clock.now)
	r := httptest.NewRequest("GET", "/v1/decisions/stream?startup=false", nil)
	r.Header.Set("X-Api-Key", e.key)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	var s streamResp
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || !slices.Equal(values(s.New), []string{"192.0.2.1"}) {
		t.Fatalf("after restart: %s (%v), want the active decision", w.Body, err)
	}
}

func TestStreamFilters(t *testing.T) {
	e := newEnv(t, 0)
	e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "phalanx/sshd-bruteforce")
	e.ban("192.0.2.2/32", time.Hour, phalanx.OriginAlliance, "phalanx/sshd-Enum")
	e.ban("198.51.100.0/24", time.Hour, phalanx.OriginFeed, "lists:firehol")
	e.ban("2001:db8::/64", time.Hour, phalanx.OriginManual, "")
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "2001:db8::/64"}},
		{"&scopes=ip", []string{"192.0.2.1", "192.0.2.2"}},
		{"&scopes=IP", []string{"192.0.2.1", "192.0.2.2"}},
		{"&scopes=Range", []string{"198.51.100.0/24", "2001:db8::/64"}},
		{"&scopes=ip,range", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "2001:db8::/64"}},
		{"&scopes=username", nil},
		{"&origins=crowdsec", []string{"192.0.2.1"}},
		{"&origins=self", []string{"192.0.2.1"}},
		{"&origins=CAPI,lists", []string{"192.0.2.2", "198.51.100.0/24"}},
		{"&origins=cscli", []string{"2001:db8::/64"}},
		{"&origins=console", nil},
		{"&scenarios_containing=sshd", []string{"192.0.2.1", "192.0.2.2"}},
		{"&scenarios_containing=ENUM,firehol", []string{"192.0.2.2", "198.51.100.0/24"}},
		{"&scenarios_not_containing=enum", []string{"192.0.2.1", "198.51.100.0/24", "2001:db8::/64"}},
		{"&scenarios_containing=sshd&scenarios_not_containing=brute", []string{"192.0.2.2"}},
		{"&scopes=ip&origins=CAPI", []string{"192.0.2.2"}},
		{"&unknown=1", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "2001:db8::/64"}},
	}
	for _, c := range cases {
		got := values(e.pull(e.key, true, c.query).New)
		if !slices.Equal(got, c.want) {
			t.Errorf("startup%s: %v, want %v", c.query, got, c.want)
		}
	}
	// Filters apply to deletions too.
	e.pull(e.key, true, "")
	all := e.pull(e.key, true, "")
	for _, d := range all.New {
		e.unban(d.ID)
	}
	if got := values(e.pull(e.key, false, "&origins=crowdsec").Deleted); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("filtered deleted = %v, want .1", got)
	}
}

func TestDecisionsQuery(t *testing.T) {
	e := newEnv(t, 0)
	e.ban("10.0.0.0/8", time.Hour, phalanx.OriginFeed, "wide")
	e.ban("10.1.2.0/24", time.Hour, phalanx.OriginAlliance, "mid")
	e.ban("10.1.2.3/32", time.Hour, phalanx.OriginSelf, "exact")
	e.ban("10.9.9.9/32", time.Hour, phalanx.OriginSelf, "other")
	e.ban("2001:db8::/48", time.Hour, phalanx.OriginFeed, "v6")
	e.ban("192.0.2.1/32", time.Minute, phalanx.OriginSelf, "ends soon")
	e.clock.advance(2 * time.Minute) // 192.0.2.1 has ended, not expired
	cases := []struct {
		query string
		want  []string // in order
	}{
		{"ip=10.1.2.3", []string{"10.1.2.3", "10.1.2.0/24", "10.0.0.0/8"}},
		{"ip=10.1.2.4", []string{"10.1.2.0/24", "10.0.0.0/8"}},
		{"ip=10.200.0.1", []string{"10.0.0.0/8"}},
		{"ip=11.0.0.1", nil},
		{"ip=192.0.2.1", nil},
		{"ip=::ffff:10.1.2.3", []string{"10.1.2.3", "10.1.2.0/24", "10.0.0.0/8"}},
		{"ip=2001:db8::1", []string{"2001:db8::/48"}},
		{"ip=10.1.2.3&scope=range", []string{"10.1.2.0/24", "10.0.0.0/8"}},
		{"ip=10.1.2.3&type=captcha", nil},
		{"ip=10.1.2.3&origins=crowdsec", []string{"10.1.2.3"}},
		{"range=10.1.2.0/24", []string{"10.1.2.0/24", "10.0.0.0/8"}},
		{"range=10.1.0.0/16", []string{"10.0.0.0/8"}},
		{"range=10.1.0.0/16&contains=false", []string{"10.1.2.0/24", "10.1.2.3"}},
		{"range=10.0.0.0/8&contains=false&scope=ip", []string{"10.1.2.3", "10.9.9.9"}},
		{"scope=ip&value=10.9.9.9", []string{"10.9.9.9"}},
		{"scope=range&value=10.9.9.9", nil},
		{"value=10.1.2.0/24", []string{"10.1.2.0/24"}},
		{"value=not-an-address", nil},
		{"scenarios_containing=EXACT", []string{"10.1.2.3"}},
		{"", []string{"10.0.0.0/8", "10.1.2.0/24", "10.1.2.3", "10.9.9.9", "2001:db8::/48"}},
	}
	for _, c := range cases {
		w := e.do("GET", "/v1/decisions?"+c.query, e.key, nil)
		if w.Code != 200 {
			t.Errorf("%s: status %d %s", c.query, w.Code, w.Body)
			continue
		}
		var ds []wireDecision
		if err := json.Unmarshal(w.Body.Bytes(), &ds); err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if ds == nil && w.Body.String() != "null" {
			t.Errorf("%s: empty answer %q, want null", c.query, w.Body)
		}
		got := []string{}
		for _, d := range ds {
			got = append(got, d.Value)
		}
		want := c.want
		if c.query == "" || strings.Contains(c.query, "contains=false") {
			slices.Sort(got) // a scan of the whole table: no order promised
		}
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", c.query, got, want)
		}
	}
}

func TestAuthAfterDelete(t *testing.T) {
	e := newEnv(t, 0)
	if w := e.do("GET", "/v1/decisions/stream?startup=true", e.key, nil); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if err := e.keys.Delete("b1"); err != nil {
		t.Fatal(err)
	}
	if w := e.do("GET", "/v1/decisions/stream?startup=true", e.key, nil); w.Code != 403 {
		t.Fatalf("after delete: status %d, want 403", w.Code)
	}
}

// TestStreamOverHTTP runs the handler behind a real server, as bouncers
// reach it, and checks a large answer arrives whole.
func TestStreamOverHTTP(t *testing.T) {
	e := newEnv(t, 0)
	for i := range 5000 {
		e.ban(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()+"/32", time.Hour, phalanx.OriginSelf, "s")
	}
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", e.key)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s streamResp
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if len(s.New) != 5000 {
		t.Fatalf("got %d decisions, want 5000", len(s.New))
	}
}
