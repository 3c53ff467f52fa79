package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phalanx/lograte"
)

// serverLogger adapts nats-server's logger to slog. Notices (the start-up
// banner and such) go to debug level, except slow consumers, which are
// warnings; warnings and errors keep theirs. nats-server's "fatal" messages
// are logged as errors — the process must not exit — and the first one is
// kept so Start can say why it failed.
//
// Warnings and errors are counted and rate-limited: whoever reaches a
// fabric port can make the server log a line per failed connection,
// hundreds a second. Lines of one kind (failed authentications, failed TLS
// handshakes, slow consumers, permission violations; any other line: its
// message format) share a limit of logBurst lines per logWindow; the rest
// are counted, and the next line logged says how many were not (package
// lograte). The counts (Fabric.Noise) outlive a restart of the server.
type serverLogger struct {
	log    *slog.Logger
	now    func() time.Time
	counts *noiseCounts

	mu        sync.Mutex
	firstFail string
	limits    map[string]*lograte.Limit
	overflow  lograte.Limit // formats beyond logFormats share it
}

// Bounds of the rate limit.
const (
	logWindow  = 10 * time.Second
	logBurst   = 5
	logFormats = 1024 // formats followed at once; nats-server has a few hundred
)

// Kinds of server log lines that are counted (see kindOf).
const (
	kindAuth       = "auth_failure"
	kindTLS        = "tls_handshake_failure"
	kindSlow       = "slow_consumer"
	kindPermission = "permission_violation"
)

// noiseCounts are the Fabric's counts of what its server logged.
type noiseCounts struct {
	auth, tls, slow, permission, joinDropped, notLogged atomic.Uint64
}

func (n *noiseCounts) count(kind string) {
	switch kind {
	case kindAuth:
		n.auth.Add(1)
	case kindTLS:
		n.tls.Add(1)
	case kindSlow:
		n.slow.Add(1)
	case kindPermission:
		n.permission.Add(1)
	}
}

// Noise counts what strangers, guests and slow peers made this member's
// fabric log since Start, whether or not the line was logged (see
// Fabric.Noise).
type Noise struct {
	// AuthFailures counts failed CONNECTs: clients, leaf nodes and routes
	// the server refused (unknown keys, bad signatures, removed members).
	AuthFailures uint64
	// TLSFailures counts the failed or timed-out TLS handshakes that
	// nats-server reports as errors, on any link (a client that does not
	// speak TLS at all is a probe, which it logs at debug level only, and
	// is not counted).
	TLSFailures uint64
	// SlowConsumers counts connections the server found too slow to
	// take what it had to send them.
	SlowConsumers uint64
	// PermissionViolations counts publications and subscriptions the
	// server refused (a member or guest beyond its permissions).
	PermissionViolations uint64
	// JoinRequestsDropped counts join requests ServeJoin dropped
	// (malformed, oversized, or answered elsewhere than the guest's inbox).
	JoinRequestsDropped uint64
	// LinesNotLogged counts warnings and errors the rate limit held back.
	LinesNotLogged uint64
}

// Noise returns the Fabric's counts of failed connections, slow consumers
// and the like, for the daemon's metrics. It reads only counters.
func (f *Fabric) Noise() Noise {
	n := &f.noise
	return Noise{
		AuthFailures:         n.auth.Load(),
		TLSFailures:          n.tls.Load(),
		SlowConsumers:        n.slow.Load(),
		PermissionViolations: n.permission.Load(),
		JoinRequestsDropped:  n.joinDropped.Load(),
		LinesNotLogged:       n.notLogged.Load(),
	}
}

func newServerLogger(l *slog.Logger, counts *noiseCounts) *serverLogger {
	return &serverLogger{
		log: l, now: time.Now, counts: counts,
		limits:   map[string]*lograte.Limit{},
		overflow: lograte.Limit{Interval: logWindow, Burst: logBurst},
	}
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if level < slog.LevelWarn {
		if l.log.Enabled(ctx, level) {
			l.log.Log(ctx, level, fmt.Sprintf(format, v...), "component", "nats-server")
		}
		return
	}
	msg := fmt.Sprintf(format, v...)
	kind := kindOf(msg)
	l.counts.count(kind)
	ok, held := l.limit(kind, format).Allow(l.now())
	if !ok {
		l.counts.notLogged.Add(1)
		return
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]any, 0, 6)
	attrs = append(attrs, "component", "nats-server")
	if kind != "" {
		attrs = append(attrs, "kind", kind)
	}
	if held > 0 {
		attrs = append(attrs, "similar_lines_not_logged", held)
	}
	l.log.Log(ctx, level, msg, attrs...)
}

// kindOf returns the counted kind of a server log line, or "".
func kindOf(msg string) string {
	switch {
	case strings.Contains(msg, "authentication error"):
		return kindAuth
	case strings.Contains(msg, "TLS") && (strings.Contains(msg, "handshake error") || strings.Contains(msg, "handshake timeout")):
		return kindTLS
	case strings.Contains(msg, "Slow Consumer Detected"):
		return kindSlow
	case strings.Contains(msg, "Publish Violation") || strings.Contains(msg, "Subscription Violation"):
		return kindPermission
	}
	return ""
}

// limit returns the rate limit of a kind of line, or else of a message
// format. nats-server writes a connection's address, id and client name
// (the client chooses it) into the format itself ("10.0.0.7:41872 -
// cid:1077 - "v1.2:go:x" - authentication error"), so the kinds above
// share one limit whatever the format, numbers do not count, and formats
// beyond logFormats share one limit rather than making room.
func (l *serverLogger) limit(kind, format string) *lograte.Limit {
	key := kind
	if key == "" {
		key = withoutNumbers(format)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.limits[key]
	if b == nil {
		if len(l.limits) >= logFormats {
			return &l.overflow
		}
		b = &lograte.Limit{Interval: logWindow, Burst: logBurst}
		l.limits[key] = b
	}
	return b
}

func (l *serverLogger) Noticef(format string, v ...any) {
	if strings.Contains(format, "Slow Consumer") && !strings.Contains(format, "Recovered") {
		// "Slow Consumer %s: ..." is logged once Detected, once Recovered.
		if msg := fmt.Sprintf(format, v...); strings.Contains(msg, "Slow Consumer Detected") {
			l.emit(slog.LevelWarn, "%s", []any{msg})
			return
		}
	}
	l.emit(slog.LevelDebug, format, v)
}

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

// warnLimit logs warnings of one kind through a rate limit, with the
// count of those held back, and counts them all in counter.
type warnLimit struct {
	log     *slog.Logger
	limit   lograte.Limit
	counter *atomic.Uint64
	hidden  *atomic.Uint64 // lines not logged
}

func newWarnLimit(l *slog.Logger, counter, hidden *atomic.Uint64) *warnLimit {
	return &warnLimit{log: l, limit: lograte.Limit{Interval: logWindow, Burst: logBurst}, counter: counter, hidden: hidden}
}

func (w *warnLimit) warn(msg string, args ...any) {
	w.counter.Add(1)
	ok, held := w.limit.Allow(time.Now())
	if !ok {
		w.hidden.Add(1)
		return
	}
	if held > 0 {
		args = append(args, "similar_lines_not_logged", held)
	}
	w.log.Warn(msg, args...)
}
