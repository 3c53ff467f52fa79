package decision

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"phalanx"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ban(value string, until time.Duration) phalanx.Decision {
	return phalanx.Decision{
		Origin:   phalanx.OriginSelf,
		Type:     "ban",
		Value:    netip.MustParsePrefix(value),
		Scenario: "ssh-bf",
		Start:    t0,
		Until:    t0.Add(until),
		Reason:   "test " + value,
	}
}

func mustAdd(t *testing.T, tab *Table, d phalanx.Decision) phalanx.Decision {
	t.Helper()
	s, r := tab.Add(d)
	if s.ID == 0 || r != nil {
		t.Fatalf("Add(%v) = %+v, replaced %+v; want a new decision", d.Value, s, r)
	}
	return s
}

func TestNormalizePrefix(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"192.0.2.7/32", "192.0.2.7/32", true},
		{"192.0.2.7/24", "192.0.2.0/24", true},
		{"::ffff:192.0.2.7/128", "192.0.2.7/32", true},
		{"::ffff:192.0.2.7/120", "192.0.2.0/24", true},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0", true},
		{"::ffff:0.0.0.0/95", "::fffe:0:0/95", true}, // wider than the mapped space: stays IPv6
		{"2001:db8::1/64", "2001:db8::/64", true},
		{"2001:db8::1/128", "2001:db8::1/128", true},
	}
	for _, tt := range tests {
		got, ok := phalanx.NormalizePrefix(netip.MustParsePrefix(tt.in))
		if ok != tt.ok || got.String() != tt.want {
			t.Errorf("phalanx.NormalizePrefix(%s) = %v, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := phalanx.NormalizePrefix(netip.Prefix{}); ok {
		t.Error("phalanx.NormalizePrefix(zero prefix) reported ok")
	}
	if _, ok := phalanx.NormalizePrefix(netip.PrefixFrom(netip.MustParseAddr("192.0.2.1"), 33)); ok {
		t.Error("phalanx.NormalizePrefix(192.0.2.1/33) reported ok")
	}
}

func TestLookupLongestPrefix(t *testing.T) {
	tab := NewTable()
	for _, v := range []string{
		"10.1.2.3/32", "10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8",
		"2001:db8:1:2::/64", "2001:db8:1:2::5/128", "2001:db8::/32",
		"::ffff:192.0.2.0/120", // becomes 192.0.2.0/24
		"::ffff:198.51.100.9/128",
	} {
		mustAdd(t, tab, ban(v, time.Hour))
	}
	tests := []struct {
		addr string
		want string // "" for no decision
	}{
		{"10.1.2.3", "10.1.2.3/32"},
		{"10.1.2.4", "10.1.2.0/24"},
		{"10.1.3.4", "10.1.0.0/16"},
		{"10.2.3.4", "10.0.0.0/8"},
		{"11.1.2.3", ""},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
		{"::ffff:10.1.2.9", "10.1.2.0/24"},
		{"192.0.2.200", "192.0.2.0/24"},
		{"::ffff:192.0.2.200", "192.0.2.0/24"},
		{"198.51.100.9", "198.51.100.9/32"},
		{"198.51.100.10", ""},
		{"2001:db8:1:2::5", "2001:db8:1:2::5/128"},
		{"2001:db8:1:2::6", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::6", "2001:db8::/32"},
		{"2001:db9::1", ""},
		{"::a01:203", ""}, // IPv4-compatible, not mapped: an IPv6 address
		{"fe80::1%eth0", ""},
	}
	for _, tt := range tests {
		d, ok := tab.Lookup(netip.MustParseAddr(tt.addr), t0.Add(time.Minute))
		got := ""
		if ok {
			got = d.Value.String()
		}
		if got != tt.want {
			t.Errorf("Lookup(%s) = %q; want %q", tt.addr, got, tt.want)
		}
	}
	if _, ok := tab.Lookup(netip.Addr{}, t0); ok {
		t.Error("Lookup(zero Addr) found a decision")
	}
}

func TestLookupSkipsInactive(t *testing.T) {
	tab := NewTable()
	mustAdd(t, tab, ban("10.0.0.0/8", 3*time.Hour))
	later := ban("10.1.0.0/16", 3*time.Hour)
	later.Start = t0.Add(time.Hour) // not started before t0+1h
	mustAdd(t, tab, later)
	mustAdd(t, tab, ban("10.1.2.0/24", 30*time.Minute))
	exact := ban("10.1.2.3/32", 2*time.Hour)
	exact.Start = t0.Add(time.Hour)
	mustAdd(t, tab, exact)

	tests := []struct {
		at   time.Duration
		want string
	}{
		{-time.Minute, ""}, // before everything started
		{0, "10.1.2.0/24"}, // Start is inclusive
		{29 * time.Minute, "10.1.2.0/24"},
		{30 * time.Minute, "10.0.0.0/8"}, // Until is exclusive; the /16 has not started
		{time.Hour, "10.1.2.3/32"},
		{2 * time.Hour, "10.1.0.0/16"},
		{3 * time.Hour, ""},
	}
	for _, tt := range tests {
		d, ok := tab.Lookup(netip.MustParseAddr("10.1.2.3"), t0.Add(tt.at))
		got := ""
		if ok {
			got = d.Value.String()
		}
		if got != tt.want {
			t.Errorf("at t0%+v: Lookup = %q; want %q", tt.at, got, tt.want)
		}
	}
	if tab.Len() != 4 {
		t.Errorf("Len = %d; want 4 (lookups must not remove)", tab.Len())
	}
}

func TestAddReplace(t *testing.T) {
	tab := NewTable()
	first := mustAdd(t, tab, ban("192.0.2.1/32", time.Hour))

	// Ends earlier: dropped, the stored one comes back.
	s, r := tab.Add(ban("192.0.2.1/32", 30*time.Minute))
	if r != nil || s != first {
		t.Fatalf("earlier-ending Add = %+v, %+v; want %+v, nil", s, r, first)
	}
	// Ends at the same time: also dropped.
	if s, r = tab.Add(ban("::ffff:192.0.2.1/128", time.Hour)); r != nil || s != first {
		t.Fatalf("same-ending Add = %+v, %+v; want %+v, nil", s, r, first)
	}
	// Ends later: replaces, under a new ID.
	longer := ban("::ffff:192.0.2.1/128", 2*time.Hour)
	longer.Scenario, longer.Origin, longer.Reason = "manual", phalanx.OriginManual, "by hand"
	s, r = tab.Add(longer)
	if r == nil || *r != first {
		t.Fatalf("later-ending Add replaced %+v; want %+v", r, first)
	}
	if s.ID == first.ID || s.Until != t0.Add(2*time.Hour) || s.Scenario != "manual" ||
		s.Origin != phalanx.OriginManual || s.Reason != "by hand" || s.Value.String() != "192.0.2.1/32" {
		t.Fatalf("stored %+v", s)
	}
	if _, ok := tab.Get(first.ID); ok {
		t.Error("replaced decision still found by its ID")
	}
	if g, ok := tab.Get(s.ID); !ok || g != s {
		t.Errorf("Get(%d) = %+v, %v; want %+v", s.ID, g, ok, s)
	}
	// Another Type on the same value lives beside it.
	captcha := ban("192.0.2.1/32", 3*time.Hour)
	captcha.Type = "captcha"
	c := mustAdd(t, tab, captcha)
	if tab.Len() != 2 {
		t.Fatalf("Len = %d; want 2", tab.Len())
	}
	// Lookup picks the one that ends last; Covering returns both.
	if d, _ := tab.Lookup(netip.MustParseAddr("192.0.2.1"), t0); d.ID != c.ID {
		t.Errorf("Lookup = %+v; want the captcha", d)
	}
	if got := tab.Covering(netip.MustParseAddr("192.0.2.1"), t0); len(got) != 2 {
		t.Errorf("Covering = %+v; want 2 decisions", got)
	}
	// The replaced ban's expiry moved with it: nothing expires at +1h.
	if got := tab.Expire(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("Expire(+1h) = %+v; want nothing", got)
	}
	if got := tab.Expire(t0.Add(2 * time.Hour)); len(got) != 1 || got[0].ID != s.ID {
		t.Errorf("Expire(+2h) = %+v; want the replacing ban", got)
	}
}

func TestAddIDs(t *testing.T) {
	tab := NewTable()
	d := ban("192.0.2.1/32", time.Hour)
	d.ID = 100
	if s := mustAdd(t, tab, d); s.ID != 100 {
		t.Fatalf("explicit ID: stored %d; want 100", s.ID)
	}
	// Fresh IDs go above every ID seen.
	if s := mustAdd(t, tab, ban("192.0.2.2/32", time.Hour)); s.ID != 101 {
		t.Errorf("fresh ID = %d; want 101", s.ID)
	}
	// Re-adding the same decision under its ID keeps the ID.
	d.Until = d.Until.Add(time.Hour)
	s, r := tab.Add(d)
	if r == nil || r.ID != 100 || s.ID != 100 {
		t.Errorf("re-add under own ID = %+v, replaced %+v; want ID 100 replacing ID 100", s, r)
	}
	// An ID in use by another value is not taken over.
	other := ban("192.0.2.3/32", time.Hour)
	other.ID = 100
	s = mustAdd(t, tab, other)
	if s.ID == 100 || s.ID == 101 {
		t.Errorf("colliding ID: stored under %d", s.ID)
	}
	if g, _ := tab.Get(100); g.Value.String() != "192.0.2.1/32" {
		t.Errorf("Get(100) = %+v; want the first decision untouched", g)
	}
	// Invalid values are not stored.
	if s, r := tab.Add(phalanx.Decision{Type: "ban", Until: t0}); s.ID != 0 || r != nil {
		t.Errorf("Add(invalid) = %+v, %+v; want zero, nil", s, r)
	}
	if tab.Len() != 3 {
		t.Errorf("Len = %d; want 3", tab.Len())
	}
}

func TestDelete(t *testing.T) {
	tab := NewTable()
	a := mustAdd(t, tab, ban("10.0.0.0/24", time.Hour))
	b := ban("10.0.0.0/24", time.Hour)
	b.Type = "captcha"
	b = mustAdd(t, tab, b)
	c := mustAdd(t, tab, ban("10.0.0.1/32", time.Hour))
	e := mustAdd(t, tab, ban("2001:db8::/48", time.Hour))

	if d, ok := tab.Delete(a.ID); !ok || d != a {
		t.Fatalf("Delete(%d) = %+v, %v", a.ID, d, ok)
	}
	if _, ok := tab.Delete(a.ID); ok {
		t.Error("second Delete succeeded")
	}
	// The captcha on the same prefix is still there.
	if d, ok := tab.Lookup(netip.MustParseAddr("10.0.0.9"), t0); !ok || d.ID != b.ID {
		t.Errorf("after Delete, Lookup = %+v, %v; want the captcha", d, ok)
	}
	// DeleteValue takes every Type on exactly that prefix, and no other prefix.
	got := tab.DeleteValue(netip.MustParsePrefix("10.0.0.0/24"))
	if len(got) != 1 || got[0] != b {
		t.Errorf("DeleteValue(/24) = %+v; want [%+v]", got, b)
	}
	if got := tab.DeleteValue(netip.MustParsePrefix("10.0.0.0/16")); got != nil {
		t.Errorf("DeleteValue(/16) = %+v; want nothing", got)
	}
	if got := tab.DeleteValue(netip.MustParsePrefix("::ffff:10.0.0.1/128")); len(got) != 1 || got[0] != c {
		t.Errorf("DeleteValue(mapped /128) = %+v; want [%+v]", got, c)
	}
	if got := tab.DeleteValue(netip.MustParsePrefix("2001:db8::1/48")); len(got) != 1 || got[0] != e {
		t.Errorf("DeleteValue(unmasked /48) = %+v; want [%+v]", got, e)
	}
	if tab.Len() != 0 || len(tab.expiry) != 0 || len(tab.byID) != 0 || len(tab.labelIdx) != 0 {
		t.Errorf("after deleting all: Len %d, heap %d, ids %d, labels %d", tab.Len(), len(tab.expiry), len(tab.byID), len(tab.labelIdx))
	}
	if _, ok := tab.Lookup(netip.MustParseAddr("10.0.0.1"), t0); ok {
		t.Error("Lookup found a deleted decision")
	}
	// Freed slots are reused.
	n := len(tab.ents)
	mustAdd(t, tab, ban("10.9.9.0/24", time.Hour))
	if len(tab.ents) != n {
		t.Errorf("arena grew from %d to %d with free slots", n, len(tab.ents))
	}
}

func TestExpireOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := NewTable()
	var untils []time.Time
	for i := range 2000 {
		d := ban(fmt.Sprintf("10.%d.%d.0/%d", i/256, i%256, 24+i%9), 0)
		d.Until = t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
		mustAdd(t, tab, d)
		untils = append(untils, d.Until)
	}
	// Remove some, so the heap has holes to mend.
	for id := uint64(1); id <= 2000; id += 7 {
		d, ok := tab.Delete(id)
		if !ok {
			t.Fatalf("Delete(%d) failed", id)
		}
		untils[slices.Index(untils, d.Until)] = time.Time{}
	}
	untils = slices.DeleteFunc(untils, time.Time.IsZero)
	slices.SortFunc(untils, time.Time.Compare)

	var got []time.Time
	for step := time.Duration(0); step <= 1000*time.Second; step += 37 * time.Second {
		now := t0.Add(step)
		for _, d := range tab.Expire(now) {
			if d.Until.After(now) {
				t.Fatalf("Expire(%v) returned %v ending %v", now, d.Value, d.Until)
			}
			got = append(got, d.Until)
		}
		if d, ok := tab.Lookup(netip.MustParseAddr("10.0.0.1"), now); ok && !d.Until.After(now) {
			t.Fatalf("Lookup after Expire returned an ended decision %+v", d)
		}
	}
	if !slices.Equal(got, untils) {
		t.Errorf("expired %d decisions in order %v...; want %d in order %v...", len(got), got[:3], len(untils), untils[:3])
	}
	if tab.Len() != 0 {
		t.Errorf("Len = %d after expiring everything", tab.Len())
	}
}

func TestCovering(t *testing.T) {
	tab := NewTable()
	for _, v := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "10.1.2.0/24", "10.2.0.0/16", "2001:db8::/32"} {
		mustAdd(t, tab, ban(v, time.Hour))
	}
	ended := ban("10.1.2.0/25", time.Minute)
	mustAdd(t, tab, ended)

	got := tab.Covering(netip.MustParseAddr("::ffff:10.1.2.3"), t0.Add(time.Minute))
	var values []string
	for _, d := range got {
		values = append(values, d.Value.String())
	}
	want := []string{"10.1.2.3/32", "10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/8"}
	if !slices.Equal(values, want) {
		t.Errorf("Covering = %v; want %v", values, want)
	}
	if got := tab.Covering(netip.MustParseAddr("192.0.2.1"), t0); got != nil {
		t.Errorf("Covering(uncovered) = %v; want nil", got)
	}
}

