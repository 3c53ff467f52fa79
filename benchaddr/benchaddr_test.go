package benchaddr

import (
	"math/rand/v2"
	"testing"
)

func TestGenerate(t *testing.T) {
	a, b := Generate(7, 1000, 100, 5000), Generate(7, 1000, 100, 5000)
	if len(a.Addrs) != 1000 || len(a.Ranges) != 100 || len(a.Queries) != 5000 {
		t.Fatalf("sizes %d %d %d", len(a.Addrs), len(a.Ranges), len(a.Queries))
	}
	for i := range a.Queries {
		if a.Queries[i] != b.Queries[i] {
			t.Fatal("the same seed gave different queries")
		}
	}
	v4 := 0
	for _, x := range a.Addrs {
		if x.Is4() {
			v4++
		} else if x.As16()[0]>>5 != 1 {
			t.Errorf("%v is not in 2000::/3", x)
		}
	}
	if v4 != 500 {
		t.Errorf("%d IPv4 addresses, want half", v4)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, p := range a.Ranges {
		if p != p.Masked() || !p.Contains(In(rng, p)) {
			t.Errorf("range %v: not masked, or In returned an address outside it", p)
		}
	}
}
