package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"phalanx/fabric"
)

// countingRelay forwards TCP connections from its own loopback address to
// target and counts the bytes it forwards, both ways: what the fabric's
// links put on the wire.
type countingRelay struct {
	ln     net.Listener
	target string
	bytes  atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
}

func startCountingRelay(t *testing.T, target string) *countingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &countingRelay{ln: ln, target: target}
	t.Cleanup(r.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.forward(c)
		}
	}()
	return r
}

func (r *countingRelay) forward(c net.Conn) {
	d, err := net.DialTimeout("tcp", r.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	r.conns = append(r.conns, c, d)
	r.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				r.bytes.Add(int64(n))
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(d, c)
	pipe(c, d)
}

func (r *countingRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// wireBytes is what the relays forwarded so far.
func wireBytes(rs []*countingRelay) int64 {
	var n int64
	for _, r := range rs {
		n += r.bytes.Load()
	}
	return n
}

// cpuSeconds is this process's user plus system CPU time.
func cpuSeconds(t *testing.T) float64 {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// tlsCostRun is what one phase of TestFabricTLSCost measured.
type tlsCostRun struct {
	reports     int
	bytes       int64   // on the routes, both ways
	cpu         float64 // seconds, the whole process (three servers, relays, publishers, consumers)
	idleBytes   int64   // the same links over the same time without reports
	idleCPU     float64
	seconds     float64
	payloadSize int
}

// TestFabricTLSCost measures what TLS costs the fabric per report: three
// clustered Fabrics in this process (a three-replica stream, every member
// consuming it), their cluster routes through relays on loopback that
// count the bytes, once with the members' identities (TLS 1.3 on every
// route, nkey authentication, as a real alliance runs) and once without
// (plain TCP, no authentication: the only way the fabric runs without
// TLS), each phase PHALANX_BENCH_TLS_SECONDS long (default 10) at
// PHALANX_BENCH_TLS_RATE reports per second (default 200) of 800 random
// bytes (about a signed alert with its evidence), published by the three
// members in turn, after an idle phase of the same length. Gated by
// PHALANX_BENCH_TLS=1; it logs RESULT lines with bytes and CPU
// microseconds per report, with and without TLS, measured back to back
// (twice each, alternating).
func TestFabricTLSCost(t *testing.T) {
	if os.Getenv("PHALANX_BENCH_TLS") == "" {
		t.Skip("a benchmark: set PHALANX_BENCH_TLS=1")
	}
	rate, seconds := 200, 10
	for _, v := range []struct {
		env string
		p   *int
	}{{"PHALANX_BENCH_TLS_RATE", &rate}, {"PHALANX_BENCH_TLS_SECONDS", &seconds}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a whole number above 0", v.env, s)
			}
			*v.p = n
		}
	}
	pairs := 3
	if s := os.Getenv("PHALANX_BENCH_TLS_PAIRS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PHALANX_BENCH_TLS_PAIRS=%q: want a whole number above 0", s)
		}
		pairs = n
	}
	perBytes := map[bool][]float64{}
	perCPU := map[bool][]float64{}
	mode := func(tls bool) string {
		if tls {
			return "TLS"
		}
		return "plain"
	}
	for i := range 2 * pairs {
		tls := i%2 == 0
		r := tlsCostPhase(t, tls, rate, time.Duration(seconds)*time.Second)
		perReport := func(bytes int64, cpu float64) string {
			return fmt.Sprintf("%.0f bytes, %.0f CPU-µs", float64(bytes)/float64(r.reports), cpu*1e6/float64(r.reports))
		}
		t.Logf("tls-cost %-5s %d reports of %d bytes in %.1fs: per report %s on the wire and in all (idle links over the same time: %d bytes, %.3f CPU-s; per report net of idle: %s)",
			mode(tls), r.reports, r.payloadSize, r.seconds, perReport(r.bytes, r.cpu), r.idleBytes, r.idleCPU,
			perReport(r.bytes-r.idleBytes, r.cpu-r.idleCPU))
		perBytes[tls] = append(perBytes[tls], float64(r.bytes-r.idleBytes)/float64(r.reports))
		perCPU[tls] = append(perCPU[tls], (r.cpu-r.idleCPU)*1e6/float64(r.reports))
	}
	median := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	for _, tls := range []bool{true, false} {
		t.Logf("RESULT tls-cost %-5s median of %d phases, per report of 800 bytes, net of idle: %.0f bytes on the routes (%.0f-%.0f), %.0f CPU-µs for the three servers (%.0f-%.0f)",
			mode(tls), pairs, median(perBytes[tls]), slices.Min(perBytes[tls]), slices.Max(perBytes[tls]),
			median(perCPU[tls]), slices.Min(perCPU[tls]), slices.Max(perCPU[tls]))
	}
}

