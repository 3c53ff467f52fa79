package fabric

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"phalanx/identity"
	"phalanx/report"
)

// The simulation's knobs: defaults are the brief's figures; the
// environment overrides them for shorter runs.
const (
	simEnvMembers = "PHALANX_SIM_MEMBERS" // members in all, hub included (default 50)
	simEnvRate    = "PHALANX_SIM_RATE"    // reports per second, all members together (default 10000)
	simEnvSeconds = "PHALANX_SIM_SECONDS" // length of the measured run (default 30)
	simEnvChild   = "PHALANX_SIM_CHILD"   // set in the child process: "index hubURL,hubURL,..."
	simHubSize    = 3
	simWorkers    = 16 // concurrent Publish calls per member
	simMagic      = 0x5ad1
)

func simEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: give a positive number", name, s)
	}
	return n
}

// simParams are the run's figures, shared by parent and child.
type simParams struct {
	members, rate, seconds int
}

func (p simParams) perMember() int { return p.rate / p.members * p.seconds }

// simIdentity is member i's identity, the same in every process.
func simIdentity(t testing.TB, i int) (*identity.Identity, testKey) {
	t.Helper()
	k := newTestKey(t, byte(i+1))
	id, err := identity.FromSeed(k.seed)
	if err != nil {
		t.Fatal(err)
	}
	return id, k
}

func simMembers(t testing.TB, n int) []Member {
	var ms []Member
	for i := range n {
		id, k := simIdentity(t, i)
		ms = append(ms, Member{ID: id.ID, PublicKey: k.pub, Hub: i < simHubSize})
	}
	return ms
}

// simReport is a realistic signed alert report of member id: an sshd brute
// force with four evidence lines.
func simReport(id *identity.Identity, i int) []byte {
	now := time.Now().UTC()
	addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
	r := report.Report{Seq: 1, Time: now, Type: report.TypeAlert, Scenario: "sshd-bruteforce",
		Value: netip.PrefixFrom(addr, 32), Reason: "6 failed logins in 10s", First: now.Add(-9 * time.Second), Last: now, Count: 6}
	for k := range 4 {
		r.Evidence = append(r.Evidence, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2",
			now.Format(time.Stamp), 3000+k, addr, 50000+k))
	}
	r.Sign(id)
	return report.Marshal(&r)
}

// Messages carry a 16-byte header in front of the signed report: magic,
// sender index, sequence (0 for warm-up probes) and the send time (Unix
// nanoseconds: parent and child share the machine's clock).
const simHeader = 2 + 2 + 4 + 8

func simMessage(sender, seq int, rep []byte) []byte {
	b := make([]byte, simHeader, simHeader+len(rep))
	binary.BigEndian.PutUint16(b[0:], simMagic)
	binary.BigEndian.PutUint16(b[2:], uint16(sender))
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	return append(b, rep...)
}

func simParse(b []byte) (sender, seq int, sent int64, ok bool) {
	if len(b) < simHeader || binary.BigEndian.Uint16(b) != simMagic {
		return 0, 0, 0, false
	}
	return int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint32(b[4:])), int64(binary.BigEndian.Uint64(b[8:])), true
}

// hist is a log-linear latency histogram in nanoseconds: exact below 128,
// then 64 buckets per power of two (1.6% resolution).
type hist [128 + 57*64]uint64

func histIndex(v int64) int {
	if v < 128 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v))
	shift := e - 7
	top := int(uint64(v) >> shift) // 64..127
	return 128 + (e-8)*64 + top - 64
}

func histValue(i int) time.Duration {
	if i < 128 {
		return time.Duration(i)
	}
	e := (i-128)/64 + 8
	top := (i-128)%64 + 64
	return time.Duration(uint64(top) << (e - 7))
}

func (h *hist) add(d int64) { h[histIndex(d)]++ }

func (h *hist) merge(o *hist) {
	for i := range h {
		h[i] += o[i]
	}
}

func (h *hist) count() uint64 {
	var n uint64
	for _, c := range h {
		n += c
	}
	return n
}

// quantile returns the value at q (0..1); max is quantile(1).
func (h *hist) quantile(q float64) time.Duration {
	n := h.count()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range h {
		seen += c
		if seen >= want {
			return histValue(i)
		}
	}
	return histValue(len(h) - 1)
}

