package daemon

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/atomicfile"
	"phalanx/charter"
	"phalanx/fabric"
)

// Restart from a snapshot: a member writes, every snapshotEvery reports or
// snapshotInterval and when it stops, what a replay of the report stream
// up to a position P would rebuild: the arbiter's state, the decisions the
// stream made (origins alliance and manual), the report IDs it has seen,
// how far it has each member's sequence, and the timeline. The file is
// signed with the member's own key. At start, a snapshot that verifies,
// was made under the charter in force and whose position is still in the
// same stream (the message at P is there and is the one the snapshot
// followed) is loaded and the replay starts at P+1; anything else is
// logged with its reason and ignored (a full replay).
//
// A restart from a snapshot forgets what a replay would not give back
// either, plus: the counters and metrics of the reports before P (they
// start again from zero), and other members' enforcement records held for
// values not banned here (heldEntries).
//
// The file is, in arbiter.SnapshotWriter's encoding:
//
//	magic, version, member, position, SHA-256 of the message at position,
//	charter hash, time written, stream's last sequence when written,
//	arbiter state (arbiter.WriteSnapshot),
//	seen report IDs, sequences per member, last report per member,
//	timeline entries (JSON), how many decisions at most follow (from
//	version 2 on: the table's size while writing), decisions (each
//	behind a "more" flag), magic,
//	then 64 bytes: ed25519 signature of SHA-256(snapshotContext, all of the above).
const (
	fileSnapshot     = "snapshot"
	snapshotMagic    = "phalanx-member-snapshot"
	snapshotVersion  = 2 // and 1, without the count of decisions, is read
	snapshotContext  = "phalanx snapshot v1\x00"
	snapshotEvery    = 100_000          // reports consumed between snapshots
	snapshotInterval = 10 * time.Minute // and at least this often while reports come
	snapshotCheck    = 10 * time.Second // how often snapshotLoop looks
	snapshotStreamAt = 5 * time.Second  // how long reading the stream at P may take
	// snapshotMaxDecisions bounds the decisions a snapshot may hold.
	snapshotMaxDecisions = 1 << 26
	// snapshotChunk is how many decisions a load applies at once.
	snapshotChunk = 4096
	// minDecisionBytes is no more than any decision takes in a snapshot
	// (its flag, ID, prefix and empty fields).
	minDecisionBytes = 12
)

// snapshots is the daemon's snapshot bookkeeping.
type snapshots struct {
	mu     sync.Mutex    // one writer at a time
	base   string        // the hash of the charter the arbiter began with (Run's start)
	pos    atomic.Uint64 // the position of the last snapshot written or loaded
	at     time.Time     // when it was written or loaded; under mu
	last   [32]byte      // SHA-256 of the stream message at d.consumed; under consumeMu
	loaded uint64        // the position loaded at start, 0 for none
	phases []any         // how long the load's steps took, for its log line
}

// sawStream notes the stream message being consumed (its hash identifies
// the position in a snapshot). The caller holds consumeMu.
func (s *snapshots) sawStream(m fabric.Msg) { s.last = sha256.Sum256(m.Data) }

// snapshotLoop writes a snapshot every snapshotEvery reports consumed, or
// snapshotInterval after the last one when reports came since, until ctx
// ends.
func (d *Daemon) snapshotLoop(ctx context.Context) {
	t := time.NewTicker(snapshotCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !d.caughtUp.Load() {
			continue
		}
		c, p := d.consumed.Load(), d.snap.pos.Load()
		d.snap.mu.Lock()
		due := c >= p+snapshotEvery || c > p && time.Since(d.snap.at) >= snapshotInterval
		d.snap.mu.Unlock()
		if due {
			if err := d.writeSnapshot(); err != nil {
				d.log.Error("write a snapshot of the arbiter's state (restarts replay the whole stream until one is written)", "err", err)
			}
		}
	}
}

// stopSnapshot writes a snapshot when the member stops, if the stream
// moved since the last one.
func (d *Daemon) stopSnapshot() {
	if d.consumed.Load() <= d.snap.pos.Load() {
		return
	}
	if err := d.writeSnapshot(); err != nil {
		d.log.Error("write a snapshot of the arbiter's state at stop (the next start replays more of the stream)", "err", err)
	}
}

