package lapi

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
)

// allianceKey makes an alliance key as `bouncers add --alliance` does: the
// key for the bouncer, the name and hash for the charter.
func allianceKey(t testing.TB, name string) (string, AllianceKey) {
	t.Helper()
	key, sum, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if sum != sha256.Sum256([]byte(key)) {
		t.Fatal("NewKey's sum is not the key's SHA-256")
	}
	return key, AllianceKey{Name: name, Sum: sum}
}

func TestAllianceKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bouncers.json")
	k, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	local, err := k.Add("fw")
	if err != nil {
		t.Fatal(err)
	}
	fwKey, fw := allianceKey(t, "fw") // the same name as the local key: a different bouncer
	edgeKey, edge := allianceKey(t, "edge")
	if _, ok := k.authenticate(fwKey); ok {
		t.Fatal("an alliance key works before the daemon gave the charter's keys")
	}
	k.SetAlliance([]AllianceKey{fw, edge})
	for key, want := range map[string]string{local: "fw", fwKey: "alliance/fw", edgeKey: "alliance/edge"} {
		if name, ok := k.authenticate(key); !ok || name != want {
			t.Errorf("authenticate = %q, %v; want %q", name, ok, want)
		}
		if !k.Valid(key) {
			t.Errorf("Valid refuses %s's key", want)
		}
	}
	list := k.List()
	want := []Bouncer{{Name: "edge", Alliance: true}, {Name: "fw", Created: list[1].Created}, {Name: "fw", Alliance: true}}
	if !slices.Equal(list, want) || list[1].Created.IsZero() {
		t.Fatalf("list = %+v, want %+v", list, want)
	}
	if err := k.Delete("edge"); err == nil || !strings.Contains(err.Error(), "--alliance") {
		t.Errorf("deleting an alliance key as a local one: %v", err)
	}

	// Pulls of each kind are kept apart, and the file holds no key.
	when := t0.Add(time.Hour)
	c := cursor{Epoch: 7, Version: 3}
	if err := k.pulled("alliance/fw", &c, when); err != nil {
		t.Fatal(err)
	}
	if got := k.cursorOf("fw", when); got != (cursor{}) {
		t.Errorf("the local fw got the alliance fw's cursor %+v", got)
	}
	if got := k.cursorOf("alliance/fw", when.Add(time.Second)); got != c {
		t.Errorf("alliance cursor = %+v, want %+v", got, c)
	}
	if err := k.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{local, fwKey, edgeKey} {
		if strings.Contains(string(data), key) {
			t.Fatal("the keys file holds a key in clear")
		}
	}

	// Reopened (a restart): the last pull is back once the charter's keys
	// are given; the cursor is not used (another run's journal).
	k2, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k2.authenticate(fwKey); ok {
		t.Error("a reopened file accepts an alliance key before SetAlliance")
	}
	if l := k2.List(); len(l) != 1 {
		t.Errorf("before SetAlliance the list shows %+v", l)
	}
	k2.SetAlliance([]AllianceKey{fw, edge})
	l := k2.List()
	if len(l) != 3 || !l[2].Alliance || !l[2].LastPull.Equal(when) {
		t.Errorf("reopened list = %+v, want alliance fw pulled at %v", l, when)
	}
	if got := k2.cursorOf("alliance/fw", when.Add(time.Second)); got != (cursor{}) {
		t.Errorf("a cursor from the file was used after a restart: %+v", got)
	}

	// The charter drops fw: refused at once; a new fw (another key) starts afresh.
	fw2Key, fw2 := allianceKey(t, "fw")
	k2.SetAlliance([]AllianceKey{edge, fw2})
	if _, ok := k2.authenticate(fwKey); ok {
		t.Error("a revoked alliance key still works")
	}
	if name, ok := k2.authenticate(fw2Key); !ok || name != "alliance/fw" {
		t.Errorf("the new fw key: %q, %v", name, ok)
	}
	for _, b := range k2.List() {
		if b.Alliance && b.Name == "fw" && !b.LastPull.IsZero() {
			t.Errorf("a new key of the same name inherited the last pull %v", b.LastPull)
		}
	}
	k2.SetAlliance(nil)
	for _, key := range []string{fw2Key, edgeKey} {
		if _, ok := k2.authenticate(key); ok {
			t.Error("an alliance key works after the charter dropped every one")
		}
	}
	if name, ok := k2.authenticate(local); !ok || name != "fw" {
		t.Errorf("the local key after the alliance keys went: %q, %v", name, ok)
	}
	if err := k2.pulled("alliance/fw", &c, when); err != nil {
		t.Errorf("a pull by a key revoked meanwhile: %v", err)
	}
}

