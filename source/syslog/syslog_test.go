package syslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"phalanx/testenv"
)

const waitLimit = 20 * time.Second

// collector gathers what a receiver hands over.
type collector struct {
	mu    sync.Mutex
	lines []string
	from  []string
}

func (c *collector) handle(m *Message) {
	c.mu.Lock()
	c.lines = append(c.lines, string(m.Line))
	c.from = append(c.from, m.From.Addr().String())
	c.mu.Unlock()
}

func (c *collector) snapshot() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...), append([]string(nil), c.from...)
}

func (c *collector) waitN(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		lines, _ := c.snapshot()
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d lines within %v, want %d: %q", len(lines), waitLimit, n, lines)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start listens on a loopback port and serves until the test ends.
func start(t *testing.T, network string, mod func(*Options)) (*Receiver, *collector) {
	t.Helper()
	opt := Options{Spec: Spec{Network: network, Addr: "127.0.0.1:0"}}
	if mod != nil {
		mod(&opt)
	}
	r, err := Listen(opt)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c.handle) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context ended")
		}
	})
	return r, c
}

func port(r *Receiver) string {
	_, p, _ := net.SplitHostPort(r.Addr().String())
	return p
}

func TestParseSpec(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"udp://127.0.0.1:5514", "udp://127.0.0.1:5514", ""},
		{"tcp://[::1]:6514", "tcp://[::1]:6514", ""},
		{"tcp://:514", "tcp://:514", ""},
		{"tcp://0.0.0.0:514", "tcp://0.0.0.0:514", ""},
		{"http://127.0.0.1:514", "", "scheme"},
		{"udp://127.0.0.1", "", "no port"},
		{"udp://localhost:514", "", "not an IP address"},
		{"udp://127.0.0.1:514/x", "", "only an address"},
		{"udp://127.0.0.1:514?a=b", "", "only an address"},
	} {
		sp, err := ParseSpec(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want an error containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || sp.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.in, sp, err, tt.want)
		}
	}
}

