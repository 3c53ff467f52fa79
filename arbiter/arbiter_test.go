package arbiter

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/identity"
	"phalanx/report"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	c        charter.Charter
	a, b, c2 *identity.Identity // founding A; B; C
	x        *identity.Identity // not a member
	seq      map[string]uint64
}

func ident(t testing.TB, n byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newFixture returns three members (A founding, with address 192.0.2.10),
// territory 198.51.100.0/24, ssh-bf decisive, quorum 2 within 10m.
func newFixture(t testing.TB, change ...func(*charter.Charter)) *fixture {
	t.Helper()
	f := &fixture{a: ident(t, 1), b: ident(t, 2), c2: ident(t, 3), x: ident(t, 9), seq: map[string]uint64{}}
	f.c = charter.Default("test", charter.NewMember("a", f.a.Public, netip.MustParsePrefix("192.0.2.10/32")))
	f.c.Members = append(f.c.Members,
		charter.NewMember("b", f.b.Public, netip.MustParsePrefix("2001:db8:b::/48")),
		charter.NewMember("c", f.c2.Public))
	f.c.Territory = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	f.c.Policy.Decisive = []string{"ssh-bf"}
	for _, ch := range change {
		ch(&f.c)
	}
	if err := f.c.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// report builds and signs the next report of id (its next sequence).
func (f *fixture) report(id *identity.Identity, typ report.Type, value, scenario string, at time.Time) *report.Report {
	f.seq[id.ID]++
	r := &report.Report{
		Seq:      f.seq[id.ID],
		Time:     at,
		Type:     typ,
		Scenario: scenario,
		Value:    netip.MustParsePrefix(value).Masked(),
	}
	if typ == report.TypeAlert {
		r.First, r.Last, r.Count = at.Add(-time.Minute), at, 5
		r.Evidence = []string{"Failed password for root from " + value}
	}
	r.Sign(id)
	return r
}

func (f *fixture) alert(id *identity.Identity, value, scenario string, at time.Time) *report.Report {
	return f.report(id, report.TypeAlert, value, scenario, at)
}

// apply judges r as received when it was made.
func apply(a *Arbiter, r *report.Report) Outcome {
	return a.Apply(r, r.Time, r.Time)
}

func expect(t *testing.T, o Outcome, v Verdict, reason string) {
	t.Helper()
	if o.Verdict != v || o.Reason != reason {
		t.Fatalf("outcome %v %q, want %v %q (%+v)", o.Verdict, o.Reason, v, reason, o)
	}
}

func TestDecisive(t *testing.T) {
	f := newFixture(t)
	a := New(&f.c)
	r := f.alert(f.b, "203.0.113.9/32", "ssh-bf", t0)
	o := apply(a, r)
	expect(t, o, Decided, ReasonDecisive)
	want := phalanx.Decision{
		Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.MustParsePrefix("203.0.113.9/32"),
		Scenario: "ssh-bf", Start: t0, Until: t0.Add(4 * time.Hour),
		Reason: "ssh-bf reported by " + f.b.ID + " (decisive)",
	}
	if !reflect.DeepEqual(o.Decision, want) {
		t.Errorf("decision\n%+v\nwant\n%+v", o.Decision, want)
	}
	if !reflect.DeepEqual(o.Reports, []string{r.ID()}) {
		t.Errorf("reports %v, want [%s]", o.Reports, r.ID())
	}

	// "*" makes every scenario decisive.
	f = newFixture(t, func(c *charter.Charter) { c.Policy.Decisive = []string{"*"} })
	a = New(&f.c)
	expect(t, apply(a, f.alert(f.c2, "203.0.113.9/32", "anything-at-all", t0)), Decided, ReasonDecisive)
}

func TestQuorum(t *testing.T) {
	const v = "203.0.113.7/32"
	cases := []struct {
		name  string
		steps func(f *fixture) []*report.Report
		want  []Verdict
	}{
		{"two members", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, v, "ssh-user-enum", t0.Add(time.Minute))}
		}, []Verdict{Pending, Decided}},
		{"one member twice", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.a, v, "ssh-slow-bf", t0.Add(time.Minute))}
		}, []Verdict{Pending, Pending}},
		{"outside the window", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, v, "ssh-slow-bf", t0.Add(10*time.Minute+time.Second))}
		}, []Verdict{Pending, Pending}},
		{"at the window's edge", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, v, "ssh-slow-bf", t0.Add(10*time.Minute))}
		}, []Verdict{Pending, Decided}},
		{"out of order within the window", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0.Add(time.Minute)), f.alert(f.b, v, "ssh-slow-bf", t0)}
		}, []Verdict{Pending, Decided}},
		{"different values", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, "203.0.113.8/32", "ssh-slow-bf", t0)}
		}, []Verdict{Pending, Pending}},
		{"decided once, then corroborated", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, v, "ssh-slow-bf", t0), f.alert(f.c2, v, "ssh-slow-bf", t0.Add(time.Second))}
		}, []Verdict{Pending, Decided, Corroborated}},
		{"decisive report ends a pending quorum", func(f *fixture) []*report.Report {
			return []*report.Report{f.alert(f.a, v, "ssh-slow-bf", t0), f.alert(f.b, v, "ssh-bf", t0)}
		}, []Verdict{Pending, Decided}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a := New(&f.c)
			for i, r := range tc.steps(f) {
				if o := apply(a, r); o.Verdict != tc.want[i] {
					t.Fatalf("report %d: %v %q, want %v", i, o.Verdict, o.Reason, tc.want[i])
				}
			}
		})
	}

	// Three of three: every counted report is behind the decision, the
	// deciding one last.
	f := newFixture(t, func(c *charter.Charter) { c.Policy.Quorum = 3 })
	a := New(&f.c)
	r1 := f.alert(f.c2, v, "ssh-slow-bf", t0)
	r2 := f.alert(f.a, v, "ssh-slow-bf", t0.Add(time.Second))
	r3 := f.alert(f.b, v, "ssh-user-enum", t0.Add(2*time.Second))
	expect(t, apply(a, r1), Pending, ReasonQuorumPending)
	o := apply(a, r2)
	expect(t, o, Pending, ReasonQuorumPending)
	if !reflect.DeepEqual(o.Reports, []string{r1.ID(), r2.ID()}) {
		t.Errorf("pending reports %v", o.Reports)
	}
	o = apply(a, r3)
	expect(t, o, Decided, ReasonQuorum)
	if !reflect.DeepEqual(o.Reports, []string{r1.ID(), r2.ID(), r3.ID()}) {
		t.Errorf("decision reports %v, want all three in order", o.Reports)
	}
	if o.Decision.Start != r3.Time || o.Decision.Scenario != "ssh-user-enum" || o.Decision.Origin != phalanx.OriginAlliance {
		t.Errorf("decision %+v", o.Decision)
	}
	for _, id := range []string{f.a.ID, f.b.ID, f.c2.ID} {
		if !strings.Contains(o.Decision.Reason, id) {
			t.Errorf("reason %q does not name %s", o.Decision.Reason, id)
		}
	}
}

