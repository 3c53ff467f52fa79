package fabric

import (
	"context"
	"errors"
	"fmt"
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
	// consumerIdle lets the server drop an ordered consumer whose client
	// vanished.
	consumerIdle = time.Minute
	// fastPending bounds the fast-path messages waiting for the callback;
	// beyond it NATS drops them (the stream still delivers them).
	fastPendingMsgs  = 4096
	fastPendingBytes = 16 << 20
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
// deleted consumers are recovered from without gaps or repeats.
func (f *Fabric) Consume(ctx context.Context, from uint64, fn func(Msg)) error {
	if f.closed() {
		return ErrClosed
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.life, cancel)() // Close ends Consume

	// A damaged store can come back with fewer messages than a consumer
	// has seen (nats-server drops what it cannot read), and the stream
	// then hands out sequences again. Resuming after a saved cursor
	// would skip the new messages; deliver from the stream's end instead.
	if last, err := f.LastSeq(); err == nil && from > last+1 {
		f.log.Warn("fabric stream ends before the requested sequence (was the store damaged or reset?): delivering from its end",
			"from", from, "last_seq", last)
		from = last + 1
	}
	ch := make(chan Msg, 64)
	send := func(m Msg) bool {
		select {
		case ch <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}

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

	it, err := f.openStream(ctx, from)
	if err != nil {
		if !f.clustered && !f.leaf || errors.Is(err, ErrStoreDisabled) {
			return f.consumeErr(parent, err)
		}
		// A cluster may still be electing leaders or creating the
		// stream: keep trying in readStream.
		f.log.Debug("fabric consumer waits for the stream", "from", from, "err", err)
	}
	// readStream is not waited for: nats.go may be recreating the
	// consumer (each attempt a request of up to 10 s that no context
	// reaches, under a lock that Stop waits for too), and Consume's
	// caller, stopping, must not wait behind it. It returns by itself once
	// that request ends (at once when Close closes the connection): send
	// refuses everything after ctx ends.
	go f.readStream(ctx, it, from, send)

	for {
		select {
		case m := <-ch:
			fn(m)
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

// resetAttempts bounds nats.go's own attempts to recreate a consumer.
const resetAttempts = 2

// openStream starts an ordered consumer at stream sequence from.
func (f *Fabric) openStream(ctx context.Context, from uint64) (jetstream.MessagesContext, error) {
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: consumerIdle,
		// nats.go recreates an ordered consumer that missed heartbeats
		// without looking at any context, for ever by default: a member
		// whose stream lost its quorum then never stopped consuming. A
		// few attempts, then readStream reopens it, watching ctx.
		MaxResetAttempts: resetAttempts,
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
	cons, err := f.js.OrderedConsumer(actx, StreamName, cfg)
	if err != nil {
		if f.storeDisabled() {
			err = ErrStoreDisabled
		}
		return nil, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, err)
	}
	it, err := cons.Messages(
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return nil, fmt.Errorf("consume stream %s from %d: %w", StreamName, from, err)
	}
	return it, nil
}

// readStream hands stream messages to send until ctx ends. The ordered
// consumer recovers from missed heartbeats and sequence gaps by itself; if
// its iterator fails anyway, readStream opens a new one after the last
// delivered sequence.
func (f *Fabric) readStream(ctx context.Context, it jetstream.MessagesContext, from uint64, send func(Msg) bool) {
	next := max(from, 1)
	wait := firstRetryWait
	for {
		// Next does not look at ctx while nats.go recreates the consumer
		// (each attempt waits up to 10 s for a stream that a member cut
		// off from the others cannot reach): stopping the iterator ends
		// that at the next attempt.
		var unstop func() bool
		if it != nil {
			unstop = context.AfterFunc(ctx, it.Stop)
		}
		for it != nil {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				it.Stop()
				it = nil
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					f.log.Warn("fabric consumer failed; reopening", "next_seq", next, "err", err)
				}
				break
			}
			md, err := m.Metadata()
			if err != nil {
				f.log.Warn("fabric message without metadata skipped", "subject", m.Subject(), "err", err)
				continue
			}
			if md.Sequence.Stream < next {
				continue // never repeat a sequence
			}
			if !send(Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Data: m.Data(), Time: md.Timestamp}) {
				it.Stop()
				return
			}
			next = md.Sequence.Stream + 1
			wait = firstRetryWait
		}
		if unstop != nil {
			unstop()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
		var err error
		if it, err = f.openStream(ctx, next); err != nil && ctx.Err() == nil {
			f.log.Warn("fabric consumer reopen failed", "next_seq", next, "err", err)
		}
	}
}