// writeSnapshot writes a snapshot of the state at the position consumed
// now. It holds consumeMu while it encodes (the stream waits), writing to
// a temporary file as it goes, and puts the file in place atomically.
func (d *Daemon) writeSnapshot() error {
	d.snap.mu.Lock()
	defer d.snap.mu.Unlock()
	began := time.Now()
	path := filepath.Join(d.opts.DataDir, fileSnapshot)
	tmp, err := os.CreateTemp(d.opts.DataDir, "."+fileSnapshot+".tmp-*")
	if err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	last, _ := d.fab.LastSeq() // recorded for people; the message hash identifies the stream
	h := sha256.New()
	h.Write([]byte(snapshotContext))
	w := arbiter.NewSnapshotWriter(io.MultiWriter(tmp, h))

	d.consumeMu.Lock()
	pos, n, err := d.encodeSnapshot(w, last)
	d.consumeMu.Unlock()
	held := time.Since(began)
	if err != nil {
		return err
	}
	if pos == 0 {
		return nil // nothing consumed, or the charter changed on the stream
	}
	sig := d.id.Sign(h.Sum(nil))
	if _, err := tmp.Write(sig); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync snapshot: %w", err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("move snapshot into place: %w", err)
	}
	atomicfile.SyncDir(d.opts.DataDir)
	d.snap.pos.Store(pos)
	d.snap.at = time.Now()
	d.log.Info("wrote a snapshot of the arbiter's state", "position", pos, "decisions", n, "bytes", st.Size(),
		"stream_paused", held.Round(time.Millisecond), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// encodeSnapshot writes the state at d.consumed to w, and returns that
// position (0 when there is nothing to write) and how many decisions went
// in. The caller holds consumeMu.
func (d *Daemon) encodeSnapshot(w *arbiter.SnapshotWriter, streamLast uint64) (pos uint64, decisions int, err error) {
	pos = d.consumed.Load()
	if pos == 0 {
		return 0, 0, nil
	}
	if h := d.streamCharter.Hash(); h != d.snap.base {
		// An amendment on the stream changed the arbiter's charter: a
		// restart replays the stream under the new one (whose hash the
		// next process begins with), which this state does not match.
		d.log.Debug("no snapshot: the charter changed on the stream since this process started", "charter", h)
		return 0, 0, nil
	}
	writeSnapshotHeader(w, snapshotHeader{version: snapshotVersion, member: d.id.ID, pos: pos, msg: d.snap.last[:],
		charter: d.snap.base, written: d.now(), lastSeen: streamLast})
	if err := w.Arbiter(d.arb); err != nil {
		return 0, 0, fmt.Errorf("write snapshot: %w", err)
	}

	// The report IDs seen, oldest first, each with whether it still
	// counts (a forgotten one stays in the ring).
	s := d.seen
	w.Uint(uint64(s.max))
	for i := range s.max {
		id := s.ring[(s.next+i)%s.max]
		if id == "" {
			continue
		}
		_, in := s.m[id]
		w.Bool(true)
		w.String(id)
		w.Bool(in)
	}
	w.Bool(false)

	d.gaps.mu.Lock()
	members := make([]string, 0, len(d.gaps.m))
	for m := range d.gaps.m {
		members = append(members, m)
	}
	slices.Sort(members)
	w.Uint(uint64(len(members)))
	for _, m := range members {
		t := d.gaps.m[m]
		w.String(m)
		w.Uint(t.low)
		above := make([]uint64, 0, len(t.above))
		for s := range t.above {
			above = append(above, s)
		}
		slices.Sort(above)
		w.Uint(uint64(len(above)))
		for _, s := range above {
			w.Uint(s)
		}
	}
	d.gaps.mu.Unlock()

	d.view.mu.Lock()
	members = members[:0]
	for m := range d.view.last {
		members = append(members, m)
	}
	slices.Sort(members)
	w.Uint(uint64(len(members)))
	for _, m := range members {
		l := d.view.last[m]
		w.String(m)
		w.Time(l.at)
		w.Uint(l.seq)
	}
	d.view.mu.Unlock()

	d.timeline.mu.Lock()
	entries := make([]entry, 0, len(d.timeline.entries))
	entries = append(entries, d.timeline.entries[d.timeline.start:]...)
	entries = append(entries, d.timeline.entries[:d.timeline.start]...)
	d.timeline.mu.Unlock()
	w.Uint(uint64(len(entries)))
	for i := range entries {
		b, err := json.Marshal(&entries[i])
		if err != nil {
			return 0, 0, fmt.Errorf("write snapshot: timeline: %w", err)
		}
		w.Bytes(b)
	}

	// The decisions the stream made, in force now. The table's own
	// order: a snapshot is this member's, read back by it alone. First
	// how many at most, so that a load makes room for them at once.
	w.Uint(uint64(d.table.Len()))
	now := d.now()
	d.table.All(func(x phalanx.Decision) bool {
		if (x.Origin == phalanx.OriginAlliance || x.Origin == phalanx.OriginManual) && x.Until.After(now) {
			w.Bool(true)
			w.Decision(&x)
			decisions++
		}
		return true
	})
	w.Bool(false)
	w.String(snapshotMagic)
	if err := w.Flush(); err != nil {
		return 0, 0, fmt.Errorf("write snapshot: %w", err)
	}
	return pos, decisions, nil
}

// snapshotHeader is what a snapshot says of itself.
type snapshotHeader struct {
	version  uint64
	member   string
	pos      uint64
	msg      []byte // SHA-256 of the stream message at pos
	charter  string
	written  time.Time
	lastSeen uint64
}

// loadSnapshot loads the snapshot in the data directory if it can be
// trusted and fits the stream, and returns the stream sequence to consume
// from: the snapshot's position plus one, or 1 for a full replay. It runs
// in Run, before the consumer starts.
func (d *Daemon) loadSnapshot(ctx context.Context) uint64 {
	d.snap.base = d.streamCharter.Hash()
	d.snap.mu.Lock()
	d.snap.at = time.Now()
	d.snap.mu.Unlock()
	path := filepath.Join(d.opts.DataDir, fileSnapshot)
	began := time.Now()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 1
	}
	if err != nil {
		d.log.Warn("ignoring the snapshot (replaying the whole report stream): cannot open it", "path", path, "err", err)
		return 1
	}
	defer f.Close()
	pos, n, err := d.readSnapshot(ctx, f, d.ownSnapshots())
	if err != nil {
		d.log.Warn("ignoring the snapshot (replaying the whole report stream)", "path", path, "reason", err)
		return 1
	}
	d.snap.loaded = pos
	d.snap.pos.Store(pos)
	d.log.Info("loaded a snapshot of the arbiter's state: replaying the report stream after it",
		append([]any{"position", pos, "decisions", n, "took", time.Since(began).Round(time.Millisecond)}, d.snap.phases...)...)
	return pos + 1
}

