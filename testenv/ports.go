package testenv

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePorts returns n distinct ports free on 127.0.0.1 for both TCP and
// UDP, for servers a
// test must name before they start (cluster routes). They are drawn at
// random below the kernel's ephemeral port range: a port from listening on
// :0 and closing lies inside that range, and any outgoing connection on the
// machine (another test package's, say) may take it as its source port
// before the server binds it.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	return freeRun(t, n, 1)
}

// FreeFabricAddr returns a free loopback address 127.0.0.1:P whose ports
// P+1 and P+2 are free too: a fabric's client, cluster and leaf ports.
func FreeFabricAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freeRun(t, 1, 3)[0])
}

// freeRun returns n first ports of runs of width consecutive free ports.
func freeRun(t testing.TB, n, width int) []int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	var (
		ports []int
		held  []io.Closer
	)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for try := 0; len(ports) < n && try < 1000; try++ {
		p := lo + rand.IntN(hi-lo-width)
		free := 0
		for i := range width {
			addr := fmt.Sprintf("127.0.0.1:%d", p+i)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				break
			}
			held = append(held, l)
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				break
			}
			held = append(held, pc)
			free++
		}
		if free == width {
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		t.Fatalf("found %d of %d free loopback ports between %d and %d", len(ports), n, lo, hi)
	}
	return ports
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read, or when it leaves too little room below it).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	p, err := strconv.Atoi(f[0])
	if err != nil || p < 20000 {
		return 32768
	}
	return p
}
