package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"phalanx/config"
)

// TestLoopbackListener: /metrics is open on a listener only this host can
// reach (loopback, a Unix socket), and asks for the token on any other,
// the wildcard addresses included.
func TestLoopbackListener(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		addr net.Addr
		want bool
	}{
		{tcp("127.0.0.1:8080"), true},
		{tcp("127.3.4.5:80"), true},
		{tcp("[::1]:8080"), true},
		{tcp("[::ffff:127.0.0.1]:8080"), true},
		{tcp("0.0.0.0:8080"), false},
		{tcp("[::]:8080"), false},
		{tcp("192.0.2.7:8080"), false},
		{tcp("[2001:db8::1]:443"), false},
		{tcp("[fe80::1]:443"), false},
		{&net.UnixAddr{Name: "/run/phalanx/api.sock", Net: "unix"}, true},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, false},
	}
	for _, tt := range tests {
		if got := loopbackListener(tt.addr); got != tt.want {
			t.Errorf("loopbackListener(%s %s) = %v, want %v", tt.addr.Network(), tt.addr, got, tt.want)
		}
	}
}

// TestMetricsGate: beyond loopback only the metrics token opens /metrics;
// on loopback nothing is asked.
func TestMetricsGate(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	tests := []struct {
		loopback bool
		auth     string
		want     int
	}{
		{true, "", 200},
		{true, "Bearer wrong", 200},
		{false, "", 403},
		{false, "Bearer wrong", 403},
		{false, tok, 403},
		{false, "Bearer " + tok + "x", 403},
		{false, "Bearer " + tok, 200},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		metricsGate(tt.loopback, tok, ok).ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("loopback %v, Authorization %q: %d, want %d", tt.loopback, tt.auth, rec.Code, tt.want)
		}
		if rec.Code == 200 && rec.Body.String() != "metrics" {
			t.Errorf("loopback %v, Authorization %q: body %q", tt.loopback, tt.auth, rec.Body)
		}
		if rec.Code == 403 && !strings.Contains(rec.Body.String(), fileMetrics) {
			t.Errorf("refusal %q does not say where the token is", rec.Body)
		}
	}
}

// TestConnCaps: the listeners share what the descriptor limit leaves once
// the descriptors in use and the reserve (256, or an eighth of the limit)
// are set aside.
func TestConnCaps(t *testing.T) {
	tests := []struct {
		limit, inUse uint64
		listeners    int
		per          int
		reserve      uint64
	}{
		{1024, 50, 1, 1024 - 50 - 256, 256},
		{1024, 50, 2, (1024 - 50 - 256) / 2, 256},
		{524288, 100, 2, (524288 - 100 - 65536) / 2, 65536},
		{256, 10, 1, 0, 256},    // nothing left: newLimitListener's floor
		{300, 100, 2, 0, 256},   // in use past the reserve
		{4096, 0, 0, 3584, 512}, // no listener counted as one
		{^uint64(0), 100, 2, 1 << 30, ^uint64(0) / 8},
	}
	for _, tt := range tests {
		per, reserve := connCaps(tt.limit, tt.inUse, tt.listeners)
		if per != tt.per || reserve != tt.reserve {
			t.Errorf("connCaps(%d, %d, %d) = %d, %d; want %d, %d", tt.limit, tt.inUse, tt.listeners, per, reserve, tt.per, tt.reserve)
		}
		if c := listenerCap(per); c > maxAPIConns || c < 2*loopbackReserve {
			t.Errorf("listenerCap(%d) = %d, outside [%d, %d]", per, c, 2*loopbackReserve, maxAPIConns)
		}
	}
	if got := listenerCap(700); got != 700 {
		t.Errorf("listenerCap(700) = %d", got)
	}
}

// TestReadDescriptors: the soft limit ends at the hard one and the count
// of descriptors in use sees one more when a file is opened.
func TestReadDescriptors(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip(err)
	}
	b := readDescriptors()
	if b.hard != rl.Max || b.limit != rl.Max || b.was != rl.Cur {
		t.Errorf("descriptors %+v; rlimit was %+v", b, rl)
	}
	before := b.inUse
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after := readDescriptors().inUse; before == 0 || after < before+1 {
		t.Errorf("descriptors in use: %d, then %d after opening a file", before, after)
	}
}

// TestListenUnix: the socket is made 0600 in a directory created for it;
// a stale socket is replaced, a live one or another file is refused.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "api.sock")
	ln, err := listenHTTP("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v, %v: want a socket of mode 0600", fi, err)
	}
	if !loopbackListener(ln.Addr()) {
		t.Error("a Unix socket is not counted as loopback")
	}
	if _, err := listenHTTP("unix:" + path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listener on a live socket: %v, want EADDRINUSE", err)
	}
	// A crash leaves the socket file behind: the next start replaces it.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the stale socket is gone already: %v", err)
	}
	ln2, err := listenHTTP("unix:" + path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln2.Close()
	other := filepath.Join(dir, "file")
	os.WriteFile(other, []byte("x"), 0o600)
	if _, err := listenHTTP("unix:" + other); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "x" {
		t.Error("the regular file was replaced")
	}
}