// snapshotSource says whose snapshot a file must be, and under which
// charters it may have been made: this member's own (loadSnapshot), or
// another member's offered to it (peersnapshot.go).
type snapshotSource struct {
	member string            // the member that made and signed it
	pub    ed25519.PublicKey // that member's key
	// charter returns the charter a snapshot made under the charter of
	// hash is read with; false refuses it.
	charter func(hash string) (*charter.Charter, bool)
	peer    bool // another member's: its own doings are not taken (commitSnapshot)
}

// ownSnapshots is the source of this member's own snapshot: made by it,
// under the charter in force.
func (d *Daemon) ownSnapshots() snapshotSource {
	cs := d.charter()
	return snapshotSource{member: d.id.ID, pub: d.id.Public, charter: func(hash string) (*charter.Charter, bool) { return &cs.c, hash == cs.hash }}
}

// readSnapshot checks the snapshot in f, from src, and loads it; it
// changes nothing when it returns an error.
func (d *Daemon) readSnapshot(ctx context.Context, f *os.File, src snapshotSource) (pos uint64, decisions int, err error) {
	d.snap.phases = d.snap.phases[:0]
	t := time.Now()
	phase := func(name string) {
		d.snap.phases = append(d.snap.phases, name, time.Since(t).Round(time.Millisecond))
		t = time.Now()
	}
	size, err := verifySnapshot(f, src.pub)
	phase("verify")
	if err != nil {
		return 0, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("read the snapshot: %w", err)
	}
	r := arbiter.NewSnapshotReader(bufio.NewReaderSize(io.LimitReader(f, size), 64<<10))
	h, err := readSnapshotHeader(r)
	if err != nil {
		return 0, 0, err
	}
	c, ok := src.charter(h.charter)
	switch {
	case h.member != src.member:
		return 0, 0, fmt.Errorf("made by member %s, expected %s", h.member, src.member)
	case !ok:
		return 0, 0, fmt.Errorf("made under charter %.12s, the charter in force is %.12s", h.charter, d.charter().hash)
	}
	if err := d.checkSnapshotStream(ctx, h); err != nil {
		return 0, 0, err
	}
	phase("stream_check")
	st, err := decodeSnapshotState(r, c)
	if err != nil {
		return 0, 0, err
	}
	phase("state")
	// The decisions come last: they are applied as they are read, and
	// taken back if the rest of the file fails.
	now := d.now()
	var added []uint64
	grow := func(k int) { d.table.Grow(min(k, int(size/minDecisionBytes))) } // a bound should the count be wrong
	err = readSnapshotDecisions(r, h.version, grow, func(chunk []phalanx.Decision) {
		live := slices.DeleteFunc(chunk, func(x phalanx.Decision) bool { return !x.Until.After(now) })
		stored, _, _ := d.applyWith(live, nil, "snapshot", applyOpts{})
		for i, x := range stored {
			if x.ID == live[i].ID {
				added = append(added, x.ID)
			}
		}
		decisions += len(live)
	})
	if err != nil {
		if len(added) > 0 {
			d.applyWith(nil, added, "snapshot taken back", applyOpts{})
		}
		return 0, 0, err
	}
	phase("decisions")
	d.commitSnapshot(st, h, c, src)
	return h.pos, decisions, nil
}

