package syslog

import (
	"bufio"
	"context"
	"fmt"
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
		if err := send(addr, n, rate, os.Getenv("PHALANX_SYSLOG_OCTET") != ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// send writes n sshd lines (about 120 bytes) to addr over TCP at about rate
// lines per second, octet-counted RFC 5424 or newline-framed RFC 3164.
func send(addr string, n, rate int, octet bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 256<<10)
	start := time.Now()
	for i := range n {
		var line string
		if octet {
			m := fmt.Sprintf("<38>1 2026-12-06T14:00:00.000000Z srv1 sshd %d - - Failed password for root from 203.0.%d.%d port %d ssh2", 1000+i%30000, i>>8&255, i&255, 1024+i%60000)
			line = strconv.Itoa(len(m)) + " " + m
		} else {
			line = fmt.Sprintf("<38>Dec  6 14:00:00 srv1 sshd[%d]: Failed password for root from 203.0.%d.%d port %d ssh2\n", 1000+i%30000, i>>8&255, i&255, 1024+i%60000)
		}
		w.WriteString(line)
		if rate > 0 && i%1000 == 999 {
			if ahead := time.Duration(i+1)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				w.Flush()
				time.Sleep(ahead) // pacing the sender, not synchronising the test
			}
		}
	}
	return w.Flush()
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchReceive measures the TCP receiver: PHALANX_BENCH=1 go test -run
// TestBenchReceive -v ./source/syslog. It sends 2,000,000 lines at 250,000
// a second from a child process and reports lines received, lost and the
// receiver's CPU.
func TestBenchReceive(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") == "" {
		t.Skip("a benchmark: set PHALANX_BENCH=1")
	}
	for _, octet := range []bool{false, true} {
		const n, rate = 2_000_000, 250_000
		r, err := Listen(Options{Spec: Spec{Network: "tcp", Addr: "127.0.0.1:0"}, Rate: 1e9, Burst: 1e9})
		if err != nil {
			t.Fatal(err)
		}
		var got atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		go r.Run(ctx, func(m *Message) { got.Add(1) })
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PHALANX_SYSLOG_SEND="+r.Addr().String(), "PHALANX_SYSLOG_LINES="+strconv.Itoa(n), "PHALANX_SYSLOG_RATE="+strconv.Itoa(rate))
		if octet {
			cmd.Env = append(cmd.Env, "PHALANX_SYSLOG_OCTET=1")
		}
		cmd.Stderr = os.Stderr
		c0, w0 := cpu(), time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for got.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		wall, used := time.Since(w0), cpu()-c0
		cancel()
		t.Logf("octet-counted=%v: %d lines sent, %d received, %d lost in %.2f s = %.0f lines/s; receiver CPU %.2f s = %.2f cores, %.0f lines per CPU-second",
			octet, n, got.Load(), int64(n)-got.Load(), wall.Seconds(), float64(got.Load())/wall.Seconds(), used.Seconds(), used.Seconds()/wall.Seconds(), float64(got.Load())/used.Seconds())
	}
}
