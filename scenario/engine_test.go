package scenario

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func oneScenario(s Spec) Config {
	c := leakyConfig()
	c.Scenarios = []Spec{s}
	return c
}

func mustNew(t testing.TB, c Config) *Engine {
	t.Helper()
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// leakyConfig is DefaultConfig with ssh-bf and ssh-slow-bf as the leaky
// buckets of CrowdSec's shape (capacity 5, leak 10s; capacity 10, leak 1m)
// that the leaky-bucket tests below were written for.
func leakyConfig() Config {
	c := DefaultConfig()
	for i := range c.Scenarios {
		switch s := &c.Scenarios[i]; s.Name {
		case "ssh-bf":
			s.Type, s.Capacity, s.Leak, s.Window = TypeLeaky, 5, 10*time.Second, 0
		case "ssh-slow-bf":
			s.Type, s.Capacity, s.Leak, s.Window = TypeLeaky, 10, time.Minute, 0
		}
	}
	return c
}

func spec(name string) Spec {
	for _, s := range leakyConfig().Scenarios {
		if s.Name == name {
			return s
		}
	}
	panic("no default scenario " + name)
}

// feed observes evs in order and returns, for each alert, the index of the
// event that raised it, plus the alerts.
func feed(e *Engine, evs []phalanx.Event) ([]int, []phalanx.Alert) {
	var idx []int
	var all []phalanx.Alert
	var buf []phalanx.Alert
	for i := range evs {
		buf = e.Observe(&evs[i], buf[:0])
		for range buf {
			idx = append(idx, i)
		}
		all = append(all, buf...)
	}
	return idx, all
}

// series returns one event per offset, numbered from line 1.
func series(kind phalanx.Kind, src string, offsets ...time.Duration) []phalanx.Event {
	evs := make([]phalanx.Event, len(offsets))
	for i, d := range offsets {
		evs[i] = phalanx.Event{Time: at(d), Service: "sshd", Kind: kind, Source: netip.MustParseAddr(src), User: "root", Line: int64(i + 1)}
	}
	return evs
}

// every returns n offsets step apart starting at start.
func every(start, step time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = start + time.Duration(i)*step
	}
	return out
}

func TestLeakyFiringPoints(t *testing.T) {
	bf := spec("ssh-bf") // capacity 5, leak 10s, blackhole 1m
	noBlackhole := bf
	noBlackhole.Blackhole = 0
	tests := []struct {
		name    string
		spec    Spec
		offsets []time.Duration
		want    []int // indexes of the events that fire
	}{
		{"five at once do not fire", bf, every(0, 0, 5), nil},
		{"sixth at once fires", bf, every(0, 0, 6), []int{5}},
		// six events 1.9 s apart span 9.5 s: level 6 − 0.95 = 5.05 > 5.
		{"six within 10s fire on the sixth", bf, every(0, 1900*time.Millisecond, 6), []int{5}},
		// six events 2 s apart span exactly 10 s: level 6 − 1 = 5, not above 5;
		// the seventh at 12 s makes 7 − 1.2 = 5.8.
		{"six spanning exactly 10s do not fire", bf, every(0, 2*time.Second, 7), []int{6}},
		{"one per leak never fires", bf, every(0, 10*time.Second, 500), nil},
		// one event per 9 s: level after n events is n − (n−1)·0.9 = 0.1n + 0.9,
		// above 5 first at n = 42.
		{"slightly faster than the leak fires eventually", bf, every(0, 9*time.Second, 60), []int{41}},
		// one per second for 131 s: the 6th (t=5s) fires; the blackhole runs to
		// 65 s with the level held at 5, so the event at 65 s fires, then 125 s.
		{"blackhole suppresses then re-fires", bf, every(0, time.Second, 131), []int{5, 65, 125}},
		// without a blackhole a bucket empties when it fires and refills: one
		// per second fires every 6 events (0.9k+0.1 > 5 at k = 6).
		{"no blackhole refills from empty", noBlackhole, every(0, time.Second, 18), []int{5, 11, 17}},
		{"slow-bf eleventh within a minute", spec("ssh-slow-bf"), every(0, 5*time.Second, 11), []int{10}},
		{"probe twentieth does not fire", spec("ssh-probe"), every(0, 0, 20), nil},
		{"probe twenty-first fires", spec("ssh-probe"), every(0, 0, 21), []int{20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, oneScenario(tt.spec))
			kind := tt.spec.Kinds[0]
			idx, alerts := feed(e, series(kind, "192.0.2.7", tt.offsets...))
			if !slices.Equal(idx, tt.want) {
				t.Fatalf("fired at %v, want %v", idx, tt.want)
			}
			if got := e.Stats().Alerts; got != uint64(len(tt.want)) {
				t.Errorf("Stats().Alerts = %d, want %d", got, len(tt.want))
			}
			for i, a := range alerts {
				checkAlert(t, a, tt.spec.Name, "192.0.2.7/32", int64(idx[i]+1))
			}
		})
	}
}

