package arbiter

import (
	"encoding/base64"
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

var (
	testSalt  = []byte("fleet-test-salt-fleet-test-salt!")
	otherSalt = []byte("another-alliance-another-allianc")
)

// fleetFixture is an alliance of n members (member 0 founding) with the
// default fleet section and a salt, territory 198.51.100.0/24 (where the
// monitoring lives) and ssh-bf decisive.
type fleetFixture struct {
	c   charter.Charter
	ids []*identity.Identity
	seq map[string]uint64
}

func newFleetFixture(t testing.TB, n int, change ...func(*charter.Charter)) *fleetFixture {
	t.Helper()
	f := &fleetFixture{seq: map[string]uint64{}}
	for i := range n {
		f.ids = append(f.ids, ident(t, byte(i+1)))
	}
	f.c = charter.Default("fleet", charter.NewMember("m0", f.ids[0].Public, netip.MustParsePrefix("192.0.2.10/32")))
	for i := 1; i < n; i++ {
		f.c.Members = append(f.c.Members, charter.NewMember(fmt.Sprintf("m%d", i), f.ids[i].Public))
	}
	f.c.Territory = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	f.c.Policy.Decisive = []string{"ssh-bf"}
	f.c.Fleet.Salt = base64.StdEncoding.EncodeToString(testSalt)
	for _, ch := range change {
		ch(&f.c)
	}
	if err := f.c.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// sighting signs member i's next sighting made at at.
func (f *fleetFixture) sighting(i int, at time.Time, entries ...report.Sighting) *report.Report {
	id := f.ids[i]
	f.seq[id.ID]++
	r := &report.Report{
		Seq: f.seq[id.ID], Time: at, Type: report.TypeSighting,
		First: at.Add(-time.Second), Last: at,
		Sightings: report.Canonical(entries),
	}
	r.Sign(id)
	return r
}

func user(salt []byte, name string) report.UserHash { return charter.UserHash(salt, name) }

// fails is an entry of n sshd authentication failures from src, with the
// user names tried (hashed with the test salt).
func fails(src string, n int, users ...string) report.Sighting {
	e := report.Sighting{Source: netip.MustParsePrefix(src), Counts: []report.Count{{Service: "sshd", Kind: "auth-failure", N: n}}}
	for _, u := range users {
		e.Users = append(e.Users, user(testSalt, u))
	}
	return e
}

func probes(src string, n int) report.Sighting {
	return report.Sighting{Source: netip.MustParsePrefix(src), Counts: []report.Count{{Service: "sshd", Kind: "probe", N: n}}}
}

// feed applies reports in order and returns the outcomes.
func feed(a *Arbiter, rs ...*report.Report) []Outcome {
	out := make([]Outcome, len(rs))
	for i, r := range rs {
		out[i] = apply(a, r)
	}
	return out
}

func bans(o Outcome) []string {
	var s []string
	for _, b := range o.Fleet {
		s = append(s, b.Decision.Scenario+" "+b.Decision.Value.String())
	}
	return s
}

// TestFleetDistributedAttacker: two failures on each of 20 members, never
// enough for any of them, banned at the sighting that completes fleet-bf
// (the fifth: 10 failures from 5 members), not before; later sightings of
// the banned source are not counted again.
func TestFleetDistributedAttacker(t *testing.T) {
	f := newFleetFixture(t, 20)
	a := New(&f.c)
	const src = "203.0.113.50/32"
	var decided []int
	var ban FleetBan
	var deciding *report.Report
	for i := range 20 {
		r := f.sighting(i, t0.Add(time.Duration(i)*10*time.Second), fails(src, 2))
		o := apply(a, r)
		if o.Verdict != Sighted {
			t.Fatalf("sighting %d: %v %s", i, o.Verdict, o.Reason)
		}
		if len(o.Fleet) > 0 {
			decided = append(decided, i)
			ban, deciding = o.Fleet[0], r
			if o.Reason != ReasonFleet || len(o.Fleet) != 1 || !reflect.DeepEqual(o.Reports, []string{r.ID()}) {
				t.Errorf("deciding outcome %+v", o)
			}
		} else if i > 4 && o.Entries.InForce != 1 {
			t.Errorf("sighting %d after the ban: %+v, want the source in force", i, o.Entries)
		}
	}
	if !slices.Equal(decided, []int{4}) {
		t.Fatalf("fleet bans at sightings %v, want only at the fifth (index 4)", decided)
	}
	d := ban.Decision
	if d.Scenario != "fleet-bf" || d.Origin != phalanx.OriginAlliance || d.Value != netip.MustParsePrefix(src) ||
		!d.Start.Equal(deciding.Time) || d.Until != d.Start.Add(4*time.Hour) || d.Type != "ban" {
		t.Errorf("decision %+v", d)
	}
	// Explain: which members saw what and when.
	if len(ban.Contributions) != 5 {
		t.Fatalf("%d contributions, want 5: %+v", len(ban.Contributions), ban.Contributions)
	}
	for i, c := range ban.Contributions {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if c.Member != f.ids[i].ID || c.Events != 2 || !c.First.Equal(at) || !c.Last.Equal(at) || len(c.Reports) != 1 || c.Source != d.Value {
			t.Errorf("contribution %d: %+v", i, c)
		}
		if !strings.Contains(d.Reason, c.Member+" 2") {
			t.Errorf("reason %q does not name %s", d.Reason, c.Member)
		}
	}
	if !ban.First.Equal(t0) || !ban.Last.Equal(deciding.Time) {
		t.Errorf("window %v..%v", ban.First, ban.Last)
	}
	if !strings.HasPrefix(d.Reason, "fleet-bf: 10 events from 5 members within 10m: ") {
		t.Errorf("reason %q", d.Reason)
	}
	// Recorded like any alliance ban: an alert for it corroborates, the
	// digest counts it.
	if _, n := a.Digest(deciding.Time); n != 1 {
		t.Errorf("digest holds %d bans, want 1", n)
	}
	st := a.FleetStats()
	if st.Bans != 1 || st.Sightings != 20 || st.Entries != 20 || st.Counted != 5 || st.InForce != 15 || st.Sources != 0 {
		t.Errorf("stats %+v", st)
	}
	id := f.ids[7]
	f.seq[id.ID]++
	alert := &report.Report{Seq: f.seq[id.ID], Time: deciding.Time.Add(time.Hour), Type: report.TypeAlert, Scenario: "ssh-slow-bf",
		Value: d.Value, First: deciding.Time, Last: deciding.Time.Add(time.Hour), Count: 3}
	alert.Sign(id)
	if o := apply(a, alert); o.Verdict != Corroborated || o.Decision.Scenario != "fleet-bf" {
		t.Errorf("an alert for the fleet-banned source: %v %+v", o.Verdict, o.Decision)
	}
}

// TestFleetSeveralBans: one sighting that completes scenarios for several
// sources bans each, in entry order.
func TestFleetSeveralBans(t *testing.T) {
	f := newFleetFixture(t, 5)
	a := New(&f.c)
	srcs := []string{"203.0.113.30/32", "2001:db8:30::/64", "192.0.2.30/32"}
	for i := range 2 {
		var es []report.Sighting
		for _, s := range srcs {
			es = append(es, fails(s, 4))
		}
		if o := apply(a, f.sighting(i, t0.Add(time.Duration(i)*time.Second), es...)); len(o.Fleet) != 0 {
			t.Fatalf("banned early: %v", bans(o))
		}
	}
	o := apply(a, f.sighting(2, t0.Add(2*time.Second), fails(srcs[0], 2), fails(srcs[1], 2), fails(srcs[2], 2), probes("203.0.113.31/32", 1)))
	want := []string{"fleet-bf 192.0.2.30/32", "fleet-bf 203.0.113.30/32", "fleet-bf 2001:db8:30::/64"}
	if !slices.Equal(bans(o), want) || o.Entries.Counted != 4 {
		t.Errorf("bans %v (entries %+v), want %v", bans(o), o.Entries, want)
	}
}

// TestFleetOneMember: however much one member sights, it never causes a
// fleet ban by itself, and its records for a source stay bounded.
func TestFleetOneMember(t *testing.T) {
	f := newFleetFixture(t, 6)
	a := New(&f.c)
	for i := range 2000 {
		at := t0.Add(time.Duration(i) * time.Second)
		r := f.sighting(1, at,
			fails("203.0.113.7/32", 5, "root", "admin"),
			probes("203.0.113.8/32", 3),
			fails(fmt.Sprintf("203.0.114.%d/32", i%200), 9, "admin"),
		)
		o := apply(a, r)
		if o.Verdict != Sighted || len(o.Fleet) != 0 {
			t.Fatalf("sighting %d: %v %s %v", i, o.Verdict, o.Reason, bans(o))
		}
	}
	st := a.FleetStats()
	if st.Bans != 0 || st.Coalesced == 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Records > 202*MaxMemberRecords {
		t.Errorf("%d records held for 202 sources of one member", st.Records)
	}
	// A second member's two failures are not enough either (fleet-bf
	// needs three members); a third member's three complete it, the first
	// member counting 5 only (its cap): 5 + 2 + 3.
	o := apply(a, f.sighting(2, t0.Add(2000*time.Second), fails("203.0.113.7/32", 2)))
	if len(o.Fleet) != 0 {
		t.Fatalf("two members banned: %v", bans(o))
	}
	o = apply(a, f.sighting(3, t0.Add(2001*time.Second), fails("203.0.113.7/32", 3)))
	if !slices.Equal(bans(o), []string{"fleet-bf 203.0.113.7/32"}) {
		t.Fatalf("three members: bans %v", bans(o))
	}
	if c := o.Fleet[0].Contributions; len(c) != 3 || c[0].Member != f.ids[1].ID || c[0].Events != 5 {
		t.Errorf("contributions %+v", c)
	}
}

// TestFleetMemberCap: one member's many failures count as member_cap.
func TestFleetMemberCap(t *testing.T) {
	f := newFleetFixture(t, 5)
	a := New(&f.c)
	const src = "203.0.113.9/32"
	o := feed(a,
		f.sighting(0, t0, fails(src, 100)),
		f.sighting(1, t0.Add(time.Second), fails(src, 1)),
		f.sighting(2, t0.Add(2*time.Second), fails(src, 1)), // 5 + 1 + 1 = 7
		f.sighting(3, t0.Add(3*time.Second), fails(src, 2)), // 9
		f.sighting(4, t0.Add(4*time.Second), fails(src, 1)), // 10
	)
	for i, want := range []int{0, 0, 0, 0, 1} {
		if len(o[i].Fleet) != want {
			t.Fatalf("sighting %d: bans %v, want %d", i, bans(o[i]), want)
		}
	}
	if !strings.HasPrefix(o[4].Fleet[0].Decision.Reason, "fleet-bf: 10 events from 5 members") {
		t.Errorf("reason %q", o[4].Fleet[0].Decision.Reason)
	}
	// The cap holds across sightings: 5 sightings of 2 count 5.
	o = feed(a,
		f.sighting(0, t0.Add(time.Minute), fails("203.0.113.10/32", 2)),
		f.sighting(0, t0.Add(time.Minute+1), fails("203.0.113.10/32", 2)),
		f.sighting(0, t0.Add(time.Minute+2), fails("203.0.113.10/32", 2)),
		f.sighting(0, t0.Add(time.Minute+3), fails("203.0.113.10/32", 2)),
		f.sighting(0, t0.Add(time.Minute+4), fails("203.0.113.10/32", 2)),
		f.sighting(1, t0.Add(time.Minute+5), fails("203.0.113.10/32", 1)),
		f.sighting(2, t0.Add(time.Minute+6), fails("203.0.113.10/32", 1)), // 5 + 1 + 1
		f.sighting(3, t0.Add(time.Minute+7), fails("203.0.113.10/32", 3)), // 10
	)
	for i := range o {
		if got := len(o[i].Fleet); got != boolInt(i == 7) {
			t.Errorf("cap across sightings, sighting %d: bans %v", i, bans(o[i]))
		}
	}
	// Ten failures from two members are not enough: fleet-bf needs three.
	o = feed(a,
		f.sighting(0, t0.Add(2*time.Minute), fails("203.0.113.11/32", 5)),
		f.sighting(1, t0.Add(2*time.Minute+1), fails("203.0.113.11/32", 5)),
		f.sighting(2, t0.Add(2*time.Minute+2), fails("203.0.113.11/32", 1)),
	)
	if len(o[1].Fleet) != 0 || len(o[2].Fleet) != 1 {
		t.Errorf("two members: %v; a third: %v", bans(o[1]), bans(o[2]))
	}
}

// TestFleetUserStuffing: one user name failing on 6 members from 3
// sources bans each source that two members saw, when they saw it.
func TestFleetUserStuffing(t *testing.T) {
	f := newFleetFixture(t, 8)
	a := New(&f.c)
	s1, s2, s3, s4 := "203.0.113.1/32", "203.0.113.2/32", "2001:db8:77:1::/64", "203.0.113.4/32"
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	o := feed(a,
		f.sighting(0, at(0), fails(s1, 1, "admin"), fails(s4, 1, "admin")),
		f.sighting(1, at(1), fails(s1, 1, "admin")),
		f.sighting(2, at(2), fails(s2, 1, "admin")),
		f.sighting(3, at(3), fails(s2, 1, "admin")),
		f.sighting(4, at(4), fails(s3, 1, "admin")), // 5 members, 4 sources: s1 and s2 were seen by two
		f.sighting(5, at(5), fails(s3, 1, "admin")), // s3 by two now
		f.sighting(6, at(6), fails(s4, 1, "other")), // another user: s4 stays one member's word
	)
	want := [][]string{nil, nil, nil, nil,
		{"fleet-user-stuffing 203.0.113.1/32", "fleet-user-stuffing 203.0.113.2/32"},
		{"fleet-user-stuffing 2001:db8:77:1::/64"},
		nil}
	for i := range o {
		if !slices.Equal(bans(o[i]), want[i]) {
			t.Errorf("sighting %d: bans %v, want %v", i, bans(o[i]), want[i])
		}
	}
	b := o[4].Fleet[0]
	h := user(testSalt, "admin")
	if b.User == "" || !strings.HasPrefix(b.User, fmt.Sprintf("%x", h[:4])) {
		t.Errorf("user %q", b.User)
	}
	if !strings.Contains(b.Decision.Reason, "failed on 5 members from 4 sources within 1h; from 203.0.113.1/32 on "+f.ids[0].ID+", "+f.ids[1].ID) {
		t.Errorf("reason %q", b.Decision.Reason)
	}
	if c := b.Contributions; len(c) != 2 || c[0].Member != f.ids[0].ID || c[1].Member != f.ids[1].ID ||
		c[0].Source != netip.MustParsePrefix(s1) || c[0].Events != 1 || !c[1].First.Equal(at(1)) || len(c[1].Reports) != 1 {
		t.Errorf("contributions %+v", c)
	}
	// Later sightings of a banned source are not counted again, and a new
	// source two members see is banned while the user stays hot.
	o = feed(a,
		f.sighting(6, at(7), fails(s1, 1, "admin"), fails("203.0.113.5/32", 1, "admin")),
		f.sighting(7, at(8), fails("203.0.113.5/32", 1, "admin")),
	)
	if o[0].Entries.InForce != 1 || len(o[0].Fleet) != 0 || !slices.Equal(bans(o[1]), []string{"fleet-user-stuffing 203.0.113.5/32"}) {
		t.Errorf("after the bans: %+v %v", o[0].Entries, bans(o[1]))
	}
}

// TestFleetScan: one probe on each of 5 members within a minute bans; the
// same spread over five minutes does not.
func TestFleetScan(t *testing.T) {
	f := newFleetFixture(t, 6)
	a := New(&f.c)
	var got []string
	for i := range 5 {
		got = append(got, bans(apply(a, f.sighting(i, t0.Add(time.Duration(i)*12*time.Second), probes("203.0.113.60/32", 1))))...)
	}
	if !slices.Equal(got, []string{"fleet-scan 203.0.113.60/32"}) {
		t.Errorf("fast scan: %v", got)
	}
	got = nil
	for i := range 6 {
		got = append(got, bans(apply(a, f.sighting(i, t0.Add(time.Hour+time.Duration(i)*time.Minute), probes("203.0.113.61/32", 1))))...)
	}
	if len(got) != 0 {
		t.Errorf("slow scan: %v", got)
	}
}

// TestFleetSlowBF: failures spread over hours from three members reach
// fleet-slow-bf's 20 (each member at most 8), never fleet-bf.
func TestFleetSlowBF(t *testing.T) {
	f := newFleetFixture(t, 4)
	a := New(&f.c)
	const src = "203.0.113.70/32"
	var got []string
	for k := range 8 { // member k%3 sees 3 failures every 2 hours
		got = append(got, bans(apply(a, f.sighting(k%3, t0.Add(time.Duration(k)*2*time.Hour), fails(src, 3))))...)
		if k < 6 && len(got) > 0 {
			t.Fatalf("banned after %d sightings: %v", k+1, got)
		}
	}
	// Six sightings make 6 from each of three members, 18; the seventh
	// makes member 0's 9, counted as its cap of 8: 20.
	if !slices.Equal(got, []string{"fleet-slow-bf " + src}) {
		t.Errorf("bans %v", got)
	}
}

// TestFleetLegitimate: patterns of ordinary use never cause a fleet ban.
func TestFleetLegitimate(t *testing.T) {
	f := newFleetFixture(t, 20)
	a := New(&f.c)
	rnd := rand.New(rand.NewPCG(1, 2))
	var rs []*report.Report
	add := func(i int, at time.Time, e ...report.Sighting) { rs = append(rs, f.sighting(i, at, e...)) }
	day := 24 * time.Hour
	// 300 users, each mistyping a password once on up to 3 hosts now and
	// then, from home addresses; each user's name is their own.
	for u := range 300 {
		src := fmt.Sprintf("198.18.%d.%d/32", u/250, u%250+1)
		for k := range 1 + rnd.IntN(3) {
			add(rnd.IntN(20), t0.Add(time.Duration(rnd.Int64N(int64(day)))), fails(src, 1, fmt.Sprintf("user%d", u)))
			_ = k
		}
	}
	// A user mistyping once on three hosts within a minute.
	for i := range 3 {
		add(i, t0.Add(time.Duration(i)*10*time.Second), fails("198.18.9.9/32", 1, "alice"))
	}
	// A user mistyping on six hosts within the hour, from home and from
	// the office: one user name, six members, but two sources.
	for i := range 6 {
		add(i, t0.Add(time.Duration(i)*5*time.Minute), fails(fmt.Sprintf("198.18.50.%d/32", 1+i/3), 1, "erin"))
	}
	// Two NATed offices: a few failures on two members (several users).
	for k := range 4 {
		add(k%2, t0.Add(time.Duration(k)*time.Minute), fails("192.0.2.200/32", 2, "bob", "carol"))
		add(2+k%2, t0.Add(3*time.Hour+time.Duration(k)*time.Minute), fails("2001:db8:aaaa:1::/64", 2, "dave"))
	}
	// Monitoring, in territory, checks every member's SSH port each
	// minute for a day: each check is a pre-authentication close.
	for minute := range 24 * 60 {
		if minute%7 == 0 {
			for i := range 20 {
				add(i, t0.Add(time.Duration(minute)*time.Minute), report.Sighting{Source: netip.MustParsePrefix("198.51.100.5/32"),
					Counts: []report.Count{{Service: "sshd", Kind: "preauth-close", N: 7}}})
			}
		}
	}
	slices.SortStableFunc(rs, func(x, y *report.Report) int { return x.Time.Compare(y.Time) })
	for i, r := range rs {
		o := apply(a, r)
		if o.Verdict != Sighted || len(o.Fleet) != 0 {
			t.Fatalf("report %d (%s): %v %s %v", i, r.Member, o.Verdict, o.Reason, bans(o))
		}
	}
	st := a.FleetStats()
	if st.Territory == 0 || st.Bans != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestFleetSameStream: two arbiters fed the same stream in the same order
// reach the same outcomes and digest, whatever the mix.
func TestFleetSameStream(t *testing.T) {
	f := newFleetFixture(t, 12)
	rnd := rand.New(rand.NewPCG(7, 8))
	var rs []*report.Report
	names := []string{"root", "admin", "oracle", "test", "ubuntu"}
	for k := range 3000 {
		at := t0.Add(time.Duration(k) * 700 * time.Millisecond)
		i := rnd.IntN(12)
		var es []report.Sighting
		for range 1 + rnd.IntN(6) {
			src := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(rnd.IntN(40))}), 32).String()
			switch rnd.IntN(3) {
			case 0:
				es = append(es, fails(src, 1+rnd.IntN(3), names[rnd.IntN(len(names))]))
			case 1:
				es = append(es, probes(src, 1))
			default:
				es = append(es, fails(src, 1))
			}
		}
		// Some arrive late, within the skew.
		if rnd.IntN(10) == 0 {
			at = at.Add(-time.Duration(rnd.Int64N(int64(2 * time.Minute))))
		}
		rs = append(rs, f.sighting(i, at, es...))
		if k%500 == 499 { // an operator's pardon now and then
			f.seq[f.ids[0].ID]++
			p := &report.Report{Seq: f.seq[f.ids[0].ID], Time: at, Type: report.TypePardon, Scenario: "manual", Value: netip.MustParsePrefix("203.0.113.0/28")}
			p.Sign(f.ids[0])
			rs = append(rs, p)
		}
	}
	run := func() ([]Outcome, [32]byte, FleetStats) {
		a := New(&f.c)
		var out []Outcome
		for _, r := range rs {
			out = append(out, a.Apply(r, r.Time.Add(time.Second), r.Time))
		}
		d, _ := a.Digest(rs[len(rs)-1].Time)
		return out, d, a.FleetStats()
	}
	o1, d1, s1 := run()
	o2, d2, s2 := run()
	if !reflect.DeepEqual(o1, o2) || d1 != d2 || !reflect.DeepEqual(s1, s2) {
		t.Fatal("two arbiters fed the same stream disagree")
	}
	if s1.Bans == 0 {
		t.Errorf("the mix made no fleet ban; the test proves little: %+v", s1)
	}
	t.Logf("%d reports, %d fleet bans, stats %+v", len(rs), s1.Bans, s1)
}