// members returns two servers (members A and B) over their own tables and
// journals, on one clock, that both accept one alliance key; each also has
// its own bouncer b1.
func members(t *testing.T) (a, b *env, key string) {
	t.Helper()
	a, b = newEnv(t, 0), newEnv(t, 0)
	b.clock = a.clock
	b.srv = New(Config{}, b.table, b.journal, b.keys, a.clock.now)
	b.h = b.srv.Handler()
	key, ak := allianceKey(t, "edge")
	a.keys.SetAlliance([]AllianceKey{ak})
	b.keys.SetAlliance([]AllianceKey{ak})
	return a, b, key
}

// TestAllianceBouncerMoves: a bouncer that streams from A and then, with
// the same key and without startup=true, from B gets B's full list first
// (including what B decided after the move) and deltas after; coming back
// to a member after allianceCursorGap it gets that member's full list again.
func TestAllianceBouncerMoves(t *testing.T) {
	a, b, key := members(t)
	// The same alliance decision on both, and one of B's own.
	a.ban("192.0.2.1/32", time.Hour, phalanx.OriginAlliance, "s")
	b.ban("192.0.2.1/32", time.Hour, phalanx.OriginAlliance, "s")
	b.ban("198.51.100.9/32", time.Hour, phalanx.OriginSelf, "b-own")

	if got := values(a.pull(key, true, "").New); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("startup on A = %v", got)
	}
	a.ban("192.0.2.2/32", time.Hour, phalanx.OriginAlliance, "s")
	b.ban("192.0.2.2/32", time.Hour, phalanx.OriginAlliance, "s")
	a.clock.advance(10 * time.Second)
	if got := values(a.pull(key, false, "").New); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Fatalf("delta on A = %v", got)
	}

	// A fails; a decision is made after the move.
	b.ban("192.0.2.3/32", time.Hour, phalanx.OriginAlliance, "s")
	a.clock.advance(10 * time.Second)
	s := b.pull(key, false, "")
	if got := values(s.New); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.9"}) || len(s.Deleted) != 0 {
		t.Fatalf("first pull on B = %+v, want B's every active decision", s)
	}
	b.ban("192.0.2.4/32", time.Hour, phalanx.OriginAlliance, "s")
	a.clock.advance(10 * time.Second)
	if got := values(b.pull(key, false, "").New); !slices.Equal(got, []string{"192.0.2.4"}) {
		t.Fatalf("second pull on B = %v, want the delta", got)
	}

	// Back to A within the gap: A's delta from where it left A (what the
	// Keys doc says it cannot catch: a balancer flapping between members).
	a.ban("192.0.2.4/32", time.Hour, phalanx.OriginAlliance, "s")
	a.clock.advance(10 * time.Second)
	if got := values(a.pull(key, false, "").New); !slices.Equal(got, []string{"192.0.2.4"}) {
		t.Errorf("back on A within the gap = %v, want the delta", got)
	}
	// And to B after an absence longer than the gap: B's full list.
	b.ban("192.0.2.5/32", time.Hour, phalanx.OriginAlliance, "s")
	a.clock.advance(allianceCursorGap + time.Second)
	if got := values(b.pull(key, false, "").New); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "198.51.100.9"}) {
		t.Errorf("back on B after the gap = %v, want B's full list", got)
	}

	// Both show the key with this member's last pull.
	for name, e := range map[string]*env{"A": a, "B": b} {
		l := e.keys.List()
		i := slices.IndexFunc(l, func(x Bouncer) bool { return x.Alliance && x.Name == "edge" })
		if i < 0 || l[i].LastPull.IsZero() {
			t.Errorf("%s lists %+v", name, l)
		}
	}

	// A member-local key works only on its member; the charter dropping the
	// alliance key refuses it on both.
	if w := b.do("GET", "/v1/decisions/stream?startup=true", a.key, nil); w.Code != 403 {
		t.Errorf("A's own key on B: HTTP %d, want 403", w.Code)
	}
	a.keys.SetAlliance(nil)
	b.keys.SetAlliance(nil)
	for name, e := range map[string]*env{"A": a, "B": b} {
		if w := e.do("GET", "/v1/decisions/stream", key, nil); w.Code != 403 {
			t.Errorf("a revoked alliance key on %s: HTTP %d, want 403", name, w.Code)
		}
		if w := e.do("GET", "/v1/decisions?ip=192.0.2.1", key, nil); w.Code != 403 {
			t.Errorf("a revoked alliance key on %s's /v1/decisions: HTTP %d, want 403", name, w.Code)
		}
	}
}

