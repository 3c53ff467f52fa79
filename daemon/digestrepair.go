package daemon

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/decision"
	"phalanx/fabric"
	"phalanx/report"
)

// Digest repair. Members that consumed the same reports compare digests of
// the bans they hold (compare, repair.go). When the digests differ, one of
// them judged something differently: a report repaired out of order, a
// damaged state. The member then asks the other for digests of its bans
// in 256 buckets (kind "bans", op bansOpBuckets), lists the bans of the
// buckets that differ (op bansOpList, paged), and for each ban the other
// holds that this member lacks (or holds for a shorter time) fetches the
// signed reports behind it from their authors' outboxes and judges them
// again with its own charter (arbiter.Rejudge). The other member's word
// never bans anything: its list only says which reports to look at. Bans
// this member holds and the other lacks are left to the other member,
// which repairs from its side.
const (
	bansKind        = "bans"
	bansOpBuckets   = 0
	bansOpList      = 1
	bucketSumSize   = 16       // bytes of each bucket digest sent
	maxBucketsRound = 16       // differing buckets listed per comparison
	maxPagesBucket  = 8        // pages listed per bucket and comparison
	maxRejudgeRound = 32       // bans judged again per comparison
	maxRefs         = 16       // reports named behind the bans of one value
	maxVoteRefs     = 1 << 15  // pending votes whose sequence is remembered
	maxBanRefs      = 1 << 16  // bans whose reports are remembered (arbiter.MaxHistory)
	bansReplyBudget = 64 << 10 // bytes of bans per list page (fabric.MaxReplySize is 1 MiB)
	repairLogEvery  = time.Minute
)

// reportRef names one signed report: its member and sequence.
type reportRef struct {
	member string
	seq    uint64
}

// banRef is what this member knows of the reports behind the bans it
// holds on one value: the deciding reports of its bans in the order judged
// (each quorum's votes before the report that decided it), so that a
// member judging them again escalates the same way; the last maxRefs.
type banRef struct {
	until time.Time   // the end of the ban the arbiter keeps for the value
	refs  []reportRef // nil when that ban is a fleet ban: judging reports again cannot decide it
}

// digestRepair holds the reports behind this member's bans (under
// consumeMu) and the log limit of repairs (under mu).
type digestRepair struct {
	votes   map[[32]byte]reportRef // pending alerts, by report ID
	voteQ   [][32]byte
	bans    map[netip.Prefix]banRef
	banQ    []netip.Prefix
	members map[string]string // interned member ids

	mu                   sync.Mutex
	lastLog              time.Time
	repaired, unrepaired int // since lastLog
}

// note records the reports behind the outcome of r; the caller holds
// consumeMu.
func (x *digestRepair) note(r *report.Report, o arbiter.Outcome) {
	switch o.Verdict {
	case arbiter.Pending:
		if x.votes == nil {
			x.votes = map[[32]byte]reportRef{}
		}
		var k [32]byte
		if id, err := hex.DecodeString(r.ID()); err == nil && len(id) == 32 {
			copy(k[:], id)
		} else {
			return
		}
		if _, ok := x.votes[k]; ok {
			return
		}
		x.votes[k] = x.ref(r)
		x.voteQ = append(x.voteQ, k)
		for len(x.votes) > maxVoteRefs && len(x.voteQ) > 0 {
			delete(x.votes, x.voteQ[0])
			x.voteQ = x.voteQ[1:]
		}
	case arbiter.Decided:
		refs := []reportRef{x.ref(r)}
		if o.Reason == arbiter.ReasonQuorum {
			refs = refs[:0]
			for _, id := range o.Reports {
				if len(refs) == maxRefs-1 {
					break
				}
				var k [32]byte
				if b, err := hex.DecodeString(id); err == nil && len(b) == 32 {
					copy(k[:], b)
				}
				if v, ok := x.votes[k]; ok && (v.member != r.Member || v.seq != r.Seq) {
					refs = append(refs, v)
				}
			}
			refs = append(refs, x.ref(r)) // the deciding report last
		}
		x.setBan(o.Decision, refs)
	case arbiter.DecidedBatch:
		for _, b := range o.Batch {
			x.setBan(b, []reportRef{x.ref(r)})
		}
	case arbiter.Sighted:
		for _, fb := range o.Fleet {
			x.setBan(fb.Decision, nil)
		}
	case arbiter.Pardoned:
		p := o.Pardon
		for v := range x.bans {
			if v.Bits() >= p.Bits() && p.Contains(v.Addr()) {
				delete(x.bans, v)
			}
		}
	}
}

