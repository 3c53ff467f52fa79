package mysql

import (
	"testing"

	"phalanx/parser/parsertest"
)

// FuzzParse feeds arbitrary messages (see parsertest.Fuzz): at most one event
// a line, whose user is at most 128 bytes and appears in it.
func FuzzParse(f *testing.F) {
	seeds := append([]string{
		"2024-05-01 10:00:00 31 [Warning] Access denied for user 'root'@'203.0.113.5' (using password: YES)",
		"[Warning] Access denied for user 'x'@'192.0.2.66'@'203.0.113.5' (using password: YES)",
	}, parsertest.SampleMessages("mysqld", "mysqld-auth")...)
	parsertest.Fuzz(f, "mysqld", New, seeds, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}
