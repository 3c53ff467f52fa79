package fabric

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// refusedWait is how long a test waits for an answer to a request the
// server refuses: it drops the request, so none comes.
const refusedWait = 300 * time.Millisecond

// testKey is a member key made from a fixed seed.
type testKey struct {
	seed []byte
	pub  ed25519.PublicKey
	kp   nkeys.KeyPair
}

func newTestKey(t testing.TB, b byte) testKey {
	t.Helper()
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, seed)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{seed: seed, pub: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), kp: kp}
}

// asyncErrs records the asynchronous errors a client connection gets.
type asyncErrs struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err)
}

func (a *asyncErrs) has(substr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.errs {
		if strings.Contains(strings.ToLower(e.Error()), substr) {
			return true
		}
	}
	return false
}

// connectAs connects to url as member id with key k, with the member's
// inbox prefix.
func connectAs(t testing.TB, url, id string, k testKey, errs *asyncErrs) *nats.Conn {
	t.Helper()
	pub, err := k.kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.Nkey(pub, k.kp.Sign), nats.ErrorHandler(errs.handler), testTLS(),
		nats.MaxReconnects(0), nats.Timeout(5*time.Second), nats.CustomInboxPrefix(memberInbox(id)))
	if err != nil {
		t.Fatalf("connect as member: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startAuthed starts a Fabric of member A with members A and B, listening
// on loopback.
func startAuthed(t *testing.T) (f *Fabric, a, b testKey) {
	t.Helper()
	a, b = newTestKey(t, 1), newTestKey(t, 2)
	f = start(t, Options{
		DataDir: t.TempDir(),
		Listen:  "127.0.0.1:0",
		Seed:    a.seed,
		Members: []Member{{ID: "A", PublicKey: a.pub}, {ID: "B", PublicKey: b.pub}},
	})
	return f, a, b
}

func TestAuthMemberPermissions(t *testing.T) {
	f, _, b := startAuthed(t)
	c := consume(t, f, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var errs asyncErrs
	nc := connectAs(t, f.ClientURL(), "B", b, &errs)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// (1) B publishes its own report: stored.
	ack, err := js.Publish(ctx, ReportPrefix+"B", []byte("from B 1"), jetstream.WithMsgID("b1"))
	if err != nil {
		t.Fatalf("member B publishing its own report: %v", err)
	}
	if ack.Sequence != 1 {
		t.Fatalf("first report stored at sequence %d, want 1", ack.Sequence)
	}

	// (2) B publishes as A: refused, nothing stored.
	// The server drops a denied message and says so asynchronously, so
	// the request gets no answer: a short timeout is enough.
	pctx, pcancel := context.WithTimeout(ctx, refusedWait)
	_, err = js.Publish(pctx, ReportPrefix+"A", []byte("forged"), jetstream.WithMsgID("forged"))
	pcancel()
	if err == nil {
		t.Fatal("member B published a report as member A")
	}
	if err := nc.Publish(FastPrefix+"A", []byte("forged fast")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "permissions violation for phalanx.report.A", 10*time.Second, func() bool {
		return errs.has("permissions violation for publish to \"phalanx.report.a\"")
	})
	waitFor(t, "permissions violation for phalanx.fast.A", 10*time.Second, func() bool {
		return errs.has("permissions violation for publish to \"phalanx.fast.a\"")
	})
	// A report B may publish comes right after the first one: the forged
	// one took no sequence.
	ack, err = js.Publish(ctx, ReportPrefix+"B", []byte("from B 2"), jetstream.WithMsgID("b2"))
	if err != nil {
		t.Fatalf("member B publishing its own report: %v", err)
	}
	if ack.Sequence != 2 {
		t.Fatalf("second report of B stored at sequence %d, want 2 (was the forged report stored?)", ack.Sequence)
	}
	msgs := c.waitStream(t, 2)
	for _, m := range msgs {
		if m.Subject != ReportPrefix+"B" {
			t.Fatalf("stream holds %q on %s", m.Data, m.Subject)
		}
	}
	for _, m := range c.fastMsgs() {
		if m.Subject == FastPrefix+"A" {
			t.Fatalf("forged fast-path message delivered: %q", m.Data)
		}
	}

	// B may read the stream with a pull consumer under one of its own
	// names (see TestConsumerLimits for the others).
	oc, err := js.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Name: consumerName("B", 0), AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true})
	if err != nil {
		t.Fatalf("member B creating a consumer: %v", err)
	}
	m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("member B reading the stream: %v", err)
	}
	if string(m.Data()) != "from B 1" {
		t.Fatalf("member B read %q first, want %q", m.Data(), "from B 1")
	}

	// (5) B may not delete or purge the stream, nor change it.
	dctx, dcancel := context.WithTimeout(ctx, refusedWait)
	defer dcancel()
	if err := js.DeleteStream(dctx, StreamName); err == nil {
		t.Fatal("member B deleted the stream")
	}
	for _, subj := range []string{
		"$JS.API.STREAM.PURGE." + StreamName,
		"$JS.API.STREAM.DELETE." + StreamName,
		"$JS.API.STREAM.UPDATE." + StreamName,
		"$JS.API.STREAM.MSG.DELETE." + StreamName,
	} {
		if _, err := nc.Request(subj, []byte(`{}`), refusedWait); err == nil {
			t.Fatalf("member B got an answer on %s", subj)
		}
		waitFor(t, "permissions violation for "+subj, 10*time.Second, func() bool {
			return errs.has("permissions violation for publish to \"" + strings.ToLower(subj) + "\"")
		})
	}
	last, err := f.LastSeq()
	if err != nil {
		t.Fatalf("stream after B's attempts to delete and purge it: %v", err)
	}
	if last != 2 {
		t.Fatalf("stream's last sequence is %d after B's attempts to delete and purge it, want 2", last)
	}
}

