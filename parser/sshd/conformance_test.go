package sshd

import (
	"fmt"
	"testing"

	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated sshd samples through the
// parser, in file order, with one Parser per filterOptions block, and judges
// the events with parsertest.Conformance; the exceptions are
// parsertest.SSHDMisses and parsertest.SSHDExtras, with their reasons.
func TestFail2banConformance(t *testing.T) {
	files := []string{"sshd", "sshd-journal"}
	parsertest.RequireSamples(t, files...)
	c := parsertest.Conformance{Misses: parsertest.SSHDMisses(), Extras: parsertest.SSHDExtras()}
	for _, f := range files {
		parsed, fallback := parsertest.ParseSamples(t, parsertest.ReadSamples(t, f), "sshd", IsProgram, New)
		lines := make([]parsertest.Line, len(parsed))
		for i, l := range parsed {
			lines[i] = parsertest.Line{Sample: l.Sample, Msg: string(l.Frame.Message), Events: parsertest.Blames(l.Events)}
		}
		c.Check(t, f, lines, fmt.Sprintf("%d lines framed by the test's fallback", fallback))
	}
	c.Finish(t)
}
