package fail2ban

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A sequence is the prefilter's condition for an expression without a
// required literal (3proxy's "^\s[+-]\d{4} \S+ …" has none of 3 bytes):
// a run of single characters, each from a class, that every match holds
// — for 3proxy "[+-]", four \d and a space. Its first class is a few
// ASCII bytes, found with strings.IndexByte; the rest are checked where
// one is found. Classes are exact, Unicode included (Python's \d takes
// Arabic-Indic digits too), and an invalid UTF-8 byte reads as U+FFFD, as
// both engines read it.
type sequence struct {
	first []byte // the ASCII bytes items[0] takes
	items []seqItem
}

// seqItem is one character of a sequence: the ASCII bytes it takes (a
// bit map) and, beyond ASCII, rune ranges (lo, hi pairs).
type seqItem struct {
	ascii  [2]uint64
	ranges []rune
}

// maxSeqItems bounds a sequence: longer ones filter no better.
const maxSeqItems = 16

// minSeqItems is the shortest sequence worth looking for.
const minSeqItems = 4

func (it *seqItem) hasASCII(c byte) bool { return it.ascii[c>>6]&(1<<(c&63)) != 0 }

func (it *seqItem) has(r rune) bool {
	if r < utf8.RuneSelf {
		return it.hasASCII(byte(r))
	}
	for i := 0; i+1 < len(it.ranges); i += 2 {
		if r < it.ranges[i] {
			return false
		}
		if r <= it.ranges[i+1] {
			return true
		}
	}
	return false
}

// asciiCount is the number of ASCII bytes the item takes, or -1 when it
// takes runes beyond ASCII too.
func (it *seqItem) asciiCount() int {
	if len(it.ranges) > 0 {
		return -1
	}
	n := 0
	for c := 0; c < utf8.RuneSelf; c++ {
		if it.hasASCII(byte(c)) {
			n++
		}
	}
	return n
}

// itemOf makes the item of rune ranges (sorted lo, hi pairs, as
// regexp/syntax gives them).
func itemOf(ranges []rune) seqItem {
	var it seqItem
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for c := lo; c <= hi && c < utf8.RuneSelf; c++ {
			it.ascii[c>>6] |= 1 << (c & 63)
		}
		if hi >= utf8.RuneSelf {
			it.ranges = append(it.ranges, max(lo, utf8.RuneSelf), hi)
		}
	}
	return it
}

// literalItem is the item of one literal rune, folded when fold is set.
func literalItem(r rune, fold bool) seqItem {
	rs := []rune{r}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			rs = append(rs, f)
		}
	}
	var ranges []rune
	for _, x := range rs {
		ranges = append(ranges, x, x)
	}
	// itemOf wants sorted pairs; a fold orbit has at most a few runes.
	for i := 0; i+2 < len(ranges); i += 2 {
		for j := i + 2; j < len(ranges); j += 2 {
			if ranges[j] < ranges[i] {
				ranges[i], ranges[j] = ranges[j], ranges[i]
				ranges[i+1], ranges[j+1] = ranges[j+1], ranges[i+1]
			}
		}
	}
	return itemOf(ranges)
}

// seqElem is a character of a flattened expression, or a break (any
// text may stand there).
type seqElem struct {
	item seqItem
	lit  rune // the literal it is (for junctions), else -1
	brk  bool
}

var seqBreak = seqElem{brk: true, lit: -1}

