package mysql

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make the server
// write through the user name, which it does not escape.
func TestInjection(t *testing.T) {
	parsertest.Injections(t, "mysqld", New, []parsertest.Injection{
		{Name: "user holds a host", Lines: []string{
			"[Warning] Access denied for user 'x'@'192.0.2.66'@'203.0.113.5' (using password: YES)",
			"[Warning] Access denied for user 'x'@'192.0.2.66' (using password: YES)'@'203.0.113.5' (using password: YES)",
		}, Want: "203.0.113.5"},
		{Name: "user holds a whole line, host is a name", Lines: []string{
			"[Warning] Access denied for user 'x'@'192.0.2.66' (using password: YES)'@'attacker.example' (using password: YES)",
		}, Want: ""},
	})
}
