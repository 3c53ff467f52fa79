package daemon_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestFloodOfNewSourcesBannedOnce: a flood of new sources appended in one
// write, each an IPv6 /64 with 11 failures (ssh-bf fires at the 5th,
// ssh-slow-bf at the 10th, most often while the first alert's ban still
// waits for its bookkeeping), is banned source by source, each exactly
// once: one self-defense ban and one decision per source, its report
// published, none for a neighbour; and every ban survives a restart right
// after.
func TestFloodOfNewSourcesBannedOnce(t *testing.T) {
	const n = 1500
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()

	addr := func(i int) string { return fmt.Sprintf("2001:db8:%x:%x::1", 0x100+i/4096, 1+i%4096) }
	var b strings.Builder
	for i := range n {
		for _, l := range attack(addr(i), 11) {
			b.WriteString(l + "\n")
		}
	}
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(b.String()); err != nil { // one write
		t.Fatal(err)
	}
	f.Close()

	var st daemon.Status
	waitFor(t, 60*time.Second, fmt.Sprintf("%d decisions", n), func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Decisions >= n && st.Pipeline["lines"] >= 11*n
	})
	waitFor(t, 60*time.Second, fmt.Sprintf("%d published reports", n), func() bool {
		m.admin("GET", "/api/status", &st)
		return st.Reports["published"] >= n
	})
	m.admin("GET", "/api/status", &st)
	// (Published reports also count the enforcement records that follow
	// bans, within the charter's report rate.)
	if st.Decisions != n || st.Pipeline["self_bans"] != n {
		t.Errorf("%d decisions, %d self-defense bans; want %d each", st.Decisions, st.Pipeline["self_bans"], n)
	}
	if q := st.Enforcement; q["self_bans_queued"] != n || q["self_bans_waiting"] != 0 {
		t.Errorf("ban queue counters %v: want %d queued, none waiting", q, n)
	}
	for i := range n {
		if !banned(m.d, addr(i)) {
			t.Fatalf("attacker %d (%s) is not banned", i, addr(i))
		}
	}
	if banned(m.d, fmt.Sprintf("2001:db8:%x:%x::1", 0x100+n/4096, 1+n%4096)) {
		t.Error("a neighbouring /64 is banned")
	}
	// A ban and its alert are one item in the queue: the alert's entry
	// still comes before the decision's.
	for _, i := range []int{0, n / 2, n - 1} {
		var ex daemon.Explanation
		m.admin("GET", "/api/explain?address="+addr(i), &ex)
		var whats []string
		for _, e := range ex.Timeline {
			whats = append(whats, e.What)
		}
		if a, d := slices.Index(whats, "alert"), slices.Index(whats, "decision"); a < 0 || d < 0 || a > d {
			t.Errorf("attacker %d's timeline %v: want an alert, then the decision", i, whats)
		}
	}

	m.stop()
	m2 := startMember(t, m.dir, logPath)
	if got := m2.d.Table().Len(); got != n {
		t.Errorf("%d decisions after a restart, want %d", got, n)
	}
	for i := range n {
		if _, ok := m2.d.Table().Lookup(netip.MustParseAddr(addr(i)), time.Now()); !ok {
			t.Fatalf("attacker %d (%s) lost its ban across the restart", i, addr(i))
		}
	}
}
