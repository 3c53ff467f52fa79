package ipaddr

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for not an address
	}{
		{"192.0.2.1", "192.0.2.1"},
		{"255.255.255.255", "255.255.255.255"},
		{"010.1.1.1", ""}, // octal?
		{"256.1.1.1", ""},
		{"1.2.3", ""},
		{"1.2.3.4.5", ""},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:DB8::1", "2001:db8::1"},
		{"::", "::"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"1::2::3", ""},
		{"12345::", ""},
		{"2001:db8::1%eth0", ""}, // zones are the caller's
		{"example.com", ""},
	} {
		var got netip.Addr
		var ok bool
		if strings.Contains(tc.in, ":") {
			got, ok = IPv6([]byte(tc.in))
		} else {
			got, ok = IPv4([]byte(tc.in))
		}
		if ok != (tc.want != "") || ok && got.String() != tc.want {
			t.Errorf("%q: %v %v, want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, z := range []string{"eth0", "wlp2s0", "br-1.2_x"} {
		if !ValidZone([]byte(z)) {
			t.Errorf("zone %q refused", z)
		}
	}
	for _, z := range []string{"", "a b", strings.Repeat("a", 33), "eth0%"} {
		if ValidZone([]byte(z)) {
			t.Errorf("zone %q accepted", z)
		}
	}
}

// FuzzParse checks IPv4 and IPv6 against net/netip: whatever they accept,
// netip reads as the same address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "::ffff:1.2.3.4", "1::", "0.0.0.0", "fe80::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got netip.Addr
		var ok bool
		if strings.Contains(s, ":") {
			got, ok = IPv6([]byte(s))
		} else {
			got, ok = IPv4([]byte(s))
		}
		want, err := netip.ParseAddr(s)
		if ok && (err != nil || got != want) {
			t.Fatalf("%q: %v, netip: %v %v", s, got, want, err)
		}
		if !ok && err == nil && want.Zone() == "" {
			t.Fatalf("%q refused, netip reads %v", s, want)
		}
	})
}

// FuzzCanonical6 checks Canonical6 against net/netip's own text: for any
// address IPv6 reads, Canonical6 accepts exactly the text netip writes.
func FuzzCanonical6(f *testing.F) {
	for _, s := range []string{"::", "::1", "1::", "2001:db8::1", "2001:DB8::1", "2001:db8:0:0:1::1", "2001:db8::1:0:0:1",
		"1:0:0:0:0:0:0:8", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::ffff:1.2.3.4", "::ffff:102:304", "::1.2.3.4",
		"2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1", "0:0:1::", "01::1", "fe80::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := IPv6([]byte(s))
		if !ok {
			return
		}
		if got, want := Canonical6([]byte(s), a), a.String() == s; got != want {
			t.Fatalf("Canonical6(%q, %v) = %v, netip writes %q", s, a, got, a.String())
		}
	})
}

// TestCanonical6Written: for addresses with zero groups anywhere, Canonical6
// accepts the text netip writes and accepts the fully written form (every
// group, no ::) only when netip writes it the same way.
func TestCanonical6Written(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var ip [16]byte
		for g := range 8 {
			switch r.IntN(4) {
			case 0, 1: // a zero group
			case 2:
				ip[2*g+1] = byte(r.IntN(16))
			default:
				ip[2*g], ip[2*g+1] = byte(r.UintN(256)), byte(r.UintN(256))
			}
		}
		a := netip.AddrFrom16(ip)
		s := a.String()
		if !Canonical6([]byte(s), a) {
			t.Fatalf("Canonical6 refuses %q, netip's text for %v", s, ip)
		}
		var full []byte
		for g := range 8 {
			if g > 0 {
				full = append(full, ':')
			}
			full = strconv.AppendUint(full, uint64(ip[2*g])<<8|uint64(ip[2*g+1]), 16)
		}
		if got, want := Canonical6(full, a), string(full) == s; got != want {
			t.Fatalf("Canonical6(%q) = %v; netip writes %q", full, got, s)
		}
	}
}
