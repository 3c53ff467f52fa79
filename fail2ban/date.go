package fail2ban

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Directives of date patterns (strptime-like, with fail2ban's Ex forms) and
// the expressions they expand to; each captures into a group named for
// the field it sets.
var dateDirectives = map[string]string{
	"a":   `(?P<da>mon|tue|wed|thu|fri|sat|sun)`,
	"A":   `(?P<dA>monday|tuesday|wednesday|thursday|friday|saturday|sunday)`,
	"b":   `(?P<db>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)`,
	"B":   `(?P<dB>january|february|march|april|may|june|july|august|september|october|november|december)`,
	"d":   `(?P<dd>3[01]|[12][0-9]|[0 ]?[1-9])`,
	"Exd": `(?P<dd>3[01]|[12][0-9]|0[1-9])`,
	"e":   `(?P<dd>3[01]|[12][0-9]|[0 ]?[1-9])`,
	"m":   `(?P<dm>1[0-2]|0?[1-9])`,
	"Exm": `(?P<dm>1[0-2]|0[1-9])`,
	"y":   `(?P<dy>[0-9][0-9])`,
	"Exy": `(?P<dy>[0-9][0-9])`,
	"Y":   `(?P<dY>[0-9]{4})`,
	"ExY": `(?P<dY>(?:19|20)[0-9][0-9])`,
	"H":   `(?P<dH>2[0-3]|[0-1]?[0-9])`,
	"ExH": `(?P<dH>2[0-3]|[0-1][0-9])`,
	"k":   ` ?(?P<dH>[0-2]?[0-9])`,
	"Exk": ` ?(?P<dH>2[0-3]|[0-1]?[0-9])`,
	"I":   `(?P<dI>1[0-2]|0?[1-9])`,
	"l":   ` ?(?P<dI>1?[0-9])`,
	"Exl": ` ?(?P<dI>1[0-2]|[0-9])`,
	"M":   `(?P<dM>[0-5]?[0-9])`,
	"ExM": `(?P<dM>[0-5][0-9])`,
	"S":   `(?P<dS>6[01]|[0-5]?[0-9])`,
	"ExS": `(?P<dS>6[01]|[0-5][0-9])`,
	"f":   `(?P<df>[0-9]{1,6})`,
	"p":   `(?P<dp>am|pm)`,
	"z":   `(?P<dz>Z|UTC|GMT|[+-][01][0-9](?::?[0-9]{2})?)`,
	"Exz": `(?P<dz>Z|UTC|GMT|[A-Z]{3,5}|(?:[A-Z]{3,5})?[+-][01][0-9](?::?[0-9]{2})?)`,
	"Z":   `(?P<dZ>Z|[A-Z]{3,5})`,
	"ExZ": `(?P<dZ>Z|[A-Z]{3,5})`,
	"j":   `(?P<dj>36[0-6]|3[0-5][0-9]|[12][0-9][0-9]|0?[1-9][0-9]|0?0?[1-9])`,
	"%":   `%`,
}

// defaultDatePatterns are the formats tried when a filter sets no
// datepattern (and those {DATE} stands for), in fail2ban's order.
var defaultDatePatterns = []string{
	`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
	`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
	`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
	`%m/%d/%ExY:%H:%M:%S`,
	`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
	`EPOCH`,
	`{^LN-BEG}%H:%M:%S`,
	`^<%m/%d/%Exy@%H:%M:%S>`,
	`%Exy%Exm%Exd  ?%H:%M:%S`,
	`%b %d, %ExY %I:%M:%S %p`,
	`^%b-%d-%Exy %k:%M:%S`,
	`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`TAI64N`,
}

type dateKind uint8

const (
	dateRegex dateKind = iota
	dateEpoch
	dateLongEpoch
	dateTAI64N
)

// dateTemplate finds and reads one date format in a line.
type dateTemplate struct {
	name      string
	kind      dateKind
	re        *rx
	lineBegin bool
	// boundBegin and boundEnd: the date may not start or end inside a
	// word (fail2ban's look-aheads (?=^|\b|\W) and (?=\b|\W|$), checked
	// after the match so that Go's regexp can run the template).
	boundBegin, boundEnd bool
}

var (
	reDirective = regexp.MustCompile(`%(Ex[a-zA-Z]|[a-zA-Z%])`)
	reAlphaDir  = regexp.MustCompile(`%[aAbBp]`)
)

// newDateTemplate compiles a datepattern line.
func newDateTemplate(pattern string, budget time.Duration) (*dateTemplate, error) {
	pattern = strings.TrimSpace(pattern)
	t := &dateTemplate{name: pattern}
	up := strings.ToUpper(pattern)
	wordBegin, wordEnd, start := true, true, false
	if strings.HasPrefix(pattern, "{UNB}") {
		pattern = pattern[len("{UNB}"):]
		wordBegin, wordEnd = false, false
	}
	if strings.HasPrefix(up, "{^LN-BEG}") {
		pattern = pattern[len("{^LN-BEG}"):]
		start = true
		up = strings.ToUpper(pattern)
	} else if strings.HasPrefix(up, "^") && !strings.Contains(pattern, "%") {
		up = up[1:]
		start = up == "EPOCH" || up == "LEPOCH" || up == "TAI64N"
	}
	var regex string
	switch up {
	case "EPOCH", "LEPOCH":
		t.kind = dateEpoch
		num := `[0-9]{10,11}\b(?:\.[0-9]{3,6})?`
		if up == "LEPOCH" {
			t.kind = dateLongEpoch
			num = `[0-9]{10,11}(?:[0-9]{3}(?:\.[0-9]{1,6}|[0-9]{3})?)?`
		}
		if start {
			regex = `^(?:\W{0,2})?\[?(` + num + `)(?:\b|$|\W)`
		} else {
			regex = `(?:^\[?|\baudit\()(` + num + `)(?:\b|$|\W)`
		}
		t.lineBegin = start
	case "TAI64N":
		t.kind = dateTAI64N
		regex = `(?:^|\W)@?([0-9a-fA-F]{24})\b`
		if start {
			regex = `^(?:\W{0,2})?@?([0-9a-fA-F]{24})\b`
		}
		t.lineBegin = start
	default:
		if strings.Contains(pattern, "{DATE}") {
			return nil, fmt.Errorf("{DATE} must be expanded before")
		}
		var bad error
		regex = reDirective.ReplaceAllStringFunc(pattern, func(d string) string {
			r, ok := dateDirectives[d[1:]]
			if !ok {
				bad = fmt.Errorf("unknown date directive %s", d)
			}
			return r
		})
		if bad != nil {
			return nil, bad
		}
		if reAlphaDir.MatchString(pattern) {
			regex = "(?i)" + regex
		}
		regex = wrapDateGroup(regex)
		noBegin := regexp.MustCompile(`^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)`).MatchString(regex)
		noEnd := regexp.MustCompile(`(?:\$\)?|\\b|\\s|\*\*\)*)$`).MatchString(regex) && !strings.HasSuffix(regex, `\$`)
		flags := ""
		if m := regexp.MustCompile(`^\(\?[a-z]+\)`).FindString(regex); m != "" {
			flags, regex = m, regex[len(m):]
		}
		if wordBegin && !noBegin {
			if start {
				regex = `^(?:\W{0,2})?` + regex
				t.lineBegin = true
			} else {
				t.boundBegin = true
			}
		}
		if wordEnd && !noEnd {
			t.boundEnd = true
		}
		regex = strings.TrimPrefix(regex, "**")
		regex = regexp.MustCompile(`^(\(*)\*\*`).ReplaceAllString(regex, "$1")
		regex = regexp.MustCompile(`\*\*(\)*)$`).ReplaceAllString(regex, "$1")
		if strings.HasPrefix(regex, "^") || strings.HasPrefix(regex, "(^") || strings.HasPrefix(regex, "(?:^") {
			t.lineBegin = true
		}
		regex = flags + regex
	}
	re, err := compileRx(regex, false, budget)
	if err != nil {
		return nil, fmt.Errorf("datepattern %q: %v", t.name, err)
	}
	t.re = re
	return t, nil
}

// wrapDateGroup puts the date in group 1 when the pattern has no plain
// capturing group of its own.
func wrapDateGroup(re string) string {
	for i := 0; i < len(re); i++ {
		if re[i] == '\\' {
			i++
			continue
		}
		if re[i] == '(' && (i+1 >= len(re) || re[i+1] != '?') {
			return re
		}
	}
	m := regexp.MustCompile(`^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$`).FindStringSubmatch(re)
	if m == nil {
		return "(" + re + ")"
	}
	return m[1] + "(" + m[2] + ")" + m[3]
}

// dateFound is a date in a line: its text's range and the time it says.
type dateFound struct {
	start, end int
	t          time.Time
	ok         bool // t was read
}

// dateDetector tries its templates in order.
type dateDetector struct {
	templates []*dateTemplate
}

// newDateDetector builds the templates of a datepattern value (lines);
// empty means fail2ban's defaults.
func newDateDetector(value string, budget time.Duration) (*dateDetector, error) {
	d := &dateDetector{}
	var lines []string
	for _, l := range strings.Split(value, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		lines = []string{"{DEFAULT}"}
	}
	for _, l := range lines {
		key := l
		if !strings.Contains(l, "%") {
			key = strings.ToUpper(l)
		}
		switch {
		case key == "{^LN-BEG}" || key == "{DEFAULT}":
			var anchored, plain []*dateTemplate
			for _, p := range defaultDatePatterns {
				t, err := newDateTemplate(p, budget)
				if err != nil {
					return nil, err
				}
				if t.lineBegin {
					plain = append(plain, t)
					continue
				}
				a, err := newDateTemplate("{^LN-BEG}"+p, budget)
				if err != nil {
					return nil, err
				}
				anchored = append(anchored, a)
				if key == "{DEFAULT}" {
					plain = append(plain, t)
				}
			}
			d.templates = append(d.templates, anchored...)
			d.templates = append(d.templates, plain...)
		case strings.Contains(key, "{DATE}"):
			for _, p := range defaultDatePatterns {
				if !strings.Contains(p, "%") {
					continue
				}
				p = strings.TrimPrefix(strings.TrimPrefix(p, "{^LN-BEG}"), "{UNB}")
				t, err := newDateTemplate(strings.ReplaceAll(l, "{DATE}", p), budget)
				if err != nil {
					return nil, err
				}
				d.templates = append(d.templates, t)
			}
		case key == "{NONE}":
			d.templates = append(d.templates, &dateTemplate{name: "{NONE}", kind: dateRegex})
		default:
			t, err := newDateTemplate(l, budget)
			if err != nil {
				return nil, err
			}
			d.templates = append(d.templates, t)
		}
	}
	return d, nil
}

// find locates the date in line: the first line-anchored template that
// matches, else the template whose match starts earliest (the first in
// order on a tie). now and loc complete dates without a year or zone.
func (d *dateDetector) find(line string, now time.Time, loc *time.Location, hint *int) dateFound {
	var groups [16]span
	// The line-anchored template that matched last time is tried first, as
	// fail2ban does: a log keeps one format.
	if hint != nil && *hint >= 0 && *hint < len(d.templates) {
		if t := d.templates[*hint]; t.lineBegin && t.re != nil {
			whole, one, g, ok, _ := t.re.find(line, groups[:0])
			if ok && one.start >= 0 && t.bounded(line, whole) {
				f := dateFound{start: one.start, end: one.end}
				f.t, f.ok = t.read(line, f, g, now, loc)
				return f
			}
		}
	}
	best := dateFound{start: -1}
	var bestT *dateTemplate
	var bestG []span
	bestI := -1
	for i, t := range d.templates {
		if t.re == nil { // {NONE}
			return dateFound{start: 0, end: 0}
		}
		if !t.lineBegin && best.start >= 0 && best.start == 0 {
			break
		}
		whole, one, g, ok, _ := t.re.find(line, groups[:0])
		if !ok || one.start < 0 {
			continue
		}
		if !t.bounded(line, whole) {
			continue
		}
		st, en := one.start, one.end
		if t.lineBegin || best.start < 0 || st < best.start {
			best = dateFound{start: st, end: en}
			bestT, bestG, bestI = t, append(bestG[:0], g...), i
			if t.lineBegin {
				break
			}
		}
	}
	if bestT == nil {
		return dateFound{start: -1}
	}
	if hint != nil {
		*hint = bestI
	}
	best.t, best.ok = bestT.read(line, best, bestG, now, loc)
	return best
}

var monthNames = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

// zoneOffsets are the zone abbreviations read as fixed offsets (minutes).
var zoneOffsets = map[string]int{
	"Z": 0, "UTC": 0, "GMT": 0, "UT": 0, "WET": 0, "WEST": 60, "CET": 60, "CEST": 120,
	"MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
	"EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360,
	"PST": -480, "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600,
}

func (t *dateTemplate) read(line string, f dateFound, g []span, now time.Time, loc *time.Location) (time.Time, bool) {
	text := line[f.start:f.end]
	switch t.kind {
	case dateEpoch, dateLongEpoch:
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return time.Time{}, false
		}
		if t.kind == dateLongEpoch && len(text) >= 13 {
			if len(text) >= 16 && !strings.Contains(text, ".") {
				v /= 1e6
			} else {
				v /= 1e3
			}
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).In(loc), true
	case dateTAI64N:
		secs, err1 := strconv.ParseUint(text[:16], 16, 64)
		nanos, err2 := strconv.ParseUint(text[16:24], 16, 32)
		if err1 != nil || err2 != nil {
			return time.Time{}, false
		}
		return time.Unix(int64(secs-(1<<62)), int64(nanos)).In(loc), true
	}
	get := func(name string) (string, bool) {
		i := t.re.group(name)
		if i < 0 || i >= len(g) || g[i].start < 0 {
			return "", false
		}
		return line[g[i].start:g[i].end], true
	}
	num := func(name string) (int, bool) {
		s, ok := get(name)
		if !ok {
			return 0, false
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		return v, err == nil
	}
	nowL := now.In(loc)
	year, hasYear := num("dY")
	if !hasYear {
		if y, ok := num("dy"); ok {
			year, hasYear = 2000+y, true
		}
	}
	if !hasYear {
		year = nowL.Year()
	}
	month, hasMonth := time.Month(0), false
	if v, ok := num("dm"); ok {
		month, hasMonth = time.Month(v), true
	} else if s, ok := get("db"); ok {
		month, hasMonth = monthNames[strings.ToLower(s)], true
	} else if s, ok := get("dB"); ok && len(s) >= 3 {
		month, hasMonth = monthNames[strings.ToLower(s[:3])], true
	}
	day, hasDay := num("dd")
	if yd, ok := num("dj"); ok && !hasMonth {
		d := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, yd-1)
		month, day, hasMonth, hasDay = d.Month(), d.Day(), true, true
	}
	assumeToday := false
	if !hasMonth && !hasDay {
		month, day, assumeToday = nowL.Month(), nowL.Day(), true
	} else if !hasMonth || !hasDay {
		if !hasMonth {
			month = 1
		}
		if !hasDay {
			day = 1
		}
	}
	hour, _ := num("dH")
	if h, ok := num("dI"); ok {
		hour = h % 12
		if p, ok := get("dp"); ok && strings.EqualFold(p, "pm") {
			hour += 12
		}
	}
	minute, _ := num("dM")
	second, _ := num("dS")
	nsec := 0
	if s, ok := get("df"); ok {
		for len(s) < 9 {
			s += "0"
		}
		nsec, _ = strconv.Atoi(s[:9])
	}
	zone := loc
	if s, ok := get("dz"); ok {
		if z, ok := parseZone(s); ok {
			zone = z
		}
	} else if s, ok := get("dZ"); ok {
		if off, ok := zoneOffsets[strings.ToUpper(s)]; ok {
			zone = time.FixedZone(s, off*60)
		}
	}
	if second > 59 {
		second = 59
	}
	res := time.Date(year, month, day, hour, minute, second, nsec, zone)
	if assumeToday && res.After(now) {
		res = res.AddDate(0, 0, -1)
	}
	if !hasYear && res.After(now.Add(24*time.Hour)) {
		res = time.Date(year-1, month, day, hour, minute, second, nsec, zone)
	}
	return res, true
}

// parseZone reads Z, UTC, GMT, an abbreviation, or [abbr]±hh[[:]mm].
func parseZone(s string) (*time.Location, bool) {
	if off, ok := zoneOffsets[strings.ToUpper(s)]; ok {
		return time.FixedZone(s, off*60), true
	}
	i := strings.IndexAny(s, "+-")
	if i < 0 {
		return nil, false
	}
	sign := 1
	if s[i] == '-' {
		sign = -1
	}
	d := strings.ReplaceAll(s[i+1:], ":", "")
	if len(d) < 2 {
		return nil, false
	}
	h, err := strconv.Atoi(d[:2])
	if err != nil {
		return nil, false
	}
	m := 0
	if len(d) >= 4 {
		m, _ = strconv.Atoi(d[2:4])
	}
	base := 0
	if i > 0 {
		base = zoneOffsets[strings.ToUpper(s[:i])]
	}
	return time.FixedZone(s, sign*(h*3600+m*60)+base*60), true
}

// bounded checks the word boundaries around a match.
func (t *dateTemplate) bounded(line string, whole span) bool {
	if t.boundBegin && whole.start > 0 && whole.start < len(line) && isWordByte(line[whole.start-1]) && isWordByte(line[whole.start]) {
		return false
	}
	if t.boundEnd && whole.end > 0 && whole.end < len(line) && isWordByte(line[whole.end-1]) && isWordByte(line[whole.end]) {
		return false
	}
	return true
}

// isWordByte is \w for ASCII; bytes of multi-byte characters count as
// word characters, as letters would in Python.
func isWordByte(c byte) bool { return isWord(c) || c >= 0x80 }
