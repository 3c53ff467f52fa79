package daemon_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	palliance "phalanx/alliance"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/identity"
	"phalanx/testenv"
)

// fabricOf returns the fabric address member m has in its charter.
func fabricOf(t *testing.T, m *member) string {
	t.Helper()
	ch, err := charter.Load(filepath.Join(m.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	me, _, ok := ch.Member(m.d.ID())
	if !ok || me.Fabric == "" {
		t.Fatalf("%s: the charter gives this member no fabric address", m.dir)
	}
	return me.Fabric
}

// restartOn starts a member again on dir with fabric address fab.
func restartOn(t *testing.T, dir, logPath, fab string) *member {
	t.Helper()
	return startWith(t, dir, logPath, func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fab })
}

// newFails runs daemon.New on dir (as startWith would) and returns its
// error; a start that succeeds fails the test.
func newFails(t *testing.T, dir, logPath, fab string) error {
	t.Helper()
	o := checkOptions(dir, logPath)
	o.Config.Daemon.Fabric = fab
	d, err := daemon.New(context.Background(), o)
	if err == nil {
		d.Close()
		t.Fatalf("%s: the member started", dir)
	}
	return err
}

// wantAll fails unless s holds every part.
func wantAll(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not mention %q:\n%s", what, p, s)
		}
	}
}

// checkErrors is Check's errors on dir, joined.
func checkErrors(dir, logPath, fab string) string {
	o := checkOptions(dir, logPath)
	o.Config.Daemon.Fabric = fab
	o.Config.Daemon.API = "127.0.0.1:0"
	return strings.Join(errorsOf(daemon.Check(context.Background(), o, daemon.CheckOptions{})), "\n")
}

