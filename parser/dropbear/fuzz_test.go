package dropbear

import (
	"testing"

	"phalanx/parser/parsertest"
)

var fuzzSeeds = []string{
	"Bad password attempt for 'root' from 198.51.100.87:5543",
	"bad password attempt for 'root' from [2001:db8::7]:22",
	"Bad PAM password attempt for 'x' from 192.0.2.66:22' from 203.0.113.5:40000",
	"Login attempt for nonexistent user from ::ffff:198.51.100.215:60495",
	"Login attempt for nonexistent user 'a' from 192.0.2.66:22' from 203.0.113.5:40000",
	"Child connection from 198.51.100.91:5001\nExit before auth (user 'root', 10 fails): Max auth tries reached - user 'root'",
	"Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 1.2.3.4:60588",
	"Exit before auth from <203.0.113.5:40000>: (user 'x> from <192.0.2.66:22', 1 fails): y",
	"Exit before auth from <2001:db8::93:5002>: Exited normally",
	"Child connection from 198.51.100.94:5003\nExit before auth: Disconnect received",
	"Child connection from 192.0.2.10:5004\nPassword auth succeeded for 'deploy' from 192.0.2.10:5004\nExit before auth: x",
}

// FuzzParse feeds arbitrary messages to one parser over two connections
// (see parsertest.Fuzz). A Dropbear line yields at most one event, whose user
// is at most 128 bytes and appears in that line.
func FuzzParse(f *testing.F) {
	parsertest.Fuzz(f, "dropbear", New, fuzzSeeds, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}
