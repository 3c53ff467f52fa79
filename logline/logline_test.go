package logline

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York for the zone tests, wherever they run
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// The reference and location most tests frame against.
var (
	testRef = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	testLoc = time.FixedZone("UTC+1", 3600)
)

// want is the expected frame of a line; Time is RFC 3339 ("" for the zero
// Time), and a nil Host or Program means empty.
type want struct {
	time    string
	host    string
	program string
	pid     int
	msg     string
	format  Format
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad expected time %q: %v", s, err)
	}
	return tm
}

func checkFrame(t *testing.T, line string, got Frame, w want) {
	t.Helper()
	if wt := mustTime(t, w.time); !got.Time.Equal(wt) || got.Time.IsZero() != wt.IsZero() {
		t.Errorf("%q: Time = %v, want %v", line, got.Time, wt)
	}
	if string(got.Host) != w.host {
		t.Errorf("%q: Host = %q, want %q", line, got.Host, w.host)
	}
	if string(got.Program) != w.program {
		t.Errorf("%q: Program = %q, want %q", line, got.Program, w.program)
	}
	if got.PID != w.pid {
		t.Errorf("%q: PID = %d, want %d", line, got.PID, w.pid)
	}
	if string(got.Message) != w.msg {
		t.Errorf("%q: Message = %q, want %q", line, got.Message, w.msg)
	}
	if got.Format != w.format {
		t.Errorf("%q: Format = %v, want %v", line, got.Format, w.format)
	}
}

var (
	bigMessage = strings.Repeat("x", 1<<20)
	program64  = strings.Repeat("p", 64)
	program65  = strings.Repeat("p", 65)
	host255    = strings.Repeat("h", 255)
	host256    = strings.Repeat("h", 256)
)

const failed = "Failed password for root from 192.0.2.1 port 22 ssh2"

