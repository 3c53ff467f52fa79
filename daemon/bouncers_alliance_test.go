package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pullStream is one pull of m's bouncer stream with key: the HTTP status
// and the values sent as new and as deleted (sorted).
func pullStream(t *testing.T, m *member, key string, startup bool) (code int, added, deleted []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.d.Addr()+"/v1/decisions/stream?startup="+strconv.FormatBool(startup), nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, nil
	}
	var body struct {
		New, Deleted []struct {
			Value string `json:"value"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("bouncer stream from %s: %v", m.dir, err)
	}
	for _, d := range body.New {
		added = append(added, d.Value)
	}
	for _, d := range body.Deleted {
		deleted = append(deleted, d.Value)
	}
	slices.Sort(added)
	slices.Sort(deleted)
	return 200, added, deleted
}

// lookupCode is the status of a live-mode lookup (/v1/decisions) with key:
// it authenticates without moving the key's stream cursor.
func lookupCode(t *testing.T, m *member, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.d.Addr()+"/v1/decisions?ip=192.0.2.1", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type listedBouncer struct {
	Name     string
	LastPull time.Time
	Alliance bool
}

func listBouncers(t *testing.T, m *member) []listedBouncer {
	t.Helper()
	var bs []listedBouncer
	if code := m.admin("GET", "/api/bouncers", &bs); code != 200 {
		t.Fatalf("list bouncers on %s: HTTP %d", m.dir, code)
	}
	return bs
}

// manualBan bans value on m (a founding member) and waits until every
// member of ms holds the ban.
func manualBan(t *testing.T, m *member, value string, ms ...*member) {
	t.Helper()
	if code := m.adminBody("POST", "/api/decisions", map[string]string{"value": value}, nil); code != http.StatusCreated {
		t.Fatalf("manual ban of %s: HTTP %d", value, code)
	}
	for _, o := range ms {
		waitFor(t, 20*time.Second, "the ban of "+value+" on "+o.dir, func() bool { return banned(o.d, value) })
	}
}

// TestAllianceBouncerKey: `bouncers add --alliance` on the founding member
// A makes a key that B accepts too once the amendment reaches it (the
// charter holding its hash only); a bouncer that streams from A and then
// from B with that key gets, on its first pull from B, what was decided
// after the move, and deltas after that; a key of B's own stays refused on
// A; B, not founding, may neither add nor delete alliance keys; a delete
// on A makes both refuse the key.
func TestAllianceBouncerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]

	var refusal struct{ Message string }
	if code := b.adminBody("POST", "/api/bouncers", map[string]any{"name": "edge", "alliance": true}, &refusal); code != http.StatusForbidden || !strings.Contains(refusal.Message, "founding member") {
		t.Fatalf("an alliance key on a member that is not founding: HTTP %d %q, want 403 saying to use a founding member", code, refusal.Message)
	}
	var added struct {
		Key      string `json:"api_key"`
		Alliance bool   `json:"alliance"`
		Version  int    `json:"version"`
	}
	if code := a.adminBody("POST", "/api/bouncers", map[string]any{"name": "edge", "alliance": true}, &added); code != http.StatusCreated || len(added.Key) != 64 || !added.Alliance {
		t.Fatalf("add an alliance key on A: HTTP %d %+v", code, added)
	}
	var own struct {
		Key string `json:"api_key"`
	}
	if code := b.adminBody("POST", "/api/bouncers", map[string]any{"name": "b-own"}, &own); code != http.StatusCreated {
		t.Fatalf("add B's own key: HTTP %d", code)
	}

	// B accepts the key once it holds the amendment (polled without a
	// stream pull, which would set B's cursor); its charter on disk holds
	// the hash, not the key.
	waitFor(t, 30*time.Second, "B to accept the alliance key", func() bool { return lookupCode(t, b, added.Key) == 200 })
	al.sameCharter(t, 2)
	sum := sha256.Sum256([]byte(added.Key))
	yaml, err := os.ReadFile(filepath.Join(b.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(yaml), hex.EncodeToString(sum[:])) || strings.Contains(string(yaml), added.Key) {
		t.Errorf("B's charter does not hold the key's hash alone:\n%s", yaml)
	}
	if code := lookupCode(t, a, own.Key); code != http.StatusForbidden {
		t.Errorf("B's own key on A: HTTP %d, want 403", code)
	}
	if code := lookupCode(t, b, own.Key); code != 200 {
		t.Errorf("B's own key on B: HTTP %d, want 200", code)
	}

	// The bouncer starts on A.
	manualBan(t, a, "198.51.100.61", a, b)
	if code, got, _ := pullStream(t, a, added.Key, true); code != 200 || !slices.Equal(got, []string{"198.51.100.61"}) {
		t.Fatalf("startup on A: HTTP %d, new %v", code, got)
	}
	manualBan(t, a, "198.51.100.62", a, b)
	if code, got, _ := pullStream(t, a, added.Key, false); code != 200 || !slices.Equal(got, []string{"198.51.100.62"}) {
		t.Fatalf("delta on A: HTTP %d, new %v", code, got)
	}
	// It moves to B (no startup=true: the same running bouncer) after a
	// decision made since its last pull on A.
	manualBan(t, a, "198.51.100.63", a, b)
	code, got, deleted := pullStream(t, b, added.Key, false)
	if code != 200 || !slices.Contains(got, "198.51.100.63") || len(deleted) != 0 {
		t.Fatalf("first pull on B: HTTP %d, new %v, deleted %v; want the decision made after the move", code, got, deleted)
	}
	manualBan(t, a, "198.51.100.64", a, b)
	if code, got, _ := pullStream(t, b, added.Key, false); code != 200 || !slices.Equal(got, []string{"198.51.100.64"}) {
		t.Fatalf("second pull on B: HTTP %d, new %v; want the delta", code, got)
	}

	// Both list the key as an alliance key, with the last pull seen there.
	for _, m := range []*member{a, b} {
		bs := listBouncers(t, m)
		i := slices.IndexFunc(bs, func(x listedBouncer) bool { return x.Name == "edge" && x.Alliance })
		if i < 0 || bs[i].LastPull.IsZero() {
			t.Errorf("%s lists %+v; want edge as an alliance key with its last pull", m.dir, bs)
		}
	}

	// Deleting: not as a member-local key, not on B; by amendment on A.
	var msg struct{ Message string }
	if code := b.admin("DELETE", "/api/bouncers/edge", &msg); code != http.StatusNotFound || !strings.Contains(msg.Message, "--alliance") {
		t.Errorf("delete the alliance key as B's own: HTTP %d %q", code, msg.Message)
	}
	if code := b.admin("DELETE", "/api/bouncers/edge?alliance=true", nil); code != http.StatusForbidden {
		t.Errorf("delete the alliance key on B: HTTP %d, want 403", code)
	}
	if code := a.admin("DELETE", "/api/bouncers/edge?alliance=true", nil); code != 200 {
		t.Fatalf("delete the alliance key on A: HTTP %d", code)
	}
	for _, m := range []*member{a, b} {
		waitFor(t, 30*time.Second, m.dir+" to refuse the deleted alliance key", func() bool {
			code, _, _ := pullStream(t, m, added.Key, false)
			return code == http.StatusForbidden
		})
	}
	if code := a.admin("DELETE", "/api/bouncers/edge?alliance=true", nil); code != http.StatusNotFound {
		t.Errorf("delete it again: HTTP %d, want 404", code)
	}
	if code := lookupCode(t, b, own.Key); code != 200 {
		t.Errorf("B's own key after the alliance key went: HTTP %d, want 200", code)
	}
	al.sameCharter(t, 2)
}
