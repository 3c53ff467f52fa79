package postfix

import (
	"fmt"
	"testing"

	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated postfix sample (all its
// modes: normal, more, auth, rbl, errors, ddos, aggressive) through the
// parser in file order, one parser per filterOptions block, and judges the
// events with parsertest.Conformance.
func TestFail2banConformance(t *testing.T) {
	const file = "postfix"
	parsertest.RequireSamples(t, file)
	c := parsertest.Conformance{
		Extras: map[string]string{
			"improper command pipelining after AUTH from unknown[192.0.2.11]: QUIT": "annotated as no match only under " +
				"fail2ban's errors mode (a jail for 'too many errors' alone); its normal mode matches the same shape " +
				"(the sample's 'improper command pipelining after AUTH from unknown[1.2.3.4]: QUIT'), and phalanx " +
				"has one parser for all modes",
		},
	}
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "postfix/smtpd", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}