// checkAlert checks what every alert must satisfy.
func checkAlert(t *testing.T, a phalanx.Alert, scenario, source string, lastLine int64) {
	t.Helper()
	if a.Scenario != scenario || a.Source.String() != source {
		t.Errorf("alert %s %s, want %s %s", a.Scenario, a.Source, scenario, source)
	}
	if !a.Source.Contains(a.Addr) {
		t.Errorf("alert Addr %s not inside Source %s", a.Addr, a.Source)
	}
	if a.Last.Before(a.First) {
		t.Errorf("alert Last %v before First %v", a.Last, a.First)
	}
	if len(a.Evidence) == 0 || len(a.Evidence) > MaxEvidence || len(a.Evidence) > a.Count {
		t.Errorf("alert has %d evidence lines for count %d", len(a.Evidence), a.Count)
	} else if got := a.Evidence[len(a.Evidence)-1]; got != lastLine {
		t.Errorf("last evidence line %d, want %d (the firing event)", got, lastLine)
	}
	if !slices.IsSorted(a.Evidence) {
		t.Errorf("evidence %v not oldest first", a.Evidence)
	}
}

func TestLeakyAlertContents(t *testing.T) {
	e := mustNew(t, oneScenario(spec("ssh-bf")))
	evs := series(phalanx.KindAuthFailure, "198.51.100.9", every(0, time.Second, 6)...)
	_, alerts := feed(e, evs)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if !a.First.Equal(at(0)) || !a.Last.Equal(at(5*time.Second)) || a.Count != 6 {
		t.Errorf("alert First %v Last %v Count %d, want %v %v 6", a.First, a.Last, a.Count, at(0), at(5*time.Second))
	}
	if want := []int64{1, 2, 3, 4, 5, 6}; !slices.Equal(a.Evidence, want) {
		t.Errorf("evidence %v, want %v", a.Evidence, want)
	}

	// A long burst keeps only the most recent lines: ssh-probe's ring holds 16.
	e = mustNew(t, oneScenario(spec("ssh-probe")))
	_, alerts = feed(e, series(phalanx.KindProbe, "198.51.100.9", every(0, 0, 21)...))
	if len(alerts) != 1 || alerts[0].Count != 21 {
		t.Fatalf("got %+v, want one alert counting 21", alerts)
	}
	var want []int64
	for l := int64(21 - MaxEvidence + 1); l <= 21; l++ {
		want = append(want, l)
	}
	if !slices.Equal(alerts[0].Evidence, want) {
		t.Errorf("evidence %v, want %v", alerts[0].Evidence, want)
	}
}

