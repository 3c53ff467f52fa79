package arbiter

import (
	"net/netip"
	"testing"
	"time"

	"phalanx/report"
)

// TestBucketDigests: the bans by bucket add up to Digest's, and a ban
// forgotten on one member shows in exactly its bucket.
func TestBucketDigests(t *testing.T) {
	f := newFixture(t)
	a, b := New(&f.c), New(&f.c)
	for i := range 40 {
		r := f.alert(f.b, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()+"/32", "ssh-bf", t0.Add(time.Duration(i)*time.Second))
		expect(t, apply(a, r), Decided, ReasonDecisive)
		expect(t, apply(b, r), Decided, ReasonDecisive)
	}
	at := t0.Add(time.Minute)
	sum, n := a.Digest(at)
	all := a.Bans(at, -1)
	if len(all) != n || digestBans(all) != sum {
		t.Fatalf("Bans(-1) gives %d bans with another sum than Digest's %d", len(all), n)
	}
	total := 0
	for i := range Buckets {
		total += len(a.Bans(at, i))
	}
	if total != n {
		t.Fatalf("buckets hold %d bans, Digest %d", total, n)
	}
	if a.BucketDigests(at) != b.BucketDigests(at) {
		t.Fatal("two arbiters that judged the same reports differ in a bucket")
	}
	gone := netip.MustParsePrefix("203.0.113.7/32")
	if !b.ForgetBan(gone) || b.ForgetBan(gone) {
		t.Fatal("ForgetBan did not forget exactly once")
	}
	da, db := a.BucketDigests(at), b.BucketDigests(at)
	for i := range Buckets {
		if (da[i] != db[i]) != (i == Bucket(gone)) {
			t.Fatalf("bucket %d differs: %v; the forgotten ban is in bucket %d", i, da[i] != db[i], Bucket(gone))
		}
	}
}

// TestRejudge: a report judged again gives the ban back to an arbiter that
// lost it, with the same end, and leaves the member's sequence and rate as
// they were; unseen sequences, sightings and forgeries are not judged again.
func TestRejudge(t *testing.T) {
	f := newFixture(t)
	a, b := New(&f.c), New(&f.c)
	var rs []*report.Report
	for i := range 5 {
		r := f.alert(f.b, "203.0.113.50/32", "ssh-bf", t0.Add(time.Duration(i)*time.Hour))
		rs = append(rs, r)
	}
	// Votes of a quorum decision.
	qa := f.alert(f.a, "203.0.113.60/32", "http-probe", t0.Add(5*time.Hour))
	qc := f.alert(f.c2, "203.0.113.60/32", "http-probe", t0.Add(5*time.Hour+time.Minute))
	rs = append(rs, qa, qc)
	for _, r := range rs {
		apply(a, r)
		apply(b, r)
	}
	at := t0.Add(5*time.Hour + 2*time.Minute)
	if a.BucketDigests(at) != b.BucketDigests(at) {
		t.Fatal("differing before any damage")
	}
	for _, v := range []string{"203.0.113.50/32", "203.0.113.60/32"} {
		if !b.ForgetBan(netip.MustParsePrefix(v)) {
			t.Fatalf("no ban on %s to forget", v)
		}
	}
	seqBefore := *b.members[f.b.ID]
	now := at
	// The deciding reports of the value's bans, in order: the first ban
	// (ended) makes the second escalate as it did on a.
	expect(t, b.Rejudge(rs[0], rs[0].Time, now), Decided, ReasonDecisive)
	if m := b.members[f.b.ID]; m.top != seqBefore.top || m.seen != seqBefore.seen || m.tat != seqBefore.tat || m.clock != seqBefore.clock {
		t.Fatal("Rejudge changed the member's sequence or rate state")
	}
	expect(t, b.Rejudge(rs[4], rs[4].Time, now), Decided, ReasonDecisive)
	// A quorum decision needs its votes judged again, the deciding one last.
	expect(t, b.Rejudge(qa, qa.Time, now), Pending, ReasonQuorumPending)
	expect(t, b.Rejudge(qc, qc.Time, now), Decided, ReasonQuorum)
	if sa, sb := a.BucketDigests(at), b.BucketDigests(at); sa != sb {
		t.Fatal("judging again did not give back the same bans")
	}
	// Judged again while the ban is held: it corroborates, nothing changes.
	expect(t, b.Rejudge(rs[4], rs[4].Time, now), Corroborated, ReasonInForce)

	// Not seen here: judge it by Apply.
	next := f.alert(f.b, "203.0.113.51/32", "ssh-bf", at)
	expect(t, b.Rejudge(next, next.Time, now), Rejected, ReasonUnseen)
	// A forgery of a used-up sequence.
	forged := *rs[4]
	forged.Value = netip.MustParsePrefix("203.0.113.52/32")
	expect(t, b.Rejudge(&forged, forged.Time, now), Rejected, ReasonBadSignature)
	// Received far from its time: stale, as by Apply.
	expect(t, b.Rejudge(rs[3], rs[3].Time.Add(time.Hour), now), Rejected, ReasonStale)
	// Not a member.
	x := &report.Report{Seq: 1, Time: at, Type: report.TypeAlert, Scenario: "ssh-bf", Value: netip.MustParsePrefix("203.0.113.53/32"),
		First: at, Last: at, Count: 5}
	x.Sign(f.x)
	expect(t, b.Rejudge(x, at, now), Rejected, ReasonUnknownMember)
}