func TestRejects(t *testing.T) {
	f := newFixture(t)
	const v = "203.0.113.9/32"
	cases := []struct {
		name   string
		report func() *report.Report
		recv   time.Duration // received - report time
		reason string
	}{
		{"unknown member", func() *report.Report { return f.alert(f.x, v, "ssh-bf", t0) }, 0, ReasonUnknownMember},
		{"forged member", func() *report.Report {
			r := f.alert(f.x, v, "ssh-bf", t0)
			r.Member = f.a.ID // claims A, signed by X
			return r
		}, 0, ReasonBadSignature},
		{"tampered value", func() *report.Report {
			r := f.alert(f.b, v, "ssh-bf", t0)
			r.Value = netip.MustParsePrefix("203.0.113.10/32")
			return r
		}, 0, ReasonBadSignature},
		{"tampered seq", func() *report.Report {
			r := f.alert(f.b, v, "ssh-bf", t0)
			r.Seq += 100
			return r
		}, 0, ReasonBadSignature},
		{"no signature", func() *report.Report {
			r := f.alert(f.b, v, "ssh-bf", t0)
			r.Sig = nil
			return r
		}, 0, ReasonBadSignature},
		{"late", func() *report.Report { return f.alert(f.b, v, "ssh-bf", t0) }, 5*time.Minute + 1, ReasonStale},
		{"early", func() *report.Report { return f.alert(f.b, v, "ssh-bf", t0) }, -5*time.Minute - 1, ReasonStale},
		{"malformed", func() *report.Report {
			r := f.alert(f.b, v, "ssh-bf", t0)
			r.Seq = 0
			r.Sign(f.b)
			return r
		}, 0, ReasonMalformed},
		{"unmasked value", func() *report.Report {
			r := f.alert(f.b, v, "ssh-bf", t0)
			r.Value = netip.MustParsePrefix("203.0.113.9/24")
			r.Sign(f.b)
			return r
		}, 0, ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New(&f.c)
			r := tc.report()
			o := a.Apply(r, r.Time.Add(tc.recv), r.Time)
			expect(t, o, Rejected, tc.reason)
			if got := a.Rejected()[tc.reason]; got != 1 {
				t.Errorf("Rejected()[%q] = %d, want 1", tc.reason, got)
			}
		})
	}
	a := New(&f.c)
	expect(t, a.Apply(nil, t0, t0), Rejected, ReasonMalformed)

	// Within the skew is fine, either way.
	for _, d := range []time.Duration{5 * time.Minute, -5 * time.Minute} {
		r := f.alert(f.b, fmt.Sprintf("203.0.113.%d/32", 20+d/time.Minute), "ssh-bf", t0)
		expect(t, a.Apply(r, r.Time.Add(d), r.Time), Decided, ReasonDecisive)
	}
}

