package pureftpd

import (
	"fmt"
	"testing"

	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated pure-ftpd sample through the
// parser in file order (its own log file's lines, syslog lines) and judges
// the events with parsertest.Conformance.
func TestFail2banConformance(t *testing.T) {
	const file = "pure-ftpd"
	parsertest.RequireSamples(t, file)
	var c parsertest.Conformance
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "pure-ftpd", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}