func TestTimesRoundTrip(t *testing.T) {
	tab := NewTable()
	for _, tt := range []struct{ start, until time.Time }{
		{time.Time{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{time.Date(1969, 7, 20, 20, 17, 40, 1, time.FixedZone("X", 3600)), time.Date(2300, 1, 1, 0, 0, 0, 5, time.UTC)},
	} {
		d := ban("192.0.2.1/32", 0)
		d.Type = tt.start.String() // one per Type, so both stay
		d.Start, d.Until = tt.start, tt.until
		s := mustAdd(t, tab, d)
		if !s.Start.Equal(tt.start) || !s.Until.Equal(tt.until) || s.Start.Location() != time.UTC {
			t.Errorf("stored times %v, %v; want %v, %v in UTC", s.Start, s.Until, tt.start, tt.until)
		}
		if tt.start.IsZero() && s.Start != (time.Time{}) {
			t.Errorf("zero Start came back as %#v", s.Start)
		}
	}
	if d, ok := tab.Lookup(netip.MustParseAddr("192.0.2.1"), time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)); !ok || d.Until.Year() != 9999 {
		t.Errorf("Lookup in 2500 = %+v, %v; want the ban ending in 9999", d, ok)
	}
}

func TestAll(t *testing.T) {
	tab := NewTable()
	want := map[uint64]bool{}
	for i := range 3*allChunk + 7 {
		d := mustAdd(t, tab, ban(fmt.Sprintf("10.0.%d.%d/32", i/256, i%256), time.Hour))
		want[d.ID] = true
	}
	// fn may write to the table; decisions present throughout are seen once.
	seen := map[uint64]int{}
	tab.All(func(d phalanx.Decision) bool {
		seen[d.ID]++
		if d.ID%2 == 0 {
			tab.Delete(d.ID)
		}
		return true
	})
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("decision %d seen %d times", id, seen[id])
		}
	}
	if got, wantLen := tab.Len(), len(want)-len(want)/2; got != wantLen {
		t.Errorf("Len after deleting the even IDs = %d; want %d", got, wantLen)
	}
	n := 0
	tab.All(func(phalanx.Decision) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("All ran fn %d times after it returned false at 10", n)
	}
}

