package vsftpd

import (
	"fmt"
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers vsftpd 3's log messages (after its own log's "[pid N] ",
// or its syslog tag) and lines it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "vsftpd", 27202, New, []parsertest.Case{
		{Name: "fail login", Steps: []parsertest.Step{{Msg: `[anonymous] FAIL LOGIN: Client "203.0.113.5"`, Want: `auth-failure 203.0.113.5 "anonymous"`}}},
		{Name: "fail login with reason, mapped", Steps: []parsertest.Step{{Msg: `[guest] FAIL LOGIN: Client "::ffff:203.0.113.5", "User is not in the allow user list."`, Want: `auth-failure 203.0.113.5 "guest"`}}},
		{Name: "fail login ipv6", Steps: []parsertest.Step{{Msg: `[root] FAIL LOGIN: Client "2001:db8::5"`, Want: `auth-failure 2001:db8::5 "root"`}}},
		{Name: "pam", Steps: []parsertest.Step{{Msg: "pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=test rhost=203.0.113.6", Want: `auth-failure 203.0.113.6 "test"`}}},
		{Name: "old pam", Steps: []parsertest.Step{{Msg: "(pam_unix) authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.6", Want: `auth-failure 203.0.113.6 ""`}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: `CONNECT: Client "203.0.113.7"`},
			{Msg: `[bob] OK LOGIN: Client "203.0.113.7"`},
			{Msg: `[bob] OK DOWNLOAD: Client "203.0.113.7", "/pub/x", 100 bytes, 10.00Kbyte/sec`},
			{Msg: `[x] FAIL LOGIN: Client "ftp.example.com"`},
			{Msg: `[x] FAIL LOGIN: Client "203.0.113.7" and more`},
		}},
	})
}

func TestFrame(t *testing.T) {
	p := New()
	var fr logline.Frame
	if !p.Frame([]byte(`Thu Sep  8 00:39:49 2016 [pid 15019] [guest] FAIL LOGIN: Client "::ffff:192.0.2.1"`), &fr) ||
		fr.PID != 15019 || !fr.Time.Equal(time.Date(2016, 9, 8, 0, 39, 49, 0, time.UTC)) || string(fr.Message) != `[guest] FAIL LOGIN: Client "::ffff:192.0.2.1"` {
		t.Errorf("%+v", fr)
	}
	if p.Frame([]byte(`Oct 23 21:15:42 vps vsftpd: pam_unix(vsftpd:auth): x`), &fr) {
		t.Error("a syslog line framed as vsftpd's log")
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"vsftpd": true, "vsftpd(pam_unix)": false, "": false})
}

func TestInjection(t *testing.T) {
	parsertest.Injections(t, "vsftpd", New, []parsertest.Injection{
		{Name: "user holds a client", Lines: []string{
			`[x] FAIL LOGIN: Client "192.0.2.66"] FAIL LOGIN: Client "203.0.113.5"`,
			`[x] FAIL LOGIN: Client "192.0.2.66", "y"] FAIL LOGIN: Client "203.0.113.5", "User is not in the allow user list."`,
		}, Want: "203.0.113.5"},
		{Name: "pam user holds rhost", Lines: []string{
			"pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=rhost=192.0.2.66 rhost=203.0.113.5",
			"pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=a rhost=203.0.113.5  user=b rhost=192.0.2.66",
		}, Want: "203.0.113.5"},
	})
}

func FuzzParse(f *testing.F) {
	parsertest.Fuzz(f, "vsftpd", New, []string{
		`[anonymous] FAIL LOGIN: Client "203.0.113.5"`,
		`[guest] FAIL LOGIN: Client "::ffff:203.0.113.5", "User is not in the allow user list."`,
		"pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=test rhost=203.0.113.6",
	}, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}

func BenchmarkParse(b *testing.B) {
	var frames []logline.Frame
	for i := 0; i < 4096; i++ {
		msg := fmt.Sprintf(`[anonymous] FAIL LOGIN: Client "203.0.%d.%d"`, i/250%250, i%250+1)
		if i%2 == 1 {
			msg = fmt.Sprintf(`[bob] OK DOWNLOAD: Client "198.51.100.%d", "/pub/file", 1048576 bytes, 5000.00Kbyte/sec`, i%250)
		}
		frames = append(frames, logline.Frame{Program: []byte("vsftpd"), PID: i, Message: []byte(msg)})
	}
	parsertest.Benchmark(b, New(), frames)
}

func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "vsftpd", "ftp", []parsertest.Alloc{
		{Msg: `[anonymous] FAIL LOGIN: Client "203.0.113.5"`, Want: 0},
		{Msg: `[root] FAIL LOGIN: Client "203.0.113.5"`, Want: 0},
		{Msg: `CONNECT: Client "203.0.113.7"`, Want: 0},
	})
}