func (x *digestRepair) ref(r *report.Report) reportRef {
	if x.members == nil {
		x.members = map[string]string{}
	}
	m, ok := x.members[r.Member]
	if !ok {
		if len(x.members) > 4096 { // members come and go: start afresh
			clear(x.members)
		}
		m = r.Member
		x.members[m] = m
	}
	return reportRef{member: m, seq: r.Seq}
}

// setBan records refs behind dec, a ban on its value; the ban the arbiter
// keeps for the value is the one that ends last (a new one after the old
// ended). refs nil: a fleet ban.
func (x *digestRepair) setBan(dec phalanx.Decision, refs []reportRef) {
	if x.bans == nil {
		x.bans = map[netip.Prefix]banRef{}
	}
	old, ok := x.bans[dec.Value]
	keeps := !ok || !dec.Until.Before(old.until) || !old.until.After(dec.Start)
	br := old
	switch {
	case refs == nil && keeps:
		br = banRef{until: dec.Until}
	case refs == nil:
	default:
		br.refs = slices.Clone(old.refs)
		for _, r := range refs {
			if !slices.Contains(br.refs, r) { // judged again here: already named
				br.refs = append(br.refs, r)
			}
		}
		br.refs = br.refs[max(0, len(br.refs)-maxRefs):]
		if keeps {
			br.until = dec.Until
		}
	}
	x.bans[dec.Value] = br
	if ok {
		return
	}
	x.banQ = append(x.banQ, dec.Value)
	for len(x.bans) > maxBanRefs && len(x.banQ) > 0 {
		delete(x.bans, x.banQ[0])
		x.banQ = x.banQ[1:]
	}
	if len(x.banQ) > 2*len(x.bans)+1024 {
		kept := x.banQ[:0:0]
		for _, v := range x.banQ {
			if _, ok := x.bans[v]; ok {
				kept = append(kept, v)
			}
		}
		x.banQ = kept
	}
}

// refsFor returns the reports behind the ban b, when what is recorded is
// that very ban; the caller holds consumeMu.
func (x *digestRepair) refsFor(b arbiter.Ban) []reportRef {
	br, ok := x.bans[b.Value]
	if !ok || !br.until.Equal(b.Until) {
		return nil
	}
	return br.refs
}

// peerBan is one ban in another member's list.
type peerBan struct {
	arbiter.Ban
	refs []reportRef
}

// serveBans answers another member's questions about the bans this member
// holds in force at the instant the request names: digests by bucket, or
// the bans of one bucket with the reports behind each.
func (d *Daemon) serveBans(req []byte) []byte {
	if len(req) < 9 {
		return nil
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(req)))
	switch req[8] {
	case bansOpBuckets:
		d.consumeMu.Lock()
		sums := d.arb.BucketDigests(at)
		d.consumeMu.Unlock()
		out := make([]byte, 0, arbiter.Buckets*bucketSumSize)
		for _, s := range sums {
			out = append(out, s[:bucketSumSize]...)
		}
		return out
	case bansOpList:
		if len(req) != 14 {
			return nil
		}
		bucket, skip := int(req[9]), int(binary.BigEndian.Uint32(req[10:]))
		d.consumeMu.Lock()
		defer d.consumeMu.Unlock()
		bans := d.arb.Bans(at, bucket)
		out := []byte{0} // 1: more follow (ask again with skip + the bans listed)
		for i := min(skip, len(bans)); i < len(bans); i++ {
			if len(out) > bansReplyBudget {
				out[0] = 1
				break
			}
			out = appendPeerBan(out, peerBan{Ban: bans[i], refs: d.drep.refsFor(bans[i])})
		}
		return out
	}
	return nil
}

func appendPeerBan(out []byte, b peerBan) []byte {
	v, _ := b.Value.AppendBinary(nil)
	out = append(out, byte(len(v)))
	out = append(out, v...)
	out = append(out, byte(min(len(b.Origin), 255)))
	out = append(out, b.Origin[:min(len(b.Origin), 255)]...)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Until.UnixNano()))
	refs := b.refs[:min(len(b.refs), maxRefs)]
	out = append(out, byte(len(refs)))
	for _, r := range refs {
		out = append(out, byte(len(r.member)))
		out = append(out, r.member...)
		out = binary.BigEndian.AppendUint64(out, r.seq)
	}
	return out
}

