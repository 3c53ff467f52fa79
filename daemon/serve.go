package daemon

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"phalanx/config"
	"phalanx/forwardauth"
)

// The daemon's HTTP listeners, by role:
//
//   - api (daemon.api): the admin API and the console, on loopback or a
//     Unix socket by default; without a serve listener it carries the
//     serve routes too, as it always did.
//   - serve (daemon.serve): only what web servers and bouncers need, the
//     bouncer API, feeds, forward-auth and /metrics; the address operators
//     expose.
//
// Each has the connection bounds of limitListener, the timeouts of
// newHTTPServer and, optionally, TLS. /metrics beyond loopback asks for
// the metrics token.

// httpListener is one of the daemon's HTTP listeners.
type httpListener struct {
	role     string         // "api" or "serve"
	lim      *limitListener // the bounds, around the socket
	cert     *certificate   // nil for plain HTTP
	loopback bool           // only this host can reach it (see loopbackListener)
	srv      *http.Server
}

// addr is the listener's address as clients name it: "host:port" or
// "unix:/path".
func (l *httpListener) addr() string {
	a := l.lim.Addr()
	if a.Network() == "unix" {
		return "unix:" + a.String()
	}
	return a.String()
}

// url is addr with the scheme a client needs, except plain HTTP over TCP
// ("host:port", as the API address file always had it).
func (l *httpListener) url() string {
	if l.cert != nil {
		return "https://" + l.addr()
	}
	return l.addr()
}

func (l *httpListener) serve(log *slog.Logger) {
	var err error
	if l.cert != nil {
		err = l.srv.ServeTLS(l.lim, "", "")
	} else {
		err = l.srv.Serve(l.lim)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(l.role+" server", "err", err)
	}
}

// loopbackListener reports whether a listener bound to a can be reached
// from this host only: a loopback address or a Unix socket. A wildcard
// address (0.0.0.0, ::) is not: it listens on every interface.
func loopbackListener(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ok && ip.Unmap().IsLoopback()
	}
	return false
}

// metricsGate serves /metrics to anyone on a loopback listener (a local
// Prometheus), and elsewhere only with the metrics token.
func metricsGate(loopback bool, token string, next http.Handler) http.Handler {
	if loopback {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeErr(w, fmt.Errorf("%w: /metrics on an address beyond loopback needs the metrics token (Authorization: Bearer TOKEN; the file %s in the data directory)", errForbidden, fileMetrics))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveHandler is the serve listener's: the bouncer API, feeds,
// forward-auth and /metrics; anything else (the admin API, the console) is
// not found there.
func (d *Daemon) serveHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	d.serveRoutes(mux, metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	})
	return mux
}

// newHTTPServer serves h with the bounds every listener has. Timeouts: a
// request's headers (and a TLS handshake) within 10 s and its body within
// 30 s (trickled bodies hold no connection longer), an idle keep-alive
// connection closed after 60 s; writing an answer may take 2 minutes (a
// bouncer's first pull of a million decisions). Each request runs under
// its route class's deadline (see withDeadlines), the console's event
// stream excepted.
func (d *Daemon) newHTTPServer(h http.Handler, cert *certificate) *http.Server {
	faPath := d.opts.Config.ForwardAuth.Path
	if faPath == "" {
		faPath = forwardauth.DefaultPath
	}
	h = withDeadlines(h, defaultDeadlines(faPath).classify, d.countCut, d.log)
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	if cert != nil {
		s.TLSConfig = cert.config()
	}
	return s
}

// serveHTTP opens the listeners (the API's, and the serve one when
// configured), writes the API's address for the CLI and starts serving.
func (d *Daemon) serveHTTP() error {
	dc := d.opts.Config.Daemon
	n := 1
	if dc.Serve != "" {
		n = 2
	}
	b := readDescriptors()
	perListener, reserve := connCaps(b.limit, b.inUse, n)
	d.log.Info("file descriptors", "limit", b.limit, "hard_limit", b.hard, "limit_before", b.was, "in_use", b.inUse,
		"reserve", reserve, "connections_per_listener", listenerCap(perListener), "listeners", n)
	if perListener < 2*loopbackReserve {
		d.log.Warn("the file descriptor limit leaves too few for HTTP connections beside the store's reserve: raise LimitNOFILE",
			"limit", b.limit, "in_use", b.inUse, "reserve", reserve)
	}
	if dc.Serve == "" && dc.ServeTLS.Enabled() {
		d.log.Warn(unusedServeTLS)
	}
	api, err := d.openListener("api", dc.API, dc.APITLS, d.opts.Listener, perListener)
	if err != nil {
		return err
	}
	var serve *httpListener
	if dc.Serve != "" {
		if serve, err = d.openListener("serve", dc.Serve, dc.ServeTLS, nil, perListener); err != nil {
			api.lim.Close()
			return err
		}
	}
	api.srv = d.newHTTPServer(d.handler(serve == nil, metricsGate(api.loopback, d.metricsToken, d.met.handler())), api.cert)
	if !api.loopback && api.cert == nil {
		d.log.Warn(exposedAPI(api.addr()))
	}
	d.apiLn = api.lim
	ls := []*httpListener{api}
	if serve != nil {
		serve.srv = d.newHTTPServer(d.serveHandler(metricsGate(serve.loopback, d.metricsToken, d.met.handler())), serve.cert)
		d.serveLn = serve.lim
		ls = append(ls, serve)
		s := serve.addr()
		d.serveAddr.Store(&s)
	}
	d.listeners.Store(&ls)
	d.writeAPIAddr(api)
	a := api.addr()
	d.addr.Store(&a)
	for _, l := range ls {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); l.serve(d.log) }()
	}
	return nil
}