func TestFrameShapes(t *testing.T) {
	tests := []struct {
		name string
		line string
		want want
	}{
		// RFC 3164 and journalctl -o short.
		{"rfc3164", "Nov 27 05:49:28 host sshd[1234]: " + failed,
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, failed, FormatRFC3164}},
		{"space-padded day", "Nov  7 05:49:28 host sshd[1234]: msg",
			want{"2026-11-07T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"zero-padded day", "Nov 07 05:49:28 host sshd[1234]: msg",
			want{"2026-11-07T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"unpadded day", "Nov 7 05:49:28 host sshd[1234]: msg",
			want{"2026-11-07T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"every month", "Jan 31 00:00:00 h p: m",
			want{"2026-01-31T00:00:00+01:00", "h", "p", -1, "m", FormatRFC3164}},
		{"priority", "<38>Nov 27 05:49:28 host sshd[1234]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"priority zero", "<0>Nov 27 05:49:28 host sshd[1234]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"priority 191", "<191>Nov 27 05:49:28 host sshd[1234]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"tag without pid", "Nov 27 05:49:28 host sshd: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", -1, "msg", FormatRFC3164}},
		{"no space after colon", "Nov 27 05:49:28 host sshd[1234]:msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"empty message", "Nov 27 05:49:28 host sshd[1234]:",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "", FormatRFC3164}},
		{"one space dropped", "Nov 27 05:49:28 host sshd[1234]:  two",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, " two", FormatRFC3164}},
		{"trailing CR", "Nov 27 05:49:28 host sshd[1234]: msg\r",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatRFC3164}},
		{"short-precise", "Nov 27 05:49:28.123456 host sshd-session[1234]: msg",
			want{"2026-11-27T05:49:28.123456+01:00", "host", "sshd-session", 1234, "msg", FormatRFC3164}},
		{"short-precise nanoseconds", "Nov 27 05:49:28.000000001 host sshd[1]: msg",
			want{"2026-11-27T05:49:28.000000001+01:00", "host", "sshd", 1, "msg", FormatRFC3164}},
		{"injected tag stays message", "Nov 27 05:49:28 host cron[77]: sshd[1]: " + failed,
			want{"2026-11-27T05:49:28+01:00", "host", "cron", 77, "sshd[1]: " + failed, FormatRFC3164}},
		{"injected tag after pid-less tag", "Nov 27 05:49:28 host logger: sshd[1]: " + failed,
			want{"2026-11-27T05:49:28+01:00", "host", "logger", -1, "sshd[1]: " + failed, FormatRFC3164}},
		{"kernel", "Nov 27 05:49:28 host kernel: [   12.345678] eth0: link up",
			want{"2026-11-27T05:49:28+01:00", "host", "kernel", -1, "[   12.345678] eth0: link up", FormatRFC3164}},
		{"no host", "Nov 27 05:49:28 sshd[8148]: msg",
			want{"2026-11-27T05:49:28+01:00", "", "sshd", 8148, "msg", FormatRFC3164}},
		{"no host, no pid", "Nov 27 05:49:28 sshd: msg",
			want{"2026-11-27T05:49:28+01:00", "", "sshd", -1, "msg", FormatRFC3164}},
		{"no host, injected tag stays message", "Nov 27 05:49:28 cron[77]: sshd[1]: msg",
			want{"2026-11-27T05:49:28+01:00", "", "cron", 77, "sshd[1]: msg", FormatRFC3164}},
		{"ipv6 host", "Nov 27 05:49:28 2001:db8::1 sshd[22]: msg",
			want{"2026-11-27T05:49:28+01:00", "2001:db8::1", "sshd", 22, "msg", FormatRFC3164}},
		{"slash in program", "Nov 27 05:49:28 mx postfix/smtpd[99]: connect from x",
			want{"2026-11-27T05:49:28+01:00", "mx", "postfix/smtpd", 99, "connect from x", FormatRFC3164}},
		{"parentheses in program", "Nov 27 05:49:28 host (sd-pam)[12]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "(sd-pam)", 12, "msg", FormatRFC3164}},
		{"largest pid", "Nov 27 05:49:28 host sshd[2147483647]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 2147483647, "msg", FormatRFC3164}},
		{"pid zero", "Nov 27 05:49:28 host init[0]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "init", 0, "msg", FormatRFC3164}},
		{"leading NULs after a crash", "\x00\x00\x00Nov 27 05:49:28 host sshd[1]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1, "msg", FormatRFC3164}},
		{"odd message bytes kept", "Nov 27 05:49:28 host sshd[1]: Invalid user \xff\x00\x1b[31m from 192.0.2.1",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1, "Invalid user \xff\x00\x1b[31m from 192.0.2.1", FormatRFC3164}},
		{"utf-8 host", "Nov 27 05:49:28 hôte sshd[1]: msg",
			want{"2026-11-27T05:49:28+01:00", "hôte", "sshd", 1, "msg", FormatRFC3164}},
		{"longest program", "Nov 27 05:49:28 host " + program64 + "[1]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", program64, 1, "msg", FormatRFC3164}},
		{"longest host", "Nov 27 05:49:28 " + host255 + " sshd[1]: msg",
			want{"2026-11-27T05:49:28+01:00", host255, "sshd", 1, "msg", FormatRFC3164}},
		{"1 MB message", "Nov 27 05:49:28 host sshd[1]: " + bigMessage,
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1, bigMessage, FormatRFC3164}},

		// ISO 8601 prefixes: rsyslog and journalctl -o short-iso.
		{"rsyslog high precision", "2026-11-27T05:49:28.123456+01:00 host sshd[1234]: msg",
			want{"2026-11-27T04:49:28.123456Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso Z", "2026-11-27T05:49:28Z host sshd[1234]: msg",
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso lowercase", "2026-11-27t05:49:28z host sshd[1234]: msg",
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso one fraction digit", "2026-11-27T05:49:28.1Z host sshd[1234]: msg",
			want{"2026-11-27T05:49:28.1Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso nanoseconds west", "2026-11-27T05:49:28.123456789-05:00 host sshd[1234]: msg",
			want{"2026-11-27T10:49:28.123456789Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso half-hour zone", "2026-11-27T05:49:28+05:30 host sshd[1234]: msg",
			want{"2026-11-27T00:19:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"short-iso", "2026-11-27T05:49:28+0100 host sshd[1234]: msg",
			want{"2026-11-27T04:49:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"short-iso-precise", "2026-11-27T05:49:28.123456+0100 host sshd[1234]: msg",
			want{"2026-11-27T04:49:28.123456Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso without zone uses loc", "2026-11-27T05:49:28 host sshd[1234]: msg",
			want{"2026-11-27T05:49:28+01:00", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso leap day", "2028-02-29T05:49:28Z host sshd[1234]: msg",
			want{"2028-02-29T05:49:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso year is not inferred", "2019-01-02T03:04:05Z host sshd[1234]: msg",
			want{"2019-01-02T03:04:05Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"forwarded with priority", "<86>2026-11-27T05:49:28+01:00 host sshd[1234]: msg",
			want{"2026-11-27T04:49:28Z", "host", "sshd", 1234, "msg", FormatISO8601}},
		{"iso injected tag", "2026-11-27T05:49:28Z host nginx[5]: sshd[1]: " + failed,
			want{"2026-11-27T05:49:28Z", "host", "nginx", 5, "sshd[1]: " + failed, FormatISO8601}},

		// RFC 5424.
		{"rfc5424", "<34>1 2026-11-27T05:49:28.123456+00:00 host sshd 1234 - - msg",
			want{"2026-11-27T05:49:28.123456Z", "host", "sshd", 1234, "msg", FormatRFC5424}},
		{"rfc5424 all nil", "<34>1 - - - - - -",
			want{"", "", "", -1, "", FormatRFC5424}},
		{"rfc5424 nil with message", "<34>1 - - - - - - msg",
			want{"", "", "", -1, "msg", FormatRFC5424}},
		{"rfc5424 structured data and BOM",
			`<165>1 2026-11-27T05:49:28.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ` + "\xef\xbb\xbfAn application event",
			want{"2026-11-27T05:49:28.003Z", "mymachine.example.com", "evntslog", -1, "An application event", FormatRFC5424}},
		{"rfc5424 escapes in structured data",
			`<34>1 2026-11-27T05:49:28Z host sshd 1 - [a@1 x="q\"] y=\"z\\" w="]"][b@2] sshd[9]: msg`,
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1, "sshd[9]: msg", FormatRFC5424}},
		{"rfc5424 structured data without message", `<34>1 2026-11-27T05:49:28Z host sshd 1 - [a@1 x="y"]`,
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1, "", FormatRFC5424}},
		{"rfc5424 empty message after space", "<34>1 2026-11-27T05:49:28Z host sshd 1 - - ",
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1, "", FormatRFC5424}},
		{"rfc5424 textual procid", "<34>1 2026-11-27T05:49:28Z host sshd worker-3 - - msg",
			want{"2026-11-27T05:49:28Z", "host", "sshd", -1, "msg", FormatRFC5424}},
		{"rfc5424 huge procid", "<34>1 2026-11-27T05:49:28Z host sshd 99999999999 - - msg",
			want{"2026-11-27T05:49:28Z", "host", "sshd", -1, "msg", FormatRFC5424}},
		{"rfc5424 message starting with bracket", "<34>1 2026-11-27T05:49:28Z host sshd 1 - - [not sd]",
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1, "[not sd]", FormatRFC5424}},
		{"rfc5424 short-iso zone", "<34>1 2026-11-27T05:49:28+0100 host sshd 1 - - msg",
			want{"2026-11-27T04:49:28Z", "host", "sshd", 1, "msg", FormatRFC5424}},
		{"rfc5424 trailing CR", "<34>1 2026-11-27T05:49:28Z host sshd 1 - - msg\r",
			want{"2026-11-27T05:49:28Z", "host", "sshd", 1, "msg", FormatRFC5424}},
	}
	f := NewFramer(testRef, testLoc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fr Frame
			if err := f.Frame([]byte(tt.line), &fr); err != nil {
				t.Fatalf("Frame(%q) = %v, want success", tt.line, err)
			}
			checkFrame(t, tt.line, fr, tt.want)
			// A fresh framer must agree with the one that carries a cache.
			var fresh Frame
			if err := NewFramer(testRef, testLoc).Frame([]byte(tt.line), &fresh); err != nil {
				t.Fatalf("fresh Frame(%q) = %v", tt.line, err)
			}
			checkFrame(t, tt.line, fresh, tt.want)
		})
	}
}

func TestFrameErrors(t *testing.T) {
	const ts = "Nov 27 05:49:28 "
	const iso = "2026-11-27T05:49:28"
	const r5424 = "<34>1 2026-11-27T05:49:28Z "
	tests := []struct {
		name string
		line string
		want error
	}{
		{"empty", "", ErrEmpty},
		{"only CR", "\r", ErrEmpty},
		{"only NULs", "\x00\x00\x00", ErrEmpty},
		{"1 MB of NULs", strings.Repeat("\x00", 1<<20), ErrEmpty},
		{"prose", "hello world", ErrUnknownFormat},
		{"lowercase month", "nov 27 05:49:28 host sshd[1]: msg", ErrUnknownFormat},
		{"NUL inside", "Nov 27 05:49:28\x00host sshd[1]: msg", ErrTimestamp},
		{"1 MB of garbage", bigMessage, ErrUnknownFormat},
		{"1 MB of capitals", strings.Repeat("A", 1<<20), ErrTimestamp},
		{"1 MB of digits", strings.Repeat("9", 1<<20), ErrTimestamp},
		{"1 MB host", ts + bigMessage, ErrHost},
		{"1 MB program", ts + "host " + bigMessage, ErrTag},
		{"newline inside", ts + "host sshd[1]: a\nb", ErrNewline},
		{"newline at end", ts + "host sshd[1]: a\n", ErrNewline},

		{"journal begin", "-- Logs begin at Thu 2026-11-26 00:00:01 CET, end at Fri 2026-11-27 05:49:28 CET. --", ErrJournalMarker},
		{"journal boot", "-- Boot 0123456789abcdef0123456789abcdef --", ErrJournalMarker},
		{"journal reboot", "-- Reboot --", ErrJournalMarker},
		{"journal no entries", "-- No entries --", ErrJournalMarker},
		{"dashes without space", "--x", ErrUnknownFormat},

		{"bad month", "Foo 27 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"month case", "NOV 27 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"day 32", "Nov 32 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"day 0", "Nov 00 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"day 0 padded", "Nov  0 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"November 31", "Nov 31 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"February 30", "Feb 30 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"three-digit day", "Nov 123 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"hour 24", "Nov 27 24:00:00 host sshd[1]: msg", ErrTimestamp},
		{"minute 60", "Nov 27 05:60:00 host sshd[1]: msg", ErrTimestamp},
		{"second 60", "Nov 27 05:49:60 host sshd[1]: msg", ErrTimestamp},
		{"one-digit hour", "Nov 27 5:49:28 host sshd[1]: msg", ErrTimestamp},
		{"clock without colons", "Nov 27 05-49-28 host sshd[1]: msg", ErrTimestamp},
		{"empty fraction", "Nov 27 05:49:28. host sshd[1]: msg", ErrTimestamp},
		{"ten-digit fraction", "Nov 27 05:49:28.1234567890 host sshd[1]: msg", ErrTimestamp},
		{"tab after time", "Nov 27 05:49:28\thost sshd[1]: msg", ErrTimestamp},
		{"with a year", "Nov 27 2026 05:49:28 host sshd[1]: msg", ErrTimestamp},
		{"timestamp only", "Nov 27 05:49:28", ErrHost},
		{"timestamp and space", ts, ErrHost},
		{"empty host", ts + " sshd[1]: msg", ErrHost},
		{"NUL in host", ts + "ho\x00st sshd[1]: msg", ErrHost},
		{"escape in host", ts + "\x1b[31mhost sshd[1]: msg", ErrHost},
		{"DEL in host", ts + "ho\x7fst sshd[1]: msg", ErrHost},
		{"invalid utf-8 host", ts + "ho\xffst sshd[1]: msg", ErrHost},
		{"C1 control in host", ts + "ho\u0085st sshd[1]: msg", ErrHost},
		{"host too long", ts + host256 + " sshd[1]: msg", ErrHost},
		{"host only", ts + "host", ErrTag},
		{"missing colon", ts + "host sshd[1234] msg", ErrTag},
		{"no tag", ts + "host sshd msg: x", ErrTag},
		{"tag without colon at end", ts + "host sshd[1234]", ErrTag},
		{"empty brackets", ts + "host sshd[]: msg", ErrTag},
		{"pid 2^31", ts + "host sshd[2147483648]: msg", ErrTag},
		{"huge pid", ts + "host sshd[99999999999999999999999999999]: msg", ErrTag},
		{"negative pid", ts + "host sshd[-1]: msg", ErrTag},
		{"letters in pid", ts + "host sshd[12a]: msg", ErrTag},
		{"unclosed pid", ts + "host sshd[12: msg", ErrTag},
		{"junk after pid", ts + "host sshd[12]x: msg", ErrTag},
		{"space before colon", ts + "host sshd[12] : msg", ErrTag},
		{"empty program", ts + "host [12]: msg", ErrTag},
		{"empty program without pid", ts + "host : msg", ErrTag},
		{"program too long", ts + "host " + program65 + "[1]: msg", ErrTag},
		{"control in program", ts + "host ss\x01hd[1]: msg", ErrTag},
		{"NUL in program", ts + "host ss\x00hd[1]: msg", ErrTag},
		{"invalid utf-8 program", ts + "host ss\xffhd[1]: msg", ErrTag},
		{"bidi override in program", ts + "host ss\u202ehd[1]: msg", ErrTag},
		{"non-ascii space in program", ts + "host ss\u00a0hd[1]: msg", ErrTag},

		{"iso month 13", "2026-13-27T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso day 32", "2026-01-32T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso November 31", "2026-11-31T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso February 29 in common year", "2026-02-29T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso year 0", "0000-01-01T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso hour 24", "2026-11-27T24:00:00Z host sshd[1]: msg", ErrTimestamp},
		{"iso space separator", "2026-11-27 05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso short zone hour", iso + "+1:00 host sshd[1]: msg", ErrTimestamp},
		{"iso zone hours only", iso + "+01 host sshd[1]: msg", ErrTimestamp},
		{"iso short zone minute", iso + "+01:0 host sshd[1]: msg", ErrTimestamp},
		{"iso zone 24 hours", iso + "+24:00 host sshd[1]: msg", ErrTimestamp},
		{"iso zone minute 60", iso + "+01:60 host sshd[1]: msg", ErrTimestamp},
		{"iso junk after zone", iso + "Zhost sshd[1]: msg", ErrTimestamp},
		{"iso letters in year", "20x6-11-27T05:49:28Z host sshd[1]: msg", ErrTimestamp},
		{"iso truncated", "2026-11-27T05:49", ErrTimestamp},
		{"iso without host", iso + "+01:00", ErrHost},
		{"iso missing colon", iso + "Z host sshd[1234] msg", ErrTag},

		{"empty priority", "<>Nov 27 05:49:28 host sshd[1]: msg", ErrPriority},
		{"priority 192", "<192>Nov 27 05:49:28 host sshd[1]: msg", ErrPriority},
		{"four-digit priority", "<0038>Nov 27 05:49:28 host sshd[1]: msg", ErrPriority},
		{"unclosed priority", "<38", ErrPriority},
		{"letter priority", "<3a>Nov 27 05:49:28 host sshd[1]: msg", ErrPriority},
		{"priority only", "<38>", ErrTimestamp},
		{"priority and prose", "<38>hello", ErrTimestamp},
		{"rfc5424 version 2", "<34>2 2026-11-27T05:49:28Z host sshd 1 - - msg", ErrTimestamp},

		{"rfc5424 header only", "<34>1 ", ErrTimestamp},
		{"rfc5424 bad timestamp", "<34>1 2026-11-27 host sshd 1 - - msg", ErrTimestamp},
		{"rfc5424 timestamp only", "<34>1 2026-11-27T05:49:28Z", ErrTimestamp},
		{"rfc5424 nil timestamp only", "<34>1 -", ErrTimestamp},
		{"rfc5424 NUL in host", "<34>1 2026-11-27T05:49:28Z ho\x00st sshd 1 - - msg", ErrHost},
		{"rfc5424 utf-8 host", "<34>1 2026-11-27T05:49:28Z hôte sshd 1 - - msg", ErrHost},
		{"rfc5424 host too long", r5424 + host256 + " sshd 1 - - msg", ErrHost},
		{"rfc5424 empty host", r5424 + " sshd 1 - - msg", ErrHost},
		{"rfc5424 app name too long", r5424 + "host " + program65 + " 1 - - msg", ErrTag},
		{"rfc5424 procid too long", r5424 + "host sshd " + strings.Repeat("1", 129) + " - - msg", ErrTag},
		{"rfc5424 msgid too long", r5424 + "host sshd 1 " + strings.Repeat("m", 33) + " - msg", ErrTag},
		{"rfc5424 no structured data", r5424 + "host sshd 1 -", ErrTag},
		{"rfc5424 empty structured data", r5424 + "host sshd 1 - ", ErrStructuredData},
		{"rfc5424 unterminated element", r5424 + `host sshd 1 - [id x="y"`, ErrStructuredData},
		{"rfc5424 unterminated value", r5424 + `host sshd 1 - [id x="y] msg`, ErrStructuredData},
		{"rfc5424 escaped quote at end", r5424 + `host sshd 1 - [id x="y\"] msg`, ErrStructuredData},
		{"rfc5424 unquoted value", r5424 + `host sshd 1 - [id x=y] msg`, ErrStructuredData},
		{"rfc5424 empty element", r5424 + `host sshd 1 - [] msg`, ErrStructuredData},
		{"rfc5424 empty param name", r5424 + `host sshd 1 - [id ="y"] msg`, ErrStructuredData},
		{"rfc5424 sd-id too long", r5424 + "host sshd 1 - [" + strings.Repeat("i", 33) + "] msg", ErrStructuredData},
		{"rfc5424 no space before message", r5424 + "host sshd 1 - -msg", ErrStructuredData},
		{"rfc5424 junk after element", r5424 + "host sshd 1 - [id]x", ErrStructuredData},
		{"rfc5424 NUL in sd-id", r5424 + "host sshd 1 - [i\x00d] msg", ErrStructuredData},
	}
	f := NewFramer(testRef, testLoc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fr Frame
			err := f.Frame([]byte(tt.line), &fr)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrUnknownFormat) {
				t.Errorf("Frame(%.80q) = %v, want %v", tt.line, err, tt.want)
			}
		})
	}
}

func TestErrorsWrapUnknownFormat(t *testing.T) {
	all := []error{ErrEmpty, ErrJournalMarker, ErrNewline, ErrPriority, ErrTimestamp, ErrHost, ErrTag, ErrStructuredData}
	seen := map[string]bool{}
	for _, err := range all {
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("%v does not wrap ErrUnknownFormat", err)
		}
		if seen[err.Error()] {
			t.Errorf("two errors read %q", err)
		}
		seen[err.Error()] = true
	}
	for _, err := range all[1:] {
		if errors.Is(err, ErrEmpty) {
			t.Errorf("%v matches ErrEmpty", err)
		}
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{
		FormatUnknown: "unknown", FormatRFC3164: "rfc3164", FormatRFC5424: "rfc5424",
		FormatISO8601: "iso8601", Format(200): "format(?)",
	} {
		if got := f.String(); got != want {
			t.Errorf("Format(%d).String() = %q, want %q", f, got, want)
		}
	}
}

// TestFrameTruncated frames every prefix of valid lines: prefixes shorter
// than the shortest valid line must fail, longer ones must give the same
// frame with a shorter message.
func TestFrameTruncated(t *testing.T) {
	tests := []struct {
		line     string
		shortest string // the shortest prefix that is a valid line
	}{
		{"Nov 27 05:49:28 host sshd[1234]: " + failed, "Nov 27 05:49:28 host sshd[1234]:"},
		{"Nov  7 05:49:28 host sshd: " + failed, "Nov  7 05:49:28 host sshd:"},
		{"<38>Nov 27 05:49:28.123456 host sshd[1234]: msg", "<38>Nov 27 05:49:28.123456 host sshd[1234]:"},
		{"2026-11-27T05:49:28.123456+01:00 host sshd[1234]: msg", "2026-11-27T05:49:28.123456+01:00 host sshd[1234]:"},
		{"2026-11-27T05:49:28+0100 host sshd[1234]: msg", "2026-11-27T05:49:28+0100 host sshd[1234]:"},
		{"2026-11-27T05:49:28.5Z host sshd[1234]: msg", "2026-11-27T05:49:28.5Z host sshd[1234]:"},
		{"<34>1 2026-11-27T05:49:28.123456+00:00 host sshd 1234 - - msg", "<34>1 2026-11-27T05:49:28.123456+00:00 host sshd 1234 - -"},
		{`<34>1 2026-11-27T05:49:28Z host sshd 1234 ID1 [a@1 x="\"]\\" y="z"] msg`, `<34>1 2026-11-27T05:49:28Z host sshd 1234 ID1 [a@1 x="\"]\\" y="z"]`},
	}
	for _, tt := range tests {
		if !strings.HasPrefix(tt.line, tt.shortest) {
			t.Fatalf("bad test: %q is not a prefix of %q", tt.shortest, tt.line)
		}
		f := NewFramer(testRef, testLoc)
		var full Frame
		if err := f.Frame([]byte(tt.line), &full); err != nil {
			t.Fatalf("Frame(%q) = %v", tt.line, err)
		}
		msgOff := len(tt.line) - len(full.Message)
		for i := 0; i <= len(tt.line); i++ {
			prefix := tt.line[:i]
			var fr Frame
			err := f.Frame([]byte(prefix), &fr)
			if i < len(tt.shortest) {
				if err == nil {
					t.Errorf("Frame(%q) succeeded, want an error", prefix)
				}
				continue
			}
			if err != nil {
				t.Errorf("Frame(%q) = %v, want success", prefix, err)
				continue
			}
			wantMsg := ""
			if i > msgOff {
				wantMsg = tt.line[msgOff:i]
			}
			if !fr.Time.Equal(full.Time) || !bytes.Equal(fr.Host, full.Host) ||
				!bytes.Equal(fr.Program, full.Program) || fr.PID != full.PID ||
				string(fr.Message) != wantMsg || fr.Format != full.Format {
				t.Errorf("Frame(%q) = %+v, want %+v with message %q", prefix, fr, full, wantMsg)
			}
		}
	}
}

func TestInferYear(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	utc := time.UTC
	tests := []struct {
		name  string
		ref   time.Time
		loc   *time.Location
		stamp string // RFC 3164 timestamp
		want  time.Time
	}{
		{"same year", date(2026, 11, 28, 12, 0, 0, utc), utc, "Nov 27 05:49:28",
			date(2026, 11, 27, 5, 49, 28, utc)},
		{"earlier in the year", date(2026, 11, 28, 12, 0, 0, utc), utc, "Jan  1 00:00:00",
			date(2026, 1, 1, 0, 0, 0, utc)},
		{"slightly ahead of ref", date(2026, 11, 28, 12, 0, 0, utc), utc, "Nov 28 13:00:00",
			date(2026, 11, 28, 13, 0, 0, utc)},
		{"just under a week ahead", date(2026, 11, 28, 12, 0, 0, utc), utc, "Dec  5 12:00:00",
			date(2026, 12, 5, 12, 0, 0, utc)},
		{"just over a week ahead is last year", date(2026, 11, 28, 12, 0, 0, utc), utc, "Dec  5 12:00:01",
			date(2025, 12, 5, 12, 0, 1, utc)},
		{"replay after new year: december", date(2027, 1, 1, 0, 10, 0, utc), utc, "Dec 31 23:59:59",
			date(2026, 12, 31, 23, 59, 59, utc)},
		{"replay after new year: january", date(2027, 1, 1, 0, 10, 0, utc), utc, "Jan  1 00:05:00",
			date(2027, 1, 1, 0, 5, 0, utc)},
		{"tail with clock behind: next year", date(2026, 12, 31, 23, 59, 50, utc), utc, "Jan  1 00:00:05",
			date(2027, 1, 1, 0, 0, 5, utc)},
		{"tail at year end: this year", date(2026, 12, 31, 23, 59, 50, utc), utc, "Dec 31 23:59:00",
			date(2026, 12, 31, 23, 59, 0, utc)},
		{"late december ref: early january is next year", date(2026, 12, 28, 0, 0, 0, utc), utc, "Jan  3 00:00:00",
			date(2027, 1, 3, 0, 0, 0, utc)},
		{"late december ref: mid january is this year", date(2026, 12, 28, 0, 0, 0, utc), utc, "Jan  5 00:00:00",
			date(2026, 1, 5, 0, 0, 0, utc)},
		{"leap day in leap year", date(2028, 3, 10, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2028, 2, 29, 12, 0, 0, utc)},
		{"leap day a little ahead", date(2028, 2, 25, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2028, 2, 29, 12, 0, 0, utc)},
		{"leap day from the year after", date(2029, 1, 15, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2028, 2, 29, 12, 0, 0, utc)},
		{"leap day too far ahead falls back", date(2027, 12, 30, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2024, 2, 29, 12, 0, 0, utc)},
		{"leap day in a common year falls back", date(2026, 6, 1, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2024, 2, 29, 12, 0, 0, utc)},
		{"leap day across 2100", date(2101, 6, 1, 0, 0, 0, utc), utc, "Feb 29 12:00:00",
			date(2096, 2, 29, 12, 0, 0, utc)},
		{"february 28 in leap year", date(2028, 3, 10, 0, 0, 0, utc), utc, "Feb 28 12:00:00",
			date(2028, 2, 28, 12, 0, 0, utc)},
		{"year of ref in loc: still december there", date(2027, 1, 1, 3, 0, 0, utc), newYork, "Dec 31 21:00:00",
			date(2026, 12, 31, 21, 0, 0, newYork)},
		{"year of ref in loc: january there", date(2027, 1, 1, 3, 0, 0, utc), newYork, "Jan  1 00:30:00",
			date(2027, 1, 1, 0, 30, 0, newYork)},
		{"summer time in loc", date(2026, 11, 28, 12, 0, 0, utc), newYork, "Jul  4 12:00:00",
			date(2026, 7, 4, 16, 0, 0, utc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFramer(tt.ref, tt.loc)
			var fr Frame
			line := tt.stamp + " host sshd[1]: msg"
			if err := f.Frame([]byte(line), &fr); err != nil {
				t.Fatalf("Frame(%q) = %v", line, err)
			}
			if !fr.Time.Equal(tt.want) {
				t.Errorf("Frame(%q) with ref %v: Time = %v, want %v", line, tt.ref, fr.Time, tt.want)
			}
		})
	}
}

func date(y, mo, d, h, mi, s int, loc *time.Location) time.Time {
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, loc)
}

// TestNewYearStream replays a file that crosses New Year with the file's
// modification time as reference: times must come out in order.
func TestNewYearStream(t *testing.T) {
	lines := []string{
		"Dec 30 10:00:00 host sshd[1]: a",
		"Dec 31 23:59:58 host sshd[1]: b",
		"Dec 31 23:59:59 host sshd[1]: c",
		"Jan  1 00:00:00 host sshd[1]: d",
		"Jan  1 00:00:01 host sshd[1]: e",
		"Jan  2 08:00:00 host sshd[1]: f",
	}
	mtime := time.Date(2027, 1, 2, 8, 0, 5, 0, testLoc)
	f := NewFramer(mtime, testLoc)
	var prev time.Time
	for i, line := range lines {
		var fr Frame
		if err := f.Frame([]byte(line), &fr); err != nil {
			t.Fatalf("Frame(%q) = %v", line, err)
		}
		if i > 0 && !fr.Time.After(prev) {
			t.Errorf("line %d %q: %v is not after %v", i, line, fr.Time, prev)
		}
		prev = fr.Time
	}
	if prev.Year() != 2027 {
		t.Errorf("last line in %d, want 2027", prev.Year())
	}
}

// TestSetReferenceRechoosesYear checks that the timestamp cache does not keep
// a year that a new reference changes.
func TestSetReferenceRechoosesYear(t *testing.T) {
	line := []byte("Dec 31 23:00:00 host sshd[1]: msg")
	f := NewFramer(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), time.UTC)
	var fr Frame
	for _, step := range []struct {
		ref  time.Time
		want int
	}{
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), 2025},
		{time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), 2026},
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), 2025},
		{time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), 2027},
	} {
		f.SetReference(step.ref)
		if err := f.Frame(line, &fr); err != nil {
			t.Fatal(err)
		}
		if fr.Time.Year() != step.want {
			t.Errorf("ref %v: year %d, want %d", step.ref, fr.Time.Year(), step.want)
		}
	}
}

