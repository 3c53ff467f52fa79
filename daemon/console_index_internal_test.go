package daemon

import (
	"math/rand/v2"
	"slices"
	"testing"

	"phalanx/console"
)

// TestNewestIndexApply: whatever the changes (new decisions, older ones,
// deletions among the newest and the oldest, more than the index keeps),
// the index holds exactly the newest of the table's decisions, and all of
// them while it says it holds the whole table.
func TestNewestIndexApply(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	table := map[uint64]int64{} // id → start
	var ids []uint64
	x := &newestIndex{in: map[uint64]int64{}, whole: true, valid: true}
	next := uint64(1)
	for round := range 1500 {
		var changes []newestChange
		for range r.IntN(12) { // deletions, first
			if len(ids) == 0 {
				break
			}
			i := r.IntN(len(ids))
			if r.IntN(2) == 0 {
				i = len(ids) - 1 - r.IntN(min(len(ids), 50)) // among the newest
			}
			id := ids[i]
			ids = slices.Delete(ids, i, i+1)
			changes = append(changes, newestChange{newestKey{table[id], id}, true})
			delete(table, id)
		}
		for range r.IntN(40) {
			start := int64(round) * 1000
			if r.IntN(5) == 0 {
				start = r.Int64N(start + 1) // an older one (a feed, an import)
			}
			k := newestKey{start, next}
			next++
			table[k.id] = k.start
			ids = append(ids, k.id)
			changes = append(changes, newestChange{k, false})
		}
		x.apply(changes)
		if round%50 != 49 {
			continue
		}
		all := make([]newestKey, 0, len(table))
		for id, start := range table {
			all = append(all, newestKey{start, id})
		}
		slices.SortFunc(all, newestKey.compare)
		if x.whole && len(x.keys) != len(all) {
			t.Fatalf("round %d: whole, but %d keys of %d decisions", round, len(x.keys), len(all))
		}
		if len(x.keys) > newestKeep || !slices.Equal(x.keys, all[len(all)-len(x.keys):]) {
			t.Fatalf("round %d: the %d keys are not the newest of %d decisions", round, len(x.keys), len(all))
		}
		if len(x.in) != len(x.keys) {
			t.Fatalf("round %d: %d ids for %d keys", round, len(x.in), len(x.keys))
		}
	}
	if x.whole || len(x.keys) < console.MaxDepth/2 {
		t.Fatalf("the test did not go past what the index keeps: whole %v, %d keys", x.whole, len(x.keys))
	}
}
