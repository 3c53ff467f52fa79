package postfix

import (
	"testing"

	"phalanx/parser/parsertest"
)

// FuzzParse feeds arbitrary messages to one parser over two connections (see
// parsertest.Fuzz): at most one event a line, never a user, and always an
// address of the connection's lines.
func FuzzParse(f *testing.F) {
	seeds := append([]string{
		"warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
		"connect from unknown[198.51.100.11]\nlost connection after AUTH from unknown[198.51.100.11]\ndisconnect from unknown[198.51.100.11] ehlo=1 auth=0/1 commands=1/2",
		"NOQUEUE: reject: RCPT from [198.51.100.5]:60591: 550 5.7.1 Service unavailable; client [198.51.100.5] blocked using rbl.example.com; from=<a@b>",
		"PREGREET 14 after 0.08 from [198.51.100.15]:59415: EHLO ylmf-pc\\r\\n",
		"DNSBL rank 3 for [2001:db8::1]:3608",
	}, parsertest.SampleMessages("postfix/smtpd", "postfix")...)
	parsertest.Fuzz(f, "postfix/smtpd", New, seeds, parsertest.Promise{Events: 1, User: 0, UserInLine: true})
}
