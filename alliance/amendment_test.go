package alliance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"phalanx/charter"
	"phalanx/identity"
)

// signAmendment builds an amendment from cur to next signed by signer
// whatever the fields (NewAmendment refuses bad ones).
func signAmendment(t testing.TB, signer *identity.Identity, prev string, next charter.Charter) Amendment {
	t.Helper()
	yaml, err := next.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	a := Amendment{Prev: prev, Charter: yaml, Signer: signer.ID}
	a.Sig = signer.Sign(amendmentMessage(prev, next.Hash()))
	return a
}

func TestAmendmentRoundTrip(t *testing.T) {
	f := newFixture(t)
	next, err := AddMember(&f.charter, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAmendment(f.founder, &f.charter, &next)
	if err != nil {
		t.Fatal(err)
	}
	if a.Prev != f.charter.Hash() || a.Signer != f.founder.ID {
		t.Errorf("amendment %s by %s, want %s by %s", a.Prev, a.Signer, f.charter.Hash(), f.founder.ID)
	}
	b := a.Marshal()
	got, err := ParseAmendment(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, a)
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Error("re-marshal differs")
	}
	c, err := got.Verify(&f.charter)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() != next.Hash() {
		t.Errorf("verified charter %s, want %s", c.Hash(), next.Hash())
	}
}

