package fail2ban

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// DefaultBudget is the time one backtracking match may take before it
// counts as no match. regexp2 checks its deadline on a clock that ticks
// every 100 ms, so a runaway match stops within about budget + 100 ms.
const DefaultBudget = 10 * time.Millisecond

// rx is one compiled filter expression: Go's regexp when the pattern
// allows it, regexp2 otherwise.
type rx struct {
	src    string // Python text after tag expansion
	re2    *regexp.Regexp
	bt     *regexp2.Regexp
	gate   *regexp.Regexp // RE2 superset of bt: where it fails, bt need not run
	why    string         // why the backtracking engine
	names  []string       // named groups
	gnum   []int          // engine group number of each name
	lits   []string       // lower-case literals of which one must occur; nil = none known
	seq    *sequence      // without lits: a sequence that must occur, or nil
	budget time.Duration
}

// span is a matched group's byte range; start < 0 when it did not take part.
type span struct{ start, end int }

// compileRx compiles a Python expression (tags already expanded).
func compileRx(py string, multiline bool, budget time.Duration) (*rx, error) {
	tr, err := translatePython(py)
	if err != nil {
		return nil, err
	}
	r := &rx{src: py, names: tr.names, budget: budget, why: tr.why}
	if !tr.needBT {
		src := tr.re2
		if multiline {
			src = "(?m)" + src
		}
		if re, err := regexp.Compile(src); err == nil {
			r.re2 = re
		} else {
			r.why = "Go's regexp refused it: " + err.Error()
		}
	}
	if r.re2 == nil {
		opt := regexp2.None
		if multiline {
			opt |= regexp2.Multiline
		}
		re, err := regexp2.Compile(tr.net, opt)
		if err != nil {
			return nil, fmt.Errorf("compile: %v", err)
		}
		re.MatchTimeout = budget
		r.bt = re
		if !strings.Contains(tr.why, "verbose") {
			src := tr.approx
			if multiline {
				src = "(?m)" + src
			}
			r.gate, _ = regexp.Compile(src)
		}
	}
	for _, n := range r.names {
		if r.re2 != nil {
			r.gnum = append(r.gnum, r.re2.SubexpIndex(n))
		} else {
			r.gnum = append(r.gnum, r.bt.GroupNumberFromName(n))
		}
	}
	r.lits = requiredLiterals(tr.approx)
	if r.lits == nil {
		r.seq = requiredSequence(tr.approx)
	}
	return r, nil
}

// backtracking reports whether the expression runs on regexp2.
func (r *rx) backtracking() bool { return r.bt != nil }

// group returns the index of a named group in r.names, or -1.
func (r *rx) group(name string) int {
	for i, n := range r.names {
		if n == name {
			return i
		}
	}
	return -1
}

// find searches s. It returns the whole match, group 1 and the named
// groups' spans; timedOut reports a backtracking match stopped by its budget (or
// its stack limit), which counts as no match.
func (r *rx) find(s string, groups []span) (whole, g1 span, out []span, ok, timedOut bool) {
	out = groups[:0]
	if r.re2 != nil {
		idx := r.re2.FindStringSubmatchIndex(s)
		if idx == nil {
			return span{}, span{}, out, false, false
		}
		for _, g := range r.gnum {
			out = append(out, span{idx[2*g], idx[2*g+1]})
		}
		g1 = span{-1, -1}
		if len(idx) >= 4 {
			g1 = span{idx[2], idx[3]}
		}
		return span{idx[0], idx[1]}, g1, out, true, false
	}
	if r.gate != nil && !r.gate.MatchString(s) {
		return span{}, span{}, out, false, false
	}
	m, err := r.bt.FindStringMatch(s)
	if err != nil {
		return span{}, span{}, out, false, true
	}
	if m == nil {
		return span{}, span{}, out, false, false
	}
	g1 = span{-1, -1}
	if gr := m.GroupByNumber(1); gr != nil && len(gr.Captures) > 0 {
		st, l := gr.ByteRange()
		g1 = span{st, st + l}
	}
	for _, g := range r.gnum {
		gr := m.GroupByNumber(g)
		if gr == nil || len(gr.Captures) == 0 {
			out = append(out, span{-1, -1})
			continue
		}
		st, l := gr.ByteRange()
		out = append(out, span{st, st + l})
	}
	st, l := m.ByteRange()
	return span{st, st + l}, g1, out, true, false
}

// minLiteral is the shortest literal worth looking for: shorter ones are
// in nearly every line.
const minLiteral = 3

// maxAlternatives bounds the alternatives kept for one requirement (a
// list of bad bots' user agents has about a hundred; the prefilter's cost
// hardly grows with the number of literals).
const maxAlternatives = 256

// common reports whether literal l, once the punctuation around it is
// trimmed, is a word in nearly every line of some log (web requests, sshd,
// mail): a requirement of such words alone filters little, and a rarer
// requirement of the same expression is looked for instead.
func common(l string) bool {
	switch strings.Trim(l, " \t/:;,.-\"'[]()<>=") {
	case "http", "https", "http/1.0", "http/1.1", "http/2", "http/2.0",
		"get", "post", "head", "put", "delete", "options",
		"user", "from", "for", "port", "with", "client",
		"server", "host", "error", "warning", "info", "notice":
		return true
	}
	return false
}

// requirementScore rates how well a requirement (one of alternatives must
// occur) filters lines: worst with a 3-byte alternative (short words are
// everywhere, and one such literal makes the prefilter look at every
// 3-byte gram of every line too), then with a common word, else by its
// shortest alternative's length.
func requirementScore(alternatives []string) int {
	score := math.MaxInt
	for _, s := range alternatives {
		switch {
		case len(s) < 4:
			return 0
		case common(s):
			score = 1
		default:
			score = min(score, len(s))
		}
	}
	return score
}

