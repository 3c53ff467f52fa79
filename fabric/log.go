package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// serverLogger adapts nats-server's logger to slog. Notices (the start-up
// banner and such) go to debug level; warnings and errors keep theirs.
// nats-server's "fatal" messages are logged as errors — the process must not
// exit — and the first one is kept so Start can say why it failed.
type serverLogger struct {
	log *slog.Logger

	mu        sync.Mutex
	firstFail string
}

func newServerLogger(l *slog.Logger) *serverLogger { return &serverLogger{log: l} }

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
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
