package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/daemon"
	"phalanx/fabric"
	"phalanx/identity"
	"phalanx/report"
)

// TestMaliciousMember turns member C of a three-member alliance rogue: with
// its real key and its real fabric connection it forges reports as A's,
// invents members, publishes on A's subject, asks for bans too wide and of
// territory, replays, floods, and floods again with reports dated across the
// charter's skew. The honest members A and B refuse every attempt, count it
// by reason, ban no innocent address, keep answering their APIs, let no more
// of C's bans through than the charter's rate, and still ban the attackers
// A reports (A's sequence is not taken over by forgeries).
//
// PHALANX_BENCH=1 floods 100,000 reports instead of 5,000 (the dated flood
// stays at 3,000) and prints the time and rate.
func TestMaliciousMember(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance")
	}
	began := time.Now()
	t.Cleanup(func() { t.Logf("TestMaliciousMember ran %v", time.Since(began).Round(time.Millisecond)) })

	bHome := netip.MustParsePrefix("192.0.2.2/32")
	al := formAlliance(t, 3, func(i int, o *daemon.JoinOptions) {
		if i == 1 { // B
			o.Addresses = []netip.Prefix{bHome}
		}
	})
	al.sameCharter(t, 3)
	a, b, c := al.members[0], al.members[1], al.members[2]
	everyone := al.members
	ch, err := charter.Load(filepath.Join(a.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !ch.IsTerritory(bHome) {
		t.Fatalf("setup: B's address %s is not territory in A's charter", bHome)
	}
	a.waitTailing()

	rogue := &rogueMember{t: t, m: c, id: c.d.IdentityForTest(), seq: 1 << 32}
	if rogue.id.ID != c.d.ID() {
		t.Fatalf("setup: identity %s is not C's (%s)", rogue.id.ID, c.d.ID())
	}
	rej := newRejections(everyone)

	// A works honestly first: an attacker in its log is banned everywhere.
	appendLines(t, a.log, attack("203.0.113.10", 6)...)
	for _, m := range everyone {
		waitFor(t, 20*time.Second, "A's first attacker banned on "+m.dir, func() bool { return banned(m.d, "203.0.113.10") })
	}
	var aLast uint64
	for _, r := range rogueOutbox(t, a.dir) {
		aLast = max(aLast, r.Seq)
	}
	if aLast == 0 {
		t.Fatal("A's outbox holds no report after A reported an attacker")
	}

	// a. Reports claiming to be A's, signed with C's key: A's next
	// sequence, and the last sequence there is (which, were it believed,
	// would leave A no sequence to continue with).
	for _, f := range []struct {
		seq   uint64
		value string
	}{{aLast + 1, "203.0.113.66/32"}, {math.MaxUint64, "203.0.113.67/32"}} {
		now := time.Now().UTC()
		r := report.Report{Member: a.d.ID(), Seq: f.seq, Time: now, Type: report.TypeAlert, Scenario: "ssh-bf",
			Value: netip.MustParsePrefix(f.value), First: now, Last: now, Count: 6}
		r.Sig = rogue.id.Sign(r.Body())
		rogue.publish(&r, r.ID())
	}
	rej.expect(t, "bad-signature", 2)
	rogueNoBans(t, everyone, "203.0.113.66", "203.0.113.67")
	for _, m := range everyone {
		var ex daemon.Explanation
		m.admin("GET", "/api/explain?address=203.0.113.66", &ex)
		for _, e := range ex.Timeline {
			if e.Member == a.d.ID() {
				t.Errorf("%s: a forgery is recorded as A's: %+v", m.dir, e)
			}
		}
	}
	// A is not silenced: its next attacker is banned everywhere, from
	// A's report (not replayed, not lost).
	appendLines(t, a.log, attack("203.0.113.11", 6)...)
	for _, m := range everyone {
		rogueWait(t, 20*time.Second, "A's second attacker (after the forgeries) banned on "+m.dir, func() bool { return banned(m.d, "203.0.113.11") })
	}
	// And A's outbox still takes its reports, numbered on from its own.
	var seqs []uint64
	stored := false
	for _, r := range rogueOutbox(t, a.dir) {
		seqs = append(seqs, r.Seq)
		stored = stored || r.Type == report.TypeAlert && r.Value == netip.MustParsePrefix("203.0.113.11/32")
	}
	slices.Sort(seqs)
	if !stored || seqs[len(seqs)-1]-seqs[0] != uint64(len(seqs)-1) {
		t.Errorf("A's outbox after the forgeries: sequences %v, alert on 203.0.113.11 stored: %v; want it stored and the sequence unbroken", seqs, stored)
	}

	// a'. Reports of members that do not exist, signed by C: refused, and
	// the honest members keep nothing per invented member (their metrics
	// must stay bounded whatever members a report names).
	var strangers []string
	for range 32 {
		var raw [8]byte
		rand.Read(raw[:])
		stranger := "m" + hex.EncodeToString(raw[:])
		strangers = append(strangers, stranger)
		r := rogue.alert("203.0.113.68/32")
		r.Member = stranger
		r.Sig = rogue.id.Sign(r.Body())
		rogue.publish(&r, r.ID())
	}
	// A sentinel behind them on the stream: once it is judged, so are they.
	// An unknown member's report is judged once more when its stream copy
	// follows the fast path's (the member may be new).
	tooWide := int64(1)
	sentinel := rogue.alert("0.0.0.0/0")
	rogue.publish(&sentinel, sentinel.ID())
	rej.expect(t, "too-wide", tooWide)
	rej.expectBetween(t, "unknown-member", int64(len(strangers)), 2*int64(len(strangers)))
	rogueNoBans(t, everyone, "203.0.113.68")
	for _, m := range []*member{a, b} {
		metrics := rogueMetrics(t, m)
		for _, s := range strangers {
			if strings.Contains(metrics, s) {
				t.Errorf("%s: /metrics keeps a series for invented member %s (a rogue member can grow it without bound)", m.dir, s)
				break
			}
		}
	}

	// b. C publishing on A's subject is refused by the fabric.
	{
		now := time.Now().UTC()
		r := report.Report{Member: a.d.ID(), Seq: 1 << 20, Time: now, Type: report.TypeAlert, Scenario: "ssh-bf",
			Value: netip.MustParsePrefix("203.0.113.69/32"), First: now, Last: now, Count: 6}
		r.Sig = rogue.id.Sign(r.Body())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.d.PublishForTest(ctx, a.d.ID(), r.ID(), report.Marshal(&r))
		cancel()
		if !errors.Is(err, fabric.ErrPermission) {
			t.Fatalf("C publishing on A's subject: err = %v, want fabric.ErrPermission", err)
		}
	}

	// c. Ranges wider than the charter allows, up to everything.
	wide := []string{"0.0.0.0/0", "::/0", "198.0.0.0/8", "2001::/16"}
	for _, v := range wide {
		p := netip.MustParsePrefix(v)
		if widest := map[bool]int{true: ch.Limits.MaxPrefixV4, false: ch.Limits.MaxPrefixV6}[p.Addr().Is4()]; p.Bits() >= widest {
			t.Fatalf("setup: %s is not wider than the charter's /%d", p, widest)
		}
		r := rogue.alert(v)
		rogue.publish(&r, r.ID())
	}
	tooWide += int64(len(wide))
	rej.expect(t, "too-wide", tooWide)
	rogueNoBans(t, everyone, "198.51.100.9", "2001:db8::9", "8.8.8.8")

	// d. Territory: B's own address, its network, loopback.
	terr := []string{bHome.String(), "192.0.2.0/24", "127.0.0.1/32", "::1/128"}
	for _, v := range terr {
		r := rogue.alert(v)
		rogue.publish(&r, r.ID())
	}
	rej.expect(t, "territory", int64(len(terr)))
	rogueNoBans(t, everyone, "192.0.2.2", "192.0.2.1", "127.0.0.1", "::1")

	// e. Replays. A's report of 203.0.113.10, byte for byte as it went over
	// the fabric (taken from A's outbox), re-published by C under a new
	// message id; and C's own used sequence re-signed with new content.
	aReport := rogueOutboxAlert(t, a.dir, netip.MustParsePrefix("203.0.113.10/32"))
	if r, err := report.Unmarshal(aReport); err != nil || r.Member != a.d.ID() {
		t.Fatalf("A's report from its outbox: member %q, err %v", r.Member, err)
	}
	type before struct {
		dec              phalanx.Decision
		decided, entries int64
	}
	was := map[*member]before{}
	for _, m := range everyone {
		dec, ok := m.d.Table().Lookup(netip.MustParseAddr("203.0.113.10"), time.Now())
		if !ok {
			t.Fatalf("%s: A's attacker is no longer banned", m.dir)
		}
		st := rogueStatus(t, m)
		was[m] = before{dec: dec, decided: st.Reports["decided"], entries: int64(m.d.Table().Len())}
	}
	rogue.publishRaw(aReport, "replay-of-a")
	usedSeq := rogue.seq
	redated := rogue.alert("203.0.113.99/32")
	redated.Seq = usedSeq
	redated.Sign(rogue.id)
	rogue.publish(&redated, redated.ID())
	rej.expect(t, "replayed", 1)
	// A sentinel behind them on the stream: once it is judged, so are they.
	sentinel = rogue.alert("0.0.0.0/0")
	rogue.publish(&sentinel, sentinel.ID())
	tooWide++
	rej.expect(t, "too-wide", tooWide)
	for _, m := range everyone {
		dec, ok := m.d.Table().Lookup(netip.MustParseAddr("203.0.113.10"), time.Now())
		st := rogueStatus(t, m)
		w := was[m]
		switch {
		case !ok:
			t.Errorf("%s: A's attacker unbanned by a replay", m.dir)
		case dec.ID != w.dec.ID || !dec.Until.Equal(w.dec.Until):
			t.Errorf("%s: the replay changed the decision: %+v, was %+v", m.dir, dec, w.dec)
		case st.Reports["decided"] != w.decided || int64(m.d.Table().Len()) != w.entries:
			t.Errorf("%s: the replay decided again: decided %d, was %d; %d decisions, were %d", m.dir,
				st.Reports["decided"], w.decided, m.d.Table().Len(), w.entries)
		}
	}
	rogueNoBans(t, everyone, "203.0.113.99")
	rogueOnlyBans(t, everyone, "203.0.113.10/32", "203.0.113.11/32")

	// f. A flood of validly signed alerts for distinct addresses, dated
	// when made, with a real attack written to A's log half way through.
	n := 5000
	if os.Getenv("PHALANX_BENCH") == "1" {
		n = 100000
	}
	limits := ch.Limits
	first := rogueFlood(t, rogue, a, b, limits, rej, floodRun{n: n, attack: "203.0.113.20"})

	// g. The same rogue dates a second flood across the skew the charter
	// tolerates (from -skew to +skew around now): the rate limit must still
	// hold over the time that really passed since the first flood began.
	rogueFlood(t, rogue, a, b, limits, rej, floodRun{n: 3000, first: n, dated: limits.Skew * 19 / 20, since: first})

	rogueOnlyBans(t, everyone, "203.0.113.10/32", "203.0.113.11/32", "203.0.113.20/32", floodNet.String())
	rogueNoBans(t, everyone, "198.51.100.9", "2001:db8::9", "192.0.2.2", "127.0.0.1", "203.0.113.66",
		"203.0.113.67", "203.0.113.68", "203.0.113.69", "203.0.113.99")
	t.Logf("rejected by reason on A: %v", rogueStatus(t, a).Rejected)
	t.Logf("rejected by reason on B: %v", rogueStatus(t, b).Rejected)
}

// floodNet holds the floods' addresses (shared address space: no member's).
var floodNet = netip.MustParsePrefix("100.64.0.0/10")

// floodRun is one flood of C's.
type floodRun struct {
	n     int           // alerts, for distinct addresses
	first int           // index in floodNet of the first address
	dated time.Duration // alerts dated from -dated to +dated around now, across the flood; 0: dated when made
	since time.Time     // when C's first flood began (the rate bound counts from there); zero: this one
	// attack is an address whose brute force is written to A's log half
	// way through; B must ban it within 10 s. "" for none.
	attack string
}

// rogueFlood has C publish fr.n alerts for distinct addresses of floodNet
// as fast as it can and checks on A and B: at most what the charter's rate
// lets through since fr.since became decisions, the rest were rejected and
// counted, the API kept answering within a second, and the attack written
// to A's log during the flood was banned on B within 10 s. It returns when
// the flood began.
func rogueFlood(t *testing.T, rogue *rogueMember, a, b *member, limits charter.Limits, rej *rejections, fr floodRun) time.Time {
	t.Helper()
	honest := []*member{a, b}
	n := fr.n
	rej.reset()
	decidedBefore := map[*member]int64{a: rogueFloodDecisions(a), b: rogueFloodDecisions(b)}

	// Probe the honest members' APIs, and B's table for A's attacker, while
	// the flood runs.
	probe := newAPIProbe(t, honest)
	var attackWritten, bannedOnB atomic.Pointer[time.Time]
	stopProbe := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			probe.once()
			if w := attackWritten.Load(); w != nil && bannedOnB.Load() == nil && banned(b.d, fr.attack) {
				now := time.Now()
				bannedOnB.Store(&now)
			}
			select {
			case <-stopProbe:
				if w := attackWritten.Load(); w == nil || bannedOnB.Load() != nil || time.Since(*w) > 10*time.Second {
					return
				}
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	base := rogue.seq + 1<<20
	rogue.seq = base + uint64(4*n) // later reports of C's stay above the flood
	jobs := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	since := fr.since
	if since.IsZero() {
		since = start
	}
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				now := time.Now().UTC()
				if fr.dated > 0 {
					now = now.Add(time.Duration(float64(fr.dated) * (2*float64(i)/float64(n) - 1)))
				}
				addr := floodNet.Addr().As4()
				binary.BigEndian.PutUint32(addr[:], binary.BigEndian.Uint32(addr[:])+uint32(fr.first+i))
				// Sequences 4 apart: C's own daemon numbers its records
				// after the highest of C's it saw, in between.
				r := report.Report{Seq: base + uint64(4*i), Time: now, Type: report.TypeAlert, Scenario: "ssh-bf",
					Value: netip.PrefixFrom(netip.AddrFrom4(addr), 32), First: now, Last: now, Count: 6}
				r.Sign(rogue.id)
				if _, err := rogue.m.d.PublishForTest(ctx, rogue.id.ID, r.ID(), report.Marshal(&r)); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for i := range n {
		if i == n/2 && fr.attack != "" {
			appendLines(t, a.log, attack(fr.attack, 6)...)
			now := time.Now()
			attackWritten.Store(&now)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if err := firstErr.Load(); err != nil {
		t.Fatalf("flood publish: %v", *err)
	}
	how := "dated when made"
	if fr.dated > 0 {
		how = fmt.Sprintf("dated from -%v to +%v", fr.dated, fr.dated)
	}
	t.Logf("flood: C published %d signed alerts (%s) in %v (%.0f reports/s)", n, how, took.Round(time.Millisecond), float64(n)/took.Seconds())

	// Wait until A and B judged the whole flood: a forgery published after
	// it was rejected, every report of the flood is a decision or a
	// rejection (rate-limited, or replayed: C's own daemon numbers its
	// records after the highest of C's sequences it saw, and a report whose
	// fast-path copy was dropped and whose stream copy comes more than the
	// replay window behind is replayed too), and, since the fast path may
	// deliver the forgery ahead of the stream and C's records count as
	// replayed too, until the members have stayed quiet for a second: no
	// report consumed or published by anyone.
	{
		now := time.Now().UTC()
		r := report.Report{Member: a.d.ID(), Seq: 1, Time: now, Type: report.TypeAlert, Scenario: "ssh-bf",
			Value: netip.MustParsePrefix("203.0.113.69/32"), First: now, Last: now, Count: 6}
		r.Sig = rogue.id.Sign(r.Body())
		if _, err := rogue.m.d.PublishForTest(ctx, rogue.id.ID, r.ID(), report.Marshal(&r)); err != nil {
			t.Fatalf("C publishes: %v", err)
		}
	}
	judge := 60 * time.Second
	if n > 10000 {
		judge = 10 * time.Minute
	}
	counts := map[*member][3]int64{}
	var activity []int64
	var quietSince time.Time
	waitFor(t, judge, "A and B to judge the flood", func() bool {
		for _, m := range honest {
			d := rogueFloodDecisions(m) - decidedBefore[m]
			rl, rp := rej.delta(t, m, "rate-limited"), rej.delta(t, m, "replayed")
			counts[m] = [3]int64{d, rl, rp}
			if d+rl+rp < int64(n) || rej.delta(t, m, "bad-signature") < 1 {
				return false
			}
		}
		var now []int64
		for _, m := range []*member{a, b, rogue.m} {
			st := rogueStatus(t, m)
			now = append(now, st.Reports["consumed"], st.Reports["duplicates"], st.Reports["published"])
		}
		if !slices.Equal(now, activity) {
			activity, quietSince = now, time.Now()
		}
		return time.Since(quietSince) >= time.Second
	})
	judged := quietSince.Sub(start) // the last report consumed or published
	close(stopProbe)
	<-probeDone

	// The charter's rate: its whole burst at once, then one report per
	// emission interval of the time that passed.
	perMinute := int64(limits.ReportsPerMinute)
	emission := time.Minute / time.Duration(perMinute)
	allowed := perMinute + int64(time.Since(since)/emission) + 1
	for _, m := range honest {
		d, rl, rp := counts[m][0], counts[m][1], counts[m][2]
		all := rogueFloodDecisions(m)
		t.Logf("%s: %d decisions from this flood, %d from C's floods since the first began %v ago (at most %d allowed); %d rejected rate-limited, %d replayed; judged %v after the flood began",
			filepath.Base(m.dir), d, all, time.Since(since).Round(time.Millisecond), allowed, rl, rp, judged.Round(time.Millisecond))
		if all > allowed {
			t.Errorf("%s: %d decisions from C's floods within %v, the charter allows at most %d (%d/min with its burst)",
				m.dir, all, time.Since(since).Round(time.Millisecond), allowed, perMinute)
		}
		if fr.since.IsZero() && d < perMinute/2 {
			t.Errorf("%s: only %d decisions from C's flood: the rate limit let less than half its burst (%d) through", m.dir, d, perMinute)
		}
		if rl < int64(n)/2-d {
			t.Errorf("%s: %d rate-limited rejections (and %d replayed) for %d reports beyond the %d decisions", m.dir, rl, rp, int64(n)-d, d)
		}
		m.d.Table().All(func(x phalanx.Decision) bool {
			if floodNet.Contains(x.Value.Addr()) && !strings.Contains(x.Reason, rogue.id.ID) {
				t.Errorf("%s: flood decision %s does not name C: %q", m.dir, x.Value, x.Reason)
				return false
			}
			return true
		})
	}
	// The bound is for an API that stops answering, not a speed target: the
	// slowest answer is logged (under 1 s on a quiet 2-core machine; CI
	// machines share their cores).
	probe.check(t, 5*time.Second)

	if fr.attack != "" {
		w, bn := attackWritten.Load(), bannedOnB.Load()
		switch {
		case bn == nil:
			t.Errorf("A's attacker %s, written to A's log during the flood, not banned on B within 10 s", fr.attack)
		case bn.Sub(*w) > 10*time.Second:
			t.Errorf("A's attacker %s banned on B %v after it was written to A's log, want within 10 s", fr.attack, bn.Sub(*w))
		default:
			t.Logf("A's attacker %s, written during the flood, banned on B after %v", fr.attack, bn.Sub(*w).Round(time.Millisecond))
		}
	}
	return start
}

// rogueWait is waitFor that lets the test go on: it reports a timeout as
// an error and returns false.
func rogueWait(t *testing.T, limit time.Duration, what string, cond func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", limit, what)
			return false
		}
	}
	return true
}

// rogueFloodDecisions counts m's decisions on flood addresses.
func rogueFloodDecisions(m *member) int64 {
	var n int64
	m.d.Table().All(func(x phalanx.Decision) bool {
		if floodNet.Contains(x.Value.Addr()) {
			n++
		}
		return true
	})
	return n
}

// rogueMember is a member turned malicious: its real identity and its real
// fabric connection, its own sequence numbers far above its daemon's.
type rogueMember struct {
	t   *testing.T
	m   *member
	id  *identity.Identity
	seq uint64
}

// alert returns an alert of C's for value, made now, with a fresh sequence,
// signed.
func (r *rogueMember) alert(value string) report.Report {
	r.seq += 16 // room for the records C's own daemon numbers in between
	now := time.Now().UTC()
	rep := report.Report{Seq: r.seq, Time: now, Type: report.TypeAlert, Scenario: "ssh-bf",
		Value: netip.MustParsePrefix(value), First: now, Last: now, Count: 6}
	rep.Sign(r.id)
	return rep
}

func (r *rogueMember) publish(rep *report.Report, msgID string) {
	r.t.Helper()
	r.publishRaw(report.Marshal(rep), msgID)
}

// publishRaw publishes data on C's own subject.
func (r *rogueMember) publishRaw(data []byte, msgID string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.m.d.PublishForTest(ctx, r.id.ID, msgID, data); err != nil {
		r.t.Fatalf("C publishes: %v", err)
	}
}

// rejections holds each member's rejection counts by reason at a starting
// point.
type rejections struct {
	members []*member
	base    map[*member]map[string]int64
}

func newRejections(ms []*member) *rejections {
	r := &rejections{members: ms}
	r.reset()
	return r
}

func (r *rejections) reset() {
	r.base = map[*member]map[string]int64{}
	for _, m := range r.members {
		r.base[m] = rogueStatus(m.t, m).Rejected
	}
}

func (r *rejections) delta(t *testing.T, m *member, reason string) int64 {
	return rogueStatus(t, m).Rejected[reason] - r.base[m][reason]
}

// expect waits until every member counted exactly want more rejections
// for reason than at the starting point.
func (r *rejections) expect(t *testing.T, reason string, want int64) {
	t.Helper()
	for _, m := range r.members {
		var got int64
		waitFor(t, 20*time.Second, fmt.Sprintf("%s to count %d %s rejections", m.dir, want, reason), func() bool {
			got = r.delta(t, m, reason)
			return got >= want
		})
		if got != want {
			t.Errorf("%s: %d %s rejections, want %d", m.dir, got, reason, want)
		}
	}
}

// expectBetween waits until every member counted at least lo more
// rejections for reason than at the starting point, and checks it counted
// at most hi.
func (r *rejections) expectBetween(t *testing.T, reason string, lo, hi int64) {
	t.Helper()
	for _, m := range r.members {
		var got int64
		waitFor(t, 20*time.Second, fmt.Sprintf("%s to count %d %s rejections", m.dir, lo, reason), func() bool {
			got = r.delta(t, m, reason)
			return got >= lo
		})
		if got > hi {
			t.Errorf("%s: %d %s rejections, want %d to %d", m.dir, got, reason, lo, hi)
		}
	}
}

func rogueStatus(t *testing.T, m *member) daemon.Status {
	t.Helper()
	var st daemon.Status
	if code := m.admin("GET", "/api/status", &st); code != http.StatusOK {
		t.Fatalf("%s: GET /api/status: %d", m.dir, code)
	}
	return st
}

func rogueMetrics(t *testing.T, m *member) string {
	t.Helper()
	resp, err := http.Get("http://" + m.d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// rogueNoBans checks that no member bans any of addrs.
func rogueNoBans(t *testing.T, ms []*member, addrs ...string) {
	t.Helper()
	for _, m := range ms {
		for _, a := range addrs {
			if banned(m.d, a) {
				t.Errorf("%s: innocent address %s is banned", m.dir, a)
			}
		}
	}
}

// rogueOnlyBans checks that every decision of every member lies inside one
// of the allowed prefixes.
func rogueOnlyBans(t *testing.T, ms []*member, allowed ...string) {
	t.Helper()
	var ok []netip.Prefix
	for _, s := range allowed {
		ok = append(ok, netip.MustParsePrefix(s))
	}
	for _, m := range ms {
		m.d.Table().All(func(x phalanx.Decision) bool {
			for _, p := range ok {
				if p.Bits() <= x.Value.Bits() && p.Contains(x.Value.Addr()) {
					return true
				}
			}
			t.Errorf("%s: unexpected decision on %s: %s", m.dir, x.Value, x.Reason)
			return true
		})
	}
}

// rogueOutboxAlert returns the exact bytes of the alert on value that the
// member with data directory dir published, as every member saw them on
// the fabric.
func rogueOutboxAlert(t *testing.T, dir string, value netip.Prefix) []byte {
	t.Helper()
	for _, r := range rogueOutbox(t, dir) {
		if r.Type == report.TypeAlert && r.Value == value {
			return r.data
		}
	}
	t.Fatalf("no alert on %s in the outbox under %s", value, dir)
	return nil
}

type outboxReport struct {
	report.Report
	data []byte
}

// rogueOutbox reads the reports in the outbox of the member with data
// directory dir (read only; the member keeps appending). The outbox
// format: segment files "*.seg" with a 20-byte header, then records of
// length u32 | crc u32 | seq u64 | nanos i64 | data.
func rogueOutbox(t *testing.T, dir string) []outboxReport {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "outbox", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var out []outboxReport
	for _, path := range segs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 20 {
			continue
		}
		for b = b[20:]; len(b) >= 24; {
			size := binary.BigEndian.Uint32(b)
			if uint64(size) > uint64(len(b)-24) {
				break
			}
			data := b[24 : 24+size]
			b = b[24+size:]
			if r, err := report.Unmarshal(data); err == nil {
				out = append(out, outboxReport{r, bytes.Clone(data)})
			}
		}
	}
	return out
}

// apiProbe times GET /api/status on members from another goroutine.
type apiProbe struct {
	members []*member
	client  *http.Client
	infos   []daemon.ClientInfo

	mu      sync.Mutex
	slowest map[*member]time.Duration
	samples map[*member]int
	errs    []error
}

func newAPIProbe(t *testing.T, ms []*member) *apiProbe {
	p := &apiProbe{members: ms, client: &http.Client{Timeout: 10 * time.Second},
		slowest: map[*member]time.Duration{}, samples: map[*member]int{}}
	for _, m := range ms {
		info, err := daemon.ReadClientInfo(m.dir)
		if err != nil {
			t.Fatal(err)
		}
		p.infos = append(p.infos, info)
	}
	return p
}

func (p *apiProbe) once() {
	for i, m := range p.members {
		req, _ := http.NewRequest("GET", "http://"+p.infos[i].Addr+"/api/status", nil)
		req.Header.Set("Authorization", "Bearer "+p.infos[i].Token)
		start := time.Now()
		resp, err := p.client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		took := time.Since(start)
		p.mu.Lock()
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("%s: %w", m.dir, err))
		}
		p.samples[m]++
		p.slowest[m] = max(p.slowest[m], took)
		p.mu.Unlock()
	}
}

func (p *apiProbe) check(t *testing.T, limit time.Duration) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.errs {
		t.Errorf("GET /api/status during the flood: %v", err)
	}
	for _, m := range p.members {
		t.Logf("%s: GET /api/status during the flood: %d answers, slowest %v", filepath.Base(m.dir), p.samples[m], p.slowest[m].Round(time.Microsecond))
		if p.samples[m] == 0 {
			t.Errorf("%s: the API was never asked during the flood", m.dir)
		}
		if p.slowest[m] >= limit {
			t.Errorf("%s: GET /api/status took %v during the flood, want under %v", m.dir, p.slowest[m], limit)
		}
	}
}
