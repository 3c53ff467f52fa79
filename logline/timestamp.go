package logline

import "time"

// Timestamps are parsed digit by digit. Building a time.Time is the costly
// part, and consecutive lines usually share their second, so each Framer
// keeps the last second it built for each timestamp shape; the fraction of a
// second is added afterwards.

// stampCache holds the last RFC 3164 second: its packed month-day-clock, the
// year that inference chose for it, and the time built from both.
type stampCache struct {
	ok     bool
	packed int
	year   int
	t      time.Time
}

// isoCache holds the last ISO 8601 second, keyed by packISO.
type isoCache struct {
	ok  bool
	key uint64
	t   time.Time
}

// packStamp packs a wall clock without its year into an int that orders like
// the wall clock does.
func packStamp(month, day, hour, min, sec int) int {
	return month<<22 | day<<17 | hour<<12 | min<<6 | sec
}

// month returns 1 to 12 for "Jan" to "Dec" at the start of b (which has at
// least three bytes), or 0.
func month(b []byte) int {
	switch uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 1
	case 'F'<<16 | 'e'<<8 | 'b':
		return 2
	case 'M'<<16 | 'a'<<8 | 'r':
		return 3
	case 'A'<<16 | 'p'<<8 | 'r':
		return 4
	case 'M'<<16 | 'a'<<8 | 'y':
		return 5
	case 'J'<<16 | 'u'<<8 | 'n':
		return 6
	case 'J'<<16 | 'u'<<8 | 'l':
		return 7
	case 'A'<<16 | 'u'<<8 | 'g':
		return 8
	case 'S'<<16 | 'e'<<8 | 'p':
		return 9
	case 'O'<<16 | 'c'<<8 | 't':
		return 10
	case 'N'<<16 | 'o'<<8 | 'v':
		return 11
	case 'D'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

// stampTime parses an RFC 3164 timestamp, "Mmm dd hh:mm:ss" with the day
// space-padded, zero-padded or unpadded and an optional fraction of a second
// (journalctl -o short-precise), at the start of b. It returns the time and
// the timestamp's length.
func (f *Framer) stampTime(b []byte) (time.Time, int, bool) {
	// Shortest is "Mmm d hh:mm:ss": 14 bytes.
	if len(b) < 14 || b[3] != ' ' {
		return time.Time{}, 0, false
	}
	mon := month(b[:3])
	if mon == 0 {
		return time.Time{}, 0, false
	}
	var day, p int
	switch {
	case b[4] == ' ' && isDigit(b[5]):
		day, p = int(b[5]-'0'), 6
	case isDigit(b[4]) && isDigit(b[5]):
		day, p = int(b[4]-'0')*10+int(b[5]-'0'), 6
	case isDigit(b[4]) && b[5] == ' ':
		day, p = int(b[4]-'0'), 5
	default:
		return time.Time{}, 0, false
	}
	if day < 1 || day > 31 || b[p] != ' ' {
		return time.Time{}, 0, false
	}
	p++
	h, mi, s, ok := clock(b[p:])
	if !ok {
		return time.Time{}, 0, false
	}
	p += 8
	ns, n, ok := fraction(b[p:])
	if !ok {
		return time.Time{}, 0, false
	}
	p += n
	t, ok := f.inferYear(mon, day, h, mi, s)
	if !ok {
		return time.Time{}, 0, false
	}
	if ns != 0 {
		t = t.Add(time.Duration(ns))
	}
	return t, p, true
}

// inferYear gives a wall clock without a year the latest year, of ref's year
// plus one, ref's year and ref's year minus one, that does not put it more
// than a week after ref. A February 29 skips the years that lack one; when
// none of the three has one, it gets the latest leap year before them.
func (f *Framer) inferYear(mon, day, h, mi, s int) (time.Time, bool) {
	packed := packStamp(mon, day, h, mi, s)
	year, found := 0, false
	if f.continuous {
		year, found = f.followYear(mon, day)
	}
	if !found {
		year, found = f.yearFromRef(mon, day, packed)
	}
	if !found {
		return time.Time{}, false
	}
	if f.continuous {
		f.prevYear, f.prevMonth = year, mon
	}
	if c := &f.stamp; c.ok && c.packed == packed && c.year == year {
		return c.t, true
	}
	t := time.Date(year, time.Month(mon), day, h, mi, s, 0, f.loc)
	f.stamp = stampCache{ok: true, packed: packed, year: year, t: t}
	return t, true
}

// yearFromRef picks the latest year, of ref's year plus one, ref's year and
// ref's year minus one, that does not put the wall clock more than a week
// after ref.
func (f *Framer) yearFromRef(mon, day, packed int) (int, bool) {
	lowest := f.refYear - 1
	if mon == 2 && day == 29 {
		lowest = f.refYear - 9 // leap years are at most 8 years apart
	}
	for c := f.refYear + 1; c >= lowest; c-- {
		if c > f.limYear || c == f.limYear && packed > f.limPacked {
			continue
		}
		if day > daysIn(mon, c) {
			continue
		}
		return c, true
	}
	return 0, false
}

// followYear picks, for a stream read continuously, the year that puts the
// month nearest to the previous timestamp's: December to January is a new
// year, January back to December (rotations concatenated newest first) the
// year before. The first timestamp takes the forced year, if any.
func (f *Framer) followYear(mon, day int) (int, bool) {
	year := f.prevYear
	switch {
	case year == 0 && f.fixedYear == 0:
		return 0, false
	case year == 0:
		year = f.fixedYear
	case mon-f.prevMonth < -6:
		year++
	case mon-f.prevMonth > 6:
		year--
	}
	if day > daysIn(mon, year) {
		return 0, false // February 29 in a year without one: judged alone
	}
	return year, true
}

// Zone kinds in an ISO 8601 timestamp.
const (
	zoneNone   = 0 // read in the framer's location
	zoneUTC    = 1 // "Z"
	zoneOffset = 2 // "+01:00", "+0100", "-05:00"
)

// packISO packs an ISO 8601 second and its zone into a cache key.
func packISO(y, mo, d, h, mi, s, zone, offMin int) uint64 {
	return uint64(y)<<40 | uint64(mo)<<36 | uint64(d)<<31 | uint64(h)<<26 |
		uint64(mi)<<20 | uint64(s)<<14 | uint64(zone)<<12 | uint64(offMin+1440)
}

// isoTime parses "yyyy-mm-ddThh:mm:ss" with an optional fraction of up to
// nine digits and an optional zone ("Z", "+hh:mm" or "+hhmm") at the start of
// b. It returns the time and the timestamp's length. Times without a zone are
// read in the framer's location.
func (f *Framer) isoTime(b []byte) (time.Time, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' {
		return time.Time{}, 0, false
	}
	y, ok1 := digits4(b[0:4])
	mo, ok2 := digits2(b[5:7])
	d, ok3 := digits2(b[8:10])
	h, mi, s, ok4 := clock(b[11:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) {
		return time.Time{}, 0, false
	}
	p := 19
	ns, n, ok := fraction(b[p:])
	if !ok {
		return time.Time{}, 0, false
	}
	p += n
	zone, offMin := zoneNone, 0
	if p < len(b) {
		switch b[p] {
		case 'Z', 'z':
			zone = zoneUTC
			p++
		case '+', '-':
			zh, ok := digits2(b[p+1 : min(p+3, len(b))])
			q := p + 3
			if q < len(b) && b[q] == ':' {
				q++
			}
			zm, ok2 := digits2(b[min(q, len(b)):min(q+2, len(b))])
			if !ok || !ok2 || zh > 23 || zm > 59 {
				return time.Time{}, 0, false
			}
			zone, offMin = zoneOffset, zh*60+zm
			if b[p] == '-' {
				offMin = -offMin
			}
			p = q + 2
		}
	}
	key := packISO(y, mo, d, h, mi, s, zone, offMin)
	var t time.Time
	if c := &f.iso; c.ok && c.key == key {
		t = c.t
	} else {
		if zone == zoneNone {
			t = time.Date(y, time.Month(mo), d, h, mi, s, 0, f.loc)
		} else {
			t = time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC).
				Add(-time.Duration(offMin) * time.Minute).In(f.loc)
		}
		f.iso = isoCache{ok: true, key: key, t: t}
	}
	if ns != 0 {
		t = t.Add(time.Duration(ns))
	}
	return t, p, true
}

