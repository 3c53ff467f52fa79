package arbiter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"phalanx"
	"phalanx/charter"
	"phalanx/report"
)

// SnapshotVersion is the version of the encoding WriteSnapshot writes and
// ReadSnapshot reads; a change of the arbiter's state changes it.
const SnapshotVersion = 1

// snapshotMagic opens every encoded arbiter state.
const snapshotMagic = "phalanx-arbiter\x00"

// maxSnapshotString bounds a string or byte field of a snapshot (report
// IDs, scenarios, reasons); a longer one is a damaged snapshot.
const maxSnapshotString = 1 << 20

// WriteSnapshot writes everything the arbiter knows to w, in an encoding
// that depends only on that state (no map order): two arbiters that judged
// the same reports under the same charter write the same bytes.
// ReadSnapshot makes an arbiter that judges what follows exactly as this
// one would. It writes as it goes, holding no copy of the state.
func (a *Arbiter) WriteSnapshot(w io.Writer) error {
	e := &snapEnc{w: bufio.NewWriterSize(w, 64<<10)}
	e.raw([]byte(snapshotMagic))
	e.u(SnapshotVersion)
	e.u(uint64(a.maxCandidates))
	e.u(uint64(a.maxVotes))
	e.u(uint64(a.maxHistory))
	e.i(a.high)
	e.u(a.gen)
	e.i(int64(a.votes))

	e.u(uint64(len(a.memberIDs)))
	for _, id := range a.memberIDs {
		e.str(id)
	}
	ms := make([]*member, 0, len(a.members))
	for _, m := range a.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(x, y *member) int { return int(x.idx) - int(y.idx) })
	e.u(uint64(len(ms)))
	for _, m := range ms {
		e.u(uint64(m.idx))
		e.u(m.top)
		for _, w := range m.seen {
			e.u(w)
		}
		e.i(m.tat)
		e.i(m.clock)
		e.i(m.etat)
		e.i(m.eclock)
	}
	e.counts(a.rejected)
	s := &a.fstats
	for _, v := range []uint64{s.Sightings, s.Entries, s.Counted, s.Ignored, s.InForce, s.Territory, s.TooWide,
		s.Users, s.UnsaltedUsers, s.Bans, s.Evicted, s.UsersEvicted, s.Expired, s.Coalesced, s.Truncated} {
		e.u(v)
	}
	e.counts(s.Rejected)

	e.order(a.candOrder)
	cands := make([]netip.Prefix, 0, len(a.candidates))
	for v := range a.candidates {
		cands = append(cands, v)
	}
	slices.SortFunc(cands, func(x, y netip.Prefix) int { return cmpGen(a.candidates[x].gen, a.candidates[y].gen) })
	e.u(uint64(len(cands)))
	for _, v := range cands {
		c := a.candidates[v]
		e.prefix(v)
		e.u(c.gen)
		e.u(uint64(len(c.votes)))
		for _, vt := range c.votes {
			e.str(vt.member)
			e.i(vt.at)
			e.str(vt.id)
			e.str(vt.scenario)
		}
	}

	e.order(a.histOrder)
	recs := make([]netip.Prefix, 0, len(a.history))
	for v := range a.history {
		recs = append(recs, v)
	}
	slices.SortFunc(recs, func(x, y netip.Prefix) int { return cmpGen(a.history[x].gen, a.history[y].gen) })
	e.u(uint64(len(recs)))
	for _, v := range recs {
		rec := a.history[v]
		e.prefix(v)
		e.u(rec.gen)
		e.u(uint64(len(rec.starts)))
		for _, s := range rec.starts {
			e.i(s)
		}
		e.decision(&rec.last)
	}

	f := a.fleet
	e.bool(f != nil)
	if f != nil {
		e.i(int64(f.records))
		e.i(int64(f.userRecords))
		writeSLRU(e, &f.sources, func(e *snapEnc, k sourceKey) { e.prefix(k.prefix()) }, writeSource)
		writeSLRU(e, &f.users, func(e *snapEnc, k report.UserHash) { e.raw(k[:]) }, writeUser)
	}
	e.raw([]byte(snapshotMagic)) // the end: a truncated snapshot does not read as a whole one
	if e.err != nil {
		return fmt.Errorf("write arbiter snapshot: %w", e.err)
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("write arbiter snapshot: %w", err)
	}
	return nil
}

