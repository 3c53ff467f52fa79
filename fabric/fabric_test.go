package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestPublishConsumeInOrder(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	if f.ClientURL() != "" {
		t.Errorf("ClientURL() = %q without Listen, want \"\"", f.ClientURL())
	}
	c := consume(t, f, 0)
	const n = 50
	publishN(t, f, "alpha", 1, n)
	msgs := c.waitStream(t, n)
	checkSeqs(t, msgs, 1, body)
	for _, m := range msgs {
		if m.Subject != "phalanx.report.alpha" {
			t.Fatalf("stream message seq %d on subject %q, want phalanx.report.alpha", m.Seq, m.Subject)
		}
	}
	if last, err := f.LastSeq(); err != nil || last != n {
		t.Fatalf("LastSeq() = %d, %v; want %d", last, err, n)
	}
}

func TestRestartKeepsMessagesAndSequences(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) { testRestart(t, sync) })
	}
}

func testRestart(t *testing.T, syncAlways bool) {
	dir := t.TempDir()
	ctx := context.Background()
	f, err := Start(ctx, Options{DataDir: dir, SyncAlways: syncAlways, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, f, "alpha", 1, 10)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	g := start(t, Options{DataDir: dir, SyncAlways: syncAlways})
	if last, err := g.LastSeq(); err != nil || last != 10 {
		t.Fatalf("after restart LastSeq() = %d, %v; want 10", last, err)
	}
	publishN(t, g, "beta", 11, 1) // sequences continue
	// The duplicate window survives the restart too.
	if seq, err := g.Publish(ctx, "alpha", "id-3", []byte("again")); err != nil || seq != 3 {
		t.Fatalf("republishing id-3 after restart = %d, %v; want the original sequence 3", seq, err)
	}
	checkSeqs(t, consume(t, g, 1).waitStream(t, 11), 1, body)
}

func TestConsumeFromMiddle(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	publishN(t, f, "alpha", 1, 20)
	for _, from := range []uint64{1, 8, 20, 21} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			c := consume(t, f, from)
			last, _ := f.LastSeq()
			want := int(last - from + 1)
			if want > 0 {
				checkSeqs(t, c.waitStream(t, want), from, body)
			}
			publishN(t, f, "alpha", last+1, 1) // new messages follow
			msgs := c.waitStream(t, want+1)
			checkSeqs(t, msgs, from, body)
			if len(msgs) != want+1 {
				t.Fatalf("got %d messages, want %d", len(msgs), want+1)
			}
		})
	}
}

