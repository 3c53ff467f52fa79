package mysql

import (
	"fmt"
	"testing"

	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated mysqld-auth sample
// (error log files of MySQL 5.x, 8 and MariaDB, and syslog lines) through
// the parser, framing each line as the error log's or syslog's.
func TestFail2banConformance(t *testing.T) {
	const file = "mysqld-auth"
	parsertest.RequireSamples(t, file)
	var c parsertest.Conformance
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "mysqld", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}
