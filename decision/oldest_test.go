package decision

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"phalanx"
)

func values(ds []phalanx.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Value.String())
	}
	return out
}

// TestOldest: the oldest decisions of one origin, by Start for those stored
// before the first question, then in the order they were added; removed
// ones and ones replaced by another origin's are skipped.
func TestOldest(t *testing.T) {
	tab := NewTable()
	at := func(d phalanx.Decision, o phalanx.Origin, start time.Duration) phalanx.Decision {
		d.Origin, d.Start = o, t0.Add(start)
		return d
	}
	// Stored before anyone asks: ordered by Start, not by insertion.
	b := mustAdd(t, tab, at(ban("192.0.2.2/32", time.Hour), phalanx.OriginSelf, 2*time.Second))
	a := mustAdd(t, tab, at(ban("192.0.2.1/32", time.Hour), phalanx.OriginSelf, time.Second))
	mustAdd(t, tab, at(ban("192.0.2.3/32", time.Hour), phalanx.OriginAlliance, 0))
	mustAdd(t, tab, at(ban("192.0.2.4/32", time.Hour), phalanx.OriginManual, 0))
	c := mustAdd(t, tab, at(ban("2001:db8:1::/64", time.Hour), phalanx.OriginSelf, 3*time.Second))
	if got, want := values(tab.Oldest(phalanx.OriginSelf, 2)), []string{"192.0.2.1/32", "192.0.2.2/32"}; !slices.Equal(got, want) {
		t.Fatalf("Oldest(self, 2) = %v, want %v", got, want)
	}
	// Added after: at the end, whatever their Start.
	mustAdd(t, tab, at(ban("192.0.2.5/32", time.Hour), phalanx.OriginSelf, -time.Hour))
	if got, want := values(tab.Oldest(phalanx.OriginSelf, 10)), []string{"192.0.2.1/32", "192.0.2.2/32", "2001:db8:1::/64", "192.0.2.5/32"}; !slices.Equal(got, want) {
		t.Fatalf("Oldest(self, 10) = %v, want %v", got, want)
	}
	// Removed, and replaced by the alliance's decision (same ID, later end).
	tab.Delete(a.ID)
	rep := b
	rep.Origin, rep.Until = phalanx.OriginAlliance, b.Until.Add(time.Hour)
	if _, replaced := tab.Add(rep); replaced == nil {
		t.Fatal("the alliance's decision did not replace the self-defense one")
	}
	if got, want := values(tab.Oldest(phalanx.OriginSelf, 10)), []string{"2001:db8:1::/64", "192.0.2.5/32"}; !slices.Equal(got, want) {
		t.Fatalf("after a removal and a replacement: Oldest(self, 10) = %v, want %v", got, want)
	}
	if got := tab.Oldest(phalanx.OriginSelf, 1); len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("Oldest(self, 1) = %+v, want the decision on %v", got, c.Value)
	}
	if got, want := values(tab.Oldest(phalanx.OriginManual, 10)), []string{"192.0.2.4/32"}; !slices.Equal(got, want) {
		t.Fatalf("Oldest(manual, 10) = %v, want %v", got, want)
	}
	if got := tab.Oldest(phalanx.OriginFeed, 10); len(got) != 0 {
		t.Fatalf("Oldest(feed) = %v, want none", values(got))
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}

// TestOldestChurn: under adds, removals, replacements and expiry the
// answer matches a model (the live decisions of the origin in the order
// they were added), and the queue stays near the number of live decisions.
func TestOldestChurn(t *testing.T) {
	tab := NewTable()
	rng := rand.New(rand.NewPCG(1, 2))
	tab.Oldest(phalanx.OriginSelf, 1) // track from the start
	var order []uint64                // the model: live self-defense IDs, oldest first
	for step := range 20000 {
		switch r := rng.IntN(10); {
		case r < 6:
			d := ban(fmt.Sprintf("10.%d.%d.%d/32", rng.IntN(4), rng.IntN(256), rng.IntN(256)), time.Duration(1+rng.IntN(1000))*time.Second)
			if rng.IntN(4) == 0 {
				d.Origin = phalanx.OriginAlliance
			}
			st, replaced := tab.Add(d)
			if replaced != nil && replaced.Origin == phalanx.OriginSelf {
				order = slices.DeleteFunc(order, func(id uint64) bool { return id == replaced.ID })
			}
			if (replaced != nil || st.Until.Equal(d.Until.UTC())) && st.Origin == phalanx.OriginSelf && !slices.Contains(order, st.ID) {
				order = append(order, st.ID)
			}
		case r < 8 && len(order) > 0:
			id := order[rng.IntN(len(order))]
			tab.Delete(id)
			order = slices.DeleteFunc(order, func(x uint64) bool { return x == id })
		default:
			for _, d := range tab.Expire(t0.Add(time.Duration(step/20) * time.Second)) {
				order = slices.DeleteFunc(order, func(x uint64) bool { return x == d.ID })
			}
		}
		if step%500 == 0 {
			got := tab.Oldest(phalanx.OriginSelf, len(order)+1)
			var ids []uint64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, order) {
				t.Fatalf("step %d: Oldest returned %d IDs %v..., the model has %d %v...", step, len(ids), ids[:min(5, len(ids))], len(order), order[:min(5, len(order))])
			}
			q := tab.ages[phalanx.OriginSelf]
			if q.live != len(order) {
				t.Fatalf("step %d: the queue counts %d live decisions, the model %d", step, q.live, len(order))
			}
			if len(q.ids)-q.head > 2*q.live+1024+1 {
				t.Fatalf("step %d: the queue holds %d IDs for %d live decisions", step, len(q.ids)-q.head, q.live)
			}
		}
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAddTracked: what tracking the age of an origin adds to Add.
func BenchmarkAddTracked(b *testing.B) {
	for _, tracked := range []bool{false, true} {
		b.Run(fmt.Sprint("tracked=", tracked), func(b *testing.B) {
			tab := NewTable()
			if tracked {
				tab.Oldest(phalanx.OriginSelf, 1)
			}
			d := ban("10.0.0.1/32", time.Hour)
			for i := range b.N {
				d.Value = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
				d.ID = 0
				tab.Add(d)
			}
		})
	}
}
