package report

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"phalanx/identity"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func testIdentity(t testing.TB, n byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func alert() Report {
	return Report{
		Seq:      7,
		Time:     t0,
		Type:     TypeAlert,
		Scenario: "ssh-bf",
		Value:    netip.MustParsePrefix("203.0.113.9/32"),
		Reason:   "ssh-bf fired for 203.0.113.9 (count 6)",
		First:    t0.Add(-30 * time.Second),
		Last:     t0.Add(-time.Second),
		Count:    6,
		Evidence: []string{
			"Mar  1 12:00:00 host sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2",
			"Mar  1 12:00:01 host sshd[1]: Failed password for invalid user \x1b[31madmin from 203.0.113.9 port 22 ssh2",
		},
	}
}

func manual() Report {
	return Report{
		Seq: 1, Time: t0, Type: TypeManual, Scenario: "manual",
		Value: netip.MustParsePrefix("2001:db8:1::/48"), Duration: 24 * time.Hour, Reason: "abuse report #12",
	}
}

func pardon() Report {
	return Report{
		Seq: 2, Time: t0, Type: TypePardon, Scenario: "manual",
		Value: netip.MustParsePrefix("198.51.100.0/24"), Reason: "false positive",
	}
}

func enforced() Report {
	return Report{
		Seq: 3, Time: t0, Type: TypeEnforced, Scenario: "nftables",
		Value: netip.MustParsePrefix("203.0.113.9/32"), Reason: "alliance ban",
	}
}

func signed(t testing.TB, r Report) Report {
	t.Helper()
	r.Sign(testIdentity(t, 1))
	return r
}

// sameReport compares field by field, times by instant.
func sameReport(t *testing.T, got, want Report) {
	t.Helper()
	for _, p := range []struct {
		name string
		a, b time.Time
	}{{"Time", got.Time, want.Time}, {"First", got.First, want.First}, {"Last", got.Last, want.Last}} {
		if !p.a.Equal(p.b) {
			t.Errorf("%s = %v, want %v", p.name, p.a, p.b)
		}
	}
	got.Time, got.First, got.Last = time.Time{}, time.Time{}, time.Time{}
	want.Time, want.First, want.Last = time.Time{}, time.Time{}, time.Time{}
	if len(want.Evidence) == 0 {
		want.Evidence = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	v6 := alert()
	v6.Value = netip.MustParsePrefix("2001:db8::/64")
	local := alert()
	local.Time = t0.In(time.FixedZone("X", 3600))
	for name, r := range map[string]Report{"alert": alert(), "manual": manual(), "pardon": pardon(), "enforced": enforced(), "ipv6 range": v6, "local time": local} {
		t.Run(name, func(t *testing.T) {
			r := signed(t, r)
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(testIdentity(t, 1).Public); err != nil {
				t.Fatal(err)
			}
			wire := Marshal(&r)
			got, err := Unmarshal(wire)
			if err != nil {
				t.Fatal(err)
			}
			sameReport(t, got, r)
			if got.Time.Location() != time.UTC {
				t.Errorf("decoded time in %v, want UTC", got.Time.Location())
			}
			if err := got.Verify(testIdentity(t, 1).Public); err != nil {
				t.Errorf("decoded report does not verify: %v", err)
			}
			if got.ID() != r.ID() {
				t.Errorf("ID changed by the round trip")
			}
			if !bytes.Equal(Marshal(&got), wire) {
				t.Error("re-marshaled bytes differ")
			}
		})
	}
}

func TestGolden(t *testing.T) {
	// The wire form is what the durable stream keeps: it must not change
	// within a version. Regenerate with -update only for a new Version.
	for name, r := range map[string]Report{"alert": alert(), "manual": manual(), "pardon": pardon(), "sighting": sighting()} {
		r := signed(t, r)
		got := hex.Dump(Marshal(&r))
		path := filepath.Join("testdata", name+".v1.hex")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update once to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: wire form changed:\n%s\nwant\n%s", name, got, want)
		}
		idPath := filepath.Join("testdata", name+".v1.id")
		if *update {
			if err := os.WriteFile(idPath, []byte(r.ID()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		wantID, err := os.ReadFile(idPath)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID()+"\n" != string(wantID) {
			t.Errorf("%s: ID %s, want %s", name, r.ID(), wantID)
		}
	}
}

func TestTamper(t *testing.T) {
	pub := testIdentity(t, 1).Public
	for name, r := range map[string]Report{"alert": alert(), "manual": manual(), "pardon": pardon()} {
		r := signed(t, r)
		wire := Marshal(&r)
		for i := range wire {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(wire)
				b[i] ^= flip
				got, err := Unmarshal(b)
				if err != nil {
					if Reason(err) == "other" || Reason(err) == "" {
						t.Fatalf("%s byte %d ^%#x: error outside the catalogue: %v", name, i, flip, err)
					}
					continue
				}
				if err := got.Verify(pub); err == nil {
					t.Fatalf("%s: flipping byte %d with %#x still verifies", name, i, flip)
				} else if !errors.Is(err, ErrBadSignature) {
					t.Fatalf("%s: Verify error %v does not wrap ErrBadSignature", name, err)
				}
			}
		}
		// Cut at every length: never accepted.
		for n := range len(wire) {
			if _, err := Unmarshal(wire[:n]); err == nil {
				t.Fatalf("%s: accepted the first %d of %d bytes", name, n, len(wire))
			}
		}
	}
}

func TestVerify(t *testing.T) {
	r := signed(t, alert())
	other := testIdentity(t, 2)
	if err := r.Verify(other.Public); !errors.Is(err, ErrBadSignature) {
		t.Errorf("verified under another member's key: %v", err)
	}
	// Another member's signature over the same body, claiming member 1.
	forged := r
	forged.Sig = other.Sign(r.Body())
	if err := forged.Verify(testIdentity(t, 1).Public); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged signature verified: %v", err)
	}
	// Re-signed by member 2 but presented under member 2's key: fine.
	resigned := r
	resigned.Sign(other)
	if err := resigned.Verify(other.Public); err != nil {
		t.Errorf("re-signed report: %v", err)
	}
	if resigned.ID() == r.ID() {
		t.Error("two members' reports share an ID")
	}
	if err := r.Verify(nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("nil key: %v", err)
	}
	unsigned := alert()
	unsigned.Member = r.Member
	if err := unsigned.Verify(testIdentity(t, 1).Public); !errors.Is(err, ErrBadSignature) {
		t.Errorf("unsigned report: %v", err)
	}
	var zero identity.Identity
	z := alert()
	z.Sign(&zero)
	if err := z.Verify(testIdentity(t, 1).Public); err == nil {
		t.Error("report signed by the zero identity verified")
	}
}

func TestIDUnique(t *testing.T) {
	base := signed(t, alert())
	variants := map[string]func(*Report){
		"base":     func(*Report) {},
		"seq":      func(r *Report) { r.Seq++ },
		"time":     func(r *Report) { r.Time = r.Time.Add(time.Nanosecond) },
		"scenario": func(r *Report) { r.Scenario = "ssh-slow-bf" },
		"value":    func(r *Report) { r.Value = netip.MustParsePrefix("203.0.113.10/32") },
		"bits":     func(r *Report) { r.Value = netip.MustParsePrefix("203.0.113.0/24") },
		"reason":   func(r *Report) { r.Reason += "." },
		"count":    func(r *Report) { r.Count++ },
		"first":    func(r *Report) { r.First = r.First.Add(-time.Second) },
		"evidence": func(r *Report) { r.Evidence = r.Evidence[:1] },
		"split":    func(r *Report) { r.Evidence = []string{r.Evidence[0] + r.Evidence[1][:1], r.Evidence[1][1:]} },
		"type":     func(r *Report) { r.Type = TypeManual; r.First, r.Last, r.Count = time.Time{}, time.Time{}, 0 },
	}
	ids := map[string]string{}
	digests := map[[32]byte]string{}
	for name, change := range variants {
		r := base
		r.Evidence = append([]string(nil), base.Evidence...)
		change(&r)
		if prev, dup := ids[r.ID()]; dup {
			t.Errorf("%s and %s share an ID", name, prev)
		}
		ids[r.ID()] = name
		if name == "evidence" || name == "split" || name == "base" {
			d := r.EvidenceDigest()
			if prev, dup := digests[d]; dup {
				t.Errorf("%s and %s share an evidence digest", name, prev)
			}
			digests[d] = name
		}
	}
	a := base
	b := base
	b.Sig = nil
	if a.ID() != b.ID() || a.EvidenceDigest() != b.EvidenceDigest() {
		t.Error("ID or evidence digest depends on the signature")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	id := testIdentity(t, 1)
	// mk signs a variant of a valid report and returns its wire form.
	mk := func(base func() Report, change func(*Report)) []byte {
		r := base()
		change(&r)
		r.Sign(id)
		return Marshal(&r)
	}
	good := mk(alert, func(*Report) {})
	longest := alert()
	longest.Reason = strings.Repeat("r", MaxReasonLen)
	longest.Evidence = make([]string, MaxEvidence)
	for i := range longest.Evidence {
		longest.Evidence[i] = strings.Repeat("e", MaxEvidenceLine)
	}
	longest.Sign(id)
	if _, err := Unmarshal(Marshal(&longest)); err != nil {
		t.Fatalf("a report at every limit: %v", err)
	}

	cases := []struct {
		name string
		wire []byte
		want *Error
	}{
		{"empty", nil, ErrTruncated},
		{"version only", []byte{Version}, ErrTruncated},
		{"too large", append(bytes.Clone(good), make([]byte, MaxSize)...), ErrTooLarge},
		{"version 2", append([]byte{2}, good[1:]...), ErrVersion},
		{"version 0", append([]byte{0}, good[1:]...), ErrVersion},
		{"trailing byte", append(append(bytes.Clone(good[:len(good)-SigSize]), 0), good[len(good)-SigSize:]...), ErrTrailing},
		{"no signature", good[:len(good)-SigSize], ErrTruncated},
		{"short signature", good[:len(good)-1], ErrTruncated},
		{"type 0", mk(alert, func(r *Report) { r.Type = 0 }), ErrUnknownType},
		{"type 9", mk(alert, func(r *Report) { r.Type = 9 }), ErrUnknownType},
		{"seq 0", mk(alert, func(r *Report) { r.Seq = 0 }), ErrMalformed},
		{"zero time", mk(alert, func(r *Report) { r.Time = time.Time{} }), ErrBadTime},
		{"year 1999", mk(alert, func(r *Report) { r.Time = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC) }), ErrBadTime},
		{"year 2200", mk(alert, func(r *Report) { r.Time = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) }), ErrBadTime},
		{"empty scenario", mk(alert, func(r *Report) { r.Scenario = "" }), ErrMalformed},
		{"long scenario", mk(alert, func(r *Report) { r.Scenario = strings.Repeat("s", MaxScenarioLen+1) }), ErrLimit},
		{"scenario escape", mk(alert, func(r *Report) { r.Scenario = "ssh\x1b[2J" }), ErrBadText},
		{"scenario bad utf8", mk(alert, func(r *Report) { r.Scenario = "ssh\xff" }), ErrBadUTF8},
		{"no value", mk(alert, func(r *Report) { r.Value = netip.Prefix{} }), ErrBadPrefix},
		{"unmasked", mk(alert, func(r *Report) { r.Value = netip.MustParsePrefix("203.0.113.9/24") }), ErrBadPrefix},
		{"ipv4-mapped", mk(alert, func(r *Report) { r.Value = netip.MustParsePrefix("::ffff:203.0.113.9/128") }), ErrBadPrefix},
		{"long reason", mk(alert, func(r *Report) { r.Reason = strings.Repeat("r", MaxReasonLen+1) }), ErrLimit},
		{"reason newline", mk(alert, func(r *Report) { r.Reason = "a\nb" }), ErrBadText},
		{"reason C1", mk(alert, func(r *Report) { r.Reason = "a\u009bb" }), ErrBadText},
		{"alert duration", mk(alert, func(r *Report) { r.Duration = time.Hour }), ErrMalformed},
		{"alert no first", mk(alert, func(r *Report) { r.First = time.Time{} }), ErrBadTime},
		{"alert window reversed", mk(alert, func(r *Report) { r.First, r.Last = r.Last, r.First }), ErrBadTime},
		{"alert count 0", mk(alert, func(r *Report) { r.Count = 0 }), ErrLimit},
		{"alert count negative", mk(alert, func(r *Report) { r.Count = -1 }), ErrLimit},
		{"alert count huge", mk(alert, func(r *Report) { r.Count = MaxCount + 1 }), ErrLimit},
		{"evidence 17", mk(alert, func(r *Report) { r.Evidence = make([]string, MaxEvidence+1) }), ErrLimit},
		{"evidence long", mk(alert, func(r *Report) { r.Evidence = []string{strings.Repeat("e", MaxEvidenceLine+1)} }), ErrLimit},
		{"evidence newline", mk(alert, func(r *Report) { r.Evidence = []string{"a\nb"} }), ErrBadText},
		{"evidence bad utf8", mk(alert, func(r *Report) { r.Evidence = []string{"user \xc3\x28"} }), ErrBadUTF8},
		{"manual negative", mk(manual, func(r *Report) { r.Duration = -time.Second }), ErrLimit},
		{"manual too long", mk(manual, func(r *Report) { r.Duration = MaxDuration + 1 }), ErrLimit},
		{"manual with window", mk(manual, func(r *Report) { r.First, r.Last = t0, t0 }), ErrMalformed},
		{"manual with count", mk(manual, func(r *Report) { r.Count = 3 }), ErrMalformed},
		{"pardon duration", mk(pardon, func(r *Report) { r.Duration = time.Hour }), ErrMalformed},
		{"enforced duration", mk(enforced, func(r *Report) { r.Duration = time.Hour }), ErrMalformed},
		{"enforced with count", mk(enforced, func(r *Report) { r.Count = 1 }), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Unmarshal(c.wire)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if Reason(err) != c.want.Reason() {
				t.Errorf("Reason = %q, want %q", Reason(err), c.want.Reason())
			}
		})
	}
}

