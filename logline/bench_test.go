package logline

import (
	"fmt"
	"testing"
	"time"
)

// benchLines builds n lines of one shape, a few lines per second as in a
// brute-force attack, with sshd's usual messages.
func benchLines(n, perSecond int, shape func(t time.Time, i int, msg string) string) [][]byte {
	msgs := []string{
		"Failed password for root from 198.51.100.%d port %d ssh2",
		"Invalid user admin from 198.51.100.%d port %d",
		"Connection closed by authenticating user root 198.51.100.%d port %d [preauth]",
		"Received disconnect from 198.51.100.%d port %d:11: Bye Bye [preauth]",
		"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.%d port %d",
	}
	start := time.Date(2026, 11, 27, 5, 49, 28, 0, testLoc)
	lines := make([][]byte, n)
	for i := range lines {
		t := start.Add(time.Duration(i/perSecond)*time.Second + time.Duration(i%perSecond)*1234567*time.Nanosecond)
		msg := fmt.Sprintf(msgs[i%len(msgs)], i%250, 30000+i%30000)
		lines[i] = []byte(shape(t, i, msg))
	}
	return lines
}

func rfc3164Line(t time.Time, i int, msg string) string {
	return fmt.Sprintf("%s bastion sshd[%d]: %s", t.Format(time.Stamp), 2000+i/7, msg)
}

func rsyslogLine(t time.Time, i int, msg string) string {
	return fmt.Sprintf("%s web1 sshd-session[%d]: %s", t.Format("2006-01-02T15:04:05.000000-07:00"), 2000+i/7, msg)
}

func shortISOLine(t time.Time, i int, msg string) string {
	return fmt.Sprintf("%s web2 sshd[%d]: %s", t.Format("2006-01-02T15:04:05-0700"), 2000+i/7, msg)
}

func rfc5424Line(t time.Time, i int, msg string) string {
	return fmt.Sprintf(`<38>1 %s edge.example.com sshd %d - [origin ip="203.0.113.1"] %s`, t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), 2000+i/7, msg)
}

// mixedLine is mostly traditional syslog, as on most servers, with the other
// shapes and some lines that are no log entries.
func mixedLine(t time.Time, i int, msg string) string {
	switch i % 20 {
	case 0, 1, 2:
		return rsyslogLine(t, i, msg)
	case 3, 4:
		return shortISOLine(t, i, msg)
	case 5, 6:
		return rfc5424Line(t, i, msg)
	case 7:
		return "-- Boot 5b1c0d2e3f4a4b5c8d9e0f1a2b3c4d5e --"
	}
	return rfc3164Line(t, i, msg)
}

func BenchmarkFrame(b *testing.B) {
	for _, bc := range []struct {
		name      string
		perSecond int
		shape     func(time.Time, int, string) string
	}{
		{"mix", 4, mixedLine},
		{"rfc3164", 4, rfc3164Line},
		{"rfc3164/new-second-every-line", 1, rfc3164Line},
		{"rsyslog-iso", 4, rsyslogLine},
		{"short-iso", 4, shortISOLine},
		{"rfc5424", 4, rfc5424Line},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lines := benchLines(4096, bc.perSecond, bc.shape)
			f := NewFramer(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), testLoc)
			var fr Frame
			var bytes int64
			for _, l := range lines {
				bytes += int64(len(l))
			}
			b.SetBytes(bytes / int64(len(lines)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = f.Frame(lines[i&(len(lines)-1)], &fr)
				i++
			}
		})
	}
}
