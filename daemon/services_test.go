package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMailAndScanBannedOnOthers: a postfix SASL brute force and a port
// scan (kernel LOG lines), both seen by member A alone, are banned on B
// and C too, each by its scenario; a mail user who mistypes twice is not.
func TestMailAndScanBannedOnOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a := al.members[0]
	a.waitTailing()
	const mailer, scanner, user = "203.0.113.160", "203.0.113.161", "198.51.100.162"
	ts := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf("%s mx1 postfix/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", ts, 7000+i, mailer))
	}
	for i := range 2 {
		lines = append(lines, fmt.Sprintf("%s mx1 postfix/smtpd[%d]: warning: mail.example.net[%s]: SASL PLAIN authentication failed: ", ts, 7100+i, user))
	}
	for i, port := range []int{21, 22, 23, 25, 80, 110, 143, 443, 445, 3306, 3389, 5432} {
		lines = append(lines, fmt.Sprintf("%s mx1 kernel: [%d.%03d] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%s DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=54321 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0 ",
			ts, 1000+i, i, scanner, port))
	}
	appendLines(t, a.log, lines...)
	for _, m := range al.members {
		for _, addr := range []string{mailer, scanner} {
			waitFor(t, 30*time.Second, addr+" banned on "+m.dir, func() bool { return banned(m.d, addr) })
		}
	}
	var ex struct {
		Decisions []struct{ Scenario string } `json:"decisions"`
	}
	for addr, want := range map[string]string{mailer: "mail-bf", scanner: "tcp-scan"} {
		al.members[2].admin("GET", "/api/explain?address="+addr, &ex)
		var got []string
		for _, d := range ex.Decisions {
			got = append(got, d.Scenario)
		}
		if !strings.Contains(strings.Join(got, ","), want) {
			t.Errorf("explain %s on C: decisions by %v, want %s", addr, got, want)
		}
	}
	if banned(a.d, user) {
		t.Errorf("a mail user who mistyped twice is banned")
	}
}
