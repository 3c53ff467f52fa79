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
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)))
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
