package charter

import (
	"net/netip"
	"strings"
	"testing"
)

// TestTerritoryCoveringEverything: a charter whose territory, with the
// members' addresses, covers every IPv4 or every IPv6 address is refused
// (it would lift every ban); one that leaves any address out is valid.
func TestTerritoryCoveringEverything(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	cases := []struct {
		name      string
		territory []netip.Prefix
		member    []netip.Prefix // the first member's addresses
		want      string         // in the error; "" = valid
	}{
		{"ipv4 whole", pfx("0.0.0.0/0"), nil, "covers every address of 0.0.0.0/0"},
		{"ipv6 whole", pfx("::/0"), nil, "covers every address of ::/0"},
		{"both", pfx("0.0.0.0/0", "::/0"), nil, "lifts every ban"},
		{"two halves", pfx("0.0.0.0/1", "128.0.0.0/1"), nil, "0.0.0.0/0"},
		{"halves with the member's", pfx("0.0.0.0/1"), pfx("128.0.0.0/1"), "0.0.0.0/0"},
		{"with the built-in ranges", pfx("1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "240.0.0.0/4"), nil, "0.0.0.0/0"},
		{"ipv6 halves", pfx("::/1", "8000::/1"), nil, "::/0"},
		{"half", pfx("0.0.0.0/1"), nil, ""},
		{"all but one address", pfx("0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5", "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8",
			"255.0.0.0/9", "255.128.0.0/10", "255.192.0.0/11", "255.224.0.0/12", "255.240.0.0/13", "255.248.0.0/14", "255.252.0.0/15", "255.254.0.0/16",
			"255.255.0.0/17", "255.255.128.0/18", "255.255.192.0/19", "255.255.224.0/20", "255.255.240.0/21", "255.255.248.0/22", "255.255.252.0/23", "255.255.254.0/24",
			"255.255.255.0/25", "255.255.255.128/26", "255.255.255.192/27", "255.255.255.224/28", "255.255.255.240/29", "255.255.255.248/30", "255.255.255.252/31"), nil, ""},
		{"ipv4-mapped /96 is not ipv6", pfx("::ffff:0:0/96"), nil, "IPv4-mapped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := three(t)
			c.Territory = tc.territory
			c.Members[0].Addresses = tc.member
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("valid; want an error mentioning %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q; want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestParseRefusesWholeTerritory: the rule holds for a charter read from
// a file, as a member loads it.
func TestParseRefusesWholeTerritory(t *testing.T) {
	c := three(t)
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "198.51.100.0/24", "0.0.0.0/0", 1))
	if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "lifts every ban") {
		t.Fatalf("Parse: %v; want the territory refused", err)
	}
}

// BenchmarkTerritoryCover: the check over the largest territory allowed.
func BenchmarkTerritoryCover(b *testing.B) {
	c := three(b)
	c.Territory = nil
	for i := range MaxTerritory {
		c.Territory = append(c.Territory, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	for b.Loop() {
		if err := checkTerritoryCover(&c); err != nil {
			b.Fatal(err)
		}
	}
}
