package fabric

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMemberInboxes: a member receives answers only on its own inboxes
// (memberInbox): subscribing to every inbox, to another member's or to a
// guest's is refused, while its own JetStream calls and requests work.
func TestMemberInboxes(t *testing.T) {
	js := startJoinServer(t)
	_, _, invite := inviteKey(t, 7)
	var errs asyncErrs
	nc := connectAs(t, js.f.ClientURL(), "B", js.b, &errs)
	for _, subj := range []string{
		"_INBOX.>", "_INBOX.*", "_INBOX.member.>", "_INBOX.member.*.>",
		memberInbox("A") + ".>", memberInbox("A") + ".x", guestInbox(invite) + ".>", "_INBOX.x",
	} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "permissions violation for subscription to "+subj, 10*time.Second, func() bool {
			return errs.has(`permissions violation for subscription to "` + strings.ToLower(subj) + `"`)
		})
	}
	// Its own inboxes work: a JetStream call answers there.
	bjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bjs.Stream(ctx, StreamName); err != nil {
		t.Fatalf("member B reads the stream's info through its own inbox: %v", err)
	}
	if errs.has(`subscription to "` + strings.ToLower(memberInbox("B"))) {
		t.Fatal("member B may not subscribe to its own inboxes")
	}
	// A client of member B's that does not use B's inbox prefix gets no
	// answers at all.
	var errs2 asyncErrs
	pub, _ := js.b.kp.PublicKey()
	plain, err := nats.Connect(js.f.ClientURL(), nats.Nkey(pub, js.b.kp.Sign), testTLS(), nats.MaxReconnects(0), nats.ErrorHandler(errs2.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Request("$JS.API.INFO", nil, refusedWait); err == nil {
		t.Fatal("member B got an answer on the shared _INBOX prefix")
	}
	waitFor(t, "permissions violation for the default inbox", 10*time.Second, func() bool {
		return errs2.has(`permissions violation for subscription to "_inbox.`)
	})
}

// TestConsumerLimits: a member may create consumers only under its own
// few names (consumerName), not durable ones through the durable API, not
// unnamed or filtered ones, not more than maxConsumers, not with a longer
// inactivity threshold than the stream allows; nor pull from or delete
// another member's.
func TestConsumerLimits(t *testing.T) {
	f, _, b := startAuthed(t)
	c := consume(t, f, 0) // A's own consumer, c_A_0
	publishN(t, f, "A", 1, 2)
	c.waitStream(t, 2)

	var errs asyncErrs
	nc := connectAs(t, f.ClientURL(), "B", b, &errs)
	bjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refused := func(what, subject string, try func(ctx context.Context) error) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, refusedWait)
		err := try(rctx)
		rcancel()
		if err == nil {
			t.Fatalf("member B: %s succeeded", what)
		}
		waitFor(t, "permissions violation for "+subject, 10*time.Second, func() bool {
			return errs.has(`permissions violation for publish to "` + strings.ToLower(subject) + `"`)
		})
	}
	api := "$JS.API.CONSUMER."
	refused("durable consumer through the durable API", api+"DURABLE.CREATE."+StreamName+".keep", func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, api+"DURABLE.CREATE."+StreamName+".keep",
			[]byte(`{"stream_name":"PHALANX","config":{"durable_name":"keep","ack_policy":"none"}}`))
		return err
	})
	refused("durable consumer under a name of its choosing", api+"CREATE."+StreamName+".keep", func(ctx context.Context) error {
		_, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: "keep", AckPolicy: jetstream.AckNonePolicy})
		return err
	})
	refused("consumer under member A's name", api+"CREATE."+StreamName+"."+consumerName("A", 1), func(ctx context.Context) error {
		_, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Name: consumerName("A", 1), AckPolicy: jetstream.AckNonePolicy})
		return err
	})
	refused("unnamed consumer", api+"CREATE."+StreamName, func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, api+"CREATE."+StreamName, []byte(`{"stream_name":"PHALANX","config":{"ack_policy":"none"}}`))
		return err
	})
	filtered := api + "CREATE." + StreamName + "." + consumerName("B", 0) + "." + ReportPrefix + "A"
	refused("filtered consumer", filtered, func(ctx context.Context) error {
		_, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Name: consumerName("B", 0), FilterSubject: ReportPrefix + "A", AckPolicy: jetstream.AckNonePolicy})
		return err
	})
	refused("pull from member A's consumer", api+"MSG.NEXT."+StreamName+"."+consumerName("A", 0), func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, api+"MSG.NEXT."+StreamName+"."+consumerName("A", 0), []byte(`{"batch":1}`))
		return err
	})
	refused("delete member A's consumer", api+"DELETE."+StreamName+"."+consumerName("A", 0), func(ctx context.Context) error {
		return bjs.DeleteConsumer(ctx, StreamName, consumerName("A", 0))
	})

	// Its own names work, up to maxConsumers; the next is refused.
	for k := range maxConsumers {
		if _, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Name: consumerName("B", k), AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true}); err != nil {
			t.Fatalf("member B creating its consumer %d: %v", k, err)
		}
	}
	refused("one consumer more than the bound", api+"CREATE."+StreamName+"."+consumerName("B", maxConsumers), func(ctx context.Context) error {
		_, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Name: consumerName("B", maxConsumers), AckPolicy: jetstream.AckNonePolicy})
		return err
	})
	// A durable one under its own name is held to the stream's
	// inactivity limit: it goes a minute after its last pull.
	if err := bjs.DeleteConsumer(ctx, StreamName, consumerName("B", 1)); err != nil {
		t.Fatalf("member B deleting its own consumer: %v", err)
	}
	_, err = bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: consumerName("B", 1), AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Hour})
	if err == nil {
		t.Fatal("member B created a consumer that would stay an hour without a pull")
	}
	t.Logf("a consumer idle for an hour is refused: %v", err)
	dc, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: consumerName("B", 1), AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatalf("member B creating a durable consumer under its own name: %v", err)
	}
	if got := dc.CachedInfo().Config.InactiveThreshold; got != consumerIdle {
		t.Fatalf("durable consumer's inactive threshold %v, want the stream's limit %v", got, consumerIdle)
	}

	// The stream still delivers to A's consumer.
	publishN(t, f, "A", 3, 1)
	checkSeqs(t, c.waitStream(t, 3), 1, body)
}

