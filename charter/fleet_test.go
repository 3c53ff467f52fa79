package charter

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"phalanx/report"
)

func TestDefaultFleet(t *testing.T) {
	c := Default("solo", NewMember("solo", key(t, 1)))
	if c.Fleet == nil {
		t.Fatal("the default charter has no fleet section")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]FleetScenario{}
	for _, s := range c.Fleet.Scenarios {
		want[s.Name] = s
	}
	for _, name := range []string{"fleet-bf", "fleet-scan", "fleet-user-stuffing", "fleet-slow-bf"} {
		s, ok := want[name]
		if !ok {
			t.Errorf("the default fleet lacks %s", name)
			continue
		}
		if s.Members < 2 {
			t.Errorf("%s needs %d members", name, s.Members)
		}
	}
	// The documented thresholds.
	bf, scan, stuff, slow := want["fleet-bf"], want["fleet-scan"], want["fleet-user-stuffing"], want["fleet-slow-bf"]
	if bf.Events != 10 || bf.Members != 3 || bf.Window != 10*time.Minute ||
		scan.Members != 5 || scan.Window != time.Minute ||
		stuff.Members != 5 || stuff.Sources != 3 || stuff.SourceMembers != 2 || stuff.Window != time.Hour || !stuff.IsByUser() ||
		slow.Events != 20 || slow.Window != 24*time.Hour {
		t.Errorf("default thresholds changed: %+v", c.Fleet.Scenarios)
	}
	// Two calls do not share slices.
	a, b := DefaultFleet(), DefaultFleet()
	a.Scenarios[0].Kinds[0] = "probe"
	if b.Scenarios[0].Kinds[0] == "probe" || DefaultFleet().Scenarios[3].Kinds[0] == "probe" {
		t.Error("DefaultFleet shares its kinds")
	}
}

