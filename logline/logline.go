// Package logline splits one log line into its syslog parts: time, host,
// program, pid and message. It knows the line shapes that syslog daemons and
// the journal write (RFC 3164, RFC 5424, ISO-8601 prefixes, journalctl's
// short, short-precise, short-iso and short-iso-precise). It must not
// interpret messages, allocate per line, use regexp, fmt or time.Parse on the
// hot path, or look anything up over the network: lines are written by
// attackers, so every malformed line is an error, never a panic.
package logline

import (
	"bytes"
	"errors"
	"time"
	"unicode"
	"unicode/utf8"
)

// Frame is one line split into its parts. Byte slices alias the input line
// and are valid only until the caller reuses that buffer.
type Frame struct {
	// Time is the line's timestamp. It is the zero Time when the line
	// carries none (an RFC 5424 NILVALUE); callers then use their own
	// receive time.
	Time time.Time
	// YearInferred is true when the timestamp carried no year (RFC 3164):
	// the framer chose it (see Framer.SetReference and Framer.SetYear).
	YearInferred bool
	// Host is empty for an RFC 5424 NILVALUE and for lines written without
	// a host ("Mar  3 00:17:22 [sshd]: msg", "TIME auth.info: msg").
	Host []byte
	// Program is such as "sshd" or "sshd-session". It is empty for an RFC
	// 5424 NILVALUE and for lines whose only tag is a syslog
	// facility.severity ("auth.info:"): the caller decides which service
	// such a line belongs to.
	Program []byte
	PID     int    // -1 when the line carries none
	Message []byte // everything after "program[pid]: "; never contains '\n'
	Format  Format // the shape the line had
}

// Format is the shape of a framed line.
type Format uint8

// The line shapes Frame knows.
const (
	FormatUnknown Format = iota
	// FormatRFC3164 is traditional syslog and journalctl -o short and
	// short-precise: "Nov 27 05:49:28 host sshd[1234]: msg", optionally
	// after a "<PRI>". The year is inferred (see Framer.SetReference).
	FormatRFC3164
	// FormatRFC5424 is "<34>1 2026-11-27T05:49:28.123Z host sshd 1234 - - msg".
	FormatRFC5424
	// FormatISO8601 is rsyslog's high-precision file format and journalctl
	// -o short-iso and short-iso-precise:
	// "2026-11-27T05:49:28.123456+01:00 host sshd[1234]: msg".
	FormatISO8601
	formatCount
)

var formatNames = [formatCount]string{
	FormatUnknown: "unknown",
	FormatRFC3164: "rfc3164",
	FormatRFC5424: "rfc5424",
	FormatISO8601: "iso8601",
}

// String returns the format's stable name.
func (f Format) String() string {
	if f < formatCount {
		return formatNames[f]
	}
	return "format(?)"
}

// ErrUnknownFormat is returned for lines of no known shape. Every error that
// Frame returns wraps it, so errors.Is(err, ErrUnknownFormat) holds for all of
// them; the more specific errors below say what was wrong.
var ErrUnknownFormat = errors.New("unknown log line format")

// Specific framing errors; each wraps ErrUnknownFormat.
var (
	// ErrEmpty is an empty (or all-NUL) line.
	ErrEmpty = error(&formatError{"empty log line"})
	// ErrJournalMarker is one of journalctl's own lines ("-- Boot ...",
	// "-- Logs begin at ...", "-- No entries --"). Callers skip them.
	ErrJournalMarker = error(&formatError{"journalctl marker line, not a log entry"})
	// ErrNewline is a "line" with '\n' inside: the caller must split lines
	// before framing them.
	ErrNewline = error(&formatError{"log line contains a newline; split lines before framing"})
	// ErrPriority is a malformed "<PRI>" prefix.
	ErrPriority = error(&formatError{"malformed syslog priority"})
	// ErrTimestamp is a missing, truncated or impossible timestamp.
	ErrTimestamp = error(&formatError{"malformed log line timestamp"})
	// ErrHost is a missing or malformed host name.
	ErrHost = error(&formatError{"malformed log line host"})
	// ErrTag is a missing or malformed "program[pid]:" tag, or a malformed
	// RFC 5424 APP-NAME, PROCID or MSGID.
	ErrTag = error(&formatError{"malformed log line program tag"})
	// ErrStructuredData is malformed RFC 5424 structured data.
	ErrStructuredData = error(&formatError{"malformed rfc 5424 structured data"})
)

type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }

func (e *formatError) Unwrap() error { return ErrUnknownFormat }

// Bounds on header fields. Longer fields make the line an error.
const (
	maxHost     = 255 // RFC 5424 HOSTNAME; also longer than any DNS name
	maxProgram  = 64
	maxPID      = 1<<31 - 1
	maxProcID   = 128 // RFC 5424 PROCID
	maxMsgID    = 32  // RFC 5424 MSGID
	maxSDName   = 32  // RFC 5424 SD-ID and PARAM-NAME
	maxPriority = 191 // facility 23, severity 7
)