// readSnapshotDecisions reads the decisions of a snapshot of version v,
// to its end: it passes grow how many at most follow (when v says), then
// the decisions to apply a chunk at a time (apply may keep nothing of
// it). Decoding runs on a goroutine of its own, a chunk ahead of apply:
// a restart spends its time on both.
func readSnapshotDecisions(r *arbiter.SnapshotReader, v uint64, grow func(int), apply func([]phalanx.Decision)) error {
	if v >= 2 {
		if k := r.Count(snapshotMaxDecisions); r.Err() == nil {
			grow(k)
		}
	}
	const buffers = 3 // one being decoded, one waiting, one applied
	chunks := make(chan []phalanx.Decision, buffers)
	free := make(chan []phalanx.Decision, buffers)
	for range buffers {
		free <- make([]phalanx.Decision, 0, snapshotChunk)
	}
	go func() {
		defer close(chunks)
		n := 0
		chunk := <-free
		for r.Bool() {
			if n++; n > snapshotMaxDecisions {
				r.Fail()
				break
			}
			x := r.Decision()
			if r.Err() != nil {
				break
			}
			if chunk = append(chunk, x); len(chunk) == snapshotChunk {
				chunks <- chunk
				chunk = (<-free)[:0]
			}
		}
		if r.Err() == nil && len(chunk) > 0 {
			chunks <- chunk
		}
	}()
	for c := range chunks {
		apply(c)
		free <- c
	}
	// The decoder is done with r: chunks is closed.
	if r.String() != snapshotMagic || r.Err() != nil {
		return fmt.Errorf("damaged decisions: %v", r.Err())
	}
	return nil
}