func TestBadLengthFields(t *testing.T) {
	// Hand-made bodies whose length fields lie: bounded, never a panic.
	good := Marshal(ptr(signed(t, alert())))
	body := good[:len(good)-SigSize]
	sig := good[len(good)-SigSize:]
	// Offsets: version 1, type 1, member length at 2.
	cases := map[string]func(b []byte){
		"member length huge":  func(b []byte) { copy(b[2:], []byte{0xff, 0xff, 0xff, 0xff}) },
		"member length short": func(b []byte) { copy(b[2:], []byte{0, 0, 0, 3}) },
		"evidence count huge": func(b []byte) { copy(b[evidenceCountOffset(t, b):], []byte{0xff, 0xff, 0xff, 0xff}) },
		"evidence count 3":    func(b []byte) { copy(b[evidenceCountOffset(t, b):], []byte{0, 0, 0, 3}) },
		"family 5":            func(b []byte) { b[familyOffset(b)] = 5 },
		"bits 33":             func(b []byte) { b[familyOffset(b)+5] = 33 },
	}
	for name, change := range cases {
		b := bytes.Clone(body)
		change(b)
		if _, err := Unmarshal(append(b, sig...)); err == nil || Reason(err) == "other" {
			t.Errorf("%s: err = %v, want a catalogue error", name, err)
		}
	}
}

