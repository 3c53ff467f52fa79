package fail2ban

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Address expressions for the host tags. They recognise the same text as
// fail2ban's (an IPv4 address, optionally IPv4-mapped; an IPv6 address; a
// host name), written so that Go's regexp can run them: the IPv6 form
// needs no look-behind because every repetition already ends in a colon.
const (
	reIP4    = `(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})`
	reIP6    = `(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:))`
	reDNS    = `(?P<dns>[\w\-.^_]*\w)`
	reCIDR   = `(?P<cidr>\d+)`
	reAddr   = `\[?(?:` + reIP4 + `|` + reIP6 + `)\]?`
	reHost   = `(?:` + reAddr + `|` + reDNS + `)`
	reSubnet = `\[?(?:` + reIP4 + `|` + reIP6 + `)(?:/` + reCIDR + `)?\]?`
)

var hostTags = map[string]string{
	"HOST": reHost, "ADDR": reAddr, "IP4": reIP4, "IP6": reIP6, "DNS": reDNS,
	"CIDR": reCIDR, "SUBNET": reSubnet,
	"F-HOST/": reHost, "F-ADDR/": reAddr, "F-IP4/": reIP4, "F-IP6/": reIP6,
	"F-DNS/": reDNS, "F-CIDR/": reCIDR, "F-SUBNET/": reSubnet,
	"F-ID/": `(?P<fid>\S+)`, "F-PORT/": `(?P<fport>\w+)`,
}

// groupName maps an F- tag name to the group fail2ban gives it.
func groupName(tag string) string {
	n := strings.ToLower(tag)
	switch n {
	case "id":
		return "fid"
	case "port":
		return "fport"
	}
	return n
}

