package fabric

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// quickHealth makes the health watch act within a test's patience.
var quickHealth = HealthOptions{Interval: 50 * time.Millisecond, Grace: 300 * time.Millisecond,
	MinBackoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Second}

// clusterHealth is quickHealth for clusters of three: a restart makes
// the others' stream leaderless until they elect again, which takes
// seconds on a loaded machine (the stream's first election here took
// 5 s), so each member waits longer before it restarts too, and longer
// between its restarts, as the defaults (30 s and more) do.
var clusterHealth = HealthOptions{Interval: 50 * time.Millisecond, Grace: time.Second,
	MinBackoff: 2 * time.Second, MaxBackoff: 8 * time.Second}

// watch runs f.Watch until the test ends.
func watch(t *testing.T, f *Fabric) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("Watch did not return 20 s after its context ended")
		}
	})
}

// publishEventually publishes one report, retrying until deadline: the
// store may be away for a moment while the server restarts.
func publishEventually(t *testing.T, f *Fabric, member, id, data string, within time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		seq, err := f.Publish(ctx, member, id, []byte(data))
		cancel()
		if err == nil {
			return seq
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: still failing after %v: %v (health %+v)", id, within, err, f.Health())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// TestHealthRestartsDisabledStore: with JetStream switched off under it
// (what nats-server does after a failed store write), a standalone
// member's watch notices, restarts the embedded server, and the member
// publishes and consumes again; nothing stored before is lost, and a
// consumer that ran throughout sees every report once, in order.
func TestHealthRestartsDisabledStore(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Health: quickHealth})
	url := f.ClientURL()
	publishN(t, f, "alpha", 1, 5)
	c := consume(t, f, 1)
	c.waitStream(t, 5)
	watch(t, f)
	if h := f.Health(); !h.OK() || h.Restarts != 0 {
		t.Fatalf("health before any trouble = %+v, want OK and no restarts", h)
	}

	if err := f.server().DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	waitFor(t, "the watch to restart the server", 20*time.Second, func() bool {
		h := f.Health()
		return h.Restarts >= 1 && !h.Restarting
	})
	h := f.Health()
	if h.Failed != 0 || !strings.Contains(h.LastReason, "JetStream is off") {
		t.Fatalf("health after the restart = %+v, want one good restart for JetStream being off", h)
	}
	t.Logf("restarted %v after JetStream was switched off; health %+v", time.Since(began).Round(time.Millisecond), h)
	if f.ClientURL() != url {
		t.Errorf("client URL changed across the restart: %s, was %s", f.ClientURL(), url)
	}

	for i := uint64(6); i <= 8; i++ {
		if seq := publishEventually(t, f, "alpha", fmt.Sprintf("id-%d", i), body(i), 20*time.Second); seq != i {
			t.Fatalf("report %d stored at sequence %d after the restart: the stream lost or repeated reports", i, seq)
		}
	}
	checkSeqs(t, c.waitStream(t, 8), 1, body)
	// A new consumer reads everything from the restarted store.
	c2 := consume(t, f, 1)
	checkSeqs(t, c2.waitStream(t, 8), 1, body)
	waitFor(t, "health OK again", 10*time.Second, func() bool { return f.Health().OK() })
	if last, err := f.LastSeq(); err != nil || last != 8 {
		t.Fatalf("LastSeq after the restart = %d, %v; want 8", last, err)
	}
}

// TestHealthBackoff: a server that keeps failing is restarted at most once
// per backoff, and the backoff grows.
func TestHealthBackoff(t *testing.T) {
	o := quickHealth
	o.MinBackoff, o.MaxBackoff = 400*time.Millisecond, 800*time.Millisecond
	f := start(t, Options{DataDir: t.TempDir(), Health: o})
	watch(t, f)
	var starts []time.Time
	for len(starts) < 3 {
		if err := f.server().DisableJetStream(); err != nil {
			t.Fatal(err)
		}
		n := len(starts)
		waitFor(t, fmt.Sprintf("restart %d", n+1), 20*time.Second, func() bool {
			h := f.Health()
			return h.Restarts > int64(n) && !h.Restarting
		})
		starts = append(starts, f.Health().LastRestart)
	}
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(starts[i-1])
		t.Logf("restart %d began %v after the one before", i+1, gap.Round(time.Millisecond))
		if gap < o.MinBackoff {
			t.Errorf("restart %d began %v after the previous one, sooner than the backoff %v", i+1, gap, o.MinBackoff)
		}
	}
	if gap := starts[2].Sub(starts[1]); gap < o.MaxBackoff {
		t.Errorf("third restart %v after the second, want the backoff doubled to %v", gap, o.MaxBackoff)
	}
	publishEventually(t, f, "alpha", "after", "x", 20*time.Second)
}

