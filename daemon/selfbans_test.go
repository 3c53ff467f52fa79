package daemon_test

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestSelfBansSurviveRestart: a flood of attackers beyond the charter's
// report rate (600 a minute) is banned in self-defense; the member's own
// arbiter rate-limits the reports past the limit, so the stream holds no
// decision for them. A restart rebuilds the table from the stream, and the
// self-defense bans must all still be there.
func TestSelfBansSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("bans 700 attackers and restarts")
	}
	const n = 700
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	addr := func(i int) string { return fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250) }
	var lines []string
	for i := range n {
		lines = append(lines, attack(addr(i), 5)...)
	}
	appendLines(t, logPath, lines...)
	var st daemon.Status
	waitFor(t, 90*time.Second, fmt.Sprintf("%d self-defense bans", n), func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["self_bans"] >= n
	})
	waitFor(t, 90*time.Second, "the member's own arbiter to rate-limit reports past the charter's rate", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Rejected["rate-limited"] > 0 && st.Reports["published"]+st.Reports["rejected"] >= n
	})
	t.Logf("before the restart: %d decisions, rejected %v", st.Decisions, st.Rejected)
	for i := range n {
		if !banned(m.d, addr(i)) {
			t.Fatalf("%s is not banned before the restart", addr(i))
		}
	}
	m.stop()
	m2 := startMember(t, m.dir, logPath)
	missing := 0
	for i := range n {
		if !banned(m2.d, addr(i)) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d self-defense bans lost across a restart", missing, n)
	}
}

// TestOwnAddressesAreTerritory: a brute force written to the log from one
// of the host's own addresses bans nothing, while the same from another
// address, written after it, bans.
func TestOwnAddressesAreTerritory(t *testing.T) {
	var own string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			own = n.IP.String()
			break
		}
	}
	if own == "" {
		t.Skip("this host has no IPv4 address but loopback")
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack(own, 6)...)
	const other = "203.0.113.171"
	appendLines(t, logPath, attack(other, 6)...)
	waitFor(t, 10*time.Second, "the other address's ban", func() bool { return banned(m.d, other) })
	// The own address's lines came first: they have been read.
	if banned(m.d, own) {
		t.Errorf("the host's own address %s is banned", own)
	}
}