func TestOutOfOrder(t *testing.T) {
	e := mustNew(t, oneScenario(spec("ssh-bf")))
	// Five in order, then one stamped 30 s earlier: it counts at the bucket's
	// clock (4 s), so six within 4 s fire.
	evs := series(phalanx.KindAuthFailure, "192.0.2.1", 0, time.Second, 2*time.Second, 3*time.Second, 4*time.Second, -30*time.Second)
	idx, alerts := feed(e, evs)
	if !slices.Equal(idx, []int{5}) {
		t.Fatalf("fired at %v, want [5]", idx)
	}
	if alerts[0].Last.Before(alerts[0].First) || !alerts[0].Last.Equal(at(4*time.Second)) {
		t.Errorf("alert First %v Last %v: time went back", alerts[0].First, alerts[0].Last)
	}
	if got := e.Stats().Late; got != 1 {
		t.Errorf("Stats().Late = %d, want 1", got)
	}

	// Wild times, zero times and reversed series never panic and never
	// produce an alert whose Last is before its First.
	e = mustNew(t, DefaultConfig())
	times := []time.Time{{}, time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), t0, t0.Add(-time.Hour)}
	var buf []phalanx.Alert
	for i := range 300 {
		ev := phalanx.Event{Service: "sshd", Time: times[i%len(times)], Kind: phalanx.Kind(1 + i%5), Source: netip.MustParseAddr("2001:db8::1"), User: fmt.Sprint("u", i%7), Line: int64(i + 1)}
		buf = e.Observe(&ev, buf[:0])
		for _, a := range buf {
			if a.Last.Before(a.First) {
				t.Fatalf("alert %+v: Last before First", a)
			}
		}
	}
}

func TestDistinct(t *testing.T) {
	enum := spec("ssh-user-enum") // capacity 5, leak 2m: users remembered 10 minutes
	type try struct {
		off  time.Duration
		user string
	}
	tests := []struct {
		name  string
		tries []try
		want  []int
	}{
		{"four users do not fire", []try{{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}}, nil},
		{"fifth user fires", []try{{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}, {4, "e"}}, []int{4}},
		{"repeats of one user never fire", []try{{0, "a"}, {1, "a"}, {2, "a"}, {3, "a"}, {4, "a"}, {5, "a"}, {6, "a"}}, nil},
		{"repeats do not count twice", []try{{0, "a"}, {1, "b"}, {2, "a"}, {3, "b"}, {4, "c"}, {5, "d"}, {6, "e"}}, []int{6}},
		{"events without a user do not count", []try{{0, "a"}, {1, ""}, {2, ""}, {3, "b"}, {4, "c"}, {5, ""}, {6, "d"}}, nil},
		// a is forgotten at 10m (seen+window); at 10m30s only b..e remain.
		{"users expire after the window", []try{{0, "a"}, {time.Minute, "b"}, {2 * time.Minute, "c"}, {3 * time.Minute, "d"}, {10*time.Minute + 30*time.Second, "e"}}, nil},
		{"after expiry a new fifth fires", []try{{0, "a"}, {time.Minute, "b"}, {2 * time.Minute, "c"}, {3 * time.Minute, "d"}, {10*time.Minute + 30*time.Second, "e"}, {10*time.Minute + 40*time.Second, "f"}}, []int{5}},
		// a's repeat at 9m keeps it until 19m, so e at 11m makes five.
		{"a repeat refreshes the user", []try{{0, "a"}, {5 * time.Minute, "b"}, {5 * time.Minute, "c"}, {5 * time.Minute, "d"}, {9 * time.Minute, "a"}, {11 * time.Minute, "e"}}, []int{5}},
		{"exactly at the window the user is gone", []try{{0, "a"}, {time.Second, "b"}, {time.Second, "c"}, {time.Second, "d"}, {10 * time.Minute, "e"}}, nil},
		// fires at e (4s); f..j within the 1m blackhole are suppressed with the
		// set held below 5, so the next new user after 64s fires.
		{"blackhole", []try{{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}, {4 * time.Second, "e"},
			{10 * time.Second, "f"}, {11 * time.Second, "g"}, {12 * time.Second, "h"}, {13 * time.Second, "i"}, {14 * time.Second, "j"},
			{63 * time.Second, "k"}, {70 * time.Second, "l"}}, []int{4, 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, oneScenario(enum))
			evs := make([]phalanx.Event, len(tt.tries))
			for i, tr := range tt.tries {
				evs[i] = phalanx.Event{Time: at(tr.off), Service: "sshd", Kind: phalanx.KindInvalidUser, Source: netip.MustParseAddr("203.0.113.5"), User: tr.user, Line: int64(i + 1)}
			}
			idx, alerts := feed(e, evs)
			if !slices.Equal(idx, tt.want) {
				t.Fatalf("fired at %v, want %v", idx, tt.want)
			}
			for i, a := range alerts {
				checkAlert(t, a, "ssh-user-enum", "203.0.113.5/32", int64(idx[i]+1))
				if a.Count != enum.Capacity || len(a.Evidence) != enum.Capacity {
					t.Errorf("alert Count %d with %d evidence lines, want %d distinct users", a.Count, len(a.Evidence), enum.Capacity)
				}
			}
		})
	}
}