func TestStaleJudgedOnReceived(t *testing.T) {
	// A replay of the durable stream long after: judged against when the
	// fabric stored each report, not now. The decision comes out with its
	// Until in the past.
	f := newFixture(t)
	a := New(&f.c)
	r := f.alert(f.b, "203.0.113.9/32", "ssh-bf", t0)
	now := t0.Add(30 * 24 * time.Hour)
	o := a.Apply(r, t0.Add(time.Second), now)
	expect(t, o, Decided, ReasonDecisive)
	if o.Decision.Active(now) || !o.Decision.Until.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("decision %+v, want the original 4h ban, ended at now", o.Decision)
	}
	// now never changes an outcome.
	f2 := newFixture(t)
	a2 := New(&f2.c)
	r2 := f2.alert(f2.b, "203.0.113.9/32", "ssh-bf", t0)
	if o2 := a2.Apply(r2, t0.Add(time.Second), t0); !reflect.DeepEqual(o2, o) {
		t.Errorf("now changed the outcome:\n%+v\n%+v", o2, o)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t)
	a := New(&f.c)
	mk := func(seq uint64, i int) *report.Report {
		r := &report.Report{Seq: seq, Time: t0.Add(time.Duration(i) * time.Millisecond), Type: report.TypeAlert, Scenario: "ssh-slow-bf",
			Value: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32)}
		r.First, r.Last, r.Count = r.Time, r.Time, 1
		r.Sign(f.b)
		return r
	}
	steps := []struct {
		seq  uint64
		want string // "" = accepted
	}{
		{5, ""}, {3, ""}, {4, ""}, {5, ReasonReplayed}, {3, ReasonReplayed}, {1, ""}, {2, ""}, {1, ReasonReplayed},
		{ReplayWindow + 5000, ""}, {5000 + 1, ""}, {5000, ReasonReplayed}, {100, ReasonReplayed},
		{ReplayWindow + 4999, ""}, {ReplayWindow + 4999, ReasonReplayed}, {ReplayWindow + 5001, ""},
		{1 << 40, ""}, {1<<40 - 1, ""}, {ReplayWindow + 5001, ReasonReplayed},
	}
	for i, s := range steps {
		o := apply(a, mk(s.seq, i))
		if s.want == "" && o.Verdict == Rejected {
			t.Fatalf("step %d: seq %d rejected: %s", i, s.seq, o.Reason)
		}
		if s.want != "" && o.Reason != s.want {
			t.Fatalf("step %d: seq %d: %v %q, want %q", i, s.seq, o.Verdict, o.Reason, s.want)
		}
	}
	// Sequences are per member.
	r := f.alert(f.c2, "203.0.113.200/32", "ssh-slow-bf", t0)
	if r.Seq != 1 {
		t.Fatalf("seq %d", r.Seq)
	}
	if o := apply(a, r); o.Verdict == Rejected {
		t.Errorf("member C's seq 1 rejected: %s", o.Reason)
	}
	// A stale report does not use up its sequence; a rate-limited one does.
	r = f.alert(f.c2, "203.0.113.201/32", "ssh-slow-bf", t0)
	expect(t, a.Apply(r, t0.Add(time.Hour), t0), Rejected, ReasonStale)
	expect(t, apply(a, r), Pending, ReasonQuorumPending)
	expect(t, apply(a, r), Rejected, ReasonReplayed)
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 3 })
	a := New(&f.c)
	n := 0
	next := func(id *identity.Identity, at time.Time) Outcome {
		n++
		return apply(a, f.alert(id, fmt.Sprintf("203.0.113.%d/32", n), "ssh-slow-bf", at))
	}
	for i := range 3 {
		if o := next(f.b, t0); o.Verdict == Rejected {
			t.Fatalf("report %d of a burst of 3: %s", i+1, o.Reason)
		}
	}
	expect(t, next(f.b, t0), Rejected, ReasonRateLimited)
	expect(t, next(f.b, t0.Add(19*time.Second)), Rejected, ReasonRateLimited)
	if o := next(f.b, t0.Add(20*time.Second)); o.Verdict == Rejected {
		t.Fatalf("one report per 20s refused: %s", o.Reason)
	}
	expect(t, next(f.b, t0.Add(20*time.Second)), Rejected, ReasonRateLimited)
	// Another member has its own budget.
	if o := next(f.c2, t0); o.Verdict == Rejected {
		t.Fatalf("member C limited by B's reports: %s", o.Reason)
	}
	// After a quiet minute the whole burst is back.
	for i := range 3 {
		if o := next(f.b, t0.Add(2*time.Minute)); o.Verdict == Rejected {
			t.Fatalf("report %d after a quiet minute: %s", i+1, o.Reason)
		}
	}
	expect(t, next(f.b, t0.Add(2*time.Minute)), Rejected, ReasonRateLimited)
	if got := a.Rejected()[ReasonRateLimited]; got != 4 {
		t.Errorf("rate-limited count %d, want 4", got)
	}
}