func (h *hist) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", h.count(), r(h.quantile(0.5)), r(h.quantile(0.9)), r(h.quantile(0.99)), r(h.quantile(1)))
}

// simTracker records, per published report, how many other members
// received it and the latest arrival: "received by every other member".
type simTracker struct {
	per   int
	count []atomic.Int32
	last  []atomic.Int64
	acked []atomic.Bool // the stream acked the report (in-process senders)
}

func newSimTracker(members, per int) *simTracker {
	return &simTracker{per: per, count: make([]atomic.Int32, members*per), last: make([]atomic.Int64, members*per),
		acked: make([]atomic.Bool, members*per)}
}

func (tr *simTracker) ack(sender, seq int) {
	if i := sender*tr.per + seq - 1; seq >= 1 && seq <= tr.per && i < len(tr.acked) {
		tr.acked[i].Store(true)
	}
}

func (tr *simTracker) saw(sender, seq int, lat int64) {
	i := sender*tr.per + seq - 1
	if seq < 1 || seq > tr.per || i >= len(tr.count) {
		return
	}
	tr.count[i].Add(1)
	for {
		old := tr.last[i].Load()
		if lat <= old || tr.last[i].CompareAndSwap(old, lat) {
			return
		}
	}
}

// simReceiver is one member's consumer: latency histograms of what the
// other members published, on the fast path and through the stream, and
// which senders' warm-up probes it saw.
type simReceiver struct {
	self         int
	fast, stream hist
	fastN        atomic.Int64
	streamN      atomic.Int64
	warm         []atomic.Bool
	warmSeen     atomic.Int32
	fastT, strT  *simTracker
}

func newSimReceiver(self, members int, fastT, strT *simTracker) *simReceiver {
	return &simReceiver{self: self, warm: make([]atomic.Bool, members), fastT: fastT, strT: strT}
}

// on runs on the Consume goroutine.
func (r *simReceiver) on(m Msg) {
	sender, seq, sent, ok := simParse(m.Data)
	if !ok || sender == r.self || sender >= len(r.warm) {
		return
	}
	if seq == 0 {
		if !r.warm[sender].Swap(true) {
			r.warmSeen.Add(1)
		}
		return
	}
	lat := time.Now().UnixNano() - sent
	if m.Seq == 0 {
		r.fast.add(lat)
		r.fastN.Add(1)
		if r.fastT != nil {
			r.fastT.saw(sender, seq, lat)
		}
	} else {
		r.stream.add(lat)
		r.streamN.Add(1)
		if r.strT != nil {
			r.strT.saw(sender, seq, lat)
		}
	}
}

// simPublisher publishes one member's reports at its rate, simWorkers at a
// time, and records how late each Publish call started (lag) and how long
// it took to the stream's ack.
type simPublisher struct {
	f        *Fabric
	self     int
	id       string
	rep      []byte
	mu       sync.Mutex
	lag, ack hist
	acked    atomic.Int64
	failed   atomic.Int64
	issued   atomic.Int64 // reports handed to Publish
	lastAck  atomic.Int64
	tracked  []*simTracker // marked with each acked report
}

