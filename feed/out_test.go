package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/jsonout"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// keySet is a KeyChecker over a fixed set of keys.
type keySet map[string]bool

func (k keySet) Valid(key string) bool { return k[key] }

const testKey = "0123456789abcdef"

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testTable returns a table holding bans of every shape, and decisions the
// feeds must leave out.
func testTable(t testing.TB) *decision.Table {
	t.Helper()
	tab := decision.NewTable()
	add := func(d phalanx.Decision) {
		if d.Type == "" {
			d.Type = "ban"
		}
		if s, _ := tab.Add(d); s.ID == 0 {
			t.Fatalf("table refused %v", d.Value)
		}
	}
	start := testNow.Add(-time.Hour).Add(123456789 * time.Nanosecond)
	add(phalanx.Decision{Origin: phalanx.OriginSelf, Value: netip.MustParsePrefix("192.0.2.1/32"),
		Scenario: "sshd-bf", Start: start, Until: testNow.Add(3 * time.Hour)})
	add(phalanx.Decision{Origin: phalanx.OriginAlliance, Value: netip.MustParsePrefix("198.51.100.0/24"),
		Scenario: "sshd-slow", Start: start, Until: testNow.Add(24 * time.Hour)})
	add(phalanx.Decision{Origin: phalanx.OriginFeed, Value: netip.MustParsePrefix("2001:db8::1/128"),
		Scenario: "spamhaus-drop", Start: start, Until: testNow.Add(2 * time.Hour).Add(500 * time.Microsecond)})
	add(phalanx.Decision{Origin: phalanx.OriginManual, Value: netip.MustParsePrefix("2001:db8:1::/64"),
		Reason: "operator said \"<go away>\"", Start: start, Until: testNow.Add(time.Hour)})
	// Left out: ended, not started yet, not a ban.
	add(phalanx.Decision{Origin: phalanx.OriginSelf, Value: netip.MustParsePrefix("203.0.113.9/32"),
		Scenario: "sshd-bf", Start: testNow.Add(-2 * time.Hour), Until: testNow.Add(-time.Minute)})
	add(phalanx.Decision{Origin: phalanx.OriginSelf, Value: netip.MustParsePrefix("203.0.113.10/32"),
		Scenario: "sshd-bf", Start: testNow.Add(time.Minute), Until: testNow.Add(time.Hour)})
	add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "captcha", Value: netip.MustParsePrefix("203.0.113.11/32"),
		Scenario: "http-probe", Start: start, Until: testNow.Add(time.Hour)})
	return tab
}

func newTestOut(tab *decision.Table) http.Handler {
	return NewOut(tab, keySet{testKey: true}, "member-a", func() time.Time { return testNow })
}

