package dovecot

import (
	"fmt"
	"testing"

	"phalanx"
	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated dovecot sample (its
// normal and aggressive modes) through the parser in file order, framing
// each line as Dovecot's own log file, syslog or a bare message, and judges
// the events with parsertest.Conformance.
func TestFail2banConformance(t *testing.T) {
	const file = "dovecot"
	parsertest.RequireSamples(t, file)
	c := parsertest.Conformance{
		// A connection that never tried to log in is a preauth-close: it
		// feeds only the mail-probe scenario (a burst of 20), which is what
		// fail2ban's aggressive mode, matching such lines, stands for.
		FalsePositive: func(b parsertest.Blame) bool { return b.Kind != phalanx.KindPreauthClose.String() },
	}
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "dovecot", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}
