package fabric

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"phalanx/identity"
)

// invites is a Guest callback over a set of invite keys.
type invites struct {
	mu    sync.Mutex
	keys  [][]byte
	calls atomic.Int64
}

func (iv *invites) add(pub ed25519.PublicKey) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.keys = append(iv.keys, pub)
}

func (iv *invites) guest(pub ed25519.PublicKey) bool {
	iv.calls.Add(1)
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for _, k := range iv.keys {
		if bytes.Equal(k, pub) {
			return true
		}
	}
	return false
}

// joinServer is member A's Fabric (members A and B) with guests and a
// running ServeJoin whose handler answers "welcome <invite>: <request>".
type joinServer struct {
	f        *Fabric
	a, b     testKey
	invites  *invites
	handled  atomic.Int64
	logged   func(string) bool
	hostPort string
}

func startJoinServer(t *testing.T) *joinServer {
	t.Helper()
	js := &joinServer{a: newTestKey(t, 1), b: newTestKey(t, 2), invites: &invites{}}
	log, logged := recordLogs(t)
	js.logged = logged
	js.f = start(t, Options{
		DataDir: t.TempDir(),
		Listen:  "127.0.0.1:0",
		Seed:    js.a.seed,
		Members: []Member{{ID: "A", PublicKey: js.a.pub}, {ID: "B", PublicKey: js.b.pub}},
		Guest:   js.invites.guest,
		Logger:  log,
	})
	js.hostPort = strings.TrimPrefix(js.f.ClientURL(), "nats://")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- js.f.ServeJoin(ctx, func(invite string, req []byte) []byte {
			js.handled.Add(1)
			return []byte("welcome " + invite + ": " + string(req))
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("ServeJoin returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeJoin did not return 10 s after its context ended")
		}
	})
	return js
}

// inviteKey returns a new invite key (seed, public key, invite id).
func inviteKey(t *testing.T, b byte) ([]byte, ed25519.PublicKey, string) {
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return seed, pub, identity.MemberID(pub)
}

// requestJoin retries RequestJoin until ServeJoin has subscribed.
func (js *joinServer) requestJoin(t *testing.T, addrs []string, seed, req []byte) []byte {
	t.Helper()
	var reply []byte
	var err error
	waitFor(t, "an answer to the join request", 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply, err = RequestJoin(ctx, addrs, seed, req)
		if err != nil && !strings.Contains(err.Error(), "no member answers") {
			t.Fatalf("RequestJoin: %v", err)
		}
		return err == nil
	})
	return reply
}

func TestJoin(t *testing.T) {
	js := startJoinServer(t)
	seed, pub, id := inviteKey(t, 7)
	js.invites.add(pub)

	// A dead address first: RequestJoin goes on to the next one.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	reply := js.requestJoin(t, []string{deadAddr, js.hostPort}, seed, []byte("hello"))
	if want := "welcome " + id + ": hello"; string(reply) != want {
		t.Fatalf("join answer %q, want %q", reply, want)
	}
	calls := js.invites.calls.Load()
	if calls == 0 {
		t.Fatal("Guest was not called")
	}
	// Guest is asked again on every connect.
	js.requestJoin(t, []string{js.hostPort}, seed, []byte("again"))
	if js.invites.calls.Load() <= calls {
		t.Fatal("Guest was not called on the second connect")
	}

	// An invite Guest does not know is refused at connect, and the
	// error names the addresses tried.
	other, _, _ := inviteKey(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = RequestJoin(ctx, []string{deadAddr, js.hostPort}, other, []byte("hello"))
	if err == nil {
		t.Fatal("a guest Guest does not know joined")
	}
	for _, want := range []string{deadAddr, js.hostPort, "refused the invite key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("RequestJoin error %q does not mention %q", err, want)
		}
	}

	// A member still connects and works.
	var errs asyncErrs
	bc := connectAs(t, js.f.ClientURL(), "B", js.b, &errs)
	bjs, err := jetstream.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bjs.Publish(ctx, ReportPrefix+"B", []byte(body(1)), jetstream.WithMsgID("b1")); err != nil {
		t.Fatalf("member B publishes beside guests: %v", err)
	}
}

