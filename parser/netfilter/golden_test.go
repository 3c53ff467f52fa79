package netfilter

import (
	"flag"
	"testing"

	"phalanx/parser/parsertest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden checks the events of the lines of each testdata/<case>/input.log
// (a syslog file as rsyslog writes it) against its events.golden (go test
// -update rewrites them).
func TestGolden(t *testing.T) { parsertest.Golden(t, *update, IsProgram, New) }
