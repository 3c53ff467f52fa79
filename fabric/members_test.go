package fabric

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// dialAs connects to url as k, or returns the error.
func dialAs(url string, k testKey, opts ...nats.Option) (*nats.Conn, error) {
	pub, err := k.kp.PublicKey()
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, append([]nats.Option{nats.Nkey(pub, k.kp.Sign), nats.MaxReconnects(0), nats.Timeout(5 * time.Second), testTLS()}, opts...)...)
}

// TestSetMembers: an amendment removes B and adds C. B's open connection
// is closed and B cannot connect again; C can connect at once and
// publish its own reports; this member's own connection keeps working.
func TestSetMembers(t *testing.T) {
	f, a, b := startAuthed(t)
	c := newTestKey(t, 3)
	if nc, err := dialAs(f.ClientURL(), c); err == nil {
		nc.Close()
		t.Fatal("C connected before it was a member")
	}
	closed := make(chan struct{})
	bc, err := dialAs(f.ClientURL(), b, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("B connects while a member: %v", err)
	}
	defer bc.Close()
	sub, err := bc.SubscribeSync(ReportPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	publishN(t, f, "A", 1, 1)
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("B receives reports while a member: %v", err)
	}

	if err := f.SetMembers([]Member{{ID: "A", PublicKey: a.pub}, {ID: "C", PublicKey: c.pub}}); err != nil {
		t.Fatalf("SetMembers: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("B's connection is still open 10 s after B was removed")
	}
	if nc, err := dialAs(f.ClientURL(), b); err == nil {
		nc.Close()
		t.Fatal("B connected after it was removed")
	}

	cc, err := dialAs(f.ClientURL(), c, nats.CustomInboxPrefix(memberInbox("C")))
	if err != nil {
		t.Fatalf("C connects once added: %v", err)
	}
	defer cc.Close()
	js, err := jetstream.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, ReportPrefix+"C", []byte(body(2)), jetstream.WithMsgID("c-2"))
	if err != nil || ack.Sequence != 2 {
		t.Fatalf("C publishes its own report: %+v, %v; want sequence 2", ack, err)
	}
	// C has a member's permissions, not more.
	pctx, pcancel := context.WithTimeout(ctx, refusedWait)
	_, err = js.Publish(pctx, ReportPrefix+"A", []byte("forged"), jetstream.WithMsgID("forged"))
	pcancel()
	if err == nil {
		t.Fatal("C published as A")
	}
	publishN(t, f, "A", 3, 1) // this member still publishes (and nothing forged took sequence 3)
	checkSeqs(t, consume(t, f, 1).waitStream(t, 3), 1, body)
}

func TestSetMembersInvalid(t *testing.T) {
	f, a, b := startAuthed(t)
	for _, tt := range []struct {
		name string
		ms   []Member
		want string
	}{
		{"empty", nil, "do not list this member"},
		{"without self", []Member{{ID: "B", PublicKey: b.pub}}, "do not list this member"},
		{"self renamed", []Member{{ID: "A2", PublicKey: a.pub}, {ID: "B", PublicKey: b.pub}}, "do not list this member as A"},
		{"duplicate", []Member{{ID: "A", PublicKey: a.pub}, {ID: "B", PublicKey: b.pub}, {ID: "B", PublicKey: b.pub}}, "twice"},
		{"bad id", []Member{{ID: "A", PublicKey: a.pub}, {ID: "B.1", PublicKey: b.pub}}, "invalid member id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := f.SetMembers(tt.ms)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SetMembers = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// A refused change leaves the members as they were: B still connects.
	nc, err := dialAs(f.ClientURL(), b)
	if err != nil {
		t.Fatalf("B after refused changes: %v", err)
	}
	nc.Close()

	plain := start(t, Options{DataDir: t.TempDir()})
	if err := plain.SetMembers([]Member{{ID: "A", PublicKey: a.pub}}); err == nil || !strings.Contains(err.Error(), "needs authentication") {
		t.Fatalf("SetMembers without authentication = %v", err)
	}
}
