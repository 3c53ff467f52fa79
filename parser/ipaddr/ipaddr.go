// Package ipaddr parses IP addresses as log lines write them, without
// allocating: the address parsers of the sshd and web-server log parsers.
// It must never resolve a name, never accept what net/netip would read
// differently, and never read past the bytes it is given.
package ipaddr

import "net/netip"

// MaxText bounds the text of an address with its zone: 45 bytes for the
// longest IPv6 address, and a zone is an interface name.
const MaxText = 64

// ValidZone accepts an interface name: 1-32 bytes of letters, digits and
// ".-_" (what Linux allows, and a little more).
func ValidZone(z []byte) bool {
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

// IPv4 parses four decimal octets without leading zeros (is 010.1.1.1
// octal?).
func IPv4(b []byte) (netip.Addr, bool) {
	v4, ok := octets(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(v4), true
}

func octets(b []byte) ([4]byte, bool) {
	var out [4]byte
	n, digits, val := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return out, false // a leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
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

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// IPv6 parses hex groups (either case) with at most one "::" (standing for at least
// one zero group) and an optional trailing dotted IPv4 part, without a zone.
// An IPv4-mapped address stays IPv6.
func IPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ell := -1 // where "::" stands, in bytes of ip
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ell, b = 0, b[2:]
	}
	for len(b) > 0 {
		if i == 16 {
			return netip.Addr{}, false
		}
		n, v := 0, 0
		for n < len(b) {
			d := hexVal(b[n])
			if d < 0 {
				break
			}
			if n == 4 {
				return netip.Addr{}, false
			}
			v = v<<4 | d
			n++
		}
		if n == 0 {
			return netip.Addr{}, false
		}
		if n < len(b) && b[n] == '.' {
			if i > 12 {
				return netip.Addr{}, false
			}
			v4, ok := octets(b)
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			b = nil
			break
		}
		ip[i], ip[i+1] = byte(v>>8), byte(v)
		i += 2
		b = b[n:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ell >= 0 {
				return netip.Addr{}, false
			}
			ell, b = i, b[1:]
		}
	}
	switch {
	case ell < 0 && i != 16:
		return netip.Addr{}, false
	case ell >= 0:
		if i == 16 {
			return netip.Addr{}, false
		}
		n := 16 - i
		copy(ip[ell+n:], ip[ell:i])
		clear(ip[ell : ell+n])
	}
	return netip.AddrFrom16(ip), true
}
