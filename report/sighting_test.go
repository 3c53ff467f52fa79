package report

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func hash(b byte) UserHash {
	var h UserHash
	for i := range h {
		h[i] = b
	}
	return h
}

func sighting() Report {
	return Report{
		Seq: 9, Time: t0, Type: TypeSighting,
		First: t0.Add(-time.Second), Last: t0.Add(-time.Millisecond),
		Sightings: []Sighting{
			{Source: netip.MustParsePrefix("203.0.113.9/32"), Counts: []Count{
				{Service: "sshd", Kind: "auth-failure", N: 2},
				{Service: "sshd", Kind: "invalid-user", N: 1},
			}, Users: []UserHash{hash(0x11), hash(0xee)}},
			{Source: netip.MustParsePrefix("203.0.113.10/32"), Counts: []Count{{Service: "nginx", Kind: "http-probe", N: 3}}},
			{Source: netip.MustParsePrefix("2001:db8:1:2::/64"), Counts: []Count{{Service: "dovecot", Kind: "auth-failure", N: 1}}, Users: []UserHash{hash(0x42)}},
		},
	}
}

func TestSightingRoundTrip(t *testing.T) {
	r := signed(t, sighting())
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	wire := Marshal(&r)
	if len(wire) != r.sightingBodySize()+SigSize {
		t.Errorf("wire form of %d bytes, size computed as %d", len(wire), r.sightingBodySize()+SigSize)
	}
	got, err := Unmarshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	sameReport(t, got, r)
	if err := got.Verify(testIdentity(t, 1).Public); err != nil {
		t.Errorf("decoded sighting does not verify: %v", err)
	}
	if got.ID() != r.ID() || !bytes.Equal(Marshal(&got), wire) {
		t.Error("the round trip changed the sighting")
	}
	// Names repeated across entries share one string.
	if got.Sightings[0].Counts[0].Service != "sshd" || got.Sightings[2].Counts[0].Kind != "auth-failure" {
		t.Errorf("names %+v", got.Sightings)
	}
	// A sighting is compact: this one, with three sources, 2 hashes and a
	// signature, is well under 300 bytes.
	if len(wire) > 300 {
		t.Errorf("a small sighting takes %d bytes", len(wire))
	}
}

func TestSightingIDUnique(t *testing.T) {
	base := signed(t, sighting())
	variants := map[string]func(*Report){
		"base":      func(*Report) {},
		"first":     func(r *Report) { r.First = r.First.Add(-time.Nanosecond) },
		"last":      func(r *Report) { r.Last = r.Last.Add(time.Nanosecond) },
		"source":    func(r *Report) { r.Sightings[1].Source = netip.MustParsePrefix("203.0.113.11/32") },
		"count":     func(r *Report) { r.Sightings[0].Counts[1].N++ },
		"kind":      func(r *Report) { r.Sightings[0].Counts[1].Kind = "max-auth" },
		"service":   func(r *Report) { r.Sightings[1].Counts[0].Service = "apache" },
		"user":      func(r *Report) { r.Sightings[0].Users[1][3] ^= 1 },
		"no users":  func(r *Report) { r.Sightings[0].Users = nil },
		"one fewer": func(r *Report) { r.Sightings = r.Sightings[:2] },
		"v6 bits":   func(r *Report) { r.Sightings[2].Source = netip.MustParsePrefix("2001:db8:1:2::/128") },
	}
	ids := map[string]string{}
	for name, change := range variants {
		r := clone(base)
		change(&r)
		if err := r.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if prev, dup := ids[r.ID()]; dup {
			t.Errorf("%s and %s share an ID", name, prev)
		}
		ids[r.ID()] = name
	}
}

func clone(r Report) Report {
	r.Sightings = slices.Clone(r.Sightings)
	for i := range r.Sightings {
		r.Sightings[i].Counts = slices.Clone(r.Sightings[i].Counts)
		r.Sightings[i].Users = slices.Clone(r.Sightings[i].Users)
	}
	return r
}