func TestPolicyRefusals(t *testing.T) {
	cases := []struct {
		value  string
		reason string // "" = decided
	}{
		{"192.0.2.10/32", ReasonTerritory},     // member A
		{"192.0.2.0/24", ReasonTerritory},      // holds member A
		{"2001:db8:b::1/128", ReasonTerritory}, // inside member B's /48
		{"198.51.100.5/32", ReasonTerritory},   // declared territory
		{"127.0.0.1/32", ReasonTerritory},
		{"::1/128", ReasonTerritory},
		{"224.0.0.1/32", ReasonTerritory},
		{"fe80::1/128", ReasonTerritory},
		{"::fffe:0:0/95", ReasonTerritory}, // holds the IPv4-mapped space, so mapped loopback
		{"10.0.0.0/15", ReasonTooWide},
		{"10.0.0.0/16", ReasonAlertTooWide}, // a manual ban may
		{"2001:db8::/31", ReasonTooWide},
		{"2001:db9::/32", ReasonAlertTooWide},
		{"2001:db9::/64", ""},
		{"2001:db9::/63", ReasonAlertTooWide},
		{"203.0.113.0/31", ReasonAlertTooWide},
		{"0.0.0.0/0", ReasonTooWide},
		{"::/0", ReasonTooWide},
		{"203.0.113.9/32", ""},
		{"2001:db8:c::1/128", ""},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			f := newFixture(t)
			a := New(&f.c)
			o := apply(a, f.alert(f.b, tc.value, "ssh-bf", t0))
			if tc.reason == "" {
				expect(t, o, Decided, ReasonDecisive)
				return
			}
			expect(t, o, Refused, tc.reason)
			if a.Rejected()[tc.reason] != 1 {
				t.Errorf("refusal not counted: %v", a.Rejected())
			}
			// Manual bans are refused alike, except for the alerts' own
			// narrower width.
			if tc.reason == ReasonAlertTooWide {
				expect(t, apply(a, f.report(f.a, report.TypeManual, tc.value, "manual", t0)), Decided, ReasonManual)
				return
			}
			expect(t, apply(a, f.report(f.a, report.TypeManual, tc.value, "manual", t0)), Refused, tc.reason)
		})
	}
	// The whole address space stays refused even where limits would allow it.
	f := newFixture(t)
	f.c.Limits.MaxPrefixV4, f.c.Limits.MaxPrefixV6 = 0, 0 // beyond Validate: New must still refuse
	f.c.Limits.AlertPrefixV4, f.c.Limits.AlertPrefixV6 = 0, 0
	a := New(&f.c)
	expect(t, apply(a, f.alert(f.b, "0.0.0.0/0", "ssh-bf", t0)), Refused, ReasonTooWide)
	expect(t, apply(a, f.report(f.a, report.TypePardon, "::/0", "manual", t0)), Refused, ReasonTooWide)
	expect(t, apply(a, f.alert(f.b, "10.0.0.0/8", "ssh-bf", t0)), Decided, ReasonDecisive)
}

func TestManual(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Policy.ManualMax = 48 * time.Hour })
	a := New(&f.c)
	mk := func(id *identity.Identity, value string, d time.Duration) *report.Report {
		f.seq[id.ID]++
		r := &report.Report{Seq: f.seq[id.ID], Time: t0, Type: report.TypeManual, Scenario: "manual",
			Value: netip.MustParsePrefix(value), Duration: d, Reason: "abuse desk ticket 7"}
		r.Sign(id)
		return r
	}
	o := apply(a, mk(f.a, "203.0.113.1/32", 24*time.Hour))
	expect(t, o, Decided, ReasonManual)
	if o.Decision.Origin != phalanx.OriginManual || o.Decision.Until != t0.Add(24*time.Hour) || o.Decision.Scenario != "manual" {
		t.Errorf("decision %+v", o.Decision)
	}
	if !strings.Contains(o.Decision.Reason, f.a.ID) || !strings.Contains(o.Decision.Reason, "abuse desk ticket 7") {
		t.Errorf("reason %q", o.Decision.Reason)
	}
	o = apply(a, mk(f.a, "203.0.113.2/32", 1000*time.Hour))
	expect(t, o, Decided, ReasonManual)
	if o.Decision.Duration() != 48*time.Hour {
		t.Errorf("manual ban of 1000h lasts %v, want the 48h cap", o.Decision.Duration())
	}
	o = apply(a, mk(f.a, "203.0.113.3/32", 0))
	if o.Decision.Duration() != 4*time.Hour {
		t.Errorf("manual ban without duration lasts %v, want the policy's 4h", o.Decision.Duration())
	}
	// A manual ban is decided even while another ban is in force.
	expect(t, apply(a, mk(f.a, "203.0.113.1/32", 36*time.Hour)), Decided, ReasonManual)
	// Not founding: not allowed, unless the policy says any.
	expect(t, apply(a, mk(f.b, "203.0.113.4/32", time.Hour)), Refused, ReasonNotAllowed)
	expect(t, apply(a, f.report(f.b, report.TypePardon, "203.0.113.1/32", "manual", t0)), Refused, ReasonNotAllowed)
	f2 := newFixture(t, func(c *charter.Charter) { c.Policy.Pardon = charter.PardonAny })
	a2 := New(&f2.c)
	expect(t, apply(a2, f2.report(f2.b, report.TypeManual, "203.0.113.4/32", "manual", t0)), Decided, ReasonManual)
	expect(t, apply(a2, f2.report(f2.b, report.TypePardon, "203.0.113.4/32", "manual", t0)), Pardoned, ReasonPardon)
	// policy.manual any, pardon founding: anyone bans by hand (batches
	// too), only founders pardon.
	f3 := newFixture(t, func(c *charter.Charter) { c.Policy.Manual = charter.PardonAny })
	a3 := New(&f3.c)
	expect(t, apply(a3, f3.report(f3.b, report.TypeManual, "203.0.113.5/32", "manual", t0)), Decided, ReasonManual)
	expect(t, apply(a3, f3.report(f3.b, report.TypePardon, "203.0.113.5/32", "manual", t0)), Refused, ReasonNotAllowed)
	expect(t, apply(a3, f3.report(f3.a, report.TypePardon, "203.0.113.5/32", "manual", t0)), Pardoned, ReasonPardon)
	// policy.manual founding, pardon any: anyone lifts, founders ban.
	f4 := newFixture(t, func(c *charter.Charter) { c.Policy.Pardon, c.Policy.Manual = charter.PardonAny, charter.PardonFounding })
	a4 := New(&f4.c)
	expect(t, apply(a4, f4.report(f4.b, report.TypeManual, "203.0.113.6/32", "manual", t0)), Refused, ReasonNotAllowed)
	expect(t, apply(a4, f4.report(f4.a, report.TypeManual, "203.0.113.6/32", "manual", t0)), Decided, ReasonManual)
	expect(t, apply(a4, f4.report(f4.b, report.TypePardon, "203.0.113.6/32", "manual", t0)), Pardoned, ReasonPardon)
}

