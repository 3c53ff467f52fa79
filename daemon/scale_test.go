package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"phalanx"
)

func rssMiB(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// TestScale1M loads 1,000,000 decisions into a running daemon and measures
// its RSS and a bouncer's startup pull over HTTP. A benchmark: run with
// PHALANX_BENCH=1.
func TestScale1M(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	d, _ := runTestDaemon(t)
	runtime.GC()
	t.Logf("idle daemon: RSS %.1f MiB", rssMiB(t))

	now := time.Now()
	start := time.Now()
	const n = 1_000_000
	for i := 0; i < n; i++ {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{byte(11 + i>>24&0x3f), byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i), 10: byte(i >> 16), 11: byte(i >> 24)})
		}
		d.apply([]phalanx.Decision{{Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.PrefixFrom(a, a.BitLen()),
			Scenario: "ssh-bf", Start: now, Until: now.Add(4 * time.Hour)}}, nil, "bench")
	}
	t.Logf("applied %d decisions in %v", d.table.Len(), time.Since(start))
	runtime.GC()
	t.Logf("daemon with %d decisions: RSS %.1f MiB", d.table.Len(), rssMiB(t))
	debug.FreeOSMemory()
	t.Logf("daemon with %d decisions, after returning freed memory to the OS: RSS %.1f MiB", d.table.Len(), rssMiB(t))

	key, err := d.keys.Add("bench")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+d.Addr()+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", key)
	start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	nbytes, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.Logf("GET /v1/decisions/stream?startup=true: %d, %.1f MB in %v; RSS after %.1f MiB", resp.StatusCode, float64(nbytes)/1e6, time.Since(start), rssMiB(t))
}
