package fabric

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestMain lets the test binary double as a child process for tests that
// need one (see childMain).
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

// testLogger writes the fabric's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// start starts a Fabric on dir and closes it when the test ends.
func start(t testing.TB, o Options) *Fabric {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// collector runs Consume in the background and records what it delivers.
type collector struct {
	mu     sync.Mutex
	stream []Msg
	fast   []Msg
	all    []Msg
	done   chan error
	cancel context.CancelFunc
}

func consume(t testing.TB, f *Fabric, from uint64) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{done: make(chan error, 1), cancel: cancel}
	go func() {
		c.done <- f.Consume(ctx, from, func(m Msg) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.all = append(c.all, m)
			if m.Seq == 0 {
				c.fast = append(c.fast, m)
			} else {
				c.stream = append(c.stream, m)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Errorf("Consume did not return 10 s after its context ended")
		}
	})
	return c
}

// fastReady waits until c's fast-path subscription delivers, by sending
// probes on it, and returns how many messages c has seen so far. (The
// stream needs no such wait: it delivers from a sequence, whenever the
// consumer starts.)
func (c *collector) fastReady(t testing.TB, f *Fabric) int {
	t.Helper()
	nc := f.nc
	if f.adminNC != nil {
		nc = f.adminNC // a member may publish only on its own subjects
	}
	waitFor(t, "fast-path subscription", 10*time.Second, func() bool {
		if err := nc.Publish(FastPrefix+"probe", []byte("probe")); err != nil {
			t.Fatal(err)
		}
		return len(c.fastMsgs()) > 0
	})
	// Later probes may still be in flight: send a marker and wait for it.
	if err := nc.Publish(FastPrefix+"probe", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fast-path marker", 10*time.Second, func() bool {
		fast := c.fastMsgs()
		return string(fast[len(fast)-1].Data) == "marker"
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fast = c.fast[:0]
	return len(c.all)
}

func (c *collector) streamMsgs() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.stream...)
}

func (c *collector) fastMsgs() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.fast...)
}

// waitStream waits until at least n stream messages arrived and returns them.
func (c *collector) waitStream(t testing.TB, n int) []Msg {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d stream messages", n), 15*time.Second, func() bool { return len(c.streamMsgs()) >= n })
	return c.streamMsgs()
}

// checkSeqs fails unless msgs have consecutive sequences first, first+1, ...
// and the payloads payload(seq).
func checkSeqs(t testing.TB, msgs []Msg, first uint64, payload func(seq uint64) string) {
	t.Helper()
	for i, m := range msgs {
		want := first + uint64(i)
		if m.Seq != want {
			t.Fatalf("message %d has sequence %d, want %d (sequences must be consecutive and in order)", i, m.Seq, want)
		}
		if payload != nil && string(m.Data) != payload(want) {
			t.Fatalf("message seq %d carries %q, want %q", want, m.Data, payload(want))
		}
		if m.Time.IsZero() {
			t.Fatalf("message seq %d has no time", want)
		}
	}
}

func body(seq uint64) string { return fmt.Sprintf("report-%04d", seq) }

// publishN publishes n reports of member with ids and bodies derived from
// the expected sequence, starting at first.
func publishN(t testing.TB, f *Fabric, member string, first uint64, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		want := first + uint64(i)
		seq, err := f.Publish(ctx, member, fmt.Sprintf("id-%d", want), []byte(body(want)))
		if err != nil {
			t.Fatalf("Publish %d: %v", want, err)
		}
		if seq != want {
			t.Fatalf("Publish %d returned sequence %d", want, seq)
		}
	}
}

// testTLS is the TLS of the tests' clients of authenticated Fabrics:
// they accept any member certificate, as guests do.
func testTLS() nats.Option {
	return func(o *nats.Options) error {
		if err := nats.Secure(guestTLS())(o); err != nil {
			return err
		}
		return nats.TLSHandshakeFirst()(o)
	}
}