func TestAuthRefusesStrangers(t *testing.T) {
	f, _, _ := startAuthed(t)
	// (3) an unknown key.
	stranger := newTestKey(t, 3)
	pub, err := stranger.kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(f.ClientURL(), nats.Nkey(pub, stranger.kp.Sign), nats.MaxReconnects(0), testTLS()); err == nil {
		nc.Close()
		t.Fatal("a client with an unknown key connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Logf("unknown key refused with %v", err)
	}
	// (4) no credentials.
	if nc, err := nats.Connect(f.ClientURL(), nats.MaxReconnects(0), testTLS()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	}
	// A known public key without its private key cannot sign the nonce.
	b := newTestKey(t, 2)
	bpub, err := b.kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(f.ClientURL(), nats.Nkey(bpub, stranger.kp.Sign), nats.MaxReconnects(0), testTLS()); err == nil {
		nc.Close()
		t.Fatal("a client with member B's public key but another private key connected")
	}
}

func TestAuthFabricAPI(t *testing.T) {
	f, _, _ := startAuthed(t)
	c := consume(t, f, 0)
	publishN(t, f, "A", 1, 3)
	checkSeqs(t, c.waitStream(t, 3), 1, body)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.Publish(ctx, "B", "forged", []byte("forged")); !errors.Is(err, ErrPermission) {
		t.Fatalf("Publish as another member: got %v, want ErrPermission", err)
	}
	// The server refuses it too, not only Publish's own check.
	pctx, pcancel := context.WithTimeout(ctx, refusedWait)
	_, err := f.js.Publish(pctx, ReportPrefix+"B", []byte("forged"), jetstream.WithMsgID("forged"))
	pcancel()
	if err == nil {
		t.Fatal("the in-process connection of member A published as member B")
	}
	publishN(t, f, "A", 4, 1) // sequence 4: the forged report took none
	checkSeqs(t, c.waitStream(t, 4), 1, body)
}

// TestAuthRestart checks that a Fabric with Members starts again on its
// store and updates the stream through its in-process manager.
func TestAuthRestart(t *testing.T) {
	a := newTestKey(t, 1)
	dir := t.TempDir()
	o := Options{DataDir: dir, Seed: a.seed, Members: []Member{{ID: "A", PublicKey: a.pub}}, Logger: testLogger(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Publish(ctx, "A", "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	o.MaxAge = time.Hour
	f = start(t, o)
	if last, err := f.LastSeq(); err != nil || last != 1 {
		t.Fatalf("LastSeq after restart = %d, %v; want 1", last, err)
	}
	s, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Fatalf("stream MaxAge after restart with a new MaxAge = %v, want 1h", got)
	}
}

func TestAuthOptions(t *testing.T) {
	a, b := newTestKey(t, 1), newTestKey(t, 2)
	tests := []struct {
		name    string
		seed    []byte
		members []Member
		want    string
	}{
		{"no seed", nil, []Member{{ID: "A", PublicKey: a.pub}}, "Options.Seed"},
		{"short seed", a.seed[:31], []Member{{ID: "A", PublicKey: a.pub}}, "Options.Seed"},
		{"self not a member", a.seed, []Member{{ID: "B", PublicKey: b.pub}}, "not in Options.Members"},
		{"bad id", a.seed, []Member{{ID: "A.B", PublicKey: a.pub}}, "invalid member id"},
		{"bad key", a.seed, []Member{{ID: "A", PublicKey: a.pub[:5]}}, "public key"},
		{"duplicate id", a.seed, []Member{{ID: "A", PublicKey: a.pub}, {ID: "A", PublicKey: b.pub}}, "twice"},
		{"duplicate key", a.seed, []Member{{ID: "A", PublicKey: a.pub}, {ID: "B", PublicKey: a.pub}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Start(context.Background(), Options{DataDir: t.TempDir(), Seed: tt.seed, Members: tt.members})
			if err == nil {
				f.Close()
				t.Fatal("Start accepted the options")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestAuthCluster checks that members with authentication on their client
// listeners still form a cluster, create the stream (through their
// in-process managers) and carry each other's reports.
func TestAuthCluster(t *testing.T) {
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	ids := []string{"A", "B", "C"}
	keys := make([]testKey, len(ids))
	members := make([]Member, len(ids))
	for i, id := range ids {
		keys[i] = newTestKey(t, byte(i+1))
		members[i] = Member{ID: id, PublicKey: keys[i].pub, Hub: true}
	}
	var ms []*member
	for i, p := range ports {
		ms = append(ms, startMember(t, Options{
			DataDir:  t.TempDir(),
			Name:     ids[i],
			Cluster:  fmt.Sprintf("127.0.0.1:%d", p),
			Routes:   routes,
			Replicas: 3,
			Seed:     keys[i].seed,
			Members:  members,
		}))
	}
	ready(t, ms[0].f, ms[1].f, ms[2].f)
	waitReplicated(t, ms[0].f, 3)
	cc := consume(t, ms[2].f, 0)
	publishN(t, ms[0].f, "A", 1, 2)
	publishN(t, ms[1].f, "B", 3, 2)
	got := cc.waitStream(t, 4)
	checkSeqs(t, got, 1, body)
	for i, want := range []string{"A", "A", "B", "B"} {
		if got[i].Subject != ReportPrefix+want {
			t.Fatalf("message %d on %s, want %s", i, got[i].Subject, ReportPrefix+want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ms[1].f.Publish(ctx, "A", "forged", []byte("forged")); !errors.Is(err, ErrPermission) {
		t.Fatalf("member B publishing as A: got %v, want ErrPermission", err)
	}
}