func TestEscalation(t *testing.T) {
	const v = "203.0.113.9/32"
	f := newFixture(t, func(c *charter.Charter) { c.Policy.EscalationWindow = 8760 * time.Hour })
	a := New(&f.c)
	at := t0
	var got []time.Duration
	for range 8 {
		o := apply(a, f.alert(f.b, v, "ssh-bf", at))
		expect(t, o, Decided, ReasonDecisive)
		got = append(got, o.Decision.Duration())
		at = o.Decision.Until.Add(time.Minute) // the next attack comes after the ban ends
	}
	want := []time.Duration{4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 32 * time.Hour, 64 * time.Hour, 128 * time.Hour, 168 * time.Hour, 168 * time.Hour}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("durations %v, want %v", got, want)
	}
	// Another value starts afresh.
	if o := apply(a, f.alert(f.b, "203.0.113.10/32", "ssh-bf", at)); o.Decision.Duration() != 4*time.Hour {
		t.Errorf("other value: %v", o.Decision.Duration())
	}
	// Past the escalation window, the count falls back.
	f = newFixture(t)
	a = New(&f.c)
	o := apply(a, f.alert(f.b, v, "ssh-bf", t0))
	o = apply(a, f.alert(f.b, v, "ssh-bf", o.Decision.Until.Add(time.Minute)))
	if o.Decision.Duration() != 8*time.Hour {
		t.Fatalf("second ban %v", o.Decision.Duration())
	}
	o = apply(a, f.alert(f.b, v, "ssh-bf", t0.Add(168*time.Hour+time.Minute)))
	if o.Decision.Duration() != 8*time.Hour || !strings.Contains(o.Decision.Reason, "1 earlier ban(s)") {
		t.Errorf("a week after the first ban: %v, %q; want 8h from the one earlier ban still in the window", o.Decision.Duration(), o.Decision.Reason)
	}
	o = apply(a, f.alert(f.b, v, "ssh-bf", t0.Add(3*168*time.Hour)))
	if o.Decision.Duration() != 4*time.Hour || strings.Contains(o.Decision.Reason, "earlier") {
		t.Errorf("weeks later: %v, %q; want a fresh 4h ban", o.Decision.Duration(), o.Decision.Reason)
	}
	// Escalation off.
	f = newFixture(t, func(c *charter.Charter) { c.Policy.EscalationWindow = 0 })
	a = New(&f.c)
	at = t0
	for range 3 {
		o := apply(a, f.alert(f.b, v, "ssh-bf", at))
		if o.Decision.Duration() != 4*time.Hour {
			t.Errorf("escalation off: %v", o.Decision.Duration())
		}
		at = o.Decision.Until.Add(time.Minute)
	}
}

func TestCorroborated(t *testing.T) {
	// Members see one attacker at about the same time: one ban, not an
	// escalating series.
	const v = "203.0.113.9/32"
	f := newFixture(t)
	a := New(&f.c)
	first := apply(a, f.alert(f.a, v, "ssh-bf", t0))
	expect(t, first, Decided, ReasonDecisive)
	for _, id := range []*identity.Identity{f.b, f.c2} {
		r := f.alert(id, v, "ssh-bf", t0.Add(2*time.Second))
		o := apply(a, r)
		expect(t, o, Corroborated, ReasonInForce)
		if !reflect.DeepEqual(o.Decision, first.Decision) || !reflect.DeepEqual(o.Reports, []string{r.ID()}) {
			t.Errorf("corroboration %+v", o)
		}
	}
	// A report from just before the ban, arriving late, corroborates too.
	expect(t, apply(a, f.alert(f.b, v, "ssh-slow-bf", t0.Add(-time.Minute))), Corroborated, ReasonInForce)
	// After the ban ends, a new one, escalated by the one before.
	o := apply(a, f.alert(f.b, v, "ssh-bf", first.Decision.Until))
	expect(t, o, Decided, ReasonDecisive)
	if o.Decision.Duration() != 8*time.Hour {
		t.Errorf("next ban %v, want 8h", o.Decision.Duration())
	}
	if a.Rejected()[ReasonInForce] != 0 {
		t.Error("corroboration counted as a rejection")
	}
}