func TestGrouping(t *testing.T) {
	bf := spec("ssh-bf")
	tests := []struct {
		name     string
		v6bits   int
		sources  []string
		want     string // alert source, "" for none
		wantAddr string
	}{
		{"one /64, many addresses", 64, []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9", "2001:db8:1:2::1", "2001:db8:1:2::3", "2001:db8:1:2::4"}, "2001:db8:1:2::/64", "2001:db8:1:2::4"},
		{"per address at /128", 128, []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3", "2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "", ""},
		{"/48 grouping", 48, []string{"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:4::1", "2001:db8:1:5::1", "2001:db8:1:6::1", "2001:db8:1:7::1"}, "2001:db8:1::/48", "2001:db8:1:7::1"},
		{"different /64s stay apart", 64, []string{"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:2::1", "2001:db8:1:3::1"}, "", ""},
		{"IPv4 per address", 64, []string{"192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.2"}, "", ""},
		{"IPv4-mapped is IPv4", 64, []string{"::ffff:192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1", "::ffff:192.0.2.1"}, "192.0.2.1/32", "192.0.2.1"},
		{"zones are dropped", 128, []string{"fe80::1%eth0", "fe80::1", "fe80::1%eth1", "fe80::1", "fe80::1", "fe80::1%x"}, "fe80::1/128", "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneScenario(bf)
			c.IPv6Prefix = tt.v6bits
			e := mustNew(t, c)
			var alerts []phalanx.Alert
			for i, src := range tt.sources {
				ev := phalanx.Event{Service: "sshd", Time: t0, Kind: phalanx.KindAuthFailure, Source: netip.MustParseAddr(src), Line: int64(i + 1)}
				alerts = e.Observe(&ev, alerts)
			}
			if tt.want == "" {
				if len(alerts) != 0 {
					t.Fatalf("got alerts %+v, want none", alerts)
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("got %d alerts, want 1 for %s", len(alerts), tt.want)
			}
			checkAlert(t, alerts[0], "ssh-bf", tt.want, int64(len(tt.sources)))
			if alerts[0].Addr.String() != tt.wantAddr {
				t.Errorf("alert Addr %s, want %s", alerts[0].Addr, tt.wantAddr)
			}
		})
	}
}

func TestScenarioSelection(t *testing.T) {
	c := DefaultConfig()
	c.Scenarios = []Spec{{Name: "web-only", Kinds: []phalanx.Kind{phalanx.KindProbe}, Services: []string{"nginx"}, Type: TypeLeaky, Capacity: 1, Leak: time.Minute}}
	e := mustNew(t, c)
	var alerts []phalanx.Alert
	for i, svc := range []string{"sshd", "sshd", "sshd", "nginx", "nginx"} {
		ev := phalanx.Event{Time: t0, Service: svc, Kind: phalanx.KindProbe, Source: netip.MustParseAddr("192.0.2.9"), Line: int64(i + 1)}
		alerts = e.Observe(&ev, alerts)
	}
	if len(alerts) != 1 || alerts[0].Evidence[0] != 4 {
		t.Fatalf("got %+v, want one alert from the two nginx lines (4, 5)", alerts)
	}
	// Kinds nobody counts and invalid sources create no group.
	for _, ev := range []phalanx.Event{
		{Time: t0, Service: "nginx", Kind: phalanx.KindAuthFailure, Source: netip.MustParseAddr("192.0.2.10")},
		{Time: t0, Service: "nginx", Kind: phalanx.Kind(200), Source: netip.MustParseAddr("192.0.2.11")},
		{Time: t0, Service: "nginx", Kind: phalanx.KindProbe},
	} {
		e.Observe(&ev, nil)
	}
	e.Observe(nil, nil)
	if s := e.Stats(); s.Sources != 1 || s.Invalid != 1 || s.Events != 9 || s.Counted != 2 {
		t.Errorf("stats %+v, want 1 source, 1 invalid, 9 events, 2 counted", s)
	}
}

// TestLegitimateUsersNeverFire runs a week of ordinary mistakes through the
// default scenarios.
func TestLegitimateUsersNeverFire(t *testing.T) {
	e := mustNew(t, leakyConfig())
	var evs []phalanx.Event
	add := func(d time.Duration, kind phalanx.Kind, src, user string) {
		evs = append(evs, phalanx.Event{Time: at(d), Service: "sshd", Kind: kind, Source: netip.MustParseAddr(src), User: user, Line: int64(len(evs) + 1)})
	}
	for h := range 7 * 24 {
		base := time.Duration(h) * time.Hour
		// An admin mistypes her password twice at every hourly log-in.
		add(base, phalanx.KindAuthFailure, "192.0.2.50", "alice")
		add(base+3*time.Second, phalanx.KindAuthFailure, "192.0.2.50", "alice")
		// A colleague forgets his user name once, then types it right but
		// mistypes the password, from an IPv6 office /64.
		add(base+time.Minute, phalanx.KindInvalidUser, "2001:db8:aa::10", "bbo")
		add(base+time.Minute, phalanx.KindAuthFailure, "2001:db8:aa::10", "bbo")
		add(base+time.Minute+5*time.Second, phalanx.KindAuthFailure, "2001:db8:aa::11", "bob")
		// A script's key is refused after the server restarted.
		add(base+2*time.Minute, phalanx.KindPreauthClose, "198.51.100.20", "deploy")
	}
	// Monitoring checks that close before authenticating: every 15 s and
	// every minute, for a week.
	for d := time.Duration(0); d < 7*24*time.Hour; d += 15 * time.Second {
		add(d, phalanx.KindPreauthClose, "198.51.100.30", "")
		if d%time.Minute == 0 {
			add(d, phalanx.KindProbe, "198.51.100.31", "")
		}
	}
	slices.SortStableFunc(evs, func(a, b phalanx.Event) int { return a.Time.Compare(b.Time) })
	idx, alerts := feed(e, evs)
	if len(idx) != 0 {
		t.Fatalf("legitimate traffic raised %d alerts, first %+v", len(idx), alerts[0])
	}
	// The same mistakes, made quickly by an attacker, do fire: the test can fail.
	idx, _ = feed(e, series(phalanx.KindAuthFailure, "192.0.2.50", every(8*24*time.Hour, time.Second, 6)...))
	if len(idx) != 1 {
		t.Fatalf("six quick failures raised %d alerts, want 1", len(idx))
	}
}

func TestIdleEviction(t *testing.T) {
	e := mustNew(t, leakyConfig())
	// 1000 sources fail once each.
	for i := range 1000 {
		ev := phalanx.Event{Service: "sshd", Time: at(time.Duration(i) * time.Millisecond), Kind: phalanx.KindAuthFailure, Source: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), User: "root"}
		e.Observe(&ev, nil)
	}
	if got := e.Stats().Sources; got != 1000 {
		t.Fatalf("Sources = %d, want 1000", got)
	}
	// A source in a blackhole stays tracked past its buckets' drain.
	burst := series(phalanx.KindAuthFailure, "192.0.2.77", every(2*time.Second, 0, 6)...)
	if idx, _ := feed(e, burst); len(idx) != 1 {
		t.Fatalf("burst raised %d alerts, want 1", len(idx))
	}
	// Twelve minutes later every one-shot source is idle (the longest window
	// is ssh-user-enum's 10 minutes); a trickle of events sweeps them.
	var s Stats
	for i := range 400 {
		ev := phalanx.Event{Service: "sshd", Time: at(12*time.Minute + time.Duration(i)*time.Millisecond), Kind: phalanx.KindProbe, Source: netip.MustParseAddr("198.51.100.1")}
		e.Observe(&ev, nil)
		s = e.Stats()
		if s.Sources == 1 {
			break
		}
	}
	if s.Sources != 1 || s.Evicted != 1001 || s.CapDrops != 0 {
		t.Fatalf("stats %+v, want 1 source left, 1001 evicted, no cap drops", s)
	}
}