func cmpGen(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func writeSource(e *snapEnc, st *sourceState) {
	e.u(uint64(len(st.recs)))
	for i := range st.recs {
		r := &st.recs[i]
		e.i(r.at)
		e.str(r.id)
		e.i(int64(r.member))
		e.raw(r.n[:])
	}
	e.i(st.newest)
	e.i(int64(st.first))
}

func writeUser(e *snapEnc, st *userState) {
	e.u(uint64(len(st.srcs)))
	for _, s := range st.srcs {
		e.prefix(s.p)
		e.i(int64(s.refs))
		e.i(s.until)
	}
	e.u(uint64(len(st.recs)))
	for i := range st.recs {
		r := &st.recs[i]
		e.i(r.first)
		e.i(r.at)
		e.str(r.id)
		e.i(int64(r.member))
		e.i(int64(r.src))
		e.i(int64(r.n))
		e.u(uint64(r.mask))
	}
	e.i(st.newest)
	e.i(int64(st.first))
}

// writeSLRU writes a table slot by slot, free ones included, with its
// lists: the order of evictions and of slot reuse is part of the state.
func writeSLRU[K comparable, V any](e *snapEnc, t *slru[K, V], key func(*snapEnc, K), val func(*snapEnc, *V)) {
	e.u(uint64(t.max))
	e.u(uint64(t.protMax))
	e.i(int64(t.free))
	for _, l := range t.lists {
		e.i(int64(l.head))
		e.i(int64(l.tail))
		e.u(uint64(l.n))
	}
	e.u(uint64(len(t.slots)))
	for i := range t.slots {
		s := &t.slots[i]
		j, ok := t.index[s.key]
		used := ok && j == int32(i)
		e.bool(used)
		e.i(int64(s.next))
		if !used {
			continue
		}
		e.i(int64(s.prev))
		e.u(uint64(s.seg))
		key(e, s.key)
		val(e, &s.val)
	}
}

// ReadSnapshot makes an arbiter for charter c from what WriteSnapshot
// wrote under the same charter. It fails, and returns no arbiter, when the
// encoding is damaged, of another version, or made under a charter with
// other members or another fleet section: the caller then replays the
// reports instead. An r that is an io.ByteReader (a bufio.Reader) is read
// to the snapshot's end and no further; any other is buffered, and read
// beyond.
func ReadSnapshot(c *charter.Charter, r io.Reader) (*Arbiter, error) {
	br, ok := r.(snapReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	a := New(c)
	d := &snapDec{r: br}
	if err := a.readSnapshot(d); err != nil {
		return nil, fmt.Errorf("read arbiter snapshot: %w", err)
	}
	return a, nil
}

type snapReader interface {
	io.Reader
	io.ByteReader
}

var errSnapshot = errors.New("damaged snapshot")

func (a *Arbiter) readSnapshot(d *snapDec) error {
	if d.magic(); d.err != nil {
		return d.err
	}
	if v := d.u(); d.err == nil && v != SnapshotVersion {
		return fmt.Errorf("snapshot version %d, this build reads %d", v, SnapshotVersion)
	}
	a.maxCandidates = d.count(MaxCandidates)
	a.maxVotes = d.count(MaxVotes)
	a.maxHistory = d.count(MaxHistory)
	a.high = d.i()
	a.gen = d.u()
	a.votes = int(d.i())

	n := d.count(1 << 20)
	ids := make([]string, 0, min(n, 1024))
	for range n {
		ids = append(ids, d.str())
	}
	if d.err != nil {
		return d.err
	}
	if !slices.Equal(ids, a.memberIDs) {
		return errors.New("snapshot made under a charter with other members")
	}
	n = d.count(len(a.memberIDs))
	if d.err == nil && n != len(a.members) {
		return errors.New("snapshot made under a charter with other members")
	}
	for range n {
		idx := d.count(len(a.memberIDs) - 1)
		if d.err != nil {
			return d.err
		}
		m := a.members[a.memberIDs[idx]]
		if m == nil || int(m.idx) != idx {
			return errors.New("snapshot made under a charter with other members")
		}
		m.top = d.u()
		for i := range m.seen {
			m.seen[i] = d.u()
		}
		m.tat, m.clock, m.etat, m.eclock = d.i(), d.i(), d.i(), d.i()
	}
	a.rejected = d.counts()
	s := &a.fstats
	for _, p := range []*uint64{&s.Sightings, &s.Entries, &s.Counted, &s.Ignored, &s.InForce, &s.Territory, &s.TooWide,
		&s.Users, &s.UnsaltedUsers, &s.Bans, &s.Evicted, &s.UsersEvicted, &s.Expired, &s.Coalesced, &s.Truncated} {
		*p = d.u()
	}
	s.Rejected = d.counts()

	a.candOrder = d.order(2*MaxCandidates + 1024)
	n = d.count(MaxCandidates)
	votes := 0
	for range n {
		v := d.prefix()
		c := &candidate{gen: d.u()}
		k := d.count(len(a.memberIDs))
		for range k {
			c.votes = append(c.votes, vote{member: d.str(), at: d.i(), id: d.str(), scenario: d.str()})
		}
		if d.err != nil {
			return d.err
		}
		votes += len(c.votes)
		a.candidates[v] = c
	}
	if d.err == nil && (len(a.candidates) != n || votes != a.votes) {
		return errSnapshot
	}

	a.histOrder = d.order(2*MaxHistory + 1024)
	n = d.count(MaxHistory)
	for range n {
		v := d.prefix()
		rec := &record{gen: d.u()}
		k := d.count(maxStarts)
		for range k {
			rec.starts = append(rec.starts, d.i())
		}
		rec.last = d.decision()
		if d.err != nil {
			return d.err
		}
		if len(rec.starts) == 0 {
			return errSnapshot // forget reads the newest start
		}
		a.history[v] = rec
	}
	if d.err == nil && len(a.history) != n {
		return errSnapshot
	}

	hasFleet := d.bool()
	if d.err != nil {
		return d.err
	}
	if hasFleet != (a.fleet != nil) {
		return errors.New("snapshot made under a charter with another fleet section")
	}
	if f := a.fleet; f != nil {
		f.records = int(d.i())
		f.userRecords = int(d.i())
		members := int32(len(a.memberIDs))
		readSLRU(d, &f.sources, func(d *snapDec) sourceKey { return keyOf(d.prefix()) },
			func(d *snapDec, st *sourceState) { readSource(d, st, members) })
		readSLRU(d, &f.users, func(d *snapDec) (k report.UserHash) { d.full(k[:]); return k },
			func(d *snapDec, st *userState) { readUser(d, st, members) })
		f.grow(len(a.memberIDs))
	}
	d.magic()
	return d.err
}

func readSource(d *snapDec, st *sourceState, members int32) {
	n := d.count(MaxSourceRecords + 1)
	st.recs = make([]sourceRecord, 0, n)
	for range n {
		r := sourceRecord{at: d.i(), id: d.str(), member: d.index(members)}
		d.full(r.n[:])
		st.recs = append(st.recs, r)
	}
	st.newest = d.i()
	st.first = d.index(members)
}

func readUser(d *snapDec, st *userState, members int32) {
	n := d.count(MaxUserRecords)
	st.srcs = make([]userSource, 0, n)
	for range n {
		st.srcs = append(st.srcs, userSource{p: d.prefix(), refs: int(d.i()), until: d.i()})
	}
	n = d.count(MaxUserRecords)
	st.recs = make([]userRecord, 0, n)
	for range n {
		r := userRecord{first: d.i(), at: d.i(), id: d.str(), member: d.index(members), src: d.index(int32(len(st.srcs))),
			n: int(d.i()), mask: uint8(d.count(255))}
		st.recs = append(st.recs, r)
	}
	st.newest = d.i()
	st.first = d.index(members)
}

// readSLRU reads what writeSLRU wrote into t (made for the same charter)
// and checks that its lists are whole: every slot in exactly one of them.
func readSLRU[K comparable, V any](d *snapDec, t *slru[K, V], key func(*snapDec) K, val func(*snapDec, *V)) {
	if mx := d.count(1 << 30); d.err == nil && mx != t.max {
		d.fail()
		return
	}
	if pm := d.count(1 << 30); d.err == nil && pm != t.protMax {
		d.fail()
		return
	}
	n := int32(t.max) // slots never outnumber max
	t.free = d.slot(n)
	for i := range t.lists {
		t.lists[i] = lruList{head: d.slot(n), tail: d.slot(n), n: d.count(t.max)}
	}
	k := d.count(t.max)
	if d.err != nil {
		return
	}
	t.slots = make([]slot[K, V], k)
	clear(t.index)
	for i := range t.slots {
		s := &t.slots[i]
		used := d.bool()
		s.next = d.slot(int32(k))
		if !used {
			continue
		}
		s.prev = d.slot(int32(k))
		s.seg = uint8(d.count(1))
		s.key = key(d)
		val(d, &s.val)
		if d.err != nil {
			return
		}
		if _, dup := t.index[s.key]; dup {
			d.fail()
			return
		}
		t.index[s.key] = int32(i)
	}
	if d.err != nil {
		return
	}
	// Walk the lists: each must reach its tail in n steps through slots
	// of its segment, the free list through unused ones, and together
	// they must hold every slot once.
	seen := make([]bool, k)
	walked := 0
	for seg := range t.lists {
		l := t.lists[seg]
		prev, steps := int32(noSlot), 0
		for i := l.head; i != noSlot; i = t.slots[i].next {
			if i >= int32(k) || seen[i] || t.slots[i].seg != uint8(seg) || t.slots[i].prev != prev || t.index[t.slots[i].key] != i {
				d.fail()
				return
			}
			seen[i] = true
			prev = i
			steps++
		}
		if steps != l.n || prev != l.tail {
			d.fail()
			return
		}
		walked += steps
	}
	if walked != len(t.index) {
		d.fail()
		return
	}
	for i := t.free; i != noSlot; i = t.slots[i].next {
		if i >= int32(k) || seen[i] {
			d.fail()
			return
		}
		seen[i] = true
		walked++
	}
	if walked != k {
		d.fail()
	}
}

// snapEnc writes the snapshot's fields: unsigned and signed varints,
// length-prefixed strings. The first error sticks.
type snapEnc struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *snapEnc) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *snapEnc) u(v uint64) { e.raw(binary.AppendUvarint(e.buf[:0], v)) }
func (e *snapEnc) i(v int64)  { e.raw(binary.AppendVarint(e.buf[:0], v)) }

