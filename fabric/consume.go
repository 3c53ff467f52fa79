package fabric

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// pullExpiry and pullHeartbeat replace nats.go's 30 s pull expiry and
	// 5 s heartbeat: a consumer that lost its server notices within
	// 2*pullHeartbeat and resumes after its last delivered sequence.
	pullExpiry    = 5 * time.Second
	pullHeartbeat = time.Second
	pullBatch     = 256
	// consumerIdle lets the server drop a consumer whose client vanished.
	// It is also the stream's limit for every consumer (streamConfig's
	// ConsumerLimits): none, durable or not, outlives a minute without a
	// pull.
	consumerIdle = time.Minute
	// maxConsumers bounds a member's consumers on the stream (see
	// memberPermissions): one per Consume call running at once. The
	// daemon runs one; a few more leave room for tests and tools.
	maxConsumers = 4
	// fastPending bounds the fast-path messages waiting for the callback;
	// beyond it NATS drops them (the stream still delivers them).
	fastPendingMsgs  = 4096
	fastPendingBytes = 16 << 20
	// A consumer is placed on any server that keeps a copy of the
	// stream. One placed on a copy still catching up (its member
	// restarted with a damaged or deleted store) delivers what that copy
	// holds and then nothing more until its pull expires (pullExpiry:
	// nats-server wakes no waiting pull when a copy catches up), and one
	// placed on a server with no route to this one yet delivers nothing
	// until its heartbeats are missed (2*pullHeartbeat), although the
	// stream holds messages it has not delivered. readStream opens such a
	// consumer anew, placed anew: at once when the consumer counts fewer
	// pending messages than the stream's leader says it holds, and when
	// Next waited replayStall for a message the stream holds (twice the
	// time the consumer took to open if longer: a far link; at most
	// replayStallMax). It does so at most replayNudges times in a row
	// without a delivery, then leaves it to the pull's expiry.
	replayStall    = 300 * time.Millisecond
	replayStallMax = 1500 * time.Millisecond
	replayNudges   = 8
	extentAsk      = time.Second // how long readStream asks how far the stream reaches, after a reopen
)

// Msg is one message delivered by Consume.
type Msg struct {
	// Seq is the stream sequence; 0 for a fast-path message.
	Seq uint64
	// Subject is ReportPrefix+member for stream messages and
	// FastPrefix+member for fast-path ones.
	Subject string
	Data    []byte
	// Time is when the stream stored the message; for a fast-path
	// message, when it was received.
	Time time.Time
}

// consumerName is the name of member id's consumer in slot k (0 to
// maxConsumers-1). The slot's digits follow the last '_', so two
// members' names never meet.
func consumerName(id string, k int) string { return "c_" + id + "_" + strconv.Itoa(k) }

// consumerSlots hands out the names of this member's consumers, one per
// running Consume, so that each has a name permissions allow
// (memberPermissions) and a restart finds the previous run's consumer
// under the same name.
type consumerSlots struct {
	mu   sync.Mutex
	used [maxConsumers]bool
}

func (s *consumerSlots) take() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, u := range s.used {
		if !u {
			s.used[k] = true
			return k, true
		}
	}
	return 0, false
}

func (s *consumerSlots) give(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used[k] = false
}

