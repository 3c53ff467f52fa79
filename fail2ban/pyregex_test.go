package fail2ban

import (
	"regexp"
	"testing"
	"time"
)

// TestTranslatePython: the Python forms fail2ban's filters use, and which
// engine each needs.
func TestTranslatePython(t *testing.T) {
	tests := []struct {
		py     string
		bt     bool
		match  string
		nomatc string
	}{
		{`^(?P<user>\S+) from x$`, false, "bob from x", "bob from y"},
		{`^a{,2}b\Z`, false, "aab", "aaab"},
		{`^x{y`, false, "x{y", "xy"},
		{`^[[]x`, false, "[x", "x"},
		{`^(?P<q>['"])v(?P=q)$`, true, `"v"`, `"v'`},
		{`^(?=ab)a`, true, "ab", "ac"},
		{`^(?!ab)a`, true, "ac", "ab"},
		{`(?<=x)y`, true, "xy", "zy"},
		{`^(?P<c>c)?(?(c)d|e)$`, true, "cd", "ce"},
		{`^(?i)abc`, false, "ABC", "abd"},
		{`^a(?#comment)b`, false, "ab", "a b"},
		{`^user \w+ from$`, false, "user josé from", "user jo-sé from"},
		{`^\d+$`, false, "٣٤", "3a"},
		{`^caf\u00e9$`, false, "café", "cafe"},
	}
	for _, tt := range tests {
		r, err := compileRx(tt.py, false, time.Second)
		if err != nil {
			t.Errorf("%s: %v", tt.py, err)
			continue
		}
		if r.backtracking() != tt.bt {
			t.Errorf("%s: on regexp2 %v, want %v", tt.py, r.backtracking(), tt.bt)
		}
		if _, _, _, ok, _ := r.find(tt.match, nil); !ok {
			t.Errorf("%s does not match %q", tt.py, tt.match)
		}
		if _, _, _, ok, _ := r.find(tt.nomatc, nil); ok {
			t.Errorf("%s matches %q", tt.py, tt.nomatc)
		}
	}
}

// TestRequiredLiterals: the literals the prefilter looks for.
func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		py   string
		want []string
	}{
		{`^Failed password for \S+ from x`, []string{"failed password for "}},
		{`^(?:Accepted|Failed) \w+`, []string{"accepted ", "failed "}},
		{`^[iI](?:llegal|nvalid) user `, []string{"illegal user ", "invalid user "}},
		{`^(?i)bad password`, []string{"bad pa"}}, // s folds to the long s too
		{`^(?i)a kiss`, nil},
		{`^x [+-]\d`, []string{"x +", "x -"}},
		{`^ab(?:c|d)ef`, []string{"abcef", "abdef"}},
		{`^\[\]LOGIN FAILED`, []string{"]login failed"}}, // the log has "[date]LOGIN FAILED"
		{`^.*\nWARNING: attempt`, []string{"warning: attempt"}},
		{`^(?=ab)wxyz+`, []string{"wxy"}},
		{`^\d+ \S+$`, nil},
		{`^(?:abc)?def`, []string{"def"}},
		{`^ab`, nil}, // shorter than minLiteral
	}
	for _, tt := range tests {
		tr, err := translatePython(tt.py)
		if err != nil {
			t.Fatal(err)
		}
		got := requiredLiterals(tr.approx)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %q, want %q", tt.py, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: %q, want %q", tt.py, got, tt.want)
			}
		}
	}
	// The scanner finds what a case-insensitive search finds, at the start,
	// the middle and the end of a line, 3-byte literals included.
	lits := []string{"failed ", "user ", "ser x", "abcabd", "bcab", "web", "[x]"}
	for m := 4; m <= maxStride+3; m++ {
		a := newAnchors(lits, m)
		seen := make([]uint32, len(lits))
		for gen, s := range []string{"FAILED USER x", "xxabcabdxx", "nothing here", "user x failed y", "WEB", "a web", "web b", "[X]", "{x}", "we", ""} {
			gen := uint32(gen + 1)
			any := len(a.scan(s, seen, gen, nil)) > 0
			found := false
			for id, l := range lits {
				want := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(l)).MatchString(s)
				found = found || want
				if (seen[id] == gen) != want {
					t.Errorf("M=%d: %q in %q: found %v, want %v", m, l, s, seen[id] == gen, want)
				}
			}
			if any != found {
				t.Errorf("M=%d: scan(%q) = %v, want %v", m, s, any, found)
			}
		}
	}
}
