package httplog

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// testTrusted are the trusted proxies of the tests: a load balancer network
// and a CDN's IPv6 range.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func isTestTrusted(a netip.Addr) bool {
	for _, p := range testTrusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// newTestParser returns a parser that trusts testTrusted and reads zoneless
// times as UTC.
func newTestParser(f *Format) *Parser {
	return New(Options{Format: f, Trusted: isTestTrusted, Location: time.UTC})
}

// describe writes what a line says, field by field, skipping empty ones, in
// a fixed order: the form the tables and golden files compare.
func describe(r *Request) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	q := func(v []byte) string {
		if len(v) == 0 {
			return ""
		}
		return fmt.Sprintf("%q", v)
	}
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			return "none"
		}
		return a.String()
	}
	add("peer", addr(r.Peer))
	add("client", addr(r.Client))
	if !r.Time.IsZero() {
		add("time", r.Time.Format(time.RFC3339Nano))
	}
	if r.BadRequest {
		add("bad", "true")
	}
	if r.NoRequest {
		add("norequest", "true")
	}
	add("method", q(r.Method))
	add("uri", q(r.URI))
	add("proto", q(r.Proto))
	if r.Status != 0 {
		add("status", fmt.Sprint(r.Status))
	}
	add("host", q(r.Host))
	add("user", q(r.User))
	add("referer", q(r.Referer))
	add("ua", q(r.UserAgent))
	add("fwd", q(r.Forwarded))
	if r.Error != ErrNone {
		add("error", r.Error.String())
	}
	add("zone", q(r.Zone))
	add("path", q(r.Path))
	return b.String()
}

// parseLine parses one line with p and describes it ("" = not understood).
func parseLine(p *Parser, line string) string {
	var r Request
	if !p.Parse([]byte(line), &r) {
		return ""
	}
	return describe(&r)
}

func orNone(s string) string {
	if s == "" {
		return "not understood"
	}
	return s
}
