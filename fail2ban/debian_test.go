package fail2ban

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// debianFilters lists Debian's filters (the *-common.conf files are
// building blocks, not filters).
func debianFilters(t testing.TB) []string {
	m, err := filepath.Glob(filepath.Join(debianConfig, "filter.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range m {
		n := strings.TrimSuffix(filepath.Base(p), ".conf")
		if n == "common" || strings.HasSuffix(n, "-common") {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestDebianFilters compiles every filter Debian ships with its default
// options and reports which need the backtracking engine, and why.
func TestDebianFilters(t *testing.T) {
	requireDebian(t)
	names := debianFilters(t)
	start := time.Now()
	bt := 0
	var b strings.Builder
	for _, n := range names {
		f, err := LoadFilter(debianConfig, n, nil, nil, FilterOptions{})
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if why := f.Backtracking(); len(why) > 0 {
			bt++
			b.WriteString("  " + n + ": " + strings.Join(why, "; ") + "\n")
		}
	}
	t.Logf("%d filters compiled in %v; %d need regexp2:\n%s", len(names), time.Since(start), bt, b.String())
	if _, err := os.Stat(filepath.Join(debianConfig, "filter.d", "sshd.conf")); err == nil && len(names) < 80 {
		t.Errorf("only %d filters", len(names))
	}
}