func familyOffset(b []byte) int {
	off := 2 + 4 + identity.IDLen + 8 + 8 // member, seq, time
	n := int(b[off])<<24 | int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
	return off + 4 + n
}

func evidenceCountOffset(t *testing.T, body []byte) int {
	t.Helper()
	// The evidence count follows the count; find it by re-encoding without evidence.
	r, err := Unmarshal(append(bytes.Clone(body), make([]byte, SigSize)...))
	if err != nil {
		t.Fatal(err)
	}
	r.Evidence = nil
	return len(r.Body()) - 4
}

func ptr[T any](v T) *T { return &v }

func TestReason(t *testing.T) {
	if Reason(nil) != "" {
		t.Error("Reason(nil) is not empty")
	}
	if Reason(errors.New("x")) != "other" {
		t.Error("foreign error not reported as other")
	}
	seen := map[string]bool{}
	for _, e := range []*Error{ErrTooLarge, ErrTruncated, ErrTrailing, ErrVersion, ErrUnknownType, ErrBadUTF8, ErrBadText, ErrBadPrefix, ErrBadTime, ErrLimit, ErrMalformed, ErrBadSignature} {
		if seen[e.Reason()] {
			t.Errorf("reason %q used twice", e.Reason())
		}
		seen[e.Reason()] = true
	}
}

