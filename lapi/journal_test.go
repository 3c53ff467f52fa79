package lapi

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"phalanx"
)

// bouncerView applies stream answers as the firewall bouncer does:
// deletions by value first, then additions.
type bouncerView map[string]bool

func (v bouncerView) apply(s streamResp) {
	for _, d := range s.Deleted {
		delete(v, d.Value)
	}
	for _, d := range s.New {
		v[d.Value] = true
	}
}

func (v bouncerView) sorted() []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// activeValues is what the bouncer should hold: the table's active decisions.
func (e *env) activeValues() []string {
	var out []string
	now := e.clock.now()
	e.table.All(func(d phalanx.Decision) bool {
		if d.Until.After(now) {
			if d.Value.IsSingleIP() {
				out = append(out, d.Value.Addr().String())
			} else {
				out = append(out, d.Value.String())
			}
		}
		return true
	})
	slices.Sort(out)
	return out
}

// TestDeltasConverge: whatever happens to the table (adds, deletions,
// extensions, expiry), two bouncers pulling at random moments end up
// holding exactly the table's active decisions after a final pull.
func TestDeltasConverge(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			e := newEnv(t, 0)
			key2, err := e.keys.Add("b2")
			if err != nil {
				t.Fatal(err)
			}
			views := []bouncerView{{}, {}}
			keys := []string{e.key, key2}
			views[0].apply(e.pull(keys[0], true, ""))
			for range 400 {
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(24))})
				p := netip.PrefixFrom(addr, 32)
				if rng.IntN(5) == 0 {
					p = netip.PrefixFrom(addr, 30).Masked()
				}
				switch op := rng.IntN(10); {
				case op < 4: // add or extend (the table keeps the later end)
					now := e.clock.now()
					until := now.Add(time.Duration(1+rng.IntN(600)) * time.Second)
					stored, replaced := e.table.Add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: p, Start: now, Until: until})
					var del []phalanx.Decision
					if replaced != nil {
						del = append(del, *replaced)
					}
					if replaced != nil || stored.Until.Equal(until) { // else the table kept the longer one: no change
						e.journal.Record([]phalanx.Decision{stored}, del)
					}
				case op < 5: // extend a decision in place (same ID)
					var ids []uint64
					e.table.All(func(d phalanx.Decision) bool { ids = append(ids, d.ID); return true })
					if len(ids) == 0 {
						continue
					}
					slices.Sort(ids)
					d, _ := e.table.Get(ids[rng.IntN(len(ids))])
					d.Until = d.Until.Add(time.Duration(1+rng.IntN(600)) * time.Second)
					stored, replaced := e.table.Add(d)
					if replaced == nil || stored.ID != d.ID {
						t.Fatalf("extending %d: stored %d, replaced %v", d.ID, stored.ID, replaced)
					}
					e.journal.Record([]phalanx.Decision{stored}, []phalanx.Decision{*replaced})
				case op < 6: // delete
					e.journal.Record(nil, e.table.DeleteValue(p))
				case op < 7: // time passes, expiry
					e.clock.advance(time.Duration(rng.IntN(120)) * time.Second)
					e.journal.Record(nil, e.table.Expire(e.clock.now()))
				default: // a bouncer pulls
					i := rng.IntN(2)
					views[i].apply(e.pull(keys[i], false, ""))
				}
			}
			e.journal.Record(nil, e.table.Expire(e.clock.now()))
			want := e.activeValues()
			for i := range views {
				views[i].apply(e.pull(keys[i], false, ""))
				if got := views[i].sorted(); !slices.Equal(got, want) {
					t.Errorf("bouncer %d holds %v, table has %v", i, got, want)
				}
			}
		})
	}
}

// TestConcurrentRecordAndPull runs changes and pulls at once (for -race),
// then checks a final pull converges.
func TestConcurrentRecordAndPull(t *testing.T) {
	e := newEnv(t, 0)
	view := bouncerView{}
	view.apply(e.pull(e.key, true, ""))
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 500 {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)}), 32)
				now := e.clock.now()
				stored, _ := e.table.Add(phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: p, Start: now, Until: now.Add(time.Hour)})
				e.journal.Record([]phalanx.Decision{stored}, nil)
				if i%3 == 0 {
					e.journal.Record(nil, e.table.DeleteValue(p))
				}
			}
		})
	}
	done := make(chan struct{})
	var pulls []streamResp
	go func() {
		defer close(done)
		for range 50 {
			pulls = append(pulls, e.pull(e.key, false, ""))
		}
	}()
	wg.Wait()
	<-done
	for _, s := range pulls {
		view.apply(s)
	}
	view.apply(e.pull(e.key, false, ""))
	if got, want := view.sorted(), e.activeValues(); !slices.Equal(got, want) {
		t.Fatalf("bouncer holds %d values, table %d", len(got), len(want))
	}
}

func TestJournalBound(t *testing.T) {
	j := NewJournal(3)
	d := func(id uint64) phalanx.Decision { return phalanx.Decision{ID: id} }
	j.Record([]phalanx.Decision{d(1)}, nil) // v1
	c1 := j.now()
	j.Record([]phalanx.Decision{d(2)}, nil) // v2
	j.Record(nil, []phalanx.Decision{d(1)}) // v3
	if ch, _, ok := j.since(c1); !ok || len(ch) != 2 {
		t.Fatalf("since v1: %d changes, ok %v; want 2, true", len(ch), ok)
	}
	j.Record([]phalanx.Decision{d(3), d(4)}, nil) // v4: drops v1 and v2
	if _, _, ok := j.since(c1); ok {
		t.Fatal("since v1 served a delta after its changes were dropped")
	}
	c3 := cursor{Epoch: c1.Epoch, Version: 3}
	ch, upTo, ok := j.since(c3)
	if !ok || len(ch) != 2 || upTo.Version != 4 {
		t.Fatalf("since v3: %d changes up to %d, ok %v; want 2 up to 4", len(ch), upTo.Version, ok)
	}
	j.Record(nil, nil)
	if j.now().Version != 4 {
		t.Error("an empty Record moved the version")
	}
	if _, _, ok := j.since(cursor{Epoch: c1.Epoch + 2, Version: 4}); ok {
		t.Error("a cursor of another epoch was served a delta")
	}
	// A long run keeps memory bounded.
	for i := range 10000 {
		j.Record([]phalanx.Decision{d(uint64(i))}, nil)
	}
	if len(j.ring) > 2*3+1 {
		t.Errorf("ring holds %d entries for a bound of 3", len(j.ring))
	}
	// After wrapping around, a delta is the newest changes, oldest first.
	last := j.now()
	ch, _, ok = j.since(cursor{Epoch: last.Epoch, Version: last.Version - 3})
	if !ok || len(ch) != 3 {
		t.Fatalf("since the 3 newest: %d changes, ok %v", len(ch), ok)
	}
	for i, e := range ch {
		if want := uint64(10000 - 3 + i); e.d.ID != want || e.version != last.Version-2+uint64(i) {
			t.Errorf("change %d: decision %d at version %d, want %d at %d", i, e.d.ID, e.version, want, last.Version-2+uint64(i))
		}
	}
	if _, _, ok := j.since(cursor{Epoch: last.Epoch, Version: last.Version - 4}); ok {
		t.Error("a cursor before the oldest change kept was served a delta")
	}
}