// TestHealthNoRestartAfterContext: once Watch's context has ended (the
// daemon is stopping) or the Fabric is closed, no restart begins.
func TestHealthNoRestartAfterContext(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir(), Health: quickHealth})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.restart(ctx, "test")
	f.checkHealth(ctx, time.Now().Add(time.Hour))
	if h := f.Health(); h.Restarts != 0 || h.Restarting {
		t.Fatalf("health = %+v: a restart ran after the context ended", h)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f.restart(context.Background(), "test")
	if h := f.Health(); h.Restarts != 0 {
		t.Fatalf("health = %+v: a restart ran after Close", h)
	}
	if _, err := f.Publish(context.Background(), "alpha", "x", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
}

// TestHealthVerdict: which observations are problems.
func TestHealthVerdict(t *testing.T) {
	ok := observation{jetStream: true}
	cl := observation{jetStream: true, clustered: true, metaLeader: "A", streamKnown: true, leader: "A", replicas: 3, reachable: 3}
	with := func(o observation, f func(*observation)) observation { f(&o); return o }
	for _, tc := range []struct {
		name string
		o    observation
		want string // a part of the problem; "" for none
	}{
		{"standalone ok", ok, ""},
		{"jetstream off", observation{}, "JetStream is off"},
		{"write error", with(ok, func(o *observation) { o.stickyErrs = []string{"stream write error: too many open files"} }), "too many open files"},
		{"cluster ok", cl, ""},
		{"no leader with quorum", with(cl, func(o *observation) { o.leader = "" }), "no leader"},
		{"no leader, 2 of 3 reachable", with(cl, func(o *observation) { o.leader, o.reachable = "", 2 }), "no leader"},
		{"no leader without quorum", with(cl, func(o *observation) { o.leader, o.reachable = "", 1 }), ""},
		{"no leader, no meta leader", with(cl, func(o *observation) { o.leader, o.metaLeader = "", "" }), ""},
		{"stream not created yet", with(cl, func(o *observation) { o.streamKnown, o.leader = false, "" }), ""},
		{"writes failing alone", with(ok, func(o *observation) { o.writeFails = writeFailures }), "store writes in a row failed"},
		{"a few writes failing", with(ok, func(o *observation) { o.writeFails = writeFailures - 1 }), ""},
		{"writes failing with a leader", with(cl, func(o *observation) { o.writeFails = writeFailures }), "store writes"},
		{"writes failing without a leader", with(cl, func(o *observation) { o.writeFails, o.leader, o.reachable = writeFailures, "", 1 }), ""},
	} {
		got, shared := verdict(tc.o)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: verdict = %q, want %q", tc.name, got, tc.want)
		}
		if shared != strings.Contains(got, "no leader") {
			t.Errorf("%s: verdict %q shared = %v: only a missing leader is seen by every member", tc.name, got, shared)
		}
	}
}

// TestHealthClusterRestartsLeader: in a cluster of three, JetStream stops
// on the stream leader's server (as after a failed store write); that
// member's watch restarts its server, which rejoins the cluster with its
// store: the stream has three current replicas again, and the member
// publishes and consumes everything, in order.
func TestHealthClusterRestartsLeader(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var ms []*member
	for _, p := range ports {
		ms = append(ms, startMember(t, Options{DataDir: t.TempDir(), Cluster: fmt.Sprintf("127.0.0.1:%d", p),
			Routes: routes, Replicas: 3, Health: clusterHealth}))
	}
	ready(t, ms[0].f, ms[1].f, ms[2].f)
	info := waitReplicated(t, ms[0].f, 3)
	var lead *member
	for _, m := range ms {
		watch(t, m.f)
		if m.f.Name() == info.Cluster.Leader {
			lead = m
		}
	}
	if lead == nil {
		t.Fatalf("no member is the stream leader %q", info.Cluster.Leader)
	}
	publishN(t, lead.f, "a", 1, 10)
	c := consume(t, lead.f, 1)
	c.waitStream(t, 10)

	if err := lead.f.server().ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	waitFor(t, "the leader's watch to restart its server", 30*time.Second, func() bool {
		h := lead.f.Health()
		return h.Restarts >= 1 && !h.Restarting
	})
	h := lead.f.Health()
	if h.Failed != 0 {
		t.Fatalf("restart failed: %+v", h)
	}
	t.Logf("%s restarted %v after its JetStream stopped (%s)", lead.f.Name(), time.Since(began).Round(time.Millisecond), h.LastReason)
	ready(t, lead.f)
	for i := uint64(11); i <= 15; i++ {
		if seq := publishEventually(t, lead.f, "a", fmt.Sprintf("id-%d", i), body(i), clusterReady); seq != i {
			t.Fatalf("report %d stored at sequence %d after the restart", i, seq)
		}
	}
	checkSeqs(t, c.waitStream(t, 15), 1, body)
	waitReplicated(t, lead.f, 3)
	for _, m := range ms {
		if m != lead && m.f.Health().Restarts != 0 {
			t.Errorf("%s restarted its server too (%+v): only the broken one should", m.f.Name(), m.f.Health())
		}
		waitFor(t, m.f.Name()+" healthy", clusterReady, func() bool { return m.f.Health().OK() })
	}
}

