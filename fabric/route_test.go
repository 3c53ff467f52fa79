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
		tc.members = append(tc.members, Member{ID: id, PublicKey: k.pub})
		tc.routes = append(tc.routes, fmt.Sprintf("nats://127.0.0.1:%d", tc.ports[i]))
	}
	return tc
}

// options are member i's options: named after its id, with its key, all
// members and routes, and the test route secret.
func (tc *testCluster) options(t *testing.T, i, replicas int) Options {
	return Options{
		DataDir:     t.TempDir(),
		Name:        tc.ids[i],
		Listen:      "127.0.0.1:0",
		Cluster:     fmt.Sprintf("127.0.0.1:%d", tc.ports[i]),
		Routes:      tc.routes,
		Replicas:    replicas,
		Seed:        tc.keys[i].seed,
		Members:     tc.members,
		RouteSecret: testSecret,
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

// TestRouteSecret: of three members listed in each other's routes, the
// two with the right route secret form a cluster and carry the stream;
// the third, with a wrong secret, is refused in the same time: it gets no
// route, nothing it publishes reaches the others, and it never becomes a
// JetStream peer.
func TestRouteSecret(t *testing.T) {
	tc := newTestCluster(t, 3)
	logA, aLogged := recordLogs(t)
	logC, cLogged := recordLogs(t)
	oa, ob, oc := tc.options(t, 0, 2), tc.options(t, 1, 2), tc.options(t, 2, 2)
	// A brand-new JetStream cluster elects its first meta leader only
	// when every configured route's server voted (nats-server does not
	// let empty servers form a quorum among themselves), so A and B
	// route only to each other; C routes to both.
	oa.Routes, ob.Routes = tc.routes[:2], tc.routes[:2]
	oa.Logger, oc.Logger = logA, logC
	oc.RouteSecret = "a wrong route secret of 32 bytes"
	a := startMember(t, oa).f
	began := time.Now()
	b := startMember(t, ob).f
	c := startMember(t, oc).f

	waitFor(t, "A and B routed to each other", clusterReady, func() bool {
		return a.srv.NumRoutes() > 0 && b.srv.NumRoutes() > 0
	})
	joined := time.Since(began)
	// The wrong secret is refused, not merely slow: A says so.
	waitFor(t, "A to refuse C's route", clusterReady, func() bool {
		return aLogged("authorization violation") || cLogged("authorization violation")
	})
	// (C itself counts a route for a moment each time it dials, until the
	// other side refuses it: look from A and B.)
	noRouteTo(t, "C", a, b)
	t.Logf("B joined in %v; C refused (routes: A %d, B %d)", joined.Round(time.Millisecond),
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
	if slices.Contains(a.srv.JetStreamClusterPeers(), "C") {
		t.Fatalf("C is a JetStream peer of A: %v", a.srv.JetStreamClusterPeers())
	}

	// C's fast-path reports reach no one; B's reach A.
	col := consume(t, a, 0)
	col.fastReady(t, a)
	for i := range 5 {
		if err := c.nc.Publish(FastPrefix+"C", []byte(fmt.Sprint("from C ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	publishN(t, b, "B", 1, 1)
	col.waitFast(t, FastPrefix+"B", 1)
	checkSeqs(t, col.waitStream(t, 1), 1, body)
	if got := col.fastOn(FastPrefix + "C"); len(got) != 0 {
		t.Fatalf("A received %d fast-path messages from C", len(got))
	}
	noRouteTo(t, "C", a, b)
	if slices.Contains(a.srv.JetStreamClusterPeers(), "C") || slices.Contains(b.srv.JetStreamClusterPeers(), "C") {
		t.Fatalf("C became a JetStream peer: A %v, B %v", a.srv.JetStreamClusterPeers(), b.srv.JetStreamClusterPeers())
	}
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

func TestRouteSecretOptions(t *testing.T) {
	tc := newTestCluster(t, 1)
	for _, tt := range []struct {
		name   string
		secret string
		want   string
	}{
		{"missing", "", "set Options.RouteSecret"},
		{"short", "too short", "at least 16"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tc.options(t, 0, 1)
			o.RouteSecret = tt.secret
			f, err := Start(context.Background(), o)
			if err == nil {
				f.Close()
				t.Fatal("Start accepted the options")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	if routePassword(testSecret) == routePassword(testSecret+"x") || strings.Contains(routePassword(testSecret), testSecret) {
		t.Fatal("route password does not depend on the secret, or reveals it")
	}
}
