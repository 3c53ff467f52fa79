package fail2ban

import (
	"math"
	"strings"
)

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
// over all their required literals (and the sequences of expressions
// without a literal) tells which filters (and which of their failregex)
// can match at all.
type Set struct {
	scanner *anchors
	seqs    []*sequence // their ids follow the literals'
	pref    [][]int32   // per filter: one of these must occur (nil: no condition)
	fail    [][][]int32 // per filter and failregex
	always  []bool      // per filter: multi-line, or a failregex without literals
	// unconditional: an expression of the filter has neither literal nor
	// sequence (and no prefregex literal guards it).
	unconditional []bool
	anyAll        bool // some filter must always run
	seen          []uint32
	gen           uint32
	// users[id]: the filters whose conditions name literal (or sequence)
	// id, as a bit map of len(pref)/64+1 words; hits: the ids the last
	// scan found.
	users [][]uint64
	hits  []int32
	pos   [gramChunk]int32 // the gram scan's candidates
}

// NewSet builds the prefilter of filters.
func NewSet(filters ...*Filter) *Set {
	var lits literals
	s := &Set{}
	// Sequences are numbered -1, -2, … until the literals are counted.
	ids := func(r *rx) []int32 {
		if r.lits == nil {
			if r.seq == nil {
				return nil
			}
			s.seqs = append(s.seqs, r.seq)
			return []int32{-int32(len(s.seqs))}
		}
		out := make([]int32, len(r.lits))
		for i, l := range r.lits {
			out[i] = lits.id(l)
		}
		return out
	}
	m := scanLength(filters)
	for _, f := range filters {
		usePref, useFail := conditions(f, m)
		var p []int32
		if usePref {
			p = ids(f.pref)
		}
		var fl [][]int32
		uncond := false
		for j, r := range f.fail {
			var x []int32
			if useFail[j] {
				x = ids(r)
			}
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
	n := int32(len(lits.list))
	renumber := func(ids []int32) {
		for i, id := range ids {
			if id < 0 {
				ids[i] = n - id - 1
			}
		}
	}
	for i := range s.pref {
		renumber(s.pref[i])
		for _, x := range s.fail[i] {
			renumber(x)
		}
	}
	s.scanner = newAnchors(lits.list, m)
	s.seen = make([]uint32, len(lits.list)+len(s.seqs))
	words := len(filters)/64 + 1
	s.users = make([][]uint64, len(s.seen))
	for i := range s.pref {
		mark := func(ids []int32) {
			for _, id := range ids {
				if s.users[id] == nil {
					s.users[id] = make([]uint64, words)
				}
				s.users[id][i/64] |= 1 << (i % 64)
			}
		}
		mark(s.pref[i])
		for _, x := range s.fail[i] {
			mark(x)
		}
	}
	return s
}

// candidates sets in bits, after a scan, the filters a literal found
// names (bits has len(filters)/64+1 words).
func (s *Set) candidates(bits []uint64) {
	for _, id := range s.hits {
		for w, x := range s.users[id] {
			bits[w] |= x
		}
	}
}

// conditions chooses which of a filter's requirements the prefilter
// checks when the gram scan skips by m-3. The prefregex's and each
// failregex's must all hold for a line to match, so either side alone is
// enough to dismiss a line; a side whose literals would slow the scan
// down is left out when the other side is faster to look for (see speed).
// proftpd's prefregex needs only "user", a word too short to skip over
// and in every other line, while each of its failregex needs a long
// literal: the scan looks for those.
func conditions(f *Filter, m int) (usePref bool, useFail []bool) {
	useFail = make([]bool, len(f.fail))
	for j := range useFail {
		useFail[j] = true
	}
	if f.pref == nil {
		return false, useFail
	}
	sp := speed(f.pref, m)
	sf := 2
	for _, r := range f.fail {
		sf = min(sf, speed(r, m))
	}
	switch {
	case sf >= 1 && sp < sf:
		return false, useFail
	case sp >= 1:
		for j, r := range f.fail {
			useFail[j] = speed(r, m) == 2
		}
	}
	return true, useFail
}

// speed rates how fast a requirement is looked for: 2 when all its
// literals are m bytes or longer (or it is a sequence), 1 when the
// shorter ones hold a rare byte, 0 when one is short and common, -1 when
// there is no requirement.
func speed(r *rx, m int) int {
	if r.lits == nil {
		if r.seq != nil {
			return 2
		}
		return -1
	}
	sp := 2
	for _, l := range r.lits {
		switch {
		case len(l) >= m:
		case rareLiteral(l):
			sp = min(sp, 1)
		default:
			return 0
		}
	}
	return sp
}

// scanLength chooses M, the length from which literals are found by the
// gram scan (which then looks at every (M-3)-th position), by the cost
// it expects on a line of typicalLine bytes: positions looked at, and a
// pass of strings.IndexByte per rare byte of the shorter literals (two for
// a letter), each occurrence compared.
func scanLength(filters []*Filter) int {
	best, bestCost := 4, math.MaxFloat64
	for m := 4; m <= maxStride+3; m++ {
		rare := map[byte]bool{}
		short := func(r *rx) {
			for _, l := range r.lits {
				if len(l) < m {
					off, _ := rarest(l)
					rare[l[off]|0x20] = true
				}
			}
		}
		for _, f := range filters {
			usePref, useFail := conditions(f, m)
			if usePref {
				short(f.pref)
			}
			for j, r := range f.fail {
				if useFail[j] {
					short(r)
				}
			}
		}
		cost := typicalLine / float64(m-3) * positionCost
		for b := range rare {
			passes := 1.0
			if b >= 'a' && b <= 'z' {
				passes = 2
			}
			cost += passes*passCost + byteFrequency(b)*typicalLine*compareCost
		}
		if cost <= bestCost {
			best, bestCost = m, cost
		}
	}
	return best
}

// The cost model of scanLength, in nanoseconds, measured roughly with
// BenchmarkScanOnly on the machine this was written on.
const (
	typicalLine  = 110 // bytes
	positionCost = 1.0
	passCost     = 5.0
	compareCost  = 4.0
)

// byteFrequency guesses how often c occurs in a log line, per byte, from
// its rank among commonBytes.
func byteFrequency(c byte) float64 {
	r := byteRank(c)
	if r >= len(commonBytes) {
		return 0.002
	}
	return 0.15 / float64(1+r)
}

// scan records the literals and sequences of line; false means the line
// holds none, so only the filters marked always can match it.
func (s *Set) scan(line string) bool {
	s.gen++
	if s.gen == 0 {
		clear(s.seen)
		s.gen = 1
	}
	s.hits = s.scanner.scanGrams(line, s.seen, s.gen, s.hits[:0], &s.pos)
	s.hits = s.scanner.scanRare(line, s.seen, s.gen, s.hits)
	for k, q := range s.seqs {
		if q.in(line) {
			id := len(s.scanner.lits) + k
			s.seen[id] = s.gen
			s.hits = append(s.hits, int32(id))
		}
	}
	return len(s.hits) > 0
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

// Literals reports how many distinct literals and sequences the set
// looks for.
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

// anchors finds literals in a line, two ways.
//
// A literal of at least M bytes (M is 4 to 8, see newAnchors) is found by
// its grams: a scan hashes the 4 bytes at every (M-3)-th position of a line
// into a bit set of 2^16 bits, and only where a bit is set compares the
// literals anchored there with the line. Every occurrence of a literal
// covers M-3 consecutive gram positions, so one of them is a position the
// scan looks at: each literal sets the bits of M-3 consecutive grams of
// its own (the rarest-looking run), and the scan skips the rest (as in
// Wu and Manber's multi-pattern search). Most positions of most lines set
// no bit, and the hashes depend on nothing but the line, so a modern CPU
// runs several at once.
//
// A shorter literal that holds a rare byte (a quote in `" 404 `, a q) is
// found by that byte instead: strings.IndexByte runs over the line once
// per such byte, and each occurrence is compared with the literals it
// anchors (a letter in both cases). A Set chooses M (scanLength) and
// which requirements to check (conditions) so that few literals are
// shorter than M, and those few hold a rare byte.
//
// The bit set folds bytes with |0x20 (A-Z to a-z, and a few punctuation
// bytes onto others), which only adds positions to compare; the comparison
// itself folds ASCII letters only, as the expressions' (?i) does.
type anchors struct {
	lits   []string // ASCII-lower-cased
	stride int      // M-3
	bits   *[gramBits / 64]uint64
	// The anchors of bit h are list[first[h&slotMask]:first[h&slotMask+1]]
	// (with those of other bits that share the slot).
	first    []int32
	list     []anchor
	slotMask uint32
	rare     []rareByte
	// A candidate position goes on to verify only when next has the bit
	// of the 8 bytes it starts (the gram and the 4 bytes after it, folded
	// and hashed alike), or prev the bit of the 8 bytes it ends (the 4
	// before and the gram), of an anchor whose literal holds them there;
	// or when must has its gram's bit (an anchor whose literal holds
	// neither). Most grams of ordinary words that a literal shares
	// ("from", "ser ") stand beside other bytes than in the literal.
	must, next, prev *[gramBits / 64]uint64
}

// anchor is a literal whose gram (folded) starts off bytes into it; on
// the rare-byte path, off is where the rare byte is, and gram is
// 0x100|the byte after it folded with |0x20 (0 when it ends the
// literal), a check cheaper than the comparison (a quote that opens a
// string is not followed by the space of `" 401`).
type anchor struct {
	gram uint32
	id   int32
	off  int32
}

// rareByte is a byte and the short literals that hold it at anchor.off.
type rareByte struct {
	b     byte // lower case
	upper byte // its upper case, or b
	lits  []anchor
}

// commonBytes are the bytes most frequent in log lines, most frequent
// first; a gram made of them is a poor anchor.
const commonBytes = " eainotsrl:0123456789.-/dcuhm[]()=_p,gfw\"'by"

const (
	gramFold = 0x20202020
	gramMul  = 2654435761
	// 2^16 bits, 8 KB: stays in the first-level data cache beside the line
	// and the rest of the work (at 2^18 bits, 32 KB, the lookups missed it
	// and cost most of the scan), and a position that holds no literal
	// still sets a bit in a few cases in a hundred.
	gramLog  = 16
	gramBits = 1 << gramLog
	// maxStride bounds the skip (M ≤ 8): each literal sets maxStride bits,
	// and more would crowd the bit set.
	maxStride = 5
	// rareRank: a byte past the first rareRank of commonBytes (or not
	// among them) is rare enough to be searched for on its own.
	rareRank = 30
)

// byteRank is how common c is in log lines: its index in commonBytes
// (letters folded), len(commonBytes) if not there.
func byteRank(c byte) int {
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	if i := strings.IndexByte(commonBytes, c); i >= 0 {
		return i
	}
	return len(commonBytes)
}

// rarest returns the offset of l's rarest byte and its rank.
func rarest(l string) (off, rank int) {
	rank = -1
	for i := 0; i < len(l); i++ {
		if r := byteRank(l[i]); r > rank {
			off, rank = i, r
		}
	}
	return off, rank
}

// rareLiteral reports whether a literal holds a rare byte, by which it
// can be looked for on its own.
func rareLiteral(l string) bool {
	_, r := rarest(l)
	return r >= rareRank
}

// newAnchors prepares the search for lits, by grams for those of m bytes
// or more (4 ≤ m ≤ maxStride+3), by their rarest byte for the others.
func newAnchors(lits []string, m int) *anchors {
	a := &anchors{lits: lits, bits: new([gramBits / 64]uint64), stride: m - 3,
		must: new([gramBits / 64]uint64), next: new([gramBits / 64]uint64), prev: new([gramBits / 64]uint64)}
	var list []anchor
	rare := map[byte]int{}
	uses := map[uint32]int{} // anchors per gram
	for id, l := range lits {
		if len(l) < m {
			off, _ := rarest(l)
			b := l[off]
			k, ok := rare[b]
			if !ok {
				k = len(a.rare)
				rare[b] = k
				a.rare = append(a.rare, rareByte{b: b, upper: upper(b)})
			}
			var next uint32
			if off+1 < len(l) {
				next = 0x100 | uint32(l[off+1]|0x20)
			}
			a.rare[k].lits = append(a.rare[k].lits, anchor{gram: next, id: int32(id), off: int32(off)})
			continue
		}
		// The run of stride grams least likely in an ordinary line.
		best, bestCost := 0, math.MaxInt
		for o := 0; o+m <= len(l); o++ {
			cost := 0
			for j := o; j < o+a.stride; j++ {
				cost += gramCost(l[j:j+4], uses)
			}
			if cost < bestCost {
				best, bestCost = o, cost
			}
		}
		for o := best; o < best+a.stride; o++ {
			x := gramOf(l[o:])
			uses[x]++
			h := gramHash(x)
			a.bits[h>>6] |= 1 << (h & 63)
			switch {
			case o+8 <= len(l):
				h2 := wideHash(wideOf(l[o:]))
				a.next[h2>>6] |= 1 << (h2 & 63)
			case o >= 4:
				h2 := wideHash(wideOf(l[o-4:]))
				a.prev[h2>>6] |= 1 << (h2 & 63)
			default:
				a.must[h>>6] |= 1 << (h & 63)
			}
			list = append(list, anchor{gram: x, id: int32(id), off: int32(o)})
		}
	}
	// A slot per bit set, at least two per anchor, so that a slot
	// seldom holds an anchor of another bit (verify skips those by their
	// gram) and the table (4 bytes a slot) stays small beside the bits.
	slots := uint32(64)
	for slots < uint32(2*len(list)) {
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

// gramCost rates a gram of a literal as an anchor: the more common its
// bytes, the more often it is part of an ordinary word (commonWords), and
// the more literals it already anchors, the more often a line sets its
// bit or compares its literals for nothing.
func gramCost(g string, uses map[uint32]int) int {
	cost := 0
	for i := 0; i < 4; i++ {
		cost += len(commonBytes) - byteRank(g[i])
	}
	if strings.Contains(commonWords, asciiLower(g)) {
		cost += 200
	}
	return cost + 100*uses[gramOf(g)]
}

// commonWords are words of ordinary log lines (systemd, cron, the kernel,
// mail and web servers) that fail2ban's literals share: a gram inside one
// of them is a poor anchor.
const commonWords = " from user for with session service system started starting " +
	"stopped finished failed failure connection connect connected closed opened " +
	"open the and not for error warning info notice debug kernel daemon server " +
	"client request response http get post host port web mail time date " +
	"successfully activated deactivated login logout root process status " +
	"message address network device version update access denied " +
	"authentication password invalid accepted received disconnect reset " +
	"refused remote local name unknown command able unable available cannot " +
	"enabled disabled selected change changed attempt attribute socket " +
	"profile blocked mode new of to in on is at by was has no msg= type= " +
	"level= pid= uid= state file path config configuration reload loaded " +
	"running stopping created removed deleted sent using daily "

// gramOf folds the 4 bytes s starts with, read little-endian.
func gramOf(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24 | gramFold
}

func gramHash(x uint32) uint32 { return (x * gramMul) >> (32 - gramLog) }

// wideOf folds the 8 bytes s starts with, as gramOf does 4.
func wideOf(s string) uint64 { return load64(s[:8]) | gramFold<<32 | gramFold }

func wideHash(w uint64) uint64 { return (w * 0x9e3779b97f4a7c15) >> (64 - gramLog) }

func (a *anchors) slot(gram uint32) uint32 { return gramHash(gram) & a.slotMask }

// scan marks in seen (with gen) the literals line holds and appends
// their ids to hits.
func (a *anchors) scan(line string, seen []uint32, gen uint32, hits []int32) []int32 {
	var pos [gramChunk]int32
	return a.scanRare(line, seen, gen, a.scanGrams(line, seen, gen, hits, &pos))
}

// scanGrams does scan's work for the literals found by their grams; pos
// is room for the candidates.
func (a *anchors) scanGrams(line string, seen []uint32, gen uint32, hits []int32, pos *[gramChunk]int32) []int32 {
	if len(a.list) == 0 {
		return hits
	}
	for from := 0; from+4 <= len(line); {
		var n int
		n, from = a.grams(line, from, pos)
		for _, i := range pos[:n] {
			x := gramOf(line[i:])
			if !a.wide(line, int(i), gramHash(x)) {
				continue
			}
			hits = a.verify(line, int(i), x, seen, gen, hits)
		}
	}
	return hits
}

// scanRare does scan's work for the short literals, found by a rare byte.
func (a *anchors) scanRare(line string, seen []uint32, gen uint32, hits []int32) []int32 {
	for r := range a.rare {
		rb := &a.rare[r]
		hits = a.rareScan(line, rb, rb.b, seen, gen, hits)
		if rb.upper != rb.b {
			hits = a.rareScan(line, rb, rb.upper, seen, gen, hits)
		}
	}
	return hits
}

// gramChunk is how many gram positions grams looks at per call (a power
// of two).
const gramChunk = 64

// grams looks at up to gramChunk gram positions of line from from on
// (every stride-th), and puts in pos those whose bit is set; it returns
// how many, and where to go on. The loop calls nothing (the few
// candidates are compared afterwards), so that the hashes of the
// positions, which depend on nothing but the line, overlap; it takes two
// positions a step, both from one 8-byte load when the stride is 4 or
// less, and branches once for both, as a bit is set at a few positions
// in a hundred.
func (a *anchors) grams(line string, from int, pos *[gramChunk]int32) (n, next int) {
	bits, k := a.bits, a.stride
	end := min(len(line)-4, from+(gramChunk-1)*k) // the last position looked at, at most
	i := from
	if k == 3 {
		// The same with the stride a constant (the usual one: M = 6),
		// which the compiler makes a tenth faster.
		for ; i+3 <= end && i+8 <= len(line); i += 6 {
			w := load64(line[i : i+8])
			x, x2 := uint32(w)|gramFold, uint32(w>>24)|gramFold
			h, h2 := (x*gramMul)>>(32-gramLog), (x2*gramMul)>>(32-gramLog)
			b, b2 := bits[h>>6]&(1<<(h&63)), bits[h2>>6]&(1<<(h2&63))
			if b|b2 != 0 {
				n = addPos(pos, n, i, b, b2, 3)
			}
		}
	}
	if k <= 4 {
		sh := uint(8 * k)
		for ; i+k <= end && i+8 <= len(line); i += 2 * k {
			w := load64(line[i : i+8])
			x, x2 := uint32(w)|gramFold, uint32(w>>sh)|gramFold
			h, h2 := (x*gramMul)>>(32-gramLog), (x2*gramMul)>>(32-gramLog)
			b, b2 := bits[h>>6]&(1<<(h&63)), bits[h2>>6]&(1<<(h2&63))
			if b|b2 != 0 {
				n = addPos(pos, n, i, b, b2, k)
			}
		}
	}
	for ; i+k <= end; i += 2 * k {
		g, g2 := line[i:i+4], line[i+k:i+k+4]
		x := uint32(g[0]) | uint32(g[1])<<8 | uint32(g[2])<<16 | uint32(g[3])<<24 | gramFold
		x2 := uint32(g2[0]) | uint32(g2[1])<<8 | uint32(g2[2])<<16 | uint32(g2[3])<<24 | gramFold
		h, h2 := (x*gramMul)>>(32-gramLog), (x2*gramMul)>>(32-gramLog)
		b, b2 := bits[h>>6]&(1<<(h&63)), bits[h2>>6]&(1<<(h2&63))
		if b|b2 != 0 {
			n = addPos(pos, n, i, b, b2, k)
		}
	}
	if i <= end {
		g := line[i : i+4]
		x := uint32(g[0]) | uint32(g[1])<<8 | uint32(g[2])<<16 | uint32(g[3])<<24 | gramFold
		h := (x * gramMul) >> (32 - gramLog)
		if bits[h>>6]&(1<<(h&63)) != 0 {
			n = addPos(pos, n, i, 1, 0, k)
		}
		i += k
	}
	return n, i
}

// addPos adds position i when b is set and i+k when b2 is, to the n
// positions of pos. grams looks at most at gramChunk positions a call,
// so n stays below gramChunk.
func addPos(pos *[gramChunk]int32, n, i int, b, b2 uint64, k int) int {
	if b != 0 {
		pos[n&(gramChunk-1)] = int32(i)
		n++
	}
	if b2 != 0 {
		pos[n&(gramChunk-1)] = int32(i + k)
		n++
	}
	return n
}

// load64 reads the 8 bytes s starts with, little-endian (one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// wide tells whether a literal anchored by the gram at line[i:] (of hash
// h) may stand there, by must, next and prev: an anchor in next is not
// there unless the line holds its literal's 8 bytes from the gram on
// (folded alike, so their hash is the same), one in prev unless it holds
// the 4 bytes before the gram; must's are always compared.
func (a *anchors) wide(line string, i int, h uint32) bool {
	if a.must[h>>6]&(1<<(h&63)) != 0 {
		return true
	}
	if i+8 <= len(line) {
		if h2 := wideHash(wideOf(line[i:])); a.next[h2>>6]&(1<<(h2&63)) != 0 {
			return true
		}
	}
	if i >= 4 {
		if h2 := wideHash(wideOf(line[i-4:])); a.prev[h2>>6]&(1<<(h2&63)) != 0 {
			return true
		}
	}
	return false
}

// rareScan compares the literals of rb with line wherever b is.
func (a *anchors) rareScan(line string, rb *rareByte, b byte, seen []uint32, gen uint32, hits []int32) []int32 {
	for from := 0; ; {
		i := strings.IndexByte(line[from:], b)
		if i < 0 {
			return hits
		}
		i += from
		from = i + 1
		for _, c := range rb.lits {
			if c.gram != 0 && (from >= len(line) || uint32(line[from]|0x20) != c.gram&0xff) {
				continue
			}
			hits = a.compare(line, i-int(c.off), c.id, seen, gen, hits)
		}
	}
}

// verify compares the literals anchored by gram at line[i:] with the
// line, and appends those found for the first time to hits.
func (a *anchors) verify(line string, i int, gram uint32, seen []uint32, gen uint32, hits []int32) []int32 {
	s := a.slot(gram)
	for _, c := range a.list[a.first[s]:a.first[s+1]] {
		if c.gram == gram {
			hits = a.compare(line, i-int(c.off), c.id, seen, gen, hits)
		}
	}
	return hits
}

// compare marks literal id if line holds it at start.
func (a *anchors) compare(line string, start int, id int32, seen []uint32, gen uint32, hits []int32) []int32 {
	l := a.lits[id]
	if start < 0 || start+len(l) > len(line) || seen[id] == gen || !foldedPrefix(line[start:], l) {
		return hits
	}
	seen[id] = gen
	return append(hits, id)
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
