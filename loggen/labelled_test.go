package loggen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCases: the labelled log is deterministic, in time order, and every
// case's addresses appear in it, each in its own case only.
func TestCases(t *testing.T) {
	var a, b bytes.Buffer
	ta, err := Cases(&a, CasesConfig{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Cases(&b, CasesConfig{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed gave different bytes")
	}
	text := a.String()
	var prev time.Time
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ts, err := time.Parse(time.Stamp, l[:len(time.Stamp)])
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if ts.Before(prev) && prev.Month() == ts.Month() {
			t.Fatalf("line %d goes back in time: %s", i+1, l)
		}
		prev = ts
	}
	attacks, legit := 0, 0
	for _, c := range ta.Cases {
		if c.Attack {
			attacks++
		} else {
			legit++
		}
		for _, addr := range c.Addrs {
			if !strings.Contains(text, " "+addr.String()+" ") && !strings.Contains(text, " "+addr.String()+":") && !strings.Contains(text, "="+addr.String()+" ") {
				t.Errorf("case %s: address %s not in the log", c.Name, addr)
			}
		}
		if c.Prefix.IsValid() && !strings.Contains(text, strings.TrimSuffix(c.Prefix.Addr().String(), ":")) {
			t.Errorf("case %s: prefix %s not in the log", c.Name, c.Prefix)
		}
	}
	if attacks < 9 || legit < 4 {
		t.Errorf("%d attack and %d legitimate cases", attacks, legit)
	}
}
