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

// Set is the literal prefilter of one or more filters: one scan of a line
// over all their required literals tells which filters (and which of
// their failregex) can match at all.
type Set struct {
	scanner *anchors
	pref    [][]int32   // per filter: one of these must occur (nil: no condition)
	fail    [][][]int32 // per filter and failregex
	always  []bool      // per filter: multi-line, or a failregex without literals
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
	s.scanner = newAnchors(lits.list)
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
	return s.scanner.scan(line, s.seen, s.gen)
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

// anchors finds literals by one gram of each, its anchor: 4 bytes (3 for
// a 3-byte literal), the rarest-looking of the literal's. A scan hashes the
// gram at every position of a line into a bit set — loads that depend on
// nothing but the line, so a modern CPU runs several positions at once —
// and only where a bit is set compares the literals anchored there with
// the line. Most positions of most lines set no bit, so a line costs about
// a nanosecond a byte; an Aho–Corasick automaton, whose every step waits
// for the state of the one before, cost three to four.
//
// The bit set folds bytes with |0x20 (A-Z to a-z, and a few punctuation
// bytes onto others), which only adds positions to compare; the comparison
// itself folds ASCII letters only, as the expressions' (?i) does.
type anchors struct {
	lits  []string // ASCII-lower-cased
	shift uint32
	bits  []uint64
	short bool // some literal is 3 bytes long: look at 3-grams too
	// The anchors of bit h are list[first[h&slotMask]:first[h&slotMask+1]]
	// (with those of other bits that share the slot).
	first    []int32
	list     []anchor
	slotMask uint32
}

// anchor is a literal whose gram (folded, salted when 3 bytes long)
// starts off bytes into it.
type anchor struct {
	gram uint32
	id   int32
	off  int32
}

// commonBytes are the bytes most frequent in log lines, most frequent
// first; a gram made of them is a poor anchor.
const commonBytes = " eainotsrl:0123456789.-/dcuhm[]()=_p,gfw\"'by"

const (
	gramFold  = 0x20202020
	gramMul   = 2654435761
	shortSalt = 0x5a000000 // keeps 3-grams apart from 4-grams
)

// newAnchors sizes the bit set at about 128 bits per literal, from 2^12 to
// 2^16 bits: 8 KB stays in the first-level data cache beside the line and
// the rest of the work (at 2^18 bits, 32 KB, the lookups missed it and
// cost most of the scan), and a position that holds no literal still sets
// a bit in under one case in a hundred.
func newAnchors(lits []string) *anchors {
	var common [256]int
	for i := range common {
		common[i] = 64
	}
	for i := 0; i < len(commonBytes); i++ {
		common[commonBytes[i]] = i
		common[upper(commonBytes[i])] = i
	}
	a := &anchors{lits: lits}
	logBits := uint32(12)
	for logBits < 16 && 1<<logBits < 128*len(lits) {
		logBits++
	}
	a.shift = 32 - logBits
	a.bits = make([]uint64, (1<<logBits)/64)
	var list []anchor
	for id, l := range lits {
		if len(l) < 3 {
			continue
		}
		n := 4
		if len(l) == 3 {
			n, a.short = 3, true
		}
		best, bestScore := 0, -1
		for i := 0; i+n <= len(l); i++ {
			score := 0
			for j := i; j < i+n; j++ {
				score += common[l[j]]
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		var x uint32
		for j := n - 1; j >= 0; j-- {
			x = x<<8 | uint32(l[best+j])
		}
		x = gramOf(x, n)
		h := (x * gramMul) >> a.shift
		a.bits[h>>6] |= 1 << (h & 63)
		list = append(list, anchor{gram: x, id: int32(id), off: int32(best)})
	}
	// A slot per bit set, at least four per anchor, so that a slot
	// rarely holds an anchor of another bit.
	slots := uint32(64)
	for slots < uint32(4*len(list)) {
		slots *= 2
	}
	a.slotMask = slots - 1
	a.first = make([]int32, slots+1)
	for _, c := range list {
		a.first[a.slot(c.gram)+1]++
	}
	for i := 1; i < len(a.first); i++ {
		a.first[i] += a.first[i-1]
	}
	a.list = make([]anchor, len(list))
	next := append([]int32(nil), a.first[:slots]...)
	for _, c := range list {
		s := a.slot(c.gram)
		a.list[next[s]] = c
		next[s]++
	}
	return a
}

// gramOf folds the gram of n bytes x, read little-endian (its first byte
// lowest), and salts it when it is 3 bytes long.
func gramOf(x uint32, n int) uint32 {
	x |= gramFold
	if n == 3 {
		x = x&0xffffff | shortSalt
	}
	return x
}

func (a *anchors) slot(gram uint32) uint32 {
	return (gram * gramMul) >> a.shift & a.slotMask
}

// scan marks in seen (with gen) the literals line holds and reports
// whether it holds any.
func (a *anchors) scan(line string, seen []uint32, gen uint32) bool {
	bits, shift := a.bits, a.shift
	hit := false
	i := 0
	for ; i+4 <= len(line); i++ {
		g := line[i : i+4]
		x := uint32(g[0]) | uint32(g[1])<<8 | uint32(g[2])<<16 | uint32(g[3])<<24 | gramFold
		h := (x * gramMul) >> shift
		if bits[h>>6]&(1<<(h&63)) != 0 && a.verify(line, i, x, seen, gen) {
			hit = true
		}
		if a.short {
			x := x&0xffffff | shortSalt
			h := (x * gramMul) >> shift
			if bits[h>>6]&(1<<(h&63)) != 0 && a.verify(line, i, x, seen, gen) {
				hit = true
			}
		}
	}
	if a.short && i+3 == len(line) {
		g := line[i:]
		x := gramOf(uint32(g[0])|uint32(g[1])<<8|uint32(g[2])<<16, 3)
		h := (x * gramMul) >> shift
		if bits[h>>6]&(1<<(h&63)) != 0 && a.verify(line, i, x, seen, gen) {
			hit = true
		}
	}
	return hit
}

// verify compares the literals anchored by gram at line[i:] with the line.
func (a *anchors) verify(line string, i int, gram uint32, seen []uint32, gen uint32) bool {
	hit := false
	s := a.slot(gram)
	for _, c := range a.list[a.first[s]:a.first[s+1]] {
		if c.gram != gram {
			continue
		}
		start := i - int(c.off)
		l := a.lits[c.id]
		if start < 0 || start+len(l) > len(line) || !foldedPrefix(line[start:], l) {
			continue
		}
		seen[c.id] = gen
		hit = true
	}
	return hit
}

// foldedPrefix reports whether s begins with lower (ASCII lower case),
// A-Z in s read as a-z.
func foldedPrefix(s, lower string) bool {
	s = s[:len(lower)]
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}
