package crawler

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for none
	}{
		{"zero value", Config{}, ""},
		{"ipv4 resolver", Config{Resolver: "127.0.0.1:5353"}, ""},
		{"ipv6 resolver", Config{Resolver: "[::1]:53"}, ""},
		{"resolver without port", Config{Resolver: "127.0.0.1"}, "ADDR:PORT"},
		{"resolver by name", Config{Resolver: "dns.example:53"}, "ADDR:PORT"},
		{"resolver port 0", Config{Resolver: "127.0.0.1:0"}, "ADDR:PORT"},
		{"negative timeout", Config{Timeout: -time.Second}, "timeout -1s is negative"},
		{"negative cache TTL", Config{CacheTTL: -time.Second}, "cache TTL"},
		{"negative failure TTL", Config{FailureTTL: -time.Second}, "failure TTL"},
		{"negative cache size", Config{CacheSize: -1}, "cache size -1"},
		{"negative max pending", Config{MaxPending: -1}, "max pending -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.cfg, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				v.Close()
				return
			}
			if err == nil {
				v.Close()
				t.Fatalf("New accepted %+v, want an error mentioning %q", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	v, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	want := Config{Timeout: DefaultTimeout, CacheTTL: DefaultCacheTTL, FailureTTL: DefaultFailureTTL,
		CacheSize: DefaultCacheSize, MaxPending: DefaultMaxPending}
	if v.cfg != want {
		t.Fatalf("config %+v, want %+v", v.cfg, want)
	}

	short, err := New(Config{CacheTTL: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if short.cfg.FailureTTL != time.Minute {
		t.Fatalf("failure TTL %v with a cache TTL of 1m, want 1m: a failure is never kept longer than a verdict", short.cfg.FailureTTL)
	}
}

func TestMatchName(t *testing.T) {
	google := []string{"googlebot.com", "google.com"}
	long := strings.Repeat("a.", 120) + "googlebot.com" // 253 bytes
	for _, tc := range []struct {
		name    string
		domains []string
		want    string // the matched name; "" for no match
	}{
		{"crawl-66-249-66-1.googlebot.com.", google, "crawl-66-249-66-1.googlebot.com"},
		{"crawl-66-249-66-1.googlebot.com", google, "crawl-66-249-66-1.googlebot.com"},
		{"rate-limited-proxy-66-249-90-77.google.com.", google, "rate-limited-proxy-66-249-90-77.google.com"},
		{"googlebot.com.", google, "googlebot.com"},
		{"CRAWL-1.GoogleBot.COM.", google, "crawl-1.googlebot.com"},
		{"x.googlebot.com.", []string{"GoogleBot.com."}, "x.googlebot.com"},
		{"x.googlebot.com.", []string{".googlebot.com"}, "x.googlebot.com"},
		{"evilgooglebot.com.", google, ""},
		{"crawl.googlebot.com.evil.example.", google, ""},
		{"googlebot.com.evil.example.", google, ""},
		{"crawl.googlebot.co.", google, ""},
		{"com.", google, ""},
		{"x.googlebot.com.", []string{""}, ""},
		{"x.googlebot.com.", []string{"."}, ""},
		{"x.googlebot.com.", nil, ""},
		{".", google, ""},
		{"", google, ""},
		{long, google, long},
		{"a." + long, google, ""},
		{"msnbot-157-55-39-1.search.msn.com.", []string{"search.msn.com"}, "msnbot-157-55-39-1.search.msn.com"},
		{"msnbot-157-55-39-1.search.msn.com.", google, ""},
	} {
		got, ok := matchName(tc.name, tc.domains)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("matchName(%q, %q) = %q, %v; want %q", tc.name, tc.domains, got, ok, tc.want)
		}
	}
}

// FuzzMatchName checks matchName, which reads names the claimant's own DNS
// zone writes, against a slower oracle: the domain's labels must be the
// name's last labels.
func FuzzMatchName(f *testing.F) {
	for _, s := range [][2]string{
		{"crawl-66-249-66-1.googlebot.com.", "googlebot.com"},
		{"evilgooglebot.com.", "googlebot.com"},
		{"googlebot.com.evil.example.", "googlebot.com"},
		{"a..googlebot.com", ".googlebot.com."},
		{"", ""},
		{".", "."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, domain string) {
		got, ok := matchName(name, []string{domain})
		n := strings.ToLower(strings.TrimSuffix(name, "."))
		d := strings.ToLower(strings.Trim(domain, "."))
		want := n != "" && d != "" && len(n) <= maxNameLen
		if want {
			nl, dl := strings.Split(n, "."), strings.Split(d, ".")
			want = len(dl) <= len(nl)
			for i := 1; want && i <= len(dl); i++ {
				want = nl[len(nl)-i] == dl[len(dl)-i]
			}
		}
		if ok != want {
			t.Fatalf("matchName(%q, %q) = %v, want %v", name, domain, ok, want)
		}
		if ok && got != n {
			t.Fatalf("matchName(%q, %q) returned %q, want %q", name, domain, got, n)
		}
	})
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Unknown: "unknown", Verified: "verified", Fake: "fake", 9: "verdict(9)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", uint8(v), got, want)
		}
	}
}

// Nothing to ask: no lookup starts, and the answer is Unknown.
func TestNothingToAsk(t *testing.T) {
	v, err := New(Config{Resolver: "127.0.0.1:9"}, nil) // never asked
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	addr := netip.MustParseAddr("66.249.66.1")
	for _, tc := range []struct {
		name    string
		addr    netip.Addr
		domains []string
	}{
		{"invalid address", netip.Addr{}, []string{"googlebot.com"}},
		{"no domains", addr, nil},
	} {
		if got := v.Check(tc.addr, tc.domains); got != Unknown {
			t.Errorf("%s: Check = %v, want Unknown", tc.name, got)
		}
		if got := v.Verify(context.Background(), tc.addr, tc.domains); got != Unknown {
			t.Errorf("%s: Verify = %v, want Unknown", tc.name, got)
		}
	}
	if s := v.Stats(); s != (Stats{}) {
		t.Fatalf("stats %+v, want no lookups", s)
	}
}
