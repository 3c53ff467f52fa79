package daemon_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/daemon"
	"phalanx/decision"
)

// decisionIDs returns the member's active decisions by value, from the
// admin API as `phalanx decisions list` reads them.
func decisionIDs(m *member) map[string]uint64 {
	m.t.Helper()
	var ds []daemon.DecisionView
	if code := m.admin("GET", "/api/decisions", &ds); code != 200 {
		m.t.Fatalf("list decisions: HTTP %d", code)
	}
	out := map[string]uint64{}
	for _, d := range ds {
		out[d.Value] = d.ID
	}
	return out
}

// bouncerStream is one pull of the bouncer API's stream for key: the IDs
// it sends as new and as deleted, by value.
func bouncerStream(t *testing.T, m *member, key string, startup bool) (added, deleted map[string]uint64) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.d.Addr()+"/v1/decisions/stream?startup="+strconv.FormatBool(startup), nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("bouncer stream: HTTP %d", resp.StatusCode)
	}
	type dec struct {
		ID    uint64 `json:"id"`
		Value string `json:"value"`
	}
	var body struct {
		New     []dec `json:"new"`
		Deleted []dec `json:"deleted"`
	}
	jsonDecode(t, resp.Body, &body)
	added, deleted = map[string]uint64{}, map[string]uint64{}
	for _, d := range body.New {
		added[d.Value] = d.ID
	}
	for _, d := range body.Deleted {
		deleted[d.Value] = d.ID
	}
	return added, deleted
}

// TestDecisionIDsStableAcrossRestart: the IDs of self-defense and manual
// bans are the same after a restart, which rebuilds the table from the
// stream (and the outbox); a delete by an ID listed before the restart
// lifts that ban and no other; a bouncer is told of the deletion under the
// ID it was given the ban with.
func TestDecisionIDsStableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	appendLines(t, logPath, attack("203.0.113.41", 8)...)
	appendLines(t, logPath, attack("203.0.113.42", 8)...)
	for _, a := range []string{"203.0.113.41", "203.0.113.42"} {
		waitFor(t, 10*time.Second, "a ban on "+a, func() bool { return banned(m.d, a) })
	}
	var manual daemon.DecisionView
	if code := m.adminBody("POST", "/api/decisions", map[string]string{"value": "198.51.100.43", "duration": "2h"}, &manual); code != http.StatusCreated {
		t.Fatalf("manual ban: HTTP %d", code)
	}
	// Both alerts have come back from the stream as the alliance's
	// decisions (which keep the self-defense bans' IDs).
	waitFor(t, 10*time.Second, "the alerts to be decided", func() bool {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Reports["decided"] >= 3
	})
	before := decisionIDs(m)
	if len(before) != 3 || before["198.51.100.43"] != manual.ID {
		t.Fatalf("decisions before the restart: %v; want 3, the manual one under %d", before, manual.ID)
	}
	seen := map[uint64]bool{}
	for v, id := range before {
		if !decision.IsDerived(id) || seen[id] {
			t.Errorf("%s has ID %d: want a distinct ID derived from its report", v, id)
		}
		seen[id] = true
	}

	var key map[string]string
	if code := m.adminBody("POST", "/api/bouncers", map[string]string{"name": "fw"}, &key); code != http.StatusCreated {
		t.Fatalf("add bouncer: HTTP %d", code)
	}
	if added, _ := bouncerStream(t, m, key["api_key"], true); len(added) != 3 || added["203.0.113.41"] != before["203.0.113.41"] {
		t.Fatalf("bouncer's first pull: %v; want the 3 decisions under their listed IDs %v", added, before)
	}

	m.stop()
	m = startMember(t, m.dir, logPath)
	after := decisionIDs(m)
	if len(after) != len(before) {
		t.Fatalf("decisions after the restart: %v; before: %v", after, before)
	}
	for v, id := range before {
		if after[v] != id {
			t.Errorf("%s: ID %d before the restart, %d after", v, id, after[v])
		}
	}

	// Delete by the ID listed before the restart: that ban goes, the
	// others stay under their IDs.
	if code := m.admin("DELETE", "/api/decisions?id="+strconv.FormatUint(before["203.0.113.41"], 10), nil); code != 200 {
		t.Fatalf("delete --id: HTTP %d", code)
	}
	if banned(m.d, "203.0.113.41") {
		t.Error("the ban deleted by its old ID is still in force")
	}
	rest := decisionIDs(m)
	if len(rest) != 2 || rest["203.0.113.42"] != before["203.0.113.42"] || rest["198.51.100.43"] != before["198.51.100.43"] {
		t.Errorf("after deleting %d: %v; want the two other decisions under %v", before["203.0.113.41"], rest, before)
	}
	// The bouncer's key survives the restart; a new run of the journal
	// sends it everything again, then the deletion under the same ID.
	added, _ := bouncerStream(t, m, key["api_key"], true)
	if len(added) != 2 || added["203.0.113.42"] != before["203.0.113.42"] {
		t.Errorf("bouncer's pull after the restart: %v; want the two decisions left under their IDs", added)
	}
	if code := m.admin("DELETE", "/api/decisions?id="+strconv.FormatUint(before["203.0.113.42"], 10), nil); code != 200 {
		t.Fatalf("delete --id: HTTP %d", code)
	}
	_, deleted := bouncerStream(t, m, key["api_key"], false)
	if deleted["203.0.113.42"] != before["203.0.113.42"] {
		t.Errorf("bouncer told of the deletion as %v; want 203.0.113.42 under %d", deleted, before["203.0.113.42"])
	}
}