// writeAPIAddr leaves the API's address, and its certificate over TLS, in
// the data directory for the CLI.
func (d *Daemon) writeAPIAddr(api *httpListener) {
	certPath := filepath.Join(d.opts.DataDir, fileAPICert)
	if api.cert != nil {
		if err := writeFileAtomic(certPath, api.cert.leafPEM(), 0o644); err != nil {
			d.log.Error("write the API's certificate for the CLI", "path", certPath, "err", err)
		}
	} else if err := os.Remove(certPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Error("remove the API's old certificate", "path", certPath, "err", err)
	}
	if err := writeFileAtomic(filepath.Join(d.opts.DataDir, fileAPIAddr), []byte(api.url()+"\n"), 0o644); err != nil {
		d.log.Error("write api address file", "err", err)
	}
}

// openListener binds a role's listener at addr (or takes ln, a test's),
// with the connection bounds and, when tc asks, TLS.
func (d *Daemon) openListener(role, addr string, tc config.TLS, ln net.Listener, limit int) (*httpListener, error) {
	l := &httpListener{role: role}
	if tc.Enabled() {
		var err error
		if l.cert, err = loadCertificate(tc); err != nil {
			return nil, fmt.Errorf("daemon.%s_tls: %w", role, err)
		}
	}
	if ln == nil {
		var err error
		if ln, err = listenHTTP(addr); err != nil {
			return nil, fmt.Errorf("listen for the %s on %s (choose another with --%s): %w", roleName(role), addr, role, err)
		}
	}
	l.lim = newLimitListener(ln, limit)
	l.loopback = loopbackListener(ln.Addr())
	return l, nil
}

// unusedServeTLS is the warning for serve_tls without a serve listener.
const unusedServeTLS = "daemon.serve_tls is set but there is no serve listener (daemon.serve or --serve), so it is not used: the bouncer API and forward-auth stay on the API listener (with api_tls if that is set)"

// exposedAPI is the warning for an API listener beyond loopback without
// TLS.
func exposedAPI(addr string) string {
	return fmt.Sprintf("the API address %s is reachable from other hosts in plain HTTP: the admin token and console sessions cross the network in clear; keep api on loopback or a Unix socket and give bouncers and web servers their own listener (--serve ADDR, with serve_tls), or set api_tls", addr)
}

func roleName(role string) string {
	if role == "serve" {
		return "bouncer API and forward-auth"
	}
	return "admin API"
}

// listenHTTP binds a listener's address: "host:port", or "unix:/path" for
// a Unix socket of mode 0600 (a stale socket left by a crash is replaced;
// a live one is in use).
func listenHTTP(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create the socket's directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: move it away, or choose another path", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w (another phalanx serves there)", path, syscall.EADDRINUSE)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The admin token is asked over the socket too; the mode keeps other
	// users from even trying.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("make the socket %s private: %w", path, err)
	}
	return ln, nil
}

// shutdownHTTP stops every listener, waiting for requests in flight until
// ctx ends.
func (d *Daemon) shutdownHTTP(ctx context.Context) {
	for _, l := range d.httpListeners() {
		l.srv.Shutdown(ctx)
	}
}

// httpListeners are the listeners serving, none before Run starts them.
func (d *Daemon) httpListeners() []*httpListener {
	if ls := d.listeners.Load(); ls != nil {
		return *ls
	}
	return nil
}