// TestFleetBadInput: what an attacker or a broken member may send.
func TestFleetBadInput(t *testing.T) {
	const src = "203.0.113.9/32"
	t.Run("territory", func(t *testing.T) {
		f := newFleetFixture(t, 6)
		a := New(&f.c)
		for i := range 6 {
			o := apply(a, f.sighting(i, t0.Add(time.Duration(i)*time.Second),
				fails("198.51.100.7/32", 5), fails("192.0.2.10/32", 5), fails("127.0.0.1/32", 5), fails("::1/128", 5), fails("fe80::/64", 5)))
			if o.Verdict != Sighted || len(o.Fleet) != 0 || o.Entries.Territory != 5 {
				t.Fatalf("sighting %d: %+v", i, o)
			}
		}
		if st := a.FleetStats(); st.Territory != 30 || st.Sources != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("whole space and ranges", func(t *testing.T) {
		f := newFleetFixture(t, 3)
		a := New(&f.c)
		for _, p := range []string{"0.0.0.0/0", "::/0", "203.0.113.0/24"} {
			r := f.sighting(0, t0, fails(src, 1))
			r.Sightings[0].Source = netip.MustParsePrefix(p)
			r.Sign(f.ids[0])
			expect(t, apply(a, r), Rejected, ReasonMalformed)
		}
	})
	t.Run("too wide for the charter", func(t *testing.T) {
		f := newFleetFixture(t, 3, func(c *charter.Charter) { c.Limits.MaxPrefixV6 = 96 })
		a := New(&f.c)
		o := apply(a, f.sighting(0, t0, fails("2001:db8:1:2::/64", 3), fails(src, 1)))
		if o.Entries.TooWide != 1 || o.Entries.Counted != 1 {
			t.Errorf("entries %+v", o.Entries)
		}
	})
	t.Run("future-dated", func(t *testing.T) {
		f := newFleetFixture(t, 3)
		a := New(&f.c)
		r := f.sighting(0, t0.Add(6*time.Minute), fails(src, 1))
		expect(t, a.Apply(r, t0, t0), Rejected, ReasonStale)
		r = f.sighting(0, t0.Add(-6*time.Minute), fails(src, 1))
		expect(t, a.Apply(r, t0, t0), Rejected, ReasonStale)
		r = f.sighting(0, t0.Add(4*time.Minute), fails(src, 1))
		expect(t, a.Apply(r, t0, t0), Sighted, ReasonSighted) // within the skew
	})
	t.Run("replayed", func(t *testing.T) {
		f := newFleetFixture(t, 3)
		a := New(&f.c)
		r := f.sighting(0, t0, fails(src, 5))
		expect(t, apply(a, r), Sighted, ReasonSighted)
		for range 10 {
			expect(t, apply(a, r), Rejected, ReasonReplayed)
		}
		if st := a.FleetStats(); st.Rejected[ReasonReplayed] != 10 || st.Sightings != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("forged and unknown", func(t *testing.T) {
		f := newFleetFixture(t, 3)
		a := New(&f.c)
		r := f.sighting(0, t0, fails(src, 5))
		r.Sightings[0].Counts[0].N = 50 // after signing
		expect(t, apply(a, r), Rejected, ReasonBadSignature)
		x := ident(t, 99)
		u := &report.Report{Seq: 1, Time: t0, Type: report.TypeSighting, First: t0, Last: t0, Sightings: []report.Sighting{fails(src, 5)}}
		u.Sign(x)
		expect(t, apply(a, u), Rejected, ReasonUnknownMember)
		if st := a.FleetStats(); st.Rejected[ReasonBadSignature] != 1 || st.Rejected[ReasonUnknownMember] != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("another alliance's salt", func(t *testing.T) {
		// Two of six members hash with another salt: their hashes never
		// match, so "admin" has failed on only four members here.
		f := newFleetFixture(t, 6)
		a := New(&f.c)
		foreign := func(src string) report.Sighting {
			e := fails(src, 1)
			e.Users = []report.UserHash{user(otherSalt, "admin")}
			return e
		}
		o := feed(a,
			f.sighting(0, t0, fails("203.0.113.1/32", 1, "admin")),
			f.sighting(1, t0.Add(time.Second), fails("203.0.113.1/32", 1, "admin")),
			f.sighting(2, t0.Add(2*time.Second), fails("203.0.113.2/32", 1, "admin")),
			f.sighting(3, t0.Add(3*time.Second), fails("203.0.113.2/32", 1, "admin")),
			f.sighting(4, t0.Add(4*time.Second), foreign("203.0.113.3/32")),
			f.sighting(5, t0.Add(5*time.Second), foreign("203.0.113.3/32")),
		)
		for i := range o {
			if len(o[i].Fleet) != 0 {
				t.Errorf("sighting %d banned %v", i, bans(o[i]))
			}
		}
	})
	t.Run("no salt", func(t *testing.T) {
		f := newFleetFixture(t, 6, func(c *charter.Charter) { c.Fleet.Salt = "" })
		a := New(&f.c)
		for i := range 6 {
			if o := apply(a, f.sighting(i, t0.Add(time.Duration(i)*time.Second), fails(fmt.Sprintf("203.0.113.%d/32", i/2), 1, "admin"))); len(o.Fleet) != 0 {
				t.Fatalf("banned without a salt: %v", bans(o))
			}
		}
		if st := a.FleetStats(); st.UnsaltedUsers != 6 || st.Users != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("flood", func(t *testing.T) {
		f := newFleetFixture(t, 3)
		a := New(&f.c)
		// Full sightings as fast as possible: the entry rate (6000 a
		// minute, a minute's burst) stops the member within 12.
		many := make([]report.Sighting, report.MaxSightings)
		for i := range many {
			many[i] = fails(netip.AddrFrom4([4]byte{203, 1, byte(i >> 8), byte(i)}).String()+"/32", 1)
		}
		sighted, limited := 0, 0
		for k := range 50 {
			o := apply(a, f.sighting(1, t0.Add(time.Duration(k)*time.Millisecond), many...))
			switch o.Verdict {
			case Sighted:
				sighted++
			case Rejected:
				if o.Reason != ReasonRateLimited {
					t.Fatalf("rejected for %s", o.Reason)
				}
				limited++
			}
		}
		if sighted != 6000/report.MaxSightings || limited != 50-sighted {
			t.Errorf("%d sighted, %d rate-limited", sighted, limited)
		}
		// Small sightings count against the report rate (600 a minute).
		sighted = 0
		for range 1000 {
			if o := apply(a, f.sighting(2, t0, fails(src, 1))); o.Verdict == Sighted {
				sighted++
			}
		}
		if sighted != 600 {
			t.Errorf("%d small sightings admitted at once, want 600", sighted)
		}
		if st := a.FleetStats(); st.Rejected[ReasonRateLimited] != uint64(limited+400) {
			t.Errorf("stats %+v", st.Rejected)
		}
	})
	t.Run("no fleet section", func(t *testing.T) {
		f := newFleetFixture(t, 3, func(c *charter.Charter) { c.Fleet = nil })
		a := New(&f.c)
		expect(t, apply(a, f.sighting(0, t0, fails(src, 1))), Refused, ReasonNoFleet)
		if st := a.FleetStats(); st.Rejected[ReasonNoFleet] != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestFleetWindow: events spread wider than the window do not add up;
// sightings arriving out of order (within the skew) still do.
func TestFleetWindow(t *testing.T) {
	f := newFleetFixture(t, 6)
	a := New(&f.c)
	var got []string
	for i := range 5 { // 2 failures every 3 minutes: no 10 within 10 minutes
		got = append(got, bans(apply(a, f.sighting(i, t0.Add(time.Duration(i)*3*time.Minute), fails("203.0.113.80/32", 2))))...)
	}
	if len(got) != 0 {
		t.Errorf("spread failures banned: %v", got)
	}
	// Counted events must lie within one window: 4 at 0m, 4 at 15m and 2
	// at 5m (arriving last) are 6 and 6, never 10.
	o0 := feed(a,
		f.sighting(0, t0.Add(30*time.Minute), fails("203.0.113.83/32", 4)),
		f.sighting(1, t0.Add(45*time.Minute), fails("203.0.113.83/32", 4)),
		f.sighting(2, t0.Add(35*time.Minute), fails("203.0.113.83/32", 2)),
	)
	for i := range o0 {
		if len(o0[i].Fleet) != 0 {
			t.Errorf("15 minutes apart, sighting %d: %v", i, bans(o0[i]))
		}
	}
	// Out of order: the latest-dated sighting comes first.
	rs := []*report.Report{
		f.sighting(0, t0.Add(4*time.Minute), fails("203.0.113.81/32", 4)),
		f.sighting(1, t0.Add(2*time.Minute), fails("203.0.113.81/32", 3)),
		f.sighting(2, t0.Add(1*time.Minute), fails("203.0.113.81/32", 3)),
	}
	o := feed(a, rs...)
	if len(o[0].Fleet)+len(o[1].Fleet) != 0 || !slices.Equal(bans(o[2]), []string{"fleet-bf 203.0.113.81/32"}) {
		t.Errorf("out of order: %v %v %v", bans(o[0]), bans(o[1]), bans(o[2]))
	}
	// A member dating its sightings ahead (within the skew, beyond the
	// one-minute window of fleet-scan) cannot push the others' evidence
	// out of the window.
	base := t0.Add(20 * time.Minute)
	o = feed(a,
		f.sighting(3, base.Add(4*time.Minute), probes("203.0.113.82/32", 1)),
		f.sighting(4, base, probes("203.0.113.82/32", 1)),
		f.sighting(5, base.Add(time.Second), probes("203.0.113.82/32", 1)),
		f.sighting(0, base.Add(2*time.Second), probes("203.0.113.82/32", 1)),
		f.sighting(1, base.Add(3*time.Second), probes("203.0.113.82/32", 1)),
		f.sighting(2, base.Add(4*time.Second), probes("203.0.113.82/32", 1)),
	)
	for i := range 5 {
		if len(o[i].Fleet) != 0 {
			t.Errorf("sighting %d banned %v", i, bans(o[i]))
		}
	}
	if !slices.Equal(bans(o[5]), []string{"fleet-scan 203.0.113.82/32"}) {
		t.Errorf("future-dated neighbour: %v", bans(o[5]))
	}
}

// TestFleetEscalationAndPardon: a fleet ban escalates like any alliance
// ban; a pardon forgets the source's sightings.
func TestFleetEscalationAndPardon(t *testing.T) {
	f := newFleetFixture(t, 4)
	a := New(&f.c)
	const src = "203.0.113.90/32"
	round := func(start time.Time) []Outcome {
		return feed(a,
			f.sighting(1, start, fails(src, 4)),
			f.sighting(2, start.Add(time.Second), fails(src, 4)),
			f.sighting(3, start.Add(2*time.Second), fails(src, 2)),
		)
	}
	o := round(t0)
	if len(o[2].Fleet) != 1 || o[2].Fleet[0].Decision.Duration() != 4*time.Hour {
		t.Fatalf("first ban %+v", o[2].Fleet)
	}
	o = round(t0.Add(5 * time.Hour))
	if len(o[2].Fleet) != 1 || o[2].Fleet[0].Decision.Duration() != 8*time.Hour || !strings.Contains(o[2].Fleet[0].Decision.Reason, "1 earlier ban(s)") {
		t.Fatalf("second ban %+v", o[2].Fleet)
	}
	// Sightings before a pardon do not count after it.
	at := t0.Add(20 * time.Hour)
	feed(a, f.sighting(1, at, fails(src, 4)), f.sighting(2, at.Add(time.Second), fails(src, 4)))
	f.seq[f.ids[0].ID]++
	p := &report.Report{Seq: f.seq[f.ids[0].ID], Time: at.Add(2 * time.Second), Type: report.TypePardon, Scenario: "manual", Value: netip.MustParsePrefix("203.0.113.0/24")}
	p.Sign(f.ids[0])
	expect(t, apply(a, p), Pardoned, ReasonPardon)
	if o := apply(a, f.sighting(3, at.Add(3*time.Second), fails(src, 2))); len(o.Fleet) != 0 {
		t.Errorf("counted sightings from before the pardon: %v", bans(o))
	}
}

// TestFleetAmend: an amendment that keeps the fleet section keeps the
// sightings; one that changes it starts counting afresh.
func TestFleetAmend(t *testing.T) {
	f := newFleetFixture(t, 4)
	const src = "203.0.113.95/32"
	for _, tc := range []struct {
		name   string
		change func(c *charter.Charter)
		ban    bool
	}{
		{"policy only", func(c *charter.Charter) { c.Policy.Duration = time.Hour }, true},
		{"fleet changed", func(c *charter.Charter) { c.Fleet.MaxUsers++ }, false},
		{"fleet removed", func(c *charter.Charter) { c.Fleet = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(&f.c)
			feed(a, f.sighting(1, t0, fails(src, 4)), f.sighting(2, t0.Add(time.Second), fails(src, 4)))
			next := f.c
			fl := *f.c.Fleet
			fl.Scenarios = slices.Clone(fl.Scenarios)
			next.Fleet = &fl
			next.Version++
			tc.change(&next)
			a.Amend(&next)
			o := apply(a, f.sighting(3, t0.Add(2*time.Second), fails(src, 2)))
			if got := len(o.Fleet) == 1; got != tc.ban {
				t.Errorf("banned %v, want %v (%v %s)", got, tc.ban, o.Verdict, o.Reason)
			}
		})
	}
}

// TestFleetSourceFlood: a member names 1,000,000 sources once each; the
// table stays within its cap, and an attacker two members had sighted
// before the flood is still followed and banned when three more members
// see it after.
func TestFleetSourceFlood(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	f := newFleetFixture(t, 6, func(c *charter.Charter) {
		c.Fleet.EntriesPerMinute = charter.MaxEntriesPerMinute
		c.Limits.ReportsPerMinute = charter.MaxReportsPerMin
	})
	a := New(&f.c)
	const attacker = "2001:db8:bad::/64"
	feed(a, f.sighting(1, t0, fails(attacker, 2)), f.sighting(2, t0.Add(time.Second), fails(attacker, 2)))
	at := t0.Add(2 * time.Second)
	entries := make([]report.Sighting, 0, report.MaxSightings)
	for i := 0; i < n; {
		entries = entries[:0]
		for ; i < n && len(entries) < report.MaxSightings; i++ {
			entries = append(entries, report.Sighting{
				Source: netip.PrefixFrom(netip.AddrFrom4([4]byte{10 + byte(i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32),
				Counts: []report.Count{{Service: "sshd", Kind: "invalid-user", N: 1}},
			})
		}
		at = at.Add(30 * time.Millisecond)
		if o := apply(a, f.sighting(0, at, entries...)); o.Verdict != Sighted {
			t.Fatalf("flood sighting: %v %s", o.Verdict, o.Reason)
		}
	}
	st := a.FleetStats()
	if st.Sources > f.c.Fleet.MaxSources || st.Records > SourceRecordsEach*f.c.Fleet.MaxSources {
		t.Errorf("%d sources and %d records held; caps %d and %d", st.Sources, st.Records, f.c.Fleet.MaxSources, SourceRecordsEach*f.c.Fleet.MaxSources)
	}
	if want := uint64(n + 1 - f.c.Fleet.MaxSources); st.Evicted < want {
		t.Errorf("%d evictions, want at least %d", st.Evicted, want)
	}
	o := feed(a,
		f.sighting(3, at.Add(time.Second), fails(attacker, 2)),
		f.sighting(4, at.Add(2*time.Second), fails(attacker, 2)),
		f.sighting(5, at.Add(3*time.Second), fails(attacker, 2)),
	)
	if !slices.Equal(bans(o[2]), []string{"fleet-bf " + attacker}) || len(o[2].Fleet[0].Contributions) != 5 {
		t.Errorf("the returning attacker: %v", bans(o[2]))
	}
	t.Logf("stats after the flood: %+v", st)
}

// TestFleetUserFlood: a member names many user hashes: the table stays
// within its caps.
func TestFleetUserFlood(t *testing.T) {
	f := newFleetFixture(t, 3, func(c *charter.Charter) {
		c.Fleet.EntriesPerMinute = charter.MaxEntriesPerMinute
		c.Limits.ReportsPerMinute = charter.MaxReportsPerMin
		c.Fleet.MaxUsers = charter.MinFleetTable
	})
	a := New(&f.c)
	at := t0
	for k := range 400 {
		var entries []report.Sighting
		for j := range 20 {
			e := fails(fmt.Sprintf("203.0.%d.%d/32", k%200, j), 1)
			for u := range report.MaxSightingUsers {
				e.Users = append(e.Users, user(testSalt, fmt.Sprintf("u%d-%d-%d", k, j, u)))
			}
			entries = append(entries, e)
		}
		at = at.Add(10 * time.Millisecond)
		apply(a, f.sighting(0, at, entries...))
	}
	st := a.FleetStats()
	if st.UserHashes > charter.MinFleetTable || st.UserRecords > UserRecordsEach*charter.MinFleetTable || st.UsersEvicted == 0 {
		t.Errorf("stats %+v", st)
	}
}

// FuzzFleet drives an arbiter with sightings built from the input (members,
// times, sources from a small pool with some in territory, kinds, counts,
// user hashes) and checks what must hold whatever members send: no fleet
// ban of territory, every ban backed by the scenario's number of distinct
// members, at most one ban per source in force, bounded tables, and the
// same outcomes from a second arbiter fed the same stream.
func FuzzFleet(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("\x00\x10\x01\x02\x20\x03\x01\x30\x04\x01\x40\x05\x01\x50\x06\x01"))
	f.Add(make([]byte, 64))
	fx := newFleetFixture(f, 6, func(c *charter.Charter) {
		c.Fleet.MaxSources = charter.MinFleetTable
		c.Fleet.MaxUsers = charter.MinFleetTable
	})
	kinds := []string{"auth-failure", "invalid-user", "probe", "preauth-close", "http-probe", "http-auth-failure", "exploit", "made-up"}
	pool := []string{"203.0.113.1/32", "203.0.113.2/32", "203.0.113.3/32", "2001:db8:1::/64", "2001:db8:1::5/128",
		"198.51.100.9/32", "192.0.2.10/32", "10.0.0.1/32"}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		seq := map[string]uint64{}
		var rs []*report.Report
		at := t0
		for len(data) >= 3 {
			i := int(data[0]) % len(fx.ids)
			at = at.Add(time.Duration(data[1]) * 3 * time.Second)
			n := 1 + int(data[2])%4
			data = data[3:]
			var es []report.Sighting
			for range n {
				if len(data) < 3 {
					break
				}
				e := report.Sighting{Source: netip.MustParsePrefix(pool[int(data[0])%len(pool)]),
					Counts: []report.Count{{Service: "sshd", Kind: kinds[int(data[1])%len(kinds)], N: 1 + int(data[2])%7}}}
				if data[2]&0x80 != 0 {
					e.Users = []report.UserHash{user(testSalt, fmt.Sprint("u", data[1]%3))}
				}
				es = append(es, e)
				data = data[3:]
			}
			if len(es) == 0 {
				break
			}
			id := fx.ids[i]
			seq[id.ID]++
			r := &report.Report{Seq: seq[id.ID], Time: at, Type: report.TypeSighting, First: at, Last: at, Sightings: report.Canonical(es)}
			r.Sign(id)
			rs = append(rs, r)
		}
		a, b := New(&fx.c), New(&fx.c)
		until := map[netip.Prefix]time.Time{}
		for _, r := range rs {
			o := apply(a, r)
			if ob := apply(b, r); !reflect.DeepEqual(o, ob) {
				t.Fatalf("two arbiters disagree:\n%+v\n%+v", o, ob)
			}
			for _, ban := range o.Fleet {
				d := ban.Decision
				if fx.c.IsTerritory(d.Value) {
					t.Fatalf("fleet ban of territory: %+v", d)
				}
				if d.Start.Before(until[d.Value]) {
					t.Fatalf("%s banned again while banned until %v", d.Value, until[d.Value])
				}
				until[d.Value] = d.Until
				sc, members := fleetScenario(t, &fx.c, d.Scenario), map[string]bool{}
				for _, c := range ban.Contributions {
					members[c.Member] = true
				}
				need := sc.Members
				if sc.IsByUser() {
					need = sc.SourceMembers
				}
				if len(members) < need || len(members) < 2 {
					t.Fatalf("%s ban backed by %d members: %+v", d.Scenario, len(members), ban)
				}
			}
			st := a.FleetStats()
			if st.Sources > charter.MinFleetTable || st.UserHashes > charter.MinFleetTable {
				t.Fatalf("tables over their caps: %+v", st)
			}
		}
	})
}

func fleetScenario(t *testing.T, c *charter.Charter, name string) charter.FleetScenario {
	t.Helper()
	for _, s := range c.Fleet.Scenarios {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no fleet scenario %s", name)
	return charter.FleetScenario{}
}
