package daemon

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phalanx"
	"phalanx/alliance"
	"phalanx/arbiter"
	"phalanx/charter"
)

// Catching up from another member's snapshot. A member that starts with no
// snapshot of its own it can use (a new member, typically) and a report
// stream longer than peerSnapshotMin asks the other members what snapshot
// they hold (kind "snapshot", op snapOpOffer), fetches the freshest one in
// chunks of peerSnapshotChunk (op snapOpChunk, by offset), and loads it
// only if it verifies: signed by the offering member's key in the charter,
// made under the charter in force or an earlier one of this member's
// signed charter chain (the stream's amendments after the snapshot must
// lead from it to the charter in force), and the stream still holds the
// message the snapshot's state ends with (checkSnapshotStream). A file that
// fails is refused and the next member's offer is tried.
//
// A snapshot is another member's word, never trusted alone: the member
// replays the stream after it, then compares the digest of the bans it
// holds with the other members' (kind "seqs", as repair.go's compare does)
// whenever both have received exactly the same reports. It keeps the state
// once a majority of the charter's members holds the same digest: this
// member and at least half of the others, one of them at least not the
// member that offered the snapshot (which is therefore never enough on its
// own; with one other member in the charter, no snapshot is asked for).
// When that majority can no longer be reached (too many differ), or is not
// reached within the time allowed, the state is thrown away and the whole
// stream replayed. All of this happens before the member serves.
//
// Of a snapshot from another member, what the stream made is taken: the
// arbiter's state, the decisions of origin alliance and manual, the report
// IDs seen, how far each member's sequence was received, each member's last
// report (this member's own included: its sequence continues after it) and
// the timeline's entries made from the stream. What was the offering
// member's own is not: its self-defense bans and alerts, the timeline's
// entries of its own enforcement and refusals (streamEntries), and anything
// a snapshot never holds (its outbox, its sequence, its kernel's state).
const (
	snapshotKind       = "snapshot"
	snapOpOffer        = 0
	snapOpChunk        = 1
	peerSnapshotChunk  = 512 << 10 // bytes of a snapshot per request (fabric.MaxReplySize is 1 MiB)
	peerSnapshotMin    = 10_000    // reports on the stream from which a member without a snapshot asks for one
	peerSnapshotMax    = 2 << 30   // bytes: a bigger offer is not fetched
	peerSnapshotAsk    = 5 * time.Second
	peerSnapshotFetch  = 10 * time.Minute // to fetch one member's snapshot
	peerSnapshotQuorum = 15 * time.Second // for a majority's digests to agree (then a full replay)
	peerSnapshotEvery  = 500 * time.Millisecond
	peerSnapshotAsking = 8 // members asked at once
	peerSnapshotTemp   = ".peer-snapshot.tmp-*"
)

// Outcomes of a member's attempts to catch up from a snapshot of another
// member (metric label and status key).
const (
	peerSnapLoaded    = "loaded"    // loaded and confirmed by a majority
	peerSnapRefused   = "refused"   // did not verify: signature, charter, stream, encoding
	peerSnapFailed    = "failed"    // not fetched: no offer, no answer, the file changed meanwhile
	peerSnapDiscarded = "discarded" // loaded, then thrown away: a majority did not confirm it
)

// peerSnapshots is the bookkeeping of catching up from other members'
// snapshots. Tests lower min and quorum (export_test.go).
type peerSnapshots struct {
	min                                uint64        // 0: peerSnapshotMin
	quorum                             time.Duration // 0: peerSnapshotQuorum
	loaded, refused, failed, discarded atomic.Int64
}

func (p *peerSnapshots) count(outcome string) {
	switch outcome {
	case peerSnapLoaded:
		p.loaded.Add(1)
	case peerSnapRefused:
		p.refused.Add(1)
	case peerSnapFailed:
		p.failed.Add(1)
	case peerSnapDiscarded:
		p.discarded.Add(1)
	}
}

// counts returns the outcomes so far, by name.
func (p *peerSnapshots) counts() map[string]int64 {
	return map[string]int64{peerSnapLoaded: p.loaded.Load(), peerSnapRefused: p.refused.Load(),
		peerSnapFailed: p.failed.Load(), peerSnapDiscarded: p.discarded.Load()}
}

