package fail2ban

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"phalanx/parser/parsertest"
	"phalanx/testenv"
)

// debianConfig is where Debian's fail2ban package puts its configuration.
const debianConfig = "/etc/fail2ban"

// sampleNow is the clock of fail2ban's sample test (2005-08-14 12:00 CEST)
// and sampleZone its time zone: dates without a zone are read there and
// the annotations give local times.
var sampleNow = time.Unix(1124013600, 0)

func sampleZone(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		testenv.Missing(t, "time zone Europe/Zurich is missing: install the Debian package tzdata")
	}
	return loc
}

// requireDebian skips (fails under CI) without fail2ban's configuration
// and samples.
func requireDebian(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianConfig, "filter.d", "sshd.conf")); err != nil {
		testenv.Missing(t, fmt.Sprintf("fail2ban's filters are missing (%v): install the Debian package fail2ban", err))
	}
	parsertest.RequireSamples(t, "sshd")
}

// sampleFilters lists the sample files named after a filter of Debian's.
func sampleFilters(t testing.TB) []string {
	ents, err := os.ReadDir(parsertest.Fail2banLogs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(debianConfig, "filter.d", e.Name()+".conf")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// accepted lists the disagreements with fail2ban's annotations that are
// understood, keyed "file:line" (the annotation's line), with the reason.
// It is empty: every annotated sample agrees. Known differences that the
// corpus does not exercise are documented in doc.go (host names are never
// resolved; dates are found by the earliest match rather than fail2ban's
// adaptive template order).
var accepted = map[string]string{}

var reCond = regexp.MustCompile(`^\s*(name|opts\.get\('([\w.-]+)'\))\s*(==|!=)\s*'([^']*)'\s*$`)

// evalCond evaluates the few Python conditions the samples use.
func evalCond(t testing.TB, cond, name string, opts map[string]any) bool {
	m := reCond.FindStringSubmatch(cond)
	if m == nil {
		t.Fatalf("sample condition %q is not understood", cond)
	}
	v := name
	if m[1] != "name" {
		s, _ := opts[m[2]].(string)
		v = s
	}
	return (v == m[4]) == (m[3] == "==")
}

type sampleFilter struct {
	name  string
	opts  map[string]any
	m, np *Matcher // with and without the prefilter
}

type tally struct{ annotated, agree, disagree, extra int }

func TestConformance(t *testing.T) {
	requireDebian(t)
	loc := sampleZone(t)
	cache := map[string]*sampleFilter{}
	get := func(name string, opts map[string]any) *sampleFilter {
		init := map[string]string{}
		var keys []string
		for k, v := range opts {
			if strings.HasPrefix(k, "test.") {
				continue
			}
			init[k] = fmt.Sprint(v)
			keys = append(keys, k+"="+fmt.Sprint(v))
		}
		sort.Strings(keys)
		id := name + "[" + strings.Join(keys, ",") + "]"
		if f := cache[id]; f != nil {
			return f
		}
		f, err := LoadFilter(debianConfig, name, init, nil, FilterOptions{})
		if err != nil {
			t.Fatalf("load %s: %v", id, err)
		}
		sf := &sampleFilter{name: id, opts: opts,
			m:  NewMatcher(f, MatchOptions{Location: loc, CheckAll: true}),
			np: NewMatcher(f, MatchOptions{Location: loc, CheckAll: true, NoPrefilter: true})}
		cache[id] = sf
		return sf
	}
	tallies := map[string]*tally{}
	var names []string
	var disagreements []string
	prefilterMisses := 0
	annotations := map[string]bool{}
	for _, name := range sampleFilters(t) {
		names = append(names, name)
		tl := &tally{}
		tallies[name] = tl
		files := []string{name}
		var current []*sampleFilter
		for fi := 0; fi < len(files); fi++ {
			samples, adds := parsertest.ReadSampleBlocks(t, files[fi])
			files = append(files, adds...)
			block, ignoreBlock := -1, false
			for _, s := range samples {
				if s.Options != nil && s.Block != block {
					block = s.Block
					current, ignoreBlock = nil, false
					for _, o := range s.Options {
						if c, ok := o["test.condition"].(string); ok {
							ignoreBlock = !evalCond(t, c, name, o)
						}
						if !ignoreBlock {
							current = append(current, get(name, o))
						}
					}
				}
				if ignoreBlock {
					continue
				}
				if current == nil {
					current = []*sampleFilter{get(name, nil)}
				}
				for _, sf := range current {
					if c, ok := s.Fields["constraint"].(string); ok && !evalCond(t, c, name, sf.opts) {
						continue
					}
					line := s.Text
					var res Result
					var out, outNP Outcome
					if sf.opts["logtype"] == "journal" {
						if p, ok := sf.opts["test.prefix-line"].(string); ok {
							line = p + line
						}
						res, out = sf.m.LineAt(line, sampleNow)
						_, outNP = sf.np.LineAt(line, sampleNow)
					} else {
						res, out = sf.m.Line(line, sampleNow)
						_, outNP = sf.np.Line(line, sampleNow)
					}
					if out != outNP {
						prefilterMisses++
						t.Errorf("%s:%d %s: prefilter changes the outcome: %v with, %v without", files[fi], s.No, sf.name, out, outNP)
					}
					problem := checkSample(s.Fields, res, out == Failure, loc)
					if s.Fields != nil {
						tl.annotated++
						annotations[fmt.Sprintf("%s:%d", files[fi], s.No)] = true
					}
					if problem == "" {
						if s.Fields != nil {
							tl.agree++
						}
						continue
					}
					key := fmt.Sprintf("%s:%d", files[fi], s.No)
					if s.Fields == nil {
						tl.extra++
					} else {
						tl.disagree++
					}
					if reason, ok := accepted[key]; ok {
						t.Logf("accepted %s %s: %s (%s)", key, sf.name, problem, reason)
						continue
					}
					disagreements = append(disagreements, fmt.Sprintf("%s %s: %s\n    line: %s", key, sf.name, problem, line))
				}
			}
		}
	}
	var all tally
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %9s %6s %9s %6s\n", "filter", "annotated", "agree", "disagree", "extra")
	for _, n := range names {
		x := tallies[n]
		all.annotated += x.annotated
		all.agree += x.agree
		all.disagree += x.disagree
		all.extra += x.extra
		fmt.Fprintf(&b, "%-28s %9d %6d %9d %6d\n", n, x.annotated, x.agree, x.disagree, x.extra)
	}
	fmt.Fprintf(&b, "%-28s %9d %6d %9d %6d\n", "TOTAL", all.annotated, all.agree, all.disagree, all.extra)
	bt := 0
	for _, sf := range cache {
		if len(sf.m.Filter().Backtracking()) > 0 {
			bt++
		}
	}
	fmt.Fprintf(&b, "(annotated counts each annotated line once per option set of its block: %d distinct annotations; extra = unannotated lines that matched)\n", len(annotations))
	fmt.Fprintf(&b, "filter variants loaded: %d, of which use regexp2: %d\n", len(cache), bt)
	t.Log(b.String())
	for _, d := range disagreements {
		t.Errorf("disagreement %s", d)
	}
	if all.annotated == 0 {
		t.Fatal("no annotated samples were checked")
	}
	if rate := float64(all.agree) / float64(all.annotated); rate < 0.99 {
		t.Errorf("agreement %.2f%% < 99%%", 100*rate)
	}
	if prefilterMisses > 0 {
		t.Errorf("the literal prefilter changed %d outcomes", prefilterMisses)
	}
}

// checkSample compares a line's outcome with its failJSON annotation; ""
// means they agree.
func checkSample(fields map[string]any, res Result, matched bool, loc *time.Location) string {
	want, _ := fields["match"].(bool)
	if !matched {
		if want {
			return "no match, want a match"
		}
		return ""
	}
	if !want {
		return fmt.Sprintf("matched (host %q), want no match", res.Key())
	}
	var problems []string
	for k, v := range fields {
		switch k {
		case "match", "desc", "constraint", "time":
		case "host":
			if s, ok := v.(string); ok && !sameHost(s, res.Key()) {
				problems = append(problems, fmt.Sprintf("host %q, want %q", res.Key(), s))
			}
		case "ip4", "ip6":
			if s, ok := v.(string); ok && !sameHost(s, res.Host) {
				problems = append(problems, fmt.Sprintf("%s %q, want %q", k, res.Host, s))
			}
		case "dns":
			s, _ := v.(string)
			got := ""
			if res.Name {
				got = res.Host
			}
			if s != got {
				problems = append(problems, fmt.Sprintf("dns %q, want %q", got, s))
			}
		case "user":
			if s, _ := v.(string); s != res.User {
				problems = append(problems, fmt.Sprintf("user %q, want %q", res.User, s))
			}
		case "users":
			var want []string
			for _, u := range v.([]any) {
				want = append(want, fmt.Sprint(u))
			}
			sort.Strings(want)
			if strings.Join(want, ",") != strings.Join(res.Users, ",") {
				problems = append(problems, fmt.Sprintf("users %v, want %v", res.Users, want))
			}
		case "attempts":
			if n, _ := v.(float64); int(n) != res.Attempts {
				problems = append(problems, fmt.Sprintf("attempts %d, want %v", res.Attempts, v))
			}
		default:
			if s, ok := v.(string); ok && res.Groups[k] != s {
				problems = append(problems, fmt.Sprintf("%s %q, want %q", k, res.Groups[k], s))
			}
		}
	}
	if ts, ok := fields["time"].(string); ok {
		layout := "2006-01-2T15:04:05"
		got := res.Time.Truncate(time.Second) // fail2ban drops fractions of %f
		if strings.Contains(ts, ".") {
			layout += ".999999"
			got = res.Time.Truncate(time.Microsecond)
		}
		wt, err := time.ParseInLocation(layout, ts, loc)
		switch {
		case err != nil:
			problems = append(problems, "bad annotation time "+ts)
		case !res.HasTime:
			problems = append(problems, "no time, want "+ts)
		case !wt.Equal(got):
			problems = append(problems, fmt.Sprintf("time %s, want %s", res.Time.In(loc).Format("2006-01-02T15:04:05.999999"), ts))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

func sameHost(want, got string) bool {
	if want == got {
		return true
	}
	if a, err := netip.ParseAddr(want); err == nil {
		b, err := netip.ParseAddr(got)
		return err == nil && a.Unmap() == b.Unmap()
	}
	if a, err := netip.ParsePrefix(want); err == nil {
		b, err := netip.ParsePrefix(got)
		return err == nil && a.Masked() == b.Masked()
	}
	return false
}
