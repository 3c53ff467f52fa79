package syslog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The sender half of TestBenchReceive runs in a child process (this test
// binary again), so that the receiver's CPU time is its own.
func TestMain(m *testing.M) {
	if addr := os.Getenv("PHALANX_SYSLOG_SEND"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("PHALANX_SYSLOG_LINES"))
		rate, _ := strconv.Atoi(os.Getenv("PHALANX_SYSLOG_RATE"))
		if err := send(addr, os.Getenv("PHALANX_SYSLOG_NET"), n, rate, os.Getenv("PHALANX_SYSLOG_OCTET") != ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchLine is the i-th sshd line (about 120 bytes): RFC 5424 with its
// octet count, or RFC 3164 with a newline.
func benchLine(i int, octet bool) string {
	if octet {
		m := fmt.Sprintf("<38>1 2026-12-06T14:00:00.000000Z srv1 sshd %d - - Failed password for root from 203.0.%d.%d port %d ssh2", 1000+i%30000, i>>8&255, i&255, 1024+i%60000)
		return strconv.Itoa(len(m)) + " " + m
	}
	return fmt.Sprintf("<38>Dec  6 14:00:00 srv1 sshd[%d]: Failed password for invalid user admin from 203.0.%d.%d port %d ssh2\n", 1000+i%30000, i>>8&255, i&255, 1024+i%60000)
}

// send writes n sshd lines to addr at about rate lines per second (0: as
// fast as it can): over TCP through one connection, over UDP one datagram
// per line.
func send(addr, network string, n, rate int, octet bool) error {
	if network == "" {
		network = "tcp"
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var w interface {
		io.StringWriter
		Flush() error
	}
	if network == "tcp" {
		w = bufio.NewWriterSize(c, 256<<10)
	} else {
		w = datagrams{c}
	}
	// Lines are made before the clock starts, so that the sender's speed
	// is the network's.
	const distinct = 4096
	lines := make([]string, distinct)
	for i := range lines {
		lines[i] = benchLine(i, octet)
	}
	step := 1000
	if network == "udp" {
		step = 100 // smaller bursts: a datagram socket has no flow control
	}
	start := time.Now()
	for i := range n {
		if _, err := w.WriteString(lines[i%distinct]); err != nil {
			return err
		}
		if rate > 0 && i%step == step-1 {
			if ahead := time.Duration(i+1)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				if err := w.Flush(); err != nil {
					return err
				}
				time.Sleep(ahead) // pacing the sender, not synchronising the test
			}
		}
	}
	return w.Flush()
}

// datagrams writes each line as one datagram.
type datagrams struct{ c net.Conn }

func (d datagrams) WriteString(s string) (int, error) {
	n, err := d.c.Write([]byte(s))
	if err != nil && isRefused(err) {
		err = nil // ICMP from a closed port: keep sending, the count tells
	}
	return n, err
}

func (d datagrams) Flush() error { return nil }

func isRefused(err error) bool {
	var se syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			se = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return se == syscall.ECONNREFUSED
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchReceive measures the receiver (bench/syslog.sh runs it):
// PHALANX_BENCH=1 go test -run TestBenchReceive -v ./source/syslog. A child
// process sends ~120-byte sshd lines on loopback; this process receives and
// counts them. It reports lines/s, lost lines and the receiver's CPU
// (getrusage of this process, which does nothing else meanwhile). The rate
// limiter is on, with a limit above the rate, so that its cost is counted.
// PHALANX_BENCH_LINES sets the lines per TCP run (default 2,000,000).
func TestBenchReceive(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("a benchmark: set PHALANX_BENCH=1 (or run bench/syslog.sh)")
	}
	n := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("PHALANX_BENCH_LINES")); err == nil && v > 0 {
		n = v
	}
	type run struct {
		network string
		octet   bool
		rate    int // 0: as fast as the sender can
		lines   int
	}
	runs := []run{
		{"tcp", false, 250_000, n},
		{"tcp", true, 250_000, n},
		{"tcp", false, 0, n},
		{"tcp", true, 0, n},
	}
	for _, rate := range []int{25_000, 50_000, 100_000, 200_000, 300_000} {
		runs = append(runs, run{"udp", false, rate, min(n, rate*4)})
	}
	for _, rn := range runs {
		r, err := Listen(Options{Spec: Spec{Network: rn.network, Addr: "127.0.0.1:0"}, Rate: 1e9, Burst: 1e9})
		if err != nil {
			t.Fatal(err)
		}
		var got atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx, func(*Message) { got.Add(1) }); close(done) }()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PHALANX_SYSLOG_SEND="+r.Addr().String(), "PHALANX_SYSLOG_NET="+rn.network,
			"PHALANX_SYSLOG_LINES="+strconv.Itoa(rn.lines), "PHALANX_SYSLOG_RATE="+strconv.Itoa(rn.rate))
		if rn.octet {
			cmd.Env = append(cmd.Env, "PHALANX_SYSLOG_OCTET=1")
		}
		cmd.Stderr = os.Stderr
		c0, w0 := cpu(), time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		// Wait for every line, or (UDP) until no more come for 200 ms.
		last, lastAt := got.Load(), time.Now()
		for deadline := time.Now().Add(60 * time.Second); got.Load() < int64(rn.lines) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			if g := got.Load(); g != last {
				last, lastAt = g, time.Now()
			} else if rn.network == "udp" && time.Since(lastAt) > 200*time.Millisecond {
				break
			}
		}
		end := lastAt
		if got.Load() >= int64(rn.lines) {
			end = time.Now()
		}
		wall, used := end.Sub(w0), cpu()-c0
		cancel()
		<-done
		st := r.Stats()
		framing := "rfc3164-lf"
		if rn.octet {
			framing = "rfc5424-octet"
		}
		rate := "max"
		if rn.rate > 0 {
			rate = strconv.Itoa(rn.rate)
		}
		recv := got.Load()
		t.Logf("RESULT syslog %s %s rate=%s: sent %d, received %d, lost %d (kernel drops %d); %.2f s = %.0f lines/s; receiver CPU %.2f s = %.2f cores, %.0f lines per CPU-second",
			rn.network, framing, rate, rn.lines, recv, int64(rn.lines)-recv, st.KernelDrops, wall.Seconds(), float64(recv)/wall.Seconds(),
			used.Seconds(), used.Seconds()/wall.Seconds(), float64(recv)/used.Seconds())
		if rn.network == "tcp" && recv != int64(rn.lines) {
			t.Errorf("TCP lost %d lines: stats %+v", int64(rn.lines)-recv, st)
		}
	}
}
