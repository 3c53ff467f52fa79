package scenario

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"phalanx"
)

// FuzzObserve feeds arbitrary event sequences (times jumping both ways,
// any kind, few or many sources) to a small engine and checks that it never
// panics, never exceeds its caps, and keeps its lists consistent.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0})
	f.Add([]byte{0x80, 0, 2, 3, 4, 0xff, 0x7f, 0xff, 5, 9, 200, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := DefaultConfig()
		c.MaxSources = 5
		c.IPv6Prefix = 32 + int(len(data)%97)
		c.Scenarios = append(c.Scenarios, Spec{Name: "tiny", Kinds: []phalanx.Kind{phalanx.KindProbe, phalanx.KindAuthFailure}, Type: TypeDistinct, Capacity: 1, Leak: time.Second})
		e := mustNew(t, c)
		addrs := []netip.Addr{
			netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.1"),
			netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:0:1::1"),
			netip.MustParseAddr("fe80::1%eth0"), {},
		}
		now := t0
		var buf []phalanx.Alert
		for len(data) >= 6 {
			step := int16(binary.BigEndian.Uint16(data))
			now = now.Add(time.Duration(step) * 37 * time.Millisecond)
			ev := phalanx.Event{
				Time:    now,
				Service: "sshd",
				Kind:    phalanx.Kind(data[2]),
				User:    string(rune('a' + data[4]%8)),
				Line:    int64(data[5]),
			}
			if a := int(data[3]); a < 128 {
				ev.Source = addrs[a%len(addrs)]
			} else {
				ev.Source = netip.AddrFrom4([4]byte{10, 0, data[3], data[4]})
			}
			if data[4]&0x80 != 0 {
				ev.User = ""
			}
			data = data[6:]
			buf = e.Observe(&ev, buf[:0])
			for _, a := range buf {
				if a.Last.Before(a.First) || len(a.Evidence) == 0 || len(a.Evidence) > MaxEvidence || !a.Source.Contains(a.Addr) {
					t.Fatalf("bad alert %+v", a)
				}
			}
			checkInvariants(t, e, c.MaxSources)
		}
	})
}

func checkInvariants(t *testing.T, e *Engine, maxSources int) {
	t.Helper()
	if n := len(e.index); n > maxSources || len(e.groups) > maxSources {
		t.Fatalf("%d sources in %d slots, more than %d", n, len(e.groups), maxSources)
	}
	total := 0
	for seg := range e.lists {
		l := e.lists[seg]
		n := 0
		prev := int32(noGroup)
		for gi := l.head; gi != noGroup; gi = e.groups[gi].next {
			g := &e.groups[gi]
			if g.seg != uint8(seg) || g.prev != prev {
				t.Fatalf("list %d broken at slot %d", seg, gi)
			}
			if e.index[keyOf(g.prefix)] != gi {
				t.Fatalf("slot %d (%s) not indexed", gi, g.prefix)
			}
			prev = gi
			n++
			if n > maxSources {
				t.Fatalf("list %d loops", seg)
			}
		}
		if n != l.n || prev != l.tail {
			t.Fatalf("list %d: walked %d (tail %d), recorded %d (tail %d)", seg, n, prev, l.n, l.tail)
		}
		total += n
	}
	if total != len(e.index) {
		t.Fatalf("lists hold %d groups, index %d", total, len(e.index))
	}
	if e.lists[protected].n > e.protMax {
		t.Fatalf("protected holds %d, more than %d", e.lists[protected].n, e.protMax)
	}
}
