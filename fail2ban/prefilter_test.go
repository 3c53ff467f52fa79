package fail2ban

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// TestGroupAgreesWithMatchers: every Debian filter with a sample as one
// Group, over the samples' lines with bursts of ordinary lines between
// them (so that multi-line matchers are parked and called back), gives
// each filter exactly what a Matcher of its own gives on the same stream.
func TestGroupAgreesWithMatchers(t *testing.T) {
	requireDebian(t)
	fs := loadSampleFilters(t)
	loc := sampleZone(t)
	g := NewGroup(func() []*Matcher {
		ms := make([]*Matcher, len(fs))
		for i, f := range fs {
			ms[i] = NewMatcher(f, MatchOptions{Location: loc})
		}
		return ms
	}()...)
	alone := make([]*Matcher, len(fs))
	for i, f := range fs {
		alone[i] = NewMatcher(f, MatchOptions{Location: loc})
	}
	var stream []string
	for i, l := range mixedLines(t) {
		stream = append(stream, l)
		// 0 to 24 ordinary lines: shorter and longer than the windows
		// (maxlines 2 to 20).
		for k := range (i * 7) % 25 {
			stream = append(stream, noMatchLines[(i+k)%len(noMatchLines)])
		}
	}
	describe := func(r Result, o Outcome) string {
		if o == Missed {
			return ""
		}
		return fmt.Sprintf("%v %s %s %v %v %d", o, r.Key(), r.User, r.Users, r.Time, r.Attempts)
	}
	got := make([]string, len(fs))
	failures, parks := 0, 0
	for n, l := range stream {
		for i := range got {
			got[i] = ""
		}
		g.Line(l, sampleNow, func(i int, r Result, o Outcome) {
			got[i] = describe(r, o)
			if o == Failure {
				failures++
			}
		})
		for i, m := range alone {
			if want := describe(m.Line(l, sampleNow)); got[i] != want {
				t.Fatalf("line %d %q: %s: group gives %q, alone %q", n, l, fs[i].Name, got[i], want)
			}
		}
		for _, m := range g.Matchers() {
			if m.parked {
				parks++
			}
		}
	}
	for i, m := range alone {
		if c, a := g.Counters(i), m.C; c.Lines != a.Lines || c.Failures != a.Failures {
			t.Errorf("%s: group counts %+v, alone %+v", fs[i].Name, c, a)
		}
	}
	if parks == 0 {
		t.Error("no multi-line matcher was ever parked: the test does not test parking")
	}
	t.Logf("%d lines, %d failures, %d parked matcher-lines", len(stream), failures, parks)
}

// TestRequiredSequence: the sequence an expression without literals is
// filtered by, and that it is found wherever the expression matches.
func TestRequiredSequence(t *testing.T) {
	tr, err := translatePython(`^\s[+-]\d{4} \S+ \d{3}0[1-9] \S+ x`)
	if err != nil {
		t.Fatal(err)
	}
	q := requiredSequence(tr.approx)
	if q == nil {
		t.Fatalf("no sequence in %s", tr.approx)
	}
	if string(q.first) != "+-" || len(q.items) != 7 {
		t.Errorf("sequence starts with %q and has %d characters, want \"+-\" and 7", q.first, len(q.items))
	}
	re := regexp.MustCompile(tr.re2)
	for _, c := range []struct {
		line string
		in   bool
	}{
		{" +0300 PROXY.3128 00004 x", true},
		{" -0300 P 12301 x", true},
		{" +٠٣٠٠ P ٠١٢01 x", true}, // Arabic-Indic digits are \d in Python
		{" +030 P 12301 x", false},
		{"+03000 P", false},
		{"a+0300\xff", false},
		{"- 0300 -12345 -1234x", false},
	} {
		if got := q.in(c.line); got != c.in {
			t.Errorf("in(%q) = %v, want %v", c.line, got, c.in)
		}
		if re.MatchString(c.line) && !q.in(c.line) {
			t.Errorf("%q matches but holds no sequence", c.line)
		}
	}
	for _, src := range []string{`^a|b`, `x\s+y`, `(?:ab)*`, `[\s\S]{4}`} {
		if tr, err := translatePython(src); err == nil {
			if q := requiredSequence(tr.approx); q != nil {
				t.Errorf("%s: sequence %q…, want none", src, q.first)
			}
		}
	}
}

// FuzzSequence: wherever an expression matches a line, the line holds
// the expression's sequence (lines are attacker-written; a missed
// sequence would hide a failure from its filter).
func FuzzSequence(f *testing.F) {
	f.Add(`^\s[+-]\d{4} \S+ \d{3}0[1-9] `, " +0300 PROXY.3128 00004 - 1.2.3.4:1")
	f.Add(`(?i)x[ab]\d\d\d`, "XA١23")
	f.Add(`ab{2}c[^d]{3}`, "abbc\xff\xfe\n")
	f.Add(`[\x{100}-\x{200}]\w\wé`, "ĀaBÉ")
	f.Fuzz(func(t *testing.T, src, line string) {
		if len(src) > 200 {
			return
		}
		tr, err := translatePython(src)
		if err != nil || tr.needBT {
			return
		}
		re, err := regexp.Compile(tr.re2)
		if err != nil {
			return
		}
		q := requiredSequence(tr.approx)
		if q == nil {
			return
		}
		if re.MatchString(line) && !q.in(line) {
			t.Fatalf("%q matches %q, which holds no sequence (starts %q, %d characters)", src, line, q.first, len(q.items))
		}
	})
}

// FuzzPrefilterSound: for any line, every Debian filter with a sample
// gives, behind the prefilter of all of them (one scan, as a Group makes:
// the gram scan with its wide-window checks, the rare bytes and the
// sequences, then each filter's conditions), what it gives when it runs
// its expressions on every line: the prefilter skips only what an
// expression cannot match (lines are attacker-written; a wrong skip would
// hide a failure).
func FuzzPrefilterSound(f *testing.F) {
	requireDebian(f)
	fs := loadSampleFilters(f)
	set := NewSet(fs...)
	for _, l := range noMatchLines {
		f.Add(l)
	}
	for _, l := range quietLines {
		f.Add(l)
	}
	for i, l := range mixedLines(f) {
		if i%10 == 0 {
			f.Add(l)
		}
	}
	now := time.Unix(1124013600, 0)
	describe := func(r Result, o Outcome) string {
		if o == Missed {
			return ""
		}
		return fmt.Sprintf("%v %s %s %v", o, r.Key(), r.User, r.Time)
	}
	f.Fuzz(func(t *testing.T, line string) {
		hit := set.scan(line)
		for i, flt := range fs {
			got := ""
			if hit || set.always[i] {
				m := NewMatcher(flt, MatchOptions{Location: time.UTC})
				got = describe(m.line(line, now, time.Time{}, set, i))
			}
			m := NewMatcher(flt, MatchOptions{Location: time.UTC, NoPrefilter: true})
			if want := describe(m.Line(line, now)); got != want {
				t.Errorf("%s on %q: behind the prefilter %q, every expression run %q", flt.Name, line, got, want)
			}
		}
	})
}
