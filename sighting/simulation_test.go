package sighting_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/charter"
	"phalanx/identity"
	"phalanx/pipeline"
	"phalanx/report"
	"phalanx/sighting"
)

// The fleet simulation: 50 members, each with the product's own detection
// pipeline (framing, the sshd parser, the default scenarios), sighting
// batch and arbiter, over two simulated hours of sshd logs with a ground
// truth. Every second, each member's new sightings and self-defense alerts
// are signed, encoded and appended to one ordered stream (what the fabric's
// durable stream gives every member); every member decodes and applies the
// stream in that order with its own arbiter. The fabric itself is measured
// by fabric's TestSimulation50; this one checks who is banned.
//
// Legitimate: 300 users from home addresses and three NATed offices (40
// users behind each), each logging in a few times on 2–4 members and
// mistyping a password now and then (1 or 2 failures, then success);
// monitoring: per-team checks of 4 members every minute (not in territory)
// and a central monitor that checks all 50 every minute (in the charter's
// territory, as its operators declare it). Attackers, each under every
// member's own threshold: distributed brute force (2 failures on each of 20
// members), fleet sweeps (one pre-authentication close on every member),
// and credential stuffing of one user name across the 10 mail servers
// (each source tries it once on 3 of them); plus one loud brute-forcer that
// a member bans on its own, relayed to all.

const (
	simMembers  = 50
	simMail     = 10 // members 0..9 are the mail servers
	simDuration = 2 * time.Hour
)

// simLine is one log line a member writes at a time.
type simLine struct {
	at     time.Time
	member int
	text   string
}

type simTruth struct {
	attackers map[netip.Addr]string // address → kind of attack
	legit     map[netip.Addr]string // address → who
}

// simMember is one member: its pipeline, batch, arbiter and bans.
type simMember struct {
	i     int
	id    *identity.Identity
	p     *pipeline.Pipeline
	s     *pipeline.Stream
	batch *sighting.Batch
	rules *sighting.Rules
	arb   *arbiter.Arbiter
	seq   uint64
	now   time.Time
	bans  map[netip.Prefix]phalanx.Decision // in force on this member
	local map[netip.Addr]bool               // sources it banned itself
	out   []report.Report                   // self-defense alerts waiting for the second's end
	lines map[int64]string
	num   int64
}

func (m *simMember) banned(a netip.Addr) bool {
	for _, bits := range []int{a.BitLen(), 64} {
		if bits > a.BitLen() {
			continue
		}
		p, _ := a.Prefix(bits)
		if d, ok := m.bans[p]; ok && d.Active(m.now) {
			return true
		}
	}
	return false
}

func (m *simMember) ban(d phalanx.Decision) {
	if old, ok := m.bans[d.Value]; !ok || old.Until.Before(d.Until) {
		m.bans[d.Value] = d
	}
}

// The pipeline's sink, as the daemon's: events are sighted, decisions are
// self-defense bans with an alert report for the alliance.
func (m *simMember) Event(ev *phalanx.Event)                    { m.batch.Add(m.rules, ev, m.banned) }
func (m *simMember) Alert(*phalanx.Alert)                       {}
func (m *simMember) Login(a netip.Addr, _ string, at time.Time) { m.batch.Vouch(a, at) }
func (m *simMember) Refused(*phalanx.Alert, error) {
}
func (m *simMember) Decision(d *phalanx.Decision, a *phalanx.Alert) {
	m.ban(*d)
	m.local[a.Addr] = true
	var ev []string
	for _, n := range a.Evidence {
		if l, ok := m.lines[n]; ok {
			ev = append(ev, l)
		}
	}
	m.out = append(m.out, report.Report{Type: report.TypeAlert, Time: m.now.UTC(), Scenario: a.Scenario, Value: d.Value,
		First: a.First, Last: a.Last, Count: a.Count, Reason: d.Reason, Evidence: ev})
}

