package httplog

import "time"

// clock turns the times written in log lines into time.Time by hand (no
// time.Parse on the hot path). Times with a zone are computed from the
// calendar; times without one (error logs, HAProxy) are placed in loc, and the
// last such second is remembered, as are the zones of the last offset seen,
// so a busy log costs a few comparisons per line.
type clock struct {
	loc *time.Location

	localKey  int64 // packed y/m/d h:m:s of localTime; 0 = none
	localTime time.Time

	zoneOff int // seconds east of UTC of zone
	zone    *time.Location
}

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// month reads an English three-letter month name.
func month(b []byte) int {
	if len(b) != 3 {
		return 0
	}
	for i, m := range monthNames {
		if b[0] == m[0] && b[1] == m[1] && b[2] == m[2] {
			return i + 1
		}
	}
	return 0
}

// digits reads b as an unsigned decimal number; false for anything else.
func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// fraction reads the digits of a decimal fraction (at most nine count) as
// nanoseconds.
func fraction(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	ns, scale := 0, 100_000_000
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		ns += int(c-'0') * scale
		scale /= 10
	}
	return ns, true
}

// civil is a calendar date and time of day as written in a line.
type civil struct {
	y, mo, d, h, mi, s, ns int
}

func (c civil) valid() bool {
	return c.y >= 1 && c.y <= 9999 && c.mo >= 1 && c.mo <= 12 && c.d >= 1 && c.d <= daysIn(c.mo, c.y) &&
		c.h < 24 && c.mi < 60 && c.s <= 60
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// unix returns the seconds since the epoch of c read as UTC.
func (c civil) unix() int64 {
	y, m := int64(c.y), int64(c.mo)
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + int64(c.d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(c.h)*3600 + int64(c.mi)*60 + int64(c.s)
}

// zoned returns c, written with offset seconds east of UTC, as a time in a
// zone of that offset.
func (k *clock) zoned(c civil, offset int) (time.Time, bool) {
	if !c.valid() || offset <= -24*3600 || offset >= 24*3600 {
		return time.Time{}, false
	}
	t := time.Unix(c.unix()-int64(offset), int64(c.ns))
	if offset == 0 {
		return t.UTC(), true
	}
	if k.zone == nil || k.zoneOff != offset {
		k.zone, k.zoneOff = time.FixedZone("", offset), offset
	}
	return t.In(k.zone), true
}

// local returns c as a time of k.loc.
func (k *clock) local(c civil) (time.Time, bool) {
	if !c.valid() {
		return time.Time{}, false
	}
	key := ((((int64(c.y)*100+int64(c.mo))*100+int64(c.d))*100+int64(c.h))*100+int64(c.mi))*100 + int64(c.s)
	if key != k.localKey {
		k.localTime = time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, c.s, 0, k.loc)
		k.localKey = key
	}
	return k.localTime.Add(time.Duration(c.ns)), true
}

// readHMS reads "hh:mm:ss" at b[0:8].
func readHMS(b []byte, c *civil) bool {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return false
	}
	var ok1, ok2, ok3 bool
	c.h, ok1 = digits(b[0:2])
	c.mi, ok2 = digits(b[3:5])
	c.s, ok3 = digits(b[6:8])
	return ok1 && ok2 && ok3
}

// readDMY reads "06/Dec/2026:" at b[0:12], the date of CLF and HAProxy.
func readDMY(b []byte, c *civil) bool {
	if len(b) < 12 || b[2] != '/' || b[6] != '/' || b[11] != ':' {
		return false
	}
	var ok1, ok2 bool
	c.d, ok1 = digits(b[0:2])
	c.mo = month(b[3:6])
	c.y, ok2 = digits(b[7:11])
	return ok1 && ok2 && c.mo != 0
}

// clfTimeLen is the length of "06/Dec/2026:16:21:43 +0000".
const clfTimeLen = 26

// clfTime reads the time of the common log format, "06/Dec/2026:16:21:43
// +0000".
func (k *clock) clfTime(b []byte) (time.Time, bool) {
	var c civil
	if len(b) != clfTimeLen || !readDMY(b, &c) || !readHMS(b[12:], &c) || b[20] != ' ' {
		return time.Time{}, false
	}
	off, ok := offset(b[21:26])
	if !ok {
		return time.Time{}, false
	}
	return k.zoned(c, off)
}

// offset reads "+hhmm", "-hhmm" or "+hh:mm" as seconds east of UTC.
func offset(b []byte) (int, bool) {
	if len(b) == 6 && b[3] == ':' {
		var x [5]byte
		x[0], x[1], x[2], x[3], x[4] = b[0], b[1], b[2], b[4], b[5]
		return offset(x[:])
	}
	if len(b) != 5 || b[0] != '+' && b[0] != '-' {
		return 0, false
	}
	h, ok1 := digits(b[1:3])
	m, ok2 := digits(b[3:5])
	if !ok1 || !ok2 || m >= 60 {
		return 0, false
	}
	off := h*3600 + m*60
	if b[0] == '-' {
		off = -off
	}
	return off, true
}

