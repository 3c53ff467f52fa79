// Package syslog receives syslog messages over UDP and TCP, so that routers,
// appliances and central log pipelines (rsyslog, syslog-ng) can feed a
// phalanx member: the sources syslog:udp://ADDR:PORT and
// syslog:tcp://ADDR:PORT.
//
// It frames messages and nothing more: over UDP one datagram is one message;
// over TCP each message is either octet-counted ("LEN SP MSG", RFC 6587) or
// ends at a newline (LF, CRLF) or a NUL, decided per message by whether it
// starts with digits and a space. A message holding newlines is handed over
// as one line per newline. The syslog header (<PRI>, RFC 3164 or RFC 5424) is
// left to package logline. The sending peer's address comes with every
// message as evidence; what the message says about its host is the
// caller's to judge.
//
// Senders may be hostile or broken, so everything is bounded and counted:
// message length (a longer one is discarded to its end, whatever its size),
// concurrent TCP connections, idle time per connection, lines per second per
// sender, and the table of senders. It must not parse messages, resolve
// names, keep package-level state or log once per message.
package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxLine     = 64 << 10
	DefaultMaxConns    = 1024
	DefaultIdleTimeout = 5 * time.Minute
	DefaultRate        = 20000 // lines per second per sender
	DefaultBurst       = 40000
	DefaultMaxSenders  = 4096
	udpBuffer          = 4 << 20 // requested socket receive buffer
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
// source after "syslog:"). ADDR is an IP address, or empty for every
// address; names are refused (a receiver binds where it is told).
func ParseSpec(s string) (Spec, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("syslog source %q: %w: write udp://ADDR:PORT or tcp://ADDR:PORT", s, err)
	}
	if u.Scheme != "udp" && u.Scheme != "tcp" {
		return Spec{}, fmt.Errorf("syslog source %q: scheme %q: use udp:// or tcp://", s, u.Scheme)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return Spec{}, fmt.Errorf("syslog source %q: give only an address and a port, such as %s://127.0.0.1:5514", s, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		return Spec{}, fmt.Errorf("syslog source %q: no port: syslog's is 514, such as %s://0.0.0.0:514", s, u.Scheme)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return Spec{}, fmt.Errorf("syslog source %q: %q is not an IP address: a receiver listens on an address of this host", s, host)
		}
	}
	return Spec{Network: u.Scheme, Addr: net.JoinHostPort(host, port)}, nil
}

// Options configure a Receiver.
type Options struct {
	Spec        Spec
	MaxLine     int           // longest message kept, in bytes; default DefaultMaxLine
	MaxConns    int           // concurrent TCP connections; more are closed at once; default DefaultMaxConns
	IdleTimeout time.Duration // a TCP connection silent this long is closed; default DefaultIdleTimeout
	Rate        float64       // lines per second allowed per sender; default DefaultRate
	Burst       int           // lines a sender may send at once; default DefaultBurst
	MaxSenders  int           // senders whose rate is tracked; default DefaultMaxSenders
	Logger      *slog.Logger  // trouble, rate-limited; default discard
}

// Message is one line received.
type Message struct {
	Line     []byte         // valid only during the call; no '\n' inside
	From     netip.AddrPort // the sending peer
	Received time.Time
}

// Stats count what a Receiver went through.
type Stats struct {
	Lines       int64 // lines handed over
	Bytes       int64 // bytes received
	Oversize    int64 // messages longer than MaxLine, discarded
	RateDropped int64 // lines over a sender's rate, discarded
	Framing     int64 // TCP streams whose framing was broken (a lying octet count): the connection is closed
	Partial     int64 // messages cut off by the connection's end, discarded
	Conns       int64 // TCP connections accepted
	Refused     int64 // TCP connections closed at once because MaxConns were open
	IdleClosed  int64 // TCP connections closed for silence
}

type counters struct {
	lines, bytes, oversize, rate, framing, partial, conns, refused, idle atomic.Int64
}

