package sighting_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/identity"
	"phalanx/report"
	"phalanx/sighting"
)

func testRules(t *testing.T) (*sighting.Rules, []byte) {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := fleetCharter(t, id, 5)
	salt := bytes.Repeat([]byte{7}, charter.SaltSize)
	c.Fleet.Salt = base64.StdEncoding.EncodeToString(salt)
	return sighting.NewRules(&c, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}), salt
}

// fleetCharter is the default charter with id's member and n-1 others:
// every default fleet scenario needs at most 5 members.
func fleetCharter(t *testing.T, id *identity.Identity, n int) charter.Charter {
	t.Helper()
	c := charter.Default("t", charter.NewMember("a", id.Public))
	for i := 2; i <= n; i++ {
		o, err := identity.FromSeed(bytes.Repeat([]byte{byte(i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		c.Members = append(c.Members, charter.NewMember(fmt.Sprintf("m%d", i), o.Public))
	}
	return c
}

// TestRulesNeedMembers: a scenario that needs more members than the
// charter lists cannot fire, and nothing is sighted for it: a standalone
// member sights nothing.
func TestRulesNeedMembers(t *testing.T) {
	id, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ev := &phalanx.Event{Time: time.Unix(1_700_000_000, 0), Source: netip.MustParseAddr("198.51.100.7"), Service: "ssh", Kind: phalanx.KindAuthFailure, User: "root"}
	for n, want := range map[int]bool{1: false, 2: false, 3: true} {
		c := fleetCharter(t, id, n)
		b := sighting.NewBatch()
		b.Add(sighting.NewRules(&c, nil), ev, nil)
		if got := b.Counters()["pending"] > 0; got != want {
			t.Errorf("%d members: sighted %v, want %v", n, got, want)
		}
	}
}

// memberID is a well-formed member id (of the identity with seed 1).
func memberID(t *testing.T) string {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id.ID
}

func ev(kind phalanx.Kind, src, user string, at time.Time) *phalanx.Event {
	return &phalanx.Event{Kind: kind, Source: netip.MustParseAddr(src), User: user, Service: "sshd", Time: at}
}

func TestBatch(t *testing.T) {
	rules, salt := testRules(t)
	at := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	b := sighting.NewBatch()
	b.Add(rules, ev(phalanx.KindAuthFailure, "203.0.113.1", "root", at), nil)
	b.Add(rules, ev(phalanx.KindAuthFailure, "203.0.113.1", "root", at.Add(time.Second)), nil)
	b.Add(rules, ev(phalanx.KindInvalidUser, "203.0.113.1", "admin", at), nil)
	b.Add(rules, ev(phalanx.KindAuthFailure, "2001:db8:1:2::5", "", at), nil)
	b.Add(rules, ev(phalanx.KindAuthFailure, "2001:db8:1:2::6", "", at), nil)                               // the same /64
	b.Add(rules, ev(phalanx.KindAuthFailure, "192.0.2.9", "root", at), nil)                                 // territory
	b.Add(rules, ev(phalanx.KindProtocol, "203.0.113.2", "", at), nil)                                      // a kind no fleet scenario counts
	b.Add(rules, ev(phalanx.KindAuthFailure, "203.0.113.3", "", at), func(netip.Addr) bool { return true }) // banned already
	b.Add(nil, ev(phalanx.KindAuthFailure, "203.0.113.4", "", at), nil)                                     // no rules
	if reps, _ := b.Take(memberID(t), at.Add(sighting.Hold-time.Millisecond)); len(reps) != 0 {
		t.Fatalf("entries sighted before they were held for %v", sighting.Hold)
	}
	reps, invalid := b.Take(memberID(t), at.Add(sighting.Hold))
	if invalid != 0 || len(reps) != 1 {
		t.Fatalf("%d reports, %d invalid", len(reps), invalid)
	}
	r := reps[0]
	if !r.First.Equal(at) || !r.Last.Equal(at.Add(time.Second)) || r.Last.After(r.Time) {
		t.Errorf("window %v..%v, report time %v; want the events' first and last, within the report's time", r.First, r.Last, r.Time)
	}
	got := map[string]report.Sighting{}
	for _, s := range r.Sightings {
		got[s.Source.String()] = s
	}
	if len(got) != 2 {
		t.Fatalf("sightings %+v, want 203.0.113.1/32 and 2001:db8:1:2::/64", r.Sightings)
	}
	s := got["203.0.113.1/32"]
	n := 0
	for _, c := range s.Counts {
		n += c.N
	}
	if n != 3 || len(s.Users) != 2 {
		t.Errorf("203.0.113.1: %d events, %d users; want 3 and 2", n, len(s.Users))
	}
	for _, u := range s.Users {
		if u != charter.UserHash(salt, "root") && u != charter.UserHash(salt, "admin") {
			t.Errorf("user hash %x is not a salted hash of the names tried", u)
		}
	}
	if v6 := got["2001:db8:1:2::/64"]; len(v6.Counts) != 1 || v6.Counts[0].N != 2 {
		t.Errorf("the /64: %+v, want 2 events", v6)
	}
	if reps, _ := b.Take(memberID(t), at); len(reps) != 0 {
		t.Errorf("a second Take returned %d reports", len(reps))
	}
	if c := b.Counters(); c["published"] != 1 || c["sources"] != 2 {
		t.Errorf("counters %v", c)
	}
}

// TestVouch: a source that logged in is not sighted for a day, and what
// the batch held of it is dropped; a day later it is sighted again.
func TestVouch(t *testing.T) {
	rules, _ := testRules(t)
	at := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	b := sighting.NewBatch()
	b.Add(rules, ev(phalanx.KindAuthFailure, "198.18.0.1", "alice", at), nil)
	b.Vouch(netip.MustParseAddr("198.18.0.1"), at.Add(5*time.Second))
	b.Add(rules, ev(phalanx.KindAuthFailure, "198.18.0.1", "alice", at.Add(time.Hour)), nil)
	b.Add(rules, ev(phalanx.KindAuthFailure, "203.0.113.1", "root", at.Add(time.Hour)), nil)
	reps, _ := b.Take(memberID(t), at.Add(time.Hour+sighting.Hold))
	if len(reps) != 1 || len(reps[0].Sightings) != 1 || reps[0].Sightings[0].Source.String() != "203.0.113.1/32" {
		t.Fatalf("reports %+v, want the attacker alone", reps)
	}
	b.Add(rules, ev(phalanx.KindAuthFailure, "198.18.0.1", "alice", at.Add(25*time.Hour)), nil)
	if reps, _ := b.Take(memberID(t), at.Add(25*time.Hour+sighting.Hold)); len(reps) != 1 {
		t.Errorf("a day later the source is still not sighted")
	}
	if c := b.Counters(); c["unsighted"] != 1 {
		t.Errorf("counters %v, want 1 unsighted", c)
	}
}

// TestBatchBounded: a flood of sources fills the batch and the rest wait,
// counted; vouches are bounded too.
func TestBatchBounded(t *testing.T) {
	rules, _ := testRules(t)
	at := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	b := sighting.NewBatch()
	for i := range sighting.MaxSources + 100 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		b.Add(rules, &phalanx.Event{Kind: phalanx.KindAuthFailure, Source: a, Service: "sshd", Time: at}, nil)
	}
	for i := range sighting.MaxVouched + 10 {
		b.Vouch(netip.AddrFrom4([4]byte{172, byte(i >> 16), byte(i >> 8), byte(i)}), at)
	}
	c := b.Counters()
	if c["dropped"] != 100 || c["vouched"] != sighting.MaxVouched {
		t.Errorf("counters %v: want 100 dropped and %d vouched", c, sighting.MaxVouched)
	}
}
