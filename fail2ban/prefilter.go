package fail2ban

// asciiLower folds A-Z to a-z and leaves every other byte alone, so that
// byte offsets do not move.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// literals numbers distinct literal strings.
type literals struct {
	ids  map[string]int32
	list []string
}

func (l *literals) id(s string) int32 {
	s = asciiLower(s)
	if l.ids == nil {
		l.ids = map[string]int32{}
	}
	if id, ok := l.ids[s]; ok {
		return id
	}
	id := int32(len(l.list))
	l.ids[s] = id
	l.list = append(l.list, s)
	return id
}

// automaton is an Aho–Corasick automaton over ASCII-folded bytes, compiled
// to a dense table over byte classes (bytes that occur in no literal share
// class 0). States are numbered breadth first, so the shallow states a
// scan of ordinary text stays in share a few cache lines; an entry's top
// bit says that the state it leads to ends a literal.
type automaton struct {
	cls  [256]uint16
	nc   int
	next []uint16  // state*nc + class → state | outFlag
	out  [][]int32 // literals ending at a state, its suffixes' included
}

const (
	outFlag   = 0x8000
	stateMask = 0x7fff
	// maxStates is what the 15 bits of a table entry can number; literals
	// beyond it are dropped from the prefilter (their expressions then
	// always run).
	maxStates = stateMask
)