// TestISOAgainstTimeParse compares ISO 8601 framing, cache hits and misses
// alike, with time.Parse on many generated timestamps.
func TestISOAgainstTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := NewFramer(testRef, testLoc)
	zones := []string{"Z", "+00:00", "+01:00", "-05:00", "+05:30", "+0100", "-0930", "+14:00", "-12:00"}
	var fr Frame
	prev := ""
	for range 20000 {
		var ts string
		if prev != "" && rng.IntN(2) == 0 {
			ts = prev[:19] // same second, maybe another fraction or zone
		} else {
			y := 1970 + rng.IntN(100)
			mo := 1 + rng.IntN(12)
			d := 1 + rng.IntN(daysIn(mo, y))
			ts = fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, rng.IntN(24), rng.IntN(60), rng.IntN(60))
		}
		if n := rng.IntN(10); n > 0 {
			ts += "." + fmt.Sprintf("%09d", rng.IntN(1e9))[:n]
		}
		ts += zones[rng.IntN(len(zones))]
		prev = ts
		want, err := time.Parse("2006-01-02T15:04:05.999999999Z0700", ts)
		if err != nil {
			want, err = time.Parse(time.RFC3339Nano, ts)
		}
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", ts, err)
		}
		line := ts + " host sshd[1]: msg"
		if err := f.Frame([]byte(line), &fr); err != nil {
			t.Fatalf("Frame(%q) = %v", line, err)
		}
		if !fr.Time.Equal(want) {
			t.Fatalf("Frame(%q): Time = %v, want %v", line, fr.Time, want)
		}
	}
}