// TestUnixSourceIsLocal: a Unix socket's clients count as loopback for
// the connection bounds, so no per-source cap shuts out the CLI.
func TestUnixSourceIsLocal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	lim := newLimitListener(ln, 200)
	defer lim.Close()
	const n = maxAPIConnsPerIP + 10
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	deadline := time.After(10 * time.Second)
	for i := range n {
		select {
		case c := <-accepted:
			defer c.Close()
		case <-deadline:
			t.Fatalf("%d of %d local connections accepted", i, n)
		}
	}
	if open, refused := lim.counts(); open != n || refused != 0 {
		t.Errorf("open %d, refused %d; want %d and 0", open, refused, n)
	}
}

// TestListenerConfig: the configuration refuses half a TLS pair, TLS on a
// Unix socket or on a listener not configured, a serve address equal to
// the API's, and socket paths that are not absolute.
func TestListenerConfig(t *testing.T) {
	tests := []struct {
		yaml string
		want string // "" for valid
	}{
		{"daemon:\n  api: unix:/run/phalanx/api.sock\n  serve: 0.0.0.0:8081\n  serve_tls: {cert: /c.pem, key: /k.pem}\n", ""},
		{"daemon:\n  api: 127.0.0.1:8080\n  api_tls: {cert: /c.pem, key: /k.pem}\n", ""},
		{"daemon:\n  serve: 127.0.0.1:8080\n", "serve: \"127.0.0.1:8080\" is the api address too"},
		{"daemon:\n  serve: 0.0.0.0\n", "serve: \"0.0.0.0\" is not host:port"},
		{"daemon:\n  api: unix:run/api.sock\n", "absolute path"},
		{"daemon:\n  api: unix:/run/phalanx/\n", "names a directory"},
		{"daemon:\n  serve: 0.0.0.0:8081\n  serve_tls: {cert: /c.pem}\n", "serve_tls: give both cert and key"},
		{"daemon:\n  serve_tls: {cert: /c.pem, key: /k.pem}\n", ""}, // --serve may come as a flag
		{"daemon:\n  api: unix:/run/phalanx/api.sock\n  api_tls: {cert: /c.pem, key: /k.pem}\n", "api_tls: api \"unix:/run/phalanx/api.sock\" is a Unix socket"},
		{"daemon:\n  serve_tls: {cert: /c.pem, key: /k.pem, ca: /ca.pem}\n", "field ca not found"},
	}
	for _, tt := range tests {
		f := config.Default()
		err := config.Decode([]byte(tt.yaml), &f)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.yaml, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v; want an error mentioning %q", tt.yaml, err, tt.want)
		}
	}
}

// shortDeadlines are the route classes with deadlines a test can wait out.
func shortDeadlines(d time.Duration) routeDeadlines {
	return routeDeadlines{faPath: "/v1/forward-auth", admin: d, imports: d, console: d, bouncer: d, feeds: d,
		forwardAuth: d, metrics: d, other: d}
}

// TestRouteDeadlineClasses: every route has a class with a deadline but
// the console's event stream.
func TestRouteDeadlineClasses(t *testing.T) {
	rd := defaultDeadlines("/v1/forward-auth")
	for path, want := range map[string]string{
		"/api/status": "admin", "/api/decisions": "admin", "/api/decisions/import": "import",
		"/ui/": "console", "/ui/attacks": "console", "/ui/events": "stream",
		"/v1/decisions/stream": "bouncer", "/v1/decisions": "bouncer", "/v1/feeds/x": "feeds",
		"/v1/forward-auth": "forward_auth", "/metrics": "metrics", "/": "other", "/nothing": "other",
	} {
		class, limit := rd.classify(httptest.NewRequest("GET", path, nil))
		if class != want {
			t.Errorf("%s: class %q, want %q", path, class, want)
		}
		if (limit == 0) != (want == "stream") {
			t.Errorf("%s: deadline %v: only the event stream may run without one", path, limit)
		}
	}
}