// addStatus adds the outcomes to a status map as peer_snapshots_OUTCOME.
func (p *peerSnapshots) addStatus(m map[string]int64) {
	for k, v := range p.counts() {
		m["peer_snapshots_"+k] = v
	}
}

// snapshotOffer is what a member says of the snapshot it holds.
type snapshotOffer struct {
	member  string // who offers (not on the wire)
	pos     uint64
	size    uint64
	charter string // the hash of the charter it was made under
}

func encodeSnapshotOffer(o snapshotOffer) []byte {
	b := binary.BigEndian.AppendUint64(nil, o.pos)
	b = binary.BigEndian.AppendUint64(b, o.size)
	b = append(b, byte(len(o.charter)))
	return append(b, o.charter...)
}

// decodeSnapshotOffer reads an offer (another member's, so untrusted); an
// empty answer is no offer.
func decodeSnapshotOffer(b []byte) (o snapshotOffer, ok bool) {
	if len(b) < 17 || int(b[16]) != len(b)-17 {
		return o, false
	}
	o.pos, o.size, o.charter = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), string(b[17:])
	if o.pos == 0 || o.size == 0 || o.size > peerSnapshotMax || o.charter == "" {
		return o, false
	}
	return o, true
}

func encodeSnapshotRequest(op byte, pos, off uint64) []byte {
	if op == snapOpOffer {
		return []byte{snapOpOffer}
	}
	b := binary.BigEndian.AppendUint64([]byte{op}, pos)
	return binary.BigEndian.AppendUint64(b, off)
}

// decodeSnapshotRequest reads a request for a snapshot (another member's,
// so untrusted): an offer, or a chunk at off of the snapshot at pos.
func decodeSnapshotRequest(b []byte) (op byte, pos, off uint64, ok bool) {
	switch {
	case len(b) == 1 && b[0] == snapOpOffer:
		return snapOpOffer, 0, 0, true
	case len(b) == 17 && b[0] == snapOpChunk:
		pos, off = binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])
		return snapOpChunk, pos, off, pos != 0 && off < peerSnapshotMax
	}
	return 0, 0, 0, false
}

// A chunk answer is a status byte and, for chunkOK, the bytes.
const (
	chunkOK   = 0
	chunkGone = 1 // the member holds no snapshot at that position any more
)

// decodeSnapshotChunk reads a chunk answer (untrusted): the bytes, or gone.
func decodeSnapshotChunk(b []byte) (data []byte, gone, ok bool) {
	switch {
	case len(b) == 1 && b[0] == chunkGone:
		return nil, true, true
	case len(b) > 1 && len(b) <= 1+peerSnapshotChunk && b[0] == chunkOK:
		return b[1:], false, true
	}
	return nil, false, false
}

// serveSnapshot answers another member's request for this member's
// snapshot file: what it holds, or a chunk of it. The fabric serves one
// request of a kind at a time, and only to members (Serve drops requests
// whose reply subject is not a current member's inbox; only members'
// certificates connect), so serving costs at most one chunk's read at a
// time; the file is read afresh for each chunk, and a chunk of a file
// replaced since the offer is refused (chunkGone).
func (d *Daemon) serveSnapshot(req []byte) []byte {
	op, pos, off, ok := decodeSnapshotRequest(req)
	if !ok {
		return nil
	}
	f, h, size, err := openSnapshotFile(filepath.Join(d.opts.DataDir, fileSnapshot))
	if err != nil {
		if op == snapOpChunk {
			return []byte{chunkGone}
		}
		return nil
	}
	defer f.Close()
	if op == snapOpOffer {
		return encodeSnapshotOffer(snapshotOffer{pos: h.pos, size: uint64(size), charter: h.charter})
	}
	if h.pos != pos || off >= uint64(size) {
		return []byte{chunkGone}
	}
	out := make([]byte, 1+min(peerSnapshotChunk, uint64(size)-off))
	if _, err := f.ReadAt(out[1:], int64(off)); err != nil {
		return []byte{chunkGone}
	}
	return out
}

