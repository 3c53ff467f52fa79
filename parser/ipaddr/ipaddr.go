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
	for n := range 4 {
		if n > 0 {
			if len(b) == 0 || b[0] != '.' {
				return out, false
			}
			b = b[1:]
		}
		if len(b) == 0 || b[0]-'0' > 9 {
			return out, false
		}
		// A first digit 0 stands alone: after it comes a dot or the end,
		// never a digit (is 010 octal?).
		v, i := uint(b[0]-'0'), 1
		if v != 0 {
			for ; i < len(b) && i < 3 && b[i]-'0' <= 9; i++ {
				v = v*10 + uint(b[i]-'0')
			}
		}
		if v > 255 {
			return out, false
		}
		out[n] = byte(v)
		b = b[i:]
	}
	return out, len(b) == 0
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

// Canonical6 reports whether b is the text net/netip writes for the IPv6
// address a (RFC 5952: lower-case hex without leading zeros, the longest run
// of two or more zero groups, the first of equal runs, written as "::", and
// an IPv4-mapped address as ::ffff: and four octets), without a zone. It
// checks b against a in place of writing a's text and comparing.
func Canonical6(b []byte, a netip.Addr) bool {
	if !a.Is6() || a.Zone() != "" {
		return false
	}
	ip := a.As16()
	if a.Is4In6() {
		const mapped = "::ffff:"
		if len(b) < len(mapped) || string(b[:len(mapped)]) != mapped {
			return false
		}
		v4, ok := octets(b[len(mapped):])
		return ok && v4 == [4]byte(ip[12:])
	}
	group := func(i int) uint { return uint(ip[2*i])<<8 | uint(ip[2*i+1]) }
	run, runLen := -1, 1 // the zero run "::" stands for; a lone zero group is written 0
	for i := 0; i < 8; {
		if group(i) != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && group(j) == 0 {
			j++
		}
		if j-i > runLen {
			run, runLen = i, j-i
		}
		i = j
	}
	for i := 0; i < 8; i++ {
		if i == run {
			if len(b) < 2 || b[0] != ':' || b[1] != ':' {
				return false
			}
			b = b[2:]
			i += runLen - 1
			continue
		}
		if i > 0 && i != run+runLen {
			if len(b) == 0 || b[0] != ':' {
				return false
			}
			b = b[1:]
		}
		v := group(i)
		shift := 12
		for shift > 0 && v>>shift == 0 {
			shift -= 4
		}
		for ; shift >= 0; shift -= 4 {
			if len(b) == 0 || b[0] != "0123456789abcdef"[v>>shift&0xf] {
				return false
			}
			b = b[1:]
		}
	}
	return len(b) == 0
}
