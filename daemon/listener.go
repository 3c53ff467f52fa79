package daemon

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Bounds on each HTTP listener's connections: anyone who reaches its
// address can open connections, so they are capped in all and per source,
// and some are kept for loopback (the CLI, local bouncers), so that a flood
// of idle or trickling connections can neither take every file descriptor
// (the store and the tails need theirs, see descriptorBudget) nor lock the
// operator out.
const (
	maxAPIConns      = 4096 // in all, per listener, lowered to fit the descriptor limit
	maxAPIConnsPerIP = 64   // per IPv4 address or IPv6 /64, loopback exempt
	loopbackReserve  = 64   // of the cap, only for loopback
)

// limitListener refuses (accepts and closes at once) connections past its
// bounds, so that the kernel's queue never fills with them either.
type limitListener struct {
	net.Listener
	max, perIP int
	mu         sync.Mutex
	total      int
	byIP       map[netip.Prefix]int
	refused    atomic.Int64
}

// newLimitListener wraps ln with the bounds of a listener allowed limit
// connections in all (see connCaps and listenerCap).
func newLimitListener(ln net.Listener, limit int) *limitListener {
	return &limitListener{Listener: ln, max: listenerCap(limit), perIP: maxAPIConnsPerIP, byIP: map[netip.Prefix]int{}}
}

// listenerCap is a listener's cap for a share of limit descriptors: at
// most maxAPIConns, never less than twice the loopback reserve.
func listenerCap(limit int) int { return max(min(limit, maxAPIConns), 2*loopbackReserve) }

// sourceOf is the connection's source as the bounds count it, and whether
// it is loopback. A Unix socket's clients are on this host: loopback.
func sourceOf(c net.Conn) (netip.Prefix, bool) {
	if c.LocalAddr().Network() == "unix" {
		return netip.Prefix{}, true
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Prefix{}, false
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p, a.IsLoopback()
	}
	return netip.PrefixFrom(a, 32), a.IsLoopback()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src, loop := sourceOf(c)
		l.mu.Lock()
		ok := l.total < l.max && (loop || l.total < l.max-loopbackReserve && l.byIP[src] < l.perIP)
		if ok {
			l.total++
			l.byIP[src]++
		}
		l.mu.Unlock()
		if !ok {
			l.refused.Add(1)
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l, src: src}, nil
	}
}

// counts returns the connections open and those refused so far.
func (l *limitListener) counts() (open, refused int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(l.total), l.refused.Load()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	src  netip.Prefix
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.total--
		if c.l.byIP[c.src]--; c.l.byIP[c.src] <= 0 {
			delete(c.l.byIP, c.src)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