func (e *snapEnc) bool(b bool) {
	if b {
		e.u(1)
	} else {
		e.u(0)
	}
}

func (e *snapEnc) str(s string) {
	e.u(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *snapEnc) prefix(p netip.Prefix) {
	b, _ := p.AppendBinary(e.buf[:0:0])
	e.u(uint64(len(b)))
	e.raw(b)
}

func (e *snapEnc) counts(m map[string]uint64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.u(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.u(m[k])
	}
}

func (e *snapEnc) order(o []orderEntry) {
	e.u(uint64(len(o)))
	for _, x := range o {
		e.prefix(x.value)
		e.u(x.gen)
	}
}

func (e *snapEnc) decision(x *phalanx.Decision) {
	e.u(x.ID)
	e.str(string(x.Origin))
	e.str(x.Type)
	e.prefix(x.Value)
	e.str(x.Scenario)
	e.time(x.Start)
	e.time(x.Until)
	e.str(x.Reason)
}

// time writes t as Unix nanoseconds, or a marker for the zero time (whose
// nanoseconds do not fit).
func (e *snapEnc) time(t time.Time) {
	if t.IsZero() {
		e.u(0)
		return
	}
	e.u(1)
	e.i(t.UnixNano())
}

// snapDec reads what snapEnc wrote; the first error sticks and every
// later read returns zero values. Counts are checked against bounds
// before anything is allocated for them.
type snapDec struct {
	r   snapReader
	err error
	// tmp holds short fields read for the moment (prefixes, strings
	// about to be interned); strs interns short strings, which repeat
	// across a snapshot's decisions (origins, types, scenarios,
	// reasons): a million decisions then cost no string each.
	tmp  []byte
	strs map[string]string
}

const (
	internMaxLen = 256  // longer strings are not interned
	internMax    = 8192 // nor any once this many are
)

func (d *snapDec) fail() {
	if d.err == nil {
		d.err = errSnapshot
	}
}

func (d *snapDec) setErr(err error) {
	if d.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("%w: %w", errSnapshot, err)
	}
}

