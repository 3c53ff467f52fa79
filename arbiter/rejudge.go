package arbiter

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"phalanx"
	"phalanx/report"
)

// Repair of differing digests. Two members that judged the same reports
// and still hold different bans (Digest) find which bans differ bucket by
// bucket (BucketDigests, Bans), and the member that lacks a ban judges the
// signed reports behind it again (Rejudge): never the other member's
// verdict, only its own charter on the reports.

// Buckets is how many buckets BucketDigests splits the bans into.
const Buckets = 256

// ReasonUnseen rejects a report given to Rejudge whose sequence this
// arbiter has not used up: it is new here, and is judged by Apply.
const ReasonUnseen = "unseen"

// Ban is a ban the arbiter holds in force: what Digest sums for a value.
type Ban struct {
	Value  netip.Prefix
	Origin phalanx.Origin
	Until  time.Time
}

// Bucket is the bucket of value, in [0, Buckets): the same on every member.
func Bucket(value netip.Prefix) int {
	h := fnv.New32a()
	b, _ := value.AppendBinary(nil)
	h.Write(b)
	return int(h.Sum32() % Buckets)
}

// Bans returns the bans in force at now whose value falls in bucket (every
// ban when bucket < 0), in Digest's order.
func (a *Arbiter) Bans(now time.Time, bucket int) []Ban {
	var out []Ban
	for v, rec := range a.history {
		if rec.last.Until.After(now) && (bucket < 0 || Bucket(v) == bucket) {
			out = append(out, Ban{Value: v, Origin: rec.last.Origin, Until: time.Unix(0, rec.last.Until.UnixNano())})
		}
	}
	slices.SortFunc(out, func(x, y Ban) int {
		if c := x.Value.Addr().Compare(y.Value.Addr()); c != 0 {
			return c
		}
		return x.Value.Bits() - y.Value.Bits()
	})
	return out
}

// BucketDigests digests the bans in force at now per bucket (Bucket), each
// the way Digest digests them all: two members whose Digests differ find
// the buckets that hold the difference.
func (a *Arbiter) BucketDigests(now time.Time) [Buckets][32]byte {
	var by [Buckets][]Ban
	for _, b := range a.Bans(now, -1) {
		i := Bucket(b.Value)
		by[i] = append(by[i], b)
	}
	var sums [Buckets][32]byte
	for i := range by {
		sums[i] = digestBans(by[i])
	}
	return sums
}

// digestBans is Digest's sum over bans, already in Digest's order.
func digestBans(bans []Ban) (sum [32]byte) {
	h := sha256.New()
	var buf []byte
	for _, b := range bans {
		buf = buf[:0]
		buf, _ = b.Value.AppendBinary(buf)
		buf = append(buf, b.Origin...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(b.Until.UnixNano()))
		h.Write(buf)
	}
	h.Sum(sum[:0])
	return sum
}

// Rejudge judges again a report whose sequence this arbiter has already
// used up, as Apply would judge it now in the stream's place, except that
// it is neither refused as replayed nor charged to its member's rate (both
// happened when it was first judged). Every other check stands: a charter
// member, a valid signature, a time within the skew of received, the
// policy, territory, quorum with the votes held here, escalation with the
// history held here. What the report's member had used up stays as it
// was: its sequences and its rate.
//
// A report whose sequence is not used up yet is Rejected with ReasonUnseen
// (judge it with Apply); a sighting is Rejected as replayed (its entries
// were counted once). Rejudge is for a member that finds it holds
// different bans from another member that judged the same reports (a
// report repaired out of order, a damaged state): it judges again only
// signed reports, never the other member's verdict.
func (a *Arbiter) Rejudge(r *report.Report, received, now time.Time) Outcome {
	if r == nil {
		return a.reject(Rejected, ReasonMalformed, "")
	}
	m := a.members[r.Member]
	if m == nil {
		return a.reject(Rejected, ReasonUnknownMember, r.ID())
	}
	if !m.replayed(r.Seq) {
		return Outcome{Verdict: Rejected, Reason: ReasonUnseen, Reports: []string{r.ID()}}
	}
	if r.Type == report.TypeSighting {
		// Its entries were counted when it was first judged: judging it
		// again would count them twice.
		return Outcome{Verdict: Rejected, Reason: ReasonReplayed, Reports: []string{r.ID()}}
	}
	saved := *m
	defer func() { *m = saved }()
	// The sequence looks unseen and the rate untouched for this judgement
	// only.
	m.top = r.Seq
	i := r.Seq % ReplayWindow
	m.seen[i/64] &^= 1 << (i % 64)
	m.tat, m.clock, m.etat, m.eclock = 0, 0, 0, 0
	return a.applyChecked(r, received, now, true)
}

// ForgetBan forgets the bans recorded for exactly value, as a damaged
// state would (a pardon also forgets the values inside it, and votes):
// the daemon's tests use it to give one member a state that differs from
// the others', which digest repair must mend. It reports whether there
// was anything to forget.
func (a *Arbiter) ForgetBan(value netip.Prefix) bool {
	if a.history[value] == nil {
		return false
	}
	delete(a.history, value)
	return true
}
