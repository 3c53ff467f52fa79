package decision

import (
	"slices"

	"phalanx"
)

// A cap on the table is the owner's policy (which origins give way, and
// when); the table only answers "which decisions of this origin are the
// oldest?". It learns the order the first time it is asked about an
// origin (by Start, from the decisions stored then) and from then on keeps
// it as decisions of that origin are added: a table never asked pays
// nothing.

// ageQueue is the order in which the decisions of one origin were added:
// their IDs, oldest first, from head on. IDs of decisions since removed,
// or replaced by one of another origin, stay in it until they reach the
// head or a compaction drops them.
type ageQueue struct {
	ids  []uint64
	head int
	live int // decisions of the origin stored now
}

// Oldest returns up to n decisions of origin o, the oldest first: in the
// order they were added (those stored before the first call for o, by
// Start). It changes nothing; the caller deletes what it chooses to.
func (t *Table) Oldest(o phalanx.Origin, n int) []phalanx.Decision {
	if n <= 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.ages[o]
	if q == nil {
		q = t.trackAge(o)
	}
	var out []phalanx.Decision
	var seen map[uint64]bool
	for i := q.head; i < len(q.ids) && len(out) < n; i++ {
		id := q.ids[i]
		slot, ok := t.find(id)
		if !ok || t.labels[t.at(slot).label].origin != o {
			if i == q.head {
				q.head++ // gone for good: drop it from the front
			}
			continue
		}
		if seen[id] {
			continue // added again after a removal: it appears twice
		}
		if seen == nil {
			seen = map[uint64]bool{}
		}
		seen[id] = true
		out = append(out, t.decision(slot))
	}
	if q.head > len(q.ids)/2 {
		q.ids = append(q.ids[:0], q.ids[q.head:]...)
		q.head = 0
	}
	return out
}

// trackAge starts the age queue of origin o from the decisions stored now,
// ordered by Start. The caller holds the write lock.
func (t *Table) trackAge(o phalanx.Origin) *ageQueue {
	type aged struct {
		id         uint64
		sec        int64
		nsec       int32
		insertedAt int
	}
	var all []aged
	for n, i := range t.expiry {
		if e := t.at(i); t.labels[e.label].origin == o {
			all = append(all, aged{e.id, e.startSec, e.startNsec, n})
		}
	}
	slices.SortFunc(all, func(a, b aged) int {
		switch {
		case before(a.sec, a.nsec, b.sec, b.nsec):
			return -1
		case before(b.sec, b.nsec, a.sec, a.nsec):
			return 1
		}
		return a.insertedAt - b.insertedAt
	})
	q := &ageQueue{ids: make([]uint64, 0, len(all)), live: len(all)}
	for _, a := range all {
		q.ids = append(q.ids, a.id)
	}
	if t.ages == nil {
		t.ages = map[phalanx.Origin]*ageQueue{}
	}
	t.ages[o] = q
	return q
}

// aged records that the decision id of origin o was just stored (added, or
// put in another's place); the caller holds the write lock.
func (t *Table) aged(o phalanx.Origin, id uint64) {
	q := t.ages[o]
	if q == nil {
		return
	}
	q.ids = append(q.ids, id)
	q.live++
	if len(q.ids)-q.head > 2*q.live+1024 {
		t.compactAges(o, q)
	}
}

// unaged records that a decision of origin o is no longer stored (removed,
// or replaced); the caller holds the write lock.
func (t *Table) unaged(o phalanx.Origin) {
	if q := t.ages[o]; q != nil {
		q.live--
	}
}

// compactAges drops from q the IDs of decisions no longer stored with
// origin o, and the later copies of IDs that appear twice.
func (t *Table) compactAges(o phalanx.Origin, q *ageQueue) {
	seen := make(map[uint64]bool, q.live)
	kept := q.ids[:0]
	for _, id := range q.ids[q.head:] {
		if seen[id] {
			continue
		}
		if slot, ok := t.find(id); ok && t.labels[t.at(slot).label].origin == o {
			seen[id] = true
			kept = append(kept, id)
		}
	}
	q.ids, q.head = kept, 0
}
