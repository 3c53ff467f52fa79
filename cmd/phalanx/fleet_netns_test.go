package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// Sources of TestFleetNamespaces, both on X's one interface in the test LAN.
const (
	fleetAttacker = "10.77.0.70" // 3 failed passwords on each member: 12 in all
	fleetUser     = "10.77.0.71" // 2 mistyped passwords on each member: 8 in all
)

// TestFleetNamespaces forms a four-member alliance of real `phalanx run`
// processes, each in its own network namespace with nftables enforcement,
// and checks the charter's default fleet scenario fleet-bf end to end: an
// attacker that fails 3 log-ins on each member (under every member's own
// threshold of 5, 12 in all) is dropped by the kernels of all four on the
// strength of their sightings, with no member banning it in self-defense,
// while a user who mistypes twice on each member (8 in all, under the
// fleet's 10) is banned nowhere and still connects.
//
// It logs, and does not assert, the fleet enforcement latency each member
// measured (phalanx_enforcement_seconds{path="fleet"}: from the sighting
// that completed the scenario to the kernel set holding the ban).
func TestFleetNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a four-member alliance in network namespaces")
	}
	al := newNSAlliance(t, []string{"a", "b", "c", "d"}, fleetAttacker, fleetUser)
	x, members, step := al.x, al.members, al.step
	for _, m := range members {
		// Poll the admin API (cheap) rather than run the CLI each time.
		m.hc = clientIn(m.ns)
	}
	al.form("fleetns")

	// Before any attack, X reaches every member from both addresses.
	for _, m := range members {
		for _, from := range []string{fleetAttacker, fleetUser} {
			if err := dialFrom(x, from, m.service(), 2*time.Second); err != nil {
				t.Fatalf("before the attack, %s cannot reach %s: %v", from, m.service(), err)
			}
		}
	}
	step("X reaches A, B, C and D from %s and %s", fleetAttacker, fleetUser)
	for _, m := range members {
		m.waitTailing(t)
	}
	step("every member's tail reads its log")

	// On each member, the user's two mistakes, then the attacker's three
	// guesses: none reaches ssh-bf's 5 on any member.
	for _, m := range members {
		lines := append(failedLogins(fleetUser, "alice", 2), failedLogins(fleetAttacker, "root", 3)...)
		appendTo(t, m.log, lines...)
	}
	wrote := time.Now()
	step("wrote 2 failed log-ins by %s and 3 by %s to each member's log", fleetUser, fleetAttacker)

	type latency struct {
		m   *nsMember
		d   time.Duration
		err error
	}
	lat := make(chan latency, len(members))
	for _, m := range members {
		go func() {
			d, err := timeToBanSet(m.ns, fleetAttacker, wrote, 60*time.Second)
			lat <- latency{m, d, err}
		}()
	}
	for range members {
		r := <-lat
		if r.err != nil {
			t.Fatal(r.err)
		}
		step("%s in %s's nft set %v after the last lines were written (a sighting waits 10 s for a log-in that would vouch for its source, then goes out within a second)",
			fleetAttacker, strings.ToUpper(r.m.name), r.d.Round(100*time.Microsecond))
	}
	for _, m := range members {
		waitUntil(t, 10*time.Second, fleetAttacker+" dropped by "+m.name, func() bool {
			return dropped(dialFrom(x, fleetAttacker, m.service(), time.Second))
		})
	}
	step("%s is dropped by A, B, C and D (connect timeouts)", fleetAttacker)

	// No member banned the attacker in self-defense: each ban is the fleet's.
	positions := map[string]int{}
	for _, m := range members {
		var ex daemon.Explanation
		if err := phalanxJSON(m.ns, &ex, "explain", fleetAttacker, "--data", m.data); err != nil {
			t.Fatal(err)
		}
		if !ex.Banned {
			t.Errorf("explain %s on %s: not banned, yet it is in the nft set", fleetAttacker, m.name)
		}
		for _, d := range ex.Decisions {
			if d.Origin == "self" || !strings.HasPrefix(d.Scenario, "fleet-") {
				t.Errorf("explain %s on %s: decision %+v; want only fleet decisions (no self-defense ban)", fleetAttacker, m.name, d)
			}
		}
		for _, e := range ex.Timeline {
			if e.What == "alert" || e.Origin == "self" {
				t.Errorf("explain %s on %s: timeline entry %+v; want no alert or self-defense decision", fleetAttacker, m.name, e)
			}
		}
		if m == members[0] {
			checkFleetExplanation(t, m, ex)
		}
		// Every member bans at the same stream position.
		for _, e := range ex.Timeline {
			if e.What != "decision" || !strings.HasPrefix(e.Scenario, "fleet-") {
				continue
			}
			var pos int
			if _, err := fmt.Sscanf(e.Detail, "fleet scenario fired at stream position %d", &pos); err != nil || pos <= 0 {
				t.Errorf("explain %s on %s: decision %q names no stream position", fleetAttacker, m.name, e.Detail)
			}
			positions[m.name] = pos
		}
	}
	for _, m := range members {
		if positions[m.name] != positions[members[0].name] {
			t.Errorf("the fleet ban's stream positions differ: %v", positions)
			break
		}
	}
	step("explain %s: fleet decisions only on every member; A's timeline shows the sightings", fleetAttacker)

	// The user's sightings have been judged everywhere before the user is
	// checked: each member has recognised all 5 lines and published its
	// pending sightings (the user's lines come first in its log), and every
	// member has judged at least as many sightings as all had published.
	var published int64
	waitUntil(t, 40*time.Second, "every member to have read the 5 lines and published its sightings", func() bool {
		published = 0
		for _, m := range members {
			st, err := m.status()
			if err != nil || st.Pipeline["events"] < 5 || st.Sightings["pending"] != 0 || st.Sightings["published"] == 0 {
				return false
			}
		}
		for _, m := range members {
			st, err := m.status()
			if err != nil {
				return false
			}
			published += st.Sightings["published"]
		}
		return true
	})
	waitUntil(t, 15*time.Second, fmt.Sprintf("every member to judge the %d sightings published", published), func() bool {
		for _, m := range members {
			st, err := m.status()
			if err != nil || st.Reports["sightings"] < published {
				return false
			}
		}
		return true
	})
	step("every member judged the %d sightings published", published)
	for _, m := range members {
		if m.banned(fleetUser) || m.hasDecision(fleetUser) {
			t.Errorf("%s banned the user %s, who mistyped twice on each member (8 in all, under fleet-bf's 10)", m.name, fleetUser)
		}
		if err := dialFrom(x, fleetUser, m.service(), 2*time.Second); err != nil {
			t.Errorf("the user %s cannot reach %s: %v", fleetUser, m.service(), err)
		}
	}
	step("%s is banned nowhere and still connects to A, B, C and D", fleetUser)

	for _, m := range members {
		var st daemon.Status
		if err := phalanxJSON(m.ns, &st, "status", "--data", m.data); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: sightings %v; reports %v; pipeline self_bans %d", strings.ToUpper(m.name), st.Sightings, st.Reports, st.Pipeline["self_bans"])
		if st.Pipeline["self_bans"] != 0 {
			t.Errorf("%s made %d self-defense bans; want none (no member saw 5 failures)", m.name, st.Pipeline["self_bans"])
		}
		if st.Reports["fleet_bans"] != 1 {
			t.Errorf("%s counts %d fleet bans; want 1 (the attacker's)", m.name, st.Reports["fleet_bans"])
		}
		if st.Reports["rejected"] != 0 || st.Reports["enforce_errors"] != 0 {
			t.Errorf("%s rejected %d reports (by reason %v) and counted %d enforcement errors; want none",
				m.name, st.Reports["rejected"], st.Rejected, st.Reports["enforce_errors"])
		}
	}

	// The target is p50 ≤ 20 ms, p99 ≤ 100 ms on every member; this
	// test only logs what each member measured.
	for _, m := range members {
		h, err := fleetEnforcement(m)
		if err != nil {
			t.Errorf("%s's /metrics: %v", m.name, err)
			continue
		}
		t.Logf("%s: phalanx_enforcement_seconds{path=\"fleet\"}: count %d, sum %.6fs, mean %s; buckets (le: cumulative) %s",
			strings.ToUpper(m.name), h.count, h.sum, h.mean(), h.buckets)
	}
}