var errBanList = errors.New("malformed ban list")

// decodeBanList reads serveBans' list answer (another member's, so
// untrusted): the bans and whether more follow.
func decodeBanList(b []byte) (bans []peerBan, more bool, err error) {
	if len(b) < 1 {
		return nil, false, errBanList
	}
	more = b[0] == 1
	b = b[1:]
	take := func(n int) ([]byte, bool) {
		if n > len(b) {
			return nil, false
		}
		p := b[:n]
		b = b[n:]
		return p, true
	}
	for len(b) > 0 {
		var pb peerBan
		n, ok := take(1)
		if !ok {
			return nil, false, errBanList
		}
		v, ok := take(int(n[0]))
		if !ok || pb.Value.UnmarshalBinary(v) != nil || !pb.Value.IsValid() {
			return nil, false, errBanList
		}
		if n, ok = take(1); !ok {
			return nil, false, errBanList
		}
		o, ok := take(int(n[0]))
		if !ok {
			return nil, false, errBanList
		}
		pb.Origin = phalanx.Origin(o)
		u, ok := take(8)
		if !ok {
			return nil, false, errBanList
		}
		pb.Until = time.Unix(0, int64(binary.BigEndian.Uint64(u)))
		if n, ok = take(1); !ok || int(n[0]) > maxRefs {
			return nil, false, errBanList
		}
		for range int(n[0]) {
			k, ok := take(1)
			if !ok || k[0] == 0 {
				return nil, false, errBanList
			}
			m, ok := take(int(k[0]))
			if !ok {
				return nil, false, errBanList
			}
			s, ok := take(8)
			if !ok {
				return nil, false, errBanList
			}
			pb.refs = append(pb.refs, reportRef{member: string(m), seq: binary.BigEndian.Uint64(s)})
		}
		bans = append(bans, pb)
	}
	return bans, more, nil
}

// repairDigest mends what makes this member's digest at at differ from
// peer's, as far as signed reports allow (see the top of this file). It
// returns how many bans it repaired and how many it could not.
func (d *Daemon) repairDigest(ctx context.Context, peer string, at time.Time) (repaired, unrepaired int) {
	defer func() { d.countDigestRepair(peer, repaired, unrepaired) }()
	// Gap repair waits on this (repairLoop): bounded, the rest next round.
	ctx, cancel := context.WithTimeout(ctx, compareEvery)
	defer cancel()
	req := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	raw, err := d.fab.Request(rctx, peer, bansKind, append(req, bansOpBuckets))
	rcancel()
	if err != nil || len(raw) != arbiter.Buckets*bucketSumSize {
		d.log.Debug("digest repair: no bucket digests from the other member (will retry)", "member", peer, "err", err)
		return 0, 0
	}
	d.consumeMu.Lock()
	mine := d.arb.BucketDigests(at)
	d.consumeMu.Unlock()
	var differ []int
	for i := range mine {
		if string(mine[i][:bucketSumSize]) != string(raw[i*bucketSumSize:(i+1)*bucketSumSize]) {
			differ = append(differ, i)
		}
	}
	var todo []peerBan
	for _, bucket := range differ[:min(len(differ), maxBucketsRound)] {
		d.consumeMu.Lock()
		held := map[netip.Prefix]arbiter.Ban{}
		for _, b := range d.arb.Bans(at, bucket) {
			held[b.Value] = b
		}
		d.consumeMu.Unlock()
		skip := 0
		for page := 0; page < maxPagesBucket && len(todo) < maxRejudgeRound; page++ {
			q := append(append([]byte(nil), req...), bansOpList, byte(bucket))
			q = binary.BigEndian.AppendUint32(q, uint32(skip))
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			raw, err := d.fab.Request(rctx, peer, bansKind, q)
			cancel()
			if err != nil {
				return repaired, unrepaired
			}
			theirs, more, err := decodeBanList(raw)
			if err != nil {
				d.reject(peer, reasonBadRepair, "err", err)
				return repaired, unrepaired
			}
			for _, b := range theirs {
				if h, ok := held[b.Value]; ok && !h.Until.Before(b.Until) {
					continue // held here as long or longer: the other member repairs
				}
				if len(todo) < maxRejudgeRound {
					todo = append(todo, b)
				}
			}
			skip += len(theirs)
			if !more || len(theirs) == 0 {
				break
			}
		}
	}
	for _, b := range todo {
		if d.rejudgeBan(ctx, b, at) {
			repaired++
		} else {
			unrepaired++
		}
	}
	return repaired, unrepaired
}