// requiredLiterals returns literals (ASCII lower case) of which at least
// one occurs in every text the RE2 expression approx matches; nil when
// none is known. approx matches a superset of the real expression, so the
// literals hold for it too.
func requiredLiterals(approx string) []string {
	re, err := syntax.Parse(approx, syntax.Perl)
	if err != nil {
		return nil
	}
	lits := required(re.Simplify())
	if len(lits) == 0 {
		return nil
	}
	return lits
}

func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		var best string
		for _, piece := range foldSafe(re) {
			if s := junctionSafe(asciiLower(piece)); len(s) > len(best) {
				best = s
			}
		}
		if len(best) < minLiteral {
			return nil
		}
		return []string{best}
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		// Every part's requirement holds, and so does each run of parts
		// that match few exact texts ("[iI](?:llegal|nvalid) user "
		// requires "illegal user " or "invalid user "); keep the one
		// that filters best (see requirementScore), then the one with
		// fewer alternatives.
		var best []string
		bestScore := -1
		consider := func(l []string) {
			if l == nil {
				return
			}
			if sc := requirementScore(l); sc > bestScore || sc == bestScore && len(l) < len(best) {
				best, bestScore = l, sc
			}
		}
		var run []string
		flush := func() {
			if run != nil {
				consider(safeTexts(run))
			}
			run = nil
		}
		for _, sub := range re.Sub {
			if ex := exact(sub); ex == nil {
				flush()
			} else if run == nil {
				run = ex
			} else if p := product(run, ex); p != nil {
				run = p
			} else {
				flush()
				run = ex
			}
			consider(required(sub))
		}
		flush()
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l := required(sub)
			if l == nil {
				return nil
			}
			out = append(out, l...)
		}
		if len(out) > maxAlternatives {
			return nil
		}
		return out
	}
	return nil
}

// foldSafe returns the parts of a literal that an ASCII-folded search
// finds wherever the expression matches: under (?i) a letter whose case
// fold leaves ASCII (k and K match the Kelvin sign, s and S the long s,
// and every letter beyond ASCII) ends a part.
func foldSafe(re *syntax.Regexp) []string {
	if re.Flags&syntax.FoldCase == 0 {
		return []string{string(re.Rune)}
	}
	var parts []string
	start := 0
	for i, r := range re.Rune {
		if f := unicode.SimpleFold(r); f != r && (r >= utf8.RuneSelf || unicode.SimpleFold(f) != r) {
			parts = append(parts, string(re.Rune[start:i]))
			start = i + 1
		}
	}
	return append(parts, string(re.Rune[start:]))
}

// maxExact bounds the texts exact keeps.
const maxExact = 64

// exact returns every text re matches (ASCII lower case) when they are
// few, else nil. A text may be empty.
func exact(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}
	case syntax.OpLiteral:
		if parts := foldSafe(re); len(parts) == 1 {
			return []string{asciiLower(parts[0])}
		}
	case syntax.OpCharClass:
		// A few ASCII characters, such as [iI] or [+-].
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r >= utf8.RuneSelf || len(out) > 4 {
					return nil
				}
				if c := asciiLower(string(r)); !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
		if len(out) <= 4 {
			return out
		}
	case syntax.OpCapture:
		return exact(re.Sub[0])
	case syntax.OpQuest:
		if ex := exact(re.Sub[0]); ex != nil && len(ex) < maxExact {
			return append(ex, "")
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			ex := exact(sub)
			if ex == nil || len(out)+len(ex) > maxExact {
				return nil
			}
			out = append(out, ex...)
		}
		return out
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			ex := exact(sub)
			if ex == nil {
				return nil
			}
			if out = product(out, ex); out == nil {
				return nil
			}
		}
		return out
	case syntax.OpRepeat:
		if re.Min == re.Max && re.Min <= 8 {
			ex := exact(re.Sub[0])
			out := []string{""}
			for range re.Min {
				if ex == nil {
					return nil
				}
				if out = product(out, ex); out == nil {
					return nil
				}
			}
			return out
		}
	}
	return nil
}

// product returns every a followed by every b, or nil when that makes
// too many texts or too long ones.
func product(a, b []string) []string {
	if len(a)*len(b) > maxExact {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > 256 {
				return nil
			}
			if s := x + y; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// safeTexts makes a requirement of the texts of a run of an expression
// (see junctionSafe), or nil when one is too short to look for.
func safeTexts(texts []string) []string {
	var out []string
	for _, t := range texts {
		s := junctionSafe(t)
		if len(s) < minLiteral {
			return nil
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// junctionSafe shortens a literal to the longest part that cannot span
// the place where fail2ban cut the date out of the line: an empty pair of
// brackets or quotes, or two spaces, usually marks that place ("[]LOGIN
// FAILED" is "[2014-01-06 10:59:38]LOGIN FAILED" in the log). A newline
// (between the lines of a multi-line buffer) splits a literal too.
func junctionSafe(s string) string {
	best := ""
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			// Lines of a multi-line buffer are joined by newlines.
			if len(s[start:i]) > len(best) {
				best = s[start:i]
			}
			start = i + 1
			continue
		}
		if i+1 >= len(s) {
			break
		}
		pair := s[i : i+2]
		switch pair {
		case "[]", "()", "{}", "<>", `""`, "''", "  ":
			if len(s[start:i+1]) > len(best) {
				best = s[start : i+1]
			}
			start = i + 1
		}
	}
	if len(s[start:]) > len(best) {
		best = s[start:]
	}
	return best
}
