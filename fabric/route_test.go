package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecord keeps the messages a Fabric logs (and passes them on to the
// test log).
type logRecord struct {
	slog.Handler
	mu   *sync.Mutex
	msgs *[]string
}

func recordLogs(t testing.TB) (*slog.Logger, func(substr string) bool) {
	r := logRecord{
		Handler: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}),
		mu:      new(sync.Mutex),
		msgs:    new([]string),
	}
	has := func(substr string) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, m := range *r.msgs {
			if strings.Contains(strings.ToLower(m), strings.ToLower(substr)) {
				return true
			}
		}
		return false
	}
	return slog.New(r), has
}

func (r logRecord) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.msgs = append(*r.msgs, rec.Message)
	r.mu.Unlock()
	if rec.Level < slog.LevelInfo {
		return nil // keep the test log short
	}
	return r.Handler.Handle(ctx, rec)
}

func (r logRecord) WithAttrs(as []slog.Attr) slog.Handler {
	return logRecord{Handler: r.Handler.WithAttrs(as), mu: r.mu, msgs: r.msgs}
}

func (r logRecord) WithGroup(name string) slog.Handler {
	return logRecord{Handler: r.Handler.WithGroup(name), mu: r.mu, msgs: r.msgs}
}

func (r logRecord) Enabled(context.Context, slog.Level) bool { return true }

// testCluster describes members A, B, C... with keys from seeds 1, 2, 3...
type testCluster struct {
	ids     []string
	keys    []testKey
	members []Member
	routes  []string
	ports   []int
}

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	tc := &testCluster{ports: freePorts(t, n)}
	for i := range n {
		id := string(rune('A' + i))
		k := newTestKey(t, byte(i+1))
		tc.ids = append(tc.ids, id)
		tc.keys = append(tc.keys, k)
		tc.members = append(tc.members, Member{ID: id, PublicKey: k.pub, Hub: true})
		tc.routes = append(tc.routes, fmt.Sprintf("nats://127.0.0.1:%d", tc.ports[i]))
	}
	return tc
}

// options are member i's options: named after its id, with its key, all
// members and routes, and the test route secret.
func (tc *testCluster) options(t *testing.T, i, replicas int) Options {
	return Options{
		DataDir:  t.TempDir(),
		Name:     tc.ids[i],
		Listen:   "127.0.0.1:0",
		Cluster:  fmt.Sprintf("127.0.0.1:%d", tc.ports[i]),
		Routes:   tc.routes,
		Replicas: replicas,
		Seed:     tc.keys[i].seed,
		Members:  tc.members,
	}
}

func ready(t *testing.T, fs ...*Fabric) {
	t.Helper()
	for _, f := range fs {
		ctx, cancel := context.WithTimeout(context.Background(), clusterReady)
		err := f.Ready(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Ready %s: %v", f.Name(), err)
		}
	}
}