// Consume calls fn with every stored message whose stream sequence is at
// least from (0 and 1 both mean the first), in order, then with every new
// one as the stream stores it. It also calls fn with fast-path messages
// (Seq 0) as they arrive, interleaved with the stream's; a report usually
// arrives twice, and the receiver dedupes by report id. fn runs on one
// goroutine, the caller's.
//
// If from is beyond the next sequence the stream will assign (LastSeq+1),
// the stream lost messages or was reset, and Consume starts at LastSeq+1
// instead, so it may deliver sequences below from, which the receiver
// dedupes by report id like any repeat.
//
// Consume returns ctx.Err() when ctx ends, ErrClosed when the Fabric is
// closed, and an error if it cannot start consuming (a clustered Fabric
// keeps trying instead, while the cluster elects leaders or creates the
// stream). Lost connections and
// deleted consumers are recovered from without gaps or repeats. At most
// maxConsumers calls run at once on one Fabric.
func (f *Fabric) Consume(ctx context.Context, from uint64, fn func(Msg)) error {
	if f.closed() {
		return ErrClosed
	}
	slot, ok := f.consumers.take()
	if !ok {
		return fmt.Errorf("consume stream %s: %d consumers run already, the most one member may have: end one first", StreamName, maxConsumers)
	}
	started := false
	defer func() {
		if !started {
			f.consumers.give(slot)
		}
	}()
	name := consumerName(f.requester(), slot)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.life, cancel)() // Close ends Consume

	ch := make(chan Msg, 64)
	send := func(m Msg) bool {
		select {
		case ch <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}

	// The fast path first, delivered at once: the stream's API can keep a
	// clustered or leaf Fabric waiting for seconds (a request sent before
	// the cluster has a meta leader is lost and waited out for apiTimeout;
	// a lone founder's always is), and fast-path messages are kept nowhere
	// else: a member would miss the other members' reports for those
	// seconds and judge them only later, in the stream's replay.
	sub, err := f.nc.Subscribe(FastPrefix+">", func(m *nats.Msg) {
		if len(m.Data) > MaxMessageSize {
			f.log.Debug("fabric dropped oversized fast-path message", "subject", m.Subject, "bytes", len(m.Data))
			return
		}
		send(Msg{Subject: m.Subject, Data: m.Data, Time: time.Now()})
	})
	if err != nil {
		return f.consumeErr(parent, fmt.Errorf("subscribe to fast path: %w", err))
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(fastPendingMsgs, fastPendingBytes); err != nil {
		return fmt.Errorf("limit fast path: %w", err)
	}

	// open finds where the stream resumes and opens the consumer there;
	// ext is how far the stream reaches (zero when not known).
	open := func(from uint64) (it *iterator, _ uint64, ext extent, err error) {
		// A damaged store can come back with fewer messages than a
		// consumer has seen (nats-server drops what it cannot read), and
		// the stream then hands out sequences again. Resuming after a
		// saved cursor would skip the new messages; deliver from the
		// stream's end instead.
		if e, err := f.extent(context.Background()); err == nil {
			ext = e
			if from > e.last+1 {
				f.log.Warn("fabric stream ends before the requested sequence (was the store damaged or reset?): delivering from its end",
					"from", from, "last_seq", e.last)
				from = e.last + 1
			}
		}
		it, err = f.openStream(ctx, name, from)
		return it, from, ext, err
	}
	var it *iterator
	var ext extent
	switch {
	case !f.clustered && !f.leaf:
		// The stream is this server's own and answers at once: failing
		// to open it is final.
		if it, from, ext, err = open(from); err != nil {
			return f.consumeErr(parent, err)
		}
	case f.storeDisabled():
		return f.consumeErr(parent, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, ErrStoreDisabled))
	}
	// readStream, and a cluster's or leaf's first open, are not waited
	// for: they may be in the middle of an API request (up to apiTimeout),
	// and neither the fast path nor Consume's caller, stopping, must wait
	// behind it. The goroutine returns by itself once that request ends (at
	// once when Close closes the connection), and gives the consumer's name
	// back then: send refuses everything after ctx ends.
	failed := make(chan error, 1)
	started = true
	go func() {
		defer f.consumers.give(slot)
		it, from, ext := it, from, ext
		if it == nil {
			var err error
			if it, from, ext, err = open(from); err != nil {
				if errors.Is(err, ErrStoreDisabled) {
					failed <- err
					return
				}
				// A cluster may still be electing leaders or creating
				// the stream: keep trying in readStream.
				f.log.Debug("fabric consumer waits for the stream", "from", from, "err", err)
			}
		}
		f.readStream(ctx, it, name, from, ext, send)
	}()

	for {
		select {
		case m := <-ch:
			fn(m)
		case err := <-failed:
			return f.consumeErr(parent, err)
		case <-ctx.Done():
			return f.consumeErr(parent, nil)
		}
	}
}

// consumeErr says why Consume stopped: the caller's context, Close, or err.
func (f *Fabric) consumeErr(parent context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if f.closed() {
		return ErrClosed
	}
	return err
}

// iterator is a pull consumer's message iterator and what readStream
// checks its messages against.
type iterator struct {
	jetstream.MessagesContext
	reconnects uint64        // the connection's reconnects when it was opened
	took       time.Duration // how long opening it took (two API round trips)
	pending    uint64        // the messages the consumer had to deliver when created
}

