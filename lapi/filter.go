package lapi

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"phalanx"
)

// maxListItems bounds each comma list in a query: the cost of a request is
// the number of decisions times the words to look for.
const maxListItems = 32

// Scope bits of filter.scopes.
const (
	scopeIP uint8 = 1 << iota
	scopeRange
)

// filter is what a bouncer asks for, from the query parameters scopes (or
// scope), type, origins, scenarios_containing and scenarios_not_containing.
type filter struct {
	scopes      uint8    // decisions whose scope bit is set match
	typ         string   // "" matches every type
	origins     []string // nil matches every origin
	contains    []string // nil matches every scenario
	notContains []string
}

// badQuery is a query parameter the server cannot use: a 400 for the bouncer.
type badQuery struct{ msg string }

func (e *badQuery) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badQuery{msg: fmt.Sprintf(format, args...)} }

// first returns the first value of param, and whether it was given and not
// empty. An empty value counts as not given.
func first(q url.Values, param string) (string, bool) {
	v := q[param]
	if len(v) == 0 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

// list splits the comma list in param, dropping empty items.
func list(q url.Values, param string) ([]string, error) {
	v, ok := first(q, param)
	if !ok {
		return nil, nil
	}
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if len(out) == maxListItems {
			return nil, badf("too many values in %s (at most %d)", param, maxListItems)
		}
		out = append(out, item)
	}
	return out, nil
}

// parseFilter reads the filter parameters. defaultScopes applies when no
// scope is given: the stream defaults to "ip,range", /v1/decisions to every
// scope.
func parseFilter(q url.Values, defaultScopes uint8) (filter, error) {
	f := filter{scopes: defaultScopes}
	scopes, err := list(q, "scopes")
	if err != nil {
		return f, err
	}
	if scopes == nil {
		if scopes, err = list(q, "scope"); err != nil {
			return f, err
		}
	}
	if scopes != nil {
		f.scopes = 0
		for _, s := range scopes {
			// Scopes are case-insensitive; scopes other than Ip and Range
			// (Username, Country, AS…) are valid but phalanx has none.
			switch strings.ToLower(s) {
			case "ip":
				f.scopes |= scopeIP
			case "range":
				f.scopes |= scopeRange
			}
		}
	}
	f.typ, _ = first(q, "type")
	if f.origins, err = list(q, "origins"); err != nil {
		return f, err
	}
	if f.contains, err = list(q, "scenarios_containing"); err != nil {
		return f, err
	}
	if f.notContains, err = list(q, "scenarios_not_containing"); err != nil {
		return f, err
	}
	return f, nil
}

// match reports whether d passes the filter. Origins match CrowdSec's name
// for the origin (see originName) or phalanx's, ignoring case; scenario
// words match ignoring ASCII case, as CrowdSec's do.
func (f *filter) match(d *phalanx.Decision) bool {
	bit := scopeRange
	if d.Value.IsSingleIP() {
		bit = scopeIP
	}
	if f.scopes&bit == 0 {
		return false
	}
	if f.typ != "" && f.typ != typeOf(d) {
		return false
	}
	if f.origins != nil {
		name, ok := originName(d.Origin), false
		for _, o := range f.origins {
			if strings.EqualFold(o, name) || strings.EqualFold(o, string(d.Origin)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.contains != nil || f.notContains != nil {
		sc := scenarioOf(d)
		if f.contains != nil && !containsAnyFold(sc, f.contains) {
			return false
		}
		if containsAnyFold(sc, f.notContains) {
			return false
		}
	}
	return true
}

func containsAnyFold(s string, words []string) bool {
	for _, w := range words {
		if containsFold(s, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub is within s, ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if equalFoldASCII(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// lookup is a /v1/decisions query: a filter, plus the address or range to
// look for (ip, range, or scope and value) and how (contains).
type lookup struct {
	filter
	target   netip.Prefix // from ip or range; invalid when neither was given
	contains bool         // decisions whose prefix contains target (true) or lies within it (false)
	value    netip.Prefix // from value: decisions on exactly this prefix
	hasValue bool         // value was given (value may then be invalid: nothing matches)
}

// parseLookup reads a /v1/decisions query.
func parseLookup(q url.Values) (lookup, error) {
	f, err := parseFilter(q, scopeIP|scopeRange)
	if err != nil {
		return lookup{}, err
	}
	l := lookup{filter: f, contains: true}
	if v, ok := first(q, "contains"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return l, badf("contains must be true or false, not %s", quoteShort(v))
		}
		l.contains = b
	}
	param := "ip"
	v, ok := first(q, param)
	if !ok {
		param = "range"
		v, ok = first(q, param)
	}
	if ok {
		p, good := parseTarget(v)
		if !good {
			return l, badf("%s: %s is not an IP address or range", param, quoteShort(v))
		}
		l.target = p
	}
	if v, ok := first(q, "value"); ok {
		// CrowdSec matches value as a string; phalanx's values are
		// addresses and ranges, so a value that is neither matches nothing.
		l.hasValue = true
		l.value, _ = parseTarget(v)
	}
	return l, nil
}

// parseTarget reads an address or a range (CrowdSec takes either in ip and
// range) and normalises it as the table stores prefixes.
func parseTarget(s string) (netip.Prefix, bool) {
	if len(s) > 64 {
		return netip.Prefix{}, false
	}
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		a = phalanx.Normalize(a)
		p = netip.PrefixFrom(a, a.BitLen())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, false
	}
	a := p.Addr()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// match reports whether d, known to be active, answers the lookup.
func (l *lookup) match(d *phalanx.Decision) bool {
	if !l.filter.match(d) {
		return false
	}
	if l.hasValue && (!l.value.IsValid() || d.Value != l.value) {
		return false
	}
	if l.target.IsValid() {
		t, p := l.target, d.Value
		if l.contains {
			return p.Bits() <= t.Bits() && p.Contains(t.Addr())
		}
		return p.Bits() >= t.Bits() && t.Contains(p.Addr())
	}
	return true
}