// verifySnapshot checks the signature at the end of f against pub and
// returns the size of what it signs.
func verifySnapshot(f *os.File, pub ed25519.PublicKey) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("read the snapshot: %w", err)
	}
	size := fi.Size() - ed25519.SignatureSize
	if size < int64(len(snapshotMagic)) {
		return 0, fmt.Errorf("truncated: %d bytes", fi.Size())
	}
	h := sha256.New()
	h.Write([]byte(snapshotContext))
	if _, err := io.Copy(h, io.LimitReader(f, size)); err != nil {
		return 0, fmt.Errorf("read the snapshot: %w", err)
	}
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := io.ReadFull(f, sig); err != nil {
		return 0, fmt.Errorf("read the snapshot: %w", err)
	}
	if !ed25519.Verify(pub, h.Sum(nil), sig) {
		return 0, errors.New("bad signature: the file is damaged, truncated, or not this member's")
	}
	return size, nil
}

func writeSnapshotHeader(w *arbiter.SnapshotWriter, h snapshotHeader) {
	w.String(snapshotMagic)
	w.Uint(h.version)
	w.String(h.member)
	w.Uint(h.pos)
	w.Bytes(h.msg)
	w.String(h.charter)
	w.Time(h.written)
	w.Uint(h.lastSeen)
}

// readSnapshotHeader reads a snapshot's header.
func readSnapshotHeader(r *arbiter.SnapshotReader) (snapshotHeader, error) {
	if r.String() != snapshotMagic {
		return snapshotHeader{}, errors.New("not a snapshot")
	}
	h := snapshotHeader{version: r.Uint()}
	if r.Err() == nil && (h.version < 1 || h.version > snapshotVersion) {
		return snapshotHeader{}, fmt.Errorf("unknown version %d (this build reads up to %d)", h.version, snapshotVersion)
	}
	h.member, h.pos, h.msg, h.charter, h.written, h.lastSeen = r.String(), r.Uint(), r.Bytes(), r.String(), r.Time(), r.Uint()
	if err := r.Err(); err != nil {
		return snapshotHeader{}, fmt.Errorf("damaged header: %w", err)
	}
	if h.pos == 0 || len(h.msg) != sha256.Size {
		return snapshotHeader{}, errors.New("damaged header")
	}
	return h, nil
}

// checkSnapshotStream checks that the stream still holds the message the
// snapshot's state ends with, at its position: a stream purged past it,
// reset or recreated, or another stream, does not.
func (d *Daemon) checkSnapshotStream(ctx context.Context, h snapshotHeader) error {
	if d.secret != "" {
		if len(routeURLs(&d.charter().c)) < 2 {
			return errors.New("the report stream is not available (this member is alone in its alliance)")
		}
		wctx, cancel := context.WithTimeout(ctx, clusterWait)
		err := d.fab.Ready(wctx)
		cancel()
		if err != nil {
			return fmt.Errorf("the report stream is not available: %w", err)
		}
	}
	last, err := d.fab.LastSeq()
	if err != nil {
		return fmt.Errorf("read the report stream: %w", err)
	}
	if last < h.pos {
		return fmt.Errorf("the report stream ends at %d, before the snapshot's position %d (purged, reset or recreated)", last, h.pos)
	}
	m, err := streamMessageAt(ctx, d.fab, h.pos)
	if err != nil {
		return err
	}
	if m.Seq != h.pos {
		return fmt.Errorf("the report stream no longer holds the snapshot's position %d (it starts at %d: purged)", h.pos, m.Seq)
	}
	if sum := sha256.Sum256(m.Data); string(sum[:]) != string(h.msg) {
		return fmt.Errorf("the report stream holds another message at the snapshot's position %d (recreated, or another stream)", h.pos)
	}
	return nil
}

// streamMessageAt returns the first stream message at or after seq.
func streamMessageAt(ctx context.Context, fab *fabric.Fabric, seq uint64) (fabric.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotStreamAt)
	defer cancel()
	var got fabric.Msg
	found := false
	err := fab.Consume(ctx, seq, func(m fabric.Msg) {
		if m.Seq != 0 && !found {
			got, found = m, true
			cancel()
		}
	})
	if found {
		return got, nil
	}
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("nothing within %v", snapshotStreamAt)
	}
	return fabric.Msg{}, fmt.Errorf("read the report stream at the snapshot's position %d: %w", seq, err)
}

