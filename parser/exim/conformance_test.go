package exim

import (
	"fmt"
	"testing"

	"phalanx"
	"phalanx/parser/parsertest"
)

// TestFail2banConformance feeds fail2ban's annotated exim sample (normal and
// aggressive modes) through the parser, framing each line as the main
// log's, and judges the events with parsertest.Conformance.
func TestFail2banConformance(t *testing.T) {
	const file = "exim"
	parsertest.RequireSamples(t, file)
	c := parsertest.Conformance{
		// A name lookup that failed for the client is a probe event: it
		// feeds only mail-probe (a burst of 20), where fail2ban's
		// aggressive mode counts it at once.
		FalsePositive: func(b parsertest.Blame) bool { return b.Kind != phalanx.KindProbe.String() },
	}
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "exim", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}

// TestFail2banSpamConformance feeds fail2ban's exim-spam sample (its
// exim-spam jail): the rejects that name a blocklist or a virus are events;
// a content scanner's verdict on a message is not.
func TestFail2banSpamConformance(t *testing.T) {
	const file = "exim-spam"
	parsertest.RequireSamples(t, file)
	verdict := "a content scanner's verdict on a message (local_scan, SpamAssassin), not an attack on the server: " +
		"a spam score is no evidence that the sending host attacks, and the client's address comes after the " +
		"envelope sender (F=<...>), which the client chose"
	c := parsertest.Conformance{Misses: map[string]string{
		"1Ai79e-0000Dq-8i F=uzwltcmwto24@melissacam.biz H=lsanca1-ar3-4-47-028-040.lsanca1.elnk.dsl.genuity.net [4.47.28.40] P=smtp rejected by local_scan(): Rejected: hits=7.5 required=5.0 trigger=5.0":                                                                           verdict,
		"1UlasQ-0003fr-45 F=mcorporation4@aol.com H=(mail38.fssprus.ru) [46.254.240.82]:43671 I=[1.2.3.4]:25 P=esmtp rejected by local_scan(): Rejected":                                                                                                                             verdict,
		"1VxPit-000MMd-U4 SA: Action: flagged as Spam but accepted: score=8.2 required=5.0 (scanned in 6/6 secs | Message-Id: 008701cf04ed_24497d70_6cdc7850_@xxx.xx). From <spammer@xxx.xx> (host=ip-4.net-3-2-1.rev.xxx.xx [178.123.108.196]) for trap@example.com":                verdict,
		"1VxHRO-000NiI-Ly SA: Action: silently tossed message: score=31.0 required=5.0 trigger=30.0 (scanned in 6/6 secs | Message-Id: etPan.09bd0c40.c3d5f675.fdf7@server.local). From <Flossiedpd@jazztel.es> (host=72.45.76.188.dynamic.jazztel.es [188.76.45.72]) for me@my.com": verdict,
		"1VxHWD-000NuW-83 SA: Action: silently tossed message: score=35.8 required=5.0 trigger=30.0 (scanned in 6/6 secs | Message-Id: 1VxHWD-000NuW-83). From <> (host=NULL [178.123.108.196]) for me@my.com":                                                                       verdict,
	}}
	parsed, whole := parsertest.ParseFramed(t, parsertest.ReadSamples(t, file), "exim", IsProgram, New)
	c.Check(t, file, parsertest.Lines(parsed), fmt.Sprintf("%d lines taken whole", whole))
	c.Finish(t)
}