// tlsCostPhase starts three clustered Fabrics (with members and TLS, or
// without), lets them idle for d, then publishes rate reports per second
// for d and waits until every member consumed them all.
func tlsCostPhase(t *testing.T, withTLS bool, rate int, d time.Duration) tlsCostRun {
	t.Helper()
	const n, size = 3, 800
	names := []string{"costa", "costb", "costc"}
	var seeds [][]byte
	var members []fabric.Member
	for _, name := range names {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		seeds = append(seeds, seed)
		members = append(members, fabric.Member{ID: name, PublicKey: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), Hub: true})
	}
	// Cluster ports first, so that each member's routes name the relays.
	var clusters []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		clusters = append(clusters, ln.Addr().String())
		ln.Close()
	}
	var relays []*countingRelay
	var routes []string
	for _, c := range clusters {
		r := startCountingRelay(t, c)
		relays = append(relays, r)
		routes = append(routes, "nats://"+r.ln.Addr().String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var fs []*fabric.Fabric
	var wg sync.WaitGroup
	errs := make([]error, n)
	fs = make([]*fabric.Fabric, n)
	for i := range n {
		o := fabric.Options{DataDir: t.TempDir(), Name: names[i], Listen: "127.0.0.1:0", Cluster: clusters[i],
			Routes: routes, Replicas: 3}
		if withTLS {
			o.Seed, o.Members = seeds[i], members
		}
		wg.Go(func() { fs[i], errs[i] = fabric.Start(ctx, o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", names[i], err)
		}
		t.Cleanup(func() { fs[i].Close() })
	}
	for _, f := range fs {
		if err := f.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got [3]atomic.Int64
	cctx, stop := context.WithCancel(context.Background())
	defer stop()
	for i, f := range fs {
		go f.Consume(cctx, 0, func(m fabric.Msg) {
			if m.Seq > 0 {
				got[i].Add(1)
			}
		})
	}
	// Warm up: a few reports from each, consumed by all.
	payload := make([]byte, size)
	publish := func(k int) {
		rand.Read(payload)
		i := k % n
		if _, err := fs[i].Publish(ctx, names[i], fmt.Sprintf("%s-%d-%d", names[i], k, time.Now().UnixNano()), payload); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	for k := range 30 {
		publish(k)
	}
	waitAll := func(want int64) {
		waitUntil(t, time.Minute, fmt.Sprintf("every member to consume %d reports", want), func() bool {
			for i := range got {
				if got[i].Load() < want {
					return false
				}
			}
			return true
		})
	}
	waitAll(30)

	// Idle: pings, Raft heartbeats and consumer pulls over the same time.
	idle := func() (int64, float64) {
		b0, c0, t0 := wireBytes(relays), cpuSeconds(t), time.Now()
		waitUntil(t, d+10*time.Second, fmt.Sprintf("an idle phase of %v", d), func() bool { return time.Since(t0) >= d })
		return wireBytes(relays) - b0, cpuSeconds(t) - c0
	}
	idleBytes, idleCPU := idle()

	reports := int(float64(rate) * d.Seconds())
	b0, c0, t0 := wireBytes(relays), cpuSeconds(t), time.Now()
	before := got[0].Load()
	for k := range reports {
		time.Sleep(time.Until(t0.Add(time.Duration(k) * time.Second / time.Duration(rate)))) // the report rate, not a wait for an event
		publish(30 + k)
	}
	waitAll(before + int64(reports))
	took := time.Since(t0)
	r := tlsCostRun{reports: reports, bytes: wireBytes(relays) - b0, cpu: cpuSeconds(t) - c0, seconds: took.Seconds(), payloadSize: size}
	// Idle time past d (waiting for the last deliveries) scaled in.
	scale := took.Seconds() / d.Seconds()
	r.idleBytes, r.idleCPU = int64(float64(idleBytes)*scale), idleCPU*scale
	stop()
	return r
}
