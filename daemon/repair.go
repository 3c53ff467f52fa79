package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"phalanx/charter"
	"phalanx/fabric"
	"phalanx/report"
)

// Gap repair: every member numbers its reports 1, 2, 3, ... and keeps them
// in its outbox. A receiver that sees a member's sequence skip asks that
// member for the missing reports (kind "repair"); members also compare how
// far they have each member's sequence (kind "seqs"), which catches reports
// lost at the end of a sequence, where no later report shows the gap. So a
// fabric that loses acknowledged messages delays a decision; it does not
// lose it.
const (
	repairKind     = "repair"
	seqsKind       = "seqs"
	repairMaxRange = 256             // reports per repair request
	repairMaxReply = 1 << 20         // bytes per repair reply
	gapGrace       = 2 * time.Second // a gap younger than this may still fill from the stream
	gapGiveUp      = 10 * time.Minute
	repairEvery    = time.Second
	compareEvery   = 10 * time.Second
	relinkCompare  = 5 * time.Second        // catch up this long at most after a link came back (catchUpRelinked)
	relinkEvery    = 250 * time.Millisecond // how often catchUpRelinked asks again
	relinkAsk      = 2 * time.Second        // how long each of its asks waits for an answer
	maxAbove       = 1 << 16                // sequences held above a gap, per member
)

// seqTrack is how far one member's sequence has been received.
type seqTrack struct {
	low   uint64              // every sequence up to low has been received
	above map[uint64]struct{} // received sequences above low+1
	since time.Time           // when the oldest open gap was noticed; zero when none
}

// gaps tracks every other member's sequence. Safe for concurrent use.
type gaps struct {
	mu sync.Mutex
	m  map[string]*seqTrack
}

func newGaps() *gaps { return &gaps{m: map[string]*seqTrack{}} }

// saw records an authentic report of member with sequence seq.
func (g *gaps) saw(member string, seq uint64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.m[member]
	if t == nil {
		// The first report seen sets the baseline: older history is the
		// stream's, which may have aged out.
		g.m[member] = &seqTrack{low: seq, above: map[uint64]struct{}{}}
		return
	}
	switch {
	case seq <= t.low:
		return
	case seq == t.low+1:
		t.low = seq
		t.advance()
	default:
		t.above[seq] = struct{}{}
		if len(t.above) > maxAbove {
			t.skip()
		}
	}
	if len(t.above) == 0 {
		t.since = time.Time{}
	} else if t.since.IsZero() {
		t.since = now
	}
}

// skip gives up the oldest gap: low moves to just below the lowest
// sequence held above it, and on over what follows contiguously.
func (t *seqTrack) skip() (lost uint64) {
	if len(t.above) == 0 {
		return 0
	}
	lowest := t.lowestAbove()
	lost = lowest - t.low - 1
	t.low = lowest - 1
	t.advance()
	return lost
}

// advance moves low on over the sequences held above it contiguously.
func (t *seqTrack) advance() {
	for {
		if _, ok := t.above[t.low+1]; !ok {
			return
		}
		delete(t.above, t.low+1)
		t.low++
	}
}

// lowestAbove is the lowest sequence received above a gap; above must not
// be empty.
func (t *seqTrack) lowestAbove() uint64 {
	return slices.Min(slices.Collect(maps.Keys(t.above)))
}

// maxCountedGap is the widest gap given up that counts as lost reports.
const maxCountedGap = 100_000

// missing returns, for each member whose oldest gap is older than grace,
// the first missing range (at most repairMaxRange), and gives up gaps older
// than giveUp (returning how many sequences were lost that way).
func (g *gaps) missing(now time.Time) (want map[string][2]uint64, lost, jumps uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	want = map[string][2]uint64{}
	for member, t := range g.m {
		if len(t.above) == 0 || now.Sub(t.since) < gapGrace {
			continue
		}
		if now.Sub(t.since) > gapGiveUp {
			// A gap wider than any member makes reports in the time
			// (a sequence that jumped: one odd report can name 5,000,000)
			// is one jump, not millions of lost reports.
			if n := t.skip(); n > maxCountedGap {
				jumps++
			} else {
				lost += n
			}
			t.since = now
			if len(t.above) == 0 {
				t.since = time.Time{}
			}
			continue
		}
		want[member] = [2]uint64{t.low + 1, min(t.lowestAbove()-1, t.low+repairMaxRange)}
	}
	return want, lost, jumps
}

