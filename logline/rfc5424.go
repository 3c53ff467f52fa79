package logline

import "time"

// frameRFC5424 frames what follows "<PRI>1 " in an RFC 5424 line:
// "TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]", where any
// header field may be the NILVALUE "-". Structured data is checked and
// skipped; a BOM before the message is dropped.
func (f *Framer) frameRFC5424(b []byte, fr *Frame) error {
	fr.Format = FormatRFC5424
	if len(b) > 0 && b[0] == '-' {
		fr.Time = time.Time{}
		b = b[1:]
	} else {
		t, n, ok := f.isoTime(b)
		if !ok {
			return ErrTimestamp
		}
		fr.Time = t
		b = b[n:]
	}
	if len(b) == 0 || b[0] != ' ' {
		return ErrTimestamp
	}
	b = b[1:]

	host, b, ok := field(b, maxHost)
	if !ok {
		return ErrHost
	}
	app, b, ok := field(b, maxProgram)
	if !ok {
		return ErrTag
	}
	procID, b, ok := field(b, maxProcID)
	if !ok {
		return ErrTag
	}
	if _, b, ok = field(b, maxMsgID); !ok {
		return ErrTag
	}
	b, ok = skipStructuredData(b)
	if !ok {
		return ErrStructuredData
	}
	switch {
	case len(b) == 0:
	case b[0] == ' ':
		b = b[1:]
		if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
			b = b[3:]
		}
	default:
		return ErrStructuredData
	}

	fr.Host = nilValue(host)
	fr.Program = nilValue(app)
	fr.PID = -1
	if pid, ok := decimal(procID); ok {
		fr.PID = pid
	}
	fr.Message = b
	return nil
}

// field splits b at its first space into a header field of 1 to max
// printable ASCII bytes and what follows the space.
func field(b []byte, max int) (tok, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] != ' ' {
		if b[i] < '!' || b[i] > '~' || i >= max {
			return nil, nil, false
		}
		i++
	}
	if i == 0 || i == len(b) {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// nilValue returns nil for the NILVALUE "-", else b.
func nilValue(b []byte) []byte {
	if len(b) == 1 && b[0] == '-' {
		return nil
	}
	return b
}

// decimal parses b as a PID: decimal digits, at most maxPID.
func decimal(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
		if v > maxPID {
			return 0, false
		}
	}
	return v, true
}

// skipStructuredData skips the NILVALUE or one or more
// `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]` elements at the start of b, and
// returns the rest. In values, a backslash escapes the byte after it.
func skipStructuredData(b []byte) ([]byte, bool) {
	if len(b) > 0 && b[0] == '-' {
		return b[1:], true
	}
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	i := 0
	for i < len(b) && b[i] == '[' {
		i++
		n := sdName(b[i:])
		if n == 0 {
			return nil, false
		}
		i += n
		for {
			if i >= len(b) {
				return nil, false
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ' ' {
				return nil, false
			}
			i++
			n = sdName(b[i:])
			if n == 0 {
				return nil, false
			}
			i += n
			if i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
				return nil, false
			}
			for i += 2; ; {
				if i >= len(b) {
					return nil, false
				}
				c := b[i]
				if c == '\\' {
					i += 2
					continue
				}
				i++
				if c == '"' {
					break
				}
			}
		}
	}
	return b[i:], true
}

// sdName returns the length of the SD-ID or PARAM-NAME at the start of b:
// 1 to 32 printable ASCII bytes other than '=', ' ', ']' and '"'; 0 if none.
func sdName(b []byte) int {
	i := 0
	for i < len(b) && i <= maxSDName {
		c := b[i]
		if c < '!' || c > '~' || c == '=' || c == ']' || c == '"' {
			break
		}
		i++
	}
	if i > maxSDName {
		return 0
	}
	return i
}
