package daemon_test

import (
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestFleetBanFromSightings: an attacker stays under every member's own
// threshold (4 failures on each of three members; ssh-bf needs 5), but the
// members' sightings add up to the charter's fleet-bf (10 failures from at
// least 3 members): every member bans it, and explain says the fleet did.
// A user who mistypes twice on each member (6 in all) is banned nowhere.
func TestFleetBanFromSightings(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	for _, m := range al.members {
		m.waitTailing()
	}
	const attacker, user = "203.0.113.140", "198.51.100.141"
	for _, m := range al.members {
		appendLines(t, m.log, attack(attacker, 4)...)
		appendLines(t, m.log, attack(user, 2)...)
	}
	for _, m := range al.members {
		waitFor(t, 30*time.Second, "the fleet ban on "+m.dir, func() bool { return banned(m.d, attacker) })
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
		waitFor(t, 30*time.Second, "the second fleet ban on "+m.dir, func() bool { return banned(m.d, later) })
		if banned(m.d, user) {
			t.Errorf("%s banned a user who mistyped twice on each member", m.dir)
		}
	}
}
