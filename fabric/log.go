package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// serverLogger adapts nats-server's logger to slog. Notices (the start-up
// banner and such) go to debug level; warnings and errors keep theirs.
// nats-server's "fatal" messages are logged as errors — the process must not
// exit — and the first one is kept so Start can say why it failed.
//
// Warnings and errors are rate-limited per message format (what differs is
// the client's address): whoever reaches a fabric port can make the server
// log a line per failed connection, hundreds a second. At most logBurst
// lines of one format are logged per logWindow; the rest are counted and
// the count logged when the next window opens.
type serverLogger struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	firstFail string
	limits    map[string]*logLimit
}

// Bounds of the rate limit.
const (
	logWindow  = 10 * time.Second
	logBurst   = 5
	logFormats = 1024 // formats followed at once; nats-server has a few hundred
)

type logLimit struct {
	start      time.Time
	n          int
	suppressed int
}

func newServerLogger(l *slog.Logger) *serverLogger {
	return &serverLogger{log: l, now: time.Now, limits: map[string]*logLimit{}}
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	if level >= slog.LevelWarn {
		ok, suppressed := l.allow(format)
		if suppressed > 0 {
			l.log.Log(context.Background(), level, "nats-server: similar lines suppressed in the last window", "component", "nats-server",
				"suppressed", suppressed, "window", logWindow, "like", format)
		}
		if !ok {
			return
		}
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
}

// allow reports whether a line of format may be logged now, and how many
// of its lines the window that just ended suppressed.
func (l *serverLogger) allow(format string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.limits[format]
	if b == nil {
		if len(l.limits) >= logFormats {
			clear(l.limits)
		}
		b = &logLimit{start: now}
		l.limits[format] = b
	}
	if now.Sub(b.start) >= logWindow {
		suppressed = b.suppressed
		*b = logLimit{start: now}
	}
	if b.n >= logBurst {
		b.suppressed++
		return false, suppressed
	}
	b.n++
	return true, suppressed
}

func (l *serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(string, ...any)           {}

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.firstFail == "" {
		l.firstFail = msg
	}
	l.mu.Unlock()
	l.log.Error(msg, "component", "nats-server")
}

// fatal returns the first fatal message the server logged, or "".
func (l *serverLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstFail
}