// openSnapshotFile opens a snapshot file and reads its header (its
// signature is not checked: the member it is offered to checks it).
func openSnapshotFile(path string) (*os.File, snapshotHeader, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, snapshotHeader{}, 0, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > peerSnapshotMax {
		err = errors.New("too big to offer")
	}
	var h snapshotHeader
	if err == nil {
		h, err = readSnapshotHeader(arbiter.NewSnapshotReader(io.NewSectionReader(f, 0, 64<<10)))
	}
	if err != nil {
		f.Close()
		return nil, snapshotHeader{}, 0, err
	}
	return f, h, fi.Size(), nil
}

// minPeerSnapshot is how long the stream must be for a member without a
// snapshot to ask for one.
func (d *Daemon) minPeerSnapshot() uint64 {
	if d.psnap.min > 0 {
		return d.psnap.min
	}
	return peerSnapshotMin
}

// catchUpFromPeer loads another member's snapshot when this member has
// none and the stream is long, replays the stream after it and keeps it if
// a majority confirms the state (see the top of this file). It returns the
// stream sequence to consume from: after what was replayed, or 1 for a
// full replay. It runs in Run, before the consumer starts.
func (d *Daemon) catchUpFromPeer(ctx context.Context) uint64 {
	cs := d.charter()
	var others []string
	for _, m := range cs.c.Members {
		if m.ID != d.id.ID {
			others = append(others, m.ID)
		}
	}
	if d.secret == "" || len(others) < 2 || len(routeURLs(&cs.c)) < 2 {
		return 1
	}
	wctx, cancel := context.WithTimeout(ctx, clusterWait)
	err := d.fab.Ready(wctx)
	cancel()
	if err != nil {
		return 1
	}
	last, err := d.fab.LastSeq()
	if err != nil || last < d.minPeerSnapshot() {
		return 1
	}
	began := time.Now()
	if left, _ := filepath.Glob(filepath.Join(d.opts.DataDir, peerSnapshotTemp)); len(left) > 0 {
		for _, f := range left { // a fetch that a crash interrupted
			os.Remove(f)
		}
	}
	charters := d.chartersUpTo(cs)
	offers := d.snapshotOffers(ctx, others, last, charters)
	if len(offers) == 0 {
		d.psnap.count(peerSnapFailed)
		d.log.Warn("no member offered a snapshot this member can use: replaying the whole report stream", "reports", last)
		return 1
	}
	nextSq := d.nextSq.Load()
	for _, o := range offers {
		pos, outcome, err := d.loadPeerSnapshot(ctx, o, charters)
		if err != nil {
			d.psnap.count(outcome)
			d.log.Warn("did not take another member's snapshot", "member", o.member, "position", o.pos, "outcome", outcome, "reason", err)
			if ctx.Err() != nil {
				return 1
			}
			continue
		}
		from, agreed, err := d.confirmPeerSnapshot(ctx, o.member, pos)
		if err != nil {
			d.psnap.count(peerSnapDiscarded)
			d.log.Warn("threw away another member's snapshot: replaying the whole report stream", "member", o.member, "position", pos, "reason", err)
			d.forgetPeerSnapshot(nextSq)
			return 1
		}
		d.psnap.count(peerSnapLoaded)
		d.log.Info("caught up from another member's snapshot", "member", o.member, "position", pos, "reports_skipped", pos,
			"bytes", o.size, "confirmed_by", agreed, "replayed_to", from-1, "took", time.Since(began).Round(time.Millisecond))
		return from
	}
	return 1
}

// chartersUpTo returns what a snapshot of another member may have been
// made under: the charter in force, or an earlier one of this member's
// signed charter chain (kept at the join, checked at start by tamper.go).
// The stream's amendments after the snapshot must then lead to the charter
// in force (confirmPeerSnapshot checks it).
func (d *Daemon) chartersUpTo(cs *charterState) func(hash string) (*charter.Charter, bool) {
	return func(hash string) (*charter.Charter, bool) {
		if hash == cs.hash {
			return &cs.c, true
		}
		h, err := readCharterChain(d.opts.DataDir)
		if err != nil || h == nil {
			return nil, false
		}
		raws := [][]byte{h.Root}
		for _, s := range h.Steps {
			if am, err := alliance.ParseAmendment(s.Amendment); err == nil {
				raws = append(raws, am.Charter)
			}
		}
		for _, raw := range raws {
			if c, err := charter.Parse(raw); err == nil && c.Version < cs.c.Version && c.Hash() == hash {
				return &c, true
			}
		}
		return nil, false
	}
}