// start sets member's baseline: every sequence up to low counts as
// received. It does nothing once member has been seen.
func (g *gaps) start(member string, low uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[member] == nil {
		g.m[member] = &seqTrack{low: low, above: map[uint64]struct{}{}}
	}
}

// unseen returns the sequences of member in [from, to] not received yet,
// at most max of them.
func (g *gaps) unseen(member string, from, to uint64, max int) []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.m[member]
	var out []uint64
	for seq := from; seq <= to && len(out) < max; seq++ {
		if t != nil && seq <= t.low {
			continue
		}
		if t != nil {
			if _, ok := t.above[seq]; ok {
				continue
			}
		}
		out = append(out, seq)
	}
	return out
}

// lows returns how far each member's sequence has been received.
func (g *gaps) lows() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]uint64, len(g.m))
	for member, t := range g.m {
		out[member] = t.low
	}
	return out
}

// low returns how far member's sequence has been received (0 if never).
func (g *gaps) low(member string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.m[member]; t != nil {
		return t.low
	}
	return 0
}

func encodeRange(from, to uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, from)
	return binary.BigEndian.AppendUint64(b, to)
}

// serveRepair answers another member's request for a range of this
// member's reports from the outbox.
func (d *Daemon) serveRepair(req []byte) []byte {
	if len(req) != 16 {
		return nil
	}
	from, to := binary.BigEndian.Uint64(req), binary.BigEndian.Uint64(req[8:])
	if from == 0 || to < from || to-from >= repairMaxRange {
		return nil
	}
	var out []byte
	d.ob.Range(from, to, repairMaxRange, func(_ uint64, data []byte) bool {
		if len(out)+4+len(data) > repairMaxReply {
			return false
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		out = append(out, data...)
		return true
	})
	return out
}

// serveSeqs answers how far this member has received every member's
// sequence, its own included, and the digest of the bans its arbiter holds
// in force at the time the request names (so both sides digest the same
// instant).
func (d *Daemon) serveSeqs(req []byte) []byte {
	at := time.Now()
	if len(req) == 8 {
		at = time.Unix(0, int64(binary.BigEndian.Uint64(req)))
	}
	sum, n := d.digest(at)
	out := append(sum[:], binary.BigEndian.AppendUint32(nil, uint32(n))...)
	for member, low := range d.positions() {
		out = append(out, byte(len(member)))
		out = append(out, member...)
		out = binary.BigEndian.AppendUint64(out, low)
	}
	return out
}

// positions is how far this member has every member's sequence (its own:
// as far as it has made reports).
func (d *Daemon) positions() map[string]uint64 {
	lows := d.gaps.lows()
	lows[d.id.ID] = d.ob.Last()
	return lows
}

// digest is the arbiter's digest of the bans in force at at.
func (d *Daemon) digest(at time.Time) ([32]byte, int) {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	return d.arb.Digest(at)
}

// decodeSeqs reads serveSeqs' answer; ok is false for a malformed one.
func decodeSeqs(b []byte) (sum [32]byte, n int, lows map[string]uint64, ok bool) {
	if len(b) < 36 {
		return sum, 0, nil, false
	}
	copy(sum[:], b)
	n = int(binary.BigEndian.Uint32(b[32:]))
	b = b[36:]
	lows = map[string]uint64{}
	for len(b) > 0 {
		k := int(b[0])
		if len(b) < 1+k+8 || k == 0 {
			return sum, n, lows, false
		}
		lows[string(b[1:1+k])] = binary.BigEndian.Uint64(b[1+k:])
		b = b[1+k+8:]
	}
	return sum, n, lows, true
}

// repairLoop fills gaps in other members' sequences: from the member
// itself (its outbox) when a gap outlives gapGrace, and by comparing with
// the other members every compareEvery.
func (d *Daemon) repairLoop(ctx context.Context) {
	if d.secret == "" {
		return
	}
	for kind, h := range map[string]func([]byte) []byte{repairKind: d.serveRepair, seqsKind: d.serveSeqs, bansKind: d.serveBans,
		snapshotKind: d.serveSnapshot} {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.fab.Serve(ctx, kind, h); err != nil && ctx.Err() == nil && !errors.Is(err, fabric.ErrClosed) {
				d.log.Error("serve "+kind+" requests", "err", err)
			}
		}()
	}
	// A link to another member's server that comes back (a partition
	// healed, a member restarted) means reports may have been missed
	// meanwhile: catchUpRelinked compares at once, and again until every
	// member answered (the other links, and the subscriptions that cross
	// them, follow within seconds), instead of within compareEvery.
	relinked := make(chan struct{}, 1)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		for d.fab.WaitLinkUp(ctx) == nil {
			nudge(relinked)
		}
	}()
	go func() {
		defer d.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-relinked:
				d.catchUpRelinked(ctx, relinked)
			}
		}
	}()
	tick := time.NewTicker(repairEvery)
	defer tick.Stop()
	lastCompare := time.Now()
	lastHeal := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		want, lost, jumps := d.gaps.missing(time.Now())
		if lost > 0 {
			d.met.gapsLost.Add(float64(lost))
			d.log.Error("gave up repairing reports: their members did not answer for "+gapGiveUp.String(), "reports", lost)
		}
		if jumps > 0 {
			d.log.Warn("a member's report sequence jumped further than it could have reported in the time: not counted as lost reports", "jumps", jumps, "wider_than", maxCountedGap)
		}
		// Each member is asked on its own goroutine, and a range is asked
		// for as soon as one answer shows it missing: a member that does
		// not answer (cut off: 2 s for a comparison, 5 s for a repair)
		// holds up no other.
		delete(want, d.id.ID)
		var repairs sync.WaitGroup
		repairFrom := func(member string, r [2]uint64) {
			repairs.Go(func() { d.repair(ctx, member, r[0], r[1]) })
		}
		for member, r := range want {
			repairFrom(member, r)
		}
		if time.Since(lastCompare) >= compareEvery {
			lastCompare = time.Now()
			d.compare(ctx, func(member string, r [2]uint64) {
				if _, ok := want[member]; !ok && member != d.id.ID {
					want[member] = r
					repairFrom(member, r)
				}
			})
		}
		repairs.Wait()
		if d.reconciled.Load() && time.Since(lastHeal) >= compareEvery {
			lastHeal = time.Now()
			d.healOwn(ctx, false)
		}
	}
}