// flatten lists the characters every match of re consumes in order, with
// breaks where the text is not one fixed character.
func flatten(re *syntax.Regexp, out []seqElem) []seqElem {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		for _, r := range re.Rune {
			lit := r
			if fold {
				lit = -1
			}
			out = append(out, seqElem{item: literalItem(r, fold), lit: lit})
		}
	case syntax.OpCharClass:
		out = append(out, seqElem{item: itemOf(re.Rune), lit: -1})
	case syntax.OpAnyCharNotNL:
		out = append(out, seqElem{item: itemOf([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}), lit: -1})
	case syntax.OpAnyChar:
		out = append(out, seqElem{item: itemOf([]rune{0, unicode.MaxRune}), lit: -1})
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// Consumes nothing: the characters around it stay adjacent.
	case syntax.OpCapture:
		out = flatten(re.Sub[0], out)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			out = flatten(sub, out)
		}
	case syntax.OpPlus:
		out = flatten(re.Sub[0], out)
		out = append(out, seqBreak)
	case syntax.OpRepeat:
		for range min(re.Min, maxSeqItems) {
			out = flatten(re.Sub[0], out)
		}
		if re.Max != re.Min || re.Min == 0 || re.Min > maxSeqItems {
			out = append(out, seqBreak)
		}
	default:
		out = append(out, seqBreak)
	}
	return out
}

// requiredSequence returns a sequence every text the RE2 expression
// approx matches holds, or nil.
func requiredSequence(approx string) *sequence {
	re, err := syntax.Parse(approx, syntax.Perl)
	if err != nil {
		return nil
	}
	elems := flatten(re.Simplify(), nil)
	// Cut where the text may not be adjacent in the raw line: at a
	// character that takes a newline (the lines of a multi-line buffer
	// are joined by one) and where fail2ban cut out the date (see
	// junctionSafe).
	var runs [][]seqElem
	start := 0
	for i := 0; i <= len(elems); i++ {
		cut := i == len(elems) || elems[i].brk || elems[i].item.hasASCII('\n')
		if !cut && i > start && elems[i-1].lit >= 0 && elems[i].lit >= 0 {
			switch string([]rune{elems[i-1].lit, elems[i].lit}) {
			case "[]", "()", "{}", "<>", `""`, "''", "  ":
				runs = append(runs, elems[start:i])
				start = i
				continue
			}
		}
		if cut {
			runs = append(runs, elems[start:i])
			start = i + 1
		}
	}
	var best *sequence
	bestScore := -1
	for _, run := range runs {
		for s := range run {
			n := run[s].item.asciiCount()
			if n < 1 || n > 3 || len(run)-s < minSeqItems {
				continue
			}
			seq := &sequence{}
			for c := 0; c < utf8.RuneSelf; c++ {
				if run[s].item.hasASCII(byte(c)) {
					seq.first = append(seq.first, byte(c))
				}
			}
			for _, e := range run[s:min(len(run), s+maxSeqItems)] {
				seq.items = append(seq.items, e.item)
			}
			// Rare first bytes first, then length.
			rarity := 64
			for _, c := range seq.first {
				if i := strings.IndexByte(commonBytes, byte(unicode.ToLower(rune(c)))); i >= 0 {
					rarity = min(rarity, i)
				}
			}
			if score := rarity*maxSeqItems + len(seq.items); score > bestScore {
				best, bestScore = seq, score
			}
		}
	}
	return best
}

// in reports whether line holds the sequence.
func (q *sequence) in(line string) bool {
	for _, b := range q.first {
		for from := 0; ; {
			i := strings.IndexByte(line[from:], b)
			if i < 0 {
				break
			}
			from += i + 1
			// The second character first, inline: most places where a
			// first byte stands (a '-' inside a word) fail there. There
			// are at least minSeqItems.
			if from >= len(line) {
				break
			}
			if c := line[from]; c < utf8.RuneSelf && !q.items[1].hasASCII(c) {
				continue
			}
			if q.at(line, from-1) {
				return true
			}
		}
	}
	return false
}

// at reports whether the sequence starts at line[i].
func (q *sequence) at(line string, i int) bool {
	for k := range q.items {
		if i >= len(line) {
			return false
		}
		it := &q.items[k]
		if c := line[i]; c < utf8.RuneSelf {
			if !it.hasASCII(c) {
				return false
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(line[i:])
		if !it.has(r) {
			return false
		}
		i += w
	}
	return true
}
