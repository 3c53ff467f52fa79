package daemon_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"phalanx/daemon"
	"phalanx/netns"
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

// TestSelfBansSurviveRestartInKernel: the flood of the issue in a network
// namespace with nftables: attackers far beyond the charter's report rate,
// each from its own IPv6 /64, banned in self-defense; after a restart
// every /64 is still in the kernel's set (the member's own arbiter
// rate-limited most of their reports, so the stream holds no decision for
// them). 2,000 attackers; PHALANX_FLOOD_ATTACKERS=100000 runs the issue's
// flood (a few minutes on 2 busy cores).
func TestSelfBansSurviveRestartInKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("bans thousands of attackers in nftables and restarts")
	}
	n := 2000
	if s := os.Getenv("PHALANX_FLOOD_ATTACKERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("PHALANX_FLOOD_ATTACKERS=%q: give a number of attackers", s)
		}
		n = v
	}
	server := netns.New(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startEnforcing(t, server, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	began := time.Now()
	flood(t, logPath, n)
	limit := 30*time.Second + time.Duration(n)*2*time.Millisecond
	waitFor(t, limit, fmt.Sprintf("%d /64s in the kernel", n), func() bool { k, _ := missingNets(t, server, n); return k == 0 })
	t.Logf("%d attackers in the kernel %v after they were appended", n, time.Since(began).Round(time.Millisecond))
	var st daemon.Status
	waitFor(t, limit, "every report judged", func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Reports["published"]+st.Reports["rejected"] >= int64(n)
	})
	if st.Rejected["rate-limited"] == 0 {
		t.Fatalf("no report was rate-limited: the flood does not exceed the charter's rate (%v)", st.Rejected)
	}
	m.stop()
	if k, ex := missingNets(t, server, n); k > 0 {
		t.Fatalf("%d of %d /64s left the kernel while the daemon was stopped (e.g. %v)", k, n, ex)
	}
	began = time.Now()
	m2 := startEnforcing(t, server, m.dir, logPath)
	t.Logf("the restarted member served %v after its start", time.Since(began).Round(time.Millisecond))
	if k, ex := missingNets(t, server, n); k > 0 {
		t.Errorf("%d of %d self-defense bans gone from the kernel after a restart (e.g. %v)", k, n, ex)
	}
	missing := 0
	for i := range n {
		if !banned(m2.d, floodPrefix(i).Addr().Next().String()) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d self-defense bans gone from the table after a restart", missing, n)
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
