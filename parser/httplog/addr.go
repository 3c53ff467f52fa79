package httplog

import (
	"bytes"
	"net/netip"

	"phalanx/parser/ipaddr"
)

// Bounds on the work one forwarded field can cause.
const (
	// maxHops is how many trusted hops of X-Forwarded-For are walked before
	// the chain counts as unreadable.
	maxHops = 32
	// maxElem is the longest element of X-Forwarded-For read; "[IPv6]:port"
	// takes at most 53 bytes.
	maxElem = 64
)

// resolveClient sets r.Client from r.Peer and r.Forwarded (see Request.Client
// and the package doc): an untrusted peer stands for itself; a trusted peer's
// forwarded field is walked from the right past trusted hops to the first
// untrusted address, or to the leftmost if every hop is trusted. A trusted
// peer without a readable forwarded field leaves Client invalid.
func resolveClient(r *Request, trusted func(netip.Addr) bool) {
	if !r.Peer.IsValid() {
		return
	}
	if trusted == nil || !trusted(r.Peer) {
		r.Client = r.Peer
		return
	}
	r.Client = walkForwarded(r.Forwarded, trusted)
}

// walkForwarded walks a forwarded list from the right; it returns the zero
// Addr when an element it needs cannot be read or the trusted hops exceed
// maxHops.
func walkForwarded(s []byte, trusted func(netip.Addr) bool) netip.Addr {
	if len(s) == 0 {
		return netip.Addr{}
	}
	for hops := 0; ; hops++ {
		if hops > maxHops {
			return netip.Addr{}
		}
		// The last element follows the last comma; look for that comma only
		// as far back as an element can be long, so that a huge field costs
		// no more than a short one.
		tail := s
		if len(tail) > maxElem+1 {
			tail = tail[len(tail)-maxElem-1:]
		}
		j := bytes.LastIndexByte(tail, ',')
		var elem []byte
		first := j < 0
		if first {
			elem, s = s, nil
		} else {
			j += len(s) - len(tail)
			elem, s = s[j+1:], s[:j]
		}
		a, ok := parseElem(elem)
		if !ok {
			return netip.Addr{}
		}
		if first || !trusted(a) {
			return a
		}
	}
}

// parseElem reads one element of a forwarded list: an IPv4 or IPv6 address,
// optionally in brackets or with a port, surrounded by optional spaces and
// tabs, maxElem bytes in all. A zone (which no proxy sends) makes it
// unreadable. The address comes back unmapped.
func parseElem(b []byte) (netip.Addr, bool) {
	if len(b) > maxElem {
		return netip.Addr{}, false
	}
	b = trimSpaceTab(b)
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := b[end+1:]; len(rest) > 0 && (rest[0] != ':' || !isPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, zoned, ok := parseIP(b[1:end])
		if !ok || zoned {
			return netip.Addr{}, false
		}
		return a, true
	}
	if c := bytes.IndexByte(b, ':'); c >= 0 && bytes.IndexByte(b[c+1:], ':') < 0 {
		// One colon: IPv4 with a port.
		if !isPort(b[c+1:]) {
			return netip.Addr{}, false
		}
		a, ok := ipaddr.IPv4(b[:c])
		return a, ok
	}
	a, zoned, ok := parseIP(b)
	if !ok || zoned {
		return netip.Addr{}, false
	}
	return a, true
}

// parsePeer reads the address of the connecting peer written bare (nginx's
// $remote_addr, Caddy's remote_ip). A zone is dropped: the connection was
// real, the zone only names the interface.
func parsePeer(b []byte) (netip.Addr, bool) {
	a, _, ok := parseIP(b)
	return a, ok
}

// parsePeerPort reads "ADDR:PORT" as HAProxy, Apache 2.4 and Go servers write
// a peer: IPv4:port, [IPv6]:port, or IPv6:port without brackets (the port
// is always there, so the last colon separates it).
func parsePeerPort(b []byte) (netip.Addr, bool) {
	if len(b) > 0 && b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || end+1 >= len(b) || b[end+1] != ':' || !isPort(b[end+2:]) {
			return netip.Addr{}, false
		}
		return parsePeer(b[1:end])
	}
	c := bytes.LastIndexByte(b, ':')
	if c < 0 || !isPort(b[c+1:]) {
		return netip.Addr{}, false
	}
	return parsePeer(b[:c])
}

// isPort accepts 1 to 5 decimal digits up to 65535.
func isPort(b []byte) bool {
	if len(b) == 0 || len(b) > 5 {
		return false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseIP parses an IPv4 address (dotted decimal, no leading zeros: is
// 010.1.1.1 octal?) or an IPv6 address (hex groups in either case, at most
// one "::", an optional trailing dotted IPv4 part, an optional %zone). It
// never resolves names. zoned reports a zone, which the result does not
// carry; an IPv4-mapped IPv6 address comes back as IPv4.
func parseIP(b []byte) (a netip.Addr, zoned, ok bool) {
	if len(b) == 0 || len(b) > ipaddr.MaxText {
		return netip.Addr{}, false, false
	}
	if bytes.IndexByte(b, ':') < 0 {
		a, ok = ipaddr.IPv4(b)
		return a, false, ok
	}
	if i := bytes.IndexByte(b, '%'); i >= 0 {
		if !ipaddr.ValidZone(b[i+1:]) {
			return netip.Addr{}, false, false
		}
		b, zoned = b[:i], true
	}
	a, ok = ipaddr.IPv6(b)
	if !ok {
		return netip.Addr{}, false, false
	}
	return a.Unmap(), zoned, true
}
