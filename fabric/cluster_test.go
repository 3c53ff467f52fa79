package fabric

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"phalanx/testenv"
)

// clusterReady bounds cluster formation and leader elections in tests.
const clusterReady = 30 * time.Second

// freePorts returns n loopback ports for the cluster listeners. Every
// member needs the others' addresses before it starts (a clustered
// JetStream server refuses to start without configured routes), so they
// cannot all come from Cluster ":0".
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	return testenv.FreePorts(t, n)
}

// member is one member's Fabric with what it needs to restart.
type member struct {
	f   *Fabric
	opt Options
}

func startMember(t *testing.T, o Options) *member {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start %s: %v", o.Cluster, err)
	}
	t.Cleanup(func() { f.Close() })
	return &member{f: f, opt: o}
}

// streamInfo reads the stream's info through f.
func streamInfo(f *Fabric) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// waitReplicated waits until the stream, seen through f, has replicas
// copies: a leader and replicas-1 followers that are current.
func waitReplicated(t *testing.T, f *Fabric, replicas int) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	waitFor(t, fmt.Sprintf("stream with %d current replicas", replicas), clusterReady, func() bool {
		i, err := streamInfo(f)
		if err != nil || i.Config.Replicas != replicas || i.Cluster == nil || i.Cluster.Leader == "" ||
			len(i.Cluster.Replicas) != replicas-1 {
			return false
		}
		for _, p := range i.Cluster.Replicas {
			if !p.Current || p.Offline {
				return false
			}
		}
		info = i
		return true
	})
	return info
}

