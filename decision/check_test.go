package decision

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"phalanx/benchaddr"

	"phalanx"
)

// check verifies the table's internal invariants: every index agrees with
// the entries, the heap is a heap, and the range filters cover every range.
func (t *Table) check() error {
	live, apart := 0, 0
	chains := map[key][]int32{}
	labelUse := map[int32]int32{}
	x := &t.exact
	if len(x.ents) != len(x.tags) {
		return fmt.Errorf("index has %d tags and %d entries", len(x.tags), len(x.ents))
	}
	refs := make([]int32, 0, len(t.ents)+len(x.tags))
	for i := range t.ents {
		refs = append(refs, int32(i))
	}
	for pos := range x.tags {
		refs = append(refs, xref(pos))
	}
	for _, i := range refs {
		e := t.at(i)
		if e.flags&flagLive == 0 {
			if i < none && (x.tags[xpos(i)] != 0 || *e != (entry{})) {
				return fmt.Errorf("index slot %d: tag %d on a dead entry %+v", xpos(i), x.tags[xpos(i)], *e)
			}
			continue
		}
		live++
		if v, ok := t.byID[e.id]; !ok || v != t.whereIs(i) {
			return fmt.Errorf("entry %d (id %d): byID has %#x, %v", i, e.id, v, ok)
		}
		if j, ok := t.find(e.id); !ok || j != i {
			return fmt.Errorf("entry %d (id %d): find gives %d, %v", i, e.id, j, ok)
		}
		if e.heap < 0 || int(e.heap) >= len(t.expiry) || t.expiry[e.heap] != i {
			return fmt.Errorf("entry %d: heap position %d wrong", i, e.heap)
		}
		chains[e.key()] = append(chains[e.key()], i)
		labelUse[e.label]++
		if e.flags&flagReason != 0 {
			apart++
			if _, ok := t.reasons[e.id]; !ok || t.labels[e.label].reason != "" {
				return fmt.Errorf("entry %d (id %d): reason kept apart is missing or doubled", i, e.id)
			}
		}
	}
	if apart != len(t.reasons) {
		return fmt.Errorf("%d reasons kept apart; %d entries say so", len(t.reasons), apart)
	}
	if live != t.n || len(t.byID) != t.n || len(t.expiry) != t.n {
		return fmt.Errorf("counts: live %d, n %d, byID %d, heap %d", live, t.n, len(t.byID), len(t.expiry))
	}
	for j := 1; j < len(t.expiry); j++ {
		if t.less(j, (j-1)/2) {
			return fmt.Errorf("heap out of order at %d", j)
		}
	}
	for i := t.freeSlot; i != none; i = t.ents[i].next {
		if t.ents[i].flags != 0 {
			return fmt.Errorf("free slot %d is live", i)
		}
	}
	exact, ranges := 0, 0
	for k, members := range chains {
		seen := 0
		head := t.chain(k)
		for i := head; i != none; i = t.at(i).next {
			if t.at(i).key() != k {
				return fmt.Errorf("chain of %v holds %v", k.prefix(), t.at(i).key().prefix())
			}
			// Only an address's first entry lives in the index.
			if (i < none) != (i == head && k.full()) {
				return fmt.Errorf("chain of %v: entry %d in the wrong store", k.prefix(), i)
			}
			seen++
		}
		if seen != len(members) {
			return fmt.Errorf("chain of %v has %d entries; %d stored", k.prefix(), seen, len(members))
		}
		if k.full() {
			exact++
			continue
		}
		ranges++
		first, n := t.cover(k.fam).span(k)
		for j := first; j < first+n; j++ {
			if w := t.cover(k.fam).words; w == nil || w[j>>6]&(1<<(j&63)) == 0 {
				return fmt.Errorf("range %v: block %d not marked", k.prefix(), j)
			}
		}
	}
	if t.ranges.Size() != ranges {
		return fmt.Errorf("trie holds %d prefixes; %d ranges stored", t.ranges.Size(), ranges)
	}
	used := 0
	for pos, g := range x.tags {
		if g == 0 {
			continue
		}
		used++
		e := &x.ents[pos]
		if e.flags&flagLive == 0 || !e.key().full() {
			return fmt.Errorf("index slot %d does not hold a live address", pos)
		}
		h := t.entryHash(e)
		if tagOf(h) != g {
			return fmt.Errorf("index slot %d: stale tag", pos)
		}
		for q := x.home(h); q != pos; q = x.next(q) {
			if x.tags[q] == 0 {
				return fmt.Errorf("index slot %d unreachable from its home %d", pos, x.home(h))
			}
		}
	}
	if used != x.n || used != exact {
		return fmt.Errorf("index holds %d slots, counts %d; %d addresses stored", used, x.n, exact)
	}
	if x.n > 0 && 5*x.n > 4*len(x.tags) {
		return fmt.Errorf("index over 4/5 full: %d of %d", x.n, len(x.tags))
	}
	for i, refs := range t.labelRefs {
		if refs != labelUse[int32(i)] {
			return fmt.Errorf("label %d: %d references counted, %d used", i, refs, labelUse[int32(i)])
		}
	}
	return nil
}

func TestExactIndexChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tab := NewTable()
	present := map[netip.Addr]uint64{}
	for round := range 4 {
		for range 3000 {
			a := benchaddr.Public(rng, rng.IntN(2) == 0)
			if _, ok := present[a]; ok {
				continue
			}
			present[a] = mustAdd(t, tab, ban(netip.PrefixFrom(a, a.BitLen()).String(), time.Hour)).ID
		}
		for a, id := range present {
			if rng.IntN(2) == 0 {
				if _, ok := tab.Delete(id); !ok {
					t.Fatalf("Delete(%d) for %v failed", id, a)
				}
				delete(present, a)
			}
		}
		if err := tab.check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	for a, id := range present {
		if d, ok := tab.Lookup(a, t0); !ok || d.ID != id {
			t.Fatalf("Lookup(%v) = %d, %v; want %d", a, d.ID, ok, id)
		}
		b := a.Next() // almost surely not stored
		if _, ok := present[b]; !ok {
			if d, ok := tab.Lookup(b, t0); ok {
				t.Fatalf("Lookup(%v) found %+v", b, d)
			}
		}
	}
}

func TestRangeFilter(t *testing.T) {
	tab := NewTable()
	add := func(v string) uint64 { return mustAdd(t, tab, ban(v, time.Hour)).ID }
	wide := add("10.0.0.0/12")   // 16 blocks
	inner := add("10.1.2.0/24")  // inside the /12, one block
	other := add("192.0.2.0/28") // one block elsewhere
	v6 := add("2001:db8:1::/48")
	v6wide := add("2001::/16")

	probe := func(addr string, want bool) {
		t.Helper()
		_, ok := tab.Lookup(netip.MustParseAddr(addr), t0)
		if ok != want {
			t.Errorf("Lookup(%s) found %v; want %v", addr, ok, want)
		}
	}
	probe("10.15.255.255", true)
	probe("10.16.0.0", false)
	tab.Delete(wide)
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
	probe("10.1.2.3", true) // the /24 inside still counts
	probe("10.2.0.1", false)
	if tab.cover4.has(uint64(key4(netip.MustParseAddr("10.2.0.1"))) << 32) {
		t.Error("block of 10.2.0.1 still marked after its only range went")
	}
	tab.Delete(inner)
	tab.Delete(other)
	for _, w := range tab.cover4.words {
		if w != 0 {
			t.Fatal("IPv4 filter not empty with no IPv4 ranges")
		}
	}
	probe("2001:db8:1::5", true)
	probe("2001:ffff::5", true) // the /16
	tab.Delete(v6wide)
	probe("2001:ffff::5", false)
	probe("2001:db8:1::5", true)
	tab.Delete(v6)
	for _, w := range tab.cover6.words {
		if w != 0 {
			t.Fatal("IPv6 filter not empty with no IPv6 ranges")
		}
	}
	// A /0 marks and clears every block.
	all := add("0.0.0.0/0")
	probe("203.0.113.9", true)
	tab.Delete(all)
	probe("203.0.113.9", false)
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckAndZones(t *testing.T) {
	tab := NewTable()
	d := ban("fe80::1/128", time.Hour)
	d.Type = "captcha"
	s := mustAdd(t, tab, d)
	got, ok := tab.Lookup(netip.MustParseAddr("fe80::1%eth0"), t0)
	if !ok || got != s {
		t.Errorf("Lookup(zoned) = %+v, %v; want %+v", got, ok, s)
	}
	if id, typ, ok := tab.Check(netip.MustParseAddr("fe80::1%a-very-long-zone-name-indeed"), t0); !ok || id != s.ID || typ != "captcha" {
		t.Errorf("Check(zoned) = %d, %q, %v", id, typ, ok)
	}
	if _, _, ok := tab.Check(netip.MustParseAddr("fe80::2"), t0); ok {
		t.Error("Check(fe80::2) found a decision")
	}
	if got := tab.Covering(netip.MustParseAddr("fe80::1%eth0"), t0); len(got) != 1 || got[0] != s {
		t.Errorf("Covering(zoned) = %+v", got)
	}
}

func TestLookupAllocates(t *testing.T) {
	tab := NewTable()
	mustAdd(t, tab, ban("192.0.2.1/32", time.Hour))
	mustAdd(t, tab, ban("2001:db8::/64", time.Hour))
	var d phalanx.Decision
	for _, a := range []string{"192.0.2.1", "2001:db8::1", "198.51.100.1"} {
		addr := netip.MustParseAddr(a)
		if n := testing.AllocsPerRun(100, func() { d, _ = tab.Lookup(addr, t0) }); n != 0 {
			t.Errorf("Lookup(%s) allocates %v times", a, n)
		}
	}
	_ = d
}

func TestEntrySize(t *testing.T) {
	// The layout comment on entry, the memory budget and the one-line
	// read in exactHead all assume 64 bytes.
	if n := unsafe.Sizeof(entry{}); n != 64 {
		t.Errorf("entry is %d bytes; want 64", n)
	}
}

// All must see every decision stored throughout exactly once even when the
// exact index grows and shifts entries between its chunks.
func TestAllWhileIndexMoves(t *testing.T) {
	tab := NewTable()
	want := map[uint64]bool{}
	for i := range 3 * allChunk {
		d := mustAdd(t, tab, ban(fmt.Sprintf("10.1.%d.%d/32", i/256, i%256), time.Hour))
		want[d.ID] = true
		if i%3 == 0 { // a second Type, so that deletes promote chain tails
			c := ban(fmt.Sprintf("10.1.%d.%d/32", i/256, i%256), time.Hour)
			c.Type = "captcha"
			want[mustAdd(t, tab, c).ID] = true
		}
	}
	seen := map[uint64]int{}
	added, grew := 0, 0
	tab.All(func(d phalanx.Decision) bool {
		seen[d.ID]++
		if want[d.ID] && d.Type == "ban" && d.ID%3 == 0 {
			tab.Delete(d.ID) // shifts or promotes
			delete(want, d.ID)
		}
		if len(seen)%8 != 0 {
			return true
		}
		size := len(tab.exact.tags)
		for range 40 { // enough to make the index grow a few times
			a := netip.AddrFrom4([4]byte{10, 2, byte(added >> 8), byte(added)})
			mustAdd(t, tab, ban(netip.PrefixFrom(a, 32).String(), time.Hour))
			added++
		}
		if len(tab.exact.tags) != size {
			grew++
		}
		return true
	})
	if grew == 0 {
		t.Fatal("the index never grew during All; the test proves nothing")
	}
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("decision %d seen %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("decision %d seen %d times", id, n)
		}
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}

// Past maxLabels labels, new reasons are kept apart; every path must still
// return them and drop them.
func TestManyReasons(t *testing.T) {
	tab := NewTable()
	n := maxLabels + 300
	ids := make([]uint64, n)
	for i := range n {
		d := ban(fmt.Sprintf("10.3.%d.%d/32", i/256, i%256), time.Hour)
		d.Reason = fmt.Sprintf("reason %d", i)
		ids[i] = mustAdd(t, tab, d).ID
	}
	if len(tab.reasons) != n-maxLabels {
		t.Fatalf("%d reasons apart, %d labels: the cap did not apply", len(tab.reasons), len(tab.labelIdx))
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
	want := func(i int) string { return fmt.Sprintf("reason %d", i) }
	for _, i := range []int{0, maxLabels - 1, maxLabels, n - 1} {
		a := netip.AddrFrom4([4]byte{10, 3, byte(i / 256), byte(i % 256)})
		if d, ok := tab.Lookup(a, t0); !ok || d.Reason != want(i) {
			t.Errorf("Lookup(%v).Reason = %q; want %q", a, d.Reason, want(i))
		}
		if d, ok := tab.Get(ids[i]); !ok || d.Reason != want(i) {
			t.Errorf("Get(%d).Reason = %q; want %q", ids[i], d.Reason, want(i))
		}
	}
	// A later decision replacing one with its reason apart.
	r := maxLabels + 100 // kept apart
	d := ban(fmt.Sprintf("10.3.%d.%d/32", r/256, r%256), 2*time.Hour)
	d.Reason = "replacement"
	if s, old := tab.Add(d); old == nil || s.Reason != "replacement" || old.Reason != want(r) {
		t.Errorf("Add replaced %+v with %+v", old, s)
	}
	seen := 0
	tab.All(func(d phalanx.Decision) bool {
		if d.Reason == "" {
			t.Errorf("All gave %d without its reason", d.ID)
		}
		seen++
		return true
	})
	if seen != n {
		t.Errorf("All gave %d decisions; want %d", seen, n)
	}
	for _, id := range ids {
		tab.Delete(id)
	}
	tab.DeleteValue(d.Value)
	if tab.Len() != 0 || len(tab.reasons) != 0 || len(tab.labelIdx) != 0 {
		t.Errorf("after deleting all: Len %d, reasons apart %d, labels %d", tab.Len(), len(tab.reasons), len(tab.labelIdx))
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}