// TestRouteRefusesStrangers: of four servers listed in each other's
// routes, the two hub members A and B form a cluster and carry the
// stream; C, a server with a key that is no member's (it thinks it is
// one), and L, a leaf member's key on a clustered server, are refused in
// the TLS handshake: no route, nothing they publish reaches the members,
// and neither becomes a JetStream peer.
func TestRouteRefusesStrangers(t *testing.T) {
	tc := newTestCluster(t, 4)
	logA, aLogged := recordLogs(t)
	oa, ob, oc, ol := tc.options(t, 0, 2), tc.options(t, 1, 2), tc.options(t, 2, 2), tc.options(t, 3, 2)
	// The members: A and B keep the stream, L is a leaf member. C and L
	// list themselves as hub members.
	leafMember := tc.members[3]
	leafMember.Hub = false
	members := []Member{tc.members[0], tc.members[1], leafMember}
	oa.Members, ob.Members = members, members
	oc.Members = tc.members[:3]
	ol.Members = []Member{tc.members[0], tc.members[1], tc.members[3]}
	// A brand-new JetStream cluster elects its first meta leader only
	// when every configured route's server voted (nats-server does not
	// let empty servers form a quorum among themselves), so A and B
	// route only to each other; C and L route to everyone.
	oa.Routes, ob.Routes = tc.routes[:2], tc.routes[:2]
	oa.Logger = logA
	a := startMember(t, oa).f
	began := time.Now()
	b := startMember(t, ob).f
	c := startMember(t, oc).f
	l := startMember(t, ol).f

	waitFor(t, "A and B routed to each other", clusterReady, func() bool {
		return a.srv.NumRoutes() > 0 && b.srv.NumRoutes() > 0
	})
	joined := time.Since(began)
	// Refused, not merely slow: A says why.
	waitFor(t, "A to refuse C's and L's routes", clusterReady, func() bool {
		return aLogged("is not a member's") && aLogged("keeps no stream")
	})
	// (C and L count a route for a moment each time they dial, until the
	// other side refuses it: look from A and B.)
	noRouteTo(t, "C", a, b)
	noRouteTo(t, "L", a, b)
	t.Logf("B joined in %v; C and L refused (routes: A %d, B %d)", joined.Round(time.Millisecond),
		a.srv.NumRoutes(), b.srv.NumRoutes())

	ready(t, a, b)
	info := waitReplicated(t, a, 2)
	peers := []string{info.Cluster.Leader}
	for _, p := range info.Cluster.Replicas {
		peers = append(peers, p.Name)
	}
	slices.Sort(peers)
	if !slices.Equal(peers, []string{"A", "B"}) {
		t.Fatalf("stream peers %v, want [A B]", peers)
	}

	// C's and L's fast-path reports reach no one; B's reach A.
	col := consume(t, a, 0)
	col.fastReady(t, a)
	for _, f := range []*Fabric{c, l} {
		for i := range 5 {
			if err := f.adminNC.Publish(FastPrefix+f.Name(), []byte(fmt.Sprint("from ", f.Name(), i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.adminNC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, b, "B", 1, 1)
	col.waitFast(t, FastPrefix+"B", 1)
	checkSeqs(t, col.waitStream(t, 1), 1, body)
	for _, id := range []string{"C", "L"} {
		if got := col.fastOn(FastPrefix + id); len(got) != 0 {
			t.Fatalf("A received %d fast-path messages from %s", len(got), id)
		}
	}
	noRouteTo(t, "C", a, b)
	noRouteTo(t, "L", a, b)
	for _, f := range []*Fabric{a, b} {
		if ps := f.srv.JetStreamClusterPeers(); slices.Contains(ps, "C") || slices.Contains(ps, "L") {
			t.Fatalf("C or L became a JetStream peer of %s: %v", f.Name(), ps)
		}
	}
}

// TestRouteRemovedMember: hub members A, B and C are routed to each other
// and C's fast-path messages reach A; A and B remove C (SetMembers).
// Their routes to C, dialed either way, are closed, and C, still running
// with its key and its old member list (a rogue server with a former
// member's credentials), does not route to them again: nothing it
// publishes reaches them, while B's messages still do.
func TestRouteRemovedMember(t *testing.T) {
	tc := newTestCluster(t, 3)
	var fs []*Fabric
	for i := range 3 {
		fs = append(fs, startMember(t, tc.options(t, i, 1)).f)
	}
	a, b, c := fs[0], fs[1], fs[2]
	for _, f := range fs {
		for _, g := range fs {
			if f != g {
				waitFor(t, f.Name()+"'s route to "+g.Name(), clusterReady, func() bool { return routedTo(f, g.Name()) })
			}
		}
	}
	fromC, err := a.adminNC.SubscribeSync(FastPrefix + "C")
	if err != nil {
		t.Fatal(err)
	}
	fromB, err := a.adminNC.SubscribeSync(FastPrefix + "B")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.adminNC.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "C's messages to reach A", clusterReady, func() bool {
		if err := c.adminNC.Publish(FastPrefix+"C", []byte("probe")); err != nil {
			t.Fatal(err)
		}
		_, err := fromC.NextMsg(20 * time.Millisecond)
		return err == nil
	})

	removed := time.Now()
	for _, f := range []*Fabric{a, b} {
		if err := f.SetMembers(tc.members[:2]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []*Fabric{a, b} {
		waitFor(t, f.Name()+" to close its routes to C", 10*time.Second, func() bool { return !routedTo(f, "C") })
	}
	t.Logf("routes to C closed %v after its removal", time.Since(removed).Round(time.Millisecond))
	if !routedTo(a, "B") || !routedTo(b, "A") {
		t.Fatal("A and B lost their route to each other")
	}
	for { // what C sent before its routes closed
		if _, err := fromC.NextMsg(100 * time.Millisecond); err != nil {
			break
		}
	}

	// C keeps dialing A and B (routeRedial after each failed attempt): it
	// stays out, and what it publishes reaches neither.
	watch := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(watch); i++ {
		if err := c.adminNC.Publish(FastPrefix+"C", []byte(fmt.Sprint("from C ", i))); err != nil {
			t.Fatal(err)
		}
		for _, f := range []*Fabric{a, b} {
			if routedTo(f, "C") {
				t.Fatalf("%s has a route to C again", f.Name())
			}
		}
		time.Sleep(50 * time.Millisecond) // pacing the probes over the window, not a wait for an event
	}
	if err := b.adminNC.Publish(FastPrefix+"B", []byte("from B")); err != nil {
		t.Fatal(err)
	}
	if _, err := fromB.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("B's message after C's removal: %v", err)
	}
	if m, err := fromC.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("A received %q from removed member C", m.Data)
	}
}

// routedTo reports whether f has a route to the server named name.
func routedTo(f *Fabric, name string) bool {
	rz, err := f.srv.Routez(nil)
	if err != nil {
		return false
	}
	for _, r := range rz.Routes {
		if r.RemoteName == name {
			return true
		}
	}
	return false
}

// noRouteTo fails if any of fs has a route to the server named name.
func noRouteTo(t *testing.T, name string, fs ...*Fabric) {
	t.Helper()
	for _, f := range fs {
		rz, err := f.srv.Routez(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName == name {
				t.Fatalf("%s has a route to %s", f.Name(), name)
			}
		}
		if len(rz.Routes) == 0 {
			t.Fatalf("%s has no routes at all", f.Name())
		}
	}
}