func (d *snapDec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.setErr(err)
	}
	return v
}

func (d *snapDec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.setErr(err)
	}
	return v
}

func (d *snapDec) bool() bool {
	switch d.u() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

// count reads a number in [0, max].
func (d *snapDec) count(max int) int {
	v := d.u()
	if v > uint64(max) {
		d.fail()
		return 0
	}
	return int(v)
}

// index reads a number in [0, n).
func (d *snapDec) index(n int32) int32 {
	v := d.i()
	if v < 0 || v >= int64(n) {
		d.fail()
		return 0
	}
	return int32(v)
}

// slot reads a slot number in [0, n) or noSlot.
func (d *snapDec) slot(n int32) int32 {
	v := d.i()
	if v < noSlot || v >= int64(n) {
		d.fail()
		return noSlot
	}
	return int32(v)
}

func (d *snapDec) full(b []byte) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.setErr(err)
	}
}

// bytes reads a length-prefixed field. It grows its buffer as the bytes
// come, so a damaged length costs no more memory than the input holds.
func (d *snapDec) bytes() []byte {
	n := d.count(maxSnapshotString)
	if d.err != nil || n == 0 {
		return nil
	}
	return d.rest(n)
}

// str reads a string; a short one is read into tmp and interned.
func (d *snapDec) str() string {
	n := d.count(maxSnapshotString)
	if d.err != nil || n == 0 {
		return ""
	}
	if n > internMaxLen {
		b := d.rest(n)
		return string(b)
	}
	b := d.short(n)
	if d.err != nil {
		return ""
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < internMax {
		if d.strs == nil {
			d.strs = make(map[string]string)
		}
		d.strs[s] = s
	}
	return s
}

// short reads n ≤ internMaxLen bytes into tmp and returns them, valid
// until the next read.
func (d *snapDec) short(n int) []byte {
	if cap(d.tmp) < internMaxLen {
		d.tmp = make([]byte, internMaxLen)
	}
	b := d.tmp[:n]
	d.full(b)
	return b
}

// rest reads the n bytes of a field whose length was read (see bytes).
func (d *snapDec) rest(n int) []byte {
	b := make([]byte, 0, min(n, 4096))
	for len(b) < n {
		k := min(n-len(b), max(cap(b)-len(b), 4096))
		b = slices.Grow(b, k)
		if _, err := io.ReadFull(d.r, b[len(b):len(b)+k]); err != nil {
			d.setErr(err)
			return nil
		}
		b = b[:len(b)+k]
	}
	return b
}

func (d *snapDec) magic() {
	var b [len(snapshotMagic)]byte
	d.full(b[:])
	if d.err == nil && string(b[:]) != snapshotMagic {
		d.fail()
	}
}

func (d *snapDec) prefix() netip.Prefix {
	n := d.count(maxSnapshotString)
	if d.err == nil && n > internMaxLen {
		d.fail() // a prefix's encoding is 5 to 23 bytes
	}
	if d.err != nil {
		return netip.Prefix{}
	}
	b := d.short(n)
	if d.err != nil {
		return netip.Prefix{}
	}
	var p netip.Prefix
	if err := p.UnmarshalBinary(b); err != nil || !p.IsValid() {
		d.fail()
	}
	return p
}

func (d *snapDec) counts() map[string]uint64 {
	n := d.count(1 << 16)
	m := make(map[string]uint64, min(n, 64))
	for range n {
		k := d.str()
		m[k] = d.u()
	}
	return m
}

func (d *snapDec) order(max int) []orderEntry {
	n := d.count(max)
	out := make([]orderEntry, 0, min(n, 1<<16))
	for range n {
		out = append(out, orderEntry{value: d.prefix(), gen: d.u()})
		if d.err != nil {
			return nil
		}
	}
	return out
}

func (d *snapDec) decision() phalanx.Decision {
	return phalanx.Decision{ID: d.u(), Origin: phalanx.Origin(d.str()), Type: d.str(), Value: d.prefix(),
		Scenario: d.str(), Start: d.time(), Until: d.time(), Reason: d.str()}
}

func (d *snapDec) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	return time.Unix(0, d.i()).UTC()
}

