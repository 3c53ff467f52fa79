// Package lograte keeps a daemon's log readable under attack: a Limit lets
// through a few messages of one kind per interval and counts the ones it
// holds back, so the next message logged can say how many were not. It must
// not log itself, keep package-level state or read the clock: the caller
// passes the time.
package lograte

import (
	"sync"
	"time"
)

// Limit lets through at most Burst messages per Interval. The zero value
// with Interval and Burst set is ready; it is safe for concurrent use.
type Limit struct {
	Interval time.Duration
	Burst    int

	mu    sync.Mutex
	start time.Time
	n     int
	held  int
}

// Allow reports whether to log at now, and how many messages were held back
// since the last one let through.
func (l *Limit) Allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= l.Interval {
		l.start, l.n = now, 0
	}
	if l.n >= l.Burst {
		l.held++
		return false, 0
	}
	l.n++
	held := l.held
	l.held = 0
	return true, held
}
