package parsertest

import (
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// OwnFramer is a parser that also frames the lines of its service's own log
// files, which carry no syslog header (the pipeline tries it first on a
// stream declared as the service's).
type OwnFramer interface {
	Frame(line []byte, fr *logline.Frame) bool
}

// ParseFramed is ParseSamples for services whose sample files mix shapes:
// each line is framed by the parser's own Frame when it has one and accepts
// the line, else by the logline framer when isProgram accepts the program it
// finds, else by FallbackFrame for program, else taken whole as a message
// of program (a host-less, tag-less line such as dovecot's "2013-08-11
// 03:56:40 auth-worker(default): ..."), so that no sample line is lost. It
// returns the lines, a new parser per filterOptions block, and how many
// lines were taken whole.
func ParseFramed[P Parser](t testing.TB, samples []*Sample, program string, isProgram func([]byte) bool, newParser func() P) ([]Parsed, int) {
	t.Helper()
	out, _, whole := parseSamples(t, samples, program, isProgram, newParser, true)
	return out, whole
}

// parseSamples frames and parses the sample lines in file order, with a new
// parser for each filterOptions block: by the parser's own Frame, else the
// logline framer for program's lines, else FallbackFrame (counted in
// fallback), else — when takeWhole — the whole line as program's message
// (counted in whole); a line none of them frames fails the test.
func parseSamples[P Parser](t testing.TB, samples []*Sample, program string, isProgram func([]byte) bool, newParser func() P, takeWhole bool) (out []Parsed, fallback, whole int) {
	t.Helper()
	// The journal samples' lines carry no timestamp ("srv sshd[123]: msg"):
	// they are framed as RFC 3164 lines by prefixing this fixed one.
	const journalStamp = "Jan  1 00:00:00 "
	framer := logline.NewFramer(time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC), time.UTC)
	var p P
	block := -1
	out = make([]Parsed, 0, len(samples))
	for _, s := range samples {
		if s.Block != block {
			p, block = newParser(), s.Block
		}
		line := s.Text
		if strings.HasSuffix(s.File, "-journal") {
			line = journalStamp + line
		}
		var fr logline.Frame
		framed := false
		if own, ok := any(p).(OwnFramer); ok {
			framed = own.Frame([]byte(line), &fr)
		}
		if !framed {
			err := framer.Frame([]byte(line), &fr)
			framed = err == nil && isProgram(fr.Program)
		}
		if !framed {
			if fr, framed = FallbackFrame(line, program); framed {
				fallback++
			}
		}
		if !framed {
			if !takeWhole {
				t.Fatalf("%s:%d: cannot frame sample line %q", s.File, s.No, line)
			}
			whole++
			fr = logline.Frame{Program: []byte(program), PID: -1, Message: []byte(line)}
		}
		l := Parsed{Sample: s, Frame: fr}
		var ev phalanx.Event
		for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
			l.Events = append(l.Events, ev)
		}
		out = append(out, l)
	}
	return out, fallback, whole
}

// Lines turns parsed sample lines into Conformance lines, keyed by message.
func Lines(parsed []Parsed) []Line {
	lines := make([]Line, len(parsed))
	for i, l := range parsed {
		lines[i] = Line{Sample: l.Sample, Msg: string(l.Frame.Message), Events: Blames(l.Events)}
	}
	return lines
}