// editCharter rewrites the charter file in dir with change applied.
func editCharter(t *testing.T, dir string, change func(c *charter.Charter)) {
	t.Helper()
	path := filepath.Join(dir, "charter.yaml")
	c, err := charter.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	change(&c)
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tamperedMetric reads phalanx_data_dir_tampered from m's /metrics.
func tamperedMetric(t *testing.T, m *member) string {
	t.Helper()
	resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v := regexp.MustCompile(`(?m)^phalanx_data_dir_tampered (\S+)$`).FindSubmatch(b)
	if v == nil {
		t.Fatal("/metrics has no phalanx_data_dir_tampered")
	}
	return string(v[1])
}

func dataDirOf(t *testing.T, m *member) daemon.DataDirStatus {
	t.Helper()
	var st daemon.Status
	if code := m.admin("GET", "/api/status", &st); code != 200 {
		t.Fatalf("status: HTTP %d", code)
	}
	return st.DataDir
}

// TestTamperEvidenceAlliance: legitimate amendments (a join, a policy
// change), while the members' watches compare their data directories
// over and over, trip nothing, and the members start again; a charter
// edited while a member runs is shown in its status and metric, its bans
// stay and new ones are made under the verified charter; edited (widened
// territory, or all of it) it refuses to start, and so does --check,
// until restored from the signed history; without fabric.secret the
// member refuses to start instead of running alone.
func TestTamperEvidenceAlliance(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]

	// Each member's watch runs again and again while a member joins and
	// the charter is amended.
	stop := make(chan struct{})
	var hammer sync.WaitGroup
	watch := func(m *member) {
		hammer.Add(1)
		go func() {
			defer hammer.Done()
			for {
				select {
				case <-stop:
					return
				default:
					m.d.CheckDataDirForTest()
				}
			}
		}()
	}
	watch(a)
	watch(b)
	base := t.TempDir()
	tok, err := daemon.Invite(a.dir, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dirC, fabC := filepath.Join(base, "c"), testenv.FreeFabricAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	joined, err := daemon.Join(ctx, dirC, daemon.JoinOptions{Token: tok.String(), Fabric: fabC, Now: time.Now()})
	cancel()
	if err != nil || !joined {
		t.Fatalf("join: joined %v, err %v", joined, err)
	}
	c := restartOn(t, dirC, filepath.Join(base, "c.log"), fabC)
	al.members = append(al.members, c)
	watch(c)
	al.sameCharter(t, 3)
	if code := a.adminBody("PUT", "/api/charter/fleet", map[string]any{"enabled": false}, nil); code != 200 {
		t.Fatalf("turning the fleet scenarios off: HTTP %d", code)
	}
	waitFor(t, 30*time.Second, "every member to apply the amendment", func() bool {
		for _, m := range al.members {
			var ch struct{ YAML string }
			if m.admin("GET", "/api/charter", &ch) != 200 || strings.Contains(ch.YAML, "fleet:") {
				return false
			}
		}
		return true
	})
	al.sameCharter(t, 3)
	close(stop)
	hammer.Wait()
	for _, m := range al.members {
		m.d.CheckDataDirForTest()
		if st := dataDirOf(t, m); !st.OK || st.Found != 0 || st.Checked == nil {
			t.Errorf("%s: after legitimate amendments the data directory watch says %+v", m.dir, st)
		}
		if v := tamperedMetric(t, m); v != "0" {
			t.Errorf("%s: phalanx_data_dir_tampered %s, want 0", m.dir, v)
		}
	}
	// The founder, whose amendments those were, starts again.
	fabA, fabB := fabricOf(t, a), fabricOf(t, b)
	a.stop()
	a = restartOn(t, a.dir, a.log, fabA)
	al.members[0] = a

	// An attack seen by B is banned; then B's charter is widened to hold
	// the attacker while B runs.
	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.77", 6)...)
	waitFor(t, 20*time.Second, "the ban on B", func() bool { return banned(b.d, "203.0.113.77") })
	var before daemon.Status
	b.admin("GET", "/api/status", &before)
	editCharter(t, b.dir, func(c *charter.Charter) {
		c.Territory = append(c.Territory, netip.MustParsePrefix("203.0.113.0/24"))
	})
	b.d.CheckDataDirForTest()
	st := dataDirOf(t, b)
	if st.OK || st.Found != 1 || st.Since == nil {
		t.Fatalf("after an edit of the charter, the status says %+v", st)
	}
	wantAll(t, "the status's problem", strings.Join(st.Problems, "\n"), "charter.yaml was changed outside the alliance's amendments", "territory: [203.0.113.0/24]", "phalanx charter restore")
	if v := tamperedMetric(t, b); v != "1" {
		t.Errorf("phalanx_data_dir_tampered %s after an edit, want 1", v)
	}
	var after daemon.Status
	b.admin("GET", "/api/status", &after)
	if after.Charter != before.Charter {
		t.Errorf("the charter in force changed with the edit: %s, was %s", after.Charter, before.Charter)
	}
	appendLines(t, b.log, attack("203.0.113.78", 6)...)
	waitFor(t, 20*time.Second, "a new ban inside the edited territory on B", func() bool { return banned(b.d, "203.0.113.78") })
	if !banned(b.d, "203.0.113.77") {
		t.Error("the ban made before the edit was lifted")
	}

	// Stopped, B refuses to start with the edited charter, and so does
	// its --check.
	b.stop()
	err = newFails(t, b.dir, b.log, fabB)
	wantAll(t, "New's error", err.Error(), filepath.Join(b.dir, "charter.yaml"), "does not match the alliance's signed history", "territory: [203.0.113.0/24]",
		"phalanx charter restore --data "+b.dir, after.Charter[:12])
	wantAll(t, "Check's errors", checkErrors(b.dir, b.log, fabB), "does not match the alliance's signed history")

	// A territory of every address is refused as a charter, with the way back.
	data, err := os.ReadFile(filepath.Join(b.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "203.0.113.0/24", "0.0.0.0/0", 1))
	if err := os.WriteFile(filepath.Join(b.dir, "charter.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "New's error", newFails(t, b.dir, b.log, fabB).Error(), "lifts every ban", "phalanx charter restore")
	wantAll(t, "Check's errors", checkErrors(b.dir, b.log, fabB), "lifts every ban")

	// Restored, B starts and shares the alliance's charter.
	restored, err := daemon.RestoreCharter(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Hash() != after.Charter {
		t.Errorf("restored charter %.12s, the alliance's is %.12s", restored.Hash(), after.Charter)
	}
	if errs := checkErrors(b.dir, b.log, fabB); errs != "" {
		t.Errorf("Check after the restore: %s", errs)
	}
	b = restartOn(t, b.dir, b.log, fabB)
	al.members[1] = b
	al.sameCharter(t, 3)
	if !banned(b.d, "203.0.113.77") {
		t.Error("B lost its ban over the restart")
	}

	// Without fabric.secret, B refuses to start instead of running alone.
	b.stop()
	if err := os.Remove(filepath.Join(b.dir, "fabric.secret")); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "New's error", newFails(t, b.dir, b.log, "").Error(), filepath.Join(b.dir, "fabric.secret")+" is missing", `alliance "test-fleet"`, "its signed charter history lists other members", "its fabric store is a clustered one")
	wantAll(t, "Check's errors", checkErrors(b.dir, b.log, ""), "fabric.secret is missing")
}

// TestTamperWhileRunningRemovedSecret: fabric.secret removed while the
// member runs is shown in its status; put back, the status is clear
// again. A standalone member's own edits of its charter are not
// tampering, but one that no longer loads is shown.
func TestTamperWhileRunningRemovedSecret(t *testing.T) {
	dir := t.TempDir()
	fab := testenv.FreeFabricAddr(t)
	if _, err := daemon.InitAlliance(filepath.Join(dir, "a"), daemon.InitOptions{Name: "lone", Fabric: fab, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m := restartOn(t, filepath.Join(dir, "a"), filepath.Join(dir, "a.log"), fab)
	secretPath := filepath.Join(m.dir, "fabric.secret")
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(secretPath)
	m.d.CheckDataDirForTest()
	st := dataDirOf(t, m)
	if st.OK {
		t.Fatal("the status says nothing of a removed fabric.secret")
	}
	wantAll(t, "the status's problem", strings.Join(st.Problems, "\n"), secretPath+" was removed")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	m.d.CheckDataDirForTest()
	if st := dataDirOf(t, m); !st.OK || st.Found != 1 {
		t.Errorf("fabric.secret restored: the status says %+v", st)
	}
	// Stopped, without fabric.secret, signed history or fabric address in
	// its charter: its clustered fabric store still says it is an
	// alliance's.
	m.stop()
	os.Remove(secretPath)
	os.Remove(filepath.Join(m.dir, "charter-chain.json"))
	editCharter(t, m.dir, func(c *charter.Charter) { c.Members[0].Fabric = "" })
	wantAll(t, "Check's errors", checkErrors(m.dir, m.log, ""), "fabric.secret is missing", "its fabric store is a clustered one")

	// A member alone: its charter is its own.
	p := startMember(t, filepath.Join(dir, "plain"), filepath.Join(dir, "plain.log"))
	editCharter(t, p.dir, func(c *charter.Charter) { c.Policy.Quorum = 3 })
	p.d.CheckDataDirForTest()
	if st := dataDirOf(t, p); !st.OK {
		t.Errorf("a member alone edited its own charter: the status says %+v", st)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "charter.yaml"), []byte("territory: [0.0.0.0/0]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.d.CheckDataDirForTest()
	if st := dataDirOf(t, p); st.OK || !strings.Contains(strings.Join(st.Problems, "\n"), "no longer loads") {
		t.Errorf("a charter that no longer loads: the status says %+v", st)
	}
}

// TestTamperStandalone: a member alone may edit its charter (--check says
// nothing is signed for it), but a territory of every address is refused
// at --check and at start.
func TestTamperStandalone(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.stop()
	o := checkOptions(m.dir, logPath)
	var warned []string
	for _, p := range daemon.Check(context.Background(), o, daemon.CheckOptions{}) {
		if !p.Warning {
			t.Errorf("error: %v", p.Err)
		}
		warned = append(warned, p.Err.Error())
	}
	wantAll(t, "Check's warnings", strings.Join(warned, "\n"), "nothing is signed for it")
	editCharter(t, m.dir, func(c *charter.Charter) { c.Policy.Quorum = 2 })
	if errs := checkErrors(m.dir, logPath, ""); errs != "" {
		t.Errorf("a member alone edited its charter: %s", errs)
	}
	for _, whole := range []string{"0.0.0.0/0", "::/0"} {
		data, err := os.ReadFile(filepath.Join(m.dir, "charter.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		edited := regexp.MustCompile(`(?m)^territory:.*$`).ReplaceAllString(string(data), fmt.Sprintf("territory: [%q]", whole))
		if edited == string(data) {
			t.Fatalf("no territory line in the charter:\n%s", data)
		}
		if err := os.WriteFile(filepath.Join(m.dir, "charter.yaml"), []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		wantAll(t, "Check's errors", checkErrors(m.dir, logPath, ""), "covers every address of "+whole, "lifts every ban")
		wantAll(t, "New's error", newFails(t, m.dir, logPath, "").Error(), "covers every address of "+whole)
	}
}

// TestTamperFounder: a founder's signed history starts with the charter
// alliance init writes; while it is alone its charter is its own to edit
// (the next start takes the edit as the history's start). Once it admitted
// a member, --check and New refuse an edited charter and a damaged
// history, RestoreCharter undoes the edit, a data directory from before
// the history was kept gets one at its next start, and a missing
// fabric.secret is found.
func TestTamperFounder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	logPath := filepath.Join(t.TempDir(), "auth.log")
	fab := testenv.FreeFabricAddr(t)
	if _, err := daemon.InitAlliance(dir, daemon.InitOptions{Name: "lone", Fabric: fab, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if errs := checkErrors(dir, logPath, fab); errs != "" {
		t.Fatalf("Check after alliance init: %s", errs)
	}
	// Alone: its own edit.
	editCharter(t, dir, func(c *charter.Charter) { c.Policy.Quorum = 3 })
	o := checkOptions(dir, logPath)
	o.Config.Daemon.Fabric = fab
	wantAll(t, "Check's warnings", strings.Join(warningsOf(daemon.Check(context.Background(), o, daemon.CheckOptions{})), "\n"), "still alone in its alliance")
	if errs := checkErrors(dir, logPath, fab); errs != "" {
		t.Fatalf("Check after an edit of a founder alone: %s", errs)
	}
	startStop(t, o)
	if warned := warningsOf(daemon.Check(context.Background(), o, daemon.CheckOptions{})); strings.Contains(strings.Join(warned, "\n"), "still alone") {
		t.Errorf("after a start, the edit is still not the history's start: %q", warned)
	}

	// It admits a member (offline: the amendment a join makes).
	admit(t, dir)
	if errs := checkErrors(dir, logPath, fab); errs != "" {
		t.Fatalf("Check after an amendment: %s", errs)
	}
	editCharter(t, dir, func(c *charter.Charter) { c.Policy.Quorum = 5 })
	wantAll(t, "Check's errors", checkErrors(dir, logPath, fab), "does not match the alliance's signed history", "policy.quorum: 3 → 5")
	wantAll(t, "New's error", newFails(t, dir, logPath, fab).Error(), "does not match the alliance's signed history")
	if _, err := daemon.RestoreCharter(dir); err != nil {
		t.Fatal(err)
	}
	if errs := checkErrors(dir, logPath, fab); errs != "" {
		t.Fatalf("Check after the restore: %s", errs)
	}

	chainPath := filepath.Join(dir, "charter-chain.json")
	chain, err := os.ReadFile(chainPath)
	if err != nil {
		t.Fatal(err)
	}
	// The amendment's signature no longer matches.
	var h palliance.History
	if err := json.Unmarshal(chain, &h); err != nil {
		t.Fatal(err)
	}
	h.Steps[0].Amendment[len(h.Steps[0].Amendment)-1] ^= 1
	bad, _ := json.Marshal(&h)
	if err := os.WriteFile(chainPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "Check's errors", checkErrors(dir, logPath, fab), "charter-chain.json does not verify", "signature")
	wantAll(t, "New's error", newFails(t, dir, logPath, fab).Error(), "charter-chain.json does not verify")
	if _, err := daemon.RestoreCharter(dir); err == nil {
		t.Error("RestoreCharter restored from a damaged history")
	}

	// A data directory from before the history was kept.
	os.Remove(chainPath)
	wantAll(t, "Check's warnings", strings.Join(warningsOf(daemon.Check(context.Background(), o, daemon.CheckOptions{})), "\n"), "keeps no signed charter history")
	if errs := checkErrors(dir, logPath, fab); errs != "" {
		t.Fatalf("Check without a history: %s", errs)
	}
	startStop(t, o)
	if _, err := os.Stat(chainPath); err != nil {
		t.Fatalf("the start kept no signed history: %v", err)
	}
	editCharter(t, dir, func(c *charter.Charter) { c.Policy.Quorum = 5 })
	wantAll(t, "Check's errors", checkErrors(dir, logPath, fab), "does not match the alliance's signed history")
	if _, err := daemon.RestoreCharter(dir); err != nil {
		t.Fatal(err)
	}

	// fabric.secret missing.
	os.Remove(filepath.Join(dir, "fabric.secret"))
	wantAll(t, "Check's errors", checkErrors(dir, logPath, ""), "fabric.secret is missing", "its signed charter history lists other members")
	wantAll(t, "New's error", newFails(t, dir, logPath, "").Error(), "fabric.secret is missing")
}

func warningsOf(ps []daemon.Problem) []string {
	var out []string
	for _, p := range ps {
		if p.Warning {
			out = append(out, p.Err.Error())
		}
	}
	return out
}

// startStop makes a daemon with o and closes it.
func startStop(t *testing.T, o daemon.Options) {
	t.Helper()
	d, err := daemon.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// admit amends the charter of the stopped founder in dir, as a join
// would: a new member, signed by the founder, in the history and on disk.
func admit(t *testing.T, dir string) {
	t.Helper()
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := charter.Load(filepath.Join(dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := palliance.AddMember(&cur, charter.NewMember("joiner", pub))
	if err != nil {
		t.Fatal(err)
	}
	am, err := palliance.NewAmendment(id, &cur, &next)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "charter-chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h palliance.History
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	h.Steps = append(h.Steps, palliance.HistoryStep{Amendment: am.Marshal(), Time: time.Now()})
	if data, err = json.Marshal(&h); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charter-chain.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml, err := next.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charter.yaml"), yaml, 0o644); err != nil {
		t.Fatal(err)
	}
}