// deadlineServer serves h with the short deadlines and counts the cuts.
func deadlineServer(t *testing.T, h http.Handler, limit time.Duration) (*httptest.Server, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	cuts := map[string]int{}
	srv := httptest.NewServer(withDeadlines(h, shortDeadlines(limit).classify, func(class string) {
		mu.Lock()
		cuts[class]++
		mu.Unlock()
	}, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(cuts)
	}
}

// TestDeadlineCutsBlockedHandler: an admin request whose handler blocks
// (and does not watch its context) is answered 504 at its deadline, with a
// message and a count; what the handler writes later goes nowhere. A
// handler that watches its context stops at the deadline, with one 504.
func TestDeadlineCutsBlockedHandler(t *testing.T) {
	const limit = 200 * time.Millisecond
	release := make(chan struct{})
	late := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/blocked", func(w http.ResponseWriter, r *http.Request) {
		<-release // waits on something that does not come
		_, err := w.Write([]byte("too late"))
		late <- err
	})
	mux.HandleFunc("/api/watching", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		writeErr(w, fmt.Errorf("%w: gave up", errTimeout))
	})
	mux.HandleFunc("/api/quick", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "kept")
		writeJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	srv, cuts := deadlineServer(t, mux, limit)

	began := time.Now()
	resp, err := http.Get(srv.URL + "/api/blocked")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	t.Logf("blocked admin request answered %d after %v: %s", resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "deadline") {
		t.Fatalf("blocked request: %d %q, want 504 naming the deadline", resp.StatusCode, body)
	}
	if took > 10*time.Second {
		t.Fatalf("blocked request answered after %v: not cut", took)
	}
	if got := cuts()["admin"]; got != 1 {
		t.Fatalf("cuts = %v, want admin: 1", cuts())
	}
	close(release)
	select {
	case err := <-late:
		if !errors.Is(err, http.ErrHandlerTimeout) {
			t.Fatalf("the handler's write after the cut = %v, want http.ErrHandlerTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the released handler did not return")
	}

	resp, err = http.Get(srv.URL + "/api/watching")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || strings.Count(string(body), "message") != 1 {
		t.Fatalf("watching request: %d %q, want one 504 answer", resp.StatusCode, body)
	}

	resp, err = http.Get(srv.URL + "/api/quick")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Test") != "kept" {
		t.Fatalf("quick request: %d, X-Test %q; want 200 with the handler's header", resp.StatusCode, resp.Header.Get("X-Test"))
	}
}

// TestDeadlineSparesStreams: the console's event stream runs beyond every
// deadline, and so does an answer begun before its deadline (a bouncer's
// long pull).
func TestDeadlineSparesStreams(t *testing.T) {
	const limit = 100 * time.Millisecond
	stream := func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		end := time.Now().Add(4 * limit)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := rc.Flush(); err != nil {
				return
			}
			if time.Now().After(end) {
				fmt.Fprint(w, "data: end\n\n")
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(limit / 4): // pacing of the stream, not a wait for an event
			}
		}
	}
	// A bouncer's pull whose answer has begun is written to its end, even
	// when writing takes longer than the deadline (its context ends; the
	// server's WriteTimeout bounds the rest).
	pull := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "data: begun\n\n")
		http.NewResponseController(w).Flush()
		<-time.After(3 * limit) // a slow writer, not a wait for an event
		fmt.Fprint(w, "data: end\n\n")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ui/events", stream)
	mux.HandleFunc("/v1/decisions/stream", pull)
	srv, cuts := deadlineServer(t, mux, limit)
	for _, path := range []string{"/ui/events", "/v1/decisions/stream"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(body), "data: end\n\n") {
			t.Fatalf("%s: %d %q: the stream was cut", path, resp.StatusCode, body)
		}
	}
	if len(cuts()) != 0 {
		t.Fatalf("cuts = %v, want none", cuts())
	}
}

// TestDeadlinePanic: a handler's panic before its deadline reaches the
// server as without deadlines.
func TestDeadlinePanic(t *testing.T) {
	h := withDeadlines(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		shortDeadlines(time.Minute).classify, func(string) {}, slog.New(slog.DiscardHandler))
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the handler's panic", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/status", nil))
	t.Fatal("the panic did not propagate")
}

// TestStatusShowsFabricHealth: a running member's status and metrics carry
// the fabric's health: OK, no restarts.
func TestStatusShowsFabricHealth(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{logPath}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, Options{DataDir: filepath.Join(dir, "data"), Logger: slog.New(slog.DiscardHandler), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop within 15s")
		}
		d.Close()
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon not ready within 20s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.Addr() == "" { // the API serves status only from then on
		if time.Now().After(deadline) {
			t.Fatal("no API address within 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	st := d.status()
	if !st.FabricHealth.OK || st.FabricHealth.Problem != "" || st.FabricHealth.Restarts != 0 {
		t.Fatalf("status fabric_health = %+v, want OK without restarts", st.FabricHealth)
	}
	rec := httptest.NewRecorder()
	d.met.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"phalanx_fabric_healthy 1", "phalanx_fabric_restarts_total 0", "phalanx_fabric_restart_failures_total 0"} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// BenchmarkDeadlines: what a deadline costs a quick request (forward-auth
// answers every request of the proxied sites).
func BenchmarkDeadlines(b *testing.B) {
	quick := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"plain", quick},
		{"deadline", withDeadlines(quick, defaultDeadlines("/v1/forward-auth").classify, func(string) {}, slog.New(slog.DiscardHandler))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/v1/forward-auth", nil)
			b.ReportAllocs()
			for b.Loop() {
				tc.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
