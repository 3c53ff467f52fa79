package alliance

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/identity"
)

// chain is a founding charter and two amendments by the founder: the
// plain member's admission (version 2), the joiner's (version 3).
type chain struct {
	f          fixture
	v1, v2, v3 charter.Charter
	a2, a3     Amendment
	history    History // v1, a2, a3, signed by the founder
}

func newChain(t testing.TB) chain {
	t.Helper()
	f := newFixture(t)
	c := chain{f: f}
	founder := charter.NewMember("alpha", f.founder.Public, netip.MustParsePrefix("192.0.2.1/32"))
	c.v1 = charter.Default("example-fleet", founder)
	step := func(prev *charter.Charter, id *identity.Identity, name string) (charter.Charter, Amendment) {
		next, err := AddMember(prev, charter.NewMember(name, id.Public))
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAmendment(f.founder, prev, &next)
		if err != nil {
			t.Fatal(err)
		}
		return next, a
	}
	c.v2, c.a2 = step(&c.v1, f.plain, "beta")
	c.v3, c.a3 = step(&c.v2, f.joiner, "gamma")
	root, err := c.v1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c.history = History{Root: root, Steps: []HistoryStep{{Amendment: c.a2.Marshal(), Time: now}, {Amendment: c.a3.Marshal(), Time: now.Add(time.Minute)}}}
	SignHistory(f.founder, &c.history)
	return c
}

// TestVerifyHistory: a history from the founding charter to the trusted
// amendment, signed by its signer, verifies; a made-up past, a changed
// step or time, another signer, or a history that ends elsewhere do not.
func TestVerifyHistory(t *testing.T) {
	c := newChain(t)
	steps, err := VerifyHistory(&c.history, c.a3)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Prev.Version != 1 || steps[0].Next.Hash() != c.v2.Hash() || steps[1].Next.Hash() != c.v3.Hash() ||
		!steps[1].Time.Equal(now.Add(time.Minute)) || steps[1].Amendment.Signer != c.f.founder.ID {
		t.Fatalf("steps: %+v", steps)
	}

	// A made-up past for version 2: a founding charter of the stranger's,
	// which signs version 2 as its successor. Each amendment verifies
	// against the charter before it; only the handover signature (which
	// the stranger cannot make as the founder) tells.
	fake := charter.Default("example-fleet", charter.NewMember("mallory", c.f.stranger.Public))
	fakeA2, err := NewAmendment(c.f.stranger, &fake, &c.v2)
	if err != nil {
		t.Fatal(err)
	}
	fakeRoot, _ := fake.Marshal()
	forged := History{Root: fakeRoot, Steps: []HistoryStep{{Amendment: fakeA2.Marshal(), Time: now}, c.history.Steps[1]}, Sig: c.history.Sig}
	signedByStranger := forged
	SignHistory(c.f.stranger, &signedByStranger)

	changedTime := c.history
	changedTime.Steps = append([]HistoryStep(nil), c.history.Steps...)
	changedTime.Steps[0].Time = now.Add(time.Hour)

	swapped := c.history
	swapped.Steps = []HistoryStep{c.history.Steps[1], c.history.Steps[0]}

	other, _ := c.v2.Marshal()
	otherRoot := History{Root: other, Steps: c.history.Steps[1:]}
	SignHistory(c.f.founder, &otherRoot) // a shorter history is fine...
	if _, err := VerifyHistory(&otherRoot, c.a3); err != nil {
		t.Fatalf("a history from version 2: %v", err)
	}
	otherRoot.Root = fakeRoot // ...not one from another charter

	for _, tc := range []struct {
		name string
		h    History
		last Amendment
		want error
	}{
		{"made-up past, the founder's signature", forged, c.a3, ErrBadSignature},
		{"made-up past, signed by its maker", signedByStranger, c.a3, ErrBadSignature},
		{"changed time", changedTime, c.a3, ErrBadSignature},
		{"steps out of order", swapped, c.a3, ErrOutOfOrder},
		{"root of another charter", otherRoot, c.a3, ErrOutOfOrder},
		{"ends before the trusted amendment", History{Root: c.history.Root, Steps: c.history.Steps[:1], Sig: c.history.Sig}, c.a3, ErrNotAuthorized},
		{"no steps", History{Root: c.history.Root, Sig: c.history.Sig}, c.a3, ErrMalformed},
		{"unsigned", History{Root: c.history.Root, Steps: c.history.Steps}, c.a3, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyHistory(&tc.h, tc.last)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestTrimHistory: the oldest steps go first, and the charter the first
// kept step amends becomes the root.
func TestTrimHistory(t *testing.T) {
	c := newChain(t)
	h := c.history
	h.Steps = append([]HistoryStep(nil), h.Steps...)
	for cur := c.v3; len(h.Steps) <= MaxHistorySteps; {
		next := cur
		next.Version++
		a, err := NewAmendment(c.f.founder, &cur, &next)
		if err != nil {
			t.Fatal(err)
		}
		h.Steps = append(h.Steps, HistoryStep{Amendment: a.Marshal(), Time: now})
		cur = next
	}
	if err := TrimHistory(&h); err != nil {
		t.Fatal(err)
	}
	if len(h.Steps) > MaxHistorySteps || h.Size() > MaxHistoryBytes || h.Sig != nil {
		t.Fatalf("%d steps, %d bytes, sig %x", len(h.Steps), h.Size(), h.Sig)
	}
	first, err := ParseAmendment(h.Steps[0].Amendment)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := charter.Parse(h.Root); err != nil || root.Hash() != first.Prev {
		t.Fatalf("the root is not the charter the first step amends: %v", err)
	}
	h = c.history
	h.Root = make([]byte, MaxHistoryBytes) // too big: the charter the first step makes takes its place
	if err := TrimHistory(&h); err != nil {
		t.Fatal(err)
	}
	root, err := charter.Parse(h.Root)
	if err != nil || root.Hash() != c.v2.Hash() || len(h.Steps) != 1 {
		t.Fatalf("root %v %v, %d steps", root.Version, err, len(h.Steps))
	}
}

// TestJoinReplyHistory: a join reply carries a history through its wire
// form; a refusal carries none.
func TestJoinReplyHistory(t *testing.T) {
	c := newChain(t)
	r := JoinReply{Charter: []byte("x"), Amendment: c.a3.Marshal(), RouteSecret: secret, History: &c.history}
	got, err := ParseJoinReply(r.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyHistory(got.History, c.a3); err != nil {
		t.Fatalf("the history after the wire: %v", err)
	}
	if _, err := ParseJoinReply(JoinReply{Error: "no", History: &c.history}.Marshal()); err == nil {
		t.Fatal("a refusal with a history parsed")
	}
}

// FuzzVerifyHistory: a history as a joining member receives it (JSON in
// the join reply) never panics the verifier, and one it accepts ends with
// the trusted amendment.
func FuzzVerifyHistory(f *testing.F) {
	c := newChain(f)
	good, _ := json.Marshal(&c.history)
	f.Add(good)
	f.Add([]byte(`{"root":"","steps":[{"amendment":"AQ=="}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var h History
		if json.Unmarshal(in, &h) != nil {
			return
		}
		steps, err := VerifyHistory(&h, c.a3)
		if err != nil {
			return
		}
		if steps[len(steps)-1].Next.Hash() != c.v3.Hash() {
			t.Fatalf("accepted a history that ends at %s", steps[len(steps)-1].Next.Hash())
		}
	})
}
