package decision

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestGrow: room made for decisions, on an empty table and on one that
// holds some already, changes nothing but the indexes' sizes: every
// decision stays findable, the indexes stay consistent, the expiry order
// holds, and adding far more than the hint is fine.
func TestGrow(t *testing.T) {
	for _, before := range []int{0, 3, 500} {
		t.Run(fmt.Sprint(before), func(t *testing.T) {
			tab := NewTable()
			var want []string
			add := func(i int) {
				v := fmt.Sprintf("10.%d.%d.%d/32", i>>16&0xff, i>>8&0xff, i&0xff)
				if i%7 == 0 {
					v = fmt.Sprintf("172.%d.%d.0/24", 16+(i/7)>>8, (i/7)&0xff)
				}
				mustAdd(t, tab, ban(v, time.Duration(1+i%97)*time.Minute))
				want = append(want, v)
			}
			for i := range before {
				add(i)
			}
			tab.Grow(2000)
			if err := tab.check(); err != nil {
				t.Fatalf("after Grow: %v", err)
			}
			slots := len(tab.exact.tags)
			for i := before; i < before+2000; i++ {
				add(i)
			}
			if len(tab.exact.tags) != slots {
				t.Errorf("the index grew from %d to %d slots while adding what Grow made room for", slots, len(tab.exact.tags))
			}
			for i := before + 2000; i < before+5000; i++ { // past the hint
				add(i)
			}
			if err := tab.check(); err != nil {
				t.Fatal(err)
			}
			if tab.Len() != len(want) {
				t.Fatalf("%d decisions, want %d", tab.Len(), len(want))
			}
			for _, v := range want {
				p := netip.MustParsePrefix(v)
				if _, ok := tab.Lookup(p.Addr(), t0.Add(time.Second)); !ok {
					t.Fatalf("%s not found", v)
				}
			}
			// The expiry order: what ends first goes first.
			for m := 1; m <= 97; m += 24 {
				gone := tab.Expire(t0.Add(time.Duration(m) * time.Minute))
				for _, x := range gone {
					if x.Until.After(t0.Add(time.Duration(m) * time.Minute)) {
						t.Fatalf("Expire at +%dm removed %v, ending %v", m, x.Value, x.Until)
					}
				}
				if err := tab.check(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	tab := NewTable()
	tab.Grow(0)
	tab.Grow(-5)
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}