func TestSightingRejects(t *testing.T) {
	id := testIdentity(t, 1)
	mk := func(change func(*Report)) []byte {
		r := clone(sighting())
		change(&r)
		r.Sign(id)
		return Marshal(&r)
	}
	entry := func(i int) Sighting {
		return Sighting{Source: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), 32),
			Counts: []Count{{Service: "sshd", Kind: "auth-failure", N: 1}}}
	}
	many := func(n int) []Sighting {
		s := make([]Sighting, n)
		for i := range s {
			s[i] = entry(i)
		}
		return s
	}
	full := Sighting{Source: netip.MustParsePrefix("2001:db8::/64")}
	for i := range MaxSightingCounts {
		full.Counts = append(full.Counts, Count{Service: strings.Repeat("s", MaxNameLen), Kind: strings.Repeat("k", MaxNameLen-2) + string(rune('a'+i/10)) + string(rune('a'+i%10)), N: MaxCount})
	}
	for i := range MaxSightingUsers {
		full.Users = append(full.Users, hash(byte(i)))
	}
	// At every limit of an entry: accepted.
	if _, err := Unmarshal(mk(func(r *Report) { r.Sightings = []Sighting{full} })); err != nil {
		t.Fatalf("an entry at every limit: %v", err)
	}
	if _, err := Unmarshal(mk(func(r *Report) { r.Sightings = many(MaxSightings) })); err != nil {
		t.Fatalf("%d entries: %v", MaxSightings, err)
	}
	bigs := make([]Sighting, 30)
	for i := range bigs {
		bigs[i] = full
		bigs[i].Source = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i)}), 64)
	}

	cases := []struct {
		name string
		wire []byte
		want *Error
	}{
		{"no entries", mk(func(r *Report) { r.Sightings = nil }), ErrMalformed},
		{"too many entries", mk(func(r *Report) { r.Sightings = many(MaxSightings + 1) }), ErrLimit},
		{"too large", mk(func(r *Report) { r.Sightings = bigs }), ErrTooLarge},
		{"no first", mk(func(r *Report) { r.First = time.Time{} }), ErrBadTime},
		{"window reversed", mk(func(r *Report) { r.First, r.Last = r.Last, r.First }), ErrBadTime},
		{"batch after the sighting", mk(func(r *Report) { r.Last = r.Time.Add(time.Nanosecond) }), ErrBadTime},
		{"unsorted", mk(func(r *Report) { r.Sightings[0], r.Sightings[1] = r.Sightings[1], r.Sightings[0] }), ErrMalformed},
		{"repeated source", mk(func(r *Report) { r.Sightings[1].Source = r.Sightings[0].Source }), ErrMalformed},
		{"whole space", mk(func(r *Report) { r.Sightings[0].Source = netip.MustParsePrefix("0.0.0.0/0") }), ErrBadPrefix},
		{"ipv4 range", mk(func(r *Report) { r.Sightings[0].Source = netip.MustParsePrefix("203.0.113.0/24") }), ErrBadPrefix},
		{"ipv6 too wide", mk(func(r *Report) { r.Sightings[2].Source = netip.MustParsePrefix("2001:d00::/24") }), ErrBadPrefix},
		{"unmasked", mk(func(r *Report) { r.Sightings[2].Source = netip.MustParsePrefix("2001:db8:1:2::1/64") }), ErrBadPrefix},
		{"mapped", mk(func(r *Report) { r.Sightings[2].Source = netip.MustParsePrefix("::ffff:203.0.113.200/128") }), ErrBadPrefix},
		{"no source", mk(func(r *Report) { r.Sightings[0].Source = netip.Prefix{} }), ErrBadPrefix},
		{"no counts", mk(func(r *Report) { r.Sightings[1].Counts = nil }), ErrMalformed},
		{"too many counts", mk(func(r *Report) { r.Sightings[0].Counts = append(slices.Clone(full.Counts), Count{"z", "z", 1}) }), ErrLimit},
		{"count 0", mk(func(r *Report) { r.Sightings[1].Counts[0].N = 0 }), ErrLimit},
		{"count negative", mk(func(r *Report) { r.Sightings[1].Counts[0].N = -1 }), ErrLimit},
		{"count huge", mk(func(r *Report) { r.Sightings[1].Counts[0].N = MaxCount + 1 }), ErrLimit},
		{"counts unsorted", mk(func(r *Report) { c := r.Sightings[0].Counts; c[0], c[1] = c[1], c[0] }), ErrMalformed},
		{"count repeated", mk(func(r *Report) { r.Sightings[0].Counts[1] = r.Sightings[0].Counts[0] }), ErrMalformed},
		{"empty service", mk(func(r *Report) { r.Sightings[1].Counts[0].Service = "" }), ErrLimit},
		{"long kind", mk(func(r *Report) { r.Sightings[1].Counts[0].Kind = strings.Repeat("k", MaxNameLen+1) }), ErrLimit},
		{"kind escape", mk(func(r *Report) { r.Sightings[1].Counts[0].Kind = "probe\x1b" }), ErrBadText},
		{"service upper", mk(func(r *Report) { r.Sightings[1].Counts[0].Service = "Nginx" }), ErrBadText},
		{"too many users", mk(func(r *Report) { r.Sightings[0].Users = append(slices.Clone(full.Users), hash(0xff)) }), ErrLimit},
		{"users unsorted", mk(func(r *Report) { u := r.Sightings[0].Users; u[0], u[1] = u[1], u[0] }), ErrMalformed},
		{"user repeated", mk(func(r *Report) { r.Sightings[0].Users[1] = r.Sightings[0].Users[0] }), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Unmarshal(c.wire)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if Reason(err) != c.want.Reason() {
				t.Errorf("Reason = %q, want %q", Reason(err), c.want.Reason())
			}
		})
	}
	// Fields the wire form of the other type does not carry (so they are
	// not signed): Validate refuses them before anyone trusts them.
	for name, change := range map[string]func(*Report){
		"with scenario": func(r *Report) { r.Scenario = "ssh-bf" },
		"with value":    func(r *Report) { r.Value = netip.MustParsePrefix("203.0.113.9/32") },
		"with reason":   func(r *Report) { r.Reason = "x" },
		"with count":    func(r *Report) { r.Count = 1 },
		"with evidence": func(r *Report) { r.Evidence = []string{"x"} },
		"with duration": func(r *Report) { r.Duration = time.Hour },
		"alert with sightings": func(r *Report) {
			a := alert()
			a.Sightings = r.Sightings
			*r = a
		},
		"enforced with sightings": func(r *Report) {
			a := enforced()
			a.Sightings = r.Sightings
			*r = a
		},
	} {
		r := clone(sighting())
		change(&r)
		r.Sign(id)
		if err := r.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Validate = %v, want %v", name, err, ErrMalformed)
		}
	}
}

