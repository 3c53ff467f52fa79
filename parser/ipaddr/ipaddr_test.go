package ipaddr

import (
	"net/netip"
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
