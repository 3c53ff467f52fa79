// Package logtime reads the timestamps that services write at the start of
// their own log files, where no syslog header frames the line: MySQL's and
// MariaDB's error logs, PostgreSQL's, exim's main log, vsftpd's and
// proftpd's own logs. The parsers of those services (packages dbauth, ftp,
// exim) use it to frame such lines.
//
// It must not allocate, read past the bytes it is given, or guess: a stamp
// it does not fully recognise is no stamp. It keeps no state.
package logtime

import "time"

// ISO reads "YYYY-MM-DD[T ]HH:MM:SS" at the start of b, with an optional
// fraction (".123456" or ",123", as proftpd writes), an optional zone ("Z",
// "+hh:mm", "+hhmm", or a space and "UTC"/"GMT"), and, as MariaDB writes,
// a second space before a one-digit hour ("2015-10-07  8:25:38"). A time
// without a zone is in loc. It returns the time and the bytes read.
func ISO(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 18 {
		return time.Time{}, 0, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') {
		return time.Time{}, 0, false
	}
	i := 11
	if b[10] == ' ' && b[11] == ' ' {
		i = 12 // "2015-10-07  8:25:38"
	}
	h, mi, s, n, ok := clock(b[i:])
	if !ok {
		return time.Time{}, 0, false
	}
	i += n
	ns := 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		j := i + 1
		scale := 100_000_000
		for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i <= 9 {
			ns += int(b[j]-'0') * scale
			scale /= 10
			j++
		}
		if j == i+1 {
			return time.Time{}, 0, false
		}
		i = j
	}
	zone := loc
	switch {
	case i < len(b) && b[i] == 'Z':
		zone, i = time.UTC, i+1
	case i < len(b) && (b[i] == '+' || b[i] == '-'):
		if i+5 > len(b) {
			return time.Time{}, 0, false
		}
		j := i + 3
		if b[j] == ':' {
			j++
		}
		if j+2 > len(b) {
			return time.Time{}, 0, false
		}
		oh, ok1 := digits(b[i+1 : i+3])
		om, ok2 := digits(b[j : j+2])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		off := (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
		zone, i = fixedZone(off), j+2
	case i+4 <= len(b) && b[i] == ' ' && (string(b[i+1:i+4]) == "UTC" || string(b[i+1:i+4]) == "GMT"):
		zone, i = time.UTC, i+4
	}
	if !valid(y, mo, d, h, mi, s) {
		return time.Time{}, 0, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, zone), i, true
}

// fixedZone returns UTC for a zero offset and otherwise a fixed zone; a
// fixed zone allocates, so the common zero offset does not.
func fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone("", off)
}

// Short reads MySQL's old "YYMMDD HH:MM:SS" (and "YYMMDD  H:MM:SS") at the
// start of b, in loc, years 2000-2099.
func Short(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 14 {
		return time.Time{}, 0, false
	}
	y, ok1 := digits(b[0:2])
	mo, ok2 := digits(b[2:4])
	d, ok3 := digits(b[4:6])
	if !ok1 || !ok2 || !ok3 || b[6] != ' ' {
		return time.Time{}, 0, false
	}
	i := 7
	if b[7] == ' ' {
		i = 8
	}
	h, mi, s, n, ok := clock(b[i:])
	if !ok || !valid(2000+y, mo, d, h, mi, s) {
		return time.Time{}, 0, false
	}
	return time.Date(2000+y, time.Month(mo), d, h, mi, s, 0, loc), i + n, true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// Ctime reads "Mon Jan _2 15:04:05 2006" (what vsftpd writes) at the start
// of b, in loc.
func Ctime(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 24 || b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
		return time.Time{}, 0, false
	}
	mo := 0
	for i, m := range months {
		if string(b[4:7]) == m {
			mo = i + 1
		}
	}
	d, ok := digits(b[8:10])
	if b[8] == ' ' {
		d, ok = digits(b[9:10])
	}
	y, ok2 := digits(b[20:24])
	h, mi, s, n, ok3 := clock(b[11:19])
	if mo == 0 || !ok || !ok2 || !ok3 || n != 8 || !valid(y, mo, d, h, mi, s) {
		return time.Time{}, 0, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, loc), 24, true
}

// clock reads "HH:MM:SS" or "H:MM:SS".
func clock(b []byte) (h, m, s, n int, ok bool) {
	hl := 2
	if len(b) >= 2 && b[1] == ':' {
		hl = 1
	}
	if len(b) < hl+6 || b[hl] != ':' || b[hl+3] != ':' {
		return 0, 0, 0, 0, false
	}
	h, ok1 := digits(b[:hl])
	m, ok2 := digits(b[hl+1 : hl+3])
	s, ok3 := digits(b[hl+4 : hl+6])
	return h, m, s, hl + 6, ok1 && ok2 && ok3
}

func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func valid(y, mo, d, h, mi, s int) bool {
	return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60
}