// TestConsumeBound: one Fabric runs at most maxConsumers Consume calls at
// once, and a slot is free again once a call returns.
func TestConsumeBound(t *testing.T) {
	f, _, _ := startAuthed(t)
	var cs []*collector
	for range maxConsumers {
		cs = append(cs, consume(t, f, 1))
	}
	publishN(t, f, "A", 1, 1)
	for _, c := range cs {
		c.waitStream(t, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Consume(ctx, 1, func(Msg) {}); err == nil || !strings.Contains(err.Error(), "consumers run already") {
		t.Fatalf("Consume beyond the bound = %v, want an error", err)
	}
	cs[0].cancel()
	<-cs[0].done
	cs[0].done <- nil // for the cleanup
	waitFor(t, "a free consumer slot", 10*time.Second, func() bool {
		f.consumers.mu.Lock()
		defer f.consumers.mu.Unlock()
		for _, u := range f.consumers.used {
			if !u {
				return true
			}
		}
		return false
	})
	again := consume(t, f, 1)
	checkSeqs(t, again.waitStream(t, 1), 1, body)
}

// TestRemovedMemberConsumers: when SetMembers removes a member, its
// consumers on the stream are deleted at once, durable or not; the
// others' stay.
func TestRemovedMemberConsumers(t *testing.T) {
	f, a, b := startAuthed(t)
	c := consume(t, f, 0)
	publishN(t, f, "A", 1, 1)
	c.waitStream(t, 1)

	var errs asyncErrs
	nc := connectAs(t, f.ClientURL(), "B", b, &errs)
	bjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Name: consumerName("B", 0), AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := bjs.CreateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: consumerName("B", 2), AckPolicy: jetstream.AckNonePolicy}); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		s, err := f.adminJS.Stream(ctx, StreamName)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		l := s.ConsumerNames(ctx)
		for n := range l.Name() {
			out = append(out, n)
		}
		if err := l.Err(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		return out
	}
	has := func(name string) bool {
		for _, n := range names() {
			if n == name {
				return true
			}
		}
		return false
	}
	if !has(consumerName("B", 0)) || !has(consumerName("B", 2)) || !has(consumerName("A", 0)) {
		t.Fatalf("consumers before the removal: %v", names())
	}
	if err := f.SetMembers([]Member{{ID: "A", PublicKey: a.pub}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "member B's consumers to be deleted", 10*time.Second, func() bool {
		return !has(consumerName("B", 0)) && !has(consumerName("B", 2))
	})
	if !has(consumerName("A", 0)) {
		t.Fatalf("member A's consumer went too: %v", names())
	}
	publishN(t, f, "A", 2, 1)
	checkSeqs(t, c.waitStream(t, 2), 1, body)
}
