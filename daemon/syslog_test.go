package daemon_test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/testenv"
)

// TestSyslogReceiver: a member fed by syslog over TCP and UDP, from the real
// logger, bans a brute force it receives; the sources it reports carry the
// ports it bound.
func TestSyslogReceiver(t *testing.T) {
	logger := testenv.Program(t, "bsdutils", "logger")
	dir := t.TempDir()
	m := startWith(t, filepath.Join(dir, "data"), "", func(c *config.File, _ *daemon.Options) {
		c.Daemon.Sources = []string{"syslog:tcp://127.0.0.1:0", "syslog:udp://127.0.0.1:0"}
	})
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	if len(st.Sources) != 2 {
		t.Fatalf("sources %v", st.Sources)
	}
	for i, src := range st.Sources {
		network, addr, ok := strings.Cut(strings.TrimPrefix(src, "syslog:"), "://")
		if !ok || strings.HasSuffix(addr, ":0") {
			t.Fatalf("source %q: want the bound address", src)
		}
		host, port, _ := strings.Cut(addr, ":")
		attacker := fmt.Sprintf("203.0.113.%d", 70+i)
		for j := range 5 {
			msg := fmt.Sprintf("Failed password for root from %s port %d ssh2", attacker, 4000+j)
			args := []string{"--server", host, "--port", port, "--" + network, "--rfc3164", "-t", "sshd", fmt.Sprintf("--id=%d", 100+j), msg}
			if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
				t.Fatalf("logger: %v: %s", err, out)
			}
		}
		waitFor(t, 10*time.Second, "a ban on "+attacker+" sent over "+network, func() bool { return banned(m.d, attacker) })
		// The sender is evidence: the report's lines name it.
		waitFor(t, 10*time.Second, "evidence naming the syslog sender in explain "+attacker, func() bool {
			var ex daemon.Explanation
			m.admin("GET", "/api/explain?address="+attacker, &ex)
			for _, e := range ex.Timeline {
				for _, l := range e.Evidence {
					if strings.HasPrefix(l, "[syslog from 127.0.0.1] ") && strings.Contains(l, attacker) {
						return true
					}
				}
			}
			return false
		})
	}
	m.admin("GET", "/api/status", &st)
	for _, src := range st.Sources {
		if st.SourceStats[src]["lines"] != 5 {
			t.Errorf("status source_stats %v: want 5 lines from %s", st.SourceStats, src)
		}
	}
}

// TestSyslogAllow: a receiver with an allow list refuses other senders'
// lines, counts them, and bans nothing they say.
func TestSyslogAllow(t *testing.T) {
	logger := testenv.Program(t, "bsdutils", "logger")
	m := startWith(t, filepath.Join(t.TempDir(), "data"), "", func(c *config.File, _ *daemon.Options) {
		c.Daemon.Sources = []string{"syslog:udp://127.0.0.1:0"}
		c.Daemon.SyslogAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	})
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	src := st.Sources[0]
	host, port, _ := strings.Cut(strings.TrimPrefix(src, "syslog:udp://"), ":")
	for j := range 5 {
		msg := fmt.Sprintf("Failed password for root from 203.0.113.80 port %d ssh2", 4000+j)
		if out, err := exec.Command(logger, "--server", host, "--port", port, "--udp", "--rfc3164", "-t", "sshd", fmt.Sprintf("--id=%d", 300+j), msg).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v: %s", err, out)
		}
	}
	waitFor(t, 10*time.Second, "5 denied datagrams", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.SourceStats[src]["denied"] >= 5
	})
	if banned(m.d, "203.0.113.80") || st.SourceStats[src]["lines"] != 0 {
		t.Errorf("a sender outside the allow list was heard: %v", st.SourceStats[src])
	}
}