func TestTCPAndUDP(t *testing.T) {
	lines := []string{
		"<38>Dec  6 14:00:00 h sshd[12]: Invalid user x from 192.0.2.2",
		"<34>1 2026-12-06T14:00:00Z h sshd 12 - - Failed password for root from 192.0.2.1 port 22 ssh2",
		"<38>Dec  6 14:00:01 h sshd[13]: bytes \xff\xfe and \x01 pass through",
	}
	r, c := start(t, "tcp", nil)
	conn, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s\n%d %s%s\r\n", lines[0], len(lines[1]), lines[1], lines[2])
	conn.Close()
	got := c.waitN(t, 3)
	if strings.Join(got, "|") != strings.Join(lines, "|") {
		t.Errorf("tcp: got %q", got)
	}
	_, from := c.snapshot()
	if from[0] != "127.0.0.1" {
		t.Errorf("from %s, want the peer 127.0.0.1", from[0])
	}

	u, uc := start(t, "udp", nil)
	pc, err := net.Dial("udp", u.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, l := range lines {
		pc.Write([]byte(l + "\n"))
	}
	pc.Write([]byte(lines[0] + "\n" + lines[1] + "\r\n\x00")) // a newline inside: one line still
	got = uc.waitN(t, 4)
	if strings.Join(got, "|") != strings.Join(append(lines, lines[0]+" "+lines[1]), "|") {
		t.Errorf("udp: got %q", got)
	}
}

// TestBounds: a gigabyte-class line without a newline, a lying count,
// connections beyond the limit, a silent connection and a sender over its
// rate are each counted, and the receiver goes on serving.
func TestBounds(t *testing.T) {
	r, c := start(t, "tcp", func(o *Options) {
		o.MaxLine = 1024
		o.MaxConns = 8
		o.IdleTimeout = 300 * time.Millisecond
		o.Rate, o.Burst = 1, 50
	})
	addr := r.Addr().String()
	good := "<38>Dec  6 14:00:00 h sshd[12]: Invalid user x from 192.0.2.2"

	// 64 MiB without a newline, then a good line on the same connection.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("A", 1<<20))
	for range 64 {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(conn, "\n%s\n", good)
	got := c.waitN(t, 1)
	if got[0] != good {
		t.Errorf("after the long line: %q", got[0])
	}
	conn.Close()
	if s := r.Stats(); s.Oversize != 1 || s.Bytes < 64<<20 {
		t.Errorf("stats %+v: want the 64 MiB line counted once as oversize", s)
	}

	// A count that claims more than the limit is dropped; one that is too
	// short leaves garbage, which is framed as lines and counted, never a crash.
	conn, _ = net.Dial("tcp", addr)
	fmt.Fprintf(conn, "5000 <13>%s\n%d %s", strings.Repeat("x", 4996), len(good), good)
	c.waitN(t, 2)
	conn.Close()

	// Connections beyond MaxConns are closed at once: 10,000 of them, or
	// as many as this process may open.
	conns := 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && int(lim.Cur)/2-100 < conns {
		conns = max(100, int(lim.Cur)/2-100)
	}
	c0 := r.Stats().Conns
	var held []net.Conn
	for range conns {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			// A refused connection is reset; the reset may come before
			// Dial has finished.
			if errors.Is(err, syscall.ECONNRESET) {
				continue
			}
			t.Fatal(err)
		}
		held = append(held, cn)
	}
	// Every connection was either served or refused; while 8 were open
	// (each until its idle timeout) the rest were refused.
	deadline := time.Now().Add(waitLimit)
	for s := r.Stats(); s.Refused+s.Conns-c0 < int64(conns); s = r.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: %d connections unaccounted for", s, int64(conns)-s.Refused-(s.Conns-c0))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := r.Stats(); s.Refused < int64(conns/2) {
		t.Errorf("stats %+v: only %d of %d connections refused with a limit of 8", s, s.Refused, conns)
	}
	// Silent connections are closed after the idle timeout, and the
	// receiver serves again.
	deadline = time.Now().Add(waitLimit)
	for r.Stats().IdleClosed < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: silent connections not closed", r.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, cn := range held {
		cn.Close()
	}

	// A sender over its rate: the burst passes, the rest is counted.
	conn, _ = net.Dial("tcp", addr)
	before := len(got)
	var b strings.Builder
	for range 200 {
		b.WriteString(good + "\n")
	}
	conn.Write([]byte(b.String()))
	deadline = time.Now().Add(waitLimit)
	for {
		s := r.Stats()
		lines, _ := c.snapshot()
		if s.RateDropped+int64(len(lines)-before) >= 200 {
			if s.RateDropped == 0 {
				t.Errorf("stats %+v: nothing dropped for the rate", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, %d lines: the 200 lines were not all accounted for", s, len(lines))
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn.Close()
}

// TestLogger sends with the real logger of util-linux, in every framing it
// has.
func TestLogger(t *testing.T) {
	logger := testenv.Program(t, "bsdutils", "logger")
	for _, tc := range []struct {
		network string
		args    []string
	}{
		{"tcp", []string{"--tcp", "--rfc5424"}},
		{"tcp", []string{"--tcp", "--rfc3164"}},
		{"tcp", []string{"--tcp", "--rfc5424", "--octet-count"}},
		{"udp", []string{"--udp", "--rfc5424"}},
		{"udp", []string{"--udp", "--rfc3164"}},
	} {
		t.Run(tc.network+strings.Join(tc.args, ""), func(t *testing.T) {
			r, c := start(t, tc.network, nil)
			msg := "Failed password for root from 203.0.113.5 port 4242 ssh2"
			args := append([]string{"--server", "127.0.0.1", "--port", port(r), "-t", "sshd", "--id=777"}, tc.args...)
			out, err := exec.Command(logger, append(args, msg)...).CombinedOutput()
			if err != nil {
				t.Fatalf("logger: %v: %s", err, out)
			}
			got := c.waitN(t, 1)[0]
			host, _ := os.Hostname()
			tag := "sshd[777]: " // RFC 3164
			if slices.Contains(tc.args, "--rfc5424") {
				tag = "sshd 777 - " // APP-NAME PROCID MSGID
			}
			if !strings.HasPrefix(got, "<13>") || !strings.Contains(got, " "+host+" ") || !strings.Contains(got, tag) || !strings.HasSuffix(got, msg) {
				t.Errorf("received %q: want priority <13>, host %q, %q and the message", got, host, tag)
			}
			if _, from := c.snapshot(); from[0] != "127.0.0.1" {
				t.Errorf("from %s, want the peer 127.0.0.1", from[0])
			}
		})
	}
}

// TestRsyslogForwards runs a real rsyslog that receives on UDP and forwards
// to three receivers: TCP octet-counted, TCP newline-framed and UDP.
func TestRsyslogForwards(t *testing.T) {
	rsyslogd := testenv.Program(t, "rsyslog", "rsyslogd", "/usr/sbin/rsyslogd")
	logger := testenv.Program(t, "bsdutils", "logger")
	oc, occ := start(t, "tcp", nil)
	lf, lfc := start(t, "tcp", nil)
	ud, udc := start(t, "udp", nil)
	// rsyslog's own input port: a free one, taken back from the kernel.
	pl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := pl.LocalAddr().(*net.UDPAddr).Port
	pl.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf(`global(workDirectory="%s")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%d")
action(type="omfwd" target="127.0.0.1" port="%s" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="%s" protocol="tcp" template="RSYSLOG_ForwardFormat")
action(type="omfwd" target="127.0.0.1" port="%s" protocol="udp")
`, dir, in, port(oc), port(lf), port(ud))
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rsyslogd, "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v: %s", err, out)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, cmd) })
	const n = 50
	// rsyslog may not listen yet: send until the first line comes through,
	// then the numbered lines.
	deadline := time.Now().Add(waitLimit)
	for {
		exec.Command(logger, "--server", "127.0.0.1", "--port", fmt.Sprint(in), "--udp", "-t", "sshd", "warm-up").Run()
		if l, _ := occ.snapshot(); len(l) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rsyslog forwarded nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range n {
		msg := fmt.Sprintf("Failed password for root from 203.0.113.%d port %d ssh2", i, 4000+i)
		if out, err := exec.Command(logger, "--server", "127.0.0.1", "--port", fmt.Sprint(in), "--udp", "-t", "sshd", "--id=99", msg).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v: %s", err, out)
		}
	}
	for name, c := range map[string]*collector{"octet-counted": occ, "newline": lfc, "udp": udc} {
		// Count the numbered lines themselves: warm-up lines may still
		// trickle in.
		deadline := time.Now().Add(waitLimit)
		for {
			lines, _ := c.snapshot()
			seen := 0
			for _, l := range lines {
				if strings.Contains(l, "Failed password for root from 203.0.113.") && strings.Contains(l, "sshd") {
					seen++
				}
			}
			if seen == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d lines arrived: %q", name, seen, n, lines)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