// The daemon encodes its own part of a snapshot with the same fields.

// SnapshotWriter writes snapshot fields to w: the daemon's part of a
// snapshot uses the arbiter's encoding. Call Flush at the end.
type SnapshotWriter struct{ e snapEnc }

// NewSnapshotWriter returns a SnapshotWriter on w.
func NewSnapshotWriter(w io.Writer) *SnapshotWriter {
	return &SnapshotWriter{e: snapEnc{w: bufio.NewWriterSize(w, 64<<10)}}
}

// Uint, Int, Bool, String, Bytes, Prefix, Time and Decision write one field.
func (w *SnapshotWriter) Uint(v uint64)                { w.e.u(v) }
func (w *SnapshotWriter) Int(v int64)                  { w.e.i(v) }
func (w *SnapshotWriter) Bool(b bool)                  { w.e.bool(b) }
func (w *SnapshotWriter) String(s string)              { w.e.str(s) }
func (w *SnapshotWriter) Bytes(b []byte)               { w.e.u(uint64(len(b))); w.e.raw(b) }
func (w *SnapshotWriter) Prefix(p netip.Prefix)        { w.e.prefix(p) }
func (w *SnapshotWriter) Time(t time.Time)             { w.e.time(t) }
func (w *SnapshotWriter) Decision(x *phalanx.Decision) { w.e.decision(x) }