func TestSightingBadLengths(t *testing.T) {
	good := Marshal(ptr(signed(t, sighting())))
	body := good[:len(good)-SigSize]
	sig := good[len(good)-SigSize:]
	countOff := 2 + 4 + len(signed(t, sighting()).Member) + 8 + 8 + 8 + 8 // the number of entries
	first := countOff + 2                                                 // the first entry's family
	cases := map[string]func(b []byte) []byte{
		"entries huge":     func(b []byte) []byte { binary.BigEndian.PutUint16(b[countOff:], 0xffff); return b },
		"entries 513":      func(b []byte) []byte { binary.BigEndian.PutUint16(b[countOff:], MaxSightings+1); return b },
		"entries 4":        func(b []byte) []byte { binary.BigEndian.PutUint16(b[countOff:], 4); return b },
		"entries 2":        func(b []byte) []byte { binary.BigEndian.PutUint16(b[countOff:], 2); return b },
		"entries 0":        func(b []byte) []byte { binary.BigEndian.PutUint16(b[countOff:], 0); return b },
		"family 5":         func(b []byte) []byte { b[first] = 5; return b },
		"bits 33":          func(b []byte) []byte { b[first+5] = 33; return b },
		"counts 255":       func(b []byte) []byte { b[first+6] = 255; return b },
		"counts 17":        func(b []byte) []byte { b[first+6] = 17; return b },
		"counts 0":         func(b []byte) []byte { b[first+6] = 0; return b },
		"name length huge": func(b []byte) []byte { b[first+7] = 255; return b },
		"cut":              func(b []byte) []byte { return b[:len(b)-3] },
		"trailing":         func(b []byte) []byte { return append(b, 0) },
	}
	for name, change := range cases {
		b := change(bytes.Clone(body))
		if _, err := Unmarshal(append(b, sig...)); err == nil || Reason(err) == "other" {
			t.Errorf("%s: err = %v, want a catalogue error", name, err)
		}
	}
	// A short input that claims the most entries allocates little.
	b := bytes.Clone(body[:first])
	binary.BigEndian.PutUint16(b[countOff:], MaxSightings)
	b = append(b, sig...)
	if n := testing.AllocsPerRun(100, func() { _, _ = Unmarshal(b) }); n > 3 {
		t.Errorf("%v allocations for a truncated sighting", n)
	}
}

