package postfix

import (
	"testing"
	"time"

	"phalanx/parser/parsertest"
)

// TestShapes covers the message shapes the parser knows, as Postfix 3.x
// writes them to syslog and the journal (the message after "postfix/smtpd[pid]: "),
// and some it must ignore.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "postfix/smtpd", 2101, New, []parsertest.Case{
		{Name: "sasl login", Steps: []parsertest.Step{{Msg: "warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Want: `auth-failure 203.0.113.7 ""`}}},
		{Name: "sasl plain, empty reason", Steps: []parsertest.Step{{Msg: "warning: unknown[203.0.113.7]: SASL PLAIN authentication failed: ", Want: `auth-failure 203.0.113.7 ""`}}},
		{Name: "sasl cram-md5 with port, ipv6", Steps: []parsertest.Step{{Msg: "warning: mail.example.net[2001:db8::7]:55729: SASL CRAM-MD5 authentication failed: authentication failure", Want: `auth-failure 2001:db8::7 ""`}}},
		{Name: "sasl: server trouble", Steps: []parsertest.Step{{Msg: "warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: Connection lost to authentication server"}}},
		{Name: "sasl: bad mechanism", Steps: []parsertest.Step{{Msg: "warning: unknown[203.0.113.7]: SASL CRAM-MD5 authentication failed: Invalid authentication mechanism", Want: `protocol-error 203.0.113.7 ""`}}},
		{Name: "relay denied", Steps: []parsertest.Step{{Msg: "NOQUEUE: reject: RCPT from unknown[198.51.100.4]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=ESMTP helo=<ylmf-pc>", Want: `mail-reject 198.51.100.4 ""`}}},
		{Name: "queued reject", Steps: []parsertest.Step{{Msg: "4Fq2Xz1abcZ: reject: RCPT from h.example.com[198.51.100.4]: 550 5.1.1 <no@example.org>: Recipient address rejected: User unknown in local recipient table; from=<> to=<no@example.org> proto=ESMTP helo=<h>", Want: `mail-reject 198.51.100.4 ""`}}},
		{Name: "milter reject", Steps: []parsertest.Step{{Msg: "1D8CC1CA0A7F: milter-reject: DATA from h.example.com[198.51.100.4]: 550 5.7.1 Command rejected; from=<a@b> to=<c@d> proto=ESMTP helo=<h>", Want: `mail-reject 198.51.100.4 ""`}}},
		{Name: "rbl reject", Steps: []parsertest.Step{{Msg: "NOQUEUE: reject: RCPT from unknown[198.51.100.5]: 554 5.7.1 Service unavailable; Client host [198.51.100.5] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>", Want: `dnsbl 198.51.100.5 ""`}}},
		{Name: "postscreen rbl reject", Steps: []parsertest.Step{{Msg: "NOQUEUE: reject: RCPT from [198.51.100.5]:60591: 550 5.7.1 Service unavailable; client [198.51.100.5] blocked using rbl.example.com; from=<a@b>, to=<c@d>, proto=ESMTP, helo=<x>", Want: `dnsbl 198.51.100.5 ""`}}},
		{Name: "greylisted", Steps: []parsertest.Step{{Msg: "NOQUEUE: reject: RCPT from mx.example.com[198.51.100.6]: 450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/; from=<b@example.com> to=<a@example.org> proto=ESMTP helo=<mx.example.com>"}}},
		{Name: "pipelining", Steps: []parsertest.Step{{Msg: "improper command pipelining after EHLO from unknown[198.51.100.8]: MAIL FROM:<a@b>", Want: `protocol-error 198.51.100.8 ""`}}},
		{Name: "too many errors", Steps: []parsertest.Step{{Msg: "too many errors after RCPT from unknown[198.51.100.8]", Want: `protocol-error 198.51.100.8 ""`}}},
		{Name: "non-smtp", Steps: []parsertest.Step{{Msg: "warning: non-SMTP command from unknown[198.51.100.8]: GET / HTTP/1.1", Want: `protocol-error 198.51.100.8 ""`}}},
		{Name: "lost after auth", Steps: []parsertest.Step{{Msg: "lost connection after AUTH from unknown[198.51.100.9]", Want: `preauth-close 198.51.100.9 ""`}}},
		{Name: "lost after data", Steps: []parsertest.Step{{Msg: "lost connection after DATA from mx.example.com[198.51.100.9]"}}},
		{Name: "brute force over one connection, summary adds nothing", Steps: []parsertest.Step{
			{Msg: "connect from unknown[198.51.100.10]"},
			{Msg: "warning: unknown[198.51.100.10]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Want: `auth-failure 198.51.100.10 ""`},
			{Msg: "warning: unknown[198.51.100.10]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", Want: `auth-failure 198.51.100.10 ""`},
			{Msg: "disconnect from unknown[198.51.100.10] ehlo=1 auth=0/2 quit=1 commands=2/4"},
		}},
		{Name: "aborted auth: the summary counts it", Steps: []parsertest.Step{
			{Msg: "connect from unknown[198.51.100.11]"},
			{Msg: "lost connection after AUTH from unknown[198.51.100.11]", Want: `preauth-close 198.51.100.11 ""`},
			{Msg: "disconnect from unknown[198.51.100.11] ehlo=1 auth=0/1 commands=1/2", Want: `auth-failure 198.51.100.11 ""`},
		}},
		{Name: "summary of a success", Steps: []parsertest.Step{{Msg: "disconnect from unknown[198.51.100.12] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8"}}},
		{Name: "summary of a success after a failure", Steps: []parsertest.Step{{Msg: "disconnect from unknown[198.51.100.12] ehlo=1 auth=1/2 quit=1 commands=3/4"}}},
		{Name: "summary is per process", Steps: []parsertest.Step{
			{Msg: "warning: unknown[198.51.100.13]: SASL LOGIN authentication failed: x", Want: `auth-failure 198.51.100.13 ""`},
			{Msg: "disconnect from unknown[198.51.100.13] auth=0/1", PID: 9, Want: `auth-failure 198.51.100.13 ""`},
		}},
		{Name: "stale memory", Steps: []parsertest.Step{
			{Msg: "warning: unknown[198.51.100.14]: SASL LOGIN authentication failed: x", Want: `auth-failure 198.51.100.14 ""`},
			{Msg: "disconnect from unknown[198.51.100.14] auth=0/1", DT: time.Hour, Want: `auth-failure 198.51.100.14 ""`},
		}},
		{Name: "postscreen", Steps: []parsertest.Step{
			{Msg: "PREGREET 14 after 0.08 from [198.51.100.15]:59415: EHLO ylmf-pc\\r\\n", Want: `protocol-error 198.51.100.15 ""`},
			{Msg: "HANGUP after 16 from [198.51.100.15]:48119 in tests after SMTP handshake", Want: `probe 198.51.100.15 ""`},
			{Msg: "COMMAND TIME LIMIT from [198.51.100.15]:3608 after CONNECT", Want: `protocol-error 198.51.100.15 ""`},
			{Msg: "BARE NEWLINE from [198.51.100.15]:3608 after DATA", Want: `protocol-error 198.51.100.15 ""`},
			{Msg: "DNSBL rank 3 for [198.51.100.15]:3608", Want: `dnsbl 198.51.100.15 ""`},
			{Msg: "CONNECT from [198.51.100.15]:3608 to [192.0.2.1]:25"},
			{Msg: "PASS NEW [198.51.100.15]:3608"},
		}},
		{Name: "host names and odd addresses", Steps: []parsertest.Step{
			{Msg: "warning: unknown[mail.example.com]: SASL LOGIN authentication failed: x"},
			{Msg: "warning: unknown[010.0.0.1]: SASL LOGIN authentication failed: x"},
			{Msg: "warning: un known[198.51.100.1]: SASL LOGIN authentication failed: x"},
			{Msg: "NOQUEUE: reject: RCPT from [198.51.100.1]: 554 5.7.1 x"},
		}},
		{Name: "unrelated", Steps: []parsertest.Step{
			{Msg: "4Fq2Xz1abcZ: client=mx.example.com[198.51.100.16]"},
			{Msg: "warning: hostname mx.example.com does not resolve to address 198.51.100.16"},
			{Msg: "Anonymous TLS connection established from unknown[198.51.100.16]: TLSv1.3"},
			{Msg: ""},
		}},
	})
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{
		"postfix/smtpd": true, "postfix/postscreen": true, "postfix/submission/smtpd": true, "postfix-out/smtpd": true,
		"postfix": true, "postfix/": false, "postfixx/smtpd": false, "sshd": false, "": false, "smtpd": false,
	})
}

// TestParseLeavesOtherFields: Parse fills Kind and Source only.
func TestParseLeavesOtherFields(t *testing.T) {
	p := New()
	evs := parsertest.Feed(p, "postfix/smtpd", "srv", 1, parsertest.T0, "warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: x")
	if len(evs) != 1 || evs[0].User != "" || evs[0].Service != "" || !evs[0].Time.IsZero() {
		t.Fatalf("%+v", evs)
	}
}