// haproxyTime reads HAProxy's accept date, "06/Dec/2026:16:21:43.123", in
// local time.
func (k *clock) haproxyTime(b []byte) (time.Time, bool) {
	var c civil
	if len(b) < 20 || !readDMY(b, &c) || !readHMS(b[12:], &c) {
		return time.Time{}, false
	}
	if len(b) > 20 {
		var ok bool
		if b[20] != '.' || len(b) > 30 {
			return time.Time{}, false
		}
		if c.ns, ok = fraction(b[21:]); !ok {
			return time.Time{}, false
		}
	}
	return k.local(c)
}

// isoTime reads RFC 3339 as Traefik, Caddy and nginx's $time_iso8601 write
// it: "2026-12-06T16:21:43[.fraction](Z|+hh:mm)"; without a zone, it is
// local time.
func (k *clock) isoTime(b []byte) (time.Time, bool) {
	var c civil
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') {
		return time.Time{}, false
	}
	var ok1, ok2, ok3 bool
	c.y, ok1 = digits(b[0:4])
	c.mo, ok2 = digits(b[5:7])
	c.d, ok3 = digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || !readHMS(b[11:], &c) {
		return time.Time{}, false
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return time.Time{}, false
		}
		c.ns, _ = fraction(rest[1:n])
		rest = rest[n:]
	}
	switch {
	case len(rest) == 0:
		return k.local(c)
	case len(rest) == 1 && rest[0] == 'Z':
		return k.zoned(c, 0)
	}
	off, ok := offset(rest)
	if !ok {
		return time.Time{}, false
	}
	return k.zoned(c, off)
}

// nginxErrorTime reads "2026/12/06 16:21:43" in local time.
func (k *clock) nginxErrorTime(b []byte) (time.Time, bool) {
	var c civil
	if len(b) != 19 || b[4] != '/' || b[7] != '/' || b[10] != ' ' {
		return time.Time{}, false
	}
	var ok1, ok2, ok3 bool
	c.y, ok1 = digits(b[0:4])
	c.mo, ok2 = digits(b[5:7])
	c.d, ok3 = digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || !readHMS(b[11:], &c) {
		return time.Time{}, false
	}
	return k.local(c)
}

// apacheErrorTime reads "Sat Dec 06 16:21:43.123456 2026" (2.4) or "Sat Dec
// 06 16:21:43 2026" (2.2) in local time; the day may be padded with a space.
func (k *clock) apacheErrorTime(b []byte) (time.Time, bool) {
	var c civil
	if len(b) < 24 || b[3] != ' ' || b[7] != ' ' || b[10] != ' ' {
		return time.Time{}, false
	}
	c.mo = month(b[4:7])
	day := b[8:10]
	if day[0] == ' ' {
		day = day[1:]
	}
	var ok bool
	if c.d, ok = digits(day); !ok || c.mo == 0 || !readHMS(b[11:], &c) {
		return time.Time{}, false
	}
	rest := b[19:]
	if rest[0] == '.' {
		sp := 1
		for sp < len(rest) && rest[sp] != ' ' {
			sp++
		}
		if sp > 10 || sp == len(rest) {
			return time.Time{}, false
		}
		if c.ns, ok = fraction(rest[1:sp]); !ok {
			return time.Time{}, false
		}
		rest = rest[sp:]
	}
	if len(rest) != 5 || rest[0] != ' ' {
		return time.Time{}, false
	}
	if c.y, ok = digits(rest[1:]); !ok {
		return time.Time{}, false
	}
	return k.local(c)
}

// unixTime reads seconds since the epoch with an optional fraction
// ("1733502103.123", nginx's $msec, Caddy's default ts). Larger numbers are
// read as milli-, micro- or nanoseconds (Caddy's other numeric time formats).
func unixTime(b []byte) (time.Time, bool) {
	dot := len(b)
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot == 0 || dot > 19 {
		return time.Time{}, false
	}
	sec, ok := digits(b[:dot])
	if !ok {
		return time.Time{}, false
	}
	ns := 0
	if dot < len(b) {
		frac := b[dot+1:]
		if len(frac) > 9 {
			frac = frac[:9]
		}
		if _, ok := digits(b[dot+1:]); !ok {
			return time.Time{}, false
		}
		ns, _ = fraction(frac)
	}
	switch {
	case sec >= 1e17:
		return time.Unix(0, int64(sec)).UTC(), true
	case sec >= 1e14:
		return time.UnixMicro(int64(sec)).UTC(), true
	case sec >= 1e11:
		return time.UnixMilli(int64(sec)).Add(time.Duration(ns / 1e6)).UTC(), true
	}
	return time.Unix(int64(sec), int64(ns)).UTC(), true
}