func TestSightingTamper(t *testing.T) {
	pub := testIdentity(t, 1).Public
	r := signed(t, sighting())
	wire := Marshal(&r)
	for i := range wire {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(wire)
			b[i] ^= flip
			got, err := Unmarshal(b)
			if err != nil {
				if Reason(err) == "other" || Reason(err) == "" {
					t.Fatalf("byte %d ^%#x: error outside the catalogue: %v", i, flip, err)
				}
				continue
			}
			if err := got.Verify(pub); err == nil {
				t.Fatalf("flipping byte %d with %#x still verifies", i, flip)
			}
		}
	}
	for n := range len(wire) {
		if _, err := Unmarshal(wire[:n]); err == nil {
			t.Fatalf("accepted the first %d of %d bytes", n, len(wire))
		}
	}
}

func TestCanonical(t *testing.T) {
	a := netip.MustParsePrefix("203.0.113.9/32")
	b := netip.MustParsePrefix("192.0.2.77/32")
	in := []Sighting{
		{Source: a, Counts: []Count{{"sshd", "invalid-user", 1}, {"sshd", "auth-failure", 2}}, Users: []UserHash{hash(9), hash(3)}},
		{Source: b, Counts: []Count{{"nginx", "http-probe", 1}}},
		{Source: a, Counts: []Count{{"sshd", "auth-failure", MaxCount}}, Users: []UserHash{hash(3)}},
	}
	got := Canonical(in)
	want := []Sighting{
		{Source: b, Counts: []Count{{"nginx", "http-probe", 1}}},
		{Source: a, Counts: []Count{{"sshd", "auth-failure", MaxCount}, {"sshd", "invalid-user", 1}}, Users: []UserHash{hash(3), hash(9)}},
	}
	if !slices.EqualFunc(got, want, func(x, y Sighting) bool {
		return x.Source == y.Source && slices.Equal(x.Counts, y.Counts) && slices.Equal(x.Users, y.Users)
	}) {
		t.Errorf("Canonical = %+v, want %+v", got, want)
	}
	r := Report{Seq: 1, Time: t0, Type: TypeSighting, First: t0, Last: t0, Sightings: got}
	r.Sign(testIdentity(t, 1))
	if err := r.Validate(); err != nil {
		t.Errorf("canonical entries do not validate: %v", err)
	}
	// Past the limits, the first in order are kept.
	var over Sighting
	over.Source = a
	for i := range 40 {
		over.Users = append(over.Users, hash(byte(40-i)))
		over.Counts = append(over.Counts, Count{"sshd", "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)), 1})
	}
	c := Canonical([]Sighting{over})
	if len(c[0].Users) != MaxSightingUsers || c[0].Users[0] != hash(1) || len(c[0].Counts) != MaxSightingCounts {
		t.Errorf("over the limits: %d users (first %x), %d counts", len(c[0].Users), c[0].Users[0], len(c[0].Counts))
	}
}

func TestPackSightings(t *testing.T) {
	id := testIdentity(t, 1)
	var s []Sighting
	for i := range 3000 {
		e := Sighting{Source: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32),
			Counts: []Count{{"sshd", "auth-failure", 1}, {"sshd", "invalid-user", 1}}}
		for j := range i % 5 {
			e.Users = append(e.Users, hash(byte(j)))
		}
		s = append(s, e)
	}
	groups := PackSightings(s, len(id.ID))
	total := 0
	for i, g := range groups {
		total += len(g)
		r := Report{Seq: uint64(i + 1), Time: t0, Type: TypeSighting, First: t0, Last: t0, Sightings: g}
		r.Sign(id)
		if err := r.Validate(); err != nil {
			t.Fatalf("group %d of %d entries: %v", i, len(g), err)
		}
		if i < len(groups)-1 && len(g) < MaxSightings && len(Marshal(&r))+sightingSize(&groups[i+1][0]) <= MaxSize {
			t.Errorf("group %d could hold the next entry", i)
		}
	}
	if total != len(s) {
		t.Errorf("groups hold %d entries, want %d", total, len(s))
	}
	if PackSightings(nil, 17) != nil {
		t.Error("groups of nothing")
	}
}
