package exim

import (
	"fmt"
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// TestShapes covers Exim 4.9x's messages (after the main log's stamp, or
// exim's syslog tag) and lines it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "exim", 10099, New, []parsertest.Case{
		{Name: "authenticator", Steps: []parsertest.Step{{Msg: "login authenticator failed for (ylmf-pc) [203.0.113.5]: 535 Incorrect authentication data", Want: `auth-failure 203.0.113.5 ""`}}},
		{Name: "authenticator with name, port, set_id", Steps: []parsertest.Step{{Msg: "dovecot_plain authenticator failed for mail.example.net (x) [203.0.113.5]:41556 I=[192.0.2.1]:587: 535 Incorrect authentication data (set_id=admin)", Want: `auth-failure 203.0.113.5 "admin"`}}},
		{Name: "authenticator ipv6", Steps: []parsertest.Step{{Msg: "plain authenticator failed for ([2001:db8::5]) [2001:db8::5]:1 I=[2001:db8::1]:25: 535 Incorrect authentication data", Want: `auth-failure 2001:db8::5 ""`}}},
		{Name: "relay", Steps: []parsertest.Step{{Msg: "H=(yakult.com.tw) [203.0.113.6]:3755 I=[192.0.2.1]:25 F=<a@b> rejected RCPT <dir@example.org>: relay not permitted", Want: `mail-reject 203.0.113.6 ""`}}},
		{Name: "dnsbl", Steps: []parsertest.Step{{Msg: "H=([203.0.113.6]) [203.0.113.6]:52391 I=[192.0.2.1]:25 F=x@y rejected RCPT a@b: rejected found in dnsbl zen.spamhaus.org", Want: `dnsbl 203.0.113.6 ""`}}},
		{Name: "sender verify", Steps: []parsertest.Step{{Msg: "H=mx.example.net [203.0.113.7] sender verify fail for <a@example.net>: Unrouteable address", Want: `mail-reject 203.0.113.7 ""`}}},
		{Name: "drop", Steps: []parsertest.Step{{Msg: "1ahr79-0006jK-G9 SMTP connection from (x) [203.0.113.8]:44884 I=[192.0.2.1]:25 closed by DROP in ACL", Want: `mail-reject 203.0.113.8 ""`}}},
		{Name: "auth not advertised", Steps: []parsertest.Step{{Msg: `SMTP protocol error in "AUTH LOGIN" H=(ylmf-pc) [203.0.113.9]:60723 I=[192.0.2.1]:587 AUTH command used when not advertised`, Want: `protocol-error 203.0.113.9 ""`}}},
		{Name: "sync error", Steps: []parsertest.Step{{Msg: `SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[203.0.113.10]:25936 I=[192.0.2.1]:25 input="GET / HTTP/1.1\r\n\r\n"`, Want: `protocol-error 203.0.113.10 ""`}}},
		{Name: "too many", Steps: []parsertest.Step{{Msg: `SMTP call from [203.0.113.11] dropped: too many syntax or protocol errors (last command was "AUTH LOGIN")`, Want: `protocol-error 203.0.113.11 ""`}}},
		{Name: "no mail", Steps: []parsertest.Step{{Msg: "no MAIL in SMTP connection from [203.0.113.12]:2056 I=[192.0.2.1]:25 D=0s", Want: `preauth-close 203.0.113.12 ""`}}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "1ahr79-0006jK-G9 <= a@example.org H=mx.example.org [198.51.100.1] P=esmtps S=1234"},
			{Msg: "1ahr79-0006jK-G9 => b@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2]"},
			{Msg: "SMTP connection from [198.51.100.3]:1234 I=[192.0.2.1]:25 (TCP/IP connection count = 1)"},
			{Msg: "login authenticator failed for (a b) [203.0.113.5]: 535 Incorrect authentication data"},
		}},
	})
}

func TestFrame(t *testing.T) {
	p := New()
	var fr logline.Frame
	if !p.Frame([]byte("2013-06-10 18:33:32 [10099] H=(yakult.com.tw) [202.132.70.178]:3755 rejected RCPT x: relay not permitted"), &fr) ||
		fr.PID != 10099 || !fr.Time.Equal(time.Date(2013, 6, 10, 18, 33, 32, 0, time.UTC)) || string(fr.Message[:2]) != "H=" {
		t.Errorf("%+v", fr)
	}
	if !p.Frame([]byte("2019-10-22 03:39:17 mx1 exim[29786]: dovecot_login authenticator failed for (User) [192.0.2.37]: 535 x"), &fr) ||
		fr.PID != 29786 || string(fr.Message[:5]) != "dovec" {
		t.Errorf("%+v", fr)
	}
	if p.Frame([]byte("2019-10-22T03:39:17 mx1 exim[29786]: x"), &fr) {
		t.Error("a syslog line framed as the main log's")
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"exim": true, "exim4": true, "eximstats": false, "": false})
}