func TestPardon(t *testing.T) {
	const v = "203.0.113.9/32"
	f := newFixture(t)
	a := New(&f.c)
	first := apply(a, f.alert(f.b, v, "ssh-bf", t0))
	expect(t, first, Decided, ReasonDecisive)
	apply(a, f.alert(f.c2, "203.0.113.77/32", "ssh-slow-bf", t0)) // pending, inside the pardon
	apply(a, f.alert(f.c2, "203.0.114.1/32", "ssh-slow-bf", t0))  // pending, outside it
	p := f.report(f.a, report.TypePardon, "203.0.113.0/24", "manual", t0.Add(time.Minute))
	o := apply(a, p)
	expect(t, o, Pardoned, ReasonPardon)
	if o.Pardon != netip.MustParsePrefix("203.0.113.0/24") || !reflect.DeepEqual(o.Reports, []string{p.ID()}) {
		t.Errorf("pardon outcome %+v", o)
	}
	// The ban is forgotten: the same attacker is banned again at once, for
	// the base duration.
	o = apply(a, f.alert(f.b, v, "ssh-bf", t0.Add(2*time.Minute)))
	expect(t, o, Decided, ReasonDecisive)
	if o.Decision.Duration() != 4*time.Hour {
		t.Errorf("ban after pardon %v, want 4h", o.Decision.Duration())
	}
	// The pending vote inside the pardon is gone; the one outside remains.
	expect(t, apply(a, f.alert(f.b, "203.0.113.77/32", "ssh-slow-bf", t0.Add(3*time.Minute))), Pending, ReasonQuorumPending)
	expect(t, apply(a, f.alert(f.b, "203.0.114.1/32", "ssh-slow-bf", t0.Add(3*time.Minute))), Decided, ReasonQuorum)
	// Pardoning territory is harmless and allowed; the whole space is not.
	expect(t, apply(a, f.report(f.a, report.TypePardon, "192.0.2.10/32", "manual", t0.Add(4*time.Minute))), Pardoned, ReasonPardon)
}

func TestVerdictString(t *testing.T) {
	seen := map[string]bool{}
	for v := Decided; v <= Noted; v++ {
		s := v.String()
		if strings.HasPrefix(s, "verdict(") || seen[s] {
			t.Errorf("verdict %d has name %q", v, s)
		}
		seen[s] = true
	}
	if Verdict(0).String() != "verdict(0)" {
		t.Error("zero verdict has a name")
	}
}

func TestCharterCopied(t *testing.T) {
	f := newFixture(t)
	a := New(&f.c)
	f.c.Policy.Decisive[0] = "nothing"
	f.c.Members = f.c.Members[:1]
	expect(t, apply(a, f.alert(f.b, "203.0.113.9/32", "ssh-bf", t0)), Decided, ReasonDecisive)
}

// stream makes a reproducible mix of good and bad reports.
func stream(t testing.TB, f *fixture, n int, seed uint64) []struct {
	r        *report.Report
	received time.Time
} {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := []*identity.Identity{f.a, f.b, f.c2, f.x}
	scenarios := []string{"ssh-bf", "ssh-slow-bf", "ssh-user-enum", "ssh-probe"}
	out := make([]struct {
		r        *report.Report
		received time.Time
	}, 0, n)
	at := t0
	for range n {
		at = at.Add(time.Duration(rng.IntN(int(20 * time.Second))))
		id := ids[rng.IntN(len(ids))]
		var value string
		switch rng.IntN(10) {
		case 0:
			value = "192.0.2.10/32" // territory
		case 1:
			value = fmt.Sprintf("10.%d.0.0/%d", rng.IntN(4), 12+rng.IntN(10))
		case 2:
			value = fmt.Sprintf("2001:db8:%x::/%d", rng.IntN(4), 24+4*rng.IntN(10))
		default:
			value = fmt.Sprintf("203.0.113.%d/32", rng.IntN(16))
		}
		when := at.Add(time.Duration(rng.IntN(int(2*time.Minute))) - time.Minute)
		typ := report.TypeAlert
		switch rng.IntN(20) {
		case 0:
			typ = report.TypeManual
		case 1:
			typ = report.TypePardon
		case 2:
			typ = report.TypeEnforced
		}
		r := f.report(id, typ, value, scenarios[rng.IntN(len(scenarios))], when)
		if typ == report.TypeManual || typ == report.TypePardon {
			r.Scenario = "manual"
			r.Sign(id)
		}
		switch rng.IntN(30) {
		case 0:
			r.Seq -= uint64(rng.IntN(3)) // replays
			r.Sign(id)
		case 1:
			r.Sig[0] ^= 1
		}
		received := at
		if rng.IntN(40) == 0 {
			received = at.Add(10 * time.Minute) // stale
		}
		out = append(out, struct {
			r        *report.Report
			received time.Time
		}{r, received})
	}
	return out
}

func TestDeterminism(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 4 })
	in := stream(t, f, 3000, 42)
	a1, a2 := New(&f.c), New(&f.c)
	verdicts := map[Verdict]int{}
	for i, s := range in {
		// The two differ in now, which must not matter.
		o1 := a1.Apply(s.r, s.received, s.received)
		o2 := a2.Apply(s.r, s.received, s.received.Add(time.Duration(i)*time.Hour))
		if !reflect.DeepEqual(o1, o2) {
			t.Fatalf("report %d: outcomes differ:\n%+v\n%+v", i, o1, o2)
		}
		verdicts[o1.Verdict]++
		if o1.Verdict == Decided {
			if f.c.IsTerritory(o1.Decision.Value) {
				t.Fatalf("report %d: decided a ban of territory %s", i, o1.Decision.Value)
			}
			if a1.limits.TooWide(o1.Decision.Value) {
				t.Fatalf("report %d: decided a ban of a range too wide: %s", i, o1.Decision.Value)
			}
			if !o1.Decision.Until.After(o1.Decision.Start) {
				t.Fatalf("report %d: empty ban %+v", i, o1.Decision)
			}
		}
	}
	if !reflect.DeepEqual(a1.Rejected(), a2.Rejected()) {
		t.Errorf("rejection counts differ: %v, %v", a1.Rejected(), a2.Rejected())
	}
	// The stream exercises every verdict (else the test proves little).
	for v := Decided; v <= Noted; v++ {
		if verdicts[v] == 0 {
			t.Errorf("no %v outcome in the stream: %v", v, verdicts)
		}
	}
	t.Logf("verdicts %v; rejected %v", verdicts, a1.Rejected())
}