// rejudgeBan fetches the signed reports behind b from their authors and
// judges them again here; it reports whether this member then holds b (or
// a ban on its value at least as long).
func (d *Daemon) rejudgeBan(ctx context.Context, b peerBan, at time.Time) bool {
	if len(b.refs) == 0 {
		return false // no reports to judge again (a fleet ban, or unknown to the other member)
	}
	cs := d.charter()
	var datas [][]byte
	for _, ref := range b.refs {
		if _, _, ok := cs.c.Member(ref.member); !ok {
			return false
		}
		data, ok := d.fetchReport(ctx, ref)
		if !ok {
			return false
		}
		datas = append(datas, data)
	}
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	now := d.now()
	for _, data := range datas {
		r, err := report.Unmarshal(data)
		if err != nil {
			return false
		}
		o := d.arb.Rejudge(&r, r.Time, now)
		d.drep.note(&r, o)
		switch o.Verdict {
		case arbiter.Rejected:
			if o.Reason == arbiter.ReasonUnseen {
				// New here after all: judged like any report.
				d.consumeLocked(fabric.Msg{Data: data, Time: r.Time})
			}
		case arbiter.Decided:
			o.Decision.ID = decision.ReportID(r.Member, r.Seq, 0)
			if o.Decision.Until.After(now) {
				d.timeline.add(r.Value, entry{Time: now, What: "report", Member: r.Member, Scenario: r.Scenario,
					ReportID: r.ID(), Detail: "judged again: another member holding the same reports held a ban this member did not"})
				d.applyDecision(o.Decision, entry{Time: o.Decision.Start, What: "decision",
					Origin: string(o.Decision.Origin), Scenario: o.Decision.Scenario, Member: r.Member},
					notice{})
			}
		case arbiter.DecidedBatch:
			var live []phalanx.Decision
			for i, x := range o.Batch {
				if x.Until.After(now) {
					x.ID = decision.ReportID(r.Member, r.Seq, i)
					live = append(live, x)
				}
			}
			if len(live) > 0 {
				applyBulk(d, live, "bans judged again")
			}
		}
	}
	for _, h := range d.arb.Bans(at, arbiter.Bucket(b.Value)) {
		if h.Value == b.Value {
			return !h.Until.Before(b.Until)
		}
	}
	return false
}

// fetchReport gets the signed report ref names: from this member's outbox
// when it is its own, else from its author's.
func (d *Daemon) fetchReport(ctx context.Context, ref reportRef) ([]byte, bool) {
	if ref.member == d.id.ID {
		return d.ob.Get(ref.seq)
	}
	parts, err := d.askReports(ctx, ref.member, ref.seq, ref.seq) // repair.go
	if err != nil {
		return nil, false
	}
	for _, data := range parts {
		r, err := report.Unmarshal(data)
		if err == nil && r.Member == ref.member && r.Seq == ref.seq {
			return data, true
		}
	}
	return nil, false
}

// countDigestRepair counts a comparison's repairs and logs them, at most
// once per repairLogEvery (with what the limit held back).
func (d *Daemon) countDigestRepair(peer string, repaired, unrepaired int) {
	d.ctr.digestRepairs.Add(int64(repaired))
	d.ctr.digestUnrepaired.Add(int64(unrepaired))
	x := &d.drep
	x.mu.Lock()
	defer x.mu.Unlock()
	x.repaired += repaired
	x.unrepaired += unrepaired
	if x.repaired+x.unrepaired == 0 || time.Since(x.lastLog) < repairLogEvery {
		return
	}
	x.lastLog = time.Now()
	if x.unrepaired > 0 {
		d.log.Warn("bans differed from another member's although both judged the same reports: judged the reports behind them again; some could not be repaired (no signed reports behind them, their authors unreachable, or this member's charter judges them otherwise)",
			"member", peer, "repaired", x.repaired, "unrepaired", x.unrepaired, "within", repairLogEvery)
	} else {
		d.log.Info("bans differed from another member's although both judged the same reports: judged the reports behind them again",
			"member", peer, "repaired", x.repaired, "within", repairLogEvery)
	}
	x.repaired, x.unrepaired = 0, 0
}
