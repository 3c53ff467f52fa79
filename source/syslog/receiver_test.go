package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", waitLimit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stopProcess ends a process the test started: SIGTERM, then SIGKILL if it
// has not exited within waitLimit.
func stopProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Errorf("%s did not stop within %v of SIGTERM: killing it", cmd.Path, waitLimit)
		_ = cmd.Process.Kill()
		<-done
	}
}

func dial(t *testing.T, r *Receiver) net.Conn {
	t.Helper()
	c, err := net.Dial(r.Addr().Network(), r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const good = "<38>Dec  6 14:00:00 h sshd[12]: Invalid user x from 192.0.2.2"

// TestLyingCounts: octet counts that are too short, too long, absurd or
// zero, and connections that end mid-message, are each counted and never
// stop the receiver.
func TestLyingCounts(t *testing.T) {
	r, c := start(t, "tcp", func(o *Options) { o.MaxLine = 1024 })
	send := func(s string) {
		cn := dial(t, r)
		if _, err := cn.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		cn.Close()
	}
	type want struct{ lines, oversize, framing, partial int64 }
	check := func(step string, w want) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			s := r.Stats()
			got := want{s.Lines, s.Oversize, s.Framing, s.Partial}
			if got == w {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: stats %+v, want %+v", step, s, w)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Too short: the rest of the frame is read as the next message.
	send("10 <13>abcdefghijk\n")
	check("too short", want{lines: 2})
	// Too long: it eats the next message, then the stream ends mid-frame.
	send("300 <13>short\n" + fmt.Sprintf("%d %s", len(good), good))
	check("too long", want{lines: 2, partial: 1})
	// Absurd: eleven digits are no count, so this is a line.
	send("99999999999 <13>x\n")
	check("absurd", want{lines: 3, partial: 1})
	// Ten digits: a count past the limit, discarded to its end (here, the
	// connection's end).
	send("9999999999 <13>" + strings.Repeat("x", 5000))
	check("huge", want{lines: 3, oversize: 1, partial: 2})
	// Zero: the framing is broken; the connection is closed.
	send("0 <13>x\n" + good + "\n")
	check("zero", want{lines: 3, oversize: 1, partial: 2, framing: 1})
	// Cut off: a line without its newline, a frame without its end.
	send(good)
	check("cut line", want{lines: 3, oversize: 1, partial: 3, framing: 1})
	send("100 " + good)
	check("cut frame", want{lines: 3, oversize: 1, partial: 4, framing: 1})
	// And the receiver still serves.
	send(good + "\n")
	check("good", want{lines: 4, oversize: 1, partial: 4, framing: 1})
	if got := c.waitN(t, 4)[3]; got != good {
		t.Errorf("last line %q, want %q", got, good)
	}
}

// TestGarbage sends random bytes over TCP and UDP: every line handed over
// is one line, no longer than the limit, and the receiver goes on serving.
func TestGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			switch rng.IntN(10) {
			case 0:
				b[i] = '\n'
			case 1:
				b[i] = byte('0' + rng.IntN(10))
			case 2:
				b[i] = " <\x00\r"[rng.IntN(4)]
			default:
				b[i] = byte(rng.Uint32())
			}
		}
		return b
	}
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			r, c := start(t, network, func(o *Options) { o.MaxLine = 200; o.Rate, o.Burst = 1e9, 1e9 })
			for range 20 {
				cn := dial(t, r)
				if network == "udp" {
					for range 50 {
						cn.Write(garbage(1 + rng.IntN(400)))
					}
				} else {
					cn.Write(garbage(64 << 10))
				}
				cn.Close()
			}
			cn := dial(t, r)
			fmt.Fprintf(cn, "\n%s\n", good)
			deadline := time.Now().Add(waitLimit)
			for lines, _ := c.snapshot(); !slices.Contains(lines, good); lines, _ = c.snapshot() {
				if time.Now().After(deadline) {
					t.Fatalf("the good line after the garbage did not come: stats %+v, %d lines, last %q", r.Stats(), len(lines), lines[max(0, len(lines)-3):])
				}
				time.Sleep(2 * time.Millisecond)
			}
			lines, _ := c.snapshot()
			for _, l := range lines {
				if l == "" || len(l) > 200 || strings.Contains(l, "\n") {
					t.Errorf("line %q: empty, over the limit or holding a newline", l)
				}
			}
			t.Logf("%d lines, stats %+v", len(lines), r.Stats())
		})
	}
}

