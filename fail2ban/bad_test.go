package fail2ban

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadFilters: each broken filter is refused with its file and line.
func TestBadFilters(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"syntax", "[Definition]\nfailregex = ^ok <HOST>$\n            ^oops [<HOST>\n", "bad.conf:3: failregex"},
		{"paren", "[Definition]\nfailregex = ^oops (<HOST>\n", "missing closing parenthesis"},
		{"unknowntag", "[Definition]\nfailregex = ^from <ADRR>\n", "bad.conf:2: failregex: unknown tag <ADRR>"},
		{"lowertag", "[Definition]\nfailregex = ^<F-user>x</F-user> from <HOST>\n", "unknown tag <F-user>"},
		{"unclosed", "[Definition]\nfailregex = ^<F-USER>x from <HOST>\n", "<F-USER> is never closed"},
		{"noid", "[Definition]\nfailregex = ^nothing to ban\n", "has no failure id"},
		{"twohosts", "[Definition]\nfailregex = ^<HOST> and <HOST>\n", "defined twice"},
		{"badescape", "[Definition]\nfailregex = ^\\q <HOST>\n", "bad escape"},
		{"backref", "[Definition]\nfailregex = ^(?P=nope) <HOST>\n", "unknown group"},
		{"possessive", "[Definition]\nfailregex = ^a++ <HOST>\n", "possessive"},
		{"maxlines", "[Definition]\nfailregex = ^<HOST>\nmaxlines = many\n", "bad.conf:3: maxlines"},
		{"nodef", "[Init]\nx = 1\n", "no [Definition]"},
		{"selfref", "[Definition]\nfailregex = <failregex>\n", "refers to itself"},
		{"datepattern", "[Definition]\nfailregex = ^<HOST>\ndatepattern = %%Q\n", "unknown date directive %Q"},
		{"include", "[INCLUDES]\nbefore = bad.conf\n[Definition]\nfailregex = ^<HOST>\n", "include loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"filter.d/bad.conf": tt.text})
			_, err := LoadFilter(dir, "bad", nil, nil, FilterOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadFilter(t.TempDir(), "absent", nil, nil, FilterOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Join("filter.d", "absent")+".conf") {
		t.Errorf("a missing filter: %v", err)
	}
}

// TestCatastrophicPattern: a pattern that backtracks exponentially stops
// at its budget and counts as a timeout; the same shape without a
// look-around runs on Go's linear-time engine and is fast; and a
// look-around pattern whose RE2 superset (the gate) fails never reaches
// the backtracking engine.
func TestCatastrophicPattern(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"filter.d/redos.conf":  "[Definition]\nfailregex = ^(\\w+\\s?)+(?<=z) <HOST>$\n",
		"filter.d/gated.conf":  "[Definition]\nfailregex = ^(?=a)(a+)+b from <HOST>\n",
		"filter.d/linear.conf": "[Definition]\nfailregex = ^(a+)+$ <HOST>\n",
	})
	line := strings.Repeat("a", 5000) + " 192.0.2.1"
	f, err := LoadFilter(dir, "redos", nil, nil, FilterOptions{Budget: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Backtracking()) != 1 {
		t.Fatalf("want the look-ahead pattern on regexp2: %v", f.Backtracking())
	}
	m := NewMatcher(f, MatchOptions{NoPrefilter: true})
	start := time.Now()
	_, o := m.Line(line, time.Now())
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("match took %v", el)
	}
	if o != Missed || m.C.Timeouts != 1 {
		t.Errorf("outcome %v, timeouts %d; want missed after one timeout", o, m.C.Timeouts)
	}
	gated, err := LoadFilter(dir, "gated", nil, nil, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gm := NewMatcher(gated, MatchOptions{NoPrefilter: true})
	start = time.Now()
	if _, o := gm.Line(strings.Repeat("a", 5000)+"c", time.Now()); o != Missed || gm.C.Timeouts != 0 || time.Since(start) > time.Second {
		t.Errorf("gated: %v, %d timeouts, %v", o, gm.C.Timeouts, time.Since(start))
	}
	g, err := LoadFilter(dir, "linear", nil, nil, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Backtracking()) != 0 {
		t.Fatalf("(a+)+$ should run on Go's regexp: %v", g.Backtracking())
	}
	start = time.Now()
	NewMatcher(g, MatchOptions{NoPrefilter: true}).Line(line, time.Now())
	if el := time.Since(start); el > time.Second {
		t.Errorf("linear match took %v", el)
	}
}

// TestHostNames: a failure that names a host by name is reported as a
// name, with no address; usedns = no makes <HOST> match addresses only.
func TestHostNames(t *testing.T) {
	dir := writeTree(t, map[string]string{"filter.d/n.conf": "[Definition]\nfailregex = ^login failed from <HOST>$\n"})
	f, err := LoadFilter(dir, "n", nil, nil, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(f, MatchOptions{})
	r, o := m.Line("login failed from evil.example.com", time.Now())
	if o != Failure || !r.Name || r.Addr.IsValid() || r.Host != "evil.example.com" || m.C.Names != 1 {
		t.Errorf("%v %+v", o, r)
	}
	r, o = m.Line("login failed from ::ffff:192.0.2.9", time.Now())
	if o != Failure || r.Name || r.Addr.String() != "192.0.2.9" {
		t.Errorf("%v %+v", o, r)
	}
	f2, err := LoadFilter(dir, "n", nil, map[string]string{"usedns": "no"}, FilterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, o := NewMatcher(f2, MatchOptions{}).Line("login failed from evil.example.com", time.Now()); o != Missed {
		t.Errorf("usedns = no still matches a name: %v", o)
	}
}
