package scenario

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"phalanx"
)

// TestEngineMatchesReference feeds mixed random streams (several services,
// kinds, users and paths, many sources, times that jump both ways, a small
// MaxSources so that groups are evicted and dropped) to the engine and to
// the reference engine of reference_test.go, and checks that both raise the
// same alerts after every event and keep the same Stats.
func TestEngineMatchesReference(t *testing.T) {
	configs := map[string]func(r *rand.Rand) Config{
		"default": func(*rand.Rand) Config { return DefaultConfig() },
		"leaky":   func(*rand.Rand) Config { return leakyConfig() },
		// Families interleaved in spec order, a spec with no services (it
		// counts every service), one service set spelled in two orders and
		// with a duplicate, one service in two families, tiny capacities
		// so that everything fires.
		"mixed": func(r *rand.Rand) Config {
			c := DefaultConfig()
			bh := func() time.Duration { return time.Duration(r.IntN(3)) * 20 * time.Second }
			auth := []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser}
			c.Scenarios = []Spec{
				{Name: "a-win", Kinds: auth, Services: []string{"sshd", "dropbear"}, Type: TypeWindow, Capacity: 1 + r.IntN(4), Window: time.Duration(1+r.IntN(60)) * time.Second, Blackhole: bh()},
				{Name: "any-leaky", Kinds: []phalanx.Kind{phalanx.KindProbe, phalanx.KindAuthFailure}, Type: TypeLeaky, Capacity: 1 + r.IntN(20), Leak: time.Duration(1+r.IntN(5)) * time.Second, Blackhole: bh()},
				{Name: "b-distinct", Kinds: auth, Services: []string{"postfix", "dovecot"}, Type: TypeDistinct, Capacity: 1 + r.IntN(5), Leak: time.Duration(1+r.IntN(10)) * time.Second, Blackhole: bh()},
				{Name: "a-distinct", Kinds: auth, Services: []string{"dropbear", "sshd", "sshd"}, Type: TypeDistinct, Capacity: 1 + r.IntN(5), Leak: time.Duration(1+r.IntN(10)) * time.Second, Blackhole: bh()},
				{Name: "any-win", Kinds: []phalanx.Kind{phalanx.KindProtocol, phalanx.KindAuthFailure}, Type: TypeWindow, Capacity: 1 + r.IntN(6), Window: time.Duration(1+r.IntN(30)) * time.Second, Blackhole: bh()},
				{Name: "c-path", Kinds: []phalanx.Kind{phalanx.KindPortProbe, phalanx.KindProbe}, Services: []string{"netfilter", "sshd"}, Type: TypeDistinct, Of: OfPath, Capacity: 1 + r.IntN(4), Leak: time.Duration(1+r.IntN(10)) * time.Second, Blackhole: bh()},
				{Name: "a-leaky", Kinds: []phalanx.Kind{phalanx.KindPreauthClose, phalanx.KindProbe}, Services: []string{"sshd", "dropbear"}, Type: TypeLeaky, Capacity: 1 + r.IntN(30), Leak: time.Duration(1+r.IntN(3)) * time.Second, Blackhole: bh()},
				{Name: "b-win", Kinds: []phalanx.Kind{phalanx.KindMailReject, phalanx.KindAuthFailure}, Services: []string{"dovecot", "postfix"}, Type: TypeWindow, Capacity: 1 + r.IntN(20), Window: time.Duration(1+r.IntN(60)) * time.Second, Blackhole: bh()},
				{Name: "any-distinct", Kinds: auth, Type: TypeDistinct, Capacity: 1 + r.IntN(3), Leak: time.Duration(1+r.IntN(10)) * time.Second, Blackhole: bh()},
			}
			return c
		},
	}
	services := []string{"sshd", "dropbear", "postfix", "dovecot", "exim", "vsftpd", "mysql", "postgresql", "netfilter", "nginx", ""}
	users := []string{"", "root", "admin", "oracle", "test", "ubuntu", "pi", "git"}
	paths := []string{"", "tcp/22", "tcp/23", "udp/53", "tcp/3389", "/wp-login.php", "tcp/80"}
	for name, mk := range configs {
		var sum Stats // what the streams exercised, over all seeds
		for seed := range uint64(40) {
			r := rand.New(rand.NewPCG(seed, 15))
			c := mk(r)
			c.MaxSources = 1 + r.IntN(40)
			c.IPv6Prefix = []int{32, 48, 64, 64, 128}[r.IntN(5)]
			e := mustNew(t, c)
			ref, err := refNew(c)
			if err != nil {
				t.Fatal(err)
			}
			// A pool of sources: IPv4, IPv6 in a few /64s and /48s, mapped
			// and zoned forms, and an invalid address.
			var pool []netip.Addr
			for i := range 20 + r.IntN(80) {
				switch r.IntN(5) {
				case 0, 1:
					pool = append(pool, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
				case 2:
					pool = append(pool, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(r.IntN(3)), 0, byte(r.IntN(4)), 15: byte(i)}))
				case 3:
					pool = append(pool, netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 51, 14: 100, 15: byte(i)}))
				default:
					pool = append(pool, netip.AddrFrom16([16]byte{0xfe, 0x80, 15: byte(i % 7)}).WithZone("eth0"))
				}
			}
			pool = append(pool, netip.Addr{})
			now := t0
			var got, want []phalanx.Alert
			for i := range 3000 {
				switch x := r.IntN(100); {
				case x < 3: // back in time
					now = now.Add(-time.Duration(r.IntN(120)) * time.Second)
				case x < 5: // a long pause: groups go idle
					now = now.Add(time.Duration(r.IntN(3)) * time.Hour)
				default:
					now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
				}
				ev := phalanx.Event{
					Time:    now,
					Source:  pool[r.IntN(len(pool))],
					Service: services[r.IntN(len(services))],
					Kind:    phalanx.Kind(r.IntN(int(phalanx.KindPortProbe) + 2)),
					User:    users[r.IntN(len(users))],
					Path:    paths[r.IntN(len(paths))],
					Line:    int64(i + 1),
					Detail:  users[r.IntN(len(users))],
				}
				if r.IntN(4) > 0 { // mostly the kinds the scenarios count
					ev.Kind = []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser, phalanx.KindProbe, phalanx.KindPreauthClose, phalanx.KindPortProbe, phalanx.KindMailReject}[r.IntN(6)]
				}
				got = e.Observe(&ev, got[:0])
				want = ref.Observe(&ev, want[:0])
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s seed %d event %d %+v:\n got  %+v\n want %+v", name, seed, i, ev, got, want)
				}
				if gs, ws := e.Stats(), ref.Stats(); gs != ws {
					t.Fatalf("%s seed %d event %d: stats\n got  %+v\n want %+v", name, seed, i, gs, ws)
				}
				checkInvariants(t, e, c.MaxSources)
			}
			s := e.Stats()
			sum.Alerts += s.Alerts
			sum.Suppressed += s.Suppressed
			sum.Late += s.Late
			sum.Evicted += s.Evicted
			sum.CapDrops += s.CapDrops
			sum.Invalid += s.Invalid
			checkFamilies(t, e)
		}
		t.Logf("%s: %+v", name, sum)
		if sum.Alerts == 0 || sum.Suppressed == 0 || sum.Late == 0 || sum.Evicted == 0 || sum.CapDrops == 0 || sum.Invalid == 0 {
			t.Errorf("%s: the streams left a path untried: %+v", name, sum)
		}
	}
}