// TestUDPBounds: oversized datagrams are counted, the largest that fits is
// passed on, and the receive buffer is what was asked for (or its cap is
// reported).
func TestUDPBounds(t *testing.T) {
	r, c := start(t, "udp", func(o *Options) { o.MaxLine = 1000 })
	cn := dial(t, r)
	cn.Write([]byte("<13>" + strings.Repeat("o", 2000)))
	cn.Write([]byte("<13>" + strings.Repeat("k", 996) + "\r\n"))
	got := c.waitN(t, 1)
	if len(got[0]) != 1000 {
		t.Errorf("got a line of %d bytes, want the 1000-byte one", len(got[0]))
	}
	waitFor(t, "the oversized datagram counted", func() bool { return r.Stats().Oversize == 1 })

	big, bc := start(t, "udp", nil)
	cn = dial(t, big)
	if _, err := cn.Write([]byte("<13>" + strings.Repeat("b", 65000))); err != nil {
		t.Fatal(err)
	}
	if got := bc.waitN(t, 1)[0]; len(got) != 65004 {
		t.Errorf("a 65,004-byte datagram came as %d bytes", len(got))
	}
	if runtime.GOOS == "linux" {
		if s := big.Stats(); s.ReadBuffer <= 0 {
			t.Errorf("stats %+v: the granted receive buffer is unknown", s)
		} else {
			t.Logf("UDP receive buffer granted: %d bytes of %d asked", s.ReadBuffer, DefaultReadBuffer)
		}
	}
}

// TestAllow: peers outside Allow are reset (TCP) or dropped (UDP) and
// counted; peers inside are served.
func TestAllow(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			no, nc := start(t, network, func(o *Options) { o.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
			yes, yc := start(t, network, func(o *Options) {
				o.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}
			})
			for _, r := range []*Receiver{no, yes} {
				cn, err := net.Dial(network, r.Addr().String())
				if err != nil {
					if errors.Is(err, syscall.ECONNRESET) {
						continue
					}
					t.Fatal(err)
				}
				fmt.Fprintf(cn, "%s\n", good)
				cn.Close()
			}
			if got := yc.waitN(t, 1)[0]; got != good {
				t.Errorf("allowed peer: got %q", got)
			}
			waitFor(t, "the denied peer counted", func() bool { return no.Stats().Denied == 1 })
			if lines, _ := nc.snapshot(); len(lines) != 0 || no.Stats().Lines != 0 {
				t.Errorf("denied peer's lines handed over: %q", lines)
			}
		})
	}
}

// flakyListener fails its first accepts, as a listener out of descriptors
// does.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptErrors: failing accepts (EMFILE: a peer that opens connections
// until the process runs out of descriptors) are counted and retried; the
// receiver does not stop.
func TestAcceptErrors(t *testing.T) {
	r, err := Listen(Options{Spec: Spec{Network: "tcp", Addr: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	r.ln = &flakyListener{Listener: r.ln, fails: 4}
	c := &collector{}
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context(), c.handle) }()
	cn := dial(t, r)
	fmt.Fprintf(cn, "%s\n", good)
	if got := c.waitN(t, 1)[0]; got != good {
		t.Errorf("got %q", got)
	}
	if s := r.Stats(); s.ReadErrors != 4 {
		t.Errorf("stats %+v: want 4 read errors", s)
	}
	r.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after Close")
	}
}

// TestLongLine streams a line of 1 GiB without a newline (64 MiB with
// -short; about 0.2 s, 0.8 s under -race) and checks that it costs bounded
// memory, is counted once, and that the connection stays readable.
func TestLongLine(t *testing.T) {
	size := 1 << 30
	if testing.Short() {
		size = 64 << 20
	}
	r, c := start(t, "tcp", nil)
	cn := dial(t, r)
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := cn.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(cn, "\n%s\n", good)
	if got := c.waitN(t, 1)[0]; got != good {
		t.Errorf("after the long line: %q", got)
	}
	took := time.Since(t0)
	runtime.ReadMemStats(&m1)
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("%d MiB without a newline: %v (%.0f MiB/s), %d KiB allocated in all", size>>20, took, float64(size>>20)/took.Seconds(), alloc>>10)
	if alloc > 16<<20 {
		t.Errorf("%d MiB allocated while discarding a %d MiB line: memory is not bounded", alloc>>20, size>>20)
	}
	if s := r.Stats(); s.Oversize != 1 || s.Bytes < int64(size) {
		t.Errorf("stats %+v: want the line counted once as oversize", s)
	}
}

// TestParseSpecMore: errors say what is wrong.
func TestParseSpecMore(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"tcp://0.0.0.0:0514", "tcp://0.0.0.0:514", ""},
		{"udp://[fe80::1%25eth0]:514", "udp://[fe80::1%eth0]:514", ""},
		{"udp://127.0.0.1:65536", "", "0 to 65535"},
		{"udp://127.0.0.1:-1", "", ""},
		{"udp://127.0.0.1:x", "", ""},
		{"udp://[::1]", "", "no port"},
		{"udp://::1:514", "", ""},
		{"udp://127.0.0.1:514#f", "", "only an address"},
		{"udp://u@127.0.0.1:514", "", "only an address"},
		{"tls://127.0.0.1:6514", "", "scheme"},
		{"127.0.0.1:514", "", ""},
		{"", "", "scheme"},
	} {
		sp, err := ParseSpec(tt.in)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v %v, want an error containing %q", tt.in, sp, err, tt.err)
			}
			continue
		}
		if err != nil || sp.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.in, sp, err, tt.want)
		}
	}
}
