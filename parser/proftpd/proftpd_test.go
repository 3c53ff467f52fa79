package proftpd

import (
	"fmt"
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers ProFTPD 1.3's messages (after "proftpd[pid]: ") and
// lines it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "proftpd", 11864, New, []parsertest.Case{
		{Name: "login failed", Steps: []parsertest.Step{{Msg: "ftp.example.com (mail.example.net[203.0.113.5]) - USER bob (Login failed): Incorrect password", Want: `auth-failure 203.0.113.5 "bob"`}}},
		{Name: "no such user", Steps: []parsertest.Step{{Msg: "ftp.example.com (203.0.113.5[203.0.113.5]) - USER admin: no such user found from 203.0.113.5 [203.0.113.5] to 192.0.2.1:21", Want: `invalid-user 203.0.113.5 "admin"`}}},
		{Name: "mapped, colon form", Steps: []parsertest.Step{{Msg: "ftp.example.com (::ffff:203.0.113.6[::ffff:203.0.113.6]): USER god: no such user found from ::ffff:203.0.113.6 [::ffff:203.0.113.6] to ::ffff:192.0.2.1:21", Want: `invalid-user 203.0.113.6 "god"`}}},
		{Name: "root", Steps: []parsertest.Step{{Msg: "ftp.example.com (203.0.113.7[203.0.113.7]) - SECURITY VIOLATION: root login attempted.", Want: `auth-failure 203.0.113.7 "root"`}}},
		{Name: "max attempts", Steps: []parsertest.Step{{Msg: "ftp.example.com (203.0.113.8[203.0.113.8]) - Maximum login attempts (3) exceeded", Want: `max-auth 203.0.113.8 ""`}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "ftp.example.com (203.0.113.9[203.0.113.9]) - FTP session opened."},
			{Msg: "ftp.example.com (203.0.113.9[203.0.113.9]) - USER bob: Login successful."},
			{Msg: "ftp.example.com (a b[203.0.113.9]) - USER bob (Login failed): x"},
			{Msg: "ftp.example.com (203.0.113.9[ftp.example.org]) - USER bob (Login failed): x"},
		}},
	})
}

func TestFrame(t *testing.T) {
	p := New()
	var fr logline.Frame
	if !p.Frame([]byte("2013-11-16 21:59:30,121 novo proftpd[25891] localhost (andy[1.2.3.4]): USER kjsad: no such user"), &fr) ||
		fr.PID != 25891 || !fr.Time.Equal(time.Date(2013, 11, 16, 21, 59, 30, 121e6, time.UTC)) || string(fr.Message) != "localhost (andy[1.2.3.4]): USER kjsad: no such user" {
		t.Errorf("%+v", fr)
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"proftpd": true, "proftpd-basic": false, "": false})
}

func TestInjection(t *testing.T) {
	parsertest.Injections(t, "proftpd", New, []parsertest.Injection{
		{Name: "user holds a client", Lines: []string{
			"ftp.example.com (203.0.113.5[203.0.113.5]): USER x (h[192.0.2.66]): no such user found from 192.0.2.66 [192.0.2.66] to 192.0.2.1:21",
			"ftp.example.com (203.0.113.5[203.0.113.5]) - USER ftp.example.com (victim[192.0.2.66]) - USER y (Login failed): z",
		}, Want: "203.0.113.5"},
		{Name: "client is a name with brackets", Lines: []string{
			"ftp.example.com (x]) - USER (h[192.0.2.66]) - USER y (Login failed): z",
		}, Want: ""},
	})
}

func FuzzParse(f *testing.F) {
	seeds := append([]string{
		"ftp.example.com (mail.example.net[203.0.113.5]) - USER bob (Login failed): Incorrect password",
		"ftp.example.com (203.0.113.8[203.0.113.8]) - Maximum login attempts (3) exceeded",
	}, parsertest.SampleMessages("proftpd", "proftpd")...)
	parsertest.Fuzz(f, "proftpd", New, seeds, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}

func BenchmarkParse(b *testing.B) {
	var frames []logline.Frame
	for i := 0; i < 4096; i++ {
		a := fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1)
		msg := "ftp.example.com (" + a + "[" + a + "]) - USER admin: no such user found from " + a + " [" + a + "] to 192.0.2.1:21"
		if i%2 == 1 {
			msg = "ftp.example.com (" + a + "[" + a + "]) - FTP session opened."
		}
		frames = append(frames, logline.Frame{Program: []byte("proftpd"), PID: i, Message: []byte(msg)})
	}
	parsertest.Benchmark(b, New(), frames)
}

func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "proftpd", "ftp", []parsertest.Alloc{
		{Msg: "ftp.example.com (203.0.113.5[203.0.113.5]) - USER admin: no such user found from 203.0.113.5 [203.0.113.5] to 192.0.2.1:21", Want: 0},
		{Msg: "ftp.example.com (203.0.113.5[203.0.113.5]) - FTP session opened.", Want: 0},
	})
}