// checkFamilies checks that every family slot is held by exactly one group
// or is on its family's free list, and that no family hands out more slots
// than MaxSources.
func checkFamilies(t *testing.T, e *Engine) {
	t.Helper()
	for fi := range e.families {
		f := &e.families[fi]
		if int(f.slots) > e.max {
			t.Fatalf("family %d: %d slots, more than %d", fi, f.slots, e.max)
		}
		held := make([]int, f.slots)
		for _, s := range f.free {
			held[s]++
		}
		for gi := range e.groups {
			s := e.famSlot(int32(gi), fi)
			if s == noSlot {
				continue
			}
			if !e.groups[gi].prefix.IsValid() {
				t.Fatalf("family %d: free group %d holds slot %d", fi, gi, s)
			}
			held[s]++
		}
		if i := slices.IndexFunc(held, func(n int) bool { return n != 1 }); i >= 0 {
			t.Fatalf("family %d: slot %d held %d times", fi, i, held[i])
		}
	}
}

// FuzzEngineMatchesReference decodes an event stream from the input (each
// 7 bytes: a time step, a source, a service, a kind, a user, a path, a
// detail) and checks that the engine and the reference engine raise the
// same alerts and keep the same Stats, with families interleaved as in the
// "mixed" streams of TestEngineMatchesReference and a table of 3 sources.
func FuzzEngineMatchesReference(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 2, 0, 0, 1, 1, 0, 1, 3, 0})
	f.Add([]byte{0x80, 0, 2, 3, 4, 0xff, 0x7f, 0xff, 5, 9, 200, 1, 0, 0, 0, 40, 3, 8, 2, 2, 2})
	r := rand.New(rand.NewPCG(15, 15)) // a long stream, so that slots are reused
	long := make([]byte, 7*500)
	for i := range long {
		long[i] = byte(r.Uint32())
		if i%7 == 0 { // mostly forward in time
			long[i] %= 16
		}
	}
	f.Add(long)
	services := []string{"sshd", "dropbear", "postfix", "dovecot", "netfilter", "nginx", ""}
	kinds := []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser, phalanx.KindProbe, phalanx.KindPortProbe, phalanx.KindMailReject, phalanx.KindProtocol}
	f.Fuzz(func(t *testing.T, data []byte) {
		auth := []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser}
		c := DefaultConfig()
		c.MaxSources = 3
		c.Scenarios = []Spec{
			{Name: "a-win", Kinds: auth, Services: []string{"sshd", "dropbear"}, Type: TypeWindow, Capacity: 3, Window: 20 * time.Second, Blackhole: 10 * time.Second},
			{Name: "any-leaky", Kinds: []phalanx.Kind{phalanx.KindProbe, phalanx.KindAuthFailure}, Type: TypeLeaky, Capacity: 4, Leak: 2 * time.Second, Blackhole: 10 * time.Second},
			{Name: "b-distinct", Kinds: auth, Services: []string{"postfix", "dovecot"}, Type: TypeDistinct, Capacity: 2, Leak: 5 * time.Second},
			{Name: "a-distinct", Kinds: auth, Services: []string{"dropbear", "sshd"}, Type: TypeDistinct, Capacity: 3, Leak: 5 * time.Second, Blackhole: 10 * time.Second},
			{Name: "c-path", Kinds: []phalanx.Kind{phalanx.KindPortProbe, phalanx.KindProbe}, Services: []string{"netfilter", "sshd"}, Type: TypeDistinct, Of: OfPath, Capacity: 2, Leak: 5 * time.Second},
			{Name: "b-win", Kinds: []phalanx.Kind{phalanx.KindMailReject, phalanx.KindAuthFailure}, Services: []string{"dovecot", "postfix"}, Type: TypeWindow, Capacity: 2, Window: 10 * time.Second},
		}
		e := mustNew(t, c)
		ref, err := refNew(c)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		var got, want []phalanx.Alert
		for line := int64(1); len(data) >= 7; line++ {
			now = now.Add(time.Duration(int8(data[0])) * 250 * time.Millisecond)
			ev := phalanx.Event{
				Time:    now,
				Source:  netip.AddrFrom4([4]byte{192, 0, 2, data[1] % 6}),
				Service: services[int(data[2])%len(services)],
				Kind:    kinds[int(data[3])%len(kinds)],
				User:    string(rune('a' + data[4]%5)),
				Path:    string(rune('a' + data[5]%5)),
				Line:    line,
				Detail:  string(rune('a' + data[6]%3)),
			}
			if data[3] >= 0xf0 { // a kind beyond any scenario's mask (64 and up)
				ev.Kind = phalanx.Kind(data[3])
			}
			if data[4]&0x80 != 0 {
				ev.User = ""
			}
			if data[5]&0x80 != 0 {
				ev.Path = ""
			}
			data = data[7:]
			got = e.Observe(&ev, got[:0])
			want = ref.Observe(&ev, want[:0])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("event %d %+v:\n got  %+v\n want %+v", line, ev, got, want)
			}
			if gs, ws := e.Stats(), ref.Stats(); gs != ws {
				t.Fatalf("event %d: stats\n got  %+v\n want %+v", line, gs, ws)
			}
		}
		checkInvariants(t, e, c.MaxSources)
		checkFamilies(t, e)
	})
}