func TestMemoryBounded(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) {
		c.Limits.ReportsPerMinute = charter.MaxReportsPerMin
		c.Limits.Skew = 24 * time.Hour
		c.Policy.Window = 24 * time.Hour
	})
	a := New(&f.c)
	a.maxCandidates, a.maxVotes, a.maxHistory = 50, 70, 40
	for i := range 500 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		v := fmt.Sprintf("203.0.%d.%d/32", i/256, i%256)
		// Pending candidates from two members (quorum 3 so none decides).
		apply(a, f.alert(f.b, v, "ssh-slow-bf", at))
		apply(a, f.alert(f.c2, v, "ssh-slow-bf", at))
		// Bans.
		apply(a, f.alert(f.a, fmt.Sprintf("198.18.%d.%d/32", i/256, i%256), "ssh-bf", at))
		if len(a.candidates) > a.maxCandidates || a.votes > a.maxVotes || len(a.history) > a.maxHistory {
			t.Fatalf("after %d: %d candidates, %d votes, %d records", i, len(a.candidates), a.votes, len(a.history))
		}
		if len(a.candOrder) > 2*a.maxCandidates+1100 || len(a.histOrder) > 2*a.maxHistory+1100 {
			t.Fatalf("order lists grew: %d, %d", len(a.candOrder), len(a.histOrder))
		}
	}
	total := 0
	for _, c := range a.candidates {
		total += len(c.votes)
	}
	if total != a.votes {
		t.Errorf("vote count %d, actual %d", a.votes, total)
	}
}

func TestForgetsWithTime(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = charter.MaxReportsPerMin })
	a := New(&f.c)
	for i := range 100 {
		apply(a, f.alert(f.b, fmt.Sprintf("203.0.113.%d/32", i), "ssh-slow-bf", t0))
		apply(a, f.alert(f.b, fmt.Sprintf("198.18.0.%d/32", i), "ssh-bf", t0))
	}
	if len(a.candidates) != 100 || len(a.history) != 100 {
		t.Fatalf("%d candidates, %d records", len(a.candidates), len(a.history))
	}
	// A report far later: pending votes past the window and bans past the
	// escalation window and their end are forgotten.
	later := t0.Add(169*time.Hour + 11*time.Minute)
	apply(a, f.alert(f.b, "203.0.113.250/32", "ssh-slow-bf", later))
	if len(a.candidates) != 1 || len(a.history) != 0 || a.votes != 1 {
		t.Errorf("after a week: %d candidates, %d votes, %d records", len(a.candidates), a.votes, len(a.history))
	}
}

func FuzzApply(f *testing.F) {
	fx := newFixture(f, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 30 })
	for _, s := range stream(f, fx, 20, 7) {
		f.Add(report.Marshal(s.r), int64(0))
	}
	f.Add([]byte{}, int64(time.Hour))
	ids := []*identity.Identity{fx.a, fx.b, fx.c2, fx.x}
	f.Fuzz(func(t *testing.T, data []byte, skew int64) {
		a := New(&fx.c)
		// The bytes as a report, as they would come off the fabric.
		if r, err := report.Unmarshal(data); err == nil {
			a.Apply(&r, r.Time.Add(time.Duration(skew)), t0)
		}
		// The bytes as a script of signed reports, so that the policy and
		// not only the signature check sees fuzzed input.
		seq := map[string]uint64{}
		for len(data) >= 8 {
			b := data[:8]
			data = data[8:]
			id := ids[int(b[0])%len(ids)]
			seq[id.ID] += uint64(b[1] % 3)
			r := &report.Report{
				Seq:      seq[id.ID],
				Time:     t0.Add(time.Duration(b[2]) * 37 * time.Second),
				Type:     report.Type(b[3] % 4),
				Scenario: []string{"ssh-bf", "ssh-slow-bf", "manual", "x"}[b[4]%4],
			}
			var addr netip.Addr
			if b[5]&1 == 0 {
				addr = netip.AddrFrom4([4]byte{b[6], b[7], b[5], b[4]})
			} else {
				addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, b[6], b[7], 0, 0, 0, 0, 0, 0, 0, 0, 0, b[5]})
			}
			r.Value, _ = addr.Prefix(int(b[7]) % (addr.BitLen() + 1))
			if r.Type == report.TypeAlert {
				r.First, r.Last, r.Count = r.Time, r.Time, 1
			}
			if r.Type == report.TypeManual {
				r.Duration = time.Duration(b[6]) * time.Hour
			}
			r.Sign(id)
			o := a.Apply(r, r.Time.Add(time.Duration(skew)), t0)
			if o.Verdict == 0 || o.Reason == "" {
				t.Fatalf("outcome without verdict or reason: %+v", o)
			}
			if o.Verdict == Decided {
				if fx.c.IsTerritory(o.Decision.Value) || a.limits.TooWide(o.Decision.Value) {
					t.Fatalf("decided %s", o.Decision.Value)
				}
				if id == fx.x {
					t.Fatal("a non-member's report decided")
				}
			}
		}
	})
}

