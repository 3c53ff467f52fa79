package mysql

import (
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers the message as MySQL 5.7, 8 and MariaDB 10/11 write it
// to syslog or the journal, and lines it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "mariadbd", 812, New, []parsertest.Case{
		{Name: "mariadb journal", Steps: []parsertest.Step{{Msg: "2024-05-01 10:00:00 31 [Warning] Access denied for user 'root'@'203.0.113.5' (using password: YES)", Want: `auth-failure 203.0.113.5 "root"`}}},
		{Name: "mysql 8", Steps: []parsertest.Step{{Msg: "2024-05-01T10:00:00.123456Z 113 [Note] [MY-010926] [Server] Access denied for user 'admin'@'2001:db8::5' (using password: NO)", Want: `auth-failure 2001:db8::5 "admin"`}}},
		{Name: "bare message", Steps: []parsertest.Step{{Msg: "[Warning] Access denied for user 'sa'@'203.0.113.6' (using password: YES)", Want: `auth-failure 203.0.113.6 "sa"`}}},
		{Name: "empty user", Steps: []parsertest.Step{{Msg: "[Warning] Access denied for user ''@'203.0.113.6' (using password: NO)", Want: `auth-failure 203.0.113.6 ""`}}},
		{Name: "host name", Steps: []parsertest.Step{{Msg: "[Warning] Access denied for user 'root'@'localhost' (using password: YES)"}}},
		{Name: "text after", Steps: []parsertest.Step{{Msg: "[Warning] Access denied for user 'root'@'203.0.113.6' (using password: YES) and more"}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "2024-05-01 10:00:00 0 [Note] InnoDB: Buffer pool(s) load completed"},
			{Msg: "[Warning] Aborted connection 31 to db: 'unconnected' user: 'unauthenticated' host: '203.0.113.6' (This connection closed normally without authentication)"},
		}},
	})
}

// TestFrame: the error log file's own shapes.
func TestFrame(t *testing.T) {
	p := New()
	for line, want := range map[string]string{
		"2019-01-03T08:50:04.634875Z 113 [Note] [MY-010926] [Server] Access denied for user 'root'@'192.0.2.1' (using password: NO)": "2019-01-03T08:50:04.634875Z",
		"2015-10-07  8:25:38 139845235329792 [Warning] Access denied for user 'user'@'192.0.2.1' (using password: YES)":              "2015-10-07T08:25:38Z",
		"130324 17:56:13 [Warning] Access denied for user 'root'@'61.160.223.112' (using password: NO)":                              "2013-03-24T17:56:13Z",
		"2019-09-06T01:45:18 srv mysqld: 2019-09-06  1:45:18 140581192722176 [Warning] Access denied":                                "",
		"Sep 16 21:30:26 catinthehat mysqld: 130916 21:30:26 [Warning] Access denied":                                                "",
	} {
		var fr logline.Frame
		ok := p.Frame([]byte(line), &fr)
		switch {
		case want == "" && ok:
			t.Errorf("%q: framed as the error log's", line)
		case want != "" && (!ok || fr.Time.Format(time.RFC3339Nano) != want):
			t.Errorf("%q: framed %v at %v, want %s", line, ok, fr.Time, want)
		}
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"mysqld": true, "mariadbd": true, "postgres": false, "": false})
}

// TestUserBounded checks that a long user name is cut to 128 bytes.
func TestUserBounded(t *testing.T) {
	parsertest.UserBounded(t, New(), "mysqld", "[Warning] Access denied for user '%s'@'192.0.2.1' (using password: YES)", 128)
}
