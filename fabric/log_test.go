package fabric

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestServerLoggerRateLimit: a flood of one warning (a failed connection
// per line) logs logBurst lines per window and then the count of the
// rest; other formats are not held back by it.
func TestServerLoggerRateLimit(t *testing.T) {
	var buf bytes.Buffer
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)), &noiseCounts{})
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.Errorf("%s - authentication error", "10.0.0."+string(rune('0'+i%10)))
	}
	l.Warnf("other %d", 1)
	if n := strings.Count(buf.String(), "authentication error"); n != logBurst {
		t.Errorf("%d lines of the flood logged in one window; want %d", n, logBurst)
	}
	if !strings.Contains(buf.String(), "other 1") {
		t.Errorf("another format was held back")
	}
	now = now.Add(logWindow)
	l.Errorf("%s - authentication error", "10.0.0.1")
	if !strings.Contains(buf.String(), "similar_lines_not_logged=995") {
		t.Errorf("the suppressed lines are not counted:\n%s", buf.String())
	}

	// nats-server writes a connection's address and id into the format.
	buf.Reset()
	for i := range 100 {
		l.Errorf(fmt.Sprintf("127.0.0.1:%d - rid:%d - TLS route handshake error: %%v", 40000+i, i), "remote error: tls: bad certificate")
	}
	if n := strings.Count(buf.String(), "handshake error"); n != logBurst {
		t.Errorf("%d lines of a flood of failed routes logged in one window; want %d", n, logBurst)
	}
}

// TestServerLoggerKinds: slow consumers (a notice for nats-server) are
// warnings, counted and limited like failed connections; formats beyond
// logFormats share one limit instead of making room for more lines.
func TestServerLoggerKinds(t *testing.T) {
	var buf bytes.Buffer
	var counts noiseCounts
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)), &counts)
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for i := range 100 {
		l.Noticef(fmt.Sprintf("10.0.0.%d:%d - cid:%d - Slow Consumer %%s: WriteDeadline of %%v exceeded", i, 40000+i, i), "Detected", time.Second)
		l.Noticef("10.0.0.1:1 - cid:1 - Slow Consumer %s: flushed", "Recovered")
	}
	if got := counts.slow.Load(); got != 100 {
		t.Errorf("slow consumers counted: %d, want 100", got)
	}
	if n := strings.Count(buf.String(), "Slow Consumer Detected"); n != logBurst {
		t.Errorf("%d slow consumer lines logged in one window, want %d", n, logBurst)
	}
	if strings.Contains(buf.String(), "Recovered") {
		t.Error("a notice was logged above debug level")
	}

	buf.Reset()
	for range logBurst {
		l.Errorf("client a said something")
	}
	for i := range logFormats + 500 {
		l.Errorf(fmt.Sprintf("client %s said something", letters(i)))
	}
	if n := strings.Count(buf.String(), "said something"); n > logBurst*logFormats+logBurst {
		t.Errorf("%d lines of %d distinct formats logged in one window; want at most %d", n, logFormats+500, logBurst*logFormats+logBurst)
	}
	// The formats followed from the start keep their limits.
	l.Errorf("client a said something")
	if n := strings.Count(buf.String(), "client a said something"); n != logBurst {
		t.Errorf("%d lines of format a after the overflow, want %d (its limit must not be reset)", n, logBurst)
	}
}
