package fabric

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// silentIterator is a consumer's iterator that delivers nothing until it
// is stopped: a consumer placed on a copy of the stream that is still
// catching up (nats-server wakes no waiting pull when the copy catches
// up), or on a server with no route to this one yet.
type silentIterator struct {
	once    sync.Once
	stopped chan struct{}
}

var _ jetstream.MessagesContext = (*silentIterator)(nil)

func newSilentIterator() *silentIterator { return &silentIterator{stopped: make(chan struct{})} }

func (s *silentIterator) Next(...jetstream.NextOpt) (jetstream.Msg, error) {
	<-s.stopped
	return nil, jetstream.ErrMsgIteratorClosed
}

func (s *silentIterator) Stop()  { s.once.Do(func() { close(s.stopped) }) }
func (s *silentIterator) Drain() { s.Stop() }

// TestReplayOpensSilentConsumerAnew: readStream, handed a consumer that
// delivers nothing although the stream holds messages from where it
// reads, opens a consumer anew instead of waiting for the pull to expire
// (a restarted member whose copy of the stream was damaged waited 5 s
// for its pull to expire before it served). The silent consumer either
// counts fewer pending messages than the stream holds (placed on a copy
// catching up: opened anew at once) or counts them all and still
// delivers nothing (no route to it yet: opened anew once Next waited
// replayStall). A silent consumer is never resumed on its own here, so
// readStream that waits for it delivers nothing at all.
func TestReplayOpensSilentConsumerAnew(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	publishN(t, f, "alpha", 1, 20)
	ext, err := f.extent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ext.holdsFrom(1) != 20 {
		t.Fatalf("the stream holds %d messages from 1, want 20", ext.holdsFrom(1))
	}
	for _, tc := range []struct {
		name    string
		pending uint64
	}{
		{"placed on a copy that lacks the messages", 0},
		{"counts every message and delivers none", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slot, ok := f.consumers.take()
			if !ok {
				t.Fatal("no consumer slot free")
			}
			defer f.consumers.give(slot)
			silent := newSilentIterator()
			ctx, cancel := context.WithCancel(context.Background())
			var (
				mu   sync.Mutex
				got  []Msg
				done = make(chan struct{})
			)
			began := time.Now()
			go func() {
				defer close(done)
				f.readStream(ctx, &iterator{MessagesContext: silent, pending: tc.pending}, consumerName(f.requester(), slot), 1, ext,
					func(m Msg) bool {
						mu.Lock()
						defer mu.Unlock()
						got = append(got, m)
						return ctx.Err() == nil
					})
			}()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("readStream did not return 10 s after its context ended")
				}
			}()
			// pullExpiry is 5 s; a silent consumer here never resumes:
			// the bound only says that readStream stopped trying.
			waitFor(t, "every stream message through a consumer opened anew", 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= 20
			})
			t.Logf("every message %v after readStream began", time.Since(began).Round(time.Millisecond))
			select {
			case <-silent.stopped:
			default:
				t.Fatal("the silent consumer was not stopped")
			}
			mu.Lock()
			defer mu.Unlock()
			checkSeqs(t, got[:20], 1, body)
		})
	}
}

// TestExtentHoldsFrom: the fewest messages a stream holds from a
// sequence on, as its leader describes it.
func TestExtentHoldsFrom(t *testing.T) {
	for _, tc := range []struct {
		e    extent
		from uint64
		want uint64
	}{
		{extent{}, 1, 0},                                // empty
		{extent{first: 1, last: 20}, 0, 20},             // 0 means the first
		{extent{first: 1, last: 20}, 1, 20},             // all
		{extent{first: 1, last: 20}, 15, 6},             // the tail
		{extent{first: 1, last: 20}, 20, 1},             // the last
		{extent{first: 1, last: 20}, 21, 0},             // past the end
		{extent{first: 11, last: 20}, 1, 10},            // the head aged out
		{extent{first: 1, last: 20, deleted: 5}, 1, 15}, // deleted inside
		{extent{first: 1, last: 20, deleted: 5}, 18, 0}, // the deleted may be those
		{extent{first: 1, last: 20, deleted: 50}, 1, 0}, // more deleted than held: nothing certain
	} {
		if got := tc.e.holdsFrom(tc.from); got != tc.want {
			t.Errorf("%+v.holdsFrom(%d) = %d, want %d", tc.e, tc.from, got, tc.want)
		}
	}
}