// Framer splits lines. It keeps the state that year inference needs, so use
// one Framer per stream of lines. A Framer is not safe for concurrent use.
type Framer struct {
	loc *time.Location
	ref time.Time

	// Year inference, derived from ref by SetReference: the year of ref in
	// loc, and the wall clock in loc of ref plus a week, as a year and a
	// packed month-day-clock (see packStamp).
	refYear   int
	limYear   int
	limPacked int

	stamp stampCache // last RFC 3164 timestamp
	iso   isoCache   // last ISO 8601 timestamp

	// Continuity (see SetContinuous): the year and month that the previous
	// year-less timestamp got, and a year forced on the first one.
	continuous bool
	prevYear   int
	prevMonth  int
	fixedYear  int
}

// NewFramer returns a framer that reads zone-less timestamps in loc (time.Local
// when nil) and infers missing years relative to ref (see SetReference).
func NewFramer(ref time.Time, loc *time.Location) *Framer {
	if loc == nil {
		loc = time.Local
	}
	f := &Framer{loc: loc}
	f.SetReference(ref)
	return f
}

// SetReference sets the time that years are inferred against: a timestamp
// without a year gets the latest year that does not put it more than a week
// after ref (compared on loc's wall clock). A tail sets it to the current
// time; a replay of a finished file to the file's modification time. It
// costs about as much as framing a line, so call it per batch of lines, not
// per line.
func (f *Framer) SetReference(ref time.Time) {
	f.ref = ref
	r := ref.In(f.loc)
	f.refYear = r.Year()
	lim := r.Add(7 * 24 * time.Hour)
	y, mo, d := lim.Date()
	h, mi, s := lim.Clock()
	f.limYear = y
	f.limPacked = packStamp(int(mo), d, h, mi, s)
}

// SetContinuous makes year inference follow the stream instead of judging
// each line alone: the first year-less timestamp gets its year from the
// reference (or SetYear), and every later one the year that puts it nearest
// to the one before it, so a file that runs from December into January, or
// rotations concatenated newest first, keep their order in time. A replay
// uses it; the caller may then move the whole stream by whole years (see
// package pipeline).
func (f *Framer) SetContinuous(on bool) {
	f.continuous = on
	f.prevYear, f.prevMonth = 0, 0
}

// SetYear forces the year of the first year-less timestamp (0 for none: it
// is inferred from the reference). It implies SetContinuous(true).
func (f *Framer) SetYear(year int) {
	f.SetContinuous(true)
	f.fixedYear = year
}

// Frame splits line into fr. It returns an error, and leaves fr undefined, when
// the line has no known shape. One trailing '\r' is ignored, and so is a run
// of NUL bytes at the start (what a file holds after a crash). Message bytes
// are passed through as they are, invalid UTF-8 and control characters
// included, so that odd bytes in an attacker's input cannot make a line
// disappear; only '\n' is refused.
func (f *Framer) Frame(line []byte, fr *Frame) error {
	fr.YearInferred = false
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		return ErrNewline
	}
	for len(line) > 0 && line[0] == 0 {
		line = line[1:]
	}
	if len(line) == 0 {
		return ErrEmpty
	}
	switch c := line[0]; {
	case c == '<':
		return f.framePriority(line, fr)
	case c >= 'A' && c <= 'Z':
		return f.frameRFC3164(line, fr)
	case isDigit(c):
		return f.frameISO(line, fr)
	case c == '-' && len(line) >= 3 && line[1] == '-' && line[2] == ' ':
		return ErrJournalMarker
	}
	return ErrUnknownFormat
}

// framePriority frames a line that starts with "<PRI>": RFC 5424, or RFC 3164
// or ISO 8601 as syslog daemons forward them.
func (f *Framer) framePriority(line []byte, fr *Frame) error {
	pri, i := 0, 1
	for i < len(line) && i <= 3 && isDigit(line[i]) {
		pri = pri*10 + int(line[i]-'0')
		i++
	}
	if i == 1 || i >= len(line) || line[i] != '>' || pri > maxPriority {
		return ErrPriority
	}
	b := line[i+1:]
	switch {
	case len(b) >= 2 && b[0] == '1' && b[1] == ' ':
		return f.frameRFC5424(b[2:], fr)
	case len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z':
		return f.frameRFC3164(b, fr)
	case len(b) > 0 && isDigit(b[0]):
		return f.frameISO(b, fr)
	}
	return ErrTimestamp
}

// frameRFC3164 frames "Mmm dd hh:mm:ss[.frac] host tag: msg".
func (f *Framer) frameRFC3164(b []byte, fr *Frame) error {
	t, n, ok := f.stampTime(b)
	if !ok {
		return ErrTimestamp
	}
	fr.Time = t
	fr.YearInferred = true
	fr.Format = FormatRFC3164
	return hostTag(b[n:], fr)
}

