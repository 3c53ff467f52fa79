// Package syslog receives syslog messages over UDP and TCP, so that routers,
// appliances and central log pipelines (rsyslog, syslog-ng) can feed a
// phalanx member: the sources syslog:udp://ADDR:PORT and
// syslog:tcp://ADDR:PORT.
//
// It frames messages and nothing more: over UDP one datagram is one message;
// over TCP each message is either octet-counted ("LEN SP <PRI>...", RFC 6587)
// or ends at a newline (LF, CRLF) or a NUL, decided per message by whether
// it starts with at most 10 digits, a space and '<'. Every message is handed
// over as one line: trailing CR, LF and NUL bytes are dropped, and a '\n'
// inside a message (possible in an octet-counted frame or a datagram) becomes
// a space, so that no sender can forge a line of its own inside a message it
// relays. The syslog header (<PRI>, RFC 3164 or RFC 5424) is left to package
// logline. The sending peer's address comes with every message as evidence;
// what the message says about its host is the caller's to judge.
//
// Senders may be hostile or broken, so everything is bounded and counted:
// message length (a longer one is discarded to its end, whatever its size),
// concurrent TCP connections, idle time per connection, lines per second per
// sender, the table of senders, and (with Options.Allow) who may send at
// all. It must not parse messages, resolve names, keep package-level state,
// log once per message, split a message into lines, or stop serving because
// of what one peer does.
package syslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phalanx/lograte"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxLine     = 64 << 10
	DefaultMaxConns    = 1024
	DefaultIdleTimeout = 5 * time.Minute
	DefaultRate        = 20000 // lines per second per sender
	DefaultBurst       = 40000
	DefaultMaxSenders  = 4096
	DefaultReadBuffer  = 4 << 20 // UDP socket receive buffer asked for
	maxDatagram        = 65535
)

// Spec is where a receiver listens: "udp" or "tcp" and a host:port.
type Spec struct {
	Network string
	Addr    string
}

// String returns the spec as ParseSpec reads it.
func (s Spec) String() string { return s.Network + "://" + s.Addr }

// ParseSpec reads "udp://ADDR:PORT" or "tcp://ADDR:PORT" (the part of a
// source after "syslog:"). ADDR is an IP address (IPv6 in brackets), or
// empty for every address; names are refused (a receiver binds where it is
// told).
func ParseSpec(s string) (Spec, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("syslog source %q: %w: write udp://ADDR:PORT or tcp://ADDR:PORT", s, err)
	}
	if u.Scheme != "udp" && u.Scheme != "tcp" {
		return Spec{}, fmt.Errorf("syslog source %q: scheme %q: use udp:// or tcp://", s, u.Scheme)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || u.ForceQuery {
		return Spec{}, fmt.Errorf("syslog source %q: give only an address and a port, such as %s://127.0.0.1:5514", s, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		return Spec{}, fmt.Errorf("syslog source %q: an IPv6 address goes in brackets, such as %s://[::1]:514", s, u.Scheme)
	}
	if port == "" {
		return Spec{}, fmt.Errorf("syslog source %q: no port: syslog's is 514, such as %s://0.0.0.0:514", s, u.Scheme)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Spec{}, fmt.Errorf("syslog source %q: port %q: give a number from 0 to 65535", s, port)
	}
	port = strconv.FormatUint(n, 10)
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return Spec{}, fmt.Errorf("syslog source %q: %q is not an IP address: a receiver listens on an address of this host", s, host)
		}
	}
	return Spec{Network: u.Scheme, Addr: net.JoinHostPort(host, port)}, nil
}

// Options configure a Receiver. Zero fields take the defaults.
type Options struct {
	Spec        Spec
	MaxLine     int           // longest message kept, in bytes, without its framing; default DefaultMaxLine
	MaxConns    int           // concurrent TCP connections; more are reset at once; default DefaultMaxConns
	IdleTimeout time.Duration // a TCP connection silent this long (give or take a quarter) is closed; default DefaultIdleTimeout
	Rate        float64       // lines per second allowed per sender address (UDP and all its connections); default DefaultRate
	Burst       int           // lines a sender may send at once above Rate; default DefaultBurst
	MaxSenders  int           // senders whose rate is tracked; default DefaultMaxSenders
	// Allow, when not empty, is the networks whose peers are served; other
	// peers' datagrams are dropped and their connections reset, counted as
	// Denied. Whoever can send here writes log lines that ban addresses, so
	// set it whenever the receiver listens beyond loopback.
	Allow []netip.Prefix
	// ReadBuffer is the UDP socket receive buffer (SO_RCVBUF) asked for;
	// default DefaultReadBuffer. Past net.core.rmem_max the kernel grants
	// it only to a process with CAP_NET_ADMIN; Stats.ReadBuffer says what
	// was granted and a warning is logged when it is less.
	ReadBuffer int
	Logger     *slog.Logger // trouble, rate-limited; default discard
}

