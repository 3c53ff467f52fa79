package sshd

import (
	"bytes"
	"net/netip"

	"phalanx"
	"phalanx/parser/ipaddr"
)

// parseAddr parses b as an IPv4 or IPv6 address written the way sshd writes
// one: the canonical text of RFC 5952 (lower-case hex, longest run of zero
// groups shortened, dotted IPv4 inside ::ffff:), optionally with a %zone. It
// never resolves names: a host name, an address with leading zeros (is
// 010.1.1.1 octal?), brackets or a port yield false. The result is
// phalanx.Normalize'd: IPv4-mapped IPv6 becomes IPv4 and the zone is dropped.
//
// Requiring the canonical text is what lets callers, and the fuzz test, check
// that an event's source appears verbatim in the line that blamed it.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > ipaddr.MaxText {
		return netip.Addr{}, false
	}
	if i := bytes.IndexByte(b, '%'); i >= 0 {
		// Only IPv6 addresses have zones.
		if !ipaddr.ValidZone(b[i+1:]) || bytes.IndexByte(b[:i], ':') < 0 {
			return netip.Addr{}, false
		}
		b = b[:i]
	}
	if bytes.IndexByte(b, ':') < 0 {
		// ipaddr.IPv4 takes only canonical text (four octets, no
		// leading zeros), so no round trip is needed.
		a, ok := ipaddr.IPv4(b)
		return a, ok
	}
	a, ok := ipaddr.IPv6(b)
	if !ok {
		return netip.Addr{}, false
	}
	if !ipaddr.Canonical6(b, a) {
		return netip.Addr{}, false
	}
	return phalanx.Normalize(a), true
}

// ParseAddr is parseAddr for other parsers of logs that write addresses the
// same way (such as package dropbear): canonical IPv4 or IPv6 text with an
// optional %zone, never a name; the result is phalanx.Normalize'd.
func ParseAddr(b []byte) (netip.Addr, bool) { return parseAddr(b) }
