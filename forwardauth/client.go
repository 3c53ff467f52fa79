package forwardauth

import (
	"net/http"
	"net/netip"
	"strings"
)

// Bounds on the work a request's address headers can cause.
const (
	// maxHops is how many trusted X-Forwarded-For hops are walked before
	// the chain counts as hostile.
	maxHops = 32
	// maxElem is the longest address element read; "[IPv6]:port" takes at
	// most 53 bytes.
	maxElem = 64
	// maxRealIP is how many X-Real-IP lines are read; more than one already
	// counts as a bad header.
	maxRealIP = 2
)

// Canonical header keys, for direct map access without allocating.
const (
	headerForwardedFor = "X-Forwarded-For"
	headerRealIP       = "X-Real-Ip"
)

// candidates are the addresses a request may stand for; the request is
// denied if any of them is banned. The array is large enough for every
// address collect can add (two X-Real-IP lines, each with a salvaged zoned
// address, the peer, and X-Forwarded-For's client with a salvaged address).
type candidates struct {
	addrs [8]netip.Addr
	n     int
	bad   bool // a header from a trusted proxy could not be used as sent
}

func (c *candidates) add(a netip.Addr) {
	for _, b := range c.addrs[:c.n] {
		if a == b {
			return
		}
	}
	if c.n < len(c.addrs) {
		c.addrs[c.n] = a
		c.n++
	}
}

// collect gathers the addresses r stands for.
//
// A peer that is not a trusted proxy stands for itself: its headers are not
// read. A trusted proxy's X-Real-IP (each line) and X-Forwarded-For (walked
// from the right past trusted hops to the first untrusted address) each add
// the address they name; a header that cannot be read adds the last address
// that can be believed instead (the peer, or the last trusted hop), and the
// address inside it when it was only spoiled by an IPv6 zone. A trusted
// proxy that sends neither header stands for itself. IPv4-mapped IPv6
// addresses are unmapped everywhere.
func (h *Handler) collect(r *http.Request, c *candidates) {
	peer, ok := parsePeer(r.RemoteAddr)
	if !ok {
		return
	}
	if !h.isTrusted(peer) {
		c.add(peer)
		return
	}
	xri := r.Header[headerRealIP]
	xff := r.Header[headerForwardedFor]
	if len(xri) == 0 && len(xff) == 0 {
		c.bad = true
		c.add(peer)
		return
	}
	if len(xri) > 1 {
		c.bad = true
		c.add(peer)
	}
	for _, v := range xri[:min(len(xri), maxRealIP)] {
		a, ok := parseElem(v)
		if !ok {
			c.bad = true
			c.add(peer)
			if a.IsValid() {
				c.add(a)
			}
			continue
		}
		c.add(a)
	}
	if len(xff) > 0 {
		h.walkForwarded(xff, peer, c)
	}
}

// walkForwarded walks X-Forwarded-For's lines (one list, in order) from the
// right, starting at hop, the trusted peer. It adds the first address that
// is not a trusted proxy: the client as the nearest proxy saw it.
func (h *Handler) walkForwarded(lines []string, hop netip.Addr, c *candidates) {
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		for {
			// The last element follows the last comma. Look for that comma
			// only as far back as an element can be long, so that a huge
			// header costs no more than a short one.
			tail := s
			if len(tail) > maxElem+1 {
				tail = tail[len(tail)-maxElem-1:]
			}
			j := strings.LastIndexByte(tail, ',')
			first := j < 0
			var elem string
			if first {
				elem, s = s, ""
			} else {
				j += len(s) - len(tail)
				elem, s = s[j+1:], s[:j]
			}
			a, ok := parseElem(elem)
			switch {
			case !ok:
				c.bad = true
				c.add(hop)
				if a.IsValid() {
					c.add(a)
				}
				return
			case !h.isTrusted(a):
				c.add(a)
				return
			}
			hop = a
			if hops++; hops > maxHops {
				c.bad = true
				c.add(hop)
				return
			}
			if first {
				break
			}
		}
	}
	// Every hop is a trusted proxy: the request began at the leftmost.
	c.add(hop)
}

func (h *Handler) isTrusted(a netip.Addr) bool {
	for _, p := range h.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePeer reads r.RemoteAddr ("host:port", or a bare address as some
// servers set it). The zone of a link-local peer is dropped: the connection
// is real, the zone only names the interface.
func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	return netip.Addr{}, false
}

// parseElem reads one address of X-Forwarded-For or X-Real-IP: an IPv4 or
// IPv6 address, optionally in brackets or with a port (as some proxies
// write them), surrounded by optional spaces and tabs, maxElem bytes in all.
// IPv4-mapped addresses
// come back as IPv4. It reports false for anything else; for an address
// spoiled only by an IPv6 zone, which no proxy sends, it also returns the
// address without its zone, which the caller checks too.
func parseElem(s string) (netip.Addr, bool) {
	if len(s) > maxElem {
		return netip.Addr{}, false
	}
	s = strings.Trim(s, " \t")
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			a = ap.Addr()
		} else if n := len(s); n > 2 && s[0] == '[' && s[n-1] == ']' {
			if a, err = netip.ParseAddr(s[1 : n-1]); err != nil {
				return netip.Addr{}, false
			}
		} else {
			return netip.Addr{}, false
		}
	}
	if a.Zone() != "" {
		return a.WithZone("").Unmap(), false
	}
	return a.Unmap(), true
}
