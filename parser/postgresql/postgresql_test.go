package postgresql

import (
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers the failures as PostgreSQL 12-17 write them through
// syslog or the journal (the message after "postgres[pid]: "), with %h or
// %r last in log_line_prefix, with log_connections, and without either.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "postgres", 4242, New, []parsertest.Case{
		{Name: "%h last", Steps: []parsertest.Step{{Msg: `[5-1] postgres@postgres 203.0.113.5 FATAL:  password authentication failed for user "postgres"`, Want: `auth-failure 203.0.113.5 "postgres"`}}},
		{Name: "%r last", Steps: []parsertest.Step{{Msg: `app@app 2001:db8::5(51234) FATAL:  password authentication failed for user "app"`, Want: `auth-failure 2001:db8::5 "app"`}}},
		{Name: "no host anywhere", Steps: []parsertest.Step{{Msg: `postgres@postgres FATAL:  password authentication failed for user "postgres"`}}},
		{Name: "log_connections", Steps: []parsertest.Step{
			{Msg: `[unknown]@[unknown] LOG:  connection received: host=203.0.113.6 port=50000`},
			{Msg: `admin@postgres FATAL:  password authentication failed for user "admin"`, Want: `auth-failure 203.0.113.6 "admin"`},
		}},
		{Name: "log_connections disagrees with the prefix", Steps: []parsertest.Step{
			{Msg: `LOG:  connection received: host=203.0.113.6 port=50000`},
			{Msg: `admin@postgres 203.0.113.7 FATAL:  password authentication failed for user "admin"`},
		}},
		{Name: "log_connections of another backend", Steps: []parsertest.Step{
			{Msg: `LOG:  connection received: host=203.0.113.6 port=50000`, PID: 1},
			{Msg: `admin@postgres FATAL:  password authentication failed for user "admin"`},
		}},
		{Name: "stale connection", Steps: []parsertest.Step{
			{Msg: `LOG:  connection received: host=203.0.113.6 port=50000`},
			{Msg: `admin@postgres FATAL:  password authentication failed for user "admin"`, DT: time.Hour},
		}},
		{Name: "no pg_hba entry", Steps: []parsertest.Step{{Msg: `[unknown]@[unknown] FATAL:  no pg_hba.conf entry for host "203.0.113.8", user "sa", database "master", SSL encryption`, Want: `auth-failure 203.0.113.8 "sa"`}}},
		{Name: "pg_hba rejects", Steps: []parsertest.Step{{Msg: `FATAL:  pg_hba.conf rejects connection for host "203.0.113.8", user "x", database "y", no encryption`, Want: `auth-failure 203.0.113.8 "x"`}}},
		{Name: "no role", Steps: []parsertest.Step{{Msg: `admin@db 203.0.113.9 FATAL:  role "admin" does not exist`, Want: `invalid-user 203.0.113.9 "admin"`}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: `LOG:  database system is ready to accept connections`},
			{Msg: `app@app 203.0.113.9 ERROR:  relation "x" does not exist at character 15`},
			{Msg: `app@app 203.0.113.9 FATAL:  database "x" does not exist`},
			{Msg: `DETAIL:  Connection matched pg_hba.conf line 99: "host all all 0.0.0.0/0 scram-sha-256"`},
		}},
	})
}

// TestFrame: the log file's own shapes (Debian's '%m [%p] %q%u@%d ').
func TestFrame(t *testing.T) {
	p := New()
	var fr logline.Frame
	line := `2024-05-01 10:00:00.123 UTC [4242] postgres@postgres 203.0.113.5 FATAL:  password authentication failed for user "postgres"`
	if !p.Frame([]byte(line), &fr) || fr.PID != 4242 || !fr.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC)) {
		t.Fatalf("framed %+v", fr)
	}
	if got := parsertest.Describe(parsertest.Feed(p, "postgres", "", fr.PID, fr.Time, string(fr.Message))); got != `auth-failure 203.0.113.5 "postgres"` {
		t.Errorf("got %s", got)
	}
	if !p.Frame([]byte(`2024-05-01 12:00:00 CEST [77] LOG:  x`), &fr) || fr.PID != 77 || string(fr.Message) != "LOG:  x" {
		t.Errorf("zone abbreviation: %+v", fr)
	}
	if p.Frame([]byte(`2024-05-01T10:00:00 db postgres[1]: LOG:  x`), &fr) {
		t.Error("a syslog line framed as the log file's")
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"postgres": true, "postmaster": true, "mysqld": false, "": false})
}