// Message is one line received.
type Message struct {
	Line     []byte         // the whole message; valid only during the call; never empty, no '\n' inside
	From     netip.AddrPort // the sending peer (IPv4-mapped addresses unmapped); a UDP source can be forged
	Received time.Time      // when the read that completed the message returned
}

// Stats count what a Receiver went through.
type Stats struct {
	Lines       int64 // lines handed over
	Bytes       int64 // bytes received, framing included
	Oversize    int64 // messages longer than MaxLine, discarded
	RateDropped int64 // lines over a sender's rate, discarded
	Framing     int64 // TCP streams whose framing was broken (an octet count of 0): the connection is closed
	Partial     int64 // messages cut off by the connection's end, discarded
	Conns       int64 // TCP connections accepted
	Refused     int64 // TCP connections reset at once because MaxConns were open
	IdleClosed  int64 // TCP connections closed for silence
	Denied      int64 // datagrams dropped and connections reset: the peer is not in Allow
	ReadErrors  int64 // failed accepts and reads (out of descriptors, resets); the receiver goes on
	// KernelDrops is how many datagrams the kernel dropped because the
	// receive buffer was full (Linux SO_RXQ_OVFL, as of the last datagram
	// received).
	KernelDrops int64
	ReadBuffer  int // UDP receive buffer granted, in the unit of Options.ReadBuffer (0: unknown)
}

type counters struct {
	lines, bytes, oversize, rate, framing, partial, conns, refused, idle atomic.Int64
	denied, readErrors, kernelDrops                                      atomic.Int64
}