func newAutomaton(pats []string) *automaton {
	a := &automaton{}
	nc := 1
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			b := p[i]
			if a.cls[b] == 0 {
				a.cls[b] = uint16(nc)
				nc++
			}
			a.cls[upper(b)] = a.cls[b]
		}
	}
	a.nc = nc
	type node struct {
		child map[uint16]int32
		fail  int32
		out   []int32
	}
	nodes := []node{{child: map[uint16]int32{}}}
	for id, p := range pats {
		if len(nodes)+len(p) > maxStates {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.cls[p[i]]
			nx, ok := nodes[s].child[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{child: map[uint16]int32{}})
				nodes[s].child[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	// Breadth-first order: new numbers, failure links, outputs.
	order := []int32{0}
	num := make([]int32, len(nodes))
	for i := 0; i < len(order); i++ {
		s := order[i]
		for c := 1; c < nc; c++ {
			if nx, ok := nodes[s].child[uint16(c)]; ok {
				num[nx] = int32(len(order))
				order = append(order, nx)
			}
		}
	}
	a.next = make([]uint16, len(nodes)*nc)
	a.out = make([][]int32, len(nodes))
	delta := func(s int32, c int) int32 { return int32(a.next[int(num[s])*nc+c] & stateMask) }
	for _, s := range order {
		f := nodes[s].fail
		if s != 0 {
			a.out[num[s]] = append(append([]int32(nil), nodes[s].out...), a.out[num[f]]...)
		}
		for c := 1; c < nc; c++ {
			var to int32
			if nx, ok := nodes[s].child[uint16(c)]; ok {
				if s == 0 {
					nodes[nx].fail = 0
				} else {
					// The failure of a child is where the parent's
					// failure goes on the same class.
					nodes[nx].fail = orderIndex(order, delta(f, c))
				}
				to = num[nx]
			} else if s != 0 {
				to = delta(f, c)
			}
			a.next[int(num[s])*nc+c] = uint16(to)
		}
	}
	for i := range a.next {
		if len(a.out[a.next[i]&stateMask]) > 0 {
			a.next[i] |= outFlag
		}
	}
	return a
}

// orderIndex maps a new state number back to its node.
func orderIndex(order []int32, n int32) int32 { return order[n] }

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// Set is the literal prefilter of one or more filters: one scan of a line
// over all their required literals tells which filters (and which of
// their failregex) can match at all.
type Set struct {
	grams  *gramFilter
	ac     *automaton
	pref   [][]int32   // per filter: one of these must occur (nil: no condition)
	fail   [][][]int32 // per filter and failregex
	always []bool      // per filter: multi-line, or a failregex without literals
	// unconditional: an expression of the filter has no literal at all
	// (and no prefregex literal guards it).
	unconditional []bool
	anyAll        bool // some filter must always run
	seen          []uint32
	gen           uint32
}

// NewSet builds the prefilter of filters.
func NewSet(filters ...*Filter) *Set {
	var lits literals
	s := &Set{}
	ids := func(ls []string) []int32 {
		if ls == nil {
			return nil
		}
		out := make([]int32, len(ls))
		for i, l := range ls {
			out[i] = lits.id(l)
		}
		return out
	}
	for _, f := range filters {
		var p []int32
		if f.pref != nil {
			p = ids(f.pref.lits)
		}
		var fl [][]int32
		uncond := false
		for _, r := range f.fail {
			x := ids(r.lits)
			if x == nil {
				uncond = uncond || p == nil
			}
			fl = append(fl, x)
		}
		always := f.MaxLines > 1 || uncond
		s.unconditional = append(s.unconditional, uncond)
		s.pref = append(s.pref, p)
		s.fail = append(s.fail, fl)
		s.always = append(s.always, always)
		s.anyAll = s.anyAll || always
	}
	s.ac = newAutomaton(lits.list)
	s.grams = newGramFilter(lits.list)
	s.seen = make([]uint32, len(lits.list))
	return s
}

// scan records the literals of line; false means the line holds none, so
// only the filters marked always can match it.
func (s *Set) scan(line string) bool {
	s.gen++
	if s.gen == 0 {
		clear(s.seen)
		s.gen = 1
	}
	if !s.grams.maybe(line) {
		return false
	}
	hit := false
	gen := s.gen
	seen := s.seen
	a := s.ac
	next, cls, nc := a.next, &a.cls, a.nc
	st := 0
	for i := 0; i < len(line); i++ {
		v := next[st*nc+int(cls[line[i]])]
		st = int(v & stateMask)
		if v&outFlag != 0 {
			for _, id := range a.out[st] {
				seen[id] = gen
			}
			hit = true
		}
	}
	return hit
}

func (s *Set) any(ids []int32) bool {
	for _, id := range ids {
		if s.seen[id] == s.gen {
			return true
		}
	}
	return false
}

// mask tells, for filter i after a scan, which failregex can match;
// false means none.
func (s *Set) mask(i int, mask []bool) bool {
	if p := s.pref[i]; p != nil && !s.any(p) {
		return false
	}
	any := false
	for j, ids := range s.fail[i] {
		mask[j] = ids == nil || s.any(ids)
		any = any || mask[j]
	}
	return any
}

// Literals reports how many distinct literals the set looks for.
func (s *Set) Literals() int { return len(s.seen) }

// relevant tells, for filter i after a scan, whether the line holds any
// literal of the filter (or the filter has an expression without one).
func (s *Set) relevant(i int) bool {
	if s.always[i] && s.unconditional[i] {
		return true
	}
	if s.any(s.pref[i]) {
		return true
	}
	for _, ids := range s.fail[i] {
		if s.any(ids) {
			return true
		}
	}
	return false
}

// gramFilter is a bit set of one gram (4 bytes, 3 for a 3-byte literal,
// ASCII-folded) of every literal, the rarest-looking one. A line in which
// no gram of the set occurs holds no literal, and the automaton need not
// run: the test per byte has no chain of dependent loads.
type gramFilter struct {
	fold   [256]byte
	shift  uint32
	bits   []uint64
	short  bool // some literal is 3 bytes long: test 3-grams too
	common [256]uint8
}

// commonBytes are the bytes most frequent in log lines, most frequent
// first; a gram made of them is a poor filter.
const commonBytes = " eainotsrl:0123456789.-/dcuhm[]()=_p,gfw\"'by"

// newGramFilter sizes the set at about 4096 bits per literal (false hits
// then stay near a few per cent of lines), from 2^12 to 2^20 bits.
func newGramFilter(lits []string) *gramFilter {
	g := &gramFilter{}
	for i := range g.fold {
		g.fold[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			g.fold[i] = byte(i) + 'a' - 'A'
		}
		g.common[i] = 64
	}
	for i := 0; i < len(commonBytes); i++ {
		g.common[commonBytes[i]] = uint8(i)
	}
	logBits := uint32(12)
	for logBits < 20 && 1<<logBits < 4096*len(lits) {
		logBits++
	}
	g.shift = 32 - logBits
	g.bits = make([]uint64, (1<<logBits)/64)
	for _, l := range lits {
		if len(l) < 3 {
			continue
		}
		n := 4
		if len(l) == 3 {
			n, g.short = 3, true
		}
		best, bestScore := 0, -1
		for i := 0; i+n <= len(l); i++ {
			score := 0
			for j := i; j < i+n; j++ {
				score += int(g.common[g.fold[l[j]]])
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		var x uint32
		for j := best; j < best+n; j++ {
			x = x<<8 | uint32(g.fold[l[j]])
		}
		h := g.hash(x, n)
		g.bits[h>>6] |= 1 << (h & 63)
	}
	return g
}

func (g *gramFilter) hash(x uint32, n int) uint32 {
	if n == 3 {
		x |= 0x5a000000 // keeps 3-grams apart from 4-grams
	}
	return (x * 2654435761) >> g.shift
}

// maybe reports whether line may hold a literal.
func (g *gramFilter) maybe(line string) bool {
	bits, shift := g.bits, g.shift
	var x uint32
	for i := 0; i < len(line); i++ {
		x = x<<8 | uint32(g.fold[line[i]])
		if i >= 3 {
			h := (x * 2654435761) >> shift
			if bits[h>>6]&(1<<(h&63)) != 0 {
				return true
			}
		}
		if g.short && i >= 2 {
			h := ((x&0xffffff | 0x5a000000) * 2654435761) >> shift
			if bits[h>>6]&(1<<(h&63)) != 0 {
				return true
			}
		}
	}
	return false
}
