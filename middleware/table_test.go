package middleware

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"phalanx/benchaddr"
)

// model is the obvious copy of the bans: a map from prefix to until.
type model map[netip.Prefix]uint32

// banned reports whether a is banned at now by its own ban or by one on
// any of ranges (the only ones the model may hold).
func (m model) banned(a netip.Addr, now uint32, ranges []netip.Prefix) bool {
	a = a.Unmap()
	if m[netip.PrefixFrom(a, a.BitLen())] > now {
		return true
	}
	for _, p := range ranges {
		if p.Contains(a) && m[p] > now {
			return true
		}
	}
	return false
}

func (m model) apply(added []ban, deleted []netip.Prefix) {
	gone := map[netip.Prefix]bool{}
	for _, p := range deleted {
		gone[p] = true
	}
	replaced := map[netip.Prefix]uint32{}
	for _, b := range added {
		if gone[b.value] {
			replaced[b.value] = max(replaced[b.value], b.until)
		}
	}
	for p := range gone {
		if u, ok := replaced[p]; ok {
			m[p] = u
		} else {
			delete(m, p)
		}
	}
	for _, b := range added {
		if !gone[b.value] {
			m[b.value] = max(m[b.value], b.until)
		}
	}
}

func (m model) sweep(now uint32) {
	for p, u := range m {
		if u <= now {
			delete(m, p)
		}
	}
}

// universe is a small set of addresses and ranges, so that random changes
// hit the same keys often, and large enough to make the indexes grow,
// shrink and fill with dead slots.
type universe struct {
	addrs  []netip.Addr
	ranges []netip.Prefix
	probes []netip.Addr // addresses to check: the banned ones, others in and out of the ranges
}

func newUniverse(rng *rand.Rand) *universe {
	u := &universe{}
	for range 400 {
		u.addrs = append(u.addrs, benchaddr.Public(rng, true), benchaddr.Public(rng, false))
	}
	for range 40 {
		for _, v4 := range []bool{true, false} {
			a := benchaddr.Public(rng, v4)
			p := netip.PrefixFrom(a, benchaddr.RangeBits(rng, v4)).Masked()
			u.ranges = append(u.ranges, p)
			u.probes = append(u.probes, p.Addr(), benchaddr.In(rng, p))
		}
	}
	u.probes = append(u.probes, u.addrs...)
	for range 200 {
		u.probes = append(u.probes, benchaddr.Public(rng, rng.IntN(2) == 0))
	}
	return u
}

func (u *universe) randBan(rng *rand.Rand, now uint32) ban {
	var p netip.Prefix
	if rng.IntN(8) == 0 {
		p = u.ranges[rng.IntN(len(u.ranges))]
	} else {
		a := u.addrs[rng.IntN(len(u.addrs))]
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return ban{p, now + 1 + uint32(rng.IntN(100))}
}

// TestTableMatchesModel makes random changes to a table and to the model,
// and checks after each that both ban the same addresses.
func TestTableMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	u := newUniverse(rng)
	tab, m := newTable(), model{}
	var now atomic.Uint32
	now.Store(1_000_000)
	clock := func() time.Time { return time.Unix(int64(now.Load()), 0) }
	grew4 := 0
	for step := range 3000 {
		n := now.Load()
		switch op := rng.IntN(20); {
		case op == 0: // a startup pull
			var bans []ban
			for range rng.IntN(300) {
				bans = append(bans, u.randBan(rng, n))
			}
			tab.replace(bans)
			m = model{}
			m.apply(bans, nil)
		case op == 1:
			now.Add(uint32(rng.IntN(30)))
		case op == 2:
			n := now.Load()
			tab.sweep(time.Unix(int64(n), 0))
			m.sweep(n)
		default: // a delta
			var added []ban
			var deleted []netip.Prefix
			for range rng.IntN(20) {
				added = append(added, u.randBan(rng, n))
			}
			for range rng.IntN(10) {
				if rng.IntN(2) == 0 && len(added) > 0 {
					deleted = append(deleted, added[rng.IntN(len(added))].value) // a replacement
				} else {
					deleted = append(deleted, u.randBan(rng, n).value)
				}
			}
			tab.apply(added, deleted)
			m.apply(added, deleted)
		}
		if len(tab.v4.Load().slots) > minSlots {
			grew4++
		}
		n = now.Load()
		for _, a := range u.probes {
			if got, want := tab.banned(a, clock), m.banned(a, n, u.ranges); got != want {
				t.Fatalf("step %d: banned(%s) = %v, model says %v", step, a, got, want)
			}
		}
	}
	if grew4 == 0 {
		t.Error("the IPv4 index never grew: the test does not exercise rebuilds")
	}
}