// model is a brute-force table: a slice scanned linearly.
type model struct{ ds []phalanx.Decision }

func (m *model) add(d phalanx.Decision) {
	d.Value, _ = phalanx.NormalizePrefix(d.Value)
	for i, o := range m.ds {
		if o.Type == d.Type && o.Value == d.Value {
			if d.Until.After(o.Until) {
				m.ds[i] = d
			}
			return
		}
	}
	m.ds = append(m.ds, d)
}

func (m *model) deleteValue(p netip.Prefix) int {
	p, _ = phalanx.NormalizePrefix(p)
	n := len(m.ds)
	m.ds = slices.DeleteFunc(m.ds, func(d phalanx.Decision) bool { return d.Value == p })
	return n - len(m.ds)
}

func (m *model) expire(now time.Time) int {
	n := len(m.ds)
	m.ds = slices.DeleteFunc(m.ds, func(d phalanx.Decision) bool { return !now.Before(d.Until) })
	return n - len(m.ds)
}

func (m *model) lookup(a netip.Addr, now time.Time) (best phalanx.Decision, ok bool) {
	a = a.Unmap()
	for _, d := range m.ds {
		if !d.Active(now) || !d.Value.Contains(a) {
			continue
		}
		if !ok || d.Value.Bits() > best.Value.Bits() ||
			d.Value.Bits() == best.Value.Bits() && d.Until.After(best.Until) {
			best, ok = d, true
		}
	}
	return best, ok
}

