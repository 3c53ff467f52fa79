package arbiter

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/report"
)

// BenchmarkApply judges signed alerts, each for a new address, half of them
// decisive and half towards a quorum of two members. The cost is mostly the
// ed25519 signature check.
func BenchmarkApply(b *testing.B) {
	f := newFixture(b, func(c *charter.Charter) { c.Limits.ReportsPerMinute = charter.MaxReportsPerMin })
	const n = 4096
	rs := make([]*report.Report, n)
	for i := range rs {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		v := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)}), 32).String()
		scenario := "ssh-bf"
		id := f.b
		if i%2 == 1 {
			scenario = "ssh-slow-bf"
			id = f.c2
		}
		rs[i] = f.alert(id, v, scenario, at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var a *Arbiter
	for i := 0; i < b.N; i++ {
		if i%n == 0 {
			b.StopTimer()
			a = New(&f.c)
			b.StartTimer()
		}
		r := rs[i%n]
		if o := a.Apply(r, r.Time, r.Time); o.Verdict == Rejected {
			b.Fatal(fmt.Sprint(o))
		}
	}
}
