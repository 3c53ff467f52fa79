package daemon

import (
	"testing"
	"time"

	"phalanx/alliance"
	"phalanx/charter"
	"phalanx/identity"
)

// TestChainKeepsOwnAmendments: a founder seals two amendments before the
// stream returns the first; recording the first then (the consumer's
// recordAmendment) keeps the chain as it is, and verifyChain leads to the
// second.
func TestChainKeepsOwnAmendments(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	v1 := charter.Default("chain", charter.NewMember("a", id.Public))
	if err := seedCharterChain(dir, &v1); err != nil {
		t.Fatal(err)
	}
	v2, err := alliance.SetFleet(&v1, nil)
	if err != nil {
		t.Fatal(err)
	}
	a1, err := alliance.NewAmendment(id, &v1, &v2)
	if err != nil {
		t.Fatal(err)
	}
	f := charter.DefaultFleet()
	v3, err := alliance.SetFleet(&v2, &f)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := alliance.NewAmendment(id, &v2, &v3)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, step := range []struct {
		prev *charter.Charter
		am   alliance.Amendment
	}{{&v1, a1}, {&v2, a2}, {&v1, a1}, {&v2, a2}} { // sealed, sealed, then consumed
		if err := extendCharterChain(dir, step.prev, step.am, now); err != nil {
			t.Fatal(err)
		}
		if i < 1 {
			continue
		}
		chain, err := verifyChain(dir)
		if err != nil {
			t.Fatal(err)
		}
		if chain.steps != 2 || chain.end.Hash() != v3.Hash() {
			t.Fatalf("after step %d the chain has %d steps to version %d; want 2 to version 3", i+1, chain.steps, chain.end.Version)
		}
	}
}

// BenchmarkVerifyChain: what a start spends on the longest chain kept:
// alliance.MaxHistorySteps policy changes of a small charter, or as many
// joins as alliance.MaxHistoryBytes keeps.
func BenchmarkVerifyChain(b *testing.B) {
	for _, kind := range []string{"policy", "joins"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			id, err := identity.Generate()
			if err != nil {
				b.Fatal(err)
			}
			cur := charter.Default("chain", charter.NewMember("a", id.Public))
			if err := seedCharterChain(dir, &cur); err != nil {
				b.Fatal(err)
			}
			for i := range alliance.MaxHistorySteps {
				next := cur
				next.Version++
				next.Policy.Quorum = 1 + i%3
				if kind == "joins" {
					other, err := identity.Generate()
					if err != nil {
						b.Fatal(err)
					}
					if next, err = alliance.AddMember(&cur, charter.NewMember("m", other.Public)); err != nil {
						b.Fatal(err)
					}
				}
				am, err := alliance.NewAmendment(id, &cur, &next)
				if err != nil {
					b.Fatal(err)
				}
				if err := extendCharterChain(dir, &cur, am, time.Now()); err != nil {
					b.Fatal(err)
				}
				cur = next
			}
			for b.Loop() {
				chain, err := verifyChain(dir)
				if err != nil || chain.end.Hash() != cur.Hash() {
					b.Fatalf("%v", err)
				}
			}
			h, _ := readCharterChain(dir)
			b.ReportMetric(float64(len(h.Steps)), "steps")
		})
	}
}
