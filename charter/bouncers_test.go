package charter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func bouncerOf(name, key string) Bouncer {
	sum := sha256.Sum256([]byte(key))
	return Bouncer{Name: name, SHA256: hex.EncodeToString(sum[:])}
}

func TestBouncersRoundTripAndHash(t *testing.T) {
	c := three(t)
	base := c.Hash()
	// An empty section is no section: the hash of charters written before
	// alliance bouncers is kept (TestHashWithoutFleet pins it).
	c.Bouncers = []Bouncer{}
	if c.Hash() != base {
		t.Fatal("an empty bouncers section changed the hash")
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("bouncers:")) {
		t.Errorf("a charter without alliance bouncers marshals a section:\n%s", out)
	}

	next, err := c.AddBouncer(bouncerOf("fw-1", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != c.Version+1 || len(c.Bouncers) != 0 || len(next.Bouncers) != 1 {
		t.Fatalf("AddBouncer: version %d→%d, bouncers %d→%d", c.Version, next.Version, len(c.Bouncers), len(next.Bouncers))
	}
	next2, err := next.AddBouncer(bouncerOf("nginx@web:2", "k2"))
	if err != nil {
		t.Fatal(err)
	}
	out, err = next2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "k1") || !strings.Contains(string(out), next2.Bouncers[0].SHA256) {
		t.Errorf("marshaled charter:\n%s", out)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, out)
	}
	if back.Hash() != next2.Hash() || len(back.Bouncers) != 2 {
		t.Errorf("round trip: %d bouncers, hash equal %v", len(back.Bouncers), back.Hash() == next2.Hash())
	}

	// Order does not matter; name and key do.
	swapped := next2
	swapped.Bouncers = []Bouncer{next2.Bouncers[1], next2.Bouncers[0]}
	if swapped.Hash() != next2.Hash() {
		t.Error("the order of bouncers changed the hash")
	}
	renamed := next2
	renamed.Bouncers = []Bouncer{next2.Bouncers[0], {Name: "nginx@web:3", SHA256: next2.Bouncers[1].SHA256}}
	rekeyed := next2
	rekeyed.Bouncers = []Bouncer{next2.Bouncers[0], bouncerOf("nginx@web:2", "k3")}
	hashes := map[string]string{"base": base, "one": next.Hash(), "two": next2.Hash(), "renamed": renamed.Hash(), "rekeyed": rekeyed.Hash()}
	seen := map[string]string{}
	for what, h := range hashes {
		if other, dup := seen[h]; dup {
			t.Errorf("%s and %s have the same hash", what, other)
		}
		seen[h] = what
	}

	// Remove takes it out, the last one leaves no section.
	r1, err := next2.RemoveBouncer("fw-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r1.Bouncer("fw-1"); ok || len(next2.Bouncers) != 2 || r1.Version != next2.Version+1 {
		t.Errorf("RemoveBouncer: %+v (before: %+v)", r1.Bouncers, next2.Bouncers)
	}
	r2, err := r1.RemoveBouncer("nginx@web:2")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Bouncers != nil {
		t.Errorf("no bouncers left: %#v", r2.Bouncers)
	}
	if _, err := r2.RemoveBouncer("fw-1"); err == nil || !strings.Contains(err.Error(), "no alliance bouncer") {
		t.Errorf("remove an absent bouncer: %v", err)
	}
	if _, err := next2.AddBouncer(bouncerOf("fw-1", "k9")); err == nil || !strings.Contains(err.Error(), "delete it first") {
		t.Errorf("add a name twice: %v", err)
	}
	if _, err := next2.AddBouncer(bouncerOf("fw-9", "k1")); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Errorf("add a key twice: %v", err)
	}
}

func TestBouncersValidate(t *testing.T) {
	good := bouncerOf("fw", "k").SHA256
	for _, tc := range []struct {
		name string
		bs   []Bouncer
		err  string
	}{
		{"ok", []Bouncer{{Name: "fw-1", SHA256: good}, {Name: "a.b_c@d:e", SHA256: bouncerOf("x", "y").SHA256}}, ""},
		{"empty name", []Bouncer{{Name: "", SHA256: good}}, "1 to 64"},
		{"long name", []Bouncer{{Name: strings.Repeat("a", 65), SHA256: good}}, "1 to 64"},
		{"leading dot", []Bouncer{{Name: ".fw", SHA256: good}}, "starting with a letter"},
		{"space", []Bouncer{{Name: "f w", SHA256: good}}, "ASCII letters"},
		{"control", []Bouncer{{Name: "fw\n", SHA256: good}}, "ASCII letters"},
		{"short hash", []Bouncer{{Name: "fw", SHA256: good[:63]}}, "64 lowercase hex"},
		{"upper hash", []Bouncer{{Name: "fw", SHA256: strings.ToUpper(good)}}, "64 lowercase hex"},
		{"not hex", []Bouncer{{Name: "fw", SHA256: strings.Repeat("g", 64)}}, "64 lowercase hex"},
		{"twice", []Bouncer{{Name: "fw", SHA256: good}, {Name: "fw", SHA256: bouncerOf("x", "y").SHA256}}, "already bouncers[0]"},
		{"same key", []Bouncer{{Name: "fw", SHA256: good}, {Name: "fw2", SHA256: good}}, "same key"},
	} {
		c := three(t)
		c.Bouncers = tc.bs
		err := c.Validate()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
		}
	}
	c := three(t)
	for i := 0; i <= MaxBouncers; i++ {
		c.Bouncers = append(c.Bouncers, bouncerOf("b"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i >> 8), byte(i)}), string(rune(i))))
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("%d bouncers: %v", len(c.Bouncers), err)
	}
}

// TestParseBouncersStrict: unknown keys in an entry are refused, as
// everywhere in a charter.
func TestParseBouncersStrict(t *testing.T) {
	c := three(t)
	c.Bouncers = []Bouncer{bouncerOf("fw", "k")}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(out), "sha256:", "key: x\n    sha256:", 1)
	if _, err := Parse([]byte(bad)); err == nil {
		t.Errorf("an unknown key in a bouncer entry was accepted:\n%s", bad)
	}
}