// TestBlackholeKeepsGroup checks that a blackholed source is not forgotten
// before its blackhole ends, even when its buckets are empty.
func TestBlackholeKeepsGroup(t *testing.T) {
	s := spec("ssh-bf")
	s.Blackhole = time.Hour
	e := mustNew(t, oneScenario(s))
	if idx, _ := feed(e, series(phalanx.KindAuthFailure, "192.0.2.77", every(0, 0, 6)...)); len(idx) != 1 {
		t.Fatal("burst did not fire")
	}
	// Other traffic 30 minutes later sweeps idle groups; the blackholed one stays.
	for i := range 10 {
		ev := phalanx.Event{Service: "sshd", Time: at(30 * time.Minute), Kind: phalanx.KindAuthFailure, Source: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}
		e.Observe(&ev, nil)
	}
	if idx, _ := feed(e, series(phalanx.KindAuthFailure, "192.0.2.77", every(31*time.Minute, 0, 6)...)); len(idx) != 0 {
		t.Fatal("a source fired again inside its blackhole: its group was forgotten")
	}
}

func TestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events")
	}
	c := leakyConfig()
	e := mustNew(t, c)
	var alerts []phalanx.Alert
	var buf []phalanx.Alert
	observe := func(ev phalanx.Event) {
		buf = e.Observe(&ev, buf[:0])
		alerts = append(alerts, buf...)
	}
	const flood = 1_000_000
	step := 10 * time.Second / flood // the whole botnet within 10 s
	fast := netip.MustParseAddr("203.0.113.66")
	slow := netip.MustParseAddr("2001:db8:bad::1")
	// The slow attacker tried twice before the flood began.
	observe(phalanx.Event{Service: "sshd", Time: at(-2 * time.Second), Kind: phalanx.KindAuthFailure, Source: slow, Line: 1})
	observe(phalanx.Event{Service: "sshd", Time: at(-time.Second), Kind: phalanx.KindAuthFailure, Source: slow, Line: 2})
	for i := range flood {
		now := at(time.Duration(i) * step)
		// Each bot tries once; the addresses are all distinct.
		bot := netip.AddrFrom4([4]byte{byte(1 + i>>16), byte(i >> 8), byte(i), 1})
		observe(phalanx.Event{Service: "sshd", Time: now, Kind: phalanx.KindAuthFailure, Source: bot, User: "admin", Line: int64(i + 10)})
		// A fast attacker arrives in the middle: six tries 20,000 bots apart.
		if i >= 500_000 && i < 620_000 && i%20_000 == 0 {
			observe(phalanx.Event{Service: "sshd", Time: now, Kind: phalanx.KindAuthFailure, Source: fast, Line: int64(i + 10)})
		}
		// The slow attacker goes on every 200,000 bots (2 s).
		if i%200_000 == 199_999 {
			observe(phalanx.Event{Service: "sshd", Time: now, Kind: phalanx.KindAuthFailure, Source: slow, Line: int64(i + 10)})
		}
		if i%4096 == 0 {
			if s := e.Stats(); s.Sources > c.MaxSources {
				t.Fatalf("after %d bots: %d sources, more than MaxSources %d", i, s.Sources, c.MaxSources)
			}
		}
	}
	s := e.Stats()
	if s.Sources > c.MaxSources || len(e.groups) > c.MaxSources || s.CapDrops == 0 {
		t.Fatalf("stats %+v with %d slots: the cap did not hold or was never reached", s, len(e.groups))
	}
	var fired []string
	for _, a := range alerts {
		fired = append(fired, a.Scenario+" "+a.Source.String())
	}
	for _, want := range []string{"ssh-bf 203.0.113.66/32", "ssh-bf 2001:db8:bad::/64"} {
		if !slices.Contains(fired, want) {
			t.Errorf("no %s alert during the flood; alerts: %v", want, fired)
		}
	}
	if len(alerts) != 2 {
		t.Errorf("got %d alerts, want exactly the two attackers: %v", len(alerts), fired)
	}
	t.Logf("stats after the flood: %+v", s)
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // a fragment of the error
	}{
		{"ipv6 prefix too short", func(c *Config) { c.IPv6Prefix = 16 }, "ipv6_prefix 16"},
		{"ipv6 prefix too long", func(c *Config) { c.IPv6Prefix = 129 }, "ipv6_prefix 129"},
		{"no max sources", func(c *Config) { c.MaxSources = 0 }, "max_sources 0"},
		{"no scenarios", func(c *Config) { c.Scenarios = nil }, "none configured"},
		{"duplicate name", func(c *Config) { c.Scenarios[1].Name = "ssh-bf" }, `scenarios[1]: name "ssh-bf" is already used by scenarios[0]`},
		{"empty name", func(c *Config) { c.Scenarios[2].Name = "" }, "scenarios[2]"},
		{"bad name", func(c *Config) { c.Scenarios[0].Name = "ssh bf" }, "not allowed"},
		{"no kinds", func(c *Config) { c.Scenarios[0].Kinds = nil }, `scenarios[0] ("ssh-bf"): kinds: none listed`},
		{"unknown kind", func(c *Config) { c.Scenarios[0].Kinds = []phalanx.Kind{phalanx.KindUnknown} }, "kinds[0]"},
		{"bad type", func(c *Config) { c.Scenarios[3].Type = "bucket" }, `type "bucket" is unknown`},
		{"zero capacity", func(c *Config) { c.Scenarios[0].Capacity = 0 }, "capacity 0"},
		{"huge distinct", func(c *Config) { c.Scenarios[2].Capacity = 1000 }, "1 to 64 users"},
		{"zero leak", func(c *Config) { c.Scenarios[3].Leak = 0 }, `scenarios[3] ("ssh-probe"): leak 0s must be positive`},
		{"leak too long", func(c *Config) { c.Scenarios[3].Leak = 365 * 24 * time.Hour }, "capacity × leak"},
		{"window with a leak", func(c *Config) { c.Scenarios[0].Leak = time.Second }, `scenarios[0] ("ssh-bf"): leak 1s: a window scenario has no leak`},
		{"no window", func(c *Config) { c.Scenarios[0].Window = 0 }, "window 0s is out of range"},
		{"window too long", func(c *Config) { c.Scenarios[0].Window = 365 * 24 * time.Hour }, "window 8760h0m0s is out of range"},
		{"huge window capacity", func(c *Config) { c.Scenarios[0].Capacity = 1000 }, "1 to 256 events"},
		{"window on a leaky bucket", func(c *Config) { c.Scenarios[3].Window = time.Minute }, "only a window scenario has one"},
		{"negative blackhole", func(c *Config) { c.Scenarios[0].Blackhole = -time.Second }, "blackhole -1s"},
		{"empty service", func(c *Config) { c.Scenarios[0].Services = []string{""} }, "services[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate accepted it, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestDefaultScenariosAreIndependentCopies(t *testing.T) {
	a := DefaultScenarios()
	a[0].Kinds[0] = phalanx.KindProbe
	if b := DefaultScenarios(); a[1].Kinds[0] != phalanx.KindAuthFailure || b[0].Kinds[0] != phalanx.KindAuthFailure {
		t.Error("changing one DefaultScenarios result changed another")
	}
}

// TestWindowFiringPoints checks the window type against fail2ban's rule
// (maxretry failures within findtime): the default ssh-bf fires on the 5th
// failure within 10 minutes, never on 4, and not when the 5 span 10 minutes
// or more.
func TestWindowFiringPoints(t *testing.T) {
	c := DefaultConfig()
	c.Scenarios = c.Scenarios[:1] // ssh-bf
	m := time.Minute
	tests := []struct {
		name    string
		offsets []time.Duration
		want    []int // indexes of the events that fire
	}{
		{"four never fire", []time.Duration{0, 1, 2, 3}, nil},
		{"five at once fire on the fifth", []time.Duration{0, 0, 0, 0, 0}, []int{4}},
		{"five within 28 s", []time.Duration{0, 7 * time.Second, 14 * time.Second, 21 * time.Second, 28 * time.Second}, []int{4}},
		{"five within 9m59s", []time.Duration{0, 2 * m, 4 * m, 6 * m, 9*m + 59*time.Second}, []int{4}},
		{"five spanning exactly 10m do not fire", []time.Duration{0, 2 * m, 4 * m, 6 * m, 10 * m}, nil},
		{"one every 2m30s never fires", []time.Duration{0, 150 * time.Second, 300 * time.Second, 450 * time.Second, 600 * time.Second, 750 * time.Second, 900 * time.Second}, nil},
		{"the window slides: the 6th fires with the 2nd to 5th", []time.Duration{0, 5 * m, 6 * m, 7 * m, 10*m + 30*time.Second, 11 * m}, []int{5}},
		{"blackhole suppresses, then fires again", []time.Duration{0, 0, 0, 0, 0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second, 61 * time.Second}, []int{4, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, c)
			idx, alerts := feed(e, series(phalanx.KindAuthFailure, "192.0.2.5", tt.offsets...))
			if !slices.Equal(idx, tt.want) {
				t.Fatalf("fired at %v, want %v", idx, tt.want)
			}
			for _, a := range alerts {
				if a.Count != 5 || len(a.Evidence) != 5 || a.Last.Sub(a.First) >= 10*m {
					t.Errorf("alert %+v: want 5 events within 10m as evidence", a)
				}
			}
		})
	}
}