// Receiver listens for syslog messages. Run serves; Addr, Stats and Close
// may be called from any goroutine.
type Receiver struct {
	opt    Options
	log    *slog.Logger
	ln     net.Listener
	pc     *net.UDPConn
	rcvbuf int
	c      counters
	lim    *limiter
	warn   lograte.Limit
	slots  chan struct{}
	done   chan struct{} // closed by Close

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen binds the receiver's socket, so that a bad address fails at start
// and a test may bind port 0 and read Addr.
func Listen(opt Options) (*Receiver, error) {
	if opt.Spec.Network != "udp" && opt.Spec.Network != "tcp" {
		return nil, fmt.Errorf("syslog receiver: network %q: use udp or tcp", opt.Spec.Network)
	}
	for _, p := range opt.Allow {
		if !p.IsValid() {
			return nil, fmt.Errorf("syslog receiver %s: an allowed network is invalid: give prefixes such as 192.0.2.0/24", opt.Spec)
		}
	}
	if opt.MaxLine <= 0 {
		opt.MaxLine = DefaultMaxLine
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = DefaultMaxConns
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = DefaultIdleTimeout
	}
	if opt.Rate <= 0 {
		opt.Rate = DefaultRate
	}
	if opt.Burst <= 0 {
		opt.Burst = DefaultBurst
	}
	if opt.MaxSenders <= 0 {
		opt.MaxSenders = DefaultMaxSenders
	}
	if opt.ReadBuffer <= 0 {
		opt.ReadBuffer = DefaultReadBuffer
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{opt: opt, log: opt.Logger.With("source", "syslog:"+opt.Spec.String()),
		lim: newLimiter(opt.Rate, float64(opt.Burst), opt.MaxSenders), warn: lograte.Limit{Interval: time.Minute, Burst: 5},
		slots: make(chan struct{}, opt.MaxConns), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	var err error
	var local netip.Addr
	if opt.Spec.Network == "tcp" {
		r.ln, err = net.Listen("tcp", opt.Spec.Addr)
		if err == nil {
			local = r.ln.Addr().(*net.TCPAddr).AddrPort().Addr()
		}
	} else {
		var a *net.UDPAddr
		if a, err = net.ResolveUDPAddr("udp", opt.Spec.Addr); err == nil {
			r.pc, err = net.ListenUDP("udp", a)
		}
		if err == nil {
			local = r.pc.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
			r.setupUDP()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("syslog receiver: listen on %s: %w", opt.Spec, err)
	}
	if len(opt.Allow) == 0 && !local.IsLoopback() {
		r.log.Warn("syslog receiver listens beyond loopback and accepts every sender: whoever reaches it writes log lines; allow only the senders' networks")
	}
	return r, nil
}

// setupUDP asks for the receive buffer and the kernel's drop count.
func (r *Receiver) setupUDP() {
	granted, err := setReadBuffer(r.pc, r.opt.ReadBuffer)
	r.rcvbuf = granted
	switch {
	case err != nil:
		r.log.Warn("cannot set the UDP receive buffer; bursts may be lost", "want", r.opt.ReadBuffer, "err", err)
	case granted > 0 && granted < r.opt.ReadBuffer:
		r.log.Warn("the kernel capped the UDP receive buffer; bursts may be lost: raise net.core.rmem_max or give the daemon CAP_NET_ADMIN",
			"want", r.opt.ReadBuffer, "granted", granted)
	}
	if err := enableDropCount(r.pc); err != nil {
		r.log.Debug("the kernel does not count dropped datagrams", "err", err)
	}
}

// Addr is where the receiver listens.
func (r *Receiver) Addr() net.Addr {
	if r.ln != nil {
		return r.ln.Addr()
	}
	return r.pc.LocalAddr()
}

// Stats returns the counters so far.
func (r *Receiver) Stats() Stats {
	return Stats{Lines: r.c.lines.Load(), Bytes: r.c.bytes.Load(), Oversize: r.c.oversize.Load(),
		RateDropped: r.c.rate.Load(), Framing: r.c.framing.Load(), Partial: r.c.partial.Load(),
		Conns: r.c.conns.Load(), Refused: r.c.refused.Load(), IdleClosed: r.c.idle.Load(),
		Denied: r.c.denied.Load(), ReadErrors: r.c.readErrors.Load(), KernelDrops: r.c.kernelDrops.Load(),
		ReadBuffer: r.rcvbuf}
}

// Close stops the receiver: Run returns, open connections are closed. It
// does not wait for Run.
func (r *Receiver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	if r.ln != nil {
		return r.ln.Close()
	}
	return r.pc.Close()
}

// Run serves until ctx ends or Close, calling handle for every line; it
// returns nil then. handle is called from one goroutine per TCP connection
// (and one for UDP), so it may run concurrently with itself: the caller
// locks what it shares. Within a connection, lines come in order, one call
// at a time. The Message and its Line are reused: copy what you keep. A
// slow handle slows its senders (TCP) or loses datagrams (UDP). Run returns
// once no handle call runs and none will start; it never gives up because
// of accept or read errors (out of descriptors, say): it counts them, logs
// them and retries.
func (r *Receiver) Run(ctx context.Context, handle func(*Message)) error {
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	if r.pc != nil {
		r.serveUDP(handle)
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var pause backoff
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.isClosed() {
				return nil
			}
			// EMFILE and the like: the peer that caused it must not stop
			// the receiver. Wait a little and try again.
			r.c.readErrors.Add(1)
			r.warnf("syslog receiver: accept failed; retrying", "err", err)
			if !pause.wait(r.done) {
				return nil
			}
			continue
		}
		pause.reset()
		from := addrPort(c.RemoteAddr())
		if !r.allowed(from.Addr()) {
			r.c.denied.Add(1)
			r.warnf("syslog receiver: connection from a peer not allowed; reset", "from", from)
			reset(c)
			continue
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.c.refused.Add(1)
			r.warnf("syslog receiver: too many connections; resetting new ones", "max", r.opt.MaxConns, "from", from)
			reset(c)
			continue
		}
		if !r.track(c) {
			c.Close()
			<-r.slots
			return nil
		}
		r.c.conns.Add(1)
		wg.Go(func() {
			defer func() { <-r.slots }()
			defer r.untrack(c)
			r.serveConn(c, from, handle)
		})
	}
}

func (r *Receiver) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Receiver) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Receiver) untrack(c net.Conn) {
	c.Close()
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// allowed reports whether a peer may send: Allow is empty or holds it.
func (r *Receiver) allowed(a netip.Addr) bool {
	if len(r.opt.Allow) == 0 {
		return true
	}
	for _, p := range r.opt.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// reset closes a connection with a reset, which leaves no TIME_WAIT behind
// however many a peer opens.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// serveConn reads one TCP connection's messages.
func (r *Receiver) serveConn(c net.Conn, from netip.AddrPort, handle func(*Message)) {
	f := newFramer(r.opt.MaxLine)
	msg := &Message{From: from}
	idle := r.opt.IdleTimeout
	var now, deadline time.Time
	for {
		line, err := f.next()
		switch {
		case err == nil:
			r.deliver(msg, line, now, handle)
			continue
		case errors.Is(err, errOversize):
			r.c.oversize.Add(1)
			r.warnf("syslog message over the length limit discarded", "from", from, "max", r.opt.MaxLine)
			continue
		case errors.Is(err, errFraming):
			r.c.framing.Add(1)
			r.warnf("syslog stream with broken framing closed", "from", from, "err", err)
			return
		case !errors.Is(err, errMore):
			return
		}
		// Moving the deadline costs a timer update: do it when a quarter
		// of the idle timeout has passed, not for every read.
		if now.IsZero() || deadline.Sub(now) < idle-idle/4 {
			if now.IsZero() {
				now = time.Now()
			}
			deadline = now.Add(idle)
			if err := c.SetReadDeadline(deadline); err != nil {
				return
			}
		}
		n, rerr := f.fill(c)
		now = time.Now()
		r.c.bytes.Add(int64(n))
		if rerr != nil {
			if f.pending() {
				r.c.partial.Add(1)
			}
			var ne net.Error
			switch {
			case r.isClosed(), errors.Is(rerr, io.EOF):
			case errors.As(rerr, &ne) && ne.Timeout():
				r.c.idle.Add(1)
			default:
				r.c.readErrors.Add(1)
			}
			return
		}
	}
}

// serveUDP reads datagrams until the socket closes. One datagram is one
// message.
func (r *Receiver) serveUDP(handle func(*Message)) {
	buf := make([]byte, maxDatagram+1)
	oob := make([]byte, oobSize)
	msg := &Message{}
	var pause backoff
	for {
		n, oobn, flags, from, err := r.pc.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if r.isClosed() {
				return
			}
			r.c.readErrors.Add(1)
			r.warnf("syslog receiver: read failed; retrying", "err", err)
			if !pause.wait(r.done) {
				return
			}
			continue
		}
		pause.reset()
		now := time.Now()
		if d, ok := parseDropCount(oob[:oobn]); ok {
			r.c.kernelDrops.Store(d)
		}
		r.c.bytes.Add(int64(n))
		msg.From = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !r.allowed(msg.From.Addr()) {
			r.c.denied.Add(1)
			r.warnf("syslog datagram from a peer not allowed dropped", "from", msg.From)
			continue
		}
		line := oneLine(buf[:n])
		if flags&msgTrunc != 0 || len(line) > r.opt.MaxLine {
			r.c.oversize.Add(1)
			r.warnf("syslog datagram over the length limit discarded", "from", msg.From, "max", r.opt.MaxLine)
			continue
		}
		r.deliver(msg, line, now, handle)
	}
}

// deliver hands one line over, within the sender's rate.
func (r *Receiver) deliver(msg *Message, line []byte, now time.Time, handle func(*Message)) {
	if len(line) == 0 {
		return
	}
	if !r.lim.allow(msg.From.Addr(), now) {
		r.c.rate.Add(1)
		r.warnf("syslog sender over its rate: lines discarded", "from", msg.From.Addr(), "rate", r.opt.Rate)
		return
	}
	msg.Line, msg.Received = line, now
	r.c.lines.Add(1)
	handle(msg)
}

func (r *Receiver) warnf(msg string, args ...any) {
	if ok, held := r.warn.Allow(time.Now()); ok {
		r.log.Warn(msg, append(args, "held_back", held)...)
	}
}

// trimEnd drops trailing CRs and NULs.
func trimEnd(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// backoff spaces out retries after errors: 5 ms, doubling up to a second.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

// wait sleeps the next interval; false if done closed meanwhile.
func (b *backoff) wait(done <-chan struct{}) bool {
	b.d = min(max(2*b.d, 5*time.Millisecond), time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}