// TestGuestPermissions: a guest may send its join request and nothing
// else: no reports, no reading reports or others' inboxes, no JetStream,
// no join requests of other invites.
func TestGuestPermissions(t *testing.T) {
	js := startJoinServer(t)
	seed, pub, id := inviteKey(t, 7)
	js.invites.add(pub)
	guest := testKeyFromSeed(t, seed)
	var errs asyncErrs
	nc, err := dialAs(js.f.ClientURL(), guest, nats.ErrorHandler(errs.handler), nats.CustomInboxPrefix(guestInbox(id)))
	if err != nil {
		t.Fatalf("guest connects: %v", err)
	}
	defer nc.Close()

	// Its own join request is answered.
	waitFor(t, "guest's join answer", 15*time.Second, func() bool {
		m, err := nc.Request(JoinPrefix+id, []byte("hi"), 2*time.Second)
		return err == nil && string(m.Data) == "welcome "+id+": hi"
	})

	c := consume(t, js.f, 0)
	for _, subj := range []string{ReportPrefix + "A", FastPrefix + "A", ReportPrefix + id, FastPrefix + id, JoinPrefix + identity.MemberID(js.b.pub)} {
		if err := nc.Publish(subj, []byte("from a guest")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "permissions violation for publish to "+subj, 10*time.Second, func() bool {
			return errs.has(`permissions violation for publish to "` + strings.ToLower(subj) + `"`)
		})
	}
	for _, subj := range []string{ReportPrefix + ">", FastPrefix + ">", "_INBOX.>", JoinPrefix + "*", RequestPrefix + "A.>"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "permissions violation for subscription to "+subj, 10*time.Second, func() bool {
			return errs.has(`permissions violation for subscription to "` + strings.ToLower(subj) + `"`)
		})
	}
	if _, err := nc.Request("$JS.API.INFO", nil, refusedWait); err == nil {
		t.Fatal("a guest got an answer from the JetStream API")
	}
	waitFor(t, "permissions violation for the JetStream API", 10*time.Second, func() bool {
		return errs.has(`permissions violation for publish to "$js.api.info"`)
	})
	gjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), refusedWait)
	defer scancel()
	if _, err := gjs.Stream(sctx, StreamName); err == nil {
		t.Fatal("a guest read the stream's info")
	}
	// None of it reached the stream or the consumer.
	publishN(t, js.f, "A", 1, 1)
	checkSeqs(t, c.waitStream(t, 1), 1, body)
	for _, m := range c.fastMsgs() {
		if string(m.Data) == "from a guest" {
			t.Fatalf("a guest's message was delivered on %s", m.Subject)
		}
	}
	// A guest cannot attach as a leaf node either: see TestLeaf.
}

// TestJoinDropsBadRequests: ServeJoin drops oversized requests and
// requests whose reply subject is not the guest's inbox (which would
// let a guest make the member publish anywhere), and keeps serving.
func TestJoinDropsBadRequests(t *testing.T) {
	js := startJoinServer(t)
	seed, pub, id := inviteKey(t, 7)
	js.invites.add(pub)
	js.requestJoin(t, []string{js.hostPort}, seed, []byte("first"))
	handled := js.handled.Load()

	guest := testKeyFromSeed(t, seed)
	nc, err := dialAs(js.f.ClientURL(), guest, nats.CustomInboxPrefix(guestInbox(id)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request(JoinPrefix+id, make([]byte, MaxJoinSize+1), refusedWait); err == nil {
		t.Fatal("an oversized join request was answered")
	}
	waitFor(t, "the oversized request to be logged", 10*time.Second, func() bool { return js.logged("oversized join request") })
	if err := nc.PublishRequest(JoinPrefix+id, ReportPrefix+"A", []byte("forge")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged reply subject to be logged", 10*time.Second, func() bool { return js.logged("reply subject is not the guest's inbox") })
	if got := js.handled.Load(); got != handled {
		t.Fatalf("the handler saw %d dropped requests", got-handled)
	}
	if last, err := js.f.LastSeq(); err != nil || last != 0 {
		t.Fatalf("LastSeq = %d, %v after a forged reply subject: want 0", last, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = RequestJoin(ctx, []string{js.hostPort}, seed, make([]byte, MaxJoinSize+1))
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("RequestJoin of an oversized request = %v", err)
	}
	if reply := js.requestJoin(t, []string{js.hostPort}, seed, []byte("still")); string(reply) != "welcome "+id+": still" {
		t.Fatalf("answer after the dropped requests: %q", reply)
	}
}

func TestRequestJoinInvalid(t *testing.T) {
	seed, _, _ := inviteKey(t, 7)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		addrs []string
		seed  []byte
		want  string
	}{
		{"short seed", []string{"127.0.0.1:1"}, seed[:5], "copy the whole join token"},
		{"no addresses", nil, seed, "lists none"},
		{"bad address", []string{"127.0.0.1"}, seed, "not host:port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RequestJoin(ctx, tt.addrs, tt.seed, []byte("x"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RequestJoin = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Start(ctx, Options{DataDir: t.TempDir(), Guest: func(ed25519.PublicKey) bool { return true }}); err == nil || !strings.Contains(err.Error(), "needs authentication") {
		t.Fatalf("Start with Guest but no Members = %v", err)
	}
}

func testKeyFromSeed(t *testing.T, seed []byte) testKey {
	t.Helper()
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, seed)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{seed: seed, pub: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), kp: kp}
}
