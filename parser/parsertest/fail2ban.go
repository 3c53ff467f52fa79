package parsertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
	"phalanx/testenv"
)

// Fail2banLogs holds the annotated sample logs of Debian's fail2ban package.
const Fail2banLogs = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"

// Sample is one log line of a fail2ban sample file with the failJSON
// annotation before it, if any.
type Sample struct {
	File      string // name under Fail2banLogs
	No        int    // line number in the file
	Text      string
	Block     int // the "# filterOptions:" blocks before the line
	Annotated bool
	Match     bool
	Host      string    // failJSON's host, ip4 or ip6 (the last one given)
	Time      time.Time // failJSON's time (UTC), zero when absent
}

// RequireSamples skips the test (fails it under CI) unless fail2ban's sample
// files names are installed.
func RequireSamples(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(Fail2banLogs, n)); err != nil {
			testenv.Missing(t, fmt.Sprintf("fail2ban's sample logs are missing (%v): install the Debian package fail2ban", err))
		}
	}
}

// ReadSamples reads one annotated sample file: its log lines, each with the
// failJSON annotation before it and its filterOptions block.
func ReadSamples(t testing.TB, name string) []*Sample {
	t.Helper()
	fh, err := os.Open(filepath.Join(Fail2banLogs, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []*Sample
	var next *Sample
	block := 0
	sc := bufio.NewScanner(fh)
	for no := 1; sc.Scan(); no++ {
		text := sc.Text()
		if strings.HasPrefix(text, "# filterOptions:") {
			block++
			continue
		}
		// fail2ban's own reader takes "#failJSON:" too (the dovecot sample has three).
		a, ok := strings.CutPrefix(text, "# failJSON:")
		if !ok {
			a, ok = strings.CutPrefix(text, "#failJSON:")
		}
		if ok {
			var ann struct {
				Match bool   `json:"match"`
				Time  string `json:"time"`
				Host  string `json:"host"`
				IP4   string `json:"ip4"`
				IP6   string `json:"ip6"`
			}
			if err := json.Unmarshal([]byte(a), &ann); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
			next = &Sample{Annotated: true, Match: ann.Match, Host: ann.Host}
			for _, h := range []string{ann.IP4, ann.IP6} {
				if h != "" {
					next.Host = h
				}
			}
			if ann.Time != "" {
				// The postfix sample writes one day without its zero ("2005-03-7").
				if next.Time, err = time.ParseInLocation("2006-01-2T15:04:05", ann.Time, time.UTC); err != nil {
					t.Fatalf("%s:%d: time: %v", name, no, err)
				}
			}
			continue
		}
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		s := &Sample{}
		if next != nil {
			s, next = next, nil
		}
		s.File, s.No, s.Text, s.Block = name, no, text, block
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// Parsed is a sample line as a parser saw it.
type Parsed struct {
	*Sample
	Frame  logline.Frame
	Events []phalanx.Event // Parse's, then Next's
}

// ParseSamples frames the sample lines as program's and parses them in file
// order, with a new parser for each filterOptions block (the modes of a block
// do not matter: a parser recognises the union of fail2ban's modes). It
// returns the lines and how many of them FallbackFrame had to split, because
// the logline framer could not frame them as program's.
func ParseSamples[P Parser](t testing.TB, samples []*Sample, program string, isProgram func([]byte) bool, newParser func() P) ([]Parsed, int) {
	t.Helper()
	out, fallback, _ := parseSamples(t, samples, program, isProgram, newParser, false)
	return out, fallback
}

// FallbackFrame splits the syslog header off the sample lines of program
// whose shapes the logline package does not (yet) know: a host-less "Mmm d
// hh:mm:ss program[pid]: ", "[program]:", RFC 5424. It only finds where the
// message starts; it interprets nothing, and leaves the time zero.
func FallbackFrame(line, program string) (logline.Frame, bool) {
	if strings.HasPrefix(line, "<") {
		// <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
		f := strings.SplitN(line, " ", 7)
		if len(f) < 7 || f[3] != program {
			return logline.Frame{}, false
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			return logline.Frame{}, false
		}
		rest := f[6]
		if strings.HasPrefix(rest, "- ") {
			rest = rest[2:]
		} else {
			// Skip [id k="v" ...] elements; values may hold escaped quotes and brackets.
			for strings.HasPrefix(rest, "[") {
				i, quoted := 1, false
				for ; i < len(rest); i++ {
					c := rest[i]
					if c == '\\' && quoted {
						i++
					} else if c == '"' {
						quoted = !quoted
					} else if c == ']' && !quoted {
						break
					}
				}
				if i >= len(rest) {
					return logline.Frame{}, false
				}
				rest = rest[i+1:]
			}
			rest = strings.TrimPrefix(rest, " ")
		}
		return logline.Frame{Host: []byte(f[2]), Program: []byte(program), PID: pid, Message: []byte(rest)}, true
	}
	if i := strings.Index(line, program+"["); i >= 0 {
		j := strings.IndexByte(line[i:], ']')
		if j < 0 {
			return logline.Frame{}, false
		}
		pid, err := strconv.Atoi(line[i+len(program)+1 : i+j])
		if err != nil {
			return logline.Frame{}, false
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(line[i+j+1:], ":"), " ")
		return logline.Frame{Program: []byte(program), PID: pid, Message: []byte(rest)}, true
	}
	if i := strings.Index(line, "["+program+"]"); i >= 0 {
		rest := strings.TrimPrefix(strings.TrimPrefix(line[i+len(program)+2:], ":"), " ")
		return logline.Frame{Program: []byte(program), PID: -1, Message: []byte(rest)}, true
	}
	return logline.Frame{}, false
}

// SampleMessages returns the messages FallbackFrame finds for program in the
// lines of the sample files names, as fuzz seeds; a missing file adds none.
func SampleMessages(program string, names ...string) []string {
	var out []string
	for _, name := range names {
		fh, err := os.Open(filepath.Join(Fail2banLogs, name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if fr, ok := FallbackFrame(sc.Text(), program); ok && len(fr.Message) > 0 {
				out = append(out, string(fr.Message))
			}
		}
		fh.Close()
	}
	return out
}

// Message returns a sample line's text after its syslog tag (the first "]: "
// or "]" with a space), to look it up in the exception lists.
func Message(text string) string {
	if i := strings.Index(text, "]: "); i >= 0 {
		return text[i+3:]
	}
	if i := strings.Index(text, "] "); i >= 0 {
		return text[i+2:]
	}
	return text
}