// simLog builds the two hours of logs and their truth.
func simLog(start time.Time, rng *rand.Rand) ([]simLine, simTruth) {
	tr := simTruth{attackers: map[netip.Addr]string{}, legit: map[netip.Addr]string{}}
	var out []simLine
	port := 30000
	add := func(at time.Time, member int, format string, args ...any) {
		port = 30000 + (port-30000+7)%30000
		out = append(out, simLine{at: at, member: member, text: fmt.Sprintf(format, args...)})
	}
	randTime := func(from, span time.Duration) time.Time {
		return start.Add(from + time.Duration(rng.Int64N(int64(span))))
	}
	pick := func(n, k int) []int { return rng.Perm(n)[:k] }

	// Legitimate users: 180 at home, 120 in three offices.
	offices := []netip.Addr{netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("198.18.20.1"), netip.MustParseAddr("2001:db8:aaaa:1::1")}
	for _, o := range offices {
		tr.legit[o] = "office NAT"
	}
	for u := range 300 {
		name := fmt.Sprintf("user%03d", u)
		addr := netip.AddrFrom4([4]byte{198, 18, 100 + byte(u/250), byte(u%250 + 1)})
		if u >= 180 {
			addr = offices[(u-180)/40]
			if addr.Is6() {
				addr = netip.MustParseAddr(fmt.Sprintf("2001:db8:aaaa:1::%x", u))
			}
		}
		tr.legit[addr] = "user " + name
		hosts := pick(simMembers, 2+rng.IntN(3))
		for range 2 + rng.IntN(3) { // sessions in the two hours
			at := randTime(0, simDuration-time.Minute)
			h := hosts[rng.IntN(len(hosts))]
			if rng.IntN(10) == 0 { // a mistype: one failure, sometimes two
				for k := range 1 + rng.IntN(100)/80 {
					add(at.Add(time.Duration(k)*4*time.Second), h, "sshd[%d]: Failed password for %s from %s port %d ssh2", 4000+u, name, addr, port)
				}
				at = at.Add(10 * time.Second)
			}
			add(at, h, "sshd[%d]: Accepted password for %s from %s port %d ssh2", 4000+u, name, addr, port)
		}
	}

	// Monitoring: five team monitors on 4 members each, a central one on
	// all (territory) — a TCP check every minute.
	for mon := range 6 {
		addr := netip.AddrFrom4([4]byte{198, 18, 200, byte(mon + 1)})
		targets := pick(simMembers, 4)
		if mon == 5 {
			addr = netip.MustParseAddr("192.0.2.200") // in territory
			targets = pick(simMembers, simMembers)
		}
		tr.legit[addr] = "monitor"
		offset := time.Duration(rng.Int64N(int64(time.Minute)))
		for at := start.Add(offset); at.Before(start.Add(simDuration)); at = at.Add(time.Minute) {
			for k, h := range targets {
				add(at.Add(time.Duration(k)*100*time.Millisecond), h, "sshd[%d]: Connection closed by %s port %d [preauth]", 7000+mon, addr, port)
			}
		}
	}

	// Distributed brute force: 2 failures on each of 20 members, spread
	// over 10 minutes; five attackers, one of them an IPv6 /64.
	for a := range 5 {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + a)})
		if a == 4 {
			addr = netip.MustParseAddr("2001:db8:bad:1::10")
		}
		tr.attackers[addr] = "distributed brute force"
		begin := time.Duration(rng.Int64N(int64(simDuration - 20*time.Minute)))
		for _, h := range pick(simMembers, 20) {
			at := randTime(begin, 10*time.Minute)
			src := addr
			if a == 4 { // rotating inside its /64
				src = netip.MustParseAddr(fmt.Sprintf("2001:db8:bad:1::%x", 0x100+h))
			}
			add(at, h, "sshd[%d]: Failed password for root from %s port %d ssh2", 9000+a, src, port)
			add(at.Add(3*time.Second), h, "sshd[%d]: Failed password for root from %s port %d ssh2", 9000+a, src, port)
		}
	}
	// Fleet sweeps: one pre-authentication close on every member within
	// three minutes.
	for a := range 3 {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(50 + a)})
		tr.attackers[addr] = "sweep"
		begin := time.Duration(rng.Int64N(int64(simDuration - 10*time.Minute)))
		for _, h := range rng.Perm(simMembers) {
			add(randTime(begin, 3*time.Minute), h, "sshd[%d]: Connection closed by %s port %d [preauth]", 9100+a, addr, port)
		}
	}
	// Credential stuffing: eight sources try one mail user once on 3 of
	// the 10 mail servers each, within half an hour.
	begin := time.Duration(rng.Int64N(int64(simDuration - time.Hour)))
	for a := range 8 {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + a)})
		tr.attackers[addr] = "credential stuffing"
		for _, h := range pick(simMail, 3) {
			add(randTime(begin, 30*time.Minute), h, "sshd[%d]: Failed password for invalid user sales from %s port %d ssh2", 9200+a, addr, port)
		}
	}
	// A loud brute-forcer: 30 failures on member 7 in a minute.
	loud := netip.MustParseAddr("203.0.113.200")
	tr.attackers[loud] = "loud brute force"
	at := randTime(0, simDuration-10*time.Minute)
	for k := range 30 {
		add(at.Add(time.Duration(k)*2*time.Second), 7, "sshd[9300]: Failed password for root from %s port %d ssh2", loud, port+k)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out, tr
}