func TestEnforcedIsNoted(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 1 })
	a := New(&f.c)
	// Enforcement records are not rate limited and decide nothing.
	for i := range 5 {
		r := f.report(f.b, report.TypeEnforced, "203.0.113.9/32", "nftables", t0.Add(time.Duration(i)*time.Millisecond))
		expect(t, apply(a, r), Noted, ReasonEnforced)
	}
	// They are still authenticated and not replayable.
	r := f.report(f.b, report.TypeEnforced, "203.0.113.9/32", "nftables", t0)
	expect(t, apply(a, r), Noted, ReasonEnforced)
	expect(t, apply(a, r), Rejected, ReasonReplayed)
	x := f.report(f.x, report.TypeEnforced, "203.0.113.9/32", "nftables", t0)
	expect(t, apply(a, x), Rejected, ReasonUnknownMember)
	// The member's alert is still judged (and not rate limited by them).
	expect(t, apply(a, f.alert(f.b, "203.0.113.10/32", "ssh-bf", t0.Add(time.Second))), Decided, ReasonDecisive)
}

func TestAmend(t *testing.T) {
	f := newFixture(t)
	a := New(&f.c)
	expect(t, apply(a, f.alert(f.c2, "203.0.113.9/32", "ssh-bf", t0)), Decided, ReasonDecisive)
	seen := f.alert(f.b, "203.0.113.10/32", "ssh-bf", t0.Add(time.Second))
	expect(t, apply(a, seen), Decided, ReasonDecisive)

	// Amendment: C removed, X added, 203.0.113.0/28 becomes territory.
	next := f.c
	next.Version++
	next.Members = []charter.Member{f.c.Members[0], f.c.Members[1], charter.NewMember("x", f.x.Public)}
	next.Territory = append(slices.Clone(f.c.Territory), netip.MustParsePrefix("203.0.113.16/28"))
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	a.Amend(&next)

	expect(t, apply(a, f.alert(f.c2, "203.0.113.40/32", "ssh-bf", t0.Add(2*time.Second))), Rejected, ReasonUnknownMember)
	expect(t, apply(a, f.alert(f.x, "203.0.113.41/32", "ssh-bf", t0.Add(2*time.Second))), Decided, ReasonDecisive)
	expect(t, apply(a, f.alert(f.b, "203.0.113.17/32", "ssh-bf", t0.Add(2*time.Second))), Refused, ReasonTerritory)
	// B's sequence state survived the amendment: its old report is a replay.
	expect(t, apply(a, seen), Rejected, ReasonReplayed)
	// The ban history survived too.
	expect(t, apply(a, f.alert(f.b, "203.0.113.9/32", "ssh-bf", t0.Add(3*time.Second))), Corroborated, ReasonInForce)
}

// TestRateLimitFutureDated: a member cannot buy a fresh burst by dating
// reports ahead of their arrival (within the skew).
func TestRateLimitFutureDated(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 6 })
	a := New(&f.c)
	allowed := 0
	for i := range 6 {
		r := f.alert(f.b, fmt.Sprintf("203.0.113.%d/32", i+1), "ssh-bf", t0)
		if o := a.Apply(r, t0, t0); o.Verdict != Rejected {
			allowed++
		}
	}
	if allowed != 6 {
		t.Fatalf("the first burst let %d of 6 through", allowed)
	}
	// Dated 4 minutes ahead, arriving a second later: still the same burst.
	for i := range 6 {
		r := f.alert(f.b, fmt.Sprintf("203.0.113.%d/32", i+20), "ssh-bf", t0.Add(4*time.Minute))
		expect(t, a.Apply(r, t0.Add(time.Second), t0.Add(time.Second)), Rejected, ReasonRateLimited)
	}
}

func TestDigest(t *testing.T) {
	f := newFixture(t, func(c *charter.Charter) { c.Limits.ReportsPerMinute = 4 })
	in := stream(t, f, 2000, 7)
	a1, a2 := New(&f.c), New(&f.c)
	for _, s := range in {
		a1.Apply(s.r, s.received, s.received)
		a2.Apply(s.r, s.received, s.received)
	}
	at := in[len(in)-1].received
	d1, n1 := a1.Digest(at)
	d2, n2 := a2.Digest(at)
	if d1 != d2 || n1 != n2 || n1 == 0 {
		t.Fatalf("same reports, digests %x (%d bans) and %x (%d bans)", d1[:6], n1, d2[:6], n2)
	}
	// One more ban on one side shows.
	a2.Apply(f.alert(f.b, "203.0.113.250/32", "ssh-bf", at), at, at)
	if d, n := a2.Digest(at); d == d1 || n != n1+1 {
		t.Fatalf("a missed ban does not change the digest (%d bans, was %d)", n, n1)
	}
	// A pardon shows too.
	a3 := New(&f.c)
	for _, s := range in {
		a3.Apply(s.r, s.received, s.received)
	}
	p := f.report(f.a, report.TypePardon, "203.0.113.0/28", "manual", at)
	a3.Apply(p, at, at)
	if d, _ := a3.Digest(at); d == d1 {
		t.Fatal("a pardon does not change the digest")
	}
	// Bans that ended are not in it.
	if _, n := a1.Digest(at.Add(365 * 24 * time.Hour)); n != 0 {
		t.Fatalf("%d bans in force a year later", n)
	}
}