// TestHashWithoutFleet pins the hash of a charter without a fleet section
// to what it was before fleet scenarios existed: alliances whose charters
// predate them keep their hash, so the amendment chain stays valid.
func TestHashWithoutFleet(t *testing.T) {
	c := three(t)
	c.Fleet = nil
	if got, want := c.Hash(), "694cd8432c5ae68799272d96d59e32e0f218cf58a6b6ccc2ddf0083108079073"; got != want {
		t.Errorf("hash without a fleet section = %s, want %s", got, want)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("\nfleet:")) {
		t.Errorf("a charter without fleet section marshals one:\n%s", out)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Fleet != nil || back.Hash() != c.Hash() {
		t.Errorf("round trip gave fleet %+v", back.Fleet)
	}
}

func TestParseFleet(t *testing.T) {
	def := DefaultFleet()
	cases := []struct {
		name string
		doc  string
		want func() *Fleet
	}{
		{"absent", "", func() *Fleet { return nil }},
		{"empty mapping", "fleet: {}\n", func() *Fleet { return &def }},
		{"null", "fleet:\n", func() *Fleet { return &def }},
		{"partial", "fleet:\n  max_sources: 2048\n  salt: " + testSalt + "\n", func() *Fleet {
			f := DefaultFleet()
			f.MaxSources, f.Salt = 2048, testSalt
			return &f
		}},
		{"no scenarios", "fleet:\n  scenarios: []\n", func() *Fleet {
			f := DefaultFleet()
			f.Scenarios = []FleetScenario{}
			return &f
		}},
		{"own scenarios replace the defaults", "fleet:\n  scenarios:\n    - {name: fleet-x, kinds: [probe], window: 30s, members: 2, events: 4, member_cap: 2}\n", func() *Fleet {
			f := DefaultFleet()
			f.Scenarios = []FleetScenario{{Name: "fleet-x", Kinds: []string{"probe"}, Window: 30 * time.Second, Members: 2, Events: 4, MemberCap: 2}}
			return &f
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(fill(t, minimal+tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(); !reflect.DeepEqual(c.Fleet, want) {
				t.Errorf("fleet %+v, want %+v", c.Fleet, want)
			}
		})
	}
	for name, doc := range map[string]string{
		"unknown fleet key":    "fleet:\n  max_source: 10\n",
		"unknown scenario key": "fleet:\n  scenarios:\n    - {name: fleet-x, kinds: [probe], window: 30s, members: 2, events: 4, member_cap: 2, quorum: 3}\n",
		"integer window":       "fleet:\n  scenarios:\n    - {name: fleet-x, kinds: [probe], window: 30, members: 2, events: 4, member_cap: 2}\n",
		"invalid":              "fleet:\n  scenarios:\n    - {name: fleet-x, kinds: [probe], window: 30s, members: 1, events: 4, member_cap: 2}\n",
	} {
		if _, err := Parse(fill(t, minimal+doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidateFleet(t *testing.T) {
	user := func(c *Charter) *FleetScenario { return &c.Fleet.Scenarios[2] }
	cases := []struct {
		name   string
		change func(c *Charter)
		want   string
	}{
		{"valid", func(*Charter) {}, ""},
		{"no salt", func(c *Charter) { c.Fleet.Salt = "" }, ""},
		{"no scenarios", func(c *Charter) { c.Fleet.Scenarios = nil }, ""},
		{"more members than the alliance has", func(c *Charter) { c.Fleet.Scenarios[0].Members = 100 }, ""},
		{"salt not base64", func(c *Charter) { c.Fleet.Salt = "salt!" }, "fleet.salt: not standard base64"},
		{"salt short", func(c *Charter) { c.Fleet.Salt = base64.StdEncoding.EncodeToString(make([]byte, 15)) }, "fleet.salt: 15 bytes"},
		{"salt long", func(c *Charter) { c.Fleet.Salt = base64.StdEncoding.EncodeToString(make([]byte, 65)) }, "fleet.salt: 65 bytes"},
		{"max sources small", func(c *Charter) { c.Fleet.MaxSources = 10 }, "fleet.max_sources 10"},
		{"max sources huge", func(c *Charter) { c.Fleet.MaxSources = MaxFleetTable + 1 }, "fleet.max_sources"},
		{"max users 0", func(c *Charter) { c.Fleet.MaxUsers = 0 }, "fleet.max_users 0"},
		{"entries 100", func(c *Charter) { c.Fleet.EntriesPerMinute = 100 }, "fleet.entries_per_minute 100"},
		{"too many scenarios", func(c *Charter) {
			for len(c.Fleet.Scenarios) <= MaxFleetScenarios {
				s := c.Fleet.Scenarios[0]
				s.Name += "x"
				c.Fleet.Scenarios = append(c.Fleet.Scenarios, s)
				c.Fleet.Scenarios[0].Name += "y"
			}
		}, "fleet.scenarios: 9"},
		{"name without prefix", func(c *Charter) { c.Fleet.Scenarios[0].Name = "ssh-bf" }, `start fleet scenario names with "fleet-"`},
		{"name prefix only", func(c *Charter) { c.Fleet.Scenarios[0].Name = "fleet-" }, `start fleet scenario names`},
		{"name bad", func(c *Charter) { c.Fleet.Scenarios[0].Name = "fleet bf" }, "fleet.scenarios[0] (fleet bf): name"},
		{"name twice", func(c *Charter) { c.Fleet.Scenarios[1].Name = "fleet-bf" }, "is already fleet.scenarios[0]"},
		{"no kinds", func(c *Charter) { c.Fleet.Scenarios[0].Kinds = nil }, "kinds: none"},
		{"unknown kind", func(c *Charter) { c.Fleet.Scenarios[0].Kinds[0] = "auth_failure" }, `unknown event kind "auth_failure"`},
		{"kind twice", func(c *Charter) { c.Fleet.Scenarios[1].Kinds[1] = "probe" }, "listed twice"},
		{"window 0", func(c *Charter) { c.Fleet.Scenarios[0].Window = 0 }, "fleet.scenarios[0] (fleet-bf): window 0s"},
		{"window 25h", func(c *Charter) { c.Fleet.Scenarios[3].Window = 25 * time.Hour }, "window 25h"},
		{"one member", func(c *Charter) { c.Fleet.Scenarios[0].Members = 1 }, "no single member may cause a fleet ban"},
		{"user one member", func(c *Charter) { user(c).Members = 1 }, "no single member"},
		{"events 0", func(c *Charter) { c.Fleet.Scenarios[0].Events = 0 }, "events 0"},
		{"cap 0", func(c *Charter) { c.Fleet.Scenarios[0].MemberCap = 0 }, "member_cap 0"},
		{"cap 256", func(c *Charter) { c.Fleet.Scenarios[0].MemberCap = 256; c.Fleet.Scenarios[0].Events = 1000 }, "member_cap 256"},
		{"cap above events", func(c *Charter) { c.Fleet.Scenarios[0].MemberCap = 11 }, "is not below events 10"},
		{"cap at events", func(c *Charter) { c.Fleet.Scenarios[0].MemberCap = 10 }, "is not below events 10"},
		{"cap just below events", func(c *Charter) { c.Fleet.Scenarios[0].MemberCap = 9 }, ""},
		{"sources on a source scenario", func(c *Charter) { c.Fleet.Scenarios[0].Sources = 3 }, "are for by: user"},
		{"user without sources", func(c *Charter) { user(c).Sources = 0 }, "sources 0"},
		{"user with too many sources", func(c *Charter) { user(c).Sources = MaxStuffingSources + 1 }, "sources 33"},
		{"user source members 1", func(c *Charter) { user(c).SourceMembers = 1 }, "source_members 1"},
		{"user source members above members", func(c *Charter) { user(c).SourceMembers = 6 }, "source_members 6"},
		{"user with events", func(c *Charter) { user(c).Events = 3 }, "are for by: source"},
		{"by nothing", func(c *Charter) { c.Fleet.Scenarios[0].By = "address" }, `by "address"`},
		{"by empty is source", func(c *Charter) { c.Fleet.Scenarios[0].By = "" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := three(t)
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("accepted")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestHashFleet(t *testing.T) {
	b := three(t)
	base := b.Hash()
	same := map[string]func(c *Charter){
		"kinds reordered": func(c *Charter) {
			k := c.Fleet.Scenarios[0].Kinds
			k[0], k[1] = k[1], k[0]
		},
		"by spelled out or not": func(c *Charter) { c.Fleet.Scenarios[0].By = "" },
	}
	for name, change := range same {
		c := three(t)
		change(&c)
		if c.Hash() != base {
			t.Errorf("%s changed the hash", name)
		}
	}
	changes := map[string]func(c *Charter){
		"no fleet":     func(c *Charter) { c.Fleet = nil },
		"salt":         func(c *Charter) { c.Fleet.Salt = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) },
		"no salt":      func(c *Charter) { c.Fleet.Salt = "" },
		"max sources":  func(c *Charter) { c.Fleet.MaxSources++ },
		"max users":    func(c *Charter) { c.Fleet.MaxUsers++ },
		"entries":      func(c *Charter) { c.Fleet.EntriesPerMinute++ },
		"no scenarios": func(c *Charter) { c.Fleet.Scenarios = nil },
		"order":        func(c *Charter) { s := c.Fleet.Scenarios; s[0], s[3] = s[3], s[0] },
		"name":         func(c *Charter) { c.Fleet.Scenarios[0].Name = "fleet-brute" },
		"by":           func(c *Charter) { c.Fleet.Scenarios[2].By = BySource },
		"kind":         func(c *Charter) { c.Fleet.Scenarios[1].Kinds = c.Fleet.Scenarios[1].Kinds[:2] },
		"window":       func(c *Charter) { c.Fleet.Scenarios[0].Window++ },
		"members":      func(c *Charter) { c.Fleet.Scenarios[0].Members++ },
		"events":       func(c *Charter) { c.Fleet.Scenarios[0].Events++ },
		"cap":          func(c *Charter) { c.Fleet.Scenarios[0].MemberCap++ },
		"sources":      func(c *Charter) { c.Fleet.Scenarios[2].Sources++ },
		"source mem":   func(c *Charter) { c.Fleet.Scenarios[2].SourceMembers++ },
	}
	seen := map[string]string{base: "base"}
	for name, change := range changes {
		c := three(t)
		change(&c)
		h := c.Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: hash equals that of %s", name, prev)
		}
		seen[h] = name
	}
}

func TestUserHash(t *testing.T) {
	if UserHashSize != report.UserHashSize {
		t.Fatalf("charter.UserHashSize %d, report.UserHashSize %d", UserHashSize, report.UserHashSize)
	}
	salt := bytes.Repeat([]byte("s"), 32)
	other := bytes.Repeat([]byte("t"), 32)
	h := UserHash(salt, "admin")
	if h != UserHash(salt, "admin") {
		t.Error("not deterministic")
	}
	for name, g := range map[string][UserHashSize]byte{
		"other user":  UserHash(salt, "admin2"),
		"other case":  UserHash(salt, "Admin"),
		"other salt":  UserHash(other, "admin"),
		"empty user":  UserHash(salt, ""),
		"longer salt": UserHash(append(bytes.Clone(salt), 0), "admin"),
	} {
		if g == h {
			t.Errorf("%s: same hash", name)
		}
	}
	var r report.Sighting
	r.Users = append(r.Users, UserHash(salt, "root")) // assignable to report.UserHash

	f := DefaultFleet()
	if _, ok := f.UserHash("admin"); ok {
		t.Error("hashed without a salt")
	}
	s, err := NewSalt(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.Salt = s
	var errs []error
	f.validate(&errs)
	if len(errs) != 0 {
		t.Fatalf("NewSalt's salt does not validate: %v", errs)
	}
	raw, ok := f.SaltBytes()
	if !ok || len(raw) != SaltSize {
		t.Fatalf("SaltBytes = %d bytes, %v", len(raw), ok)
	}
	if got, ok := f.UserHash("admin"); !ok || got != UserHash(raw, "admin") {
		t.Error("Fleet.UserHash differs from UserHash")
	}
	if s2, _ := NewSalt(rand.Reader); s2 == s {
		t.Error("two salts are the same")
	}
	if _, err := NewSalt(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Error("a short read made a salt")
	}
	var nilFleet *Fleet
	if _, ok := nilFleet.UserHash("x"); ok {
		t.Error("a nil fleet hashed")
	}
}

func TestParseFleetSection(t *testing.T) {
	f, err := ParseFleet(nil)
	if err != nil || len(f.Scenarios) != len(DefaultFleet().Scenarios) {
		t.Fatalf("empty section: %d scenarios, err %v; want the defaults", len(f.Scenarios), err)
	}
	f, err = ParseFleet([]byte("scenarios:\n  - {name: fleet-bf, kinds: [auth-failure], window: 5m, members: 4, events: 12, member_cap: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Scenarios) != 1 || f.Scenarios[0].Members != 4 || f.MaxSources != DefaultFleet().MaxSources {
		t.Errorf("tuned section decoded as %+v", f)
	}
	for _, bad := range []string{
		"scenarios: [{name: fleet-x, kinds: [auth-failure], window: 5m, members: 1, events: 3, member_cap: 2}]", // one member alone
		"scenarios: [{name: fleet-x, kinds: [auth-failure], window: 5m, members: 3, events: 3, member_cap: 3}]", // a member's share reaches it
		"unknown_key: 1",
		"scenarios: [{name: x, kinds: [auth-failure], window: 5m, members: 3, events: 3, member_cap: 2}]",
	} {
		if _, err := ParseFleet([]byte(bad)); err == nil {
			t.Errorf("ParseFleet(%q) accepted it", bad)
		}
	}
}

// FuzzParseFleet: any text given as a fleet section (an admin API body)
// decodes or is refused, never panics, and what decodes validates.
func FuzzParseFleet(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("scenarios:\n  - {name: fleet-bf, kinds: [auth-failure], window: 10m, members: 3, events: 6, member_cap: 3}\n"))
	f.Add([]byte("max_sources: 0\nentries_per_minute: -1\n"))
	f.Add([]byte("scenarios: [{name: fleet-u, by: user, kinds: [invalid-user], window: 1h, members: 5, sources: 3, source_members: 2}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := ParseFleet(data)
		if err != nil {
			return
		}
		var errs []error
		fl.validate(&errs)
		if len(errs) > 0 {
			t.Fatalf("ParseFleet accepted a section that does not validate: %v", errs)
		}
	})
}
