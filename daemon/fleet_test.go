package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestFleetBanFromSightings: an attacker stays under every member's own
// threshold (4 failures on each of three members; ssh-bf needs 5), but the
// members' sightings add up to the charter's fleet-bf (10 failures from at
// least 3 members): every member bans it, and explain says the fleet did.
// A user who mistypes twice on each member (6 in all) is banned nowhere,
// nor a source that logged in on each member before 4 failures on each.
func TestFleetBanFromSightings(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	for _, m := range al.members {
		m.waitTailing()
	}
	const attacker, user, vouched, mistyped = "203.0.113.140", "198.51.100.141", "198.51.100.143", "198.51.100.144"
	for _, m := range al.members {
		appendLines(t, m.log, attack(attacker, 4)...)
		appendLines(t, m.log, attack(user, 2)...)
		// A source that logged in on the member is its own users'
		// (an office NAT): its failures are not sighted, nor those of a
		// user who logs in within seconds of mistyping.
		appendLines(t, m.log, time.Now().Format(time.Stamp)+" web1 sshd[3000]: Accepted password for alice from "+vouched+" port 50000 ssh2")
		appendLines(t, m.log, attack(vouched, 4)...)
		appendLines(t, m.log, attack(mistyped, 4)...)
		appendLines(t, m.log, time.Now().Format(time.Stamp)+" web1 sshd[3001]: Accepted password for bob from "+mistyped+" port 50001 ssh2")
	}
	for _, m := range al.members {
		waitFor(t, 60*time.Second, "the fleet ban on "+m.dir, func() bool { return banned(m.d, attacker) })
	}
	// No member banned it on its own.
	for _, m := range al.members {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		if st.Pipeline["self_bans"] != 0 {
			t.Errorf("%s made %d self-defense bans; the attack was under every member's threshold", m.dir, st.Pipeline["self_bans"])
		}
		if st.Sightings["published"] == 0 {
			t.Errorf("%s published no sighting", m.dir)
		}
	}
	var ex struct {
		Timeline []struct {
			What, Scenario, Detail string
		} `json:"timeline"`
	}
	al.members[0].admin("GET", "/api/explain?address="+attacker, &ex)
	fleet := false
	for _, e := range ex.Timeline {
		fleet = fleet || e.What == "decision" && strings.HasPrefix(e.Scenario, "fleet-")
	}
	if !fleet {
		t.Errorf("explain has no fleet decision: %+v", ex.Timeline)
	}
	// The user: sighted too, but 6 failures from 3 members is no attack.
	// Give the members' last sightings time to be judged: another
	// attacker's ban after them proves they were.
	const later = "203.0.113.142"
	for _, m := range al.members {
		appendLines(t, m.log, attack(later, 4)...)
	}
	for _, m := range al.members {
		waitFor(t, 60*time.Second, "the second fleet ban on "+m.dir, func() bool { return banned(m.d, later) })
		if banned(m.d, user) {
			t.Errorf("%s banned a user who mistyped twice on each member", m.dir)
		}
		if banned(m.d, vouched) {
			t.Errorf("%s banned a source that logged in on every member before it mistyped", m.dir)
		}
		if banned(m.d, mistyped) {
			t.Errorf("%s banned a user who logged in on every member right after mistyping", m.dir)
		}
	}
}

// TestFleetAmendment: a founding member turns the fleet scenarios off and
// on again with tuned thresholds by amending the charter; every member
// follows. Events seen while they are off are never sighted; with
// fleet-bf tuned to 6 failures, 2 on each of three members ban.
func TestFleetAmendment(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	founder := al.members[0]
	var ch struct{ Hash, YAML string }
	founder.admin("GET", "/api/charter", &ch)
	if !strings.Contains(ch.YAML, "fleet:") {
		t.Fatalf("the default charter has no fleet section:\n%s", ch.YAML)
	}
	if code := al.members[1].adminBody("PUT", "/api/charter/fleet", map[string]any{"enabled": false}, nil); code != 403 {
		t.Errorf("a member that is not founding amended the fleet section: HTTP %d, want 403", code)
	}
	if code := founder.adminBody("PUT", "/api/charter/fleet", map[string]any{"enabled": true, "yaml": "scenarios: [{name: bad}]"}, nil); code != 400 {
		t.Errorf("an invalid fleet section: HTTP %d, want 400", code)
	}
	if code := founder.adminBody("PUT", "/api/charter/fleet", map[string]any{"enabled": false}, nil); code != 200 {
		t.Fatalf("turning the fleet scenarios off: HTTP %d", code)
	}
	al.sameFleet(t, false)

	for _, m := range al.members {
		m.waitTailing()
	}
	const unseen, attacker = "203.0.113.150", "203.0.113.151"
	for _, m := range al.members {
		var before daemon.Status
		m.admin("GET", "/api/status", &before)
		appendLines(t, m.log, attack(unseen, 4)...)
		waitFor(t, 10*time.Second, "the member to read the attack", func() bool {
			var st daemon.Status
			m.admin("GET", "/api/status", &st)
			return st.Pipeline["events"] >= before.Pipeline["events"]+4
		})
	}

	tuned := "scenarios:\n  - {name: fleet-bf, kinds: [auth-failure], window: 10m, members: 3, events: 6, member_cap: 3}\n"
	if code := founder.adminBody("PUT", "/api/charter/fleet", map[string]any{"enabled": true, "yaml": tuned}, nil); code != 200 {
		t.Fatalf("turning the tuned fleet scenarios on: HTTP %d", code)
	}
	al.sameFleet(t, true)
	for _, m := range al.members {
		appendLines(t, m.log, attack(attacker, 2)...)
	}
	for _, m := range al.members {
		waitFor(t, 60*time.Second, "the tuned fleet ban on "+m.dir, func() bool { return banned(m.d, attacker) })
		if banned(m.d, unseen) {
			t.Errorf("%s banned a source whose events came while the fleet scenarios were off", m.dir)
		}
	}
}

// sameFleet waits until every member holds the same charter, with a fleet
// section or without.
func (al *alliance) sameFleet(t *testing.T, on bool) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("every member to hold the same charter with fleet=%v", on), func() bool {
		var hash string
		for _, m := range al.members {
			var ch struct{ Hash, YAML string }
			if m.admin("GET", "/api/charter", &ch) != 200 || strings.Contains(ch.YAML, "\nfleet:") != on {
				return false
			}
			if hash == "" {
				hash = ch.Hash
			} else if ch.Hash != hash {
				return false
			}
		}
		return true
	})
}
