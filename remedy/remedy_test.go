package remedy

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"phalanx"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustNew(t *testing.T, c Config) *Policy {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func alert(src string) phalanx.Alert {
	pfx := netip.MustParsePrefix(src)
	return phalanx.Alert{Scenario: "ssh-bf", Source: pfx, Addr: pfx.Addr(), First: t0, Last: t0, Count: 6, Evidence: []int64{1, 2, 3, 4, 5, 6}}
}

func TestDecision(t *testing.T) {
	p := mustNew(t, DefaultConfig())
	d, err := p.Decide(alert("192.0.2.1/32"), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := phalanx.Decision{Origin: phalanx.OriginSelf, Type: "ban", Value: netip.MustParsePrefix("192.0.2.1/32"), Scenario: "ssh-bf", Start: t0, Until: t0.Add(4 * time.Hour)}
	if d.Origin != want.Origin || d.Type != want.Type || d.Value != want.Value || d.Scenario != want.Scenario || !d.Start.Equal(want.Start) || !d.Until.Equal(want.Until) {
		t.Errorf("decision %+v, want %+v", d, want)
	}
	if d.Scope() != "Ip" || !strings.Contains(d.Reason, "ssh-bf") {
		t.Errorf("scope %q reason %q", d.Scope(), d.Reason)
	}
	// An IPv6 /64 is a Range decision; a mapped /128 becomes an IPv4 /32.
	d, err = p.Decide(alert("2001:db8:1:2::/64"), t0)
	if err != nil || d.Value.String() != "2001:db8:1:2::/64" || d.Scope() != "Range" {
		t.Errorf("IPv6 range: %+v, %v", d, err)
	}
	d, err = p.Decide(alert("::ffff:198.51.100.7/128"), t0)
	if err != nil || d.Value.String() != "198.51.100.7/32" {
		t.Errorf("mapped: %+v, %v", d, err)
	}
	// Host bits in the alert's range are masked.
	a := alert("2001:db8:9:9::5/64")
	d, err = p.Decide(a, t0)
	if err != nil || d.Value.String() != "2001:db8:9:9::/64" {
		t.Errorf("unmasked range: %+v, %v", d, err)
	}
	if _, err := p.Decide(phalanx.Alert{Scenario: "x"}, t0); err == nil || errors.Is(err, ErrTerritory) {
		t.Errorf("alert without source: %v, want a plain error", err)
	}
}

func TestEscalation(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name string
		cfg  func(c *Config)
		bans []time.Duration // offsets of successive alerts for the same value
		want []time.Duration // the durations decided
	}{
		{"doubling to the cap", nil,
			[]time.Duration{0, 5 * h, 14 * h, 31 * h, 64 * h, 129 * h, 130 * h, 131 * h},
			[]time.Duration{4 * h, 8 * h, 16 * h, 32 * h, 64 * h, 128 * h, 168 * h, 168 * h}},
		// Bans older than the window no longer count: the third alert at
		// 168h sees only the one at 1h.
		{"window expiry", nil,
			[]time.Duration{0, h, 168 * h, 400 * h},
			[]time.Duration{4 * h, 8 * h, 8 * h, 4 * h}},
		{"exactly at the window edge the ban is forgotten", nil,
			[]time.Duration{0, 168 * h},
			[]time.Duration{4 * h, 4 * h}},
		{"just inside the window it counts", nil,
			[]time.Duration{0, 168*h - time.Nanosecond},
			[]time.Duration{4 * h, 8 * h}},
		{"no escalation with a zero window", func(c *Config) { c.EscalationWindow = 0 },
			[]time.Duration{0, h, 2 * h},
			[]time.Duration{4 * h, 4 * h, 4 * h}},
		{"cap equal to the base", func(c *Config) { c.MaxDuration = 4 * h },
			[]time.Duration{0, h, 2 * h},
			[]time.Duration{4 * h, 4 * h, 4 * h}},
		{"cap not a power of two", func(c *Config) { c.Duration = 10 * time.Minute; c.MaxDuration = 25 * time.Minute },
			[]time.Duration{0, h, 2 * h, 3 * h},
			[]time.Duration{10 * time.Minute, 20 * time.Minute, 25 * time.Minute, 25 * time.Minute}},
		{"many repeats do not overflow", func(c *Config) { c.Duration = time.Second; c.MaxDuration = 87600 * h; c.EscalationWindow = 87600 * h },
			append(make([]time.Duration, 99), time.Minute),
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			p := mustNew(t, c)
			var got []time.Duration
			for _, off := range tt.bans {
				d, err := p.Decide(alert("203.0.113.9/32"), t0.Add(off))
				if err != nil {
					t.Fatal(err)
				}
				if !d.Start.Equal(t0.Add(off)) {
					t.Errorf("Start %v, want now %v", d.Start, t0.Add(off))
				}
				got = append(got, d.Duration())
				if d.Duration() <= 0 || d.Duration() > c.MaxDuration {
					t.Fatalf("duration %v outside (0, %v]", d.Duration(), c.MaxDuration)
				}
			}
			if tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("durations %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEscalationIsPerValue(t *testing.T) {
	p := mustNew(t, DefaultConfig())
	for _, v := range []string{"192.0.2.1/32", "192.0.2.1/32", "192.0.2.2/32", "2001:db8::/64", "2001:db8::/64", "2001:db8:0:1::/64"} {
		p.Decide(alert(v), t0)
	}
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{
		{"192.0.2.1/32", 16 * time.Hour},
		{"192.0.2.2/32", 8 * time.Hour},
		{"192.0.2.3/32", 4 * time.Hour},
		{"2001:db8::/64", 16 * time.Hour},
		{"2001:db8:0:1::/64", 8 * time.Hour},
		{"2001:db8::1/128", 4 * time.Hour}, // a different value from its /64
	} {
		v, want := tt.value, tt.want
		d, err := p.Decide(alert(v), t0.Add(time.Hour))
		if err != nil || d.Duration() != want {
			t.Errorf("%s: %v, %v; want %v", v, d.Duration(), err, want)
		}
	}
}

func TestHistoryBound(t *testing.T) {
	c := DefaultConfig()
	c.MaxHistory = 3
	p := mustNew(t, c)
	// Four different values: the first is forgotten to make room.
	for _, v := range []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32"} {
		p.Decide(alert(v), t0)
	}
	if p.n != 3 || len(p.hist) > 3 || len(p.counts) != 3 {
		t.Fatalf("remembering %d bans (ring %d, %d values), want 3", p.n, len(p.hist), len(p.counts))
	}
	// 192.0.2.1 was forgotten; deciding it again forgets 192.0.2.2, the
	// oldest; 192.0.2.4 is still remembered.
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"192.0.2.1/32", 4 * time.Hour}, {"192.0.2.4/32", 8 * time.Hour}, {"192.0.2.2/32", 4 * time.Hour}} {
		d, _ := p.Decide(alert(tt.value), t0.Add(time.Minute))
		if d.Duration() != tt.want {
			t.Errorf("%s: %v, want %v", tt.value, d.Duration(), tt.want)
		}
	}

	// A long run of distinct values stays within the bound and the window
	// empties the memory.
	c.MaxHistory = 1000
	p = mustNew(t, c)
	for i := range 100_000 {
		a := alert(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32).String())
		p.Decide(a, t0.Add(time.Duration(i)*time.Second))
		if p.n > c.MaxHistory || len(p.hist) > c.MaxHistory || len(p.counts) > c.MaxHistory {
			t.Fatalf("after %d bans: %d remembered, ring %d, %d values", i+1, p.n, len(p.hist), len(p.counts))
		}
	}
	p.Decide(alert("192.0.2.200/32"), t0.Add(10000*time.Hour))
	if p.n != 1 || len(p.counts) != 1 {
		t.Errorf("after the window passed: %d remembered, %d values; want only the newest", p.n, len(p.counts))
	}
}

