package journal

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		service string
		args    string
		err     string // part of the error; "" for none
	}{
		{in: "journal:sshd", service: "sshd", args: "SYSLOG_IDENTIFIER=sshd + SYSLOG_IDENTIFIER=sshd-session + SYSLOG_IDENTIFIER=sshd-auth + _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service"},
		{in: "journal:dropbear", service: "dropbear", args: "SYSLOG_IDENTIFIER=dropbear + _SYSTEMD_UNIT=dropbear.service"},
		{in: "journal:SYSLOG_IDENTIFIER=sshd", args: "SYSLOG_IDENTIFIER=sshd"},
		{in: "journal:_SYSTEMD_UNIT=ssh.service", args: "_SYSTEMD_UNIT=ssh.service"},
		{in: "journal:PRIORITY=3", args: "PRIORITY=3"},
		{in: "journal:SYSLOG_IDENTIFIER=a=b", args: "SYSLOG_IDENTIFIER=a=b"},
		{in: "sshd", err: "does not start with"},
		{in: "journal:", err: "nothing after"},
		{in: "journal:ftp", err: `unknown service "ftp"`},
		{in: "journal:SSHD", err: "unknown service"},
		{in: "journal:=sshd", err: "empty field name"},
		{in: "journal:syslog_identifier=sshd", err: "uppercase"},
		{in: "journal:__CURSOR=x", err: `starting with "__"`},
		{in: "journal:1FIELD=x", err: "digit"},
		{in: "journal:FIELD-X=x", err: "uppercase"},
		{in: "journal:" + strings.Repeat("A", 65) + "=x", err: "longer than 64"},
		{in: "journal:MESSAGE=", err: "empty value"},
		{in: "journal:MESSAGE=a b", err: "space"},
		{in: "journal:MESSAGE=a\nb", err: "space"},
		{in: "journal:MESSAGE=a\x00b", err: "control"},
		{in: "journal:MESSAGE=\xff", err: "UTF-8"},
		{in: "journal:MESSAGE=" + strings.Repeat("v", 1025), err: "longer than 1024"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSpec(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Service != tc.service {
				t.Errorf("service %q, want %q", s.Service, tc.service)
			}
			if got := strings.Join(s.args(), " "); got != tc.args {
				t.Errorf("args %q, want %q", got, tc.args)
			}
			if again, err := ParseSpec(s.String()); err != nil || strings.Join(again.args(), " ") != tc.args {
				t.Errorf("String() %q does not parse back: %v", s.String(), err)
			}
		})
	}
}

// TestServiceTable checks every known service's matches.
func TestServiceTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range services() {
		if seen[s.name] || s.name == "" || strings.Contains(s.name, "=") {
			t.Errorf("bad or repeated service name %q", s.name)
		}
		seen[s.name] = true
		if len(s.matches) == 0 {
			t.Errorf("service %s has no matches", s.name)
		}
		if _, err := ParseSpec(SpecPrefix + s.name); err != nil {
			t.Errorf("service %s: %v", s.name, err)
		}
	}
}