// frameISO frames "yyyy-mm-ddThh:mm:ss[.frac][zone] host tag: msg".
func (f *Framer) frameISO(b []byte, fr *Frame) error {
	t, n, ok := f.isoTime(b)
	if !ok {
		return ErrTimestamp
	}
	fr.Time = t
	fr.Format = FormatISO8601
	return hostTag(b[n:], fr)
}

// hostTag frames what follows a timestamp: " host prog[pid]: msg" or
// " host prog: msg". The tag is the first token after the host and nothing
// else: a message that quotes another program's tag keeps its own program.
func hostTag(b []byte, fr *Frame) error {
	if len(b) == 0 {
		return ErrHost
	}
	if b[0] != ' ' {
		return ErrTimestamp
	}
	b = b[1:]
	if len(b) > 0 && b[0] == '[' {
		// No host, the program in brackets: "[sshd]: msg" or "[sshd] msg".
		return bracketTag(b, fr)
	}
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		if validToken(b, maxHost) {
			return ErrTag // a host and nothing after it
		}
		return ErrHost
	}
	if sp > 0 && b[sp-1] == ':' {
		// Some syslog daemons write no host: "Mmm dd hh:mm:ss prog[pid]: msg".
		// A host name never ends in a colon, so the token is the tag.
		fr.Host = b[:0]
		if isFacilityTag(b[:sp-1]) {
			// "auth.info: msg" (busybox and some appliances): a
			// facility and severity, no program.
			fr.Program, fr.PID, fr.Message = b[:0], -1, b[sp+1:]
			return nil
		}
		return tag(b, fr)
	}
	if !validToken(b[:sp], maxHost) {
		return ErrHost
	}
	fr.Host = b[:sp]
	return tag(b[sp+1:], fr)
}

// bracketTag frames "[prog]: msg" and "[prog] msg", written with no host.
func bracketTag(b []byte, fr *Frame) error {
	end := bytes.IndexByte(b, ']')
	if end < 2 || !validToken(b[1:end], maxProgram) || bytes.IndexByte(b[1:end], '[') >= 0 {
		return ErrTag
	}
	msg := b[end+1:]
	if len(msg) > 0 && msg[0] == ':' {
		msg = msg[1:]
	}
	if len(msg) == 0 || msg[0] != ' ' {
		return ErrTag
	}
	fr.Host, fr.Program, fr.PID, fr.Message = b[:0], b[1:end], -1, msg[1:]
	return nil
}

// facilities and severities are the syslog names that a "facility.severity"
// tag is made of.
var (
	facilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "ntp", "security", "console", "local0", "local1", "local2", "local3", "local4",
		"local5", "local6", "local7"}
	severities = [...]string{"emerg", "alert", "crit", "err", "error", "warn", "warning", "notice", "info", "debug"}
)

// isFacilityTag reports whether b is "facility.severity", such as "auth.info".
func isFacilityTag(b []byte) bool {
	dot := bytes.IndexByte(b, '.')
	if dot < 0 {
		return false
	}
	fac, sev := string(b[:dot]), string(b[dot+1:])
	found := false
	for _, f := range facilities {
		if f == fac {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	for _, s := range severities {
		if s == sev {
			return true
		}
	}
	return false
}

// tag frames "prog[pid]: msg" or "prog: msg".
func tag(b []byte, fr *Frame) error {
	i := 0
	for ; i < len(b) && i <= maxProgram; i++ {
		c := b[i]
		if c == '[' || c == ':' {
			break
		}
		if c <= ' ' || c == 0x7f {
			return ErrTag
		}
	}
	if i == 0 || i > maxProgram || i == len(b) || !validToken(b[:i], maxProgram) {
		return ErrTag
	}
	fr.Program = b[:i]
	fr.PID = -1
	if b[i] == '[' {
		j, pid := i+1, 0
		for j < len(b) && isDigit(b[j]) {
			pid = pid*10 + int(b[j]-'0')
			if pid > maxPID {
				return ErrTag
			}
			j++
		}
		if j == i+1 || j+1 >= len(b) || b[j] != ']' || b[j+1] != ':' {
			return ErrTag
		}
		fr.PID = pid
		i = j + 1
	}
	msg := b[i+1:]
	if len(msg) > 0 && msg[0] == ' ' {
		msg = msg[1:]
	}
	fr.Message = msg
	return nil
}

// validToken reports whether b is a non-empty header token of at most max
// bytes: printable, no spaces, valid UTF-8.
func validToken(b []byte, max int) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	ascii := true
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r >= utf8.RuneSelf && !unicode.IsPrint(r) {
			return false // C1 controls, non-ASCII spaces, bidi overrides
		}
		b = b[n:]
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
