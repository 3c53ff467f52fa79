package dropbear

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// benchFrames builds n framed lines of a brute force against a router: one
// connection per attacker, a few passwords each, then the exit.
func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	add := func(pid int, format string, args ...any) {
		frames = append(frames, logline.Frame{Host: []byte("router"), Program: []byte("dropbear"), PID: pid, Message: []byte(fmt.Sprintf(format, args...))})
	}
	for conn := 0; len(frames) < n; conn++ {
		pid := 1000 + conn
		addr := fmt.Sprintf("203.0.%d.%d:%d", conn/250%250, conn%250+1, 30000+conn%30000)
		add(pid, "Child connection from %s", addr)
		if conn%4 == 3 {
			add(pid, "Login attempt for nonexistent user from %s", addr)
		} else {
			add(pid, "Bad password attempt for 'root' from %s", addr)
			add(pid, "Bad password attempt for 'admin' from %s", addr)
		}
		add(pid, "Exit before auth from <%s>: (user 'root', 2 fails): Exited normally", addr)
	}
	return frames[:n]
}

// BenchmarkParse reports the cost of one line of the mix.
func BenchmarkParse(b *testing.B) {
	parsertest.Benchmark(b, New(), benchFrames(4096))
}

// TestAllocs checks that common lines cost no allocation, and an uncommon
// user name only its string.
func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "dropbear", "router", []parsertest.Alloc{
		{Msg: "Child connection from 203.0.113.9:40000", Want: 0},
		{Msg: "Bad password attempt for 'root' from 203.0.113.9:40000", Want: 0},
		{Msg: "Bad password attempt for 'zyxxy' from 203.0.113.9:40000", Want: 1},
		{Msg: "Login attempt for nonexistent user from [2001:db8::9]:40000", Want: 0},
		{Msg: "Exit before auth from <203.0.113.9:40000>: (user 'root', 10 fails): Max auth tries reached - user 'root'", Want: 0},
		{Msg: "Exit before auth: Disconnect received", Want: 0},
		{Msg: "Running in background", Want: 0},
	})
}