// run publishes n reports, report k (1-based) due at start+(k-1)*every,
// but none due after stop (publishers that fall behind do not run on); it
// returns when all issued reports are acked or ctx ends.
func (p *simPublisher) run(ctx context.Context, start, stop time.Time, every time.Duration, n int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range simWorkers {
		wg.Go(func() {
			var lag, ack hist
			for k := range jobs {
				due := start.Add(time.Duration(k-1) * every)
				began := time.Now()
				lag.add(int64(began.Sub(due)))
				msg := simMessage(p.self, k, p.rep)
				if _, err := p.f.Publish(ctx, p.id, fmt.Sprintf("sim-%d-%d", p.self, k), msg); err != nil {
					p.failed.Add(1)
					continue
				}
				now := time.Now()
				ack.add(int64(now.Sub(began)))
				p.acked.Add(1)
				for _, tr := range p.tracked {
					tr.ack(p.self, k)
				}
				p.lastAck.Store(now.UnixNano())
			}
			p.mu.Lock()
			p.lag.merge(&lag)
			p.ack.merge(&ack)
			p.mu.Unlock()
		})
	}
	for k := 1; k <= n; k++ {
		due := start.Add(time.Duration(k-1) * every)
		if time.Now().After(stop) {
			break
		}
		time.Sleep(time.Until(due)) // the publishing rate, not a wait for an event
		p.issued.Add(1)
		select {
		case jobs <- k:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// warmUp sends fast-path probes every 50 ms until ctx ends.
func (p *simPublisher) warmUp(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		p.f.PublishFast(p.id, simMessage(p.self, 0, nil))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// simLinks tallies the hub servers' leaf and route connections by the
// compression mode nats-server chose, with their largest RTT.
func simLinks(hub []*Fabric) string {
	count := map[string]int{}
	maxRTT := map[string]time.Duration{}
	note := func(kind, mode, rtt string) {
		k := kind + " " + mode
		count[k]++
		if d, err := time.ParseDuration(rtt); err == nil {
			maxRTT[k] = max(maxRTT[k], d)
		}
	}
	for _, f := range hub {
		if lz, err := f.srv.Leafz(nil); err == nil {
			for _, l := range lz.Leafs {
				note("leaf", l.Compression, l.RTT)
			}
		}
		if rz, err := f.srv.Routez(nil); err == nil {
			for _, r := range rz.Routes {
				note("route", r.Compression, r.RTT)
			}
		}
	}
	var parts []string
	for k, n := range count {
		parts = append(parts, fmt.Sprintf("%s: %d (RTT up to %v)", k, n, maxRTT[k].Round(time.Millisecond)))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// cpuSeconds returns this process's user and system CPU time.
func cpuSeconds() (user, sys float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds()
}

// procStatusKB returns a "VmXxx:" field of /proc/self/status in kB, or 0.
func procStatusKB(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				n, _ := strconv.Atoi(fs[0])
				return n
			}
		}
	}
	return 0
}

// simLogger passes the fabric's errors to the test log (its start-up warnings are many).
func simLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

// simLeaf starts member i as a leaf of the hub.
func simLeaf(t testing.TB, i int, hubs []string, members []Member) (*Fabric, *identity.Identity) {
	t.Helper()
	id, k := simIdentity(t, i)
	f := start(t, Options{DataDir: t.TempDir(), Name: id.ID, Hub: hubs, Seed: k.seed, Members: members, Logger: simLogger(t)})
	return f, id
}

// TestSimulation50 runs an alliance of 50 members on this machine: a hub
// of three clustered fabrics keeping the stream (R3) and 47 leaf fabrics,
// authenticated as the daemon does (Members, Seed, TLS). 46 leaf
// members run in this process, one in a child process (the test binary
// re-executed, TestSimulationChild) so that one member's CPU and memory
// can be measured alone. Every member publishes signed reports at
// 200/s (10,000/s in all) for 30 s and consumes everyone's; the test
// reports delivery latency (publish -> Consume of every other member) on
// the fast path and through the stream, the rate achieved, CPU and RSS.
// It fails if a stream message is lost or publishing fails. A benchmark:
// PHALANX_BENCH=1.
func TestSimulation50(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") != "1" {
		t.Skip("benchmark: set PHALANX_BENCH=1")
	}
	p := simParams{members: simEnvInt(t, simEnvMembers, 50), rate: simEnvInt(t, simEnvRate, 10000), seconds: simEnvInt(t, simEnvSeconds, 30)}
	if p.members < simHubSize+2 || p.members > 250 {
		t.Fatalf("%s=%d: give 5 to 250 members", simEnvMembers, p.members)
	}
	per := p.perMember()
	every := time.Second * time.Duration(p.members) / time.Duration(p.rate)
	members := simMembers(t, p.members)
	childIdx := p.members - 1
	t.Logf("simulation: %d members (hub of %d + %d leafs, member %d in a child process), %d reports/s in all (%d/s each, one every %v), %d s: %d reports per member",
		p.members, simHubSize, p.members-simHubSize, childIdx, p.rate, p.rate/p.members, every, p.seconds, per)

	// The hub: three clustered members with leaf listeners.
	ports := freePorts(t, simHubSize)
	var routes []string
	for _, port := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", port))
	}
	fabs := make([]*Fabric, p.members-1)
	ids := make([]*identity.Identity, p.members)
	var hubs []string
	for i := range simHubSize {
		id, k := simIdentity(t, i)
		ids[i] = id
		o := Options{DataDir: t.TempDir(), Name: id.ID, Listen: "127.0.0.1:0", Cluster: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Routes: routes, Replicas: 3, Seed: k.seed, Members: members, LeafListen: "127.0.0.1:0", Logger: simLogger(t)}
		fabs[i] = startMember(t, o).f
		hubs = append(hubs, fabs[i].LeafURL())
	}
	ready(t, fabs[:simHubSize]...)
	waitReplicated(t, fabs[0], 3)
	began := time.Now()
	for i := simHubSize; i < childIdx; i++ {
		fabs[i], ids[i] = simLeaf(t, i, hubs, members)
	}
	ready(t, fabs...)
	t.Logf("hub ready; %d in-process leaf members started and ready in %v", childIdx-simHubSize, time.Since(began).Round(time.Millisecond))
	first, err := fabs[0].LastSeq()
	if err != nil {
		t.Fatal(err)
	}

	// The child member.
	child := startSimChild(t, childIdx, hubs, p)

	fastT, strT := newSimTracker(p.members, per), newSimTracker(p.members, per)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recvs := make([]*simReceiver, len(fabs))
	var consumers sync.WaitGroup
	defer consumers.Wait()
	defer cancel()
	for i, f := range fabs {
		recvs[i] = newSimReceiver(i, p.members, fastT, strT)
		consumers.Go(func() {
			if err := f.Consume(ctx, first+1, recvs[i].on); err != nil && ctx.Err() == nil {
				t.Errorf("member %d: Consume: %v", i, err)
			}
		})
	}
	pubs := make([]*simPublisher, len(fabs))
	wctx, wcancel := context.WithCancel(ctx)
	var warm sync.WaitGroup
	for i, f := range fabs {
		pubs[i] = &simPublisher{f: f, self: i, id: ids[i].ID, rep: simReport(ids[i], i)}
		warm.Go(func() { pubs[i].warmUp(wctx) })
	}
	child.send(t, "warm")
	waitFor(t, "every member to receive every other member's fast-path probes", 2*time.Minute, func() bool {
		for _, r := range recvs {
			if int(r.warmSeen.Load()) < p.members-1 {
				return false
			}
		}
		return true
	})
	child.expect(t, "linked", 2*time.Minute)
	wcancel()
	warm.Wait()
	child.send(t, "stop-warm")
	child.expect(t, "warm-stopped", 10*time.Second)
	t.Logf("fast path linked between all %d members (warm-up %v); report size %d bytes + %d-byte header",
		p.members, time.Since(began).Round(time.Millisecond), len(pubs[0].rep), simHeader)

	// The measured run. Publishers issue no report due after the window;
	// reports still unacked 20 s after it are given up.
	runtime.GC()
	startAt := time.Now().Add(500 * time.Millisecond)
	window := time.Duration(p.seconds) * time.Second
	end := startAt.Add(window)
	child.send(t, fmt.Sprintf("start %d", startAt.UnixNano()))
	u0, s0 := cpuSeconds()
	pctx, pcancel := context.WithDeadline(ctx, end.Add(20*time.Second))
	defer pcancel()
	var pubWG sync.WaitGroup
	for _, pb := range pubs {
		pb.tracked = []*simTracker{fastT, strT}
		pubWG.Go(func() { pb.run(pctx, startAt, end, every, per) })
	}
	progress := func() string {
		var acked, issued, fastN, streamN int64
		for _, pb := range pubs {
			acked += pb.acked.Load()
			issued += pb.issued.Load()
		}
		for _, r := range recvs {
			fastN += r.fastN.Load()
			streamN += r.streamN.Load()
		}
		u, s := cpuSeconds()
		return fmt.Sprintf("in-process: issued %d, acked %d; delivered fast %d, stream %d; CPU %.1f s; RSS %d MB",
			issued, acked, fastN, streamN, u+s-u0-s0, procStatusKB("VmRSS")/1024)
	}
	for time.Now().Before(end) {
		time.Sleep(min(5*time.Second, time.Until(end))) // progress reports, not a wait for an event
		t.Logf("[%5.1fs] %s", time.Since(startAt).Seconds(), progress())
	}
	u1, s1 := cpuSeconds()
	rss, hwm := procStatusKB("VmRSS"), procStatusKB("VmHWM")
	links := simLinks(fabs[:simHubSize])
	pubWG.Wait()
	pubsDone := time.Now()
	cp := child.published(t)

	// Drain: every in-process member should get every other member's
	// acked reports through the stream.
	var ackedAll, failed, issuedAll int64
	var lastAck int64
	for _, pb := range pubs {
		ackedAll += pb.acked.Load()
		issuedAll += pb.issued.Load()
		failed += pb.failed.Load()
		lastAck = max(lastAck, pb.lastAck.Load())
	}
	ackedAll += cp.acked
	issuedAll += cp.issued
	failed += cp.failed
	lastAck = max(lastAck, cp.lastAck)
	wantStream := func(self int) int64 {
		if self < len(pubs) {
			return ackedAll - pubs[self].acked.Load()
		}
		return ackedAll - cp.acked
	}
	drainErr := func() error {
		deadline := time.Now().Add(2 * time.Minute)
		last := time.Now()
		for {
			behind := 0
			for i, r := range recvs {
				if r.streamN.Load() < wantStream(i) {
					behind++
				}
			}
			if behind == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d in-process members still miss stream messages 2 minutes after publishing ended", behind, len(recvs))
			}
			if time.Since(last) > 5*time.Second {
				t.Logf("[%5.1fs] draining: %d members behind; %s", time.Since(startAt).Seconds(), behind, progress())
				last = time.Now()
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}()
	drained := time.Since(pubsDone)
	child.send(t, "report")
	cr := child.result(t)

	// Summary.
	var lag, ack, fast, stream hist
	for _, pb := range pubs {
		lag.merge(&pb.lag)
		ack.merge(&pb.ack)
	}
	var fastN, streamN int64
	for _, r := range recvs {
		fast.merge(&r.fast)
		stream.merge(&r.stream)
		fastN += r.fastN.Load()
		streamN += r.streamN.Load()
	}
	total := int64(per * p.members)
	inWindow := min(time.Duration(lastAck-startAt.UnixNano()), window+20*time.Second)
	t.Logf("RESULT sim publish: %d of %d due reports issued in the %v window, %d acked by the stream (%d failed); %.0f reports/s acked of %d/s wanted (%s); the last ack came %v after the window",
		issuedAll, total, window, ackedAll, failed, float64(ackedAll)/inWindow.Seconds(), p.rate,
		map[bool]string{true: "publishers kept up", false: "publishers did NOT keep up"}[issuedAll == total && ackedAll == total && inWindow <= window+time.Second],
		(inWindow - window).Round(time.Millisecond))
	t.Logf("RESULT sim publish lag (Publish call start - due time), in-process members: %v", &lag)
	t.Logf("RESULT sim publish -> stream ack, in-process members: %v", &ack)
	inProc := len(recvs)
	var wantFast, wantStreamAll int64
	for i := range recvs {
		wantStreamAll += wantStream(i)
	}
	wantFast = wantStreamAll // every acked report went on the fast path first
	t.Logf("RESULT sim fast path, publish -> Consume on each other in-process member (%d deliveries for %d wanted, %.2f%% lost): %v",
		fastN, wantFast, max(0, 100*float64(wantFast-fastN)/float64(wantFast)), &fast)
	t.Logf("RESULT sim stream, publish -> Consume on each other in-process member (%d of %d deliveries; drained %v after publishing ended): %v",
		streamN, wantStreamAll, drained.Round(time.Millisecond), &stream)
	for _, path := range []struct {
		name string
		tr   *simTracker
	}{{"fast path", fastT}, {"stream", strT}} {
		var all hist
		incomplete := 0
		for i := range path.tr.count {
			sender := i / per
			want := int32(inProc)
			if sender < inProc {
				want-- // the sender does not count itself
				if !path.tr.acked[i].Load() {
					continue
				}
			} else if path.tr.count[i].Load() == 0 {
				continue // the child's: its acks are not tracked here
			}
			if path.tr.count[i].Load() >= want {
				all.add(path.tr.last[i].Load())
			} else {
				incomplete++
			}
		}
		t.Logf("RESULT sim %s, publish -> received by every other in-process member (%d members), per report: %v; %d reports missed by at least one",
			path.name, inProc, &all, incomplete)
	}
	cpu := (u1 - u0) + (s1 - s0)
	t.Logf("RESULT sim CPU, this process (%d members: hub of %d and %d leafs) over the %d s window: %.1f s user + %.1f s system = %.2f cores; per member %.3f cores (%.2f CPU s per 30 s)",
		inProc, simHubSize, inProc-simHubSize, p.seconds, u1-u0, s1-s0, cpu/float64(p.seconds), cpu/float64(p.seconds)/float64(inProc), cpu/float64(p.seconds)/float64(inProc)*30)
	t.Logf("RESULT sim memory, this process: RSS %d MB at the window's end, peak %d MB; per member %.1f MB",
		rss/1024, hwm/1024, float64(rss)/1024/float64(inProc))
	t.Logf("RESULT sim child (one leaf member alone in its process) over the window: %.2f s user + %.2f s system = %.3f cores; RSS %d MB, peak %d MB; acked %d of %d; fast path %v",
		cr.user, cr.sys, (cr.user+cr.sys)/float64(p.seconds), cr.rss/1024, cr.hwm/1024, cp.acked, per, cr.fast)
	t.Logf("RESULT sim child stream deliveries: %v (%d of %d)", cr.stream, cr.streamN, wantStream(p.members-1))
	t.Logf("RESULT sim hub links at the window's end (nats-server compression mode chosen by s2_auto from the RTT): %s", links)
	if failed > 0 {
		t.Errorf("%d publishes failed", failed)
	}
	if drainErr != nil {
		t.Error(drainErr)
	}
	if cr.streamN < wantStream(p.members-1) {
		t.Errorf("the child member received %d of %d stream messages", cr.streamN, wantStream(p.members-1))
	}
}

// simChild is the child process running one leaf member.
type simChild struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

type simChildResult struct {
	user, sys    float64
	rss, hwm     int
	streamN      int64
	fast, stream string
}

// simChildPublished is what the child published.
type simChildPublished struct {
	issued, acked, failed, lastAck int64
}

func startSimChild(t *testing.T, idx int, hubs []string, p simParams) *simChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestSimulationChild$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %d %d %d", simEnvChild, idx, strings.Join(hubs, ","), p.members, p.rate, p.seconds))
	cmd.Stderr = testWriter{t}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &simChild{cmd: cmd, in: in, lines: make(chan string, 16)}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "SIM "); ok {
				c.lines <- line
			} else if strings.TrimSpace(sc.Text()) != "" {
				t.Log("child: " + sc.Text())
			}
		}
		close(c.lines)
	}()
	c.expect(t, "ready", time.Minute)
	return c
}

