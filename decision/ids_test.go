package decision

import (
	"net/netip"
	"testing"
	"time"
)

func TestReportID(t *testing.T) {
	id := ReportID("m1", 42, 0)
	if again := ReportID("m1", 42, 0); again != id {
		t.Fatalf("ReportID is not a function of its input: %d then %d", id, again)
	}
	seen := map[uint64]string{id: "m1/42/0"}
	for _, c := range []struct {
		member string
		seq    uint64
		index  int
	}{
		{"m1", 42, 1}, {"m1", 43, 0}, {"m2", 42, 0}, {"m", 142, 0}, {"m1", 0, 0}, {"", 42, 0},
		{"m1", 1<<64 - 1, 0}, {"m1", 42, 1<<31 - 1},
	} {
		got := ReportID(c.member, c.seq, c.index)
		if !IsDerived(got) {
			t.Errorf("ReportID(%q, %d, %d) = %d: outside [StableBase, MaxID]", c.member, c.seq, c.index, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("ReportID(%q, %d, %d) = %d, the same as %s", c.member, c.seq, c.index, got, prev)
		}
		seen[got] = c.member
	}
}

func TestReportIDSpread(t *testing.T) {
	// Over many reports the IDs cover the derived range, not a corner of
	// it (a bug in the reduction would show as all IDs low or high).
	var low, high int
	mid := StableBase + (MaxID-StableBase)/2
	for seq := range uint64(2000) {
		id := ReportID("member", seq, 0)
		if !IsDerived(id) {
			t.Fatalf("ReportID(member, %d, 0) = %d: outside the derived range", seq, id)
		}
		if id < mid {
			low++
		} else {
			high++
		}
	}
	if low < 800 || high < 800 {
		t.Errorf("2000 IDs: %d in the lower half of the range, %d in the upper; want about 1000 each", low, high)
	}
}

func TestFeedID(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.0/24")
	id := FeedID("spamhaus", p)
	if !IsDerived(id) {
		t.Fatalf("FeedID = %d: outside the derived range", id)
	}
	for _, same := range []string{"192.0.2.77/24", "::ffff:192.0.2.0/120"} {
		if got := FeedID("spamhaus", netip.MustParsePrefix(same)); got != id {
			t.Errorf("FeedID of %s = %d; want %d, the ID of the same prefix normalised", same, got, id)
		}
	}
	for _, other := range []uint64{
		FeedID("other", p),
		FeedID("spamhaus", netip.MustParsePrefix("192.0.2.0/25")),
		FeedID("spamhaus", netip.MustParsePrefix("192.0.3.0/24")),
	} {
		if other == id {
			t.Errorf("another feed or prefix has the same ID %d", id)
		}
	}
}

// TestAddDerivedIDs: derived IDs are kept as given, do not move the
// counter of fresh IDs, and survive a replacement by a later-ending
// decision carrying the same ID (the self-defense ban, then the alliance
// decision from the same report).
func TestAddDerivedIDs(t *testing.T) {
	tab := NewTable()
	d := ban("192.0.2.1/32", time.Hour)
	d.ID = ReportID("m1", 7, 0)
	if s := mustAdd(t, tab, d); s.ID != d.ID {
		t.Fatalf("derived ID: stored under %d; want %d", s.ID, d.ID)
	}
	fresh := mustAdd(t, tab, ban("192.0.2.2/32", time.Hour))
	if fresh.ID != 1 {
		t.Errorf("first fresh ID after a derived one = %d; want 1", fresh.ID)
	}
	longer := ban("192.0.2.1/32", 2*time.Hour)
	longer.ID = d.ID
	s, r := tab.Add(longer)
	if r == nil || r.ID != d.ID || s.ID != d.ID || !s.Until.Equal(longer.Until) {
		t.Fatalf("later-ending decision with the same ID: stored %+v, replaced %+v", s, r)
	}
	// A derived ID that collides with another value's decision is not
	// taken over: the newcomer gets a fresh one.
	clash := ban("192.0.2.3/32", time.Hour)
	clash.ID = d.ID
	if s := mustAdd(t, tab, clash); s.ID == d.ID || IsDerived(s.ID) {
		t.Errorf("colliding derived ID: stored under %d", s.ID)
	}
	if g, ok := tab.Get(d.ID); !ok || g.Value != longer.Value {
		t.Errorf("Get(%d) after a collision = %+v, %v; want the decision on %v", d.ID, g, ok, longer.Value)
	}
	// An ID a JSON number cannot carry exactly is replaced.
	big := ban("192.0.2.4/32", time.Hour)
	big.ID = MaxID + 1
	if s := mustAdd(t, tab, big); s.ID > MaxID || IsDerived(s.ID) {
		t.Errorf("ID above MaxID: stored under %d", s.ID)
	}
}

// TestFreshIDsWrap: fresh IDs stay below StableBase, skipping those in use.
func TestFreshIDsWrap(t *testing.T) {
	tab := NewTable()
	one := ban("192.0.2.1/32", time.Hour)
	one.ID = 1
	mustAdd(t, tab, one)
	last := ban("192.0.2.2/32", time.Hour)
	last.ID = StableBase - 1
	mustAdd(t, tab, last)
	s := mustAdd(t, tab, ban("192.0.2.3/32", time.Hour))
	if s.ID != 2 {
		t.Errorf("fresh ID after StableBase-1 with 1 in use = %d; want 2", s.ID)
	}
}