// fastOn returns the fast-path messages c saw on subject.
func (c *collector) fastOn(subject string) []Msg {
	var out []Msg
	for _, m := range c.fastMsgs() {
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// waitFast waits until c saw at least n fast-path messages on subject and
// returns them.
func (c *collector) waitFast(t *testing.T, subject string, n int) []Msg {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d fast-path messages on %s", n, subject), 15*time.Second, func() bool { return len(c.fastOn(subject)) >= n })
	return c.fastOn(subject)
}

func TestCluster(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	began := time.Now()
	var ms []*member
	for _, p := range ports {
		// Every member gets the same route list, its own address included.
		ms = append(ms, startMember(t, Options{
			DataDir:  t.TempDir(),
			Cluster:  fmt.Sprintf("127.0.0.1:%d", p),
			Routes:   routes,
			Replicas: 3,
		}))
	}
	a, b, c := ms[0], ms[1], ms[2]
	if a.f.Name() == b.f.Name() || b.f.Name() == c.f.Name() || a.f.Name() == c.f.Name() {
		t.Fatalf("default names are not unique: %s %s %s", a.f.Name(), b.f.Name(), c.f.Name())
	}
	if want := routes[0]; a.f.ClusterURL() != want {
		t.Fatalf("ClusterURL = %q, want %q", a.f.ClusterURL(), want)
	}
	ready(t, a.f, b.f, c.f)
	info := waitReplicated(t, a.f, 3)
	t.Logf("cluster of 3 formed, stream R3 with current replicas after %v (leader %s)",
		time.Since(began).Round(time.Millisecond), info.Cluster.Leader)

	// A report published on A reaches B and C in the same order, on both paths.
	cb, cc := consume(t, b.f, 0), consume(t, c.f, 0)
	cb.fastReady(t, a.f)
	cc.fastReady(t, a.f)
	publishN(t, a.f, "a", 1, 20)
	for name, col := range map[string]*collector{"B": cb, "C": cc} {
		checkSeqs(t, col.waitStream(t, 20), 1, body)
		fast := col.waitFast(t, FastPrefix+"a", 20)
		if len(fast) != 20 {
			t.Fatalf("%s: %d fast-path messages, want 20", name, len(fast))
		}
		for i, m := range fast {
			if string(m.Data) != body(uint64(i+1)) {
				t.Fatalf("%s: fast-path message %d is %s %q, want %s %q", name, i, m.Subject, m.Data, FastPrefix+"a", body(uint64(i+1)))
			}
		}
	}

	// C stops; A publishes on; C comes back on its data directory and
	// catches up from its cursor.
	cursor := cc.streamMsgs()[19].Seq + 1
	if err := c.f.Close(); err != nil {
		t.Fatalf("Close C: %v", err)
	}
	publishN(t, a.f, "a", 21, 20)
	restarted := time.Now()
	c = startMember(t, c.opt)
	ready(t, c.f)
	cc = consume(t, c.f, cursor)
	checkSeqs(t, cc.waitStream(t, 20), 21, body)
	waitReplicated(t, a.f, 3)
	t.Logf("C restarted and caught up with what it missed in %v", time.Since(restarted).Round(time.Millisecond))
	if n := len(cc.streamMsgs()); n != 20 {
		t.Fatalf("C delivered %d stream messages from its cursor, want 20", n)
	}

	// The stream leader goes away; the survivors keep publishing.
	ms = []*member{a, b, c}
	info = waitReplicated(t, a.f, 3)
	var leader *member
	var survivors []*member
	for _, m := range ms {
		if m.f.Name() == info.Cluster.Leader {
			leader = m
		} else {
			survivors = append(survivors, m)
		}
	}
	if leader == nil || len(survivors) != 2 {
		t.Fatalf("stream leader %q is none of %s, %s, %s", info.Cluster.Leader, a.f.Name(), b.f.Name(), c.f.Name())
	}
	for _, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got := m.f.StreamLeader(ctx)
		cancel()
		if got != info.Cluster.Leader {
			t.Errorf("%s: StreamLeader() = %q, want %q", m.f.Name(), got, info.Cluster.Leader)
		}
	}
	pub, sub := survivors[0], survivors[1]
	last, err := pub.f.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	cs := consume(t, sub.f, last+1)
	cs.fastReady(t, pub.f)

	// A ticker on the fast path measures its gap while the leader dies.
	stop := make(chan struct{})
	var ticks atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if err := pub.f.nc.Publish(FastPrefix+"tick", []byte("tick")); err == nil {
					ticks.Add(1)
				}
			}
		}
	})
	cs.waitFast(t, FastPrefix+"tick", 10)

	killed := time.Now()
	if err := leader.f.Close(); err != nil {
		t.Fatalf("Close the stream leader: %v", err)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), clusterReady)
	seq, err := pub.f.Publish(pctx, "p", "after-kill", []byte("after-kill"))
	pcancel()
	if err != nil {
		t.Fatalf("Publish after the leader died: %v", err)
	}
	streamGap := time.Since(killed)
	if seq != last+1 {
		t.Fatalf("first publish after the leader died got sequence %d, want %d", seq, last+1)
	}
	publishN(t, pub.f, "p", last+2, 9)
	// Keep ticking a little after the stream came back, then stop.
	n := ticks.Load()
	waitFor(t, "more fast-path ticks", 10*time.Second, func() bool { return ticks.Load() >= n+20 })
	close(stop)
	wg.Wait()

	got := cs.waitStream(t, 10)
	if got[0].Seq != last+1 || string(got[0].Data) != "after-kill" {
		t.Fatalf("first stream message after the kill is seq %d %q, want %d %q", got[0].Seq, got[0].Data, last+1, "after-kill")
	}
	checkSeqs(t, got[1:], last+2, body)

	var fastGap time.Duration
	var prev time.Time
	var fastCount int
	for _, m := range cs.fastOn(FastPrefix + "tick") {
		fastCount++
		if !prev.IsZero() && m.Time.After(killed.Add(-time.Second)) {
			fastGap = max(fastGap, m.Time.Sub(prev))
		}
		prev = m.Time
	}
	if fastCount < 20 {
		t.Fatalf("the survivor received only %d fast-path ticks", fastCount)
	}
	t.Logf("stream leader %s killed: stream publishing resumed after %v; longest fast-path gap %v (%d ticks of %d received)",
		leader.f.Name(), streamGap.Round(time.Millisecond), fastGap.Round(time.Millisecond), fastCount, ticks.Load())
	if fastGap >= streamGap {
		t.Errorf("the fast path stalled for %v, as long as the stream (%v): it should keep flowing", fastGap, streamGap)
	}
}

func TestClusterOptionsInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"replicas without cluster", Options{Replicas: 3}, "need clustering"},
		{"routes without cluster", Options{Routes: []string{"nats://127.0.0.1:6222"}}, "need clustering"},
		{"cluster without routes", Options{Cluster: "127.0.0.1:0"}, "set Options.Routes"},
		{"bad route", Options{Cluster: "127.0.0.1:0", Routes: []string{"127.0.0.1:6222"}}, "want nats://host:port"},
		{"bad route scheme", Options{Cluster: "127.0.0.1:0", Routes: []string{"http://127.0.0.1:6222"}}, "want nats://host:port"},
		{"too many replicas", Options{Cluster: "127.0.0.1:0", Routes: []string{"nats://127.0.0.1:6222"}, Replicas: 6}, "out of range"},
		{"negative replicas", Options{Replicas: -1}, "out of range"},
		{"bad name", Options{Name: "a b"}, "invalid server name"},
		{"bad cluster address", Options{Cluster: "127.0.0.1", Routes: []string{"nats://127.0.0.1:6222"}}, "cluster address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.DataDir = dir
			f, err := Start(context.Background(), tc.o)
			if err == nil {
				f.Close()
				t.Fatalf("Start succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Environment of a "member" child: its cluster address and routes.
const (
	childClusterEnv = "PHALANX_FABRIC_TEST_CLUSTER"
	childRoutesEnv  = "PHALANX_FABRIC_TEST_ROUTES"
)

// clusterChild runs in a child process: a clustered member that prints
// "ready NAME" once the stream is usable and then waits to be killed.
func clusterChild(dir string) int {
	f, err := Start(context.Background(), Options{
		DataDir:  dir,
		Cluster:  os.Getenv(childClusterEnv),
		Routes:   strings.Split(os.Getenv(childRoutesEnv), ","),
		Replicas: 3,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: start:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReady)
	defer cancel()
	if err := f.Ready(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child: ready:", err)
		return 1
	}
	fmt.Printf("ready %s\n", f.Name())
	select {} // until SIGKILL
}

// TestClusterLeaderCrash SIGKILLs the process of the stream leader (no
// graceful hand-over, unlike Close) and measures how long the survivors'
// stream publishing and fast path stall.
func TestClusterLeaderCrash(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var ms []*member
	for _, p := range ports[:2] {
		ms = append(ms, startMember(t, Options{
			DataDir: t.TempDir(), Cluster: fmt.Sprintf("127.0.0.1:%d", p), Routes: routes, Replicas: 3,
		}))
	}
	t.Setenv(childClusterEnv, fmt.Sprintf("127.0.0.1:%d", ports[2]))
	t.Setenv(childRoutesEnv, strings.Join(routes, ","))
	child, line := runChild(t, "member", t.TempDir(), 0)
	name, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		t.Fatalf("child said %q, want ready NAME", line)
	}
	pub, sub := ms[0], ms[1]
	waitReplicated(t, pub.f, 3)

	// Move the stream's leadership to the child.
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, name)
	waitFor(t, "the child to lead the stream", clusterReady, func() bool {
		i, err := streamInfo(pub.f)
		if err != nil {
			return false
		}
		if i.Cluster != nil && i.Cluster.Leader == name {
			return true
		}
		pub.f.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+StreamName, []byte(req), 2*time.Second)
		waitReplicated(t, pub.f, 3)
		return false
	})

	publishN(t, pub.f, "p", 1, 5)
	cs := consume(t, sub.f, 0)
	checkSeqs(t, cs.waitStream(t, 5), 1, body)
	cs.fastReady(t, pub.f)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				pub.f.nc.Publish(FastPrefix+"tick", []byte("tick"))
			}
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	cs.waitFast(t, FastPrefix+"tick", 10)

	killed := time.Now()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), clusterReady)
	seq, err := pub.f.Publish(pctx, "p", "id-6", []byte(body(6)))
	pcancel()
	if err != nil {
		t.Fatalf("Publish after the leader crashed: %v", err)
	}
	streamGap := time.Since(killed)
	if seq != 6 {
		t.Fatalf("first publish after the crash got sequence %d, want 6", seq)
	}
	publishN(t, pub.f, "p", 7, 4)
	// After a leader's crash the consumer learns of it from missed
	// heartbeats and must wait for the new leader: give it time on a busy
	// machine.
	waitFor(t, "10 stream messages after the crash", 60*time.Second, func() bool { return len(cs.streamMsgs()) >= 10 })
	checkSeqs(t, cs.waitStream(t, 10), 1, body)
	n := len(cs.fastOn(FastPrefix + "tick"))
	cs.waitFast(t, FastPrefix+"tick", n+20)
	close(stop)
	wg.Wait()

	var fastGap time.Duration
	var prev time.Time
	for _, m := range cs.fastOn(FastPrefix + "tick") {
		if !prev.IsZero() && m.Time.After(killed.Add(-time.Second)) {
			fastGap = max(fastGap, m.Time.Sub(prev))
		}
		prev = m.Time
	}
	t.Logf("stream leader %s SIGKILLed: stream publishing resumed after %v; longest fast-path gap %v",
		name, streamGap.Round(time.Millisecond), fastGap.Round(time.Millisecond))
	if fastGap >= streamGap {
		t.Errorf("the fast path stalled for %v, as long as the stream (%v): it should keep flowing", fastGap, streamGap)
	}
}