// clock parses "hh:mm:ss" at the start of b.
func clock(b []byte) (h, m, s int, ok bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := digits2(b[0:2])
	m, ok2 := digits2(b[3:5])
	s, ok3 := digits2(b[6:8])
	// Second 60 is refused: Linux repeats second 59 instead of writing it.
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 59 {
		return 0, 0, 0, false
	}
	return h, m, s, true
}

// fraction parses an optional ".ddd" of one to nine digits at the start of b
// and returns it in nanoseconds, with its length.
func fraction(b []byte) (ns, n int, ok bool) {
	if len(b) == 0 || b[0] != '.' {
		return 0, 0, true
	}
	n = 1
	for n < len(b) && isDigit(b[n]) {
		if n > 9 {
			return 0, 0, false
		}
		ns = ns*10 + int(b[n]-'0')
		n++
	}
	if n == 1 {
		return 0, 0, false
	}
	for i := n; i <= 9; i++ {
		ns *= 10
	}
	return ns, n, true
}

func digits2(b []byte) (int, bool) {
	if len(b) != 2 || !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func digits4(b []byte) (int, bool) {
	hi, ok1 := digits2(b[0:2])
	lo, ok2 := digits2(b[2:4])
	return hi*100 + lo, ok1 && ok2
}

// daysIn returns the number of days in month mon (1 to 12) of year.
func daysIn(mon, year int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
