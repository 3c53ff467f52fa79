package pipeline

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestProgramCacheAgreesWithScan: whatever the order of the program names
// and however they share the cache's slots (systemd-logind and
// postfix/smtpd land in one), the cache answers as the scan of every
// service does.
func TestProgramCacheAgreesWithScan(t *testing.T) {
	names := []string{"sshd", "sshd-session", "systemd-logind", "postfix/smtpd", "systemd", "kernel", "sudo", "CRON",
		"dovecot", "vsftpd", "proftpd", "mysqld", "postgres", "dropbear", "exim", "x", strings.Repeat("p", 40), "sshd "}
	var c programCache
	r := rand.New(rand.NewPCG(5, 6))
	hit := 0
	for range 100000 {
		n := names[r.IntN(len(names))]
		want := programService([]byte(n))
		if got := c.service([]byte(n)); got != want {
			t.Fatalf("program %q: cache says service %d, the scan %d", n, got, want)
		}
		if want >= 0 {
			hit++
		}
	}
	if hit == 0 {
		t.Fatal("no name was a service's program: the test checks nothing")
	}
}