func TestTerritory(t *testing.T) {
	c := DefaultConfig()
	c.Allowlist = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("2001:db8:aaaa::5/128"),
		netip.MustParsePrefix("2001:db8:bbbb::/48"),
		netip.MustParsePrefix("::ffff:203.0.113.7/128"), // mapped: means 203.0.113.7
	}
	p := mustNew(t, c)
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"::ffff:224.0.0.5", true},
		{"198.51.100.77", true},
		{"::ffff:198.51.100.77", true},
		{"2001:db8:aaaa::5", true},
		{"2001:db8:aaaa::5%eth0", true},
		{"2001:db8:bbbb:1::9", true},
		{"203.0.113.7", true},
		{"203.0.113.8", false},
		{"198.51.101.1", false},
		{"2001:db8:aaaa::6", false},
		{"192.0.2.1", false},
		{"10.0.0.1", false},
		{"fe80::1", false},
		{"128.0.0.1", false},
	}
	for _, tt := range tests {
		if got := p.IsTerritory(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("IsTerritory(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if p.IsTerritory(netip.Addr{}) {
		t.Error("the zero Addr is territory")
	}
}

func TestDecideTerritory(t *testing.T) {
	c := DefaultConfig()
	c.Allowlist = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("2001:db8:aaaa::5/128"),
		netip.MustParsePrefix("2001:db8:bbbb::/48"),
	}
	tests := []struct {
		name   string
		source string
		addr   string // "" = the alert does not know it
		want   string // decided value, or "refuse"
		reason string // fragment of the refusal or of the decision's reason
	}{
		{"loopback v4", "127.0.0.1/32", "127.0.0.1", "refuse", "loopback territory"},
		{"loopback v6", "::1/128", "::1", "refuse", "loopback"},
		{"mapped loopback", "::ffff:127.0.0.1/128", "", "refuse", "loopback"},
		{"unspecified", "0.0.0.0/32", "", "refuse", "unspecified"},
		{"multicast", "239.1.2.3/32", "", "refuse", "multicast"},
		{"allowlisted address", "198.51.100.9/32", "198.51.100.9", "refuse", "allowlist 198.51.100.0/24"},
		{"mapped allowlisted address", "::ffff:198.51.100.9/128", "", "refuse", "allowlist"},
		{"/64 around an allowlisted address, offender known", "2001:db8:aaaa::/64", "2001:db8:aaaa::66", "2001:db8:aaaa::66/128", "narrowed from 2001:db8:aaaa::/64"},
		{"/64 around an allowlisted address, offender unknown", "2001:db8:aaaa::/64", "", "refuse", "names no address"},
		{"/64 around an allowlisted address, offender outside", "2001:db8:aaaa::/64", "2001:db8:cccc::1", "refuse", "names no address"},
		{"/64 around an allowlisted address, offender is it", "2001:db8:aaaa::/64", "2001:db8:aaaa::5", "refuse", "2001:db8:aaaa::5/128"},
		{"/64 inside an allowlisted /48", "2001:db8:bbbb:7::/64", "2001:db8:bbbb:7::1", "refuse", "allowlist 2001:db8:bbbb::/48"},
		{"/64 holding ::1", "::/64", "::2", "::2/128", "narrowed"},
		{"/64 outside territory", "2001:db8:cccc::/64", "2001:db8:cccc::1", "2001:db8:cccc::/64", "ssh-bf"},
		{"neighbour of the allowlist", "198.51.101.1/32", "198.51.101.1", "198.51.101.1/32", "ssh-bf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, c)
			a := alert(tt.source)
			a.Addr = netip.Addr{}
			if tt.addr != "" {
				a.Addr = netip.MustParseAddr(tt.addr)
			}
			d, err := p.Decide(a, t0)
			if tt.want == "refuse" {
				if !errors.Is(err, ErrTerritory) {
					t.Fatalf("got %+v, %v; want a refusal wrapping ErrTerritory", d, err)
				}
				if !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("refusal %q does not say %q", err, tt.reason)
				}
				if p.n != 0 {
					t.Error("a refusal was remembered as a ban")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v; want %s", err, tt.want)
			}
			if d.Value.String() != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("decided %s (%q), want %s with reason containing %q", d.Value, d.Reason, tt.want, tt.reason)
			}
			// Whatever is decided never covers territory.
			if p.territory.OverlapsPrefix(d.Value) {
				t.Errorf("decision %s overlaps territory", d.Value)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"zero duration", func(c *Config) { c.Duration = 0 }, "duration 0s is out of range"},
		{"max below duration", func(c *Config) { c.MaxDuration = time.Hour }, "max_duration 1h0m0s is shorter than duration 4h0m0s"},
		{"negative window", func(c *Config) { c.EscalationWindow = -time.Hour }, "escalation_window -1h0m0s"},
		{"no history", func(c *Config) { c.MaxHistory = 0 }, "max_history 0"},
		{"host bits", func(c *Config) { c.Allowlist = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")} }, "write 10.0.0.0/8 for the range, or 10.0.0.1/32"},
		{"invalid prefix", func(c *Config) { c.Allowlist = []netip.Prefix{{}} }, "allowlist[0]: not a valid prefix"},
		{"absurd duration", func(c *Config) { c.Duration = 1 << 62; c.MaxDuration = 1 << 62 }, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// TestYAML decodes the section strictly over the defaults, as the config
// package does.
func TestYAML(t *testing.T) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte("duration: 1h\nallowlist: [192.0.2.0/24, \"2001:db8::1/128\"]\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Duration != time.Hour || c.MaxDuration != 168*time.Hour || len(c.Allowlist) != 2 || c.Allowlist[1].String() != "2001:db8::1/128" {
		t.Fatalf("decoded %+v", c)
	}
	p := mustNew(t, c)
	if !p.IsTerritory(netip.MustParseAddr("192.0.2.9")) {
		t.Error("decoded allowlist not applied")
	}
	dec = yaml.NewDecoder(bytes.NewReader([]byte("allowlist: [not-an-ip]\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Error("a bad allowlist entry decoded")
	}
}

func BenchmarkIsTerritory(b *testing.B) {
	c := DefaultConfig()
	for i := range 10_000 {
		c.Allowlist = append(c.Allowlist, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24))
	}
	p, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("100.1.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.1.1.1")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.IsTerritory(addrs[i%len(addrs)])
		i++
	}
}

// TestDecisionReasonText: the reason reads as it always did, in each of its
// parts (the scenario and source, a detail, escalation, narrowing).
func TestDecisionReasonText(t *testing.T) {
	c := DefaultConfig()
	c.Allowlist = []netip.Prefix{netip.MustParsePrefix("2001:db8:aaaa::5/128")}
	p := mustNew(t, c)

	a := alert("203.0.113.7/32")
	d, err := p.Decide(a, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s fired for %s (count %d)", a.Scenario, a.Source, a.Count); d.Reason != want {
		t.Errorf("first ban: %q, want %q", d.Reason, want)
	}

	a.Detail = "CVE-2021-44228 log4shell"
	a.Count = 1
	d, err = p.Decide(a, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s fired for %s (count %d): %s; %d earlier ban(s) within %v", a.Scenario, a.Source, a.Count, a.Detail, 1, c.EscalationWindow); d.Reason != want {
		t.Errorf("second ban: %q, want %q", d.Reason, want)
	}

	n := alert("2001:db8:aaaa::/64")
	n.Addr = netip.MustParseAddr("2001:db8:aaaa::66")
	d, err = p.Decide(n, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s fired for %s (count %d); narrowed from %s to the offending address because the range overlaps territory", n.Scenario, n.Source, n.Count, n.Source); d.Reason != want {
		t.Errorf("narrowed ban: %q, want %q", d.Reason, want)
	}
}