// compare asks every other member at once how far it has each member's
// sequence, and calls found with each range this member lacks as the
// answers come (reports lost at the end of a sequence show up no other
// way); found runs on compare's goroutine. Where both have exactly the same
// reports, it also compares the digests of the bans in force: a
// difference then means one of them judged something differently, which
// sequences alone cannot show; it is counted and logged.
func (d *Daemon) compare(ctx context.Context, found func(member string, r [2]uint64)) {
	cs := d.charter()
	at, req := seqsRequest()
	for m := range d.askSeqs(ctx, cs.c.Members, req) {
		if m.err == nil {
			d.compareWith(ctx, cs, m, at, found)
		}
	}
}

// seqsRequest returns a seqs request and the time whose bans' digest it
// asks for: the last whole second that is over.
func seqsRequest() (time.Time, []byte) {
	at := time.Now().Add(-time.Second).Truncate(time.Second)
	return at, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
}

// compareWith compares this member's sequences with m's answer to a seqs
// request for at, as compare does with each answer.
func (d *Daemon) compareWith(ctx context.Context, cs *charterState, m seqsAnswer, at time.Time, found func(member string, r [2]uint64)) {
	theirSum, theirN, theirs, ok := decodeSeqs(m.raw)
	if !ok {
		return
	}
	for member, pos := range theirs {
		if member == d.id.ID {
			continue
		}
		if _, _, ok := cs.c.Member(member); !ok {
			continue
		}
		mine := d.gaps.low(member)
		if pos > mine {
			found(member, [2]uint64{mine + 1, min(pos, mine+repairMaxRange)})
		}
	}
	if maps.Equal(theirs, d.positions()) {
		d.ctr.digests.Add(1)
		if sum, n := d.digest(at); sum != theirSum {
			d.ctr.mismatches.Add(1)
			d.met.digestMismatch.Inc()
			d.log.Warn("this member and another hold different bans although they judged the same reports", "member", m.ID, "bans_here", n, "bans_there", theirN)
			d.repairDigest(ctx, m.ID, at) // digestrepair.go: judge the reports behind the differing bans again
		}
	}
}