// openStream (re)creates this member's consumer name, a pull consumer
// starting at stream sequence from, and returns its iterator.
//
// It is not nats.go's ordered consumer, which names each new consumer
// after a counter that grows with every reset: permissions allow a member
// only a few fixed names (memberPermissions). It does what the ordered
// consumer does otherwise: an in-memory, unreplicated consumer without
// acknowledgements, idle heartbeats, and a new consumer from the next
// sequence whenever one is missing (readStream checks the consumer
// sequences), the heartbeats stop or the connection was re-established.
// A consumer of the same name left by an earlier run is deleted first.
func (f *Fabric) openStream(ctx context.Context, name string, from uint64) (*iterator, error) {
	cfg := jetstream.ConsumerConfig{
		Name:              name,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdle,
		Replicas:          1,
		MemoryStorage:     true,
	}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	if f.storeDisabled() {
		return nil, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, ErrStoreDisabled)
	}
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	began := time.Now()
	reconnects := f.nc.Stats().Reconnects
	// Both requests are safe to repeat: a consumer created by an attempt
	// whose answer was lost is found with the same configuration.
	if err := briefly(actx, func(ctx context.Context) error { return f.js.DeleteConsumer(ctx, StreamName, name) }); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		f.log.Debug("fabric could not delete its previous consumer; creating it anyway", "consumer", name, "err", err)
	}
	var cons jetstream.Consumer
	err := briefly(actx, func(ctx context.Context) (err error) {
		cons, err = f.js.CreateConsumer(ctx, StreamName, cfg)
		return err
	})
	if err != nil {
		if f.storeDisabled() {
			err = ErrStoreDisabled
		}
		return nil, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, err)
	}
	it, err := cons.Messages(
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.PullMaxMessages(pullBatch),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return nil, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, err)
	}
	return &iterator{MessagesContext: it, reconnects: reconnects, took: time.Since(began), pending: cons.CachedInfo().NumPending}, nil
}

// stopOnReconnect stops it when the connection is re-established (the
// deliveries in flight are lost then, and the consumer may be gone with
// the server), until ctx ends or the returned function is called.
func (f *Fabric) stopOnReconnect(ctx context.Context, it *iterator) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(pullHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return // readStream's own AfterFunc stops it
			case <-t.C:
				if f.nc.Stats().Reconnects != it.reconnects {
					it.Stop()
					return
				}
			}
		}
	}()
	return cancel
}

// readStream hands stream messages to send until ctx ends. When its
// consumer fails (a gap in the consumer sequence, missed heartbeats, a
// deleted consumer, a new connection), readStream opens a new one after
// the last delivered sequence. ext is how far the stream is known to
// reach (zero: not known): a consumer that lacks messages up to there, or
// stalls waiting for one, is opened anew (see replayStall).
func (f *Fabric) readStream(ctx context.Context, it *iterator, name string, from uint64, ext extent, send func(Msg) bool) {
	next := max(from, 1)
	wait := firstRetryWait
	nudges := 0 // consumers opened anew in a row for lacking messages, without a delivery
	for {
		if it != nil && nudges < replayNudges {
			if holds := ext.holdsFrom(next); it.pending < holds {
				nudges++
				f.log.Debug("fabric consumer placed on a copy of the stream that lacks messages (catching up?); opening it anew",
					"next_seq", next, "pending", it.pending, "stream_holds", holds, "nudges", nudges)
				it.Stop()
				it = nil
				wait = 0
			}
		}
		// Next does not look at ctx while the iterator waits for the
		// server: stopping the iterator ends that.
		var unwatch, unstall func()
		var unstop func() bool
		var waiting atomic.Int64 // since when Next waits for a message the stream holds (Unix ns); 0: it does not
		var stalled atomic.Bool
		if it != nil {
			unstop = context.AfterFunc(ctx, it.Stop)
			unwatch = f.stopOnReconnect(ctx, it)
			if next <= ext.last && nudges < replayNudges {
				unstall = watchStall(ctx, it, min(max(replayStall, 2*it.took), replayStallMax), &waiting, &stalled)
			}
		}
		var delivered uint64 // consumer sequence of the last message
		for it != nil {
			if unstall != nil {
				waiting.Store(time.Now().UnixNano())
			}
			m, err := it.Next(jetstream.NextContext(ctx))
			waiting.Store(0)
			if err != nil {
				it.Stop()
				it = nil
				switch {
				case stalled.Load() && ctx.Err() == nil:
					nudges++
					wait = 0
					f.log.Debug("fabric consumer delivered nothing although the stream holds more; opening it anew", "next_seq", next, "stream_last", ext.last, "nudges", nudges)
				case ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed):
					f.log.Warn("fabric consumer failed; reopening", "next_seq", next, "err", err)
				}
				break
			}
			md, err := m.Metadata()
			if err != nil {
				f.log.Warn("fabric message without metadata skipped", "subject", m.Subject(), "err", err)
				continue
			}
			if md.Sequence.Consumer != delivered+1 {
				// A delivery was lost (nothing acknowledges them): start
				// again after the last one handed on.
				f.log.Debug("fabric consumer missed deliveries; reopening", "next_seq", next, "consumer_seq", md.Sequence.Consumer, "want", delivered+1)
				it.Stop()
				it = nil
				wait = 0
				break
			}
			delivered = md.Sequence.Consumer
			if md.Sequence.Stream < next {
				continue // never repeat a sequence
			}
			if !send(Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Data: m.Data(), Time: md.Timestamp}) {
				it.Stop()
				return
			}
			next = md.Sequence.Stream + 1
			wait = firstRetryWait
			nudges = 0
			if unstall != nil && next > ext.last {
				unstall() // caught up with what the stream held: no more stalls to watch for
				unstall = nil
			}
		}
		if unstop != nil {
			unstop()
			unwatch()
		}
		if unstall != nil {
			unstall()
		}
		relinked, ok := f.pause(ctx, wait)
		if !ok {
			return
		}
		wait = min(max(2*wait, firstRetryWait), maxRetryWait)
		if relinked {
			wait = firstRetryWait // the other servers may need a moment: retry closely
		}
		// An API request sent into a partition is lost and would be
		// waited out (apiTimeout); the link's return ends the wait.
		actx, unlink := f.linkUp(ctx)
		var err error
		if it, err = f.openStream(actx, name, next); err != nil && ctx.Err() == nil {
			if actx.Err() != nil {
				wait = 0
			}
			f.log.Warn("fabric consumer reopen failed", "next_seq", next, "err", err)
		}
		unlink()
		if it != nil && ext.last == 0 {
			// The first open failed (the stream had no leader yet), or
			// the stream was empty: ask now how far it reaches, so that a
			// consumer lacking messages can be told.
			ectx, cancel := context.WithTimeout(ctx, extentAsk)
			if e, err := f.extent(ectx); err == nil {
				ext = e
			}
			cancel()
		}
	}
}