func (m *model) covering(a netip.Addr, now time.Time) int {
	n := 0
	for _, d := range m.ds {
		if d.Active(now) && d.Value.Contains(a.Unmap()) {
			n++
		}
	}
	return n
}

// randPrefix draws from a small universe so that prefixes nest and collide,
// and cross the blocks of the range filters (IPv4 /20, IPv6 /24).
func randPrefix(rng *rand.Rand) netip.Prefix {
	v4 := func() netip.Addr {
		third := [...]byte{0, 16, 200}[rng.IntN(3)]
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(2)), third + byte(rng.IntN(2)), byte(rng.IntN(16))})
	}
	switch rng.IntN(3) {
	case 0:
		return netip.PrefixFrom(v4(), 12+rng.IntN(21))
	case 1: // IPv4-mapped, normalised by the table
		return netip.PrefixFrom(netip.AddrFrom16(v4().As16()), 96+12+rng.IntN(21))
	default:
		b := netip.MustParseAddr("2001:db8::").As16()
		b[2] += byte(rng.IntN(2))
		b[6], b[14], b[15] = byte(rng.IntN(2)), byte(rng.IntN(4)), byte(rng.IntN(16))
		return netip.PrefixFrom(netip.AddrFrom16(b), 16+rng.IntN(113))
	}
}