// ServeAddr is the serve listener's address ("host:port" or "unix:/path")
// once Run has started it; "" when there is none.
func (d *Daemon) ServeAddr() string {
	if a := d.serveAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// reloadCertificates re-reads the listeners' certificate files (SIGHUP);
// a listener whose files do not load keeps the certificate it has.
func (d *Daemon) reloadCertificates() {
	for _, l := range d.httpListeners() {
		if l.cert == nil {
			continue
		}
		if err := l.cert.load(); err != nil {
			d.log.Error("reload the "+l.role+" listener's certificate; keeping the one in use", "err", err)
			continue
		}
		d.log.Info("reloaded the "+l.role+" listener's certificate", "cert", l.cert.files.Cert, "expires", l.cert.current().Leaf.NotAfter)
		if l.role == "api" {
			d.writeAPIAddr(l)
		}
	}
}

// certificate is a listener's TLS certificate, swapped whole on reload.
type certificate struct {
	files config.TLS
	cur   atomic.Pointer[tls.Certificate]
}

func loadCertificate(files config.TLS) (*certificate, error) {
	c := &certificate{files: files}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the files, refusing a key that others may read.
func (c *certificate) load() error {
	if err := keyFileProblem(c.files.Key); err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.files.Cert, c.files.Key)
	if err != nil {
		return fmt.Errorf("certificate %s with key %s: %v: give a PEM certificate (then its intermediates) and its private key", c.files.Cert, c.files.Key, err)
	}
	c.cur.Store(&cert)
	return nil
}

func (c *certificate) current() *tls.Certificate { return c.cur.Load() }

// config is the listener's TLS configuration: TLS 1.2 or later, the
// current certificate at each handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return c.cur.Load(), nil
	}}
}

// leafPEM is the certificate itself (without intermediates) in PEM.
func (c *certificate) leafPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cur.Load().Certificate[0]})
}

// keyFileProblem refuses a private key file that others may read, or that
// its group may write: the daemon's user reads it, its group at most too
// (0600 or 0640).
func keyFileProblem(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("key %s: %v: give a key file the daemon's user can read", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return fmt.Errorf("key %s has mode %04o, so others can read (or its group change) the private key: run `chmod 600 %s` (and replace the key if others could have read it)", path, perm, path)
	}
	return nil
}

// descriptors is the process's file descriptor limit as serveHTTP found
// it.
type descriptors struct {
	limit, hard, was uint64 // the soft limit now and its hard limit; the soft limit before raising it
	inUse            uint64 // descriptors open at the time (0: unknown)
}

// readDescriptors raises the soft RLIMIT_NOFILE to the hard limit (the
// Go runtime does so at start too; a raise that fails leaves it) and
// counts the descriptors open.
func readDescriptors() descriptors {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return descriptors{limit: 1024, hard: 1024, was: 1024}
	}
	b := descriptors{limit: rl.Cur, hard: rl.Max, was: rl.Cur}
	if rl.Cur < rl.Max {
		raised := syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			b.limit = rl.Max
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil && len(ents) > 0 {
		b.inUse = uint64(len(ents) - 1) // less the directory being read
	}
	return b
}

// Descriptors kept out of the HTTP listeners' reach: for the store (its
// block files), the tails, the fabric's connections, syslog receivers.
const (
	minDescriptorReserve = 256
	reserveFraction      = 8 // an eighth of the limit, when that is more
)

// connCaps shares a descriptor limit among listeners: what is left once
// inUse and the reserve (max(256, limit/8)) are set aside, equally. The
// cap is not yet bounded by maxAPIConns or the loopback floor
// (newLimitListener does both).
func connCaps(limit, inUse uint64, listeners int) (perListener int, reserve uint64) {
	reserve = max(minDescriptorReserve, limit/reserveFraction)
	if listeners < 1 {
		listeners = 1
	}
	var avail uint64
	if limit > inUse+reserve {
		avail = limit - inUse - reserve
	}
	per := avail / uint64(listeners)
	if per > 1<<30 {
		per = 1 << 30
	}
	return int(per), reserve
}

// Per-route deadlines: every request but the long-lived streams runs
// under a context deadline of its class; a handler that has not begun to
// answer by then is answered 504 for it (counted in
// phalanx_http_deadline_exceeded_total), and one that has goes on under
// the server's WriteTimeout.
const (
	deadlineAdmin       = 30 * time.Second // the admin API (a ban waits 10 s for its round trip)
	deadlineImport      = 10 * time.Minute // a bulk import of up to a million decisions
	deadlineConsole     = 30 * time.Second
	deadlineBouncer     = time.Minute // a bouncer's first pull builds every decision
	deadlineFeeds       = time.Minute
	deadlineForwardAuth = 5 * time.Second // a proxy holds its client's request meanwhile
	deadlineMetrics     = 30 * time.Second
	deadlineOther       = 10 * time.Second
)

// routeDeadlines are the deadlines of the route classes; 0 is none.
type routeDeadlines struct {
	faPath                                  string // forward-auth's path
	admin, imports, console, bouncer, feeds time.Duration
	forwardAuth, metrics, other             time.Duration
}

