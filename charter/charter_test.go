package charter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx/identity"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func key(t testing.TB, n byte) ed25519.PublicKey {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id.Public
}

// three returns a valid three-member charter.
func three(t testing.TB) Charter {
	t.Helper()
	c := Default("example-fleet", NewMember("web-1", key(t, 1), netip.MustParsePrefix("192.0.2.10/32")))
	c.Members = append(c.Members,
		NewMember("web-2", key(t, 2), netip.MustParsePrefix("192.0.2.11/32"), netip.MustParsePrefix("2001:db8:2::/48")),
		NewMember("db-1", key(t, 3)))
	c.Territory = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	c.Policy.Decisive = []string{"ssh-bf"}
	c.Version = 3
	c.Fleet.Salt = testSalt
	return c
}

// testSalt is 32 bytes of a fixed pattern.
const testSalt = "c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ="

func TestDefault(t *testing.T) {
	m := NewMember("solo", key(t, 1))
	c := Default("solo", m)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Members[0].Founding {
		t.Error("founder is not founding")
	}
	for _, s := range []string{"ssh-bf", "ssh-probe", "anything"} {
		if !c.Policy.IsDecisive(s) {
			t.Errorf("%s is not decisive in a default charter", s)
		}
	}
	if c.Version != 1 {
		t.Errorf("version %d, want 1", c.Version)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := three(t)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "three.yaml")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("Marshal output changed:\n%s\nwant\n%s", out, want)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the charter:\n%+v\nwant\n%+v", back, c)
	}
	if back.Hash() != c.Hash() {
		t.Error("round trip changed the hash")
	}
	if !bytes.HasPrefix(out, []byte("# phalanx charter")) {
		t.Error("no header comment")
	}
}

const minimal = `
name: two
version: 1
members:
  - id: %ID1%
    public_key: %KEY1%
    founding: true
  - id: %ID2%
    public_key: %KEY2%
`