func TestVerifyErrors(t *testing.T) {
	f := newFixture(t)
	prev := f.charter.Hash()
	next, err := AddMember(&f.charter, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	skip := clone(&next)
	skip.Version++
	renamed := clone(&next)
	renamed.Name = "other-fleet"
	stale := clone(&f.charter) // same version as cur

	tampered := signAmendment(t, f.founder, prev, next)
	tampered.Charter = bytes.Replace(tampered.Charter, []byte("gamma"), []byte("gammb"), 1)
	garbage := signAmendment(t, f.founder, prev, next)
	garbage.Charter = []byte("name: [")
	noDomain := signAmendment(t, f.founder, prev, next)
	noDomain.Sig = f.founder.Sign(amendmentMessage(prev, next.Hash())[len(amendmentDomain):])
	tokenSig := signAmendment(t, f.founder, prev, next) // a signature made for the token domain
	tokenSig.Sig = f.founder.Sign(append([]byte(tokenDomain), amendmentMessage(prev, next.Hash())[len(amendmentDomain):]...))

	tests := []struct {
		name string
		a    Amendment
		want error
	}{
		{"non-founding signer", signAmendment(t, f.plain, prev, next), ErrNotAuthorized},
		{"stranger", signAmendment(t, f.stranger, prev, next), ErrNotAuthorized},
		{"wrong prev", signAmendment(t, f.founder, next.Hash(), next), ErrOutOfOrder},
		{"version skip", signAmendment(t, f.founder, prev, skip), ErrOutOfOrder},
		{"same version", signAmendment(t, f.founder, prev, stale), ErrOutOfOrder},
		{"renamed alliance", signAmendment(t, f.founder, prev, renamed), ErrMalformed},
		{"tampered charter", tampered, ErrBadSignature},
		{"charter does not parse", garbage, ErrMalformed},
		{"signature without domain", noDomain, ErrBadSignature},
		{"signature for the token domain", tokenSig, ErrBadSignature},
		{"no signature", Amendment{Prev: prev, Charter: tampered.Charter, Signer: f.founder.ID}, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through the wire form, as members receive it.
			a := tt.a
			if back, err := ParseAmendment(a.Marshal()); err == nil {
				a = back
			}
			if _, err := a.Verify(&f.charter); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	// The founder's amendment verifies, and verifies only once: after it
	// the member holds the new charter.
	good := signAmendment(t, f.founder, prev, next)
	c, err := good.Verify(&f.charter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Verify(&c); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("replayed amendment: %v, want ErrOutOfOrder", err)
	}
	// With two founding members, one's signature claimed by the other.
	g := clone(&f.charter)
	g.Members[1].Founding = true
	gNext, err := AddMember(&g, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	stolen := signAmendment(t, f.founder, g.Hash(), gNext)
	stolen.Signer = f.plain.ID
	if _, err := stolen.Verify(&g); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature claimed by another founding member: %v, want ErrBadSignature", err)
	}
	if _, err := signAmendment(t, f.plain, g.Hash(), gNext).Verify(&g); err != nil {
		t.Errorf("the second founding member's amendment: %v", err)
	}
	// A removed founding member can no longer amend.
	g2, err := RemoveMember(&g, f.founder.ID)
	if err != nil {
		t.Fatal(err)
	}
	g3, err := AddMember(&g2, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signAmendment(t, f.founder, g2.Hash(), g3).Verify(&g2); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("removed member's amendment: %v, want ErrNotAuthorized", err)
	}
}

func TestNewAmendmentErrors(t *testing.T) {
	f := newFixture(t)
	next, err := AddMember(&f.charter, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	skip := clone(&next)
	skip.Version++
	renamed := clone(&next)
	renamed.Name = "other-fleet"
	invalid := clone(&next)
	invalid.Policy.Quorum = 0
	tests := []struct {
		name   string
		signer *identity.Identity
		next   charter.Charter
		want   error
	}{
		{"not founding", f.plain, next, ErrNotAuthorized},
		{"stranger", f.stranger, next, ErrNotAuthorized},
		{"version skip", f.founder, skip, ErrOutOfOrder},
		{"renamed", f.founder, renamed, ErrMalformed},
		{"invalid charter", f.founder, invalid, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAmendment(tt.signer, &f.charter, &tt.next); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseAmendmentErrors(t *testing.T) {
	f := newFixture(t)
	next, err := AddMember(&f.charter, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	a := signAmendment(t, f.founder, f.charter.Hash(), next)
	b := a.Marshal()
	v2 := bytes.Clone(b)
	v2[0] = 2
	badSigner := a
	badSigner.Signer = "mXYZ"
	shortSig := a
	shortSig.Sig = a.Sig[:63]
	noCharter := a
	noCharter.Charter = nil
	badPrev := a
	badPrev.Prev = strings.ToUpper(a.Prev)
	// A charter length that claims more than the input holds.
	hugeLen := bytes.Clone(b[:1+1+hashSize+1+len(a.Signer)])
	hugeLen = binary.BigEndian.AppendUint32(hugeLen, charter.MaxFileSize)
	overLimit := bytes.Clone(b[:1+1+hashSize+1+len(a.Signer)])
	overLimit = binary.BigEndian.AppendUint32(overLimit, charter.MaxFileSize+1)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 2", v2},
		{"truncated", b[:len(b)-1]},
		{"only version", b[:1]},
		{"trailing byte", append(bytes.Clone(b), 0)},
		{"too large", make([]byte, MaxAmendmentSize+1)},
		{"bad signer", badSigner.Marshal()},
		{"short signature", shortSig.Marshal()},
		{"no charter", noCharter.Marshal()},
		{"upper-case prev", badPrev.Marshal()},
		{"charter length past the end", hugeLen},
		{"charter over the limit", overLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseAmendment(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAddRemoveMember(t *testing.T) {
	f := newFixture(t)
	before := clone(&f.charter)
	hash := f.charter.Hash()

	dupKey := charter.NewMember("other-name", f.plain.Public)
	badKey := charter.NewMember("gamma", f.joiner.Public)
	badKey.ID = f.stranger.ID

	adds := []struct {
		name string
		m    charter.Member
		ok   bool
	}{
		{"new member", charter.NewMember("gamma", f.joiner.Public), true},
		{"duplicate id", charter.NewMember("beta", f.plain.Public), false},
		{"duplicate key", dupKey, false},
		{"id of another key", badKey, false},
		{"no key", charter.Member{ID: f.joiner.ID, Name: "gamma"}, false},
	}
	for _, tt := range adds {
		t.Run("add/"+tt.name, func(t *testing.T) {
			next, err := AddMember(&f.charter, tt.m)
			if tt.ok != (err == nil) {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMember) {
					t.Errorf("error %v does not wrap ErrMember", err)
				}
				return
			}
			if next.Version != f.charter.Version+1 || len(next.Members) != len(f.charter.Members)+1 {
				t.Errorf("next has version %d and %d members", next.Version, len(next.Members))
			}
		})
	}

	// A charter whose quorum needs both members, with no decisive scenario.
	strict := clone(&f.charter)
	strict.Policy.Decisive = nil
	strict.Policy.Quorum = 2
	if err := strict.Validate(); err != nil {
		t.Fatal(err)
	}
	removes := []struct {
		name string
		c    *charter.Charter
		id   string
		ok   bool
	}{
		{"plain member", &f.charter, f.plain.ID, true},
		{"unknown", &f.charter, f.stranger.ID, false},
		{"last founding member", &f.charter, f.founder.ID, false},
		{"below quorum", &strict, f.plain.ID, false},
	}
	for _, tt := range removes {
		t.Run("remove/"+tt.name, func(t *testing.T) {
			next, err := RemoveMember(tt.c, tt.id)
			if tt.ok != (err == nil) {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMember) {
					t.Errorf("error %v does not wrap ErrMember", err)
				}
				return
			}
			if _, _, listed := next.Member(tt.id); listed || next.Version != tt.c.Version+1 {
				t.Errorf("after removal: listed %v, version %d", listed, next.Version)
			}
		})
	}

	// Neither changed the charter they were given, not even through
	// shared slices.
	next, err := AddMember(&f.charter, charter.NewMember("gamma", f.joiner.Public))
	if err != nil {
		t.Fatal(err)
	}
	next.Members[0].Addresses[0] = next.Members[1].Addresses[0]
	next.Members[0].Name = "changed"
	if f.charter.Hash() != hash || !reflect.DeepEqual(f.charter, before) {
		t.Error("AddMember or RemoveMember changed the current charter")
	}
}

func TestSetFleet(t *testing.T) {
	f := newFixture(t)
	cur := clone(&f.charter)
	def := charter.DefaultFleet()
	cur.Fleet = &def
	if _, err := SetFleet(&cur, cur.Fleet); !errors.Is(err, ErrMalformed) {
		t.Errorf("an amendment that changes nothing: error %v, want ErrMalformed", err)
	}
	off, err := SetFleet(&cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	if off.Fleet != nil || off.Version != cur.Version+1 || off.Hash() == cur.Hash() {
		t.Errorf("off: fleet %v, version %d (from %d)", off.Fleet, off.Version, cur.Version)
	}
	tuned := charter.DefaultFleet()
	tuned.Scenarios = tuned.Scenarios[:1]
	tuned.Scenarios[0].Events = 1 // below member_cap: invalid
	if _, err := SetFleet(&off, &tuned); !errors.Is(err, ErrMalformed) {
		t.Errorf("an invalid fleet section: error %v, want ErrMalformed", err)
	}
	tuned.Scenarios[0].Events = 12
	on, err := SetFleet(&off, &tuned)
	if err != nil {
		t.Fatal(err)
	}
	tuned.Scenarios[0].Events = 99 // the amended charter holds its own copy
	if on.Fleet == nil || len(on.Fleet.Scenarios) != 1 || on.Fleet.Scenarios[0].Events != 12 {
		t.Errorf("on: fleet %+v", on.Fleet)
	}
	if cur.Fleet == nil {
		t.Error("SetFleet changed the charter it amends")
	}
}
