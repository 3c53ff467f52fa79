package syslog

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per sender, in a bounded table: when it is full,
// senders whose bucket has refilled (idle ones) are forgotten first.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	senders map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64, max int) *limiter {
	return &limiter{rate: rate, burst: burst, max: max, senders: map[netip.Addr]*bucket{}}
}

// allow takes one token from addr's bucket.
func (l *limiter) allow(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.senders[addr]
	if b == nil {
		if len(l.senders) >= l.max {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.senders[addr] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets senders whose buckets are full again, or, when none is,
// half of the table (a flood of senders costs them their history, never
// memory).
func (l *limiter) prune(now time.Time) {
	for a, b := range l.senders {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.senders, a)
		}
	}
	for a := range l.senders {
		if len(l.senders) < l.max/2+1 {
			break
		}
		delete(l.senders, a)
	}
}