func get(t testing.TB, h http.Handler, method, target, key string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if key != "" {
		r.Header.Set("X-Api-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestOutRefusals(t *testing.T) {
	h := newTestOut(testTable(t))
	tests := []struct {
		name, method, target, key string
		status                    int
		body                      string
	}{
		{"plain without key", "GET", PathPlain, "", 403, `{"message":"access forbidden"}`},
		{"json with a wrong key", "GET", PathJSON, "nope", 403, `{"message":"access forbidden"}`},
		{"stix without key", "GET", PathSTIX, "", 403, `{"message":"access forbidden"}`},
		{"head without key", "HEAD", PathPlain, "", 403, `{"message":"access forbidden"}`},
		{"unknown path", "GET", "/v1/feeds/xml", testKey, 404, `{"message":"Page or Method not found"}`},
		{"post", "POST", PathPlain, testKey, 405, `{"message":"method not allowed"}`},
		{"bad family", "GET", PathPlain + "?family=5", testKey, 400, `{"message":"family must be 4 or 6 (or absent for both)"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, tt.method, tt.target, tt.key)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != contentJSON {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestOutPlain(t *testing.T) {
	h := newTestOut(testTable(t))
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"192.0.2.1", "198.51.100.0/24", "2001:db8:1::/64", "2001:db8::1"}},
		{"?family=4", []string{"192.0.2.1", "198.51.100.0/24"}},
		{"?family=6", []string{"2001:db8:1::/64", "2001:db8::1"}},
		{"?family=", []string{"192.0.2.1", "198.51.100.0/24", "2001:db8:1::/64", "2001:db8::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := get(t, h, "GET", PathPlain+tt.query, testKey)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != contentPlain {
				t.Errorf("Content-Type %q", ct)
			}
			body := w.Body.String()
			if !strings.HasSuffix(body, "\n") {
				t.Errorf("body does not end with a newline: %q", body)
			}
			got := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOutEmpty(t *testing.T) {
	h := newTestOut(decision.NewTable())
	for path, want := range map[string]string{PathPlain: "", PathJSON: "[]\n"} {
		w := get(t, h, "GET", path, testKey)
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: got %d %q, want %q", path, w.Code, w.Body, want)
		}
	}
	w := get(t, h, "GET", PathSTIX, testKey)
	b := checkBundle(t, w.Body.Bytes())
	if len(b.Objects) != 1 {
		t.Errorf("empty table: %d objects, want the identity alone", len(b.Objects))
	}
}

func TestOutHead(t *testing.T) {
	h := newTestOut(testTable(t))
	w := get(t, h, "HEAD", PathSTIX, testKey)
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != contentSTIX {
		t.Errorf("HEAD: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

type jsonItem struct {
	Value    string    `json:"value"`
	Scope    string    `json:"scope"`
	Origin   string    `json:"origin"`
	Scenario string    `json:"scenario"`
	Until    time.Time `json:"until"`
}

func TestOutJSON(t *testing.T) {
	h := newTestOut(testTable(t))
	w := get(t, h, "GET", PathJSON, testKey)
	if w.Code != 200 || w.Header().Get("Content-Type") != contentJSON {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got []jsonItem
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v\n%s", err, w.Body)
	}
	slices.SortFunc(got, func(a, b jsonItem) int { return strings.Compare(a.Value, b.Value) })
	want := []jsonItem{
		{"192.0.2.1", "Ip", "self", "sshd-bf", testNow.Add(3 * time.Hour)},
		{"198.51.100.0/24", "Range", "alliance", "sshd-slow", testNow.Add(24 * time.Hour)},
		{"2001:db8:1::/64", "Range", "manual", "operator said \"<go away>\"", testNow.Add(time.Hour)},
		{"2001:db8::1", "Ip", "feed", "spamhaus-drop", testNow.Add(2 * time.Hour)}, // RFC 3339 in seconds
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	golden(t, "out.json", canonical(w.Body.Bytes()))
}

// stixBundle is the part of a bundle the tests read.
type stixBundle struct {
	Type        string           `json:"type"`
	ID          string           `json:"id"`
	SpecVersion *string          `json:"spec_version"`
	Objects     []map[string]any `json:"objects"`
}

var (
	reTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	reUUID      = `[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	reBundleID  = regexp.MustCompile(`^bundle--` + reUUID + `$`)
	reObjectID  = regexp.MustCompile(`^([a-z][a-z0-9-]+[a-z0-9])--(` + reUUID + `)$`)
)

// checkBundle validates a STIX 2.1 bundle's structure: the bundle's type
// and id, and for every object its type, id, spec_version, created and
// modified; for indicators the required properties and valid_from before
// valid_until; created_by_ref naming the bundle's identity.
func checkBundle(t *testing.T, body []byte) stixBundle {
	t.Helper()
	var b stixBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("bundle is not JSON: %v\n%s", err, body)
	}
	if b.Type != "bundle" || !reBundleID.MatchString(b.ID) {
		t.Errorf("bundle type %q id %q", b.Type, b.ID)
	}
	if b.SpecVersion != nil {
		t.Errorf("a STIX 2.1 bundle has no spec_version; got %q", *b.SpecVersion)
	}
	ts := func(o map[string]any, key string) time.Time {
		s, _ := o[key].(string)
		if !reTimestamp.MatchString(s) {
			t.Errorf("%v: %s %q is not a STIX timestamp with milliseconds", o["id"], key, s)
			return time.Time{}
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Errorf("%v: %s %q: %v", o["id"], key, s, err)
		}
		return v
	}
	seen := map[string]bool{}
	uuids := map[string]bool{}
	identities := map[string]bool{}
	for _, o := range b.Objects {
		typ, _ := o["type"].(string)
		id, _ := o["id"].(string)
		m := reObjectID.FindStringSubmatch(id)
		if m == nil || m[1] != typ {
			t.Errorf("object of type %q has id %q", typ, id)
			continue
		}
		if seen[id] || uuids[m[2]] {
			t.Errorf("id %s used twice (a producer never reuses a UUID)", id)
		}
		seen[id], uuids[m[2]] = true, true
		if o["spec_version"] != "2.1" {
			t.Errorf("%s: spec_version %v", id, o["spec_version"])
		}
		if c, mod := ts(o, "created"), ts(o, "modified"); mod.Before(c) {
			t.Errorf("%s: modified before created", id)
		}
		switch typ {
		case "identity":
			if name, _ := o["name"].(string); name == "" {
				t.Errorf("%s: identity without a name", id)
			}
			identities[id] = true
		case "indicator":
			if o["pattern_type"] != "stix" {
				t.Errorf("%s: pattern_type %v", id, o["pattern_type"])
			}
			if p, _ := o["pattern"].(string); !regexp.MustCompile(`^\[ipv[46]-addr:value = '[0-9a-f.:/]+'\]$`).MatchString(p) {
				t.Errorf("%s: pattern %q", id, p)
			}
			if types, _ := o["indicator_types"].([]any); !slices.Contains(types, any("malicious-activity")) {
				t.Errorf("%s: indicator_types %v", id, o["indicator_types"])
			}
			if from, until := ts(o, "valid_from"), ts(o, "valid_until"); !until.After(from) {
				t.Errorf("%s: valid_until %v not after valid_from %v", id, until, from)
			}
			if ref, _ := o["created_by_ref"].(string); !identities[ref] {
				t.Errorf("%s: created_by_ref %q names no identity before it", id, ref)
			}
		default:
			t.Errorf("unexpected object type %q", typ)
		}
	}
	if len(identities) != 1 {
		t.Errorf("%d identities, want 1", len(identities))
	}
	return b
}

func TestOutSTIX(t *testing.T) {
	tab := testTable(t)
	h := newTestOut(tab)
	w := get(t, h, "GET", PathSTIX, testKey)
	if w.Code != 200 || w.Header().Get("Content-Type") != contentSTIX {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	b := checkBundle(t, w.Body.Bytes())
	patterns := map[string]map[string]any{}
	for _, o := range b.Objects {
		if o["type"] == "indicator" {
			patterns[o["pattern"].(string)] = o
		}
	}
	want := []string{
		"[ipv4-addr:value = '192.0.2.1']",
		"[ipv4-addr:value = '198.51.100.0/24']",
		"[ipv6-addr:value = '2001:db8:1::/64']",
		"[ipv6-addr:value = '2001:db8::1']",
	}
	if got := slices.Sorted(maps.Keys(patterns)); !slices.Equal(got, want) {
		t.Fatalf("patterns %q, want %q", got, want)
	}
	// Times: valid_from is the start, rounded down to the millisecond;
	// valid_until the end, rounded up.
	o := patterns["[ipv6-addr:value = '2001:db8::1']"]
	if o["valid_from"] != "2026-03-01T11:00:00.123Z" || o["valid_until"] != "2026-03-01T14:00:00.001Z" {
		t.Errorf("valid_from %v valid_until %v", o["valid_from"], o["valid_until"])
	}
	if o["description"] != "phalanx feed ban: spamhaus-drop" {
		t.Errorf("description %q", o["description"])
	}

	// Indicator ids are deterministic; the bundle's id is not.
	w2 := get(t, h, "GET", PathSTIX, testKey)
	b2 := checkBundle(t, w2.Body.Bytes())
	if b2.ID == b.ID {
		t.Errorf("two bundles share the id %s", b.ID)
	}
	if ids(b) != ids(b2) {
		t.Errorf("object ids differ between two pulls:\n%s\n%s", ids(b), ids(b2))
	}
	// Another member gives other ids to the same bans.
	other := NewOut(tab, keySet{testKey: true}, "member-b", func() time.Time { return testNow })
	b3 := checkBundle(t, get(t, other, "GET", PathSTIX, testKey).Body.Bytes())
	if ids(b3) == ids(b) || b3.Objects[0]["name"] != "member-b" {
		t.Errorf("member-b's bundle has member-a's ids or name")
	}

	golden(t, "out.stix.json", canonical(reBundleIDAnywhere.ReplaceAll(w.Body.Bytes(), []byte("bundle--RANDOM"))))
}

var reBundleIDAnywhere = regexp.MustCompile(`bundle--` + reUUID)

func ids(b stixBundle) string {
	var s []string
	for _, o := range b.Objects {
		s = append(s, o["id"].(string))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestIndicatorID checks that an indicator's id is the UUIDv5 of its value
// and start in the member's namespace, which is the UUIDv5 of the member's
// name in phalanx's namespace.
func TestIndicatorID(t *testing.T) {
	p := newSTIXProducer("member-a")
	d := phalanx.Decision{Value: netip.MustParsePrefix("192.0.2.1/32"), Start: testNow}
	got := string(appendUUID(nil, p.indicatorUUID(&d)))
	root := uuid5(nsURL(), []byte("urn:phalanx:stix-2.1"))
	member := uuid5(root, []byte("member-a"))
	want := string(appendUUID(nil, uuid5(member, []byte("indicator\x00192.0.2.1\x002026-03-01T12:00:00Z"))))
	if got != want {
		t.Errorf("indicator UUID %s, want %s", got, want)
	}
	d.Start = d.Start.Add(time.Second)
	if again := string(appendUUID(nil, p.indicatorUUID(&d))); again == got {
		t.Errorf("a new start kept the id %s", got)
	}
}

// TestUUID5 checks uuid5 against RFC 4122 namespaces and Python's
// documented uuid5(NAMESPACE_DNS, "python.org").
func TestUUID5(t *testing.T) {
	nsDNS := nsURL()
	nsDNS[3] = 0x10 // 6ba7b810-…, the DNS namespace
	tests := []struct {
		ns   [16]byte
		name string
		want string
	}{
		{nsDNS, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{nsURL(), "urn:phalanx:stix-2.1", "553ba5d6-9dd0-5702-8fe7-8ab016b70b34"}, // python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "urn:phalanx:stix-2.1"))'
	}
	for _, tt := range tests {
		if got := string(appendUUID(nil, uuid5(tt.ns, []byte(tt.name)))); got != tt.want {
			t.Errorf("uuid5(%x, %q) = %s, want %s", tt.ns, tt.name, got, tt.want)
		}
	}
	for range 100 {
		u := string(appendUUID(nil, uuid4()))
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
			t.Fatalf("uuid4 %s", u)
		}
	}
}

func TestOutGoldenPlain(t *testing.T) {
	w := get(t, newTestOut(testTable(t)), "GET", PathPlain, testKey)
	golden(t, "out.plain.txt", canonical(w.Body.Bytes()))
}

// canonical returns a feed with its items, one a line, sorted, and the
// commas between them dropped: the table serves them in no particular
// order.
func canonical(feed []byte) []byte {
	lines := strings.Split(string(feed), "\n")
	var items []string
	var out []string
	for _, l := range lines {
		l = strings.TrimSuffix(l, ",")
		if strings.HasPrefix(l, `{"value"`) || strings.HasPrefix(l, `{"type":"indicator"`) || l != "" && !strings.ContainsAny(l[:1], "{[]") {
			items = append(items, l)
			continue
		}
		if items != nil {
			slices.Sort(items)
			out, items = append(out, items...), nil
		}
		out = append(out, l)
	}
	slices.Sort(items)
	return []byte(strings.Join(append(out, items...), "\n"))
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// recordingWriter is a ResponseWriter that keeps the size of each write
// and fails writes after failAfter of them (never when 0).
type recordingWriter struct {
	h         http.Header
	status    int
	writes    []int
	total     int
	lines     int
	failAfter int
}

func (r *recordingWriter) Header() http.Header { return r.h }
func (r *recordingWriter) WriteHeader(s int)   { r.status = s }
func (r *recordingWriter) Write(p []byte) (int, error) {
	if r.failAfter > 0 && len(r.writes) >= r.failAfter {
		return 0, errors.New("client went away")
	}
	r.writes = append(r.writes, len(p))
	r.total += len(p)
	r.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// bigTable returns a table of n active single-address bans.
func bigTable(t testing.TB, n int) *decision.Table {
	t.Helper()
	tab := decision.NewTable()
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range n {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		tab.Add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: netip.PrefixFrom(netip.AddrFrom4(a), 32),
			Scenario: "sshd-bf", Start: testNow.Add(-time.Minute), Until: testNow.Add(time.Hour)})
	}
	return tab
}

// TestOutStreams checks that a feed goes out in bounded writes as it is
// read, and that a client that goes away stops it.
func TestOutStreams(t *testing.T) {
	const n = 50_000
	h := newTestOut(bigTable(t, n))
	for _, path := range []string{PathPlain, PathJSON, PathSTIX} {
		w := &recordingWriter{h: http.Header{}}
		h.ServeHTTP(w, requestWithKey(path))
		if w.status != 200 || len(w.writes) < 2 {
			t.Errorf("%s: status %d, %d writes", path, w.status, len(w.writes))
		}
		for _, size := range w.writes {
			if size > jsonout.ChunkSize+4096 {
				t.Errorf("%s: a write of %d bytes", path, size)
			}
		}
		if path == PathPlain && w.lines != n {
			t.Errorf("%s: %d lines, want %d", path, w.lines, n)
		}

		cut := &recordingWriter{h: http.Header{}, failAfter: 1}
		h.ServeHTTP(cut, requestWithKey(path))
		if len(cut.writes) != 1 {
			t.Errorf("%s: %d writes to a client that went away", path, len(cut.writes))
		}
	}
}

func requestWithKey(path string) *http.Request {
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("X-Api-Key", testKey)
	return r
}

// TestOutMillion pulls 1,000,000 bans over HTTP on loopback from each
// feed: each must arrive whole within a few seconds (TestOutStreams checks
// that they are streamed).
func TestOutMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a table of 1,000,000 bans")
	}
	const n = 1_000_000
	srv := httptest.NewServer(newTestOut(bigTable(t, n)))
	t.Cleanup(srv.Close)
	for _, path := range []string{PathPlain, PathJSON, PathSTIX} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		req.Header.Set("X-Api-Key", testKey)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		lines, size, err := countLines(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, %v", path, resp.StatusCode, err)
		}
		// plain: one line a ban; json and stix: one a ban plus the brackets.
		if lines < n || lines > n+3 {
			t.Errorf("%s: %d lines for %d bans", path, lines, n)
		}
		if took > 20*time.Second {
			t.Errorf("%s: %d bytes took %v", path, size, took)
		}
		t.Logf("%s: %d bans, %d MB in %v", path, n, size>>20, took.Round(time.Millisecond))
	}
}

func countLines(r io.Reader) (lines int, size int64, err error) {
	c := &lineCounter{}
	size, err = io.Copy(c, r)
	return c.lines, size, err
}

type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
