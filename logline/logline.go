// Package logline splits one log line into its syslog parts: time, host,
// program, pid and message. It knows the line shapes that syslog daemons and
// the journal write (RFC 3164, RFC 5424, ISO-8601 prefixes, journalctl's
// short and short-iso). It must not interpret messages, allocate per line on
// the hot path, or look anything up over the network: lines are written by
// attackers, so every malformed line is an error, never a panic.
package logline

import (
	"errors"
	"time"
)

// Frame is one line split into its parts. Byte slices alias the input line
// and are valid only until the caller reuses that buffer.
type Frame struct {
	Time    time.Time
	Host    []byte
	Program []byte // such as "sshd" or "sshd-session"
	PID     int    // -1 when the line carries none
	Message []byte // everything after "program[pid]: "
}

// ErrUnknownFormat is returned for lines of no known shape.
var ErrUnknownFormat = errors.New("unknown log line format")

// Framer splits lines. It keeps the state that year inference needs, so use
// one Framer per stream of lines. A Framer is not safe for concurrent use.
type Framer struct {
	loc *time.Location
	ref time.Time
}

// NewFramer returns a framer that reads zone-less timestamps in loc (time.Local
// when nil) and infers missing years relative to ref (see SetReference).
func NewFramer(ref time.Time, loc *time.Location) *Framer {
	if loc == nil {
		loc = time.Local
	}
	return &Framer{loc: loc, ref: ref}
}

// SetReference sets the time that years are inferred against: a timestamp
// without a year gets the latest year that does not put it more than a week
// after ref. A tail sets it to the current time; a replay of a finished file
// to the file's modification time.
func (f *Framer) SetReference(ref time.Time) { f.ref = ref }

// Frame splits line into fr. It returns an error, and leaves fr undefined, when
// the line has no known shape.
func (f *Framer) Frame(line []byte, fr *Frame) error {
	// Placeholder: RFC 3164 only ("Mmm dd hh:mm:ss host prog[pid]: msg").
	if len(line) < 16 || line[15] != ' ' {
		return ErrUnknownFormat
	}
	t, err := time.ParseInLocation(time.Stamp, string(line[:15]), f.loc)
	if err != nil {
		return ErrUnknownFormat
	}
	fr.Time = t.AddDate(f.ref.Year(), 0, 0)
	rest := line[16:]
	sp := indexByte(rest, ' ')
	if sp < 0 {
		return ErrUnknownFormat
	}
	fr.Host = rest[:sp]
	rest = rest[sp+1:]
	colon := indexByte(rest, ':')
	if colon < 0 {
		return ErrUnknownFormat
	}
	tag := rest[:colon]
	fr.Message = rest[colon+1:]
	if len(fr.Message) > 0 && fr.Message[0] == ' ' {
		fr.Message = fr.Message[1:]
	}
	fr.PID = -1
	fr.Program = tag
	if n := len(tag); n > 0 && tag[n-1] == ']' {
		if lb := indexByte(tag, '['); lb >= 0 {
			fr.Program = tag[:lb]
			pid := 0
			for _, c := range tag[lb+1 : n-1] {
				if c < '0' || c > '9' || pid > 1<<30 {
					return ErrUnknownFormat
				}
				pid = pid*10 + int(c-'0')
			}
			fr.PID = pid
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