// TestDecisionIDsSameOnEveryMember: members that judge the same reports
// give the decisions the same IDs, whoever made the report: an attack seen
// by B (A holds the alliance's decision, B its self-defense ban too) and a
// manual ban on A.
func TestDecisionIDsSameOnEveryMember(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]
	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.51", 6)...)
	for _, m := range []*member{a, b} {
		waitFor(t, 20*time.Second, "the ban on "+m.dir, func() bool { return banned(m.d, "203.0.113.51") })
	}
	var manual daemon.DecisionView
	if code := a.adminBody("POST", "/api/decisions", map[string]string{"value": "198.51.100.52"}, &manual); code != http.StatusCreated {
		t.Fatalf("manual ban: HTTP %d", code)
	}
	waitFor(t, 20*time.Second, "the manual ban on B", func() bool { return banned(b.d, "198.51.100.52") })
	ida, idb := decisionIDs(a), decisionIDs(b)
	if len(ida) != 2 || len(idb) != 2 {
		t.Fatalf("decisions: A %v, B %v; want 2 each", ida, idb)
	}
	for v, id := range ida {
		if idb[v] != id || !decision.IsDerived(id) {
			t.Errorf("%s: ID %d on A, %d on B; want the same derived ID", v, id, idb[v])
		}
	}
	if ida["198.51.100.52"] != manual.ID {
		t.Errorf("manual ban listed under %d, created as %d", ida["198.51.100.52"], manual.ID)
	}
}

// TestRateLimitedSelfBanIDsStable: self-defense bans whose reports the
// member's own arbiter rate-limits are not in the stream; a restart makes
// them again from the outbox, under the IDs they had.
func TestRateLimitedSelfBanIDsStable(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.stop()
	// One report a minute: the first alert's report passes, the rest are
	// rate-limited.
	path := filepath.Join(m.dir, "charter.yaml")
	c, err := charter.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Limits.ReportsPerMinute = 1
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m = startMember(t, m.dir, logPath)
	m.waitTailing()
	addrs := []string{"203.0.113.61", "203.0.113.62", "203.0.113.63"}
	for _, a := range addrs {
		appendLines(t, logPath, attack(a, 8)...)
	}
	for _, a := range addrs {
		waitFor(t, 10*time.Second, "a ban on "+a, func() bool { return banned(m.d, a) })
	}
	waitFor(t, 10*time.Second, "the arbiter to rate-limit this member's reports", func() bool {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Rejected["rate-limited"] >= 2
	})
	before := decisionIDs(m)
	m.stop()
	m = startMember(t, m.dir, logPath)
	after := decisionIDs(m)
	if len(before) != len(addrs) || len(after) != len(addrs) {
		t.Fatalf("decisions before the restart %v, after %v; want %d", before, after, len(addrs))
	}
	for v, id := range before {
		if after[v] != id || !decision.IsDerived(id) {
			t.Errorf("%s: ID %d before the restart, %d after; want the same derived ID", v, id, after[v])
		}
	}
}
