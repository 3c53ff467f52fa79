package daemon_test

import (
	"fmt"
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
	waitFor(t, 30*time.Second, fmt.Sprintf("%d self-defense bans", n), func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["self_bans"] >= n
	})
	waitFor(t, 30*time.Second, "the member's own arbiter to rate-limit reports past the charter's rate", func() bool {
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