func simCharter(t *testing.T, ids []*identity.Identity) charter.Charter {
	t.Helper()
	c := charter.Default("sim", charter.NewMember("m00", ids[0].Public))
	for i := 1; i < len(ids); i++ {
		c.Members = append(c.Members, charter.NewMember(fmt.Sprintf("m%02d", i), ids[i].Public))
	}
	c.Territory = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	c.Fleet.Salt = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, charter.SaltSize))
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFleetSimulation runs the simulation and checks the ground truth:
// every distributed attacker is banned on every member by a fleet
// scenario (no member banned it alone), the loud one too, no legitimate
// source anywhere, and every member decided the same at the same stream
// positions.
func TestFleetSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 50 members for two hours")
	}
	start := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(14, 50))
	lines, truth := simLog(start, rng)

	ids := make([]*identity.Identity, simMembers)
	for i := range ids {
		id, err := identity.FromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	c := simCharter(t, ids)
	members := make([]*simMember, simMembers)
	for i := range members {
		m := &simMember{i: i, id: ids[i], batch: sighting.NewBatch(), rules: sighting.NewRules(&c, c.Territory), arb: arbiter.New(&c),
			bans: map[netip.Prefix]phalanx.Decision{}, local: map[netip.Addr]bool{}, lines: map[int64]string{}}
		p, err := pipeline.New(pipeline.DefaultConfig(), m)
		if err != nil {
			t.Fatal(err)
		}
		m.p, m.s = p, p.NewStream(start, time.UTC)
		members[i] = m
	}

	var (
		position   int                   // reports on the stream
		fleetBans  = map[string]string{} // "value scenario" → "position" as member 0 decided it
		firstBan   = map[netip.Addr]time.Time{}
		sightings  int
		streamSize int
	)
	next := 0
	for sec := start; sec.Before(start.Add(simDuration + time.Minute)); sec = sec.Add(time.Second) {
		end := sec.Add(time.Second)
		for ; next < len(lines) && lines[next].at.Before(end); next++ {
			l := lines[next]
			m := members[l.member]
			m.now = l.at
			m.num++
			text := l.at.Format(time.Stamp) + fmt.Sprintf(" m%02d ", l.member) + l.text
			m.lines[m.num] = text
			m.s.Line([]byte(text), m.num)
		}
		// The sequencer: this second's reports, member by member.
		var stream [][]byte
		for _, m := range members {
			m.now = end
			reps, invalid := m.batch.Take(m.id.ID, end)
			if invalid > 0 {
				t.Fatalf("member %d made %d invalid sighting reports", m.i, invalid)
			}
			sightings += len(reps)
			for _, r := range append(m.out, reps...) {
				m.seq++
				r.Seq = m.seq
				r.Sign(m.id)
				stream = append(stream, report.Marshal(&r))
			}
			m.out = m.out[:0]
		}
		for _, b := range stream {
			streamSize += len(b)
			r, err := report.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			position++
			var want string
			for _, m := range members {
				o := m.arb.Apply(&r, end, end)
				if o.Verdict == arbiter.Rejected {
					t.Fatalf("position %d: member %d rejected a report of member %s: %s", position, m.i, r.Member, o.Reason)
				}
				var got []string
				if o.Verdict == arbiter.Decided {
					m.ban(o.Decision)
					got = append(got, o.Decision.Value.String()+" "+o.Decision.Scenario)
				}
				for _, fb := range o.Fleet {
					m.ban(fb.Decision)
					got = append(got, fb.Decision.Value.String()+" "+fb.Decision.Scenario)
				}
				g := strings.Join(got, ",")
				if m.i == 0 {
					want = g
					for _, fb := range o.Fleet {
						fleetBans[fb.Decision.Value.String()+" "+fb.Decision.Scenario] = fmt.Sprint(position)
					}
				} else if g != want {
					t.Fatalf("position %d: member %d decided %q, member 0 %q", position, m.i, g, want)
				}
			}
		}
		for a := range truth.attackers {
			if _, ok := firstBan[a]; !ok && members[0].banned(a) {
				firstBan[a] = end
			}
		}
	}

	// Every member holds the same decisions.
	d0, n0 := members[0].arb.Digest(start.Add(simDuration))
	for _, m := range members[1:] {
		if d, n := m.arb.Digest(start.Add(simDuration)); d != d0 || n != n0 {
			t.Errorf("member %d's digest differs from member 0's (%d and %d decisions)", m.i, n, n0)
		}
	}
	end := start.Add(simDuration)
	byKind := map[string][2]int{}
	for a, kind := range truth.attackers {
		k := byKind[kind]
		k[1]++
		everywhere := true
		for _, m := range members {
			m.now = end
			if !m.banned(a) {
				everywhere = false
				t.Errorf("%s attacker %s is not banned on member %d", kind, a, m.i)
			}
			if kind != "loud brute force" && m.local[a] {
				t.Errorf("%s attacker %s was banned by member %d alone: the simulation meant it under every threshold", kind, a, m.i)
			}
		}
		if everywhere {
			k[0]++
		}
		byKind[kind] = k
	}
	for a, who := range truth.legit {
		for _, m := range members {
			m.now = end
			if m.banned(a) {
				t.Errorf("legitimate %s (%s) is banned on member %d", who, a, m.i)
			}
		}
	}
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range byKind {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range kinds {
		t.Logf("%-24s banned on all %d members: %d of %d", k, simMembers, byKind[k][0], byKind[k][1])
	}
	fb := slices.Sorted(func(yield func(string) bool) {
		for k, v := range fleetBans {
			if !yield(k + " at position " + v) {
				return
			}
		}
	})
	t.Logf("%d lines, %d legitimate sources, %d attackers; %d reports on the stream (%d sightings, %d bytes); fleet bans: %s",
		len(lines), len(truth.legit), len(truth.attackers), position, sightings, streamSize, strings.Join(fb, "; "))
	st := members[0].arb.FleetStats()
	t.Logf("member 0's arbiter: %+v", st)
}