// TestLocalCursorKeepsAcrossPause: a member's own bouncer keeps its delta
// however long it pauses, as before alliance keys (only alliance cursors
// lapse).
func TestLocalCursorKeepsAcrossPause(t *testing.T) {
	e := newEnv(t, 0)
	e.ban("192.0.2.1/32", time.Hour, phalanx.OriginSelf, "s")
	e.pull(e.key, true, "")
	e.ban("192.0.2.2/32", time.Hour, phalanx.OriginSelf, "s")
	e.clock.advance(10 * allianceCursorGap)
	if got := values(e.pull(e.key, false, "").New); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("local delta after a pause = %v, want .2 only", got)
	}
}

func TestOpenKeysRejectsDamagedAlliance(t *testing.T) {
	dir := t.TempDir()
	h := strings.Repeat("0", 64)
	for name, content := range map[string]string{
		"bad hash":      `{"bouncers":[],"alliance":[{"name":"a","sha256":"zz"}]}`,
		"bad name":      `{"bouncers":[],"alliance":[{"name":"a/b","sha256":"` + h + `"}]}`,
		"unknown field": `{"bouncers":[],"alliance":[{"name":"a","sha256":"` + h + `","key":"x"}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeys(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: OpenKeys = %v, want an error naming the file", name, err)
		}
	}
	path := filepath.Join(dir, "ok")
	if err := os.WriteFile(path, []byte(`{"bouncers":[],"alliance":[{"name":"a","sha256":"`+h+`","last_pull":"2025-01-01T00:00:00Z"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeys(path); err != nil {
		t.Errorf("a good alliance list: %v", err)
	}
}

// FuzzOpenKeys: the keys file decoder never panics, and what it accepts
// is written back and read again the same.
func FuzzOpenKeys(f *testing.F) {
	h := strings.Repeat("ab", 32)
	f.Add([]byte(`{"bouncers":[{"name":"a","sha256":"` + h + `","created":"2025-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"bouncers":[],"alliance":[{"name":"edge","sha256":"` + h + `","last_pull":"2025-01-01T00:00:00Z","cursor":{"epoch":3,"version":9}}]}`))
	f.Add([]byte(`{"bouncers":null,"alliance":null}`))
	f.Add([]byte(`{"alliance":[{}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "k.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := OpenKeys(path)
		if err != nil {
			return
		}
		before := k.List()
		var aks []AllianceKey
		for _, r := range k.alliance {
			aks = append(aks, AllianceKey{Name: r.Name, Sum: r.sum})
		}
		k.SetAlliance(aks)
		listed := k.List()
		if err := k.Flush(); err != nil {
			t.Fatal(err)
		}
		k2, err := OpenKeys(path)
		if err != nil {
			t.Fatalf("reopen what was written: %v", err)
		}
		if !sameList(k2.List(), before) {
			t.Fatalf("reopened list %+v, want %+v", k2.List(), before)
		}
		k2.SetAlliance(aks)
		if !sameList(k2.List(), listed) {
			t.Fatalf("reopened alliance list %+v, want %+v", k2.List(), listed)
		}
	})
}

func sameList(a, b []Bouncer) bool {
	return slices.EqualFunc(a, b, func(x, y Bouncer) bool {
		return x.Name == y.Name && x.Alliance == y.Alliance && x.Created.Equal(y.Created) && x.LastPull.Equal(y.LastPull)
	})
}
