package nft

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx"
)

// TestBenchEnforcer measures the enforcer at scale inside a network
// namespace. It is not part of the normal run:
//
//	PHALANX_BENCH=1 go test -run TestBenchEnforcer -v -timeout 30m ./nft/
//
// PHALANX_BENCH_SIZES overrides the sizes (default "100000,1000000").
func TestBenchEnforcer(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("set PHALANX_BENCH=1 to run the nftables benchmarks")
	}
	sizes := []int{100_000, 1_000_000}
	if s := os.Getenv("PHALANX_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		for _, kind := range []string{"exact4", "exact6", "ranges4", "nets6"} {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				benchOne(t, kind, n)
			})
		}
	}
}

func benchOne(t *testing.T, kind string, n int) {
	_, e := serverOnly(t, Config{})
	now := time.Now()
	until := now.Add(time.Hour)
	ds := make([]phalanx.Decision, 0, n)
	for i := range n {
		var p netip.Prefix
		switch kind {
		case "exact4":
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(16 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		case "exact6":
			var a [16]byte
			a[0], a[1], a[12], a[13], a[14], a[15] = 0x20, 0x01, byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			p = netip.PrefixFrom(netip.AddrFrom16(a), 128)
		case "ranges4":
			r := 8 * i // /30s that never touch
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(16 + r>>24), byte(r >> 16), byte(r >> 8), byte(r)}), 30)
		case "nets6":
			r := 2 * i // /64s that never touch, as the daemon bans IPv6 sources
			var a [16]byte
			a[0], a[1], a[4], a[5], a[6], a[7] = 0x20, 0x01, byte(r>>24), byte(r>>16), byte(r>>8), byte(r)
			p = netip.PrefixFrom(netip.AddrFrom16(a), 64)
		}
		ds = append(ds, phalanx.Decision{Type: "ban", Value: p, Until: until})
	}
	// Untils spread over an hour, as real bans are.
	for i := range ds {
		ds[i].Until = until.Add(time.Duration(i%3600) * time.Second)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc

	start := time.Now()
	if err := e.Reconcile(ds, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&ms)

	start = time.Now()
	if err := e.Reconcile(ds, time.Now()); err != nil {
		t.Fatal(err)
	}
	second := time.Since(start)

	start = time.Now()
	c, err := e.Counts()
	if err != nil {
		t.Fatal(err)
	}
	counted := time.Since(start)
	got := c.Ban4 + c.Ban6 + c.Ban6Nets + c.Ban4Ranges + c.Ban6Ranges
	if got != n {
		t.Errorf("kernel holds %d elements, want %d (%+v)", got, n, c)
	}

	// One more ban into the full set, repeatedly: the daemon's hot path.
	var lat []time.Duration
	for i := range 21 {
		var p netip.Prefix
		switch kind {
		case "exact4":
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{200, 0, byte(i >> 8), byte(i)}), 32)
		case "exact6":
			p = netip.MustParsePrefix(fmt.Sprintf("2001:db9::%x/128", i+1))
		case "ranges4":
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{200, 0, byte(i), 0}), 24)
		case "nets6":
			p = netip.MustParsePrefix(fmt.Sprintf("2001:db9:0:%x::/64", i))
		}
		now := time.Now()
		start := time.Now()
		if err := e.Apply([]phalanx.Decision{{Type: "ban", Value: p, Until: now.Add(time.Hour)}}, nil, now); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if c, err := e.Counts(); err != nil || c.Ban4+c.Ban6+c.Ban6Nets+c.Ban4Ranges+c.Ban6Ranges != n+len(lat) {
		t.Errorf("after the single Applies the kernel holds %+v (%v), want %d elements", c, err, n+len(lat))
	}
	t.Logf("%s n=%d: Reconcile into empty sets %v, again over full sets %v; Counts %v; Apply of one element median %v, max %v; Go heap kept after Reconcile +%d MiB",
		kind, n, first.Round(time.Millisecond), second.Round(time.Millisecond), counted.Round(time.Millisecond),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), (int64(ms.HeapAlloc)-int64(heap0))>>20)
}
