// Package netfilter recognises port probes in the kernel's netfilter LOG
// lines (iptables or nftables "log" rules, ufw's "[UFW BLOCK]") and turns
// each into a phalanx.Event of kind port-probe that names the packet's
// source address and, in Event.Path, its protocol and destination port
// ("tcp/23", "udp/161"): the tcp-scan scenario counts distinct ports per
// source.
//
// Which packets count: an incoming one (IN= names an interface), TCP with
// SYN set and ACK clear (a connection attempt, not a late reply to one of
// this host's own connections) or UDP, with a destination port; lines whose
// log prefix says the packet was let through (ufw's "[UFW ALLOW]" and
// "[UFW AUDIT]", any prefix holding "ACCEPT" or "ALLOW") do not count. The
// fields are the kernel's own text; only the first SRC=, PROTO= and DPT=
// after IN= are read, so the quoted header of an ICMP error ("[SRC=... ]")
// is never taken for the packet.
//
// A source address in a packet can be forged. A SYN with a forged source
// gets no answer, so a scan from a forged address teaches its sender
// nothing; still, an operator who logs packets that anyone can forge (UDP)
// should know that this scenario can be aimed at a victim. Territory
// (members, infrastructure) is never banned whatever the scenario says.
//
// The package must not resolve names, use regular expressions or allocate
// per line, except the first time a parser meets a protocol and port that
// its small cache of port names (1024 entries) does not hold.
package netfilter

import (
	"bytes"
	"net/netip"
	"strconv"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/ipaddr"
)

// maxMessage bounds the messages examined: a LOG line with MAC and IP
// options stays well under 1 KiB.
const maxMessage = 2048

// cacheSize is the number of protocol/port names a parser keeps.
const cacheSize = 1024

type portName struct {
	key uint32 // 1<<24 | proto<<16 | port; 0 when free
	s   string
}

// Parser recognises netfilter LOG lines. It is not safe for concurrent use.
type Parser struct {
	names [cacheSize]portName
}

// New returns a parser.
func New() *Parser { return &Parser{} }

// IsProgram reports whether a syslog program name (or journal identifier)
// is the kernel's.
func IsProgram(prog []byte) bool { return string(prog) == "kernel" }

// Parse examines one kernel line. When it is a counted probe it fills
// ev.Kind, ev.Source and ev.Path, leaves the other fields alone and returns
// true; otherwise it leaves ev alone and returns false.
func (p *Parser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	msg := fr.Message
	if len(msg) > maxMessage || len(msg) < 24 {
		return false
	}
	in := fieldStart(msg, "IN=")
	if in < 0 {
		return false
	}
	prefix := msg[:in]
	if bytes.Contains(prefix, []byte("ALLOW")) || bytes.Contains(prefix, []byte("ACCEPT")) || bytes.Contains(prefix, []byte("AUDIT")) {
		return false
	}
	var (
		iface, src, proto, dpt []byte
		syn, ack               bool
		seen                   uint8
	)
	rest := msg[in:]
	for len(rest) > 0 {
		sp := bytes.IndexByte(rest, ' ')
		tok := rest
		if sp >= 0 {
			tok, rest = rest[:sp], rest[sp+1:]
		} else {
			rest = nil
		}
		if len(tok) == 0 {
			continue
		}
		if tok[0] == '[' {
			break // the quoted packet of an ICMP error
		}
		k, v, ok := bytes.Cut(tok, []byte("="))
		if !ok {
			switch string(tok) {
			case "SYN":
				syn = true
			case "ACK":
				ack = true
			}
			continue
		}
		var bit uint8
		var dst *[]byte
		switch string(k) {
		case "IN":
			bit, dst = 1, &iface
		case "SRC":
			bit, dst = 2, &src
		case "PROTO":
			bit, dst = 4, &proto
		case "DPT":
			bit, dst = 8, &dpt
		default:
			continue
		}
		if seen&bit != 0 {
			continue // only the first of each
		}
		seen |= bit
		*dst = v
	}
	if len(iface) == 0 || len(iface) > 16 || bytes.IndexByte(iface, '=') >= 0 || len(src) == 0 || len(dpt) == 0 || len(dpt) > 5 {
		return false
	}
	var udp bool
	switch string(proto) {
	case "TCP":
		if !syn || ack {
			return false
		}
	case "UDP":
		udp = true
	default:
		return false
	}
	port := 0
	for _, c := range dpt {
		if c < '0' || c > '9' {
			return false
		}
		port = port*10 + int(c-'0')
	}
	if port > 65535 {
		return false
	}
	addr, ok := parseAddr(src)
	if !ok {
		return false
	}
	ev.Kind, ev.Source, ev.Path = phalanx.KindPortProbe, addr, p.portPath(udp, port)
	return true
}

// Next reports a further event of the line last given to Parse: a LOG line
// yields at most one, so it always returns false.
func (p *Parser) Next(ev *phalanx.Event) bool { return false }

// fieldStart returns where key starts as a field of msg (at its start or
// after a space or ']'), or -1.
func fieldStart(msg []byte, key string) int {
	off := 0
	for {
		i := bytes.Index(msg[off:], []byte(key))
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || msg[i-1] == ' ' || msg[i-1] == ']' {
			return i
		}
		off = i + 1
	}
}

// parseAddr reads the kernel's address text: dotted IPv4, or IPv6 as the
// kernel writes it (eight groups of four hex digits) or in canonical form.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > ipaddr.MaxText {
		return netip.Addr{}, false
	}
	if bytes.IndexByte(b, ':') >= 0 {
		a, ok := ipaddr.IPv6(b)
		return phalanx.Normalize(a), ok
	}
	return ipaddr.IPv4(b)
}

// portPath names a protocol and port, from the cache when it can.
func (p *Parser) portPath(udp bool, port int) string {
	key := uint32(1<<24 | port)
	if udp {
		key |= 1 << 16
	}
	e := &p.names[(uint32(port)*2654435761>>16^key>>16)%cacheSize]
	if e.key == key {
		return e.s
	}
	s := "tcp/" + strconv.Itoa(port)
	if udp {
		s = "udp/" + strconv.Itoa(port)
	}
	*e = portName{key: key, s: s}
	return s
}
