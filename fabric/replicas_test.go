package fabric

import (
	"context"
	"testing"
	"time"
)

// TestSetReplicas: a cluster of three starts with one copy of the stream;
// SetReplicas(3) raises it to three current copies, SetReplicas(2) lowers
// it to two, and a member that restarts with an older (lower) Replicas
// does not shrink it.
func TestSetReplicas(t *testing.T) {
	tc := newTestCluster(t, 3)
	var ms []*member
	for i := range 3 {
		ms = append(ms, startMember(t, tc.options(t, i, 1)))
	}
	a, b, c := ms[0].f, ms[1].f, ms[2].f
	ready(t, a, b, c)
	waitReplicated(t, a, 1)
	publishN(t, a, "A", 1, 5)

	began := time.Now()
	for _, m := range ms {
		m.f.SetReplicas(3)
	}
	waitReplicated(t, a, 3)
	t.Logf("R1 -> R3 in %v", time.Since(began).Round(time.Millisecond))
	publishN(t, b, "B", 6, 5)
	checkSeqs(t, consume(t, c, 0).waitStream(t, 10), 1, body)

	began = time.Now()
	for _, m := range ms {
		m.f.SetReplicas(2)
	}
	waitReplicated(t, a, 2)
	t.Logf("R3 -> R2 in %v", time.Since(began).Round(time.Millisecond))

	for _, m := range ms {
		m.f.SetReplicas(3)
	}
	waitReplicated(t, a, 3)
	// C restarts with Options.Replicas 1 (an old charter): the stream
	// keeps its three copies.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	log, logged := recordLogs(t)
	oc := ms[2].opt
	oc.Logger = log
	c = startMember(t, oc).f
	ready(t, c)
	waitFor(t, "C's stream keeper to finish", clusterReady, func() bool { return logged("fabric stream ready") })
	info := waitReplicated(t, a, 3)
	if info.Config.Replicas != 3 {
		t.Fatalf("stream has %d replicas after C restarted with Replicas 1, want 3", info.Config.Replicas)
	}
	if logged("fabric stream updated") {
		t.Fatal("C updated the stream on restart")
	}
	publishN(t, c, "C", 11, 1)

	// Not clustered: SetReplicas is a no-op.
	single := start(t, Options{DataDir: t.TempDir()})
	single.SetReplicas(3)
	publishN(t, single, "A", 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := single.js.Stream(ctx, StreamName)
	if err != nil || s.CachedInfo().Config.Replicas != 1 {
		t.Fatalf("single fabric's stream after SetReplicas(3): %v", err)
	}
}
