package postfix

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// benchFrames builds n lines of a mail server under SASL brute force, with
// its ordinary traffic.
func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	add := func(prog string, pid int, format string, args ...any) {
		frames = append(frames, logline.Frame{Host: []byte("mx"), Program: []byte(prog), PID: pid, Message: []byte(fmt.Sprintf(format, args...))})
	}
	for i := 0; len(frames) < n; i++ {
		pid := 3000 + i%50
		a := fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1)
		add("postfix/smtpd", pid, "connect from unknown[%s]", a)
		add("postfix/smtpd", pid, "warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", a)
		add("postfix/smtpd", pid, "lost connection after AUTH from unknown[%s]", a)
		add("postfix/smtpd", pid, "disconnect from unknown[%s] ehlo=1 auth=0/1 commands=1/2", a)
		add("postfix/smtpd", pid, "NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=ESMTP helo=<ylmf-pc>", a)
		add("postfix/qmgr", 99, "4Fq2Xz1abcZ: from=<a@example.com>, size=1234, nrcpt=1 (queue active)")
		add("postfix/smtp", 98, "4Fq2Xz1abcZ: to=<b@example.net>, relay=mx.example.net[198.51.100.1]:25, delay=0.5, dsn=2.0.0, status=sent (250 ok)")
	}
	return frames[:n]
}

func BenchmarkParse(b *testing.B) { parsertest.Benchmark(b, New(), benchFrames(4096)) }

// TestAllocs: no line costs an allocation.
func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "postfix/smtpd", "mx", []parsertest.Alloc{
		{Msg: "connect from unknown[203.0.113.9]", Want: 0},
		{Msg: "warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Want: 0},
		{Msg: "disconnect from unknown[203.0.113.9] ehlo=1 auth=0/1 commands=1/2", Want: 0},
		{Msg: "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org>", Want: 0},
		{Msg: "PREGREET 14 after 0.08 from [2001:db8::9]:59415: EHLO ylmf-pc", Want: 0},
		{Msg: "4Fq2Xz1abcZ: client=mx.example.com[198.51.100.16]", Want: 0},
	})
}