// snapshotOffers asks the other members what snapshot they hold and
// returns the offers this member can use, freshest first (the charter's
// order among equals).
func (d *Daemon) snapshotOffers(ctx context.Context, others []string, last uint64, charters func(string) (*charter.Charter, bool)) []snapshotOffer {
	got := make([]snapshotOffer, len(others))
	askEach(others, func(i int, m string) {
		rctx, cancel := context.WithTimeout(ctx, peerSnapshotAsk)
		raw, err := d.fab.Request(rctx, m, snapshotKind, encodeSnapshotRequest(snapOpOffer, 0, 0))
		cancel()
		if err != nil || len(raw) == 0 {
			return
		}
		o, ok := decodeSnapshotOffer(raw)
		if !ok {
			d.reject(m, reasonBadRepair, "err", "malformed snapshot offer")
			return
		}
		if _, ok := charters(o.charter); !ok || o.pos > last {
			d.log.Debug("another member's snapshot does not fit this member", "member", m, "position", o.pos, "charter", o.charter)
			return
		}
		o.member = m
		got[i] = o
	})
	offers := slices.DeleteFunc(got, func(o snapshotOffer) bool { return o.member == "" })
	slices.SortStableFunc(offers, func(x, y snapshotOffer) int {
		switch {
		case x.pos > y.pos:
			return -1
		case x.pos < y.pos:
			return 1
		}
		return 0
	})
	return offers
}