// TestInjection feeds lines an attacker at 203.0.113.5 can make Exim write,
// through HELO names, commands, input and envelope addresses.
func TestInjection(t *testing.T) {
	parsertest.Injections(t, "exim", New, []parsertest.Injection{
		{Name: "command holds a client", Lines: []string{
			`SMTP protocol error in "aUtH lOgIn" H=(test) [192.0.2.66]" H=(roxzgj) [203.0.113.5] AUTH command used when not advertised`,
		}, Want: "203.0.113.5"},
		{Name: "command and input both hold clients", Lines: []string{
			`SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "RSET" H=[192.0.2.66] x" H=mx [203.0.113.5]:1 I=[192.0.2.1]:25 next input="QUIT\r\n"`,
			`SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "RSET" H=mx [203.0.113.5]:1 I=[192.0.2.1]:25 next input="x H=[192.0.2.66]"`,
		}, Want: ""},
		{Name: "helo with a space is refused", Lines: []string{
			"login authenticator failed for (x) [192.0.2.66] (y) [203.0.113.5]: 535 Incorrect authentication data",
		}, Want: ""},
		{Name: "recipient holds a client", Lines: []string{
			"H=(x) [203.0.113.5] F=<a@b> rejected RCPT <H=[192.0.2.66]@c>: relay not permitted",
			"H=(x) [203.0.113.5] F=<\"H=(y) [192.0.2.66]\"@c> rejected RCPT <d@e>: relay not permitted",
		}, Want: "203.0.113.5"},
		{Name: "set_id holds a client", Lines: []string{
			"login authenticator failed for (x) [203.0.113.5]: 535 Incorrect authentication data (set_id=a [192.0.2.66]: 535 )",
		}, Want: "203.0.113.5"},
	})
}

func FuzzParse(f *testing.F) {
	parsertest.Fuzz(f, "exim", New, []string{
		"login authenticator failed for (ylmf-pc) [203.0.113.5]: 535 Incorrect authentication data (set_id=a)",
		"H=(yakult.com.tw) [203.0.113.6]:3755 I=[192.0.2.1]:25 F=<a@b> rejected RCPT <dir@example.org>: relay not permitted",
		`SMTP protocol error in "AUTH LOGIN" H=(ylmf-pc) [203.0.113.9]:60723 I=[192.0.2.1]:587 AUTH command used when not advertised`,
		`SMTP protocol synchronization error (x): rejected "RSET" H=mx [203.0.113.5]:1 I=[192.0.2.1]:25 next input="QUIT\r\n"`,
		"no IP address found for host test.example.com (during SMTP connection from [192.0.2.9])",
	}, parsertest.Promise{Events: 1, User: 128, UserInLine: true})
}

func BenchmarkParse(b *testing.B) {
	var frames []logline.Frame
	for i := 0; i < 4096; i++ {
		a := fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1)
		var msg string
		switch i % 4 {
		case 0:
			msg = "dovecot_login authenticator failed for (User) [" + a + "]:41556 I=[192.0.2.1]:587: 535 Incorrect authentication data (set_id=admin)"
		case 1:
			msg = "H=(x) [" + a + "]:3755 I=[192.0.2.1]:25 F=<a@b> rejected RCPT <c@example.org>: relay not permitted"
		case 2:
			msg = "1ahr79-0006jK-G9 <= a@example.org H=mx.example.org [198.51.100.1] P=esmtps X=TLS1.3 S=1234 id=x@y"
		default:
			msg = "1ahr79-0006jK-G9 Completed"
		}
		frames = append(frames, logline.Frame{Program: []byte("exim"), PID: i, Message: []byte(msg)})
	}
	parsertest.Benchmark(b, New(), frames)
}

func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "exim", "mx", []parsertest.Alloc{
		{Msg: "login authenticator failed for (ylmf-pc) [203.0.113.5]: 535 Incorrect authentication data (set_id=admin)", Want: 0},
		{Msg: "H=(x) [203.0.113.6]:3755 I=[192.0.2.1]:25 F=<a@b> rejected RCPT <c@d>: relay not permitted", Want: 0},
		{Msg: "1ahr79-0006jK-G9 Completed", Want: 0},
	})
}