// expandTags replaces the tags of a failregex, ignoreregex or prefregex:
// the address tags, <SKIPLINES>, and <F-NAME>…</F-NAME> pairs (named
// groups). Other <…> text stays literal, as in fail2ban, except an
// all-capitals tag that is not one of fail2ban's, which is most likely a
// typing error and is refused. useDNS false makes <HOST> match addresses
// only.
func expandTags(re string, useDNS bool) (string, error) {
	var b strings.Builder
	open := map[string]bool{}
	skip := 0
	for i := 0; i < len(re); {
		if re[i] != '<' {
			b.WriteByte(re[i])
			i++
			continue
		}
		j := i + 1
		closing := j < len(re) && re[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(re) && (isWord(re[k]) || re[k] == '-') {
			k++
		}
		self := k < len(re) && re[k] == '/'
		end := k
		if self {
			end++
		}
		if k == j || end >= len(re) || re[end] != '>' {
			b.WriteByte('<')
			i++
			continue
		}
		name := re[j:k]
		tag := re[i : end+1]
		i = end + 1
		if closing && self {
			b.WriteString(tag)
			continue
		}
		key := name
		if self {
			key += "/"
		}
		if !closing {
			if name == "HOST" && !useDNS {
				b.WriteString(reAddr)
				continue
			}
			if r, ok := hostTags[key]; ok {
				b.WriteString(r)
				continue
			}
			if name == "SKIPLINES" {
				fmt.Fprintf(&b, `\n(?P<skiplines%d>(?:(?:.*\n)*?))`, skip)
				skip++
				continue
			}
		}
		if f, ok := strings.CutPrefix(name, "F-"); ok && !self && f != "" && isUpperName(f) {
			if closing {
				if open[f] {
					b.WriteString(")")
					delete(open, f)
				} else {
					b.WriteString(tag)
				}
				continue
			}
			if strings.Contains(f, "-") {
				return "", fmt.Errorf("tag %s: a group name cannot contain '-'", tag)
			}
			open[f] = true
			b.WriteString("(?P<" + groupName(f) + ">")
			continue
		}
		if suspectTag(name) {
			return "", fmt.Errorf("unknown tag %s (fail2ban knows <HOST>, <ADDR>, <IP4>, <IP6>, <DNS>, <CIDR>, <SUBNET>, <SKIPLINES> and <F-NAME>…</F-NAME> with NAME in capitals)", tag)
		}
		b.WriteString(tag)
	}
	for f := range open {
		return "", fmt.Errorf("tag <F-%s> is never closed", f)
	}
	return b.String(), nil
}

// suspectTag tells an unknown tag that is most likely a mistyped
// fail2ban tag (<HSOT>, <F-user>) from literal text such as haproxy's
// <NOSRV>, which fail2ban leaves literal and so do we.
func suspectTag(name string) bool {
	if f, ok := strings.CutPrefix(strings.ToUpper(name), "F-"); ok {
		return f != "" && !isUpperName(name[2:])
	}
	if len(name) < 3 {
		return false
	}
	for _, k := range []string{"HOST", "ADDR", "IP4", "IP6", "DNS", "CIDR", "SUBNET", "SKIPLINES"} {
		if editDistance(strings.ToUpper(name), k) <= 1 {
			return true
		}
	}
	return false
}

// editDistance is the edit distance of two short strings, a swap of two
// neighbours counting as one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2 = append(prev2[:0], prev...)
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isUpperName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// translated is a Python regular expression rewritten for the engines.
type translated struct {
	re2    string   // for Go's regexp; empty when needBT
	net    string   // for regexp2 (.NET syntax)
	approx string   // an RE2 expression matching a superset, for literal extraction
	needBT bool     // uses look-around, back-references, conditionals or atomic groups
	why    string   // the first construct that needs the backtracking engine
	names  []string // named groups, in order
}

type groupKind uint8

const (
	gPlain groupKind = iota
	gLook
	gCond
)

// translatePython rewrites a Python regular expression (the dialect of
// fail2ban's filters) into Go's RE2 syntax when it uses only what RE2
// offers, and always into regexp2's syntax. Differences handled: (?P<n>)
// and (?P=n), \Z, {,m}, a literal "{", "[" inside a class, \uXXXX, octal
// escapes, (?#…) comments, the a/u/L flags. Unsupported constructs
// (possessive quantifiers, \N{…}) are errors.
func translatePython(src string) (tr translated, err error) {
	var g, n, a strings.Builder
	var stack []groupKind
	suppress := 0 // inside a look-around: nothing goes to approx
	seen := map[string]bool{}
	bt := func(why string) {
		if !tr.needBT {
			tr.needBT, tr.why = true, why
		}
	}
	emit := func(goS, netS, apS string) {
		g.WriteString(goS)
		n.WriteString(netS)
		if suppress == 0 {
			a.WriteString(apS)
		}
	}
	same := func(s string) { emit(s, s, s) }
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '\\':
			s, w, e := translateEscape(src, i, false)
			if e != nil {
				return tr, e
			}
			if s.bt != "" {
				bt(s.bt)
			}
			emit(s.goS, s.netS, s.apS)
			i += w
		case '[':
			s, ns, w, e := translateClass(src, i)
			if e != nil {
				return tr, e
			}
			emit(s, ns, s)
			i += w
		case '(':
			if strings.HasPrefix(src[i:], "(?") {
				rest := src[i+2:]
				switch {
				case strings.HasPrefix(rest, "P<"):
					end := strings.IndexByte(rest, '>')
					if end < 0 {
						return tr, fmt.Errorf("at %d: unterminated group name", i)
					}
					name := rest[2:end]
					if !validGroupName(name) {
						return tr, fmt.Errorf("at %d: bad group name %q", i, name)
					}
					if seen[name] {
						return tr, fmt.Errorf("at %d: group name %q defined twice", i, name)
					}
					seen[name] = true
					tr.names = append(tr.names, name)
					emit("(?P<"+name+">", "(?<"+name+">", "(")
					stack = append(stack, gPlain)
					i += 2 + end + 1
				case strings.HasPrefix(rest, "P="):
					end := strings.IndexByte(rest, ')')
					if end < 0 {
						return tr, fmt.Errorf("at %d: unterminated back-reference", i)
					}
					name := rest[2:end]
					if !seen[name] {
						return tr, fmt.Errorf("at %d: back-reference to unknown group %q", i, name)
					}
					bt("back-reference (?P=" + name + ")")
					emit("", `\k<`+name+`>`, `(?s:.*)`)
					i += 2 + end + 1
				case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
					bt("look-ahead")
					emit("", src[i:i+3], "")
					suppress++
					stack = append(stack, gLook)
					i += 3
				case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
					bt("look-behind")
					emit("", src[i:i+4], "")
					suppress++
					stack = append(stack, gLook)
					i += 4
				case strings.HasPrefix(rest, ">"):
					bt("atomic group")
					emit("", "(?>", "(?:")
					stack = append(stack, gPlain)
					i += 3
				case strings.HasPrefix(rest, "("):
					end := strings.IndexByte(rest, ')')
					if end < 0 {
						return tr, fmt.Errorf("at %d: unterminated condition", i)
					}
					cond := rest[1:end]
					if _, e := strconv.Atoi(cond); e != nil && !seen[cond] {
						return tr, fmt.Errorf("at %d: condition on unknown group %q", i, cond)
					}
					bt("conditional (?(" + cond + ")…)")
					emit("", "(?("+cond+")", "(?:")
					stack = append(stack, gCond)
					i += 2 + end + 1
				case strings.HasPrefix(rest, "#"):
					end := strings.IndexByte(rest, ')')
					if end < 0 {
						return tr, fmt.Errorf("at %d: unterminated comment", i)
					}
					i += 2 + end + 1
				default:
					j := 0
					for j < len(rest) && strings.IndexByte("aiLmsux-", rest[j]) >= 0 {
						j++
					}
					if j == len(rest) || rest[j] != ':' && rest[j] != ')' {
						return tr, fmt.Errorf("at %d: unknown group extension (?%.1s", i, rest[j:])
					}
					flags := ""
					for _, f := range rest[:j] {
						switch f {
						case 'i', 'm', 's', '-':
							flags += string(f)
						case 'x':
							bt("verbose flag (?x)")
							flags += "x"
						}
					}
					flags = strings.TrimSuffix(flags, "-")
					if rest[j] == ':' {
						if flags == "" {
							same("(?:")
						} else {
							emit("(?"+flags+":", "(?"+flags+":", "(?"+strings.ReplaceAll(flags, "x", "")+":")
						}
						stack = append(stack, gPlain)
					} else if flags != "" {
						emit("(?"+flags+")", "(?"+flags+")", "(?"+strings.Trim(strings.ReplaceAll(flags, "x", ""), "-")+")")
					}
					i += 2 + j + 1
				}
				continue
			}
			emit("(", "(", "(")
			stack = append(stack, gPlain)
			i++
		case ')':
			if len(stack) == 0 {
				return tr, fmt.Errorf("at %d: unbalanced parenthesis", i)
			}
			k := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch k {
			case gLook:
				suppress--
				emit(")", ")", "(?:)")
			case gCond:
				emit(")", ")", "|)")
			default:
				same(")")
			}
			i++
		case '{':
			q, w, ok := parseBrace(src[i:])
			if !ok {
				emit(`\{`, `\{`, `\{`)
				i++
				continue
			}
			if q.hi > 1000 || q.lo > 1000 {
				bt("repetition count over 1000")
			}
			s := "{" + strconv.Itoa(q.lo)
			if q.comma {
				s += ","
				if q.hi >= 0 {
					s += strconv.Itoa(q.hi)
				}
			}
			s += "}"
			same(s)
			i += w
		case '*', '+', '?':
			if i+1 < len(src) && src[i+1] == '+' {
				return tr, fmt.Errorf("at %d: possessive quantifier %s+ is not supported", i, src[i:i+1])
			}
			same(string(c))
			i++
		default:
			if c >= utf8.RuneSelf {
				_, w := utf8.DecodeRuneInString(src[i:])
				same(src[i : i+w])
				i += w
				continue
			}
			same(string(c))
			i++
		}
	}
	if len(stack) != 0 {
		return tr, fmt.Errorf("missing closing parenthesis")
	}
	tr.net, tr.approx = n.String(), a.String()
	if !tr.needBT {
		tr.re2 = g.String()
	}
	return tr, nil
}