func randAddr(rng *rand.Rand) netip.Addr {
	p := randPrefix(rng)
	return netip.PrefixFrom(p.Addr(), p.Addr().BitLen()).Addr()
}

func TestLookupMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	types := []string{"ban", "ban", "ban", "captcha"}
	for round := range 12 {
		tab, m := NewTable(), &model{}
		now := t0
		for op := range 300 {
			switch r := rng.IntN(20); {
			case r < 14:
				d := phalanx.Decision{
					Type:  types[rng.IntN(len(types))],
					Value: randPrefix(rng),
					Start: now.Add(time.Duration(rng.IntN(60)-50) * time.Second),
					Until: now.Add(time.Duration(rng.IntN(600)+1)*time.Second + time.Duration(rng.IntN(1e9))),
				}
				tab.Add(d)
				m.add(d)
			case r < 16:
				p := randPrefix(rng)
				if got, want := len(tab.DeleteValue(p)), m.deleteValue(p); got != want {
					t.Fatalf("round %d op %d: DeleteValue(%v) removed %d; model %d", round, op, p, got, want)
				}
			case r < 18:
				now = now.Add(time.Duration(rng.IntN(40)) * time.Second)
				if got, want := len(tab.Expire(now)), m.expire(now); got != want {
					t.Fatalf("round %d op %d: Expire removed %d; model %d", round, op, got, want)
				}
			default:
				now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
			}
			if tab.Len() != len(m.ds) {
				t.Fatalf("round %d op %d: Len %d; model %d", round, op, tab.Len(), len(m.ds))
			}
			if err := tab.check(); err != nil {
				t.Fatalf("round %d op %d: %v", round, op, err)
			}
			for range 20 {
				a := randAddr(rng)
				got, gok := tab.Lookup(a, now)
				want, wok := m.lookup(a, now)
				if gok != wok || gok && (got.Value != want.Value || got.Type != want.Type || !got.Until.Equal(want.Until)) {
					t.Fatalf("round %d op %d: Lookup(%v) = %v %s %v, %v; model %v %s %v, %v",
						round, op, a, got.Value, got.Type, got.Until, gok, want.Value, want.Type, want.Until, wok)
				}
				if id, typ, ok := tab.Check(a, now); ok != gok || id != got.ID || typ != got.Type {
					t.Fatalf("round %d op %d: Check(%v) = %d %q %v; Lookup gave %d %q %v", round, op, a, id, typ, ok, got.ID, got.Type, gok)
				}
				if got, want := len(tab.Covering(a, now)), m.covering(a, now); got != want {
					t.Fatalf("round %d op %d: Covering(%v) has %d; model %d", round, op, a, got, want)
				}
			}
		}
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	tab := NewTable()
	for i := range 1000 {
		mustAdd(t, tab, ban(fmt.Sprintf("10.0.%d.%d/32", i/256, i%256), time.Hour))
	}
	wide := mustAdd(t, tab, ban("10.0.0.0/16", 10*time.Hour))

	var stop atomic.Bool
	var lookups atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for !stop.Load() {
				a := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))})
				// The /16 outlives every writer's change, so every lookup finds something.
				if _, ok := tab.Lookup(a, t0.Add(time.Minute)); !ok {
					errs <- fmt.Errorf("Lookup(%v) found nothing", a)
					return
				}
				tab.Covering(a, t0)
				lookups.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 0
		tab.All(func(phalanx.Decision) bool { n++; return true })
		if n == 0 {
			errs <- fmt.Errorf("All saw nothing")
		}
	}()
	rng := rand.New(rand.NewPCG(9, 9))
	now := t0
	for i := range 5000 {
		d := ban(fmt.Sprintf("10.0.%d.%d/%d", rng.IntN(4), rng.IntN(256), 24+rng.IntN(9)), 0)
		d.Until = now.Add(time.Duration(1+rng.IntN(100)) * time.Second)
		tab.Add(d)
		if i%10 == 0 {
			now = now.Add(5 * time.Second)
			tab.Expire(now)
		}
		if id := uint64(rng.IntN(i + 1)); i%50 == 0 && id != wide.ID {
			tab.Delete(id)
		}
	}
	// Let the readers overlap the writes, then stop them; poll, do not sleep.
	deadline := time.Now().Add(10 * time.Second)
	for lookups.Load() < 1000 && time.Now().Before(deadline) {
		tab.Expire(now)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if lookups.Load() == 0 {
		t.Error("no lookups ran")
	}
}