// TestStampAgainstRule compares RFC 3164 framing with a plain statement of
// the year rule, over many generated references and timestamps.
func TestStampAgainstRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	loc := time.FixedZone("UTC-3", -3*3600)
	f := NewFramer(testRef, loc)
	var fr Frame
	for range 20000 {
		ref := time.Date(2020+rng.IntN(12), time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1e9), loc)
		f.SetReference(ref)
		for range 4 {
			mo := 1 + rng.IntN(12)
			d := 1 + rng.IntN(daysIn(mo, 2028))
			if rng.IntN(4) == 0 { // near the reference, where years change
				near := ref.Add(time.Duration(rng.IntN(20*24)-10*24) * time.Hour)
				mo, d = int(near.Month()), near.Day()
			}
			h, mi, s := rng.IntN(24), rng.IntN(60), rng.IntN(60)
			line := fmt.Sprintf("%s %2d %02d:%02d:%02d host sshd[1]: msg", time.Month(mo).String()[:3], d, h, mi, s)
			if err := f.Frame([]byte(line), &fr); err != nil {
				t.Fatalf("Frame(%q) = %v", line, err)
			}
			want, ok := ruleYear(ref, loc, mo, d, h, mi, s)
			if !ok {
				t.Fatalf("no year for %q with ref %v", line, ref)
			}
			if !fr.Time.Equal(want) {
				t.Fatalf("Frame(%q) with ref %v: Time = %v, want %v", line, ref, fr.Time, want)
			}
		}
	}
}