func fill(t *testing.T, doc string) []byte {
	t.Helper()
	r := strings.NewReplacer(
		"%ID1%", identity.MemberID(key(t, 1)), "%KEY1%", base64.StdEncoding.EncodeToString(key(t, 1)),
		"%ID2%", identity.MemberID(key(t, 2)), "%KEY2%", base64.StdEncoding.EncodeToString(key(t, 2)),
	)
	return []byte(r.Replace(doc))
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(fill(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Policy, DefaultPolicy()) {
		t.Errorf("policy %+v, want the defaults %+v", c.Policy, DefaultPolicy())
	}
	if !reflect.DeepEqual(c.Limits, DefaultLimits()) {
		t.Errorf("limits %+v, want the defaults %+v", c.Limits, DefaultLimits())
	}
	want := Policy{Quorum: 2, Window: 10 * time.Minute, Duration: 4 * time.Hour, EscalationWindow: 168 * time.Hour,
		MaxDuration: 168 * time.Hour, ManualMax: 8760 * time.Hour, Pardon: "founding"}
	if !reflect.DeepEqual(DefaultPolicy(), want) {
		t.Errorf("DefaultPolicy() = %+v, want the documented %+v", DefaultPolicy(), want)
	}
	if l := DefaultLimits(); l != (Limits{MaxPrefixV4: 16, MaxPrefixV6: 32, AlertPrefixV4: 32, AlertPrefixV6: 64, ReportsPerMinute: 600, Skew: 5 * time.Minute}) {
		t.Errorf("DefaultLimits() = %+v, not the documented values", l)
	}

	// A partial section keeps the defaults of the fields it leaves out.
	c, err = Parse(fill(t, minimal+"policy:\n  quorum: 1\n  decisive: [ssh-bf]\nlimits:\n  skew: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Quorum != 1 || c.Policy.Window != defaultWindow || c.Policy.Pardon != PardonFounding || c.Limits.Skew != 30*time.Second || c.Limits.MaxPrefixV4 != defaultV4 {
		t.Errorf("partial sections: %+v %+v", c.Policy, c.Limits)
	}
	// An empty (null) section is the defaults too.
	c, err = Parse(fill(t, minimal+"policy:\nlimits:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Policy, DefaultPolicy()) {
		t.Errorf("null policy: %+v", c.Policy)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty"},
		{"comment only", "# nothing\n", "empty"},
		{"unknown top key", minimal + "quorum: 2\n", "field quorum not found"},
		{"unknown policy key", minimal + "policy:\n  qourum: 2\n", "field qourum not found"},
		{"unknown member key", strings.Replace(minimal, "founding: true", "founder: true", 1), "field founder not found"},
		{"duplicate key", minimal + "version: 2\n", "already"},
		{"two documents", minimal + "---\n" + minimal, "more than one YAML document"},
		{"integer duration", minimal + "policy:\n  window: 600\n", "with a unit"},
		{"bad duration", minimal + "policy:\n  window: ten minutes\n", "with a unit"},
		{"address without length", minimal + "territory: [192.0.2.1]\n", "with their length"},
		{"unquoted star", minimal + "policy:\n  decisive: [*]\n", "quote it"},
		{"too large", minimal + "# " + strings.Repeat("x", MaxFileSize) + "\n", "larger than"},
		{"not a mapping", "- a\n- b\n", "decode YAML"},
		{"invalid after decode", strings.Replace(minimal, "founding: true", "founding: false", 1), "none is founding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(fill(t, c.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	k4 := key(t, 4)
	cases := []struct {
		name   string
		change func(c *Charter)
		want   string // in the error; "" = valid
	}{
		{"valid", func(*Charter) {}, ""},
		{"no name", func(c *Charter) { c.Name = "" }, "name: empty"},
		{"name with space", func(c *Charter) { c.Name = "my fleet" }, "use letters, digits, - and _"},
		{"name too long", func(c *Charter) { c.Name = strings.Repeat("n", MaxNameLen+1) }, "longer than"},
		{"version 0", func(c *Charter) { c.Version = 0 }, "version 0"},
		{"no members", func(c *Charter) { c.Members = nil }, "members: none"},
		{"no founding", func(c *Charter) { c.Members[0].Founding = false }, "none is founding"},
		{"wrong id", func(c *Charter) { c.Members[1].ID = identity.MemberID(k4) }, "does not match public_key; its id is " + identity.MemberID(key(t, 2))},
		{"bad base64", func(c *Charter) { c.Members[1].PublicKey = "not base64!" }, "not standard base64"},
		{"short key", func(c *Charter) { c.Members[1].PublicKey = base64.StdEncoding.EncodeToString(k4[:16]) }, "16 bytes"},
		{"non-canonical base64", func(c *Charter) {
			s := []byte(c.Members[1].PublicKey)
			s[len(s)-2]++ // the last character's unused bits
			c.Members[1].PublicKey = string(s)
		}, "not standard base64"},
		{"empty key", func(c *Charter) { c.Members[1].PublicKey = "" }, "public_key: empty"},
		{"duplicate member", func(c *Charter) { c.Members = append(c.Members, c.Members[0]) }, "list each member once"},
		{"member name control", func(c *Charter) { c.Members[0].Name = "web\x1b[2J" }, "control character"},
		{"member address unmasked", func(c *Charter) { c.Members[0].Addresses = []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")} }, "write 192.0.2.0/24"},
		{"member address mapped", func(c *Charter) {
			c.Members[0].Addresses = []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.10/128")}
		}, "write the IPv4 form, 192.0.2.10/32"},
		{"member address invalid", func(c *Charter) { c.Members[0].Addresses = []netip.Prefix{{}} }, "not a valid prefix"},
		{"too many addresses", func(c *Charter) { c.Members[0].Addresses = make([]netip.Prefix, MaxAddresses+1) }, "addresses, the limit"},
		{"territory unmasked", func(c *Charter) { c.Territory = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")} }, "territory[0]"},
		{"too much territory", func(c *Charter) {
			c.Territory = make([]netip.Prefix, MaxTerritory+1)
			for i := range c.Territory {
				c.Territory[i] = netip.MustParsePrefix("10.0.0.0/8")
			}
		}, "merge them"},
		{"decisive bad name", func(c *Charter) { c.Policy.Decisive = []string{"ssh bf"} }, "policy.decisive[0]"},
		{"decisive empty", func(c *Charter) { c.Policy.Decisive = []string{""} }, "policy.decisive[0]: empty"},
		{"decisive twice", func(c *Charter) { c.Policy.Decisive = []string{"ssh-bf", "ssh-bf"} }, "listed twice"},
		{"quorum 0", func(c *Charter) { c.Policy.Quorum = 0 }, "policy.quorum 0"},
		{"quorum above members", func(c *Charter) { c.Policy.Quorum = 4 }, "exceeds the 3 member(s)"},
		{"quorum above members, all decisive", func(c *Charter) { c.Policy.Quorum = 4; c.Policy.Decisive = []string{"*"} }, ""},
		{"window 0", func(c *Charter) { c.Policy.Window = 0 }, "policy.window"},
		{"window 2 days", func(c *Charter) { c.Policy.Window = 48 * time.Hour }, "policy.window"},
		{"duration 0", func(c *Charter) { c.Policy.Duration = 0 }, "policy.duration"},
		{"max below duration", func(c *Charter) { c.Policy.MaxDuration = time.Hour }, "shorter than policy.duration"},
		{"escalation negative", func(c *Charter) { c.Policy.EscalationWindow = -1 }, "policy.escalation_window"},
		{"escalation off", func(c *Charter) { c.Policy.EscalationWindow = 0 }, ""},
		{"manual max 0", func(c *Charter) { c.Policy.ManualMax = 0 }, "policy.manual_max_duration"},
		{"pardon nobody", func(c *Charter) { c.Policy.Pardon = "nobody" }, "policy.pardon"},
		{"pardon any", func(c *Charter) { c.Policy.Pardon = PardonAny }, ""},
		{"manual nobody", func(c *Charter) { c.Policy.Manual = "nobody" }, "policy.manual"},
		{"manual any", func(c *Charter) { c.Policy.Manual = PardonAny }, ""},
		{"v4 0", func(c *Charter) { c.Limits.MaxPrefixV4 = 0 }, "limits.max_prefix_v4"},
		{"v4 33", func(c *Charter) { c.Limits.MaxPrefixV4 = 33 }, "limits.max_prefix_v4"},
		{"v6 129", func(c *Charter) { c.Limits.MaxPrefixV6 = 129 }, "limits.max_prefix_v6"},
		{"rate 0", func(c *Charter) { c.Limits.ReportsPerMinute = 0 }, "limits.reports_per_minute"},
		{"skew 0", func(c *Charter) { c.Limits.Skew = 0 }, "limits.skew"},
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
	// Every problem is reported, not only the first.
	c := three(t)
	c.Name, c.Policy.Quorum, c.Limits.Skew = "", 0, 0
	err := c.Validate()
	for _, want := range []string{"name:", "policy.quorum", "limits.skew"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined error %v lacks %q", err, want)
		}
	}
}

func TestHashCanonical(t *testing.T) {
	c := three(t)
	base := c.Hash()
	// Same meaning in other YAML: flow style, other key order, comments,
	// members and prefixes reordered, a repeated prefix.
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	p.Members[0], p.Members[2] = p.Members[2], p.Members[0]
	p.Members[1].Addresses[0], p.Members[1].Addresses[1] = p.Members[1].Addresses[1], p.Members[1].Addresses[0]
	p.Territory = append(p.Territory, p.Territory[0])
	if p.Hash() != base {
		t.Error("reordering members and prefixes changed the hash")
	}
	var flow bytes.Buffer
	flow.WriteString("# another layout\nlimits: {skew: 5m0s, max_prefix_v6: 32}\npolicy: {pardon: founding, decisive: [ssh-bf], quorum: 2}\n")
	flow.WriteString("territory: [198.51.100.0/24]\nversion: 3\nname: example-fleet\nfleet: {salt: '" + testSalt + "'}\nmembers:\n")
	for _, m := range []Member{c.Members[2], c.Members[1], c.Members[0]} {
		flow.WriteString("- {public_key: " + m.PublicKey + ", id: " + m.ID + ", name: " + m.Name)
		if m.Founding {
			flow.WriteString(", founding: true")
		}
		if len(m.Addresses) > 0 {
			flow.WriteString(", addresses: [")
			for i, a := range m.Addresses {
				if i > 0 {
					flow.WriteString(", ")
				}
				flow.WriteString(a.String())
			}
			flow.WriteString("]")
		}
		flow.WriteString("}\n")
	}
	q, err := Parse(flow.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, flow.Bytes())
	}
	if q.Hash() != base {
		t.Errorf("another layout of the same charter hashes differently\n%s", flow.Bytes())
	}

	// Every change of meaning changes the hash.
	changes := map[string]func(c *Charter){
		"name":          func(c *Charter) { c.Name = "other" },
		"version":       func(c *Charter) { c.Version++ },
		"member name":   func(c *Charter) { c.Members[0].Name = "web-9" },
		"member key":    func(c *Charter) { c.Members[2] = NewMember("db-1", key(t, 9)) },
		"founding":      func(c *Charter) { c.Members[1].Founding = true },
		"address":       func(c *Charter) { c.Members[0].Addresses[0] = netip.MustParsePrefix("192.0.2.12/32") },
		"address moved": func(c *Charter) { c.Members[2].Addresses = c.Members[0].Addresses; c.Members[0].Addresses = nil },
		"territory":     func(c *Charter) { c.Territory = nil },
		"decisive":      func(c *Charter) { c.Policy.Decisive = []string{"*"} },
		"quorum":        func(c *Charter) { c.Policy.Quorum = 3 },
		"window":        func(c *Charter) { c.Policy.Window++ },
		"duration":      func(c *Charter) { c.Policy.Duration++ },
		"escalation":    func(c *Charter) { c.Policy.EscalationWindow++ },
		"max":           func(c *Charter) { c.Policy.MaxDuration++ },
		"manual max":    func(c *Charter) { c.Policy.ManualMax++ },
		"pardon":        func(c *Charter) { c.Policy.Pardon = PardonAny },
		"manual":        func(c *Charter) { c.Policy.Manual = PardonAny },
		"v4":            func(c *Charter) { c.Limits.MaxPrefixV4 = 24 },
		"v6":            func(c *Charter) { c.Limits.MaxPrefixV6 = 48 },
		"rate":          func(c *Charter) { c.Limits.ReportsPerMinute = 60 },
		"skew":          func(c *Charter) { c.Limits.Skew = time.Minute },
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

func TestIsTerritory(t *testing.T) {
	c := three(t)
	cases := map[string]bool{
		"127.0.0.1/32":          true,
		"127.9.9.0/24":          true,
		"0.0.0.0/32":            true,
		"0.0.0.0/0":             true,
		"::/0":                  true,
		"::1/128":               true,
		"::/128":                true,
		"169.254.1.1/32":        true,
		"fe80::1/128":           true,
		"224.0.0.251/32":        true,
		"ff02::1/128":           true,
		"255.255.255.255/32":    true,
		"192.0.2.10/32":         true, // web-1
		"192.0.2.0/24":          true, // holds web-1 and web-2
		"192.0.0.0/16":          true,
		"2001:db8:2::5/128":     true, // inside web-2's /48
		"2001:db8::/32":         true, // holds web-2's /48
		"198.51.100.77/32":      true, // declared territory
		"::ffff:0:0/96":         true, // the mapped space holds mapped loopback
		"::ffff:192.0.2.10/128": true, // mapped form of web-1
		"192.0.2.12/32":         false,
		"203.0.113.0/24":        false,
		"2001:db8:3::/48":       false,
		"64:ff9b::/96":          false,
		"198.51.101.0/24":       false,
	}
	for s, want := range cases {
		p := netip.MustParsePrefix(s)
		if got := c.IsTerritory(p); got != want {
			t.Errorf("IsTerritory(%s) = %v, want %v", s, got, want)
		}
	}
	if c.IsTerritory(netip.Prefix{}) {
		t.Error("the invalid prefix is territory")
	}
}

func TestMember(t *testing.T) {
	c := three(t)
	id := identity.MemberID(key(t, 2))
	m, pub, ok := c.Member(id)
	if !ok || m.Name != "web-2" || !pub.Equal(key(t, 2)) {
		t.Errorf("Member(%s) = %+v, %x, %v", id, m, pub, ok)
	}
	if _, _, ok := c.Member(identity.MemberID(key(t, 9))); ok {
		t.Error("found a member that is not in the charter")
	}
	c.Members[1].PublicKey = "broken"
	if _, _, ok := c.Member(id); ok {
		t.Error("returned a member whose key does not decode")
	}
}

func TestPolicyHelpers(t *testing.T) {
	p := DefaultPolicy()
	p.Decisive = []string{"ssh-bf"}
	if !p.IsDecisive("ssh-bf") || p.IsDecisive("ssh-slow-bf") || p.IsDecisive("") {
		t.Error("IsDecisive does not follow the list")
	}
	founder, other := Member{Founding: true}, Member{}
	if !p.MayPardon(founder) || p.MayPardon(other) {
		t.Error("founding policy")
	}
	if !p.MayBan(founder) || p.MayBan(other) {
		t.Error("manual unset follows pardon founding")
	}
	p.Manual = PardonAny
	if !p.MayBan(other) || p.MayPardon(other) {
		t.Error("manual any, pardon founding")
	}
	p.Manual = ""
	p.Pardon = PardonAny
	if !p.MayPardon(other) || !p.MayBan(other) {
		t.Error("any policy")
	}
	p.Manual = PardonFounding
	if p.MayBan(other) || !p.MayPardon(other) {
		t.Error("manual founding, pardon any")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	c := three(t)
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "charter.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != c.Hash() {
		t.Error("loaded charter differs")
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("loaded a missing file")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("error %v does not name the file", err)
	}
}

// FuzzParse: any text parses or is refused, never panics, and what parses
// survives Marshal. Its seeds include the costly shapes Parse refuses
// (testdata/fuzz/FuzzParse). The go fuzzer minimizes each new input for up
// to a minute (a few hundred bytes of charter take it that long), showing
// 0 execs/s meanwhile: run it with -fuzzminimizetime=2s to keep fuzzing.
func FuzzParse(f *testing.F) {
	c := three(f)
	out, err := c.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(out)
	c.Bouncers = []Bouncer{{Name: "fw-1", SHA256: strings.Repeat("ab", 32)}, {Name: "nginx@web:2", SHA256: strings.Repeat("0f", 32)}}
	if out, err = c.Marshal(); err != nil {
		f.Fatal(err)
	}
	f.Add(out)
	f.Add([]byte("name: x\nversion: 1\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// What Parse accepts survives Marshal and Parse with its hash.
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if back.Hash() != c.Hash() {
			t.Fatal("hash changed through Marshal")
		}
		_ = c.IsTerritory(netip.MustParsePrefix("192.0.2.1/32"))
	})
}

func TestFabricPorts(t *testing.T) {
	for _, tc := range []struct{ in, client, route, err string }{
		{in: "192.0.2.10:7422", client: "192.0.2.10:7422", route: "192.0.2.10:7423"},
		{in: "[2001:db8::1]:4222", client: "[2001:db8::1]:4222", route: "[2001:db8::1]:4223"},
		{in: "member-a.example:1", client: "member-a.example:1", route: "member-a.example:2"},
		{in: "192.0.2.10", err: "write host:port"},
		{in: ":7422", err: "the host must be"},
		{in: "0.0.0.0:7422", err: "cannot dial"},
		{in: "192.0.2.10:65535", err: "port must be"},
		{in: "192.0.2.10:65534", err: "port must be"},
		{in: "192.0.2.10:0", err: "port must be"},
		{in: "192.0.2.10:x", err: "port must be"},
	} {
		c, r, err := FabricPorts(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FabricPorts(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || c != tc.client || r != tc.route {
			t.Errorf("FabricPorts(%q) = %q, %q, %v; want %q, %q", tc.in, c, r, err, tc.client, tc.route)
		}
		if l, err := FabricLeaf(tc.in); err != nil || l != strings.Replace(r, r[strings.LastIndex(r, ":")+1:], "", 1)+strconv.Itoa(mustPort(t, r)+1) {
			t.Errorf("FabricLeaf(%q) = %q, %v; want port %d", tc.in, l, err, mustPort(t, r)+1)
		}
	}
}

func mustPort(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