// catchUpRelinked runs when a link to another member's server came back:
// what the other members published meanwhile may be missing here. It
// asks every member for its sequences (a seqs request, as compare) at
// once, and again every relinkEvery until each has answered, each ask
// waiting up to relinkAsk on its own goroutine: right after a link comes
// back an answer can be lost while the subscriptions cross the new links,
// and such a loss must not hold up the next ask (measured: it held a hub
// member 2 s after its routes were back). Each answer that shows reports
// missing here has them asked for (a repair) from their member at once,
// and again every 2 relinkEvery until they are here (at once when that
// member itself answers). It stops once
// every member answered and nothing shown missing is still missing, or
// relinkCompare after the last link came back (relinked).
func (d *Daemon) catchUpRelinked(ctx context.Context, relinked <-chan struct{}) {
	end := time.Now().Add(relinkCompare)
	var (
		mu       sync.Mutex
		answered = map[string]bool{}
		want     = map[string]uint64{} // member -> the highest sequence an answer showed missing
		repaired = map[string]time.Time{}
		work     sync.WaitGroup
	)
	defer work.Wait()
	// repairFrom asks member for what answers showed missing, unless it
	// was asked less than 2 relinkEvery ago; now says it just answered
	// (its links are up: ask at once).
	repairFrom := func(member string, now bool) {
		mu.Lock()
		defer mu.Unlock()
		to, low := want[member], d.gaps.low(member)
		if low >= to || !now && time.Since(repaired[member]) < 2*relinkEvery {
			return
		}
		repaired[member] = time.Now()
		work.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, relinkAsk)
			defer cancel()
			d.repair(rctx, member, low+1, min(to, low+repairMaxRange))
		})
	}
	tick := time.NewTicker(relinkEvery)
	defer tick.Stop()
	for {
		cs := d.charter()
		at, req := seqsRequest()
		done := true
		for _, m := range cs.c.Members {
			if m.ID == d.id.ID {
				continue
			}
			mu.Lock()
			ok := answered[m.ID]
			mu.Unlock()
			if ok {
				continue
			}
			done = false
			work.Go(func() {
				rctx, cancel := context.WithTimeout(ctx, relinkAsk)
				raw, err := d.fab.Request(rctx, m.ID, seqsKind, req)
				cancel()
				if err != nil {
					return
				}
				mu.Lock()
				first := !answered[m.ID]
				answered[m.ID] = true
				mu.Unlock()
				if !first {
					return
				}
				d.compareWith(ctx, cs, seqsAnswer{ID: m.ID, raw: raw}, at, func(member string, r [2]uint64) {
					mu.Lock()
					want[member] = max(want[member], r[1])
					mu.Unlock()
					repairFrom(member, member == m.ID)
				})
			})
		}
		mu.Lock()
		members := slices.Collect(maps.Keys(want))
		mu.Unlock()
		for _, member := range members {
			mu.Lock()
			to := want[member]
			mu.Unlock()
			if d.gaps.low(member) < to {
				done = false
			}
			repairFrom(member, false)
		}
		if done || time.Now().After(end) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-relinked:
			end = time.Now().Add(relinkCompare)
		case <-tick.C:
		}
	}
}

// seqsAnswer is one member's answer to a seqs request, or why none came.
type seqsAnswer struct {
	ID  string
	raw []byte
	err error
}

