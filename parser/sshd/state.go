package sshd

import (
	"net/netip"

	"phalanx"
)

// conn is what the parser remembers about one sshd process (one connection):
// the remote address once a line has named it, a failure seen before any line
// named the address, and a PAM failure held until the next line decides.
type conn struct {
	key      uint64       // host and pid; 0 marks a free slot
	addr     netip.Addr   // the remote address, when known
	pending  phalanx.Kind // a failure waiting for the address; KindUnknown when none
	pamUser  uint64       // hash of the user of the last PAM failure; 0 when none
	heldUser string       // the user of the held PAM failure
	at       int64        // unix time of the last update; 0 when lines carry no time
	heldAt   int64        // unix time the held PAM failure was logged
	maxAuth  bool         // a max-auth event was emitted for the connection
	goodbye  bool         // a "Received disconnect ... [preauth]" event was emitted
	held     bool         // a PAM failure of addr waits for the next line (package doc, note 2)
	failed   bool         // an auth-failure, invalid-user or max-auth event was emitted for addr
}

// table is a fixed-size map from key to conn: a ring of entries in insertion
// order (the oldest is evicted when the ring is full) indexed by an
// open-addressing hash table with linear probing. It never allocates after
// construction.
type table struct {
	ents []conn
	idx  []int32 // entry index + 1; 0 = empty
	mask uint64
	next int // ring position of the next insertion
}

func newTable(capacity int) *table {
	if capacity < 1 {
		capacity = 1
	}
	n := 1
	for n < 2*capacity {
		n <<= 1
	}
	return &table{ents: make([]conn, capacity), idx: make([]int32, n), mask: uint64(n - 1)}
}

func (t *table) home(key uint64) uint64 {
	key ^= key >> 33
	key *= 0xff51afd7ed558ccd
	key ^= key >> 33
	return key & t.mask
}

// slot returns the index position holding key, or -1.
func (t *table) slot(key uint64) int {
	for i := t.home(key); ; i = (i + 1) & t.mask {
		e := t.idx[i]
		if e == 0 {
			return -1
		}
		if t.ents[e-1].key == key {
			return int(i)
		}
	}
}

func (t *table) get(key uint64) *conn {
	if s := t.slot(key); s >= 0 {
		return &t.ents[t.idx[s]-1]
	}
	return nil
}

// put returns a fresh, zeroed entry for key (which must not be present),
// evicting the oldest entry when the ring is full.
func (t *table) put(key uint64) *conn {
	pos := t.next
	t.next = (t.next + 1) % len(t.ents)
	if old := t.ents[pos].key; old != 0 {
		t.unindex(t.slot(old))
	}
	t.ents[pos] = conn{key: key}
	i := t.home(key)
	for t.idx[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.idx[i] = int32(pos + 1)
	return &t.ents[pos]
}

func (t *table) del(key uint64) {
	if s := t.slot(key); s >= 0 {
		e := t.idx[s] - 1
		t.unindex(s)
		t.ents[e] = conn{}
	}
}

// unindex removes index position s with backward-shift deletion, so that no
// tombstones accumulate.
func (t *table) unindex(s int) {
	i := uint64(s)
	j := i
	for {
		j = (j + 1) & t.mask
		e := t.idx[j]
		if e == 0 {
			break
		}
		k := t.home(t.ents[e-1].key)
		// The entry at j may stay if its home lies cyclically in (i, j].
		if i <= j {
			if i < k && k <= j {
				continue
			}
		} else if i < k || k <= j {
			continue
		}
		t.idx[i] = e
		i = j
	}
	t.idx[i] = 0
}

func (t *table) len() int {
	n := 0
	for _, e := range t.idx {
		if e != 0 {
			n++
		}
	}
	return n
}
