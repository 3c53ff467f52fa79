package fail2ban

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// filterSeeds returns the text of some of Debian's filters, when present.
func filterSeeds() []string {
	var out []string
	for _, n := range []string{"sshd", "postfix", "dovecot", "apache-auth", "common", "guacamole", "mongodb-auth"} {
		if b, err := os.ReadFile(filepath.Join(debianConfig, "filter.d", n+".conf")); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// FuzzINI: any configuration text parses or fails with a positioned error;
// resolving every option never panics or loops.
func FuzzINI(f *testing.F) {
	for _, s := range filterSeeds() {
		f.Add(s)
	}
	f.Add("[s]\na = %(b)s\nb = %(a)s\n")
	f.Add("[INCLUDES]\nbefore = x.conf\n[Definition]\nfailregex = <HOST>\n  more\n")
	f.Fuzz(func(t *testing.T, text string) {
		cf, err := parseINI("x.conf", []byte(text))
		if err != nil {
			if !strings.Contains(err.Error(), "x.conf:") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		c := newConfig()
		c.merge(cf)
		for _, sec := range c.Sections() {
			for _, k := range c.Keys(sec) {
				c.Get(sec, k, nil)
			}
		}
	})
}

// FuzzTranslate: any expression translates or fails; a translation Go's
// regexp accepts never panics when run, and its approximation compiles.
func FuzzTranslate(f *testing.F) {
	for _, s := range filterSeeds() {
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, "= "); i >= 0 {
				f.Add(l[i+2:])
			}
		}
	}
	for _, s := range []string{`^(?P<a>x)(?P=a)`, `(?(1)a|b)`, `[[:alpha:]]`, `a{,3}`, `\Z`, `(?<=x)y`, `(?i)A(?#c)`, `[\b]`, `\u00e9`, `{DATE}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tr, err := translatePython(src)
		if err != nil {
			return
		}
		if !tr.needBT {
			if re, err := regexp.Compile(tr.re2); err == nil {
				re.MatchString("Failed password for root from 192.0.2.1 port 22 ssh2")
			}
		}
		requiredLiterals(tr.approx)
		if py, err := expandTags(src, true); err == nil {
			if r, err := compileRx(py, false, time.Millisecond); err == nil {
				r.find("Dec  6 19:01:45 host sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2", nil)
			}
		}
	})
}

// FuzzMatch: lines from an attacker never panic a filter, and a failure
// always names a host.
func FuzzMatch(f *testing.F) {
	if _, err := os.Stat(filepath.Join(debianConfig, "filter.d", "sshd.conf")); err != nil {
		f.Skip("fail2ban's filters are not installed")
	}
	var ms []*Matcher
	for _, n := range []string{"sshd", "postfix", "dovecot", "apache-auth", "mongodb-auth", "recidive"} {
		flt, err := LoadFilter(debianConfig, n, nil, nil, FilterOptions{Budget: 5 * time.Millisecond})
		if err != nil {
			f.Fatal(err)
		}
		ms = append(ms, NewMatcher(flt, MatchOptions{Location: time.UTC}))
	}
	g := NewGroup(ms...)
	f.Add("Dec  6 19:01:45 host sshd[1]: Failed password for invalid user x from 192.0.2.1 port 22 ssh2")
	f.Add("2016-11-20T00:04:00.111+0100 [conn1] Failed to authenticate x@admin with mechanism MONGODB-CR: AuthenticationFailed UserNotFound Could not find user x@admin")
	f.Add("[Sun Jul 28 21:27:56.549667 2013] [:error] [pid 1] [client 192.0.2.1:1] user x not found: /")
	f.Fuzz(func(t *testing.T, line string) {
		g.Line(line, time.Unix(1700000000, 0), func(i int, r Result, o Outcome) {
			if o == Failure && r.Key() == "" {
				t.Fatalf("%s: failure without a host: %q", ms[i].Filter().Name, line)
			}
		})
	})
}

// FuzzAnchors: the literal scanner finds exactly the literals that a
// case-insensitive search finds, wherever they are in the line and
// whatever its skip (lines are attacker-written; a missed literal would
// hide a failure from its filter).
func FuzzAnchors(f *testing.F) {
	f.Add("failed password\x00web\x00[x]", "Dec 1 FAILED PASSWORD for x from web", uint8(0))
	f.Add("abcd\x00bcd\x00cde", "abcde", uint8(1))
	f.Add("{x}\x00user ", "[X] USER  ", uint8(2))
	f.Add("\" 401\x00query\x00abcdefgh\x00xyzxyzxyz", "\"\" 401 QUERY xxabcdefgh xyzxyzxyz", uint8(4))
	// Literals long enough for the wide-window checks (8 bytes from a
	// gram, or 4 before it), at both ends of the line and beside common
	// words.
	f.Add("login attempt failed from \x00warning\x00authentication failure for ", "LOGIN ATTEMPT FAILED FROM x: warning from authentication failure for ", uint8(2))
	// A line longer than one call of grams looks at (gramChunk positions).
	f.Add("authentication failure for \x00login attempt failed from ", strings.Repeat("from login x ", 20)+"authentication failure for root", uint8(2))
	f.Fuzz(func(t *testing.T, lits, line string, m uint8) {
		var set literals
		for _, l := range strings.Split(lits, "\x00") {
			if len(l) >= minLiteral && len(l) <= 64 {
				set.id(l)
			}
		}
		if len(set.list) == 0 {
			return
		}
		// Every skip the scan can make: M from 4 to maxStride+3.
		a := newAnchors(set.list, 4+int(m)%maxStride)
		seen := make([]uint32, len(set.list))
		hits := a.scan(line, seen, 1, nil)
		any := len(hits) > 0
		lower := asciiLower(line)
		found := false
		for id, l := range set.list {
			want := strings.Contains(lower, l)
			found = found || want
			if (seen[id] == 1) != want {
				t.Fatalf("%q in %q: found %v, want %v", l, line, seen[id] == 1, want)
			}
		}
		// hits lists each literal found once.
		listed := map[int32]bool{}
		for _, id := range hits {
			if seen[id] != 1 || listed[id] {
				t.Fatalf("scan(%q) lists %q twice or unmarked: %v", line, set.list[id], hits)
			}
			listed[id] = true
		}
		if any != found {
			t.Fatalf("scan(%q) = %v, want %v", line, any, found)
		}
	})
}