// snapshotState is a snapshot's content but for its decisions, decoded
// before anything of it is used.
type snapshotState struct {
	arb      *arbiter.Arbiter
	seen     []string
	seenIn   []bool
	seenMax  int
	gaps     map[string]*seqTrack
	view     map[string]lastReport
	timeline []entry
}

// decodeSnapshotState reads a snapshot's state up to its decisions.
func decodeSnapshotState(r *arbiter.SnapshotReader, c *charter.Charter) (*snapshotState, error) {
	a, err := r.Arbiter(c)
	if err != nil {
		return nil, err
	}
	st := &snapshotState{arb: a, gaps: map[string]*seqTrack{}, view: map[string]lastReport{}}
	st.seenMax = r.Count(1 << 24)
	for r.Bool() {
		if len(st.seen) >= st.seenMax {
			r.Fail()
			break
		}
		st.seen = append(st.seen, r.String())
		st.seenIn = append(st.seenIn, r.Bool())
	}
	n := r.Count(1 << 16)
	for range n {
		m := r.String()
		t := &seqTrack{low: r.Uint(), above: map[uint64]struct{}{}}
		k := r.Count(maxAbove + 1)
		for range k {
			t.above[r.Uint()] = struct{}{}
		}
		if r.Err() != nil {
			break
		}
		st.gaps[m] = t
	}
	n = r.Count(1 << 16)
	for range n {
		m := r.String()
		st.view[m] = lastReport{at: r.Time(), seq: r.Uint()}
	}
	n = r.Count(1 << 16)
	for range n {
		b := r.Bytes()
		if r.Err() != nil {
			break
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("damaged timeline: %w", err)
		}
		st.timeline = append(st.timeline, e)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("damaged state: %w", err)
	}
	return st, nil
}

// commitSnapshot puts st, of the snapshot h made under charter c by src,
// in place. The caller holds nothing: the consumer has not started.
func (d *Daemon) commitSnapshot(st *snapshotState, h snapshotHeader, c *charter.Charter, src snapshotSource) {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	copy(d.snap.last[:], h.msg) // the message at h.pos, as sawStream would have noted it
	d.arb = st.arb
	// The stream's amendments after h.pos lead from c to the charter in
	// force (an earlier one only for another member's snapshot); until
	// they do, no snapshot is written (encodeSnapshot).
	d.streamCharter, d.snap.base = *c, h.charter
	if src.peer {
		st.timeline = streamEntries(st.timeline, src.member) // peersnapshot.go
	}
	s := newIDSet(d.seen.max)
	if k := len(st.seen) - s.max; k > 0 {
		st.seen, st.seenIn = st.seen[k:], st.seenIn[k:]
	}
	for i, id := range st.seen {
		s.ring[i%s.max] = id
		if st.seenIn[i] {
			s.m[id] = struct{}{}
		}
	}
	s.next = len(st.seen) % s.max
	d.seen = s
	now := time.Now()
	d.gaps.mu.Lock()
	for m, t := range st.gaps {
		if len(t.above) > 0 {
			t.since = now
		}
		d.gaps.m[m] = t
	}
	d.gaps.mu.Unlock()
	d.view.mu.Lock()
	if d.view.last == nil {
		d.view.last = map[string]lastReport{}
	}
	for m, l := range st.view {
		d.view.last[m] = l
	}
	d.view.mu.Unlock()
	if l, ok := st.view[d.id.ID]; ok && l.seq > d.nextSq.Load() {
		d.nextSq.Store(l.seq) // as consumeLocked does for each own report
	}
	d.timeline.mu.Lock()
	d.timeline.entries = append(d.timeline.entries[:0], st.timeline...)
	d.timeline.start = 0
	if len(d.timeline.entries) > d.timeline.max {
		d.timeline.entries = d.timeline.entries[len(d.timeline.entries)-d.timeline.max:]
	}
	d.timeline.mu.Unlock()
	d.consumed.Store(h.pos)
}