// ruleYear is the year rule as the brief states it, in time.Time terms.
func ruleYear(ref time.Time, loc *time.Location, mo, d, h, mi, s int) (time.Time, bool) {
	limit := ref.Add(7 * 24 * time.Hour)
	y := ref.In(loc).Year()
	for c := y + 1; c >= y-9; c-- {
		if c < y-1 && !(mo == 2 && d == 29) {
			break
		}
		t := time.Date(c, time.Month(mo), d, h, mi, s, 0, loc)
		if t.Day() != d { // February 29 in a common year
			continue
		}
		if !t.After(limit) {
			return t, true
		}
	}
	return time.Time{}, false
}

// allocLines is a mix of every shape, valid and not.
var allocLines = []string{
	"Nov 27 05:49:28 host sshd[1234]: " + failed,
	"Nov 27 05:49:29 host sshd[1234]: " + failed,
	"<38>Nov  7 05:49:28.123 host sshd: msg",
	"Feb 29 05:49:28 host sshd[1]: leap",
	"2026-11-27T05:49:28.123456+01:00 host sshd[1234]: msg",
	"2026-11-27T05:49:28.123456-0500 host sshd[1234]: msg",
	"2026-11-27T05:49:29Z host sshd[1234]: msg",
	"2026-11-27T05:49:29 host sshd[1234]: msg",
	`<165>1 2026-11-27T05:49:28.003Z h app - ID47 [id@1 a="\"]"] ` + "\xef\xbb\xbfmsg",
	"<34>1 - - - - - -",
	"-- Boot 0123 --",
	"",
	"garbage",
	"Nov 31 05:49:28 host sshd[1]: msg",
	"Nov 27 05:49:28 host sshd[99999999999]: msg",
	"Nov 27 05:49:28 ho\xffst sshd[1]: msg",
	"Nov 27 05:49:28 host sshd[1]: a\nb",
}

