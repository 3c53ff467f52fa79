package arbiter

// slru is a table of at most max entries kept in two least-recently-used
// lists, as scenario.Engine keeps its sources: probation for entries one
// member has sighted, protected (at most half the table) for entries a
// second member has sighted too. The victim when the table is full is the
// least recently used probation entry, so a flood of entries that one
// member names (a million one-shot sources) churns probation only and
// cannot push out an entry that other members corroborate.
//
// Slots are reused: a removed slot keeps its value (and the capacity of
// the slices inside it) for the next entry. Order depends only on the
// calls, never on map iteration.
type slru[K comparable, V any] struct {
	index   map[K]int32
	slots   []slot[K, V]
	free    int32
	lists   [2]lruList
	max     int
	protMax int
}

type slot[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
	seg        uint8
}

type lruList struct {
	head, tail int32
	n          int
}

const (
	probation = 0
	protected = 1
	noSlot    = -1
)

func newSLRU[K comparable, V any](max int) slru[K, V] {
	return slru[K, V]{
		index:   make(map[K]int32, min(max, 1024)),
		free:    noSlot,
		lists:   [2]lruList{{head: noSlot, tail: noSlot}, {head: noSlot, tail: noSlot}},
		max:     max,
		protMax: max / 2,
	}
}

func (t *slru[K, V]) len() int { return len(t.index) }

func (t *slru[K, V]) get(k K) (int32, bool) {
	i, ok := t.index[k]
	return i, ok
}

func (t *slru[K, V]) val(i int32) *V { return &t.slots[i].val }

func (t *slru[K, V]) key(i int32) K { return t.slots[i].key }

// add inserts k at the head of probation and returns its slot; the caller
// has made room (len() < max) and resets the slot's value.
func (t *slru[K, V]) add(k K) int32 {
	i := t.free
	if i != noSlot {
		t.free = t.slots[i].next
	} else {
		t.slots = append(t.slots, slot[K, V]{})
		i = int32(len(t.slots) - 1)
	}
	t.slots[i].key = k
	t.index[k] = i
	t.pushFront(probation, i)
	return i
}

// touch marks slot i most recently used in its list.
func (t *slru[K, V]) touch(i int32) {
	seg := t.slots[i].seg
	t.unlink(i)
	t.pushFront(seg, i)
}

// promote moves slot i to the head of protected; when protected is full,
// its least recently used entry goes back to the head of probation.
func (t *slru[K, V]) promote(i int32) {
	if t.slots[i].seg == protected || t.protMax == 0 {
		t.touch(i)
		return
	}
	t.unlink(i)
	if t.lists[protected].n >= t.protMax {
		d := t.lists[protected].tail
		t.unlink(d)
		t.pushFront(probation, d)
	}
	t.pushFront(protected, i)
}

// victim returns the slot to evict: the least recently used in probation,
// or in protected when probation is empty; noSlot for an empty table.
func (t *slru[K, V]) victim() int32 {
	if i := t.lists[probation].tail; i != noSlot {
		return i
	}
	return t.lists[protected].tail
}

// tail returns the least recently used slot of a list, or noSlot.
func (t *slru[K, V]) tail(seg uint8) int32 { return t.lists[seg].tail }

// remove forgets slot i; its value stays for reuse.
func (t *slru[K, V]) remove(i int32) {
	s := &t.slots[i]
	delete(t.index, s.key)
	t.unlink(i)
	var zero K
	s.key = zero
	s.next = t.free
	t.free = i
}

func (t *slru[K, V]) unlink(i int32) {
	s := &t.slots[i]
	l := &t.lists[s.seg]
	if s.prev != noSlot {
		t.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next != noSlot {
		t.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	l.n--
}

func (t *slru[K, V]) pushFront(seg uint8, i int32) {
	s := &t.slots[i]
	l := &t.lists[seg]
	s.seg, s.prev, s.next = seg, noSlot, l.head
	if l.head != noSlot {
		t.slots[l.head].prev = i
	} else {
		l.tail = i
	}
	l.head = i
	l.n++
}