// TestFamilyStateOnFirstUse checks that a group holds a family's state only
// once an event counted for one of the family's scenarios: failed sshd
// logins take the slots of the ssh scenarios that count them only, a netfilter event then takes tcp-scan's, and
// an event that no scenario counts takes none.
func TestFamilyStateOnFirstUse(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	held := func() map[string]int {
		m := map[string]int{}
		for _, f := range e.families {
			if n := int(f.slots) - len(f.free); n > 0 {
				m[f.services[0]] = n
			}
		}
		return m
	}
	var buf []phalanx.Alert
	for i := range 100 {
		ev := phalanx.Event{Time: at(time.Duration(i) * time.Second), Service: "sshd", Kind: phalanx.KindAuthFailure, User: "root",
			Source: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(i), 15: 1})}
		buf = e.Observe(&ev, buf[:0])
	}
	if got := held(); !maps.Equal(got, map[string]int{"dropbear": 100}) {
		t.Fatalf("after 100 sshd sources, slots held by family (named by first service): %v", got)
	}
	// Failed logins take the state of the scenarios that count them, not
	// of every ssh scenario.
	var holding []string
	for fi, f := range e.families {
		if int(f.slots)-len(f.free) > 0 {
			for _, s := range e.specs {
				if s.fam == fi {
					holding = append(holding, s.name)
				}
			}
		}
	}
	slices.Sort(holding)
	if want := []string{"ssh-bf", "ssh-slow-bf", "ssh-user-enum"}; !slices.Equal(holding, want) {
		t.Fatalf("failed sshd logins hold the state of %v; want %v only (not ssh-probe, ssh-protocol, ssh-exploit, ssh-grace)", holding, want)
	}
	ev := phalanx.Event{Time: at(time.Minute), Service: "netfilter", Kind: phalanx.KindPortProbe, Path: "tcp/23",
		Source: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})}
	buf = e.Observe(&ev, buf[:0])
	ev.Service, ev.Kind = "nginx", phalanx.KindAuthFailure // counted by no default scenario
	buf = e.Observe(&ev, buf[:0])
	if got := held(); !maps.Equal(got, map[string]int{"dropbear": 100, "netfilter": 1}) {
		t.Fatalf("after a netfilter event, slots held by family: %v", got)
	}
	if s := e.Stats(); s.Sources != 100 || s.Counted != 101 {
		t.Fatalf("stats %+v: want 100 sources and 101 events counted", s)
	}
}
