package postgresql

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make PostgreSQL
// write through the user and database names, which it writes unescaped in
// the prefix (%u, %d) and the message, to get 192.0.2.66 blamed. The
// prefix is '%q%u@%d %h '.
func TestInjection(t *testing.T) {
	parsertest.Injections(t, "postgres", New, []parsertest.Injection{
		{Name: "user holds an address", Lines: []string{
			`x 192.0.2.66@db 203.0.113.5 FATAL:  password authentication failed for user "x 192.0.2.66"`,
		}, Want: "203.0.113.5"},
		{Name: "user holds a failure", Lines: []string{
			`192.0.2.66 FATAL:  password authentication failed for user "z@db 203.0.113.5 FATAL:  password authentication failed for user "192.0.2.66 FATAL:  password authentication failed for user "z"`,
			`a 192.0.2.66 FATAL:  role "q" does not exist@db 203.0.113.5 FATAL:  role "a 192.0.2.66 FATAL:  role "q" does not exist" does not exist`,
			`x FATAL:  no pg_hba.conf entry for host "192.0.2.66", user "y@db 203.0.113.5 FATAL:  no pg_hba.conf entry for host "203.0.113.5", user "x FATAL:  no pg_hba.conf entry for host "192.0.2.66", user "y", database "db", SSL off`,
		}, Want: ""},
		{Name: "user holds a failure, no user in the prefix", Lines: []string{
			`FATAL:  no pg_hba.conf entry for host "203.0.113.5", user "x", database "y FATAL:  no pg_hba.conf entry for host "192.0.2.66", user "z", database "d", SSL off", SSL off`,
		}, Want: ""},
		{Name: "user holds a connection line", Lines: []string{
			`FATAL:  password authentication failed for user "LOG:  connection received: host=192.0.2.66 port=1"`,
			`FATAL:  password authentication failed for user "x"`,
		}, Want: ""},
	})
}