// TestTableAddressForms checks that an address is found in every form a
// client address comes in.
func TestTableAddressForms(t *testing.T) {
	tab := newTable()
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	until := unixUntil(now.Add(time.Hour))
	tab.apply([]ban{
		{netip.MustParsePrefix("192.0.2.1/32"), until},
		{netip.MustParsePrefix("2001:db8::1/128"), until},
		{netip.MustParsePrefix("198.51.100.0/24"), until},
		{netip.MustParsePrefix("2001:db8:1::/48"), until},
	}, nil)
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", true},
		{"192.0.2.2", false},
		{"2001:db8::1", true},
		{"2001:db8::1%eth0", true},
		{"2001:db8::2", false},
		{"198.51.100.77", true},
		{"::ffff:198.51.100.77", true},
		{"198.51.101.1", false},
		{"2001:db8:1:ffff::9", true},
		{"2001:db8:2::9", false},
		{"0.0.0.0", false},
		{"::", false},
	} {
		if got := tab.banned(netip.MustParseAddr(tc.addr), clock); got != tc.want {
			t.Errorf("banned(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if tab.banned(netip.Addr{}, clock) {
		t.Error("the zero Addr is banned")
	}
	// A ban ends at its until, to the second.
	end := now.Add(time.Hour)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{end.Add(-time.Second), true}, {end, false}} {
		now = tc.at
		if got := tab.banned(netip.MustParseAddr("198.51.100.77"), clock); got != tc.want {
			t.Errorf("at %v: banned = %v, want %v", tc.at, got, tc.want)
		}
		if got := tab.banned(netip.MustParseAddr("192.0.2.1"), clock); got != tc.want {
			t.Errorf("at %v: banned = %v, want %v", tc.at, got, tc.want)
		}
	}
}

// TestTableEndedRangeUnderActiveOne checks that a range that has ended but
// is not swept yet does not hide a shorter one that is still active.
func TestTableEndedRangeUnderActiveOne(t *testing.T) {
	tab := newTable()
	now := time.Unix(1_000_000, 0)
	tab.apply([]ban{
		{netip.MustParsePrefix("10.0.0.0/8"), unixUntil(now.Add(2 * time.Hour))},
		{netip.MustParsePrefix("10.1.0.0/16"), unixUntil(now.Add(time.Hour))},
	}, nil)
	later := func() time.Time { return now.Add(90 * time.Minute) }
	if !tab.banned(netip.MustParseAddr("10.1.2.3"), later) {
		t.Error("10.1.2.3 is not banned by the active 10.0.0.0/8 while 10.1.0.0/16 has ended")
	}
}

// TestTableConcurrentReads reads while the writer changes the table, grows
// and shrinks its indexes and replaces it; run with -race. A ban that is
// never touched must be seen at every read.
func TestTableConcurrentReads(t *testing.T) {
	tab := newTable()
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	until, fixedUntil := unixUntil(now.Add(time.Hour)), unixUntil(now.Add(3*time.Hour))
	fixed := []ban{
		{netip.MustParsePrefix("192.0.2.1/32"), fixedUntil},
		{netip.MustParsePrefix("2001:db8::1/128"), fixedUntil},
		{netip.MustParsePrefix("198.51.100.0/24"), fixedUntil},
	}
	tab.replace(fixed)
	probes := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.51.100.9")}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var misses atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, a := range probes {
					if !tab.banned(a, clock) {
						misses.Add(1)
					}
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var added []ban
		var deleted []netip.Prefix
		for range 50 {
			a := benchaddr.Public(rng, rng.IntN(2) == 0)
			added = append(added, ban{netip.PrefixFrom(a, a.BitLen()), until})
			if rng.IntN(4) == 0 {
				deleted = append(deleted, netip.PrefixFrom(a, a.BitLen()).Masked())
			}
			if rng.IntN(10) == 0 {
				added = append(added, ban{netip.PrefixFrom(a, 20+rng.IntN(8)).Masked(), until})
			}
		}
		tab.apply(added, deleted)
		switch round % 50 {
		case 25:
			tab.replace(fixed)
		case 49:
			tab.sweep(now.Add(2 * time.Hour)) // all but the fixed bans end: the indexes shrink
		}
	}
	close(stop)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("a ban that never changed was missed %d times", n)
	}
}
