package postgresql

import (
	"testing"

	"phalanx/parser/parsertest"
)

// FuzzParse feeds arbitrary messages over two backends (see
// parsertest.Fuzz): at most one event a line, a user of at most 128 bytes
// from the line, an address from the backend's lines.
func FuzzParse(f *testing.F) {
	parsertest.Fuzz(f, "postgres", New, []string{
		`[5-1] postgres@postgres 203.0.113.5 FATAL:  password authentication failed for user "postgres"`,
		"LOG:  connection received: host=203.0.113.6 port=50000\nadmin@postgres FATAL:  password authentication failed for user \"admin\"",
		`FATAL:  no pg_hba.conf entry for host "203.0.113.8", user "sa", database "master", SSL encryption`,
		`admin@db 2001:db8::9(5432) FATAL:  role "admin" does not exist`,
	}, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}
