package nft

import (
	"errors"
	"net/netip"
	"time"

	"phalanx"
)

// Audit is what the kernel holds compared with what it should hold.
type Audit struct {
	Kernel Counts // elements per set, as the kernel lists them
	// Want is how many exact elements (addresses and IPv6 /64s) the
	// decisions put in the hash sets; Missing how many of those the
	// kernel lacks. Ranges are not compared: nested ranges are cut into
	// pieces, and the interval sets are rebuilt whole by every reconcile.
	Want, Missing int
}

// auditGrace is how close to its end a decision may be and not count as
// missing: its element may have timed out a moment before the decision
// leaves the table.
const auditGrace = 5 * time.Second

// Audit lists the table's sets and counts the exact elements of all (the
// decisions in force at now) that the kernel does not hold: a set flushed
// or an element deleted by hand, which no watch for removed tables or
// chains sees. Listing costs grow with the square of a set's size (see
// Counts): audit small tables, or seldom.
func (e *Enforcer) Audit(all []phalanx.Decision, now time.Time) (Audit, error) {
	want := map[netip.Addr]bool{}   // addresses of both families (ban4, ban6)
	want64 := map[netip.Addr]bool{} // masked /64s (ban6n)
	for i := range all {
		d := &all[i]
		if !d.Until.After(now.Add(auditGrace)) {
			continue
		}
		p, fam, ok := target(d)
		if !ok {
			continue
		}
		slot, key, isExact := exactSlot(p, fam)
		switch {
		case !isExact:
		case slot == net64:
			want64[key] = true
		default:
			want[key] = true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Audit{}, errors.New("nftables enforcer is closed")
	}
	a := Audit{Want: len(want) + len(want64)}
	err := e.count(&a.Kernel, func(slot int, key netip.Addr) {
		if slot == net64 {
			delete(want64, key)
		} else {
			delete(want, key)
		}
	})
	if err != nil {
		return Audit{}, err
	}
	a.Missing = len(want) + len(want64) // what no listing took out
	return a, nil
}