// watchStall stops it, and sets stalled, once readStream's Next has waited
// for limit (waiting: since when, set by readStream) for a message the
// stream holds: see replayStall. The returned function stops watching.
func watchStall(ctx context.Context, it *iterator, limit time.Duration, waiting *atomic.Int64, stalled *atomic.Bool) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(limit / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if w := waiting.Load(); w != 0 && time.Since(time.Unix(0, w)) >= limit {
				stalled.Store(true)
				it.Stop()
				return
			}
		}
	}()
	return cancel
}

// linkPoll is how often a broken consumer looks for a link to another
// server coming back (see linkUp).
const linkPoll = 50 * time.Millisecond

// links is how many links this member's server has to other servers:
// cluster routes and leaf connections.
func (f *Fabric) links() int {
	srv := f.server()
	if srv == nil {
		return 0
	}
	return srv.NumRoutes() + srv.NumLeafNodes()
}

// linkUp returns a context that ends with ctx, or when this member's
// server gains a link to another server (a cluster route or a leaf
// connection, dialed again after a partition or a restart), and a
// function that stops watching. It polls every linkPoll until then.
func (f *Fabric) linkUp(ctx context.Context) (context.Context, context.CancelFunc) {
	lctx, cancel := context.WithCancel(ctx)
	n := f.links()
	go func() {
		t := time.NewTicker(linkPoll)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				now := f.links()
				if now > n {
					cancel()
					return
				}
				n = now // a link lost, then found again, counts
			}
		}
	}()
	return lctx, cancel
}

// WaitLinkUp returns nil once this member's server gains a link to another
// server (a cluster route or a leaf connection: a partition healed, a
// member came back), or ctx.Err() or ErrClosed when ctx ends or the
// Fabric closes first. What the other members sent meanwhile may be
// missing (fast-path messages are not kept); a caller can ask for it at
// once instead of at its next periodic check.
func (f *Fabric) WaitLinkUp(ctx context.Context) error {
	lctx, unlink := f.linkUp(ctx)
	defer unlink()
	select {
	case <-lctx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	case <-f.life.Done():
		return ErrClosed
	}
}

// pause waits for d, less when a link to another server comes up
// meanwhile (relinked). It returns ok false when ctx ended.
func (f *Fabric) pause(ctx context.Context, d time.Duration) (relinked, ok bool) {
	lctx, unlink := f.linkUp(ctx)
	defer unlink()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false, true
	case <-lctx.Done():
		return ctx.Err() == nil, ctx.Err() == nil
	}
}
