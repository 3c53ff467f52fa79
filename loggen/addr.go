package loggen

import (
	"encoding/binary"
	"net/netip"
)

// publicV4 returns a random IPv4 address outside private, shared, loopback,
// link-local, documentation, benchmarking, multicast and reserved space.
func (g *gen) publicV4() netip.Addr {
	for {
		v := g.rng.Uint32()
		b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if publicV4(b) {
			return netip.AddrFrom4(b)
		}
	}
}

func publicV4(b [4]byte) bool {
	switch {
	case b[0] == 0, b[0] == 10, b[0] == 127, b[0] >= 224:
		return false
	case b[0] == 100 && b[1]&0xc0 == 64: // 100.64.0.0/10
		return false
	case b[0] == 169 && b[1] == 254:
		return false
	case b[0] == 172 && b[1]&0xf0 == 16:
		return false
	case b[0] == 192 && b[1] == 168:
		return false
	case b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2):
		return false
	case b[0] == 198 && (b[1] == 18 || b[1] == 19):
		return false
	case b[0] == 198 && b[1] == 51 && b[2] == 100:
		return false
	case b[0] == 203 && b[1] == 0 && b[2] == 113:
		return false
	case b[3] == 0 || b[3] == 255:
		return false
	}
	return true
}

// v6Block returns the first hextet of one of the regional registries' /12
// blocks, so random addresses look like real allocations.
func v6Block(i int) uint16 { return 0x2400 + uint16(i%5)*0x200 }

// public64 returns a random /64 inside a registry block.
func (g *gen) public64() netip.Prefix {
	var b [16]byte
	hi := g.rng.Uint64()
	first := v6Block(g.rng.IntN(5)) | uint16(hi&0x0f)
	binary.BigEndian.PutUint16(b[0:], first)
	binary.BigEndian.PutUint32(b[2:], uint32(hi>>8))
	binary.BigEndian.PutUint16(b[6:], uint16(hi>>40))
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// inPrefix returns an address in the /64 p with the given interface id.
func inPrefix(p netip.Prefix, iid uint64) netip.Addr {
	b := p.Addr().As16()
	binary.BigEndian.PutUint64(b[8:], iid)
	return netip.AddrFrom16(b)
}

// randomIID returns a privacy-style interface id (never 0).
func (g *gen) randomIID() uint64 {
	for {
		if v := g.rng.Uint64(); v > 0xffff {
			return v
		}
	}
}

// freshV4 returns a public IPv4 address that is not the host's and not a
// legitimate user's.
func (g *gen) freshV4() netip.Addr {
	for {
		a := g.publicV4()
		if a != g.hostAddr && !g.isLegit(a) {
			return a
		}
	}
}

func (g *gen) isLegit(a netip.Addr) bool {
	for _, l := range g.legit {
		if l.addr == a || (a.Is6() && l.addr.Is6() && netip.PrefixFrom(l.addr, 64).Masked().Contains(a)) {
			return true
		}
	}
	return false
}
