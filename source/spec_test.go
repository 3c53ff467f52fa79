package source

import "testing"

func TestParseSpec(t *testing.T) {
	exists := func(p string) bool { return p == "odd:name.log" }
	tests := []struct {
		text    string
		kind    Kind
		service string
		target  string
		err     bool
	}{
		{"/var/log/auth.log", KindFile, "", "/var/log/auth.log", false},
		{"auth.log", KindFile, "", "auth.log", false},
		{"-", KindFile, "", "-", false},
		{"sshd:/var/log/auth.log", KindFile, "sshd", "/var/log/auth.log", false},
		{"dropbear:log", KindFile, "dropbear", "log", false},
		{"odd:name.log", KindFile, "", "odd:name.log", false},
		{"C:/logs/a.log", KindFile, "", "C:/logs/a.log", false},
		{"./sshd:x", KindFile, "", "./sshd:x", false},
		{"journal:sshd", KindJournal, "sshd", "sshd", false},
		{"journal:_SYSTEMD_UNIT=ssh.service", KindJournal, "", "_SYSTEMD_UNIT=ssh.service", false},
		{"syslog:udp://127.0.0.1:514", KindSyslog, "", "udp://127.0.0.1:514", false},
		{"syslog:tcp://[::1]:6514", KindSyslog, "", "tcp://[::1]:6514", false},
		{"", 0, "", "", true},
		{"journal:", 0, "", "", true},
		{"syslog:http://x", 0, "", "", true},
		{"sshd:", 0, "", "", true},
		{"a\nb", 0, "", "", true},
	}
	for _, tt := range tests {
		sp, err := ParseSpec(tt.text, exists)
		if tt.err {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", tt.text, sp)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		if sp.Kind != tt.kind || sp.Service != tt.service || sp.Target != tt.target || sp.String() != tt.text {
			t.Errorf("%q: got %+v", tt.text, sp)
		}
	}
}
