package httplog

import (
	"encoding/binary"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a JSON line.
const maxJSONDepth = 64

// jsonScan is a strict, allocation-free reader of one JSON text: strings are
// returned raw (as slices of the line) with a note of whether they hold
// escapes, and unescaped on demand into the Parser's scratch space. Any
// syntax error sets bad, after which every method returns nothing.
type jsonScan struct {
	b   []byte
	i   int
	bad bool
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte that is not white space, or 0.
func (s *jsonScan) peek() byte {
	s.ws()
	if s.bad || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *jsonScan) fail() { s.bad = true }

// str reads a string; raw is its content between the quotes.
func (s *jsonScan) str() (raw []byte, esc bool) {
	if s.peek() != '"' {
		s.fail()
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); {
		// Eight bytes at a time while none is a quote, a backslash or a
		// control byte.
		for j+8 <= len(s.b) {
			x := binary.LittleEndian.Uint64(s.b[j:])
			if hasLess(x, 0x20)|hasZero(x^(ones*'"'))|hasZero(x^(ones*'\\')) != 0 {
				break
			}
			j += 8
		}
		if j >= len(s.b) {
			break
		}
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], esc
		case c == '\\':
			esc = true
			if j+1 >= len(s.b) {
				s.fail()
				return nil, false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) || hex4(s.b[j+2:j+6]) < 0 {
					s.fail()
					return nil, false
				}
				j += 6
			default:
				s.fail()
				return nil, false
			}
		case c < 0x20:
			s.fail()
			return nil, false
		default:
			j++
		}
	}
	s.fail()
	return nil, false
}

// SWAR tests of the eight bytes of a word: hasZero reports a zero byte,
// hasLess a byte below n (n <= 128). Either may report a byte after a true
// one by mistake, never one where there is none.
const ones = 0x0101010101010101

func hasZero(x uint64) uint64         { return (x - ones) &^ x & (ones * 0x80) }
func hasLess(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & (ones * 0x80) }

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		d := hexVal(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | rune(d)
	}
	return r
}

// num reads a number and returns its text.
func (s *jsonScan) num() []byte {
	s.ws()
	start, j := s.i, s.i
	b := s.b
	if j < len(b) && b[j] == '-' {
		j++
	}
	d := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == d || b[d] == '0' && j-d > 1 {
		s.fail()
		return nil
	}
	if j < len(b) && b[j] == '.' {
		j++
		f := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == f {
			s.fail()
			return nil
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		e := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == e {
			s.fail()
			return nil
		}
	}
	s.i = j
	return b[start:j]
}

// lit reads true, false or null.
func (s *jsonScan) lit() {
	for _, w := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return
		}
	}
	s.fail()
}

// member steps through an object whose '{' has been read: it reads the next
// key and its colon and returns the key, or returns false at the closing '}'
// (which it reads) or on an error. n counts the members so far.
func (s *jsonScan) member(n *int) (key []byte, keyEsc bool, ok bool) {
	c := s.peek()
	if c == '}' {
		s.i++
		return nil, false, false
	}
	if *n > 0 {
		if c != ',' {
			s.fail()
			return nil, false, false
		}
		s.i++
	}
	*n++
	key, keyEsc = s.str()
	if s.peek() != ':' {
		s.fail()
		return nil, false, false
	}
	s.i++
	return key, keyEsc, !s.bad
}

// open reads the '{' of an object; false (and nothing read) if the value
// is something else.
func (s *jsonScan) open(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// element steps through an array whose '[' has been read, like member.
func (s *jsonScan) element(n *int) bool {
	c := s.peek()
	if c == ']' {
		s.i++
		return false
	}
	if *n > 0 {
		if c != ',' {
			s.fail()
			return false
		}
		s.i++
	}
	*n++
	return !s.bad
}

// skip reads one value of any kind, checking its syntax, without
// recursion: containers are tracked on bit stacks (obj: 1 = object; seen:
// 1 = the container has had a member or element).
func (s *jsonScan) skip() {
	switch c := s.peek(); c {
	case '"':
		s.str()
		return
	case 't', 'f', 'n':
		s.lit()
		return
	case '{', '[':
	default:
		s.num()
		return
	}
	var obj, seen uint64
	depth := 0
	for !s.bad {
		// A value.
		switch c := s.peek(); {
		case c == '{' || c == '[':
			if depth == maxJSONDepth {
				s.fail()
				return
			}
			s.i++
			obj, seen = obj<<1|b2u(c == '{'), seen<<1
			depth++
		case c == '"':
			s.str()
		case c == 't' || c == 'f' || c == 'n':
			s.lit()
		default:
			s.num()
		}
		// Then the end of containers, or the next member or element.
		for depth > 0 && !s.bad {
			n := int(seen & 1)
			var more bool
			if obj&1 == 1 {
				_, _, more = s.member(&n)
			} else {
				more = s.element(&n)
			}
			if more {
				seen |= 1
				break
			}
			if s.bad {
				return
			}
			obj, seen = obj>>1, seen>>1
			depth--
		}
		if depth == 0 {
			return
		}
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// unescape returns the content of a JSON string: raw itself when it has no
// escapes, or its unescaped bytes in p.scratch. Parse sizes the scratch to
// the line, and an unescaped string is never longer than its raw text, so
// appending never moves what earlier calls returned; should it not fit, the
// string is reported unreadable rather than moving the scratch.
func (p *Parser) unescape(raw []byte, esc bool) ([]byte, bool) {
	if !esc {
		return raw, true
	}
	start := len(p.scratch)
	if cap(p.scratch)-start < len(raw) {
		return nil, false
	}
	out := p.scratch
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		// str has checked the escapes.
		switch e := raw[i+1]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if lo := hex4(raw[i+2 : i+6]); lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			out = utf8.AppendRune(out, r) // a lone surrogate becomes U+FFFD
			continue
		default: // '"', '\\', '/'
			out = append(out, e)
		}
		i += 2
	}
	p.scratch = out
	return out[start:], true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
