package daemon

import (
	"net/netip"
	"testing"
)

func TestHeldEntries(t *testing.T) {
	h := newHeldEntries(2)
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	h.hold(p("192.0.2.1/32"), entry{Member: "a"})
	h.hold(p("192.0.2.1/32"), entry{Member: "b"})
	h.hold(p("192.0.2.2/32"), entry{Member: "a"})
	h.hold(p("192.0.2.3/32"), entry{Member: "a"}) // evicts 192.0.2.1
	if got := h.take(p("192.0.2.1/32")); got != nil {
		t.Fatalf("evicted value still held: %v", got)
	}
	if got := h.take(p("192.0.2.2/32")); len(got) != 1 || got[0].Member != "a" {
		t.Fatalf("take(192.0.2.2) = %v", got)
	}
	if got := h.take(p("192.0.2.2/32")); got != nil {
		t.Fatalf("taken twice: %v", got)
	}
	// Taking freed its place: two more values fit without evicting .3.
	h.hold(p("192.0.2.4/32"), entry{Member: "c"})
	if got := h.take(p("192.0.2.3/32")); len(got) != 1 {
		t.Fatalf("take(192.0.2.3) = %v", got)
	}
}