// loadPeerSnapshot fetches o into a temporary file and loads it
// (readSnapshot: nothing changes when it fails); it returns the position
// loaded, or the outcome to count and why.
func (d *Daemon) loadPeerSnapshot(ctx context.Context, o snapshotOffer, charters func(string) (*charter.Charter, bool)) (uint64, string, error) {
	_, pub, ok := d.charter().c.Member(o.member)
	if !ok {
		return 0, peerSnapRefused, errors.New("not a member of the charter in force")
	}
	f, err := d.fetchSnapshot(ctx, o)
	if err != nil {
		return 0, peerSnapFailed, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	pos, _, err := d.readSnapshot(ctx, f, snapshotSource{member: o.member, pub: pub, charter: charters, peer: true})
	if err != nil {
		return 0, peerSnapRefused, err
	}
	return pos, "", nil
}

// fetchSnapshot copies o's file, a chunk at a time, into a temporary file
// in the data directory.
func (d *Daemon) fetchSnapshot(ctx context.Context, o snapshotOffer) (_ *os.File, err error) {
	tmp, err := os.CreateTemp(d.opts.DataDir, peerSnapshotTemp)
	if err != nil {
		return nil, fmt.Errorf("store the snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, peerSnapshotFetch)
	defer cancel()
	for off := uint64(0); off < o.size; {
		rctx, c := context.WithTimeout(ctx, peerSnapshotAsk)
		raw, err := d.fab.Request(rctx, o.member, snapshotKind, encodeSnapshotRequest(snapOpChunk, o.pos, off))
		c()
		if err != nil {
			return nil, fmt.Errorf("fetch at %d of %d bytes: %w", off, o.size, err)
		}
		data, gone, ok := decodeSnapshotChunk(raw)
		switch {
		case !ok || uint64(len(data)) > o.size-off:
			return nil, fmt.Errorf("malformed answer at %d of %d bytes", off, o.size)
		case gone:
			return nil, errors.New("the member replaced its snapshot meanwhile")
		}
		if _, err := tmp.Write(data); err != nil {
			return nil, fmt.Errorf("store the snapshot: %w", err)
		}
		off += uint64(len(data))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store the snapshot: %w", err)
	}
	return tmp, nil
}

// confirmPeerSnapshot replays the stream after pos, the position of the
// snapshot offered by offerer just loaded, and waits for a majority to
// confirm the state (see the top of this file). It returns the sequence
// to consume from next and the members that confirmed it.
func (d *Daemon) confirmPeerSnapshot(ctx context.Context, offerer string, pos uint64) (from uint64, agreed []string, err error) {
	last, err := d.fab.LastSeq()
	if err != nil {
		return 0, nil, fmt.Errorf("read the report stream: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.fab.Consume(cctx, pos+1, d.consume) }()
	stop := func() {
		cancel()
		<-done
	}
	t := time.NewTicker(peerSnapshotEvery)
	defer t.Stop()
	wait := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			done <- err // for stop
			return fmt.Errorf("replay the report stream: %w", err)
		case <-t.C:
			return nil
		}
	}
	// Replay what the stream held when asked, while it progresses.
	seen, since := d.consumed.Load(), time.Now()
	for d.consumed.Load() < last {
		if err := wait(); err != nil {
			stop()
			return 0, nil, err
		}
		if c := d.consumed.Load(); c != seen {
			seen, since = c, time.Now()
		} else if time.Since(since) > catchUpStall {
			stop()
			return 0, nil, fmt.Errorf("the replay after the snapshot stopped at %d, before %d", c, last)
		}
	}
	d.consumeMu.Lock()
	sc := d.streamCharter.Hash()
	d.consumeMu.Unlock()
	if cs := d.charter(); sc != cs.hash {
		stop()
		return 0, nil, fmt.Errorf("the stream after the snapshot does not amend its charter to the one in force (%.12s, not %.12s)", sc, cs.hash)
	}

	cs := d.charter()
	need := len(cs.c.Members) / 2 // others that, with this member, make a majority
	verdict := map[string]bool{}  // member: its digest agreed
	deadline := time.Now().Add(cmp.Or(d.psnap.quorum, peerSnapshotQuorum))
	for {
		var ask []string
		for _, m := range cs.c.Members {
			if _, ok := verdict[m.ID]; !ok && m.ID != d.id.ID {
				ask = append(ask, m.ID)
			}
		}
		type answer struct{ same, ok bool }
		answers := make([]answer, len(ask))
		askEach(ask, func(i int, m string) {
			same, ok := d.sameDigest(ctx, m)
			answers[i] = answer{same, ok}
		})
		for i, a := range answers {
			if a.ok {
				verdict[ask[i]] = a.same
			}
		}
		agreed = agreed[:0]
		differ, others := 0, 0
		for m, same := range verdict {
			if same {
				agreed = append(agreed, m)
			} else {
				differ++
			}
		}
		slices.Sort(agreed)
		witness := slices.ContainsFunc(agreed, func(m string) bool { return m != offerer })
		if len(agreed) >= need && witness {
			stop()
			return d.consumed.Load() + 1, agreed, nil
		}
		for _, m := range cs.c.Members {
			if same, ok := verdict[m.ID]; m.ID != d.id.ID && (!ok || same) {
				others++ // may still agree, or did
			}
		}
		if others < need || !slices.ContainsFunc(cs.c.Members, func(m charter.Member) bool {
			same, ok := verdict[m.ID]
			return m.ID != d.id.ID && m.ID != offerer && (!ok || same)
		}) {
			stop()
			return 0, nil, fmt.Errorf("%d of the %d other members hold other bans for the same reports: a majority cannot confirm the state", differ, len(cs.c.Members)-1)
		}
		if time.Now().After(deadline) {
			stop()
			return 0, nil, fmt.Errorf("a majority did not confirm the state within %v (%d of %d other members needed, %d agreed, %d differed)",
				cmp.Or(d.psnap.quorum, peerSnapshotQuorum), need, len(cs.c.Members)-1, len(agreed), differ)
		}
		if err := wait(); err != nil {
			stop()
			return 0, nil, err
		}
	}
}

// askEach runs ask for each member, peerSnapshotAsking at a time, and
// returns when all have.
func askEach(members []string, ask func(i int, member string)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, peerSnapshotAsking)
	for i, m := range members {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ask(i, m)
		})
	}
	wg.Wait()
}