// Receiver listens for syslog messages.
type Receiver struct {
	opt   Options
	log   *slog.Logger
	ln    net.Listener
	pc    *net.UDPConn
	c     counters
	lim   *limiter
	warn  logLimit
	slots chan struct{}

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
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{opt: opt, log: opt.Logger.With("source", "syslog:"+opt.Spec.String()),
		lim: newLimiter(opt.Rate, float64(opt.Burst), opt.MaxSenders), warn: logLimit{interval: time.Minute, burst: 5},
		slots: make(chan struct{}, opt.MaxConns), conns: map[net.Conn]struct{}{}}
	var err error
	if opt.Spec.Network == "tcp" {
		r.ln, err = net.Listen("tcp", opt.Spec.Addr)
	} else {
		var a *net.UDPAddr
		if a, err = net.ResolveUDPAddr("udp", opt.Spec.Addr); err == nil {
			r.pc, err = net.ListenUDP("udp", a)
		}
		if err == nil {
			if err := r.pc.SetReadBuffer(udpBuffer); err != nil {
				r.log.Warn("cannot raise the UDP receive buffer; bursts may be lost", "err", err)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("syslog receiver: listen on %s: %w", opt.Spec, err)
	}
	return r, nil
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
		Conns: r.c.conns.Load(), Refused: r.c.refused.Load(), IdleClosed: r.c.idle.Load()}
}

// Close stops the receiver: Run returns, open connections are closed.
func (r *Receiver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	if r.ln != nil {
		return r.ln.Close()
	}
	return r.pc.Close()
}

// Run serves until ctx ends or Close, calling handle for every line. handle
// is called from one goroutine per TCP connection (and one for UDP), so it
// may run concurrently with itself: the caller locks what it shares.
func (r *Receiver) Run(ctx context.Context, handle func(*Message)) error {
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	if r.pc != nil {
		return r.serveUDP(handle)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			r.log.Error("syslog receiver stopped accepting", "err", err)
			return fmt.Errorf("syslog receiver: accept: %w", err)
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.c.refused.Add(1)
			if ok, held := r.warn.allow(time.Now()); ok {
				r.log.Warn("syslog receiver: too many connections; closing new ones", "max", r.opt.MaxConns, "held_back", held)
			}
			c.Close()
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
			r.serveConn(c, handle)
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

// serveConn reads one TCP connection's messages.
func (r *Receiver) serveConn(c net.Conn, handle func(*Message)) {
	from := addrPort(c.RemoteAddr())
	f := newFramer(r.opt.MaxLine)
	msg := &Message{From: from}
	for {
		line, err := f.next()
		switch {
		case err == nil:
			r.deliver(msg, line, handle)
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
		if err := c.SetReadDeadline(time.Now().Add(r.opt.IdleTimeout)); err != nil {
			return
		}
		n, rerr := f.fill(c)
		r.c.bytes.Add(int64(n))
		if rerr != nil {
			if f.pending() {
				r.c.partial.Add(1)
			}
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() && !r.isClosed() {
				r.c.idle.Add(1)
			}
			return
		}
	}
}

// serveUDP reads datagrams until the socket closes.
func (r *Receiver) serveUDP(handle func(*Message)) error {
	buf := make([]byte, maxDatagram)
	msg := &Message{}
	for {
		n, from, err := r.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if r.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("syslog receiver: read: %w", err)
		}
		r.c.bytes.Add(int64(n))
		msg.From = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		d := buf[:n]
		if len(d) > r.opt.MaxLine {
			r.c.oversize.Add(1)
			r.warnf("syslog datagram over the length limit discarded", "from", msg.From, "max", r.opt.MaxLine)
			continue
		}
		for len(d) > 0 {
			line := d
			if i := bytes.IndexByte(d, '\n'); i >= 0 {
				line, d = d[:i], d[i+1:]
			} else {
				d = nil
			}
			line = trimEnd(line)
			if len(line) > 0 {
				r.deliver(msg, line, handle)
			}
		}
	}
}

// deliver hands one message's lines over, within the sender's rate.
func (r *Receiver) deliver(msg *Message, line []byte, handle func(*Message)) {
	for len(line) > 0 {
		one := line
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			one, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		one = trimEnd(one)
		if len(one) == 0 {
			continue
		}
		now := time.Now()
		if !r.lim.allow(msg.From.Addr(), now) {
			r.c.rate.Add(1)
			r.warnf("syslog sender over its rate: lines discarded", "from", msg.From.Addr(), "rate", r.opt.Rate)
			continue
		}
		msg.Line, msg.Received = one, now
		r.c.lines.Add(1)
		handle(msg)
	}
}

func (r *Receiver) warnf(msg string, args ...any) {
	if ok, held := r.warn.allow(time.Now()); ok {
		r.log.Warn(msg, append(args, "held_back", held)...)
	}
}

// trimEnd drops a trailing CR and NULs.
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
	ap, _ := netip.ParseAddrPort(strings.TrimSpace(a.String()))
	return ap
}

// logLimit allows burst log lines per interval and counts the rest.
type logLimit struct {
	mu       sync.Mutex
	interval time.Duration
	burst    int
	start    time.Time
	n, held  int
}

func (l *logLimit) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.interval {
		l.start, l.n = now, 0
	}
	if l.n < l.burst {
		l.n++
		held := l.held
		l.held = 0
		return true, held
	}
	l.held++
	return false, 0
}
