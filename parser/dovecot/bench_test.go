package dovecot

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// benchFrames builds n lines of an IMAP server under password spraying,
// with its ordinary log-ins.
func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	add := func(format string, args ...any) {
		frames = append(frames, logline.Frame{Host: []byte("mail"), Program: []byte("dovecot"), PID: -1, Message: []byte(fmt.Sprintf(format, args...))})
	}
	for i := 0; len(frames) < n; i++ {
		a := fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1)
		add("auth-worker(%d): pam(admin,%s,<x7Hn>): pam_authenticate() failed: Authentication failure (password mismatch?)", 300+i%9, a)
		add("imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=%s, lip=192.0.2.1, TLS, session=<x7Hn>", a)
		add("imap-login: Login: user=<bob>, method=PLAIN, rip=198.51.100.%d, lip=192.0.2.1, mpid=%d, TLS, session=<y>", i%250, i)
		add("imap(bob)<%d><y>: Disconnected: Logged out in=10 out=100 deleted=0 expunged=0", i)
	}
	return frames[:n]
}

func BenchmarkParse(b *testing.B) { parsertest.Benchmark(b, New(), benchFrames(4096)) }

// TestAllocs: common lines cost no allocation, an uncommon user its string.
func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "dovecot", "mail", []parsertest.Alloc{
		{Msg: "imap-login: Disconnected (auth failed, 1 attempts): user=<admin>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1", Want: 0},
		{Msg: "imap-login: Disconnected (auth failed, 1 attempts): user=<zyxxy>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1", Want: 1},
		{Msg: "auth: passwd-file(root,203.0.113.9,<s>): unknown user", Want: 0},
		{Msg: "imap(bob)<1><y>: Disconnected: Logged out in=10 out=100", Want: 0},
	})
}