// TestDistinctPaths: a distinct scenario "of: path" counts distinct
// Event.Path values (an HTTP scanner's missing paths); the same path again
// is not new, and events without a path do not count.
func TestDistinctPaths(t *testing.T) {
	e := mustNew(t, oneScenario(Spec{Name: "http-probing", Kinds: []phalanx.Kind{phalanx.KindHTTPProbe},
		Type: TypeDistinct, Of: OfPath, Capacity: 3, Leak: 10 * time.Second}))
	src := netip.MustParseAddr("198.51.100.9")
	fired := func(path string, d time.Duration) bool {
		ev := phalanx.Event{Time: at(d), Kind: phalanx.KindHTTPProbe, Source: src, Path: path, User: "same-user"}
		return len(e.Observe(&ev, nil)) > 0
	}
	for i, p := range []string{"/a", "/a", "/b", "", "/b"} {
		if fired(p, time.Duration(i)*time.Second) {
			t.Fatalf("fired on event %d (%q) with 2 distinct paths", i, p)
		}
	}
	if !fired("/c", 6*time.Second) {
		t.Fatal("3 distinct paths did not fire")
	}
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Name: "x", Kinds: []phalanx.Kind{phalanx.KindHTTPProbe}, Type: TypeWindow, Of: OfPath, Capacity: 3, Window: time.Minute}, "only a distinct scenario"},
		{Spec{Name: "x", Kinds: []phalanx.Kind{phalanx.KindHTTPProbe}, Type: TypeDistinct, Of: "host", Capacity: 3, Leak: time.Second}, `of "host" is unknown`},
	} {
		if err := oneScenario(tc.s).Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.s, err, tc.want)
		}
	}
}