// askSeqs sends req to every member but this one at once, each asked for
// at most 2 s, and delivers their answers in the order they come; the
// channel is closed after the last.
func (d *Daemon) askSeqs(ctx context.Context, members []charter.Member, req []byte) <-chan seqsAnswer {
	out := make(chan seqsAnswer, len(members)) // never blocks a sender
	var asks sync.WaitGroup
	for _, m := range members {
		if m.ID == d.id.ID {
			continue
		}
		asks.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			raw, err := d.fab.Request(rctx, m.ID, seqsKind, req)
			cancel()
			out <- seqsAnswer{ID: m.ID, raw: raw, err: err}
		})
	}
	go func() {
		asks.Wait()
		close(out)
	}()
	return out
}

// repair asks member for its reports from..to and judges those that come
// back like any report.
func (d *Daemon) repair(ctx context.Context, member string, from, to uint64) {
	if !d.knows(member) {
		// Its admission is in the stream, not yet judged here (a founder
		// waiting for its stream): the gap stays, and the reports are
		// asked for again once it is.
		return
	}
	parts, err := d.askReports(ctx, member, from, to)
	if err != nil {
		d.log.Debug("repair request failed (will retry)", "member", member, "from", from, "to", to, "err", err)
		return
	}
	n := 0
	for _, data := range parts {
		r, err := report.Unmarshal(data)
		if err != nil || r.Member != member || r.Seq < from || r.Seq > to {
			d.reject(member, reasonBadRepair, "err", err)
			continue
		}
		// A repaired report has no storage time of its own: it is judged
		// at its own time (the signature stands behind it).
		d.consume(fabric.Msg{Data: data, Time: r.Time})
		n++
	}
	if n > 0 {
		d.met.repaired.Add(float64(n))
		d.log.Info("repaired reports missing from the fabric", "member", member, "from", from, "to", to, "reports", n)
	}
}

// askReports asks member for its reports from..to (a repair request, 5 s
// at most) and returns the reply cut into reports, unchecked.
func (d *Daemon) askReports(ctx context.Context, member string, from, to uint64) ([][]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := d.fab.Request(rctx, member, repairKind, encodeRange(from, to))
	if err != nil {
		return nil, err
	}
	return splitReports(raw), nil
}

// knows reports whether this member's arbiter knows member: its admission
// has been judged here.
func (d *Daemon) knows(member string) bool {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	return d.arb.Knows(member)
}

// healOwn gives back what the fabric lost of this member's own reports:
// those in the outbox that the fabric acknowledged, are older than
// gapGrace, and never came back on the stream. Each is judged here (the
// author's own table must not lose the decision, nor its kernel the ban)
// and published again, so that the stream and later members have it too
// (reissued as of now if it is too old to be accepted). locked says the
// caller holds consumeMu (finishCatchUp, before it reconciles the kernel).
func (d *Daemon) healOwn(ctx context.Context, locked bool) {
	first, pub := d.ob.First(), d.ob.Published()
	if pub == 0 {
		return
	}
	missing := d.gaps.unseen(d.id.ID, max(first, 1), pub, repairMaxRange)
	cutoff := d.now().Add(-gapGrace)
	var again [][]byte
	for _, seq := range missing {
		data, ok := d.ob.Get(seq)
		if !ok {
			continue
		}
		r, err := report.Unmarshal(data)
		if err != nil || r.Time.After(cutoff) {
			continue
		}
		m := fabric.Msg{Data: data, Time: r.Time}
		if locked {
			d.consumeLocked(m)
		} else {
			d.consume(m)
		}
		again = append(again, data)
	}
	if len(again) == 0 {
		return
	}
	d.met.repaired.Add(float64(len(again)))
	d.log.Warn("the fabric lost reports of this member: applied them again from the outbox and republished them", "reports", len(again))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for _, data := range again {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ok := d.publish(pctx, 0, data)
			cancel()
			if !ok {
				return
			}
		}
	}()
}

// splitReports cuts a repair reply (another member's, so untrusted) into
// its length-prefixed reports, stopping at the first length that runs past
// the end or past report.MaxSize. The parts share raw's memory.
func splitReports(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) >= 4 {
		size := int(binary.BigEndian.Uint32(raw))
		if size > len(raw)-4 || size > report.MaxSize {
			break
		}
		out = append(out, raw[4:4+size])
		raw = raw[4+size:]
	}
	return out
}

// reasonBadRepair counts repair replies that were not the asked reports.
const reasonBadRepair = "bad-repair"
