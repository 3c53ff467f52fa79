package netfilter

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// benchFrames builds n kernel lines: a slow scan of the common ports from
// many sources, between other kernel messages.
func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	ports := []int{21, 22, 23, 25, 80, 110, 143, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080}
	for i := 0; len(frames) < n; i++ {
		msg := fmt.Sprintf("[%d.%06d] "+ufwSyn, 1000+i, i%999999, ports[i%len(ports)])
		if i%5 == 4 {
			msg = "audit: type=1400 audit(1700000000.123:42): apparmor=\"DENIED\" operation=\"open\" profile=\"snap\""
		}
		frames = append(frames, logline.Frame{Host: []byte("gw"), Program: []byte("kernel"), PID: -1, Message: []byte(msg)})
	}
	return frames[:n]
}

func BenchmarkParse(b *testing.B) { parsertest.Benchmark(b, New(), benchFrames(4096)) }

// TestAllocs: a port the cache holds costs no allocation.
func TestAllocs(t *testing.T) {
	p := New()
	p.portPath(false, 23)
	parsertest.Allocs(t, p, "kernel", "gw", []parsertest.Alloc{
		{Msg: fmt.Sprintf(ufwSyn, 23), Want: 0},
		{Msg: nftSyn6, Want: 0},
		{Msg: "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex", Want: 0},
	})
}