// Flush writes what is buffered and returns the first error.
func (w *SnapshotWriter) Flush() error {
	if w.e.err != nil {
		return w.e.err
	}
	return w.e.w.Flush()
}

// SnapshotReader reads what a SnapshotWriter wrote. The first error
// sticks: later reads return zero values, and Err returns it.
type SnapshotReader struct{ d snapDec }

// NewSnapshotReader returns a SnapshotReader on r; it reads no further
// than the fields asked for.
func NewSnapshotReader(r io.Reader) *SnapshotReader {
	br, ok := r.(snapReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &SnapshotReader{d: snapDec{r: br}}
}

// Uint, Int, Bool, String, Bytes, Prefix, Time and Decision read one field;
// Count reads a number no greater than max (a larger one is an error).
func (r *SnapshotReader) Uint() uint64               { return r.d.u() }
func (r *SnapshotReader) Int() int64                 { return r.d.i() }
func (r *SnapshotReader) Bool() bool                 { return r.d.bool() }
func (r *SnapshotReader) String() string             { return r.d.str() }
func (r *SnapshotReader) Bytes() []byte              { return r.d.bytes() }
func (r *SnapshotReader) Prefix() netip.Prefix       { return r.d.prefix() }
func (r *SnapshotReader) Time() time.Time            { return r.d.time() }
func (r *SnapshotReader) Decision() phalanx.Decision { return r.d.decision() }
func (r *SnapshotReader) Count(max int) int          { return r.d.count(max) }
func (r *SnapshotReader) Err() error                 { return r.d.err }
func (r *SnapshotReader) Fail()                      { r.d.fail() }

// Arbiter reads an arbiter's state (WriteSnapshot's) for charter c from
// the same stream.
func (r *SnapshotReader) Arbiter(c *charter.Charter) (*Arbiter, error) {
	if r.d.err != nil {
		return nil, r.d.err
	}
	a := New(c)
	if err := a.readSnapshot(&r.d); err != nil {
		r.d.setErr(err)
		return nil, fmt.Errorf("read arbiter snapshot: %w", err)
	}
	return a, nil
}

// Arbiter writes a's state (as WriteSnapshot) into the same stream.
func (w *SnapshotWriter) Arbiter(a *Arbiter) error {
	if w.e.err != nil {
		return w.e.err
	}
	return a.WriteSnapshot(w.e.w)
}