func TestCleaners(t *testing.T) {
	cases := []struct {
		in        string
		max       int
		text, raw string
	}{
		{"plain", 100, "plain", "plain"},
		{"a\nb\rc", 100, "a\ufffdb\ufffdc", "a\ufffdb\ufffdc"},
		{"tab\there", 100, "tab\ufffdhere", "tab\there"},
		{"esc\x1b[31m", 100, "esc\ufffd[31m", "esc\x1b[31m"},
		{"bad\xffutf8", 100, "bad\ufffdutf8", "bad\ufffdutf8"},
		{"héllo", 2, "h", "h"}, // no split é
	}
	for _, c := range cases {
		if got := Text(c.in, c.max); got != c.text {
			t.Errorf("Text(%q, %d) = %q, want %q", c.in, c.max, got, c.text)
		}
		if c.max == 100 {
			if got := EvidenceLine([]byte(c.in)); got != c.raw {
				t.Errorf("EvidenceLine(%q) = %q, want %q", c.in, got, c.raw)
			}
		}
	}
	long := strings.Repeat("é", MaxEvidenceLine)
	if got := EvidenceLine([]byte(long)); len(got) > MaxEvidenceLine || !utf8.ValidString(got) || len(got) < MaxEvidenceLine-1 {
		t.Errorf("EvidenceLine of a long line: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	// Whatever goes in, the result validates.
	r := signed(t, alert())
	r.Reason = Text("\x00\xff\n"+strings.Repeat("x", 2*MaxReasonLen), MaxReasonLen)
	r.Evidence = []string{EvidenceLine([]byte("\xff\n\r" + strings.Repeat("y", 2*MaxEvidenceLine)))}
	r.Sign(testIdentity(t, 1))
	if err := r.Validate(); err != nil {
		t.Errorf("cleaned text does not validate: %v", err)
	}
}

func TestValidateUnsigned(t *testing.T) {
	r := alert()
	if err := r.Validate(); !errors.Is(err, ErrMalformed) {
		t.Errorf("unsigned report without member: %v", err)
	}
}

func TestTypeString(t *testing.T) {
	for ty, want := range map[Type]string{TypeAlert: "alert", TypeManual: "manual", TypePardon: "pardon", TypeEnforced: "enforced", TypeSighting: "sighting", TypeBatch: "batch", 0: "type(0)", 200: "type(200)"} {
		if got := ty.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(ty), got, want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, r := range []Report{alert(), manual(), pardon(), sighting(), batch()} {
		f.Add(Marshal(ptr(signed(f, r))))
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	pub := testIdentity(f, 1).Public
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Unmarshal(b)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("error outside the catalogue: %v", err)
			}
			return
		}
		if again := Marshal(&r); !bytes.Equal(again, b) {
			t.Fatalf("re-marshal differs:\n%x\n%x", again, b)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Unmarshal returned a report that does not validate: %v", err)
		}
		_ = r.Verify(pub)
		_ = r.ID()
		_ = r.EvidenceDigest()
	})
}