func TestFrameAllocs(t *testing.T) {
	lines := make([][]byte, len(allocLines))
	for i, l := range allocLines {
		lines[i] = []byte(l)
	}
	for _, loc := range []*time.Location{testLoc, time.Local, time.UTC} {
		f := NewFramer(testRef, loc)
		var fr Frame
		allocs := testing.AllocsPerRun(100, func() {
			for _, l := range lines {
				_ = f.Frame(l, &fr)
			}
		})
		if allocs != 0 {
			t.Errorf("loc %v: %v allocations per run of %d lines, want 0", loc, allocs, len(lines))
		}
	}
}

// TestGolden frames testdata/frames.log and compares with
// testdata/frames.golden; go test -run Golden -update rewrites it.
func TestGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "frames.log"))
	if err != nil {
		t.Fatal(err)
	}
	f := NewFramer(testRef, testLoc)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		var fr Frame
		if err := f.Frame(sc.Bytes(), &fr); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			continue
		}
		ts := "-"
		if !fr.Time.IsZero() {
			ts = fr.Time.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&out, "%s %s host=%q program=%q pid=%d msg=%q\n", fr.Format, ts, fr.Host, fr.Program, fr.PID, fr.Message)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "frames.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("framing testdata/frames.log differs from %s (run with -update and review the diff):\n%s", golden, out.Bytes())
	}
}