func (c *simChild) send(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c.in, line); err != nil {
		t.Fatalf("tell the child %q: %v", line, err)
	}
}

// next returns the child's next line, failing after limit.
func (c *simChild) next(t *testing.T, limit time.Duration) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatal("the child exited (see its output above)")
		}
		return line
	case <-time.After(limit):
		t.Fatalf("no word from the child within %v", limit)
	}
	return ""
}

func (c *simChild) expect(t *testing.T, want string, limit time.Duration) {
	t.Helper()
	if got := c.next(t, limit); got != want {
		t.Fatalf("the child said %q, want %q", got, want)
	}
}

func (c *simChild) published(t *testing.T) simChildPublished {
	t.Helper()
	line := c.next(t, 2*time.Minute)
	var r simChildPublished
	if _, err := fmt.Sscanf(line, "published %d %d %d %d", &r.issued, &r.acked, &r.failed, &r.lastAck); err != nil {
		t.Fatalf("the child said %q: %v", line, err)
	}
	return r
}

func (c *simChild) result(t *testing.T) simChildResult {
	t.Helper()
	line := c.next(t, 3*time.Minute)
	var r simChildResult
	head, rest, _ := strings.Cut(line, " | ")
	fastS, streamS, _ := strings.Cut(rest, " | ")
	if _, err := fmt.Sscanf(head, "result %g %g %d %d %d", &r.user, &r.sys, &r.rss, &r.hwm, &r.streamN); err != nil {
		t.Fatalf("the child said %q: %v", line, err)
	}
	r.fast, r.stream = fastS, streamS
	return r
}