// sameDigest asks member how far it has every member's sequence and its
// digest of the bans in force a second ago (serveSeqs); ok is true when
// both have received exactly the same reports, and same then says whether
// the digests agree.
func (d *Daemon) sameDigest(ctx context.Context, member string) (same, ok bool) {
	at := time.Now().Add(-time.Second).Truncate(time.Second)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	raw, err := d.fab.Request(rctx, member, seqsKind, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
	cancel()
	if err != nil {
		return false, false
	}
	theirSum, _, theirs, valid := decodeSeqs(raw)
	if !valid || !samePositions(theirs, d.positions()) {
		return false, false
	}
	sum, _ := d.digest(at)
	return sum == theirSum, true
}

// samePositions reports whether a and b received the same reports of every
// member; a member at 0 (nothing received) is one not listed.
func samePositions(a, b map[string]uint64) bool {
	for m, x := range a {
		if b[m] != x {
			return false
		}
	}
	for m, x := range b {
		if a[m] != x {
			return false
		}
	}
	return true
}

// forgetPeerSnapshot throws away what a snapshot of another member and the
// replay after it built, so that the whole stream can be replayed: the
// state is as New left it (nextSq, this member's sequence then). It runs
// before the consumer starts and before anything is served or enforced.
func (d *Daemon) forgetPeerSnapshot(nextSq uint64) {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	cs := d.charter()
	d.arb = arbiter.New(&cs.c)
	d.streamCharter = cs.c
	d.snap.base, d.snap.last, d.snap.loaded = cs.hash, [32]byte{}, 0
	d.snap.pos.Store(0)
	d.seen = newIDSet(d.seen.max)
	d.strangers = newIDSet(d.strangers.max)
	d.drep.votes, d.drep.voteQ, d.drep.bans, d.drep.banQ = nil, nil, nil, nil
	d.gaps.mu.Lock()
	clear(d.gaps.m)
	d.gaps.mu.Unlock()
	d.gaps.start(d.id.ID, d.ob.First()-min(d.ob.First(), 1))
	d.view.mu.Lock()
	clear(d.view.last)
	d.view.mu.Unlock()
	d.held.mu.Lock()
	clear(d.held.m)
	d.held.order = nil
	d.held.mu.Unlock()
	d.timeline.mu.Lock()
	d.timeline.entries, d.timeline.start = d.timeline.entries[:0], 0
	d.timeline.mu.Unlock()
	d.nextSq.Store(nextSq)
	var ids []uint64
	d.table.All(func(x phalanx.Decision) bool {
		if x.Origin != phalanx.OriginSelf {
			ids = append(ids, x.ID)
		}
		return true
	})
	if len(ids) > 0 {
		d.applyWith(nil, ids, "another member's snapshot thrown away", applyOpts{})
	}
	d.consumed.Store(0)
}

// streamEntries returns the timeline entries of member's snapshot that the
// stream made, without member's own doings: its alerts and its pipeline's
// refusals (no report behind them), its self-defense decisions and its own
// enforcement.
func streamEntries(entries []entry, member string) []entry {
	return slices.DeleteFunc(entries, func(e entry) bool {
		return e.What == "alert" || e.What == "refused" && e.ReportID == "" ||
			e.Origin == string(phalanx.OriginSelf) || e.What == "enforced" && e.Member == member
	})
}

// peerSnapshotMetrics counts the attempts to catch up from another
// member's snapshot, by outcome.
func peerSnapshotMetrics(p *peerSnapshots) []prometheus.Collector {
	var out []prometheus.Collector
	for _, outcome := range []string{peerSnapLoaded, peerSnapRefused, peerSnapFailed, peerSnapDiscarded} {
		out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_peer_snapshots_total",
			Help:        "Attempts to catch up from another member's snapshot, by outcome (loaded and confirmed by a majority; refused: did not verify; failed: not fetched; discarded: a majority did not confirm it, the whole stream was replayed).",
			ConstLabels: prometheus.Labels{"outcome": outcome}},
			func() float64 { return float64(p.counts()[outcome]) }))
	}
	return out
}
