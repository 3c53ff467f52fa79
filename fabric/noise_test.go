package fabric

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// lineCounter is a slog handler that counts the records whose message
// holds a substring, and the records that say how many were not logged.
type lineCounter struct {
	mu    *sync.Mutex
	lines *[]string
}

func newLineCounter() lineCounter { return lineCounter{mu: new(sync.Mutex), lines: new([]string)} }

func (l lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l lineCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l lineCounter) WithGroup(string) slog.Handler            { return l }
func (l lineCounter) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	*l.lines = append(*l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l lineCounter) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range *l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// letters spells i in letters only, so that names made from different
// numbers stay different once digits are ignored.
func letters(i int) string {
	s := ""
	for {
		s += string(rune('a' + i%26))
		if i /= 26; i == 0 {
			return s
		}
	}
}

// burst runs n calls of fn on a few goroutines.
func burst(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestFailedConnectsCounted: a burst of 500 failed CONNECTs (unknown
// keys, under client names that all differ, so that no message format
// repeats) makes a bounded number of log lines and a count of 500; a burst
// of connections that do not speak TLS is counted the same way.
func TestFailedConnectsCounted(t *testing.T) {
	const n = 500
	a, b := newTestKey(t, 1), newTestKey(t, 2)
	lines := newLineCounter()
	f := start(t, Options{
		DataDir: t.TempDir(),
		Listen:  "127.0.0.1:0",
		Seed:    a.seed,
		Members: []Member{{ID: "A", PublicKey: a.pub}, {ID: "B", PublicKey: b.pub}},
		Logger:  slog.New(lines),
	})
	stranger := newTestKey(t, 3)
	pub, err := stranger.kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	connected := 0
	var mu sync.Mutex
	burst(n, func(i int) {
		nc, err := nats.Connect(f.ClientURL(), nats.Nkey(pub, stranger.kp.Sign), testTLS(),
			nats.Name("attacker-"+letters(i)), nats.MaxReconnects(0), nats.Timeout(10*time.Second))
		if err == nil {
			nc.Close()
			mu.Lock()
			connected++
			mu.Unlock()
		}
	})
	if connected > 0 {
		t.Fatalf("%d connections with an unknown key were accepted", connected)
	}
	waitFor(t, fmt.Sprintf("%d authentication failures counted", n), 20*time.Second, func() bool {
		return f.Noise().AuthFailures >= n
	})
	took := time.Since(began)
	logged := lines.count("authentication error")
	windows := int(took/logWindow) + 1
	t.Logf("%d failed CONNECTs in %v: %d lines logged, noise %+v", n, took.Round(time.Millisecond), logged, f.Noise())
	if got := f.Noise().AuthFailures; got != n {
		t.Errorf("authentication failures counted: %d, want %d", got, n)
	}
	if logged == 0 || logged > logBurst*windows {
		t.Errorf("%d lines logged for %d failed CONNECTs over %d windows of %v; want 1 to %d", logged, n, windows, logWindow, logBurst*windows)
	}
	if got := f.Noise().LinesNotLogged; got < uint64(n-logged) {
		t.Errorf("lines not logged counted: %d, want at least %d", got, n-logged)
	}

	// TLS handshakes that fail (a client that offers only TLS 1.2; one
	// that does not speak TLS at all is a probe nats-server logs at debug
	// level only, and is not counted).
	const failed = 50
	before := f.Noise().TLSFailures
	addr := strings.TrimPrefix(f.ClientURL(), "nats://")
	burst(failed, func(int) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
			t.Error("a TLS 1.2 handshake succeeded")
		}
	})
	waitFor(t, fmt.Sprintf("%d TLS failures counted", failed), 20*time.Second, func() bool {
		return f.Noise().TLSFailures-before >= failed
	})
	if got := f.Noise().TLSFailures - before; got != failed {
		t.Errorf("TLS failures counted: %d, want %d", got, failed)
	}
	if logged := lines.count("handshake error"); logged == 0 || logged > logBurst*windows+logBurst {
		t.Errorf("%d lines logged for %d failed TLS handshakes", logged, failed)
	}
	t.Logf("%d failed TLS handshakes: %d lines logged", failed, lines.count("handshake error"))

	// A member still connects.
	var errs asyncErrs
	connectAs(t, f.ClientURL(), "B", b, &errs)
}

// TestBadJoinRequestsCounted: a guest's flood of join requests that
// ServeJoin drops makes a bounded number of warnings and is counted.
func TestBadJoinRequestsCounted(t *testing.T) {
	const n = 300
	js := startJoinServer(t)
	seed, pub, id := inviteKey(t, 7)
	js.invites.add(pub)
	guest := testKeyFromSeed(t, seed)
	nc, err := dialAs(js.f.ClientURL(), guest, nats.CustomInboxPrefix(guestInbox(id)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Once ServeJoin answers, it reads every request.
	waitFor(t, "ServeJoin", 15*time.Second, func() bool {
		_, err := nc.Request(JoinPrefix+id, []byte("hi"), 2*time.Second)
		return err == nil
	})
	began := time.Now()
	// In batches ServeJoin's queue (servePending) holds: beyond it NATS
	// drops requests before ServeJoin sees them.
	const batch = servePending / 2
	for i := range n {
		// The reply subject is not the guest's inbox: dropped.
		if err := nc.PublishRequest(JoinPrefix+id, fmt.Sprintf("_INBOX.elsewhere.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if (i+1)%batch == 0 || i == n-1 {
			waitFor(t, fmt.Sprintf("%d dropped join requests counted", i+1), 20*time.Second, func() bool {
				return js.f.Noise().JoinRequestsDropped >= uint64(i+1)
			})
		}
	}
	if got := js.f.Noise().JoinRequestsDropped; got != n {
		t.Errorf("dropped join requests counted: %d, want %d", got, n)
	}
	windows := int(time.Since(began)/logWindow) + 1
	t.Logf("%d bad join requests: noise %+v", n, js.f.Noise())
	// Each drop is logged or counted as not logged.
	if got, want := js.f.Noise().LinesNotLogged, uint64(n-logBurst*windows); got < want {
		t.Errorf("%d warnings not logged of %d dropped requests over %d windows of %v; want at least %d", got, n, windows, logWindow, want)
	}
}
