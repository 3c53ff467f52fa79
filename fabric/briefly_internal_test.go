package fabric

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBrieflyAsksAgain: briefly asks again, each time with twice the
// deadline, while an ask fails only by its own deadline; it stops at
// once on any other error, and when its context ends.
func TestBrieflyAsksAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var deadlines []time.Duration
	lost := 2 // the first two asks are never answered
	err := briefly(ctx, func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, time.Until(d).Round(100*time.Millisecond))
		if lost > 0 {
			lost--
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	if err != nil || len(deadlines) != 3 {
		t.Fatalf("err %v after %d asks, want success at the third", err, len(deadlines))
	}
	if deadlines[0] > readyFirstAttempt || deadlines[1] <= deadlines[0] || deadlines[2] <= deadlines[1] {
		t.Errorf("deadlines %v: want %v first, then each longer", deadlines, readyFirstAttempt)
	}

	refused := errors.New("refused")
	asks := 0
	if err := briefly(ctx, func(context.Context) error { asks++; return refused }); !errors.Is(err, refused) || asks != 1 {
		t.Errorf("a refusal: err %v after %d asks, want it at once", err, asks)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancelShort()
	asks = 0
	err = briefly(short, func(ctx context.Context) error { asks++; <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) || asks != 2 {
		t.Errorf("a context that ends: err %v after %d asks, want its deadline after 2", err, asks)
	}
}