func defaultDeadlines(faPath string) routeDeadlines {
	return routeDeadlines{faPath: faPath, admin: deadlineAdmin, imports: deadlineImport, console: deadlineConsole,
		bouncer: deadlineBouncer, feeds: deadlineFeeds, forwardAuth: deadlineForwardAuth, metrics: deadlineMetrics, other: deadlineOther}
}

// classify names r's route class and its deadline. The console's event
// stream (server-sent events) is long-lived: no deadline.
func (rd routeDeadlines) classify(r *http.Request) (string, time.Duration) {
	p := r.URL.Path
	switch {
	case p == "/ui/events":
		return "stream", 0
	case p == rd.faPath:
		return "forward_auth", rd.forwardAuth
	case p == "/api/decisions/import":
		return "import", rd.imports
	case strings.HasPrefix(p, "/api/"):
		return "admin", rd.admin
	case strings.HasPrefix(p, "/ui/"):
		return "console", rd.console
	case strings.HasPrefix(p, "/v1/feeds/"):
		return "feeds", rd.feeds
	case strings.HasPrefix(p, "/v1/"):
		return "bouncer", rd.bouncer
	case p == "/metrics":
		return "metrics", rd.metrics
	}
	return "other", rd.other
}

// countCut counts a request cut at its deadline.
func (d *Daemon) countCut(class string) {
	if d.met != nil {
		d.met.httpCut.WithLabelValues(class).Inc()
	}
}

// withDeadlines runs h under the deadline classify gives each request.
// The handler runs on its own goroutine; at the deadline, if it has
// written nothing yet, withDeadlines answers 504 in its place, calls cut
// with the class, and returns, dropping whatever the handler writes
// later (its context has ended: handlers that watch it stop). A handler
// that has begun answering is waited for. A request whose client left
// is waited for too, as without deadlines.
func withDeadlines(h http.Handler, classify func(*http.Request) (string, time.Duration), cut func(class string), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class, limit := classify(r)
		if limit <= 0 {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		dw := &deadlineWriter{w: w, h: make(http.Header)}
		done := make(chan struct{})
		var panicked any
		go func() {
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					panicked = p
					if dw.wasCut() && p != http.ErrAbortHandler {
						log.Error("HTTP handler panicked after its deadline", "class", class, "path", r.URL.Path, "panic", p)
					}
				}
			}()
			h.ServeHTTP(dw, r.WithContext(ctx))
		}()
		select {
		case <-done:
		case <-ctx.Done():
			if r.Context().Err() == nil && dw.cut() {
				cut(class)
				log.Warn("HTTP request cut at its deadline", "class", class, "method", r.Method, "path", r.URL.Path, "deadline", limit)
				writeErr(w, fmt.Errorf("%w: the %s request %s %s did not answer within its deadline of %v; try again, and see the daemon's log if it persists",
					errTimeout, class, r.Method, r.URL.Path, limit))
				return
			}
			<-done
		}
		if panicked != nil {
			panic(panicked)
		}
	})
}

// deadlineWriter passes a handler's answer through until withDeadlines
// cuts the request; headers go to a map of its own until the first write,
// so that a handler cut at its deadline never touches the real ones.
type deadlineWriter struct {
	w       http.ResponseWriter
	h       http.Header
	mu      sync.Mutex
	started bool // the handler began its answer
	stopped bool // withDeadlines answered in its place
}

// cut stops the handler's answer if it has not begun; it reports whether
// it did.
func (dw *deadlineWriter) cut() bool {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if dw.started {
		return false
	}
	dw.stopped = true
	return true
}

func (dw *deadlineWriter) wasCut() bool {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	return dw.stopped
}

func (dw *deadlineWriter) Header() http.Header { return dw.h }

// startLocked begins the answer: copies the headers over. dw.mu is held.
func (dw *deadlineWriter) startLocked() bool {
	if dw.stopped {
		return false
	}
	if !dw.started {
		dw.started = true
		dst := dw.w.Header()
		for k, v := range dw.h {
			dst[k] = v
		}
	}
	return true
}

func (dw *deadlineWriter) WriteHeader(code int) {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if dw.startLocked() {
		dw.w.WriteHeader(code)
	}
}

func (dw *deadlineWriter) Write(b []byte) (int, error) {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if !dw.startLocked() {
		return 0, http.ErrHandlerTimeout
	}
	return dw.w.Write(b)
}

// FlushError flushes what the handler wrote (http.ResponseController).
func (dw *deadlineWriter) FlushError() error {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if !dw.startLocked() {
		return http.ErrHandlerTimeout
	}
	return http.NewResponseController(dw.w).Flush()
}

func (dw *deadlineWriter) Flush() { dw.FlushError() }

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (dw *deadlineWriter) Unwrap() http.ResponseWriter { return dw.w }