// TestCleanFitLinesAsTheyAre: the shortcut that returns a fit string as it
// is gives what the full rewrite gives, for lines with and without what
// it replaces, in both modes (evidence lines and reasons).
func TestCleanFitLinesAsTheyAre(t *testing.T) {
	for _, s := range []string{
		"", "plain ascii line", "tab\there", "esc \x1b[31m kept", "é and ünïcode", "\uFFFD literal",
		"bad \xff byte", "cr\rin", "lf\nin", "é then \xc3", "é then \n", "\x7f del", "\u0085 c1",
		strings.Repeat("y", MaxEvidenceLine), strings.Repeat("y", MaxEvidenceLine+1), strings.Repeat("é", 600),
	} {
		for _, raw := range []bool{true, false} {
			if got, want := clean(s, MaxEvidenceLine, raw), rewrite(s, MaxEvidenceLine, raw); got != want {
				t.Errorf("clean(%.40q, raw %v) = %.40q, the rewrite %.40q", s, raw, got, want)
			}
			if fit(s, MaxEvidenceLine, raw) && (!utf8.ValidString(s) || strings.ContainsAny(s, "\r\n")) {
				t.Errorf("fit(%.40q, raw %v) is true", s, raw)
			}
		}
		if got, want := EvidenceText(s), EvidenceLine([]byte(s)); got != want {
			t.Errorf("EvidenceText(%.40q) = %.40q, EvidenceLine %.40q", s, got, want)
		}
	}
}