// TestHostlessTags covers lines written with no host: a bracketed program
// (with or without its colon) and a bare facility.severity tag.
func TestHostlessTags(t *testing.T) {
	ref := time.Date(2015, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		line, prog, msg string
		err             bool
	}{
		{"Mar  3 00:17:22 [sshd]: User root from 192.0.2.49 not allowed because not listed in AllowUsers", "sshd", "User root from 192.0.2.49 not allowed because not listed in AllowUsers", false},
		{"Jun 25 23:53:34 [sshd] User root from 1.2.3.4 not allowed", "sshd", "User root from 1.2.3.4 not allowed", false},
		{"2015-05-27T04:31:27.46667 auth.info: Invalid user admin from 192.0.2.5", "", "Invalid user admin from 192.0.2.5", false},
		{"2015-05-27T04:31:27 authpriv.notice: Invalid user admin from 192.0.2.5", "", "Invalid user admin from 192.0.2.5", false},
		{"Jun 25 23:53:34 [] msg", "", "", true},
		{"Jun 25 23:53:34 [sshd]msg", "", "", true},
		{"Jun 25 23:53:34 [ss[hd] msg", "", "", true},
		{"2015-05-27T04:31:27 notafacility.info: msg", "notafacility.info", "msg", false},
	}
	for _, tt := range tests {
		f := NewFramer(ref, time.UTC)
		var fr Frame
		err := f.Frame([]byte(tt.line), &fr)
		if tt.err {
			if err == nil {
				t.Errorf("%q: framed as %q %q, want an error", tt.line, fr.Program, fr.Message)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if string(fr.Program) != tt.prog || string(fr.Message) != tt.msg || len(fr.Host) != 0 || fr.PID != -1 {
			t.Errorf("%q: got host %q program %q pid %d message %q, want program %q message %q", tt.line, fr.Host, fr.Program, fr.PID, fr.Message, tt.prog, tt.msg)
		}
	}
}

// TestContinuousYears checks year inference that follows a stream: a file
// from December into January, rotations concatenated newest first, and a
// forced first year.
func TestContinuousYears(t *testing.T) {
	ref := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) // "today"
	years := func(f *Framer, lines ...string) []int {
		var out []int
		for _, l := range lines {
			var fr Frame
			if err := f.Frame([]byte(l+" h sshd[1]: x"), &fr); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			if !fr.YearInferred {
				t.Fatalf("%q: YearInferred is false", l)
			}
			out = append(out, fr.Time.Year())
		}
		return out
	}
	f := NewFramer(ref, time.UTC)
	f.SetContinuous(true)
	if got := years(f, "Dec 20 10:00:00", "Dec 31 23:59:59", "Jan  1 00:00:01", "Feb  3 00:00:00"); !slices.Equal(got, []int{2025, 2025, 2026, 2026}) {
		t.Errorf("December into January: years %v", got)
	}
	f = NewFramer(ref, time.UTC)
	f.SetContinuous(true)
	if got := years(f, "Jan  5 00:00:00", "Jan  6 00:00:00", "Dec 28 00:00:00", "Dec 31 00:00:00"); !slices.Equal(got, []int{2026, 2026, 2025, 2025}) {
		t.Errorf("newest rotation first: years %v", got)
	}
	f = NewFramer(ref, time.UTC)
	f.SetYear(2025)
	if got := years(f, "Dec  1 00:00:00", "Dec 14 00:00:00", "Dec 31 00:00:00"); !slices.Equal(got, []int{2025, 2025, 2025}) {
		t.Errorf("forced year: years %v", got)
	}
	// Without continuity each line is judged alone against the reference.
	f = NewFramer(ref, time.UTC)
	if got := years(f, "Dec  1 00:00:00", "Dec 14 00:00:00"); !slices.Equal(got, []int{2026, 2025}) {
		t.Errorf("per line: years %v", got)
	}
}
