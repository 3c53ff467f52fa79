package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"phalanx/lograte"
)

// serverLogger adapts nats-server's logger to slog. Notices (the start-up
// banner and such) go to debug level; warnings and errors keep theirs.
// nats-server's "fatal" messages are logged as errors — the process must not
// exit — and the first one is kept so Start can say why it failed.
//
// Warnings and errors are rate-limited per message format (what differs is
// the client's address): whoever reaches a fabric port can make the server
// log a line per failed connection, hundreds a second. At most logBurst
// lines of one format are logged per logWindow; the rest are counted, and
// the next line logged says how many were not (package lograte).
type serverLogger struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	firstFail string
	limits    map[string]*lograte.Limit
}

// Bounds of the rate limit.
const (
	logWindow  = 10 * time.Second
	logBurst   = 5
	logFormats = 1024 // formats followed at once; nats-server has a few hundred
)

func newServerLogger(l *slog.Logger) *serverLogger {
	return &serverLogger{log: l, now: time.Now, limits: map[string]*lograte.Limit{}}
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	held := 0
	if level >= slog.LevelWarn {
		var ok bool
		if ok, held = l.limit(format).Allow(l.now()); !ok {
			return
		}
	}
	if held > 0 {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server", "similar_lines_not_logged", held)
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
}

// limit returns the rate limit of a message format. nats-server writes
// a connection's address and id into the format itself ("10.0.0.7:41872 -
// rid:1077 - TLS route handshake error: %v"), so numbers do not count:
// every failed connection of one kind shares a limit.
func (l *serverLogger) limit(format string) *lograte.Limit {
	format = withoutNumbers(format)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.limits[format]
	if b == nil {
		if len(l.limits) >= logFormats {
			clear(l.limits)
		}
		b = &lograte.Limit{Interval: logWindow, Burst: logBurst}
		l.limits[format] = b
	}
	return b
}

func (l *serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any) {
	if strings.Contains(format, "will not be verified") || strings.Contains(format, "TLS Handshake First") {
		// nats-server's warnings about InsecureSkipVerify on routes and
		// leaf links (the fabric checks the peer's key itself, tls.go)
		// and about clients that do not start with TLS (by design).
		l.emit(slog.LevelDebug, format, v)
		return
	}
	l.emit(slog.LevelWarn, format, v)
}
func (l *serverLogger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }
func (l *serverLogger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(string, ...any)          {}

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

// withoutNumbers replaces each run of digits in s with one '#'.
func withoutNumbers(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		isDigit := r >= '0' && r <= '9'
		if !isDigit {
			b.WriteRune(r)
		} else if !digits {
			b.WriteByte('#')
		}
		digits = isDigit
	}
	return b.String()
}