// TestSimulationChild is one leaf member of TestSimulation50 in a process
// of its own; it runs only as that test's child. It talks on stdin and
// stdout ("SIM ..." lines).
func TestSimulationChild(t *testing.T) {
	env := os.Getenv(simEnvChild)
	if env == "" {
		t.Skip("the child of TestSimulation50")
	}
	var idx int
	var hubList string
	var p simParams
	if _, err := fmt.Sscanf(env, "%d %s %d %d %d", &idx, &hubList, &p.members, &p.rate, &p.seconds); err != nil {
		t.Fatalf("%s=%q: %v", simEnvChild, env, err)
	}
	say := func(format string, args ...any) { fmt.Printf("SIM "+format+"\n", args...) }
	members := simMembers(t, p.members)
	f, id := simLeaf(t, idx, strings.Split(hubList, ","), members)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := f.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	recv := newSimReceiver(idx, p.members, nil, nil)
	consumed := make(chan error, 1)
	go func() { consumed <- f.Consume(ctx, first+1, recv.on) }()
	defer func() { cancel(); <-consumed }()
	pub := &simPublisher{f: f, self: idx, id: id.ID, rep: simReport(id, idx)}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	read := func() string {
		if !in.Scan() {
			t.Fatal("the parent closed stdin")
		}
		return in.Text()
	}
	if got := read(); got != "warm" {
		t.Fatalf("parent said %q, want warm", got)
	}
	wctx, wcancel := context.WithCancel(ctx)
	warmed := make(chan struct{})
	go func() { pub.warmUp(wctx); close(warmed) }()
	waitFor(t, "every other member's probes", 2*time.Minute, func() bool { return int(recv.warmSeen.Load()) >= p.members-1 })
	say("linked")
	if got := read(); got != "stop-warm" {
		t.Fatalf("parent said %q, want stop-warm", got)
	}
	wcancel()
	<-warmed
	say("warm-stopped")
	var startNs int64
	if _, err := fmt.Sscanf(read(), "start %d", &startNs); err != nil {
		t.Fatal(err)
	}
	startAt := time.Unix(0, startNs)
	per := p.perMember()
	every := time.Second * time.Duration(p.members) / time.Duration(p.rate)
	runtime.GC()
	time.Sleep(time.Until(startAt)) // the agreed start, not a wait for an event
	u0, s0 := cpuSeconds()
	end := startAt.Add(time.Duration(p.seconds) * time.Second)
	pctx, pcancel := context.WithDeadline(ctx, end.Add(20*time.Second))
	defer pcancel()
	done := make(chan struct{})
	go func() { pub.run(pctx, startAt, end, every, per); close(done) }()
	time.Sleep(time.Until(end)) // the measured window
	u1, s1 := cpuSeconds()
	rss, hwm := procStatusKB("VmRSS"), procStatusKB("VmHWM")
	<-done
	say("published %d %d %d %d", pub.issued.Load(), pub.acked.Load(), pub.failed.Load(), pub.lastAck.Load())
	if got := read(); got != "report" {
		t.Fatalf("parent said %q, want report", got)
	}
	// The parent has drained its members; give this one a little longer
	// if it is still behind (it does not know how many to expect).
	deadline := time.Now().Add(30 * time.Second)
	for n := recv.streamN.Load(); time.Now().Before(deadline); {
		time.Sleep(time.Second) // waiting for deliveries to stop growing
		if m := recv.streamN.Load(); m == n {
			break
		} else {
			n = m
		}
	}
	say("result %g %g %d %d %d | %v | %v", u1-u0, s1-s0, rss, hwm, recv.streamN.Load(), &recv.fast, &recv.stream)
}
