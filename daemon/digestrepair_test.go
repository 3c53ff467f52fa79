package daemon_test

import (
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestDigestRepair: a member whose state lost a ban the others hold
// (damaged: its arbiter and table forgot it, nothing crossed the fabric)
// notices the differing digest, judges the signed report behind the ban
// again and holds the ban again; the digests converge and the repair is
// counted in status and /metrics.
func TestDigestRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]
	a.waitTailing()
	const addr = "203.0.113.130"
	value := netip.MustParsePrefix(addr + "/32")
	appendLines(t, a.log, attack(addr, 6)...)
	waitFor(t, 20*time.Second, "the ban on B", func() bool { return banned(b.d, addr) })
	reports := func(m *member) map[string]int64 {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Reports
	}
	waitFor(t, 90*time.Second, "both members to compare digests", func() bool {
		return reports(a)["digests_compared"] > 0 && reports(b)["digests_compared"] > 0
	})
	if n := reports(b)["digest_repairs"]; n != 0 {
		t.Fatalf("B repaired %d bans before any damage", n)
	}

	if !b.d.DamageBanForTest(value) {
		t.Fatal("B's arbiter held no ban on " + addr + " to lose")
	}
	if banned(b.d, addr) {
		t.Fatal("B still bans " + addr + " after losing it")
	}
	at := time.Now()
	if sa, _ := a.d.DigestForTest(at); sa == first(b.d.DigestForTest(at)) {
		t.Fatal("the damage left B's digest as A's")
	}

	waitFor(t, 90*time.Second, "B to repair the lost ban", func() bool {
		return banned(b.d, addr) && reports(b)["digest_repairs"] > 0
	})
	waitFor(t, 30*time.Second, "the digests to converge", func() bool {
		at := time.Now()
		sa, na := a.d.DigestForTest(at)
		sb, nb := b.d.DigestForTest(at)
		return sa == sb && na == nb && na > 0
	})
	if n := reports(a)["digest_repairs"]; n != 0 {
		t.Errorf("A repaired %d bans: it lacked none", n)
	}
	if n := reports(b)["digest_mismatches"]; n == 0 {
		t.Error("B repaired without counting a mismatch")
	}
	if v := scrapeCounter(t, b, "phalanx_digest_repairs_total"); v < 1 {
		t.Errorf("phalanx_digest_repairs_total = %v on B, want ≥ 1", v)
	}
}

func first[T any, U any](x T, _ U) T { return x }

// scrapeCounter reads one metric from m's /metrics: name as /metrics
// writes it, with its labels if any. It fails the test when there is none.
func scrapeCounter(t *testing.T, m *member, name string) float64 {
	t.Helper()
	v, ok := scrapeMetric(t, m, name)
	if !ok {
		t.Fatalf("/metrics lacks %s", name)
	}
	return v
}

// scrapeMetric reads one metric from m's /metrics, as scrapeCounter does;
// ok is false when there is none.
func scrapeMetric(t *testing.T, m *member, name string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if match == nil {
		return 0, false
	}
	v, err = strconv.ParseFloat(string(match[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}
