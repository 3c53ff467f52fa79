package fabric

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestServeRefusesForeignReplySubjects: a member's request whose reply
// subject is not below a member's inbox prefix — a guest's inbox, the
// inbox of no member, nats.go's default inbox — is dropped unanswered, and
// the guest's inbox receives nothing; the member's requests with its own
// inbox are answered, and the guest's join request still is.
func TestServeRefusesForeignReplySubjects(t *testing.T) {
	js := startJoinServer(t)
	var served atomic.Int64
	serve(t, js.f, "gap", func(req []byte) []byte {
		served.Add(1)
		return []byte("A answers " + string(req))
	})

	// A guest waiting for its join answer.
	seed, pub, id := inviteKey(t, 9)
	js.invites.add(pub)
	guest, err := dialAs(js.f.ClientURL(), testKeyFromSeed(t, seed), nats.CustomInboxPrefix(guestInbox(id)))
	if err != nil {
		t.Fatalf("guest connects: %v", err)
	}
	defer guest.Close()
	guestSub, err := guest.SubscribeSync(guestInbox(id) + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := guest.Flush(); err != nil {
		t.Fatal(err)
	}

	// Member B, as a client of A's server.
	var errs asyncErrs
	b := connectAs(t, js.f.ClientURL(), "B", js.b, &errs)
	waitFor(t, "A to serve gap requests", 15*time.Second, func() bool {
		m, err := b.Request(RequestPrefix+"A.gap", []byte("ready?"), 2*time.Second)
		return err == nil && string(m.Data) == "A answers ready?"
	})
	before := served.Load()

	foreign := []string{
		guestInbox(id) + ".stolen", // a guest's inbox
		memberInbox("C") + ".x",    // no member's
		"_INBOX.abc.def",           // nats.go's default prefix
		memberInbox("B"),           // a member's prefix, no token of its own
		"_INBOX.memberB.x",         // not below the prefix
		memberInbox("b") + ".x",    // ids are case-sensitive
	}
	for _, reply := range foreign {
		if err := b.PublishRequest(RequestPrefix+"A.gap", reply, []byte("forged")); err != nil {
			t.Fatal(err)
		}
	}
	// Serve takes requests one at a time in the order B sent them: once
	// this one is answered, the forged ones have been handled.
	m, err := b.Request(RequestPrefix+"A.gap", []byte("after"), 10*time.Second)
	if err != nil || string(m.Data) != "A answers after" {
		t.Fatalf("B's own request after the forged ones = %v, %v", m, err)
	}
	if got := served.Load() - before; got != 1 {
		t.Errorf("the handler ran %d times for %d forged requests and one of B's own, want once", got, len(foreign))
	}
	waitFor(t, "the dropped requests to be logged", 10*time.Second, func() bool {
		return js.logged("reply subject is not a member's inbox")
	})
	// Whatever A published before its answer to B reached the server
	// before it; the guest's round trip comes after it.
	if err := guest.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, err := guestSub.Pending(); err != nil || n != 0 {
		t.Fatalf("the guest's inbox received %d messages (err %v), want none", n, err)
	}

	// The guest's own join request is answered, and A still answers B.
	waitFor(t, "the guest's join answer", 15*time.Second, func() bool {
		m, err := guest.Request(JoinPrefix+id, []byte("hi"), 2*time.Second)
		return err == nil && string(m.Data) == "welcome "+id+": hi"
	})
	if got := request(t, js.f, "A", "gap", []byte("self")); string(got) != "A answers self" {
		t.Fatalf("A asked itself: %q", got)
	}
}