func validGroupName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWord(s[i]) {
			return false
		}
	}
	return true
}

type brace struct {
	lo, hi int
	comma  bool
}

// parseBrace reads a Python repetition {n}, {n,}, {,m}, {n,m}; ok false
// means the brace is a literal.
func parseBrace(s string) (brace, int, bool) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return brace{}, 0, false
	}
	body := s[1:end]
	lo, hi, comma := body, "", false
	if x, y, ok := strings.Cut(body, ","); ok {
		lo, hi, comma = x, y, true
	}
	if lo == "" && (!comma || hi == "") {
		return brace{}, 0, false
	}
	for _, p := range []string{lo, hi} {
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return brace{}, 0, false
			}
		}
	}
	b := brace{hi: -1, comma: comma}
	if lo != "" {
		v, err := strconv.Atoi(lo)
		if err != nil || v > 100000 {
			return brace{}, 0, false
		}
		b.lo = v
	}
	if hi != "" {
		v, err := strconv.Atoi(hi)
		if err != nil || v > 100000 {
			return brace{}, 0, false
		}
		b.hi = v
		if b.hi < b.lo {
			return brace{}, 0, false
		}
	}
	if !comma {
		b.hi = b.lo
	}
	return b, end + 1, true
}

type escaped struct {
	goS, netS, apS string
	bt             string
}

