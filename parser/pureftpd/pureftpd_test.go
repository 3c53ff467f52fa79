package pureftpd

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers Pure-FTPd 1.0's messages and lines it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "pure-ftpd", 1234, New, []parsertest.Case{
		{Name: "failed", Steps: []parsertest.Step{{Msg: "(?@203.0.113.5) [WARNING] Authentication failed for user [Administrator]", Want: `auth-failure 203.0.113.5 "Administrator"`}}},
		{Name: "failed ipv6", Steps: []parsertest.Step{{Msg: "(?@2001:db8::5) [WARNING] Authentication failed for user [root]", Want: `auth-failure 2001:db8::5 "root"`}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "(?@203.0.113.5) [INFO] New connection from 203.0.113.5"},
			{Msg: "(bob@203.0.113.5) [INFO] Logout."},
			{Msg: "(?@host.example.com) [WARNING] Authentication failed for user [root]"},
			{Msg: "(?@203.0.113.5) [WARNING] Authentication failed for user [root] x"},
		}},
	})
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"pure-ftpd": true, "pure-ftpd-wrapper": false, "": false})
}

func TestInjection(t *testing.T) {
	parsertest.Injections(t, "pure-ftpd", New, []parsertest.Injection{
		{Name: "user holds a session", Lines: []string{
			"(?@203.0.113.5) [WARNING] Authentication failed for user [x] (?@192.0.2.66) [WARNING] Authentication failed for user [y]",
		}, Want: "203.0.113.5"},
		{Name: "a logged-in user's text", Lines: []string{
			"(bob@203.0.113.5) [WARNING] (?@192.0.2.66) [WARNING] Authentication failed for user [y]",
		}, Want: ""},
	})
}

func FuzzParse(f *testing.F) {
	parsertest.Fuzz(f, "pure-ftpd", New, []string{
		"(?@203.0.113.5) [WARNING] Authentication failed for user [Administrator]",
		"(?@2001:db8::5) [WARNING] Authentication failed for user []",
	}, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}

func BenchmarkParse(b *testing.B) {
	var frames []logline.Frame
	for i := 0; i < 4096; i++ {
		msg := fmt.Sprintf("(?@203.0.%d.%d) [WARNING] Authentication failed for user [admin]", i/250%250, i%250+1)
		if i%2 == 1 {
			msg = fmt.Sprintf("(?@198.51.100.%d) [INFO] New connection from 198.51.100.%d", i%250, i%250)
		}
		frames = append(frames, logline.Frame{Program: []byte("pure-ftpd"), PID: i, Message: []byte(msg)})
	}
	parsertest.Benchmark(b, New(), frames)
}

func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "pure-ftpd", "ftp", []parsertest.Alloc{
		{Msg: "(?@203.0.113.5) [WARNING] Authentication failed for user [admin]", Want: 0},
		{Msg: "(?@203.0.113.5) [INFO] New connection from 203.0.113.5", Want: 0},
	})
}