// failedLogins returns n sshd lines of failed passwords for user from addr.
func failedLogins(addr, user string, n int) []string {
	ts := time.Now().Format(time.Stamp)
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for %s from %s port %d ssh2", ts, 4000+i, user, addr, 51000+i))
	}
	return out
}

// checkFleetExplanation checks that m's explanation of the attacker shows a
// fleet decision and the sightings of at least 3 members behind it.
func checkFleetExplanation(t *testing.T, m *nsMember, ex daemon.Explanation) {
	t.Helper()
	fleet := slices.ContainsFunc(ex.Timeline, func(e daemon.Entry) bool {
		return e.What == "decision" && strings.HasPrefix(e.Scenario, "fleet-")
	})
	seen := map[string]bool{}
	for _, e := range ex.Timeline {
		if e.What == "sighting" {
			seen[e.Member] = true
		}
	}
	var lines []string
	for _, e := range ex.Timeline {
		lines = append(lines, fmt.Sprintf("  %s %-8s %-10s member %s (%s) %s", e.Time.Format("15:04:05.000"), e.What, e.Scenario, shortHash(e.Member), e.MemberName, e.Detail))
	}
	t.Logf("explain %s on %s:\n%s", fleetAttacker, strings.ToUpper(m.name), strings.Join(lines, "\n"))
	if !fleet || len(seen) < 3 {
		t.Errorf("explain %s on %s: fleet decision %v, sightings from %d members; want a fleet- decision and sightings from at least 3", fleetAttacker, m.name, fleet, len(seen))
	}
}

// histogram is one series of a Prometheus histogram as /metrics shows it.
type histogram struct {
	count   int64
	sum     float64
	buckets string // "le=count" pairs, cumulative, as exposed
}

func (h histogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count) * float64(time.Second)).Round(time.Microsecond)
}

// fleetEnforcement reads phalanx_enforcement_seconds{path="fleet"} from m's
// /metrics (Prometheus text format).
func fleetEnforcement(m *nsMember) (histogram, error) {
	var h histogram
	resp, err := m.client().Get("http://" + m.info.Addr + "/metrics")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return h, fmt.Errorf("status %s: %s", resp.Status, b)
	}
	const name = "phalanx_enforcement_seconds"
	var buckets []string
	found := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, `path="fleet"`) {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return h, fmt.Errorf("parse %q: %w", line, err)
		}
		switch {
		case strings.HasPrefix(series, name+"_bucket{"):
			_, le, _ := strings.Cut(series, `le="`)
			le, _, _ = strings.Cut(le, `"`)
			buckets = append(buckets, fmt.Sprintf("%s=%d", le, int64(v)))
		case strings.HasPrefix(series, name+"_sum{"):
			h.sum, found = v, true
		case strings.HasPrefix(series, name+"_count{"):
			h.count = int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return h, err
	}
	if !found {
		return h, fmt.Errorf(`no %s{path="fleet"} series`, name)
	}
	h.buckets = strings.Join(buckets, " ")
	return h, nil
}
