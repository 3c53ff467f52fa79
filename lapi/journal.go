package lapi

import (
	"crypto/rand"
	"encoding/binary"
	"sort"
	"sync"

	"phalanx"
)

// DefaultMaxTombstones is the journal's bound when NewJournal is given zero or less.
const DefaultMaxTombstones = 1 << 16

// Journal records every change to the decision table with a monotonically
// increasing version, so that each bouncer's cursor can be served "what
// changed since your last pull". The daemon calls Record after every table
// change (after the table has changed, never before).
//
// It keeps the most recent changes only: at most maxTombstones entries
// (added and deleted decisions alike, about 170 bytes each plus their
// strings). A bouncer whose cursor is older than the oldest change kept, or
// that comes from another run of the daemon (each Journal has its own
// random epoch), is sent every active decision as new instead of a delta;
// the deletions it missed are then lost to it, but the firewall bouncer
// gives every element a timeout, so a missed deletion ends at the
// decision's own end at the latest.
//
// A Journal is safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	epoch   uint64
	version uint64 // the version of the last Record that changed something
	floor   uint64 // a cursor below this cannot be served a delta: changes after it were dropped
	max     int

	// ring holds the entries kept, in version order from ring[head]
	// around the end: a circular buffer that grows (by append) up to max
	// and then overwrites its oldest entry, so that a flood of changes
	// costs no copying of the entries kept.
	ring []entry
	head int
	n    int // entries kept
}

// entry is one change: a decision added (deleted false) or removed.
type entry struct {
	version uint64
	deleted bool
	d       phalanx.Decision
}

// cursor is where a bouncer stands in a journal: every change up to
// Version of the journal with Epoch has been sent to it.
type cursor struct {
	Epoch   uint64 `json:"epoch"`
	Version uint64 `json:"version"`
}

// NewJournal returns an empty journal that keeps at most maxTombstones
// changes (DefaultMaxTombstones when maxTombstones <= 0).
func NewJournal(maxTombstones int) *Journal {
	if maxTombstones <= 0 {
		maxTombstones = DefaultMaxTombstones
	}
	var b [8]byte
	// crypto/rand.Read never fails on Linux (it panics instead if it cannot read).
	_, _ = rand.Read(b[:])
	epoch := binary.LittleEndian.Uint64(b[:]) | 1 // never 0, the zero cursor's epoch
	return &Journal{epoch: epoch, max: maxTombstones}
}

// Record notes that the decisions in added were stored and those in deleted
// were removed (expired, deleted or replaced). Deletions are applied before
// additions, so a decision replaced by a longer one with the same ID reaches
// bouncers as a deletion followed by an addition, which is the order in
// which the firewall bouncer applies them. An empty call changes nothing.
func (j *Journal) Record(added, deleted []phalanx.Decision) {
	if len(added)+len(deleted) == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.version++
	v := j.version
	for _, d := range deleted {
		j.push(entry{version: v, deleted: true, d: d})
	}
	for _, d := range added {
		j.push(entry{version: v, d: d})
	}
}

// push appends e, dropping the oldest entry when the journal is full.
func (j *Journal) push(e entry) {
	if j.n < j.max {
		j.ring = append(j.ring, e) // not full yet: head is 0, the entries are ring[:n]
		j.n++
		return
	}
	j.floor = j.ring[j.head].version
	j.ring[j.head] = e // the oldest's place; its strings go with it
	j.head = (j.head + 1) % len(j.ring)
}

// at returns the i-th oldest entry kept.
func (j *Journal) at(i int) *entry { return &j.ring[(j.head+i)%len(j.ring)] }

// now returns the journal's current cursor: every change recorded so far.
func (j *Journal) now() cursor {
	j.mu.Lock()
	defer j.mu.Unlock()
	return cursor{Epoch: j.epoch, Version: j.version}
}

// since returns the changes after c, up to the returned cursor. ok is false
// when c cannot be served a delta (another epoch, or changes after it were
// dropped); then the caller sends every active decision instead. The
// changes are copied, so the caller may use them without the lock.
func (j *Journal) since(c cursor) (ch []entry, upTo cursor, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	upTo = cursor{Epoch: j.epoch, Version: j.version}
	if c.Epoch != j.epoch || c.Version < j.floor || c.Version > j.version {
		return nil, upTo, false
	}
	// Entries are in version order: find the first after c.
	lo := sort.Search(j.n, func(i int) bool { return j.at(i).version > c.Version })
	ch = make([]entry, j.n-lo)
	for i := range ch {
		ch[i] = *j.at(lo + i)
	}
	return ch, upTo, true
}

// delta reduces a run of changes to what a bouncer needs: the decisions
// still added at the end of the run (each ID once, its last version) and
// every deletion. A decision both added and deleted within the run is sent
// as deleted only; the bouncer never saw it, and a deletion of something
// absent is harmless, while omitting it could leave a ban behind if an
// earlier decision on the same value was replaced by it.
func delta(ch []entry) (added, deleted []phalanx.Decision) {
	// lastAdd maps an ID to the index of its last addition in ch, and is
	// cleared when a later deletion of that ID follows.
	lastAdd := make(map[uint64]int, len(ch))
	for i, e := range ch {
		if e.deleted {
			delete(lastAdd, e.d.ID)
			deleted = append(deleted, e.d)
			continue
		}
		lastAdd[e.d.ID] = i
	}
	for i, e := range ch {
		if last, ok := lastAdd[e.d.ID]; ok && last == i {
			added = append(added, e.d)
		}
	}
	return added, deleted
}