// translateEscape rewrites the escape at src[i] ('\\'); inClass selects the
// meaning inside a character class.
func translateEscape(src string, i int, inClass bool) (escaped, int, error) {
	if i+1 >= len(src) {
		return escaped{}, 0, fmt.Errorf("at %d: trailing backslash", i)
	}
	d := src[i+1]
	all := func(s string) escaped { return escaped{s, s, s, ""} }
	switch {
	case d >= '1' && d <= '9' && !inClass:
		j := i + 2
		for j < len(src) && j < i+3 && src[j] >= '0' && src[j] <= '9' {
			j++
		}
		return escaped{"", src[i:j], `(?s:.*)`, "back-reference " + src[i:j]}, j - i, nil
	case d == '0' || inClass && d >= '1' && d <= '7':
		j, v := i+1, 0
		for j < len(src) && j < i+4 && src[j] >= '0' && src[j] <= '7' {
			v = v*8 + int(src[j]-'0')
			j++
		}
		return all(fmt.Sprintf(`\x{%x}`, v)).withNet(fmt.Sprintf(`\x%02x`, v&0xff)), j - i, nil
	case d == 'Z' || d == 'A' || d == 'B':
		if inClass {
			return escaped{}, 0, fmt.Errorf("at %d: bad escape \\%c in a character class", i, d)
		}
		if d == 'Z' {
			return all(`\z`), 2, nil
		}
		return all(src[i : i+2]), 2, nil
	case d == 'b':
		if inClass {
			return all(`\x08`), 2, nil
		}
		return all(`\b`), 2, nil
	case strings.IndexByte("dDsSwW", d) >= 0:
		// Python's classes are Unicode-aware; Go's are ASCII. A user
		// name with non-ASCII letters must not slip past \w.
		u := unicodeClass(d, inClass)
		return escaped{u, src[i : i+2], u, ""}, 2, nil
	case strings.IndexByte("ntrfv", d) >= 0:
		return all(src[i : i+2]), 2, nil
	case d == 'a':
		return all(`\x07`), 2, nil
	case d == 'x':
		if i+4 > len(src) || !isHex(src[i+2:i+4]) {
			return escaped{}, 0, fmt.Errorf("at %d: bad \\x escape", i)
		}
		return all(src[i : i+4]), 4, nil
	case d == 'u':
		if i+6 > len(src) || !isHex(src[i+2:i+6]) {
			return escaped{}, 0, fmt.Errorf("at %d: bad \\u escape", i)
		}
		h := src[i+2 : i+6]
		return escaped{`\x{` + h + `}`, `\u` + h, `\x{` + h + `}`, ""}, 6, nil
	case d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z':
		return escaped{}, 0, fmt.Errorf("at %d: bad escape \\%c", i, d)
	case d >= utf8.RuneSelf:
		_, w := utf8.DecodeRuneInString(src[i+1:])
		return all(src[i+1 : i+1+w]), 1 + w, nil
	default:
		return all(src[i : i+2]), 2, nil
	}
}

func (e escaped) withNet(s string) escaped { e.netS = s; return e }

// unicodeClass writes Python's \d, \w, \s (and negations) for Go's
// regexp. Inside a class the negated forms stay ASCII (a superset).
func unicodeClass(d byte, inClass bool) string {
	const (
		word  = `\p{L}\p{N}\p{M}_`
		space = `\s\v\p{Z}\x{85}\x{1c}-\x{1f}`
	)
	switch d {
	case 'd':
		return `\p{Nd}`
	case 'D':
		return `\P{Nd}`
	case 'w':
		if inClass {
			return word
		}
		return "[" + word + "]"
	case 's':
		if inClass {
			return space
		}
		return "[" + space + "]"
	case 'W':
		if inClass {
			return `\W`
		}
		return "[^" + word + "]"
	case 'S':
		if inClass {
			return `\S`
		}
		return "[^" + space + "]"
	}
	return `\` + string(d)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// translateClass rewrites the character class starting at src[i], for Go
// and for regexp2. A "[" inside is literal in Python and is escaped so that
// neither engine reads it as a POSIX class or a subtraction.
func translateClass(src string, i int) (string, string, int, error) {
	var b, nb strings.Builder
	both := func(s string) { b.WriteString(s); nb.WriteString(s) }
	both("[")
	j := i + 1
	if j < len(src) && src[j] == '^' {
		both("^")
		j++
	}
	first := true
	for ; j < len(src); first = false {
		c := src[j]
		switch {
		case c == ']' && !first:
			both("]")
			return b.String(), nb.String(), j + 1 - i, nil
		case c == ']':
			both(`\]`)
			j++
		case c == '[':
			both(`\[`)
			j++
		case c == '\\':
			e, w, err := translateEscape(src, j, true)
			if err != nil {
				return "", "", 0, err
			}
			b.WriteString(e.goS)
			nb.WriteString(e.netS)
			j += w
		default:
			if c >= utf8.RuneSelf {
				_, w := utf8.DecodeRuneInString(src[j:])
				both(src[j : j+w])
				j += w
				continue
			}
			both(string(c))
			j++
		}
	}
	return "", "", 0, fmt.Errorf("at %d: unterminated character class", i)
}
