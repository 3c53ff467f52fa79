package sshd

import (
	"bytes"
	"net/netip"

	"phalanx"
)

// maxAddrText bounds the text of an address with its zone; sshd writes at most
// 45 bytes for an address, and a zone is an interface name.
const maxAddrText = 64

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
	if len(b) == 0 || len(b) > maxAddrText {
		return netip.Addr{}, false
	}
	if i := bytes.IndexByte(b, '%'); i >= 0 {
		// Only IPv6 addresses have zones.
		if !validZone(b[i+1:]) || bytes.IndexByte(b[:i], ':') < 0 {
			return netip.Addr{}, false
		}
		b = b[:i]
	}
	var a netip.Addr
	var ok bool
	if bytes.IndexByte(b, ':') >= 0 {
		a, ok = parseIPv6(b)
	} else {
		var v4 [4]byte
		if v4, ok = parseIPv4(b); ok {
			a = netip.AddrFrom4(v4)
		}
	}
	if !ok {
		return netip.Addr{}, false
	}
	var buf [maxAddrText]byte
	if !bytes.Equal(a.AppendTo(buf[:0]), b) {
		return netip.Addr{}, false
	}
	return phalanx.Normalize(a), true
}

// validZone accepts an interface name: 1-32 bytes of letters, digits and
// ".-_" (what Linux allows, and a little more).
func validZone(z []byte) bool {
	if len(z) == 0 || len(z) > 32 {
		return false
	}
	for _, c := range z {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseIPv4 parses four decimal octets; the canonical check in parseAddr
// rejects leading zeros.
func parseIPv4(b []byte) ([4]byte, bool) {
	var out [4]byte
	n, digits, val := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			val = val*10 + int(c-'0')
			digits++
			if digits > 3 || val > 255 {
				return out, false
			}
		case c == '.':
			if digits == 0 || n == 3 {
				return out, false
			}
			out[n] = byte(val)
			n, digits, val = n+1, 0, 0
		default:
			return out, false
		}
	}
	if digits == 0 || n != 3 {
		return out, false
	}
	out[3] = byte(val)
	return out, true
}

// parseIPv6 parses colon-hex groups with at most one "::" and an optional
// trailing dotted IPv4 part.
func parseIPv6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			c := s[off]
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c - '0')
			case c >= 'a' && c <= 'f':
				d = int(c-'a') + 10
			case c >= 'A' && c <= 'F':
				d = int(c-'A') + 10
			default:
				goto done
			}
			if off >= 4 {
				return netip.Addr{}, false
			}
			acc = acc<<4 | d
		}
	done:
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = s[len(s):]
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

// ParseAddr is parseAddr for other parsers of logs that write addresses the
// same way (such as package dropbear): canonical IPv4 or IPv6 text with an
// optional %zone, never a name; the result is phalanx.Normalize'd.
func ParseAddr(b []byte) (netip.Addr, bool) { return parseAddr(b) }