// hoardDescriptors opens /dev/null until the process has no descriptor
// left (the soft limit lowered to 2048 first, so that the hoard stays
// small), as a connection flood does, and returns what gives them back.
func hoardDescriptors(t *testing.T) (release func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip("no RLIMIT_NOFILE:", err)
	}
	if old.Max < 2048 {
		t.Skipf("hard descriptor limit %d is below 2048", old.Max)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 2048, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	var hoard []*os.File
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, f := range hoard {
				f.Close()
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restore the descriptor limit: %v", err)
			}
		})
	}
	t.Cleanup(release)
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				release()
				t.Fatal(err)
			}
			break
		}
		hoard = append(hoard, f)
	}
	t.Logf("holding %d descriptors: none left", len(hoard))
	return release
}

// TestHealthClusterDescriptorExhaustion reproduces the attack that left a
// stream without a leader: with every file descriptor taken, the stream's
// leader steps down, and the Raft nodes cannot write their votes
// (nats-server then stops the node for good: "Critical write error").
// Once descriptors are back, the members' watches restart their servers:
// the stream is led and replicated again, nothing stored is lost, and
// reports flow.
func TestHealthClusterDescriptorExhaustion(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var ms []*member
	for _, p := range ports {
		ms = append(ms, startMember(t, Options{DataDir: t.TempDir(), Cluster: fmt.Sprintf("127.0.0.1:%d", p),
			Routes: routes, Replicas: 3, Health: clusterHealth}))
	}
	ready(t, ms[0].f, ms[1].f, ms[2].f)
	waitReplicated(t, ms[0].f, 3)
	for _, m := range ms {
		watch(t, m.f)
	}
	publishN(t, ms[0].f, "a", 1, 10)

	release := hoardDescriptors(t)
	// Elections while no descriptor is free: each writes the Raft term and
	// vote to a new file.
	for range 3 {
		ms[0].f.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+StreamName, nil, time.Second)
	}
	began := time.Now()
	waitFor(t, "a member to see the store or Raft error", 20*time.Second, func() bool {
		for _, m := range ms {
			if strings.Contains(m.f.Health().Problem, "error") {
				return true
			}
		}
		return false
	})
	release()
	t.Logf("store or Raft error seen after %v", time.Since(began).Round(time.Millisecond))

	var c *collector
	waitFor(t, "every member healthy and the stream led, with its reports", 2*clusterReady, func() bool {
		for _, m := range ms {
			if !m.f.Health().OK() {
				return false
			}
		}
		i, err := streamInfo(ms[0].f)
		return err == nil && i.Cluster != nil && i.Cluster.Leader != "" && i.State.Msgs == 10
	})
	var restarts int64
	for _, m := range ms {
		h := m.f.Health()
		restarts += h.Restarts
		t.Logf("%s: %d restarts (%d failed), last for %q", m.f.Name(), h.Restarts, h.Failed, h.LastReason)
	}
	if restarts == 0 {
		t.Fatal("no member restarted its server")
	}
	waitReplicated(t, ms[0].f, 3)
	for i := uint64(11); i <= 15; i++ {
		if seq := publishEventually(t, ms[1].f, "a", fmt.Sprintf("id-%d", i), body(i), clusterReady); seq != i {
			t.Fatalf("report %d stored at sequence %d after the recovery", i, seq)
		}
	}
	for _, m := range ms {
		c = consume(t, m.f, 1)
		checkSeqs(t, c.waitStream(t, 15), 1, body)
	}
	t.Logf("recovered %v after the descriptors came back", time.Since(began).Round(time.Millisecond))
}

// TestHealthSettled: a server counts as settled (its healthy time then
// resets the backoff) alone, or in a cluster with a meta leader whose
// stream is led; a cluster still electing does not, nor a server without
// JetStream.
func TestHealthSettled(t *testing.T) {
	for _, tc := range []struct {
		o    observation
		want bool
	}{
		{observation{jetStream: true}, true},
		{observation{}, false},
		{observation{jetStream: true, clustered: true}, false},
		{observation{jetStream: true, clustered: true, metaLeader: "a"}, true},
		{observation{jetStream: true, clustered: true, metaLeader: "a", streamKnown: true}, false},
		{observation{jetStream: true, clustered: true, metaLeader: "a", streamKnown: true, leader: "b"}, true},
	} {
		if got := settledOf(tc.o); got != tc.want {
			t.Errorf("settledOf(%+v) = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// TestHealthSticky: which of nats-server's health errors last.
func TestHealthSticky(t *testing.T) {
	for msg, want := range map[string]bool{
		"JetStream stream '$G > PHALANX' is not current: node write error: open x/tav.idx.tmp: too many open files": true,
		"JetStream stream '$G > PHALANX' write error: no space left on device":                                      true,
		"JetStream meta layer is not running":                                                                       true,
		"JetStream stream '$G > PHALANX' could not be recovered":                                                    true,
		"JetStream has not established contact with a meta leader":                                                  false,
		"JetStream is not current with the meta leader":                                                             false,
		"JetStream stream '$G > PHALANX' is not current: stream node missing":                                       false,
		"JetStream stream \"PHALANX\" not found on account \"$G\"":                                                  false,
	} {
		if got := sticky(msg); got != want {
			t.Errorf("sticky(%q) = %v, want %v", msg, got, want)
		}
	}
}
