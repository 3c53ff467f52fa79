package postfix

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 can make Postfix
// write, through HELO names, envelope addresses and SASL data, to get
// 192.0.2.66 blamed.
func TestInjection(t *testing.T) {
	parsertest.Injections(t, "postfix/smtpd", New, []parsertest.Injection{
		{Name: "helo names the victim", Lines: []string{
			"NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 554 5.7.1 <a@b>: Relay access denied; from=<x@y> to=<a@b> proto=ESMTP helo=<unknown[192.0.2.66]>",
		}, Want: "203.0.113.5"},
		{Name: "envelope holds a reply", Lines: []string{
			"NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 450 4.7.1 Greylisted; from=<a blocked using x from unknown[192.0.2.66]: 554 @b> proto=ESMTP",
		}, Want: ""},
		{Name: "sasl data holds a client", Lines: []string{
			"warning: unknown[203.0.113.5]: SASL LOGIN authentication failed: unknown[192.0.2.66]: SASL LOGIN authentication failed:",
		}, Want: "203.0.113.5"},
		{Name: "pipelined text holds a client", Lines: []string{
			"improper command pipelining after EHLO from unknown[203.0.113.5]: lost connection after AUTH from unknown[192.0.2.66]",
			"PREGREET 40 after 0.1 from [203.0.113.5]:4000: HANGUP after 1 from [192.0.2.66]:1 in\\r\\n",
		}, Want: "203.0.113.5"},
		{Name: "nested line", Lines: []string{
			"postfix/smtpd[1]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: x",
			"x warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: x",
		}, Want: ""},
		{Name: "victim in brackets of a host name", Lines: []string{
			"warning: a[b[192.0.2.66]: SASL LOGIN authentication failed: x",
			"warning: [192.0.2.66]x[203.0.113.5]: SASL LOGIN authentication failed: x",
		}, Want: ""},
	})
}
