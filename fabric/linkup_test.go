package fabric

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestWaitLinkUp: a leaf member's WaitLinkUp, called while its hub is not
// up yet, returns nil once the hub starts and the leaf connection is
// made; it returns the context's error when the context ends first, and
// ErrClosed once the Fabric is closed.
func TestWaitLinkUp(t *testing.T) {
	kh, kl := newTestKey(t, 31), newTestKey(t, 32)
	members := []Member{{ID: "hubh", PublicKey: kh.pub, Hub: true}, {ID: "leafl", PublicKey: kl.pub}}
	leafAddr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	leaf := start(t, Options{DataDir: t.TempDir(), Name: "leafl", Hub: []string{"nats://" + leafAddr},
		Seed: kl.seed, Members: members})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := leaf.WaitLinkUp(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitLinkUp with no hub = %v, want the context's deadline", err)
	}

	done := make(chan error, 1)
	go func() { done <- leaf.WaitLinkUp(context.Background()) }()
	start(t, Options{DataDir: t.TempDir(), Name: "hubh", Listen: "127.0.0.1:0", LeafListen: leafAddr,
		Seed: kh.seed, Members: members})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitLinkUp once the hub is up = %v, want nil", err)
		}
	case <-time.After(30 * time.Second): // a guard: the leaf redials within seconds
		t.Fatal("WaitLinkUp did not return 30 s after the hub started")
	}
	if n := leaf.server().NumLeafNodes(); n != 1 {
		t.Fatalf("WaitLinkUp returned with %d leaf connections, want 1", n)
	}

	go func() { done <- leaf.WaitLinkUp(context.Background()) }()
	leaf.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitLinkUp across Close = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitLinkUp did not return 30 s after Close")
	}
}
