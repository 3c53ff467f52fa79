package fabric

import (
	"fmt"
	"testing"
	"time"
)

// TestConsumeFastPathBeforeStream: a clustered Fabric whose stream's API
// does not answer (its only other member is not up, so the cluster has no
// meta leader and every API request is waited out for apiTimeout) still
// delivers fast-path messages as soon as Consume begins. A member that
// founded an alliance alone is in that state until a second member joins:
// reports sent meanwhile on the fast path must not be lost (they were:
// Consume subscribed to the fast path only after asking the stream where
// it ends, and TestAllianceFormsAndShares then missed the founder's
// enforcement records).
func TestConsumeFastPathBeforeStream(t *testing.T) {
	ports := freePorts(t, 2)
	routes := []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), fmt.Sprintf("nats://127.0.0.1:%d", ports[1])}
	f := start(t, Options{DataDir: t.TempDir(), Cluster: fmt.Sprintf("127.0.0.1:%d", ports[0]), Routes: routes, Replicas: 2})

	began := time.Now()
	c := consume(t, f, 0)
	c.fastReady(t, f)
	if took := time.Since(began); took >= apiTimeout {
		t.Fatalf("the fast path delivered only %v after Consume began: it waited for the stream's API (%v per request)", took.Round(time.Millisecond), apiTimeout)
	}
	if n := len(c.streamMsgs()); n != 0 {
		t.Fatalf("%d stream messages from a cluster without a meta leader", n)
	}
	t.Logf("first fast-path message delivered %v after Consume began", time.Since(began).Round(time.Millisecond))
}
