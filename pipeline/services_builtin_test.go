package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/logline"
	"phalanx/pipeline"
)

// alertsOf lists the scenario and address of each alert, sorted.
func alertsOf(rec *recorder) []string {
	var out []string
	for _, a := range rec.alerts {
		out = append(out, a.Scenario+" "+a.Addr.String())
	}
	slices.Sort(out)
	return out
}

// TestBuiltinServicesMailLog: one mail.log, as Debian's rsyslog writes it,
// holding postfix, dovecot and kernel lines, read as postfix's
// ("postfix:/var/log/mail.log"): every line goes to its program's service,
// and each attack fires its family's scenario, not ssh's.
func TestBuiltinServicesMailLog(t *testing.T) {
	_, s, rec := newStream(t, pipeline.DefaultConfig())
	if err := s.SetService("postfix"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	at := func(i int) string { return ref.Add(-time.Hour + time.Duration(i)*time.Second).Format(time.Stamp) }
	for i := range 5 {
		lines = append(lines,
			fmt.Sprintf("%s mx postfix/smtpd[%d]: connect from unknown[203.0.113.10]", at(i), 100+i),
			fmt.Sprintf("%s mx postfix/smtpd[%d]: warning: unknown[203.0.113.10]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", at(i), 100+i),
			fmt.Sprintf("%s mx postfix/smtpd[%d]: disconnect from unknown[203.0.113.10] ehlo=1 auth=0/1 quit=1 commands=2/3", at(i), 100+i),
			fmt.Sprintf("%s mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u%d>, method=PLAIN, rip=203.0.113.11, lip=192.0.2.1, TLS", at(i), i),
			fmt.Sprintf("%s mx kernel: [%d.5] [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.12 DST=192.0.2.1 LEN=44 PROTO=TCP SPT=40000 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0", at(i), 1000+i, 20+i),
			fmt.Sprintf("%s mx kernel: [%d.6] [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.12 DST=192.0.2.1 LEN=44 PROTO=TCP SPT=40000 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0", at(i), 1000+i, 3000+i),
		)
	}
	feed(s, lines...)
	services := map[string]int{}
	for _, ev := range rec.events {
		services[ev.Service]++
	}
	if services["postfix"] != 5 || services["dovecot"] != 5 || services["netfilter"] != 10 {
		t.Errorf("events by service: %v", services)
	}
	want := []string{"mail-bf 203.0.113.10", "mail-bf 203.0.113.11", "mail-user-enum 203.0.113.11", "tcp-scan 203.0.113.12"}
	if got := alertsOf(rec); !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

// TestBuiltinServicesOwnLogs: a service's own log file, which has no syslog
// header, is read on a stream declared as the service's (SERVICE:PATH),
// with the time each line carries.
func TestBuiltinServicesOwnLogs(t *testing.T) {
	for _, c := range []struct {
		service, format, want string
	}{
		{"mysql", "2026-11-27 10:00:%02d 31 [Warning] Access denied for user 'root'@'203.0.113.20' (using password: YES)", "db-bf 203.0.113.20"},
		{"postgresql", `2026-11-27 10:00:%02d.123 UTC [4242] postgres@postgres 203.0.113.21 FATAL:  password authentication failed for user "postgres"`, "db-bf 203.0.113.21"},
		{"vsftpd", `Fri Nov 27 10:00:%02d 2026 [pid 77] [anonymous] FAIL LOGIN: Client "203.0.113.22"`, "ftp-bf 203.0.113.22"},
		{"proftpd", "2026-11-27 10:00:%02d,121 ftp proftpd[25891] localhost (x[203.0.113.23]): USER admin: no such user found from x [203.0.113.23] to 192.0.2.1:21", "ftp-bf 203.0.113.23"},
		{"exim", "2026-11-27 10:00:%02d [10099] login authenticator failed for (ylmf-pc) [203.0.113.24]: 535 Incorrect authentication data", "mail-bf 203.0.113.24"},
		{"dovecot", "2026-11-27 10:00:%02d auth-worker(default): Info: pam(admin,203.0.113.25): pam_authenticate() failed: Authentication failure (password mismatch?)", "mail-bf 203.0.113.25"},
	} {
		t.Run(c.service, func(t *testing.T) {
			_, s, rec := newStream(t, pipeline.DefaultConfig())
			if err := s.SetService(c.service); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for i := range 5 {
				lines = append(lines, fmt.Sprintf(c.format, i))
			}
			feed(s, lines...)
			if got := alertsOf(rec); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("alerts %v, want %s (%d events)", got, c.want, len(rec.events))
			}
			if ev := rec.events[0]; ev.Service != c.service || ev.Written.IsZero() || ev.Written.Minute() != 0 || ev.Written.Hour() != 10 {
				t.Errorf("first event: service %q, written %v", ev.Service, ev.Written)
			}
		})
	}
}

// TestBuiltinServicesNames: sources name the new services.
func TestBuiltinServicesNames(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	for _, name := range []string{"postfix", "dovecot", "exim", "vsftpd", "proftpd", "pure-ftpd", "mysql", "postgresql", "netfilter"} {
		if err := cfg.CheckService(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !strings.Contains(pipeline.ServiceNames(), name) {
			t.Errorf("%s missing from ServiceNames", name)
		}
	}
	if err := cfg.CheckService("postfix/main"); err == nil {
		t.Error("postfix/main: a log format for a service that has none")
	}
}

// TestBuiltinServicesJournal: the journal's entries (journal:postfix,
// journal:netfilter) arrive already split; the identifier picks the
// service.
func TestBuiltinServicesJournal(t *testing.T) {
	_, s, rec := newStream(t, pipeline.DefaultConfig())
	if err := s.SetService("postfix"); err != nil {
		t.Fatal(err)
	}
	for i, e := range []struct{ ident, msg string }{
		{"postfix/submission/smtpd", "warning: unknown[203.0.113.30]: SASL PLAIN authentication failed: "},
		{"postfix/postscreen", "DNSBL rank 4 for [203.0.113.31]:40000"},
		{"kernel", "[UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.32 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=23 SYN"},
		{"mariadbd", "2026-11-27 10:00:00 31 [Warning] Access denied for user 'root'@'203.0.113.33' (using password: YES)"},
		{"postgres", `[4-1] postgres@postgres 203.0.113.34 FATAL:  password authentication failed for user "postgres"`},
		{"pure-ftpd", "(?@203.0.113.35) [WARNING] Authentication failed for user [admin]"},
		{"exim", "login authenticator failed for (x) [203.0.113.36]: 535 Incorrect authentication data"},
	} {
		fr := logline.Frame{Time: ref.Add(-time.Minute), Host: []byte("h"), Program: []byte(e.ident), PID: 100 + i, Message: []byte(e.msg)}
		s.FrameAt(&fr, []byte(e.msg), int64(i+1), ref)
	}
	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.Service+" "+ev.Kind.String()+" "+ev.Source.String())
	}
	want := []string{"postfix auth-failure 203.0.113.30", "postfix dnsbl 203.0.113.31", "netfilter port-probe 203.0.113.32",
		"mysql auth-failure 203.0.113.33", "postgresql auth-failure 203.0.113.34", "pure-ftpd auth-failure 203.0.113.35", "exim auth-failure 203.0.113.36"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a := alertsOf(rec); !slices.Equal(a, []string{"mail-dnsbl 203.0.113.31"}) {
		t.Errorf("alerts %v", a)
	}
}