func TestDuplicateMsgIDStoredOnce(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	ctx := context.Background()
	first, err := f.Publish(ctx, "alpha", "report-1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.Publish(ctx, "alpha", "report-1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("duplicate publish returned sequence %d, want the first one's %d", again, first)
	}
	other, err := f.Publish(ctx, "alpha", "report-2", []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if other != first+1 {
		t.Fatalf("next report got sequence %d, want %d", other, first+1)
	}
	if last, _ := f.LastSeq(); last != 2 {
		t.Fatalf("LastSeq() = %d after one duplicate, want 2", last)
	}
	c := consume(t, f, 1)
	msgs := c.waitStream(t, 2)
	if len(msgs) != 2 || string(msgs[0].Data) != "one" || string(msgs[1].Data) != "two" {
		t.Fatalf("stream holds %+v, want one then two", msgs)
	}
}

func TestFastPath(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	c := consume(t, f, 1)
	seen := c.fastReady(t, f)
	if _, err := f.Publish(context.Background(), "alpha", "r1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fast and stream copies", 10*time.Second, func() bool {
		return len(c.fastMsgs()) == 1 && len(c.streamMsgs()) == 1
	})
	fast := c.fastMsgs()[0]
	if fast.Seq != 0 || fast.Subject != "phalanx.fast.alpha" || string(fast.Data) != "hello" || fast.Time.IsZero() {
		t.Fatalf("fast-path message = %+v, want Seq 0 on phalanx.fast.alpha with the data and a time", fast)
	}
	// (Which copy comes first is not promised: the consumer merges two
	// subscriptions, and receivers dedupe by report id.)
	_ = seen

	// PublishFast delivers without storing.
	if err := f.PublishFast("alpha", []byte("fast only")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the PublishFast message", 10*time.Second, func() bool {
		m := c.fastMsgs()
		return len(m) == 2 && string(m[1].Data) == "fast only"
	})
	if last, _ := f.LastSeq(); last != 1 {
		t.Fatalf("PublishFast stored its message: LastSeq() = %d, want 1", last)
	}
	if err := f.PublishFast("bad member!", nil); err == nil {
		t.Fatal("PublishFast took an invalid member")
	}

	// The fast path works on its own: a plain message is delivered and not stored.
	if err := f.nc.Publish("phalanx.fast.beta", []byte("plain")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "plain fast-path message", 10*time.Second, func() bool { return len(c.fastMsgs()) == 3 })
	if last, _ := f.LastSeq(); last != 1 {
		t.Fatalf("a fast-path message was stored: LastSeq() = %d, want 1", last)
	}
	// Oversized fast-path messages from other clients are dropped.
	if err := f.nc.Publish("phalanx.fast.beta", make([]byte, MaxMessageSize+1)); err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Publish("phalanx.fast.beta", []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message after the oversized one", 10*time.Second, func() bool { return len(c.fastMsgs()) >= 4 })
	if got := c.fastMsgs()[3]; string(got.Data) != "after" {
		t.Fatalf("third fast-path message is %d bytes, want the oversized one dropped", len(got.Data))
	}
}

func TestTwoFabricsInOneProcess(t *testing.T) {
	a := start(t, Options{DataDir: t.TempDir()})
	b := start(t, Options{DataDir: t.TempDir()})
	ca, cb := consume(t, a, 1), consume(t, b, 1)
	ca.fastReady(t, a)
	cb.fastReady(t, b)
	ctx := context.Background()
	if _, err := a.Publish(ctx, "alpha", "x", []byte("for a")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := b.Publish(ctx, "beta", fmt.Sprint("y", i), []byte("for b")); err != nil {
			t.Fatal(err)
		}
	}
	ma, mb := ca.waitStream(t, 1), cb.waitStream(t, 2)
	if len(ma) != 1 || string(ma[0].Data) != "for a" {
		t.Fatalf("fabric a delivered %+v", ma)
	}
	if string(mb[0].Data) != "for b" || string(mb[1].Data) != "for b" {
		t.Fatalf("fabric b delivered %+v", mb)
	}
	if la, _ := a.LastSeq(); la != 1 {
		t.Fatalf("fabric a LastSeq() = %d, want 1: the fabrics share state", la)
	}
	waitFor(t, "fast-path copies", 10*time.Second, func() bool { return len(ca.fastMsgs()) >= 1 && len(cb.fastMsgs()) >= 2 })
	if len(ca.fastMsgs()) != 1 {
		t.Fatalf("fabric a saw %d fast-path messages, want 1: the fabrics share state", len(ca.fastMsgs()))
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	start(t, Options{DataDir: dir})
	_, err := Start(context.Background(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Start on one data directory: err = %v, want an 'in use' error", err)
	}
}

func TestListen(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	url := f.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ClientURL() = %q, want nats://127.0.0.1:<bound port>", url)
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect a second client to %s: %v", url, err)
	}
	defer nc.Close()
	fast, err := nc.SubscribeSync("phalanx.fast.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Publish(context.Background(), "alpha", "r1", []byte("seen remotely")); err != nil {
		t.Fatal(err)
	}
	m, err := fast.NextMsg(10 * time.Second)
	if err != nil || string(m.Data) != "seen remotely" {
		t.Fatalf("remote fast-path receive = %v, %v", m, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := stream.GetMsg(ctx, 1)
	if err != nil || string(stored.Data) != "seen remotely" || stored.Subject != "phalanx.report.alpha" {
		t.Fatalf("remote stream read = %+v, %v", stored, err)
	}
	// A remote client's report reaches this member's consumer.
	c := consume(t, f, 2)
	if _, err := js.Publish(ctx, "phalanx.report.beta", []byte("from afar"), jetstream.WithMsgID("r2")); err != nil {
		t.Fatal(err)
	}
	if got := c.waitStream(t, 1); string(got[0].Data) != "from afar" || got[0].Seq != 2 {
		t.Fatalf("remote report delivered as %+v", got[0])
	}
}

func TestListenAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	began := time.Now()
	f, err := Start(context.Background(), Options{DataDir: t.TempDir(), Listen: l.Addr().String(), Logger: testLogger(t)})
	if err == nil {
		f.Close()
		t.Fatalf("Start on a busy address %s succeeded", l.Addr())
	}
	if !strings.Contains(err.Error(), "choose a free fabric listen address") {
		t.Fatalf("Start error %q does not say what to do", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Start took %v to fail", took)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	f, err := Start(context.Background(), Options{DataDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, f, "alpha", 1, 3)
	done := make(chan error, 1)
	got := make(chan Msg, 10)
	go func() { done <- f.Consume(context.Background(), 1, func(m Msg) { got <- m }) }()
	waitFor(t, "consumer running", 10*time.Second, func() bool { return len(got) >= 3 })
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume after Close returned %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after Close")
	}
	if _, err := f.Publish(context.Background(), "alpha", "late", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := f.LastSeq(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastSeq after Close = %v, want ErrClosed", err)
	}
	if err := f.Consume(context.Background(), 1, func(Msg) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume after Close = %v, want ErrClosed", err)
	}
}

func TestConsumeReturnsOnContext(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.Consume(ctx, 1, func(Msg) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume = %v, want context.DeadlineExceeded", err)
	}
}

func TestConsumerSurvivesDeletion(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	c := consume(t, f, 1)
	publishN(t, f, "alpha", 1, 5)
	c.waitStream(t, 5)
	// Delete the server-side consumer under the reader's feet, as a server
	// restart or an inactivity clean-up would.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(ctx)
	deleted := 0
	for name := range names.Name() {
		if err := s.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("found no consumer to delete")
	}
	publishN(t, f, "alpha", 6, 5)
	began := time.Now()
	checkSeqs(t, c.waitStream(t, 10), 1, body)
	if took := time.Since(began); took > 8*time.Second {
		t.Errorf("consumer took %v to recover, want seconds (short heartbeats)", took)
	}
	if got := len(c.streamMsgs()); got != 10 {
		t.Fatalf("got %d messages after recovery, want exactly 10 (no repeats)", got)
	}
}

func TestInvalidArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no data dir", Options{}, "DataDir"},
		{"short max age", Options{DataDir: t.TempDir(), MaxAge: time.Minute}, "MaxAge"},
		{"negative sync", Options{DataDir: t.TempDir(), SyncInterval: -time.Second}, "SyncInterval"},
		{"listen without port", Options{DataDir: t.TempDir(), Listen: "127.0.0.1"}, "host:port"},
		{"listen bad port", Options{DataDir: t.TempDir(), Listen: "127.0.0.1:http"}, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Start(context.Background(), tc.o)
			if err == nil {
				f.Close()
				t.Fatalf("Start(%+v) succeeded, want an error mentioning %q", tc.o, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start error %q does not mention %q", err, tc.want)
			}
		})
	}

	f := start(t, Options{DataDir: t.TempDir()})
	ctx := context.Background()
	for _, tc := range []struct {
		name, member, id string
		data             []byte
	}{
		{"empty member", "", "id", nil},
		{"member with dot", "a.b", "id", nil},
		{"member wildcard", "*", "id", nil},
		{"member tail wildcard", ">", "id", nil},
		{"member space", "a b", "id", nil},
		{"member too long", strings.Repeat("a", 129), "id", nil},
		{"empty id", "alpha", "", nil},
		{"id too long", "alpha", strings.Repeat("i", 257), nil},
		{"too large", "alpha", "id", make([]byte, MaxMessageSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Publish(ctx, tc.member, tc.id, tc.data); err == nil {
				t.Fatal("Publish succeeded, want an error")
			}
		})
	}
	if last, _ := f.LastSeq(); last != 0 {
		t.Fatalf("invalid publishes stored %d messages", last)
	}
	// The limits themselves are accepted.
	if _, err := f.Publish(ctx, strings.Repeat("a", 128), strings.Repeat("i", 256), make([]byte, MaxMessageSize)); err != nil {
		t.Fatalf("Publish at the limits: %v", err)
	}
}

func TestPublishGivesUpWithContext(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Publish(ctx, "alpha", "r", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestStoreDisabled: nats-server switches JetStream off when its disk is
// full; Publish, LastSeq and Consume then fail at once with ErrStoreDisabled.
func TestStoreDisabled(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	publishN(t, f, "alpha", 1, 1)
	if err := f.srv.DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if _, err := f.Publish(ctx, "alpha", "r2", []byte("x")); !errors.Is(err, ErrStoreDisabled) {
		t.Fatalf("Publish = %v, want ErrStoreDisabled", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Publish took %v to give up, want at once", took)
	}
	if _, err := f.LastSeq(); !errors.Is(err, ErrStoreDisabled) {
		t.Fatalf("LastSeq = %v, want ErrStoreDisabled", err)
	}
	if err := f.Consume(ctx, 1, func(Msg) {}); !errors.Is(err, ErrStoreDisabled) {
		t.Fatalf("Consume = %v, want ErrStoreDisabled", err)
	}
}

// TestStore: Store writes to the stream alone, not on the fast path.
func TestStore(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	c := consume(t, f, 1)
	c.fastReady(t, f)
	seq, err := f.Store(context.Background(), "alpha", "s1", []byte("stored only"))
	if err != nil || seq != 1 {
		t.Fatalf("Store = %d, %v; want sequence 1", seq, err)
	}
	if _, err := f.Store(context.Background(), "alpha", "", []byte("x")); err == nil {
		t.Fatal("Store took an empty message id")
	}
	// A fast-path marker sent after the stored message arrives, and the
	// stored message never came on the fast path.
	if err := f.PublishFast("alpha", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream copy and the marker", 10*time.Second, func() bool {
		return len(c.streamMsgs()) == 1 && len(c.fastMsgs()) == 1
	})
	if got := string(c.fastMsgs()[0].Data); got != "marker" {
		t.Fatalf("fast path carried %q; Store must not use it", got)
	}
}

// TestLastSeqAfterPurge: a stream whose messages are all gone (purged, or
// aged out) has nothing to replay: LastSeq says 0, so that a restarting
// member does not wait for a message that no longer exists.
func TestLastSeqAfterPurge(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	ctx := context.Background()
	publishN(t, f, "alpha", 1, 3)
	if last, err := f.LastSeq(); err != nil || last != 3 {
		t.Fatalf("LastSeq = %d, %v; want 3", last, err)
	}
	s, err := f.adminJS.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := f.LastSeq(); err != nil || last != 0 {
		t.Errorf("LastSeq after a purge = %d, %v; want 0 (nothing to replay)", last, err)
	}
}
