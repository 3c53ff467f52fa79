package report

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// Limits on a sighting. Entries at every limit would not fit in MaxSize
// bytes, so Validate also checks the whole size, and PackSightings splits a
// batch into sightings that fit (about 480 sources with two counts and a
// user hash each, 68 bytes a source).
const (
	MaxSightings      = 512 // entries (sources) per sighting
	MaxSightingCounts = 16  // (service, kind) counts per entry
	MaxSightingUsers  = 16  // user-name hashes per entry
	MaxNameLen        = 32  // bytes of a service or kind name
	UserHashSize      = 16  // bytes of a user-name hash
	// MinSightingV6Bits is the widest IPv6 source a sighting may name
	// (the charter's width limits may allow less).
	MinSightingV6Bits = 32
)

// Sighting is what a member saw from one source during a batch: events
// that raised no alert of its own, by service and kind, and the distinct
// user names tried in failed log-ins, as keyed hashes (charter.UserHash),
// so that no user name leaves the member in clear.
type Sighting struct {
	// Source is an IPv4 address (a /32) or an IPv6 address or prefix of
	// /32 to /128 (a /64 by default), masked, never IPv4-mapped.
	Source netip.Prefix
	// Counts are the events, one per (Service, Kind) in ascending order:
	// 1 to MaxSightingCounts of them.
	Counts []Count
	// Users are distinct user-name hashes in ascending byte order: at most
	// MaxSightingUsers. They come from failed log-ins only.
	Users []UserHash
}

// Count is a number of events of one kind at one service.
type Count struct {
	Service string // the service whose parser recognised them, such as "sshd"
	Kind    string // the event kind's stable name, such as "auth-failure"
	N       int    // 1 to MaxCount
}

// UserHash is a keyed hash of a user name with the alliance's salt
// (charter.UserHash). Receivers cannot check it: a hash made with another
// salt, or garbage, simply never matches another member's.
type UserHash [UserHashSize]byte

// sightingBody encodes a sighting: the common start (version, type,
// member, sequence, time), then the batch window (First, Last), the number
// of entries (16 bits) and the entries. An entry is its source (family
// byte, address bytes, bit length), the number of counts (one byte), each
// count as service and kind (each prefixed by its one-byte length) and the
// number (32 bits), then the number of user hashes (one byte) and the
// hashes. Integers are big-endian, times Unix nanoseconds (0 for zero).
func (r *Report) sightingBody() []byte {
	b := make([]byte, 0, r.sightingBodySize())
	b = append(b, Version, byte(r.Type))
	b = appendString(b, r.Member)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendTime(b, r.Time)
	b = appendTime(b, r.First)
	b = appendTime(b, r.Last)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Sightings)))
	for i := range r.Sightings {
		s := &r.Sightings[i]
		b = appendPrefix(b, s.Source)
		b = append(b, byte(len(s.Counts)))
		for _, c := range s.Counts {
			b = appendShort(b, c.Service)
			b = appendShort(b, c.Kind)
			b = binary.BigEndian.AppendUint32(b, uint32(c.N))
		}
		b = append(b, byte(len(s.Users)))
		for _, u := range s.Users {
			b = append(b, u[:]...)
		}
	}
	return b
}

// sightingBodySize is len(sightingBody()) for a report that validates (an
// estimate otherwise, for the buffer).
func (r *Report) sightingBodySize() int {
	n := 1 + 1 + 4 + len(r.Member) + 8 + 8 + 8 + 8 + 2
	for i := range r.Sightings {
		n += sightingSize(&r.Sightings[i])
	}
	return n
}

// sightingSize is the encoded size of one entry.
func sightingSize(s *Sighting) int {
	n := 1 + 1 + 1 + 1 // family, bits, count of counts, count of users
	if s.Source.Addr().Is4() {
		n += 4
	} else if s.Source.IsValid() {
		n += 16
	}
	for _, c := range s.Counts {
		n += 1 + len(c.Service) + 1 + len(c.Kind) + 4
	}
	return n + len(s.Users)*UserHashSize
}

// appendShort appends s prefixed by its one-byte length; Validate keeps
// such strings within MaxNameLen.
func appendShort(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// Smallest encodings, which bound what a length field may claim before
// anything is allocated for it.
const (
	minEntrySize = 1 + 4 + 1 + 1 + (1 + 1 + 1 + 1 + 4) + 1 // an IPv4 entry with one count of 1-byte names
	minCountSize = 1 + 1 + 1 + 1 + 4
)

// finishSighting decodes the rest of a sighting after its time.
func finishSighting(r Report, d *decoder, b []byte) (Report, error) {
	r.First = d.time()
	r.Last = d.time()
	n := int(d.Uint16())
	if d.Err() == nil {
		switch {
		case n > MaxSightings:
			d.Fail(fmt.Errorf("%w: %d sightings, the limit is %d", ErrLimit, n, MaxSightings))
		case n*minEntrySize > d.Len():
			d.Fail(errPastEnd)
		case n > 0:
			r.Sightings = make([]Sighting, n)
		}
	}
	// Counts and hashes of all entries share one backing array each.
	var counts []Count
	var users []UserHash
	type span struct{ c0, c1, u0, u1 int }
	spans := make([]span, len(r.Sightings))
	var names names
	for i := range r.Sightings {
		if d.Err() != nil {
			break
		}
		r.Sightings[i].Source = d.prefix()
		sp := span{c0: len(counts), u0: len(users)}
		nc := int(d.Uint8())
		switch {
		case d.Err() != nil:
		case nc > MaxSightingCounts:
			d.Fail(fmt.Errorf("%w: %d counts in sighting %d, the limit is %d", ErrLimit, nc, i+1, MaxSightingCounts))
		case nc*minCountSize > d.Len():
			d.Fail(errPastEnd)
		}
		for range nc {
			if d.Err() != nil {
				break
			}
			var c Count
			c.Service = names.read(d)
			c.Kind = names.read(d)
			c.N = int(d.Uint32())
			counts = append(counts, c)
		}
		sp.c1 = len(counts)
		nu := int(d.Uint8())
		if d.Err() == nil && nu > MaxSightingUsers {
			d.Fail(fmt.Errorf("%w: %d user hashes in sighting %d, the limit is %d", ErrLimit, nu, i+1, MaxSightingUsers))
		}
		if p := d.Take(nu * UserHashSize); p != nil {
			for j := 0; j < len(p); j += UserHashSize {
				users = append(users, UserHash(p[j:j+UserHashSize]))
			}
		}
		sp.u1 = len(users)
		spans[i] = sp
	}
	if d.Err() != nil {
		return Report{}, d.Err()
	}
	for i, sp := range spans {
		if sp.c1 > sp.c0 {
			r.Sightings[i].Counts = counts[sp.c0:sp.c1:sp.c1]
		}
		if sp.u1 > sp.u0 {
			r.Sightings[i].Users = users[sp.u0:sp.u1:sp.u1]
		}
	}
	return d.finish(r, b, "sightings")
}

// names reads one-byte-length names, returning the same string for the
// same bytes within one report: a batch names a few services and kinds
// many times.
type names struct{ seen [8]string }

func (n *names) read(d *decoder) string {
	l := int(d.Uint8())
	p := d.Take(l)
	if p == nil {
		return ""
	}
	for i, s := range n.seen {
		switch {
		case s == string(p): // no allocation
			return s
		case s == "":
			n.seen[i] = string(p)
			return n.seen[i]
		}
	}
	return string(p)
}

// validateSighting checks what is particular to a sighting; the common
// fields are checked already.
func (r *Report) validateSighting() error {
	if r.Scenario != "" || r.Value != (netip.Prefix{}) || r.Duration != 0 || r.Reason != "" || r.Count != 0 || len(r.Evidence) != 0 {
		return fmt.Errorf("%w: a sighting carries no scenario, value, duration, reason, count or evidence", ErrMalformed)
	}
	if err := checkTime("first", r.First); err != nil {
		return err
	}
	if err := checkTime("last", r.Last); err != nil {
		return err
	}
	if r.Last.Before(r.First) {
		return fmt.Errorf("%w: batch ends (%v) before it starts (%v)", ErrBadTime, r.Last, r.First)
	}
	if r.Last.After(r.Time) {
		return fmt.Errorf("%w: batch ends (%v) after the sighting was made (%v)", ErrBadTime, r.Last, r.Time)
	}
	switch n := len(r.Sightings); {
	case n == 0:
		return fmt.Errorf("%w: a sighting without entries; send none", ErrMalformed)
	case n > MaxSightings:
		return fmt.Errorf("%w: %d sightings, the limit is %d (PackSightings splits a batch)", ErrLimit, n, MaxSightings)
	}
	for i := range r.Sightings {
		s := &r.Sightings[i]
		if err := s.validate(i + 1); err != nil {
			return err
		}
		if i > 0 && comparePrefix(r.Sightings[i-1].Source, s.Source) >= 0 {
			return fmt.Errorf("%w: sighting %d (%s) is not after %s; sort the entries by source, each once (Canonical)", ErrMalformed, i+1, s.Source, r.Sightings[i-1].Source)
		}
	}
	if n := r.sightingBodySize() + SigSize; n > MaxSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d (PackSightings splits a batch)", ErrTooLarge, n, MaxSize)
	}
	return nil
}

func (s *Sighting) validate(i int) error {
	if err := checkPrefix(s.Source); err != nil {
		return fmt.Errorf("sighting %d: %w", i, err)
	}
	if s.Source.Addr().Is4() && s.Source.Bits() != 32 {
		return fmt.Errorf("%w: sighting %d: %s; an IPv4 source is one address (a /32)", ErrBadPrefix, i, s.Source)
	}
	if s.Source.Addr().Is6() && s.Source.Bits() < MinSightingV6Bits {
		return fmt.Errorf("%w: sighting %d: %s; an IPv6 source is at most a /%d", ErrBadPrefix, i, s.Source, MinSightingV6Bits)
	}
	switch n := len(s.Counts); {
	case n == 0:
		return fmt.Errorf("%w: sighting %d (%s) counts no events", ErrMalformed, i, s.Source)
	case n > MaxSightingCounts:
		return fmt.Errorf("%w: sighting %d: %d counts, the limit is %d", ErrLimit, i, n, MaxSightingCounts)
	}
	for j, c := range s.Counts {
		if err := checkName("service", c.Service); err != nil {
			return fmt.Errorf("sighting %d: %w", i, err)
		}
		if err := checkName("kind", c.Kind); err != nil {
			return fmt.Errorf("sighting %d: %w", i, err)
		}
		if c.N < 1 || c.N > MaxCount {
			return fmt.Errorf("%w: sighting %d: count %d is out of range 1..%d", ErrLimit, i, c.N, MaxCount)
		}
		if j > 0 && compareCount(s.Counts[j-1], c) >= 0 {
			return fmt.Errorf("%w: sighting %d: counts not in (service, kind) order or repeated at %s/%s", ErrMalformed, i, c.Service, c.Kind)
		}
	}
	if n := len(s.Users); n > MaxSightingUsers {
		return fmt.Errorf("%w: sighting %d: %d user hashes, the limit is %d", ErrLimit, i, n, MaxSightingUsers)
	}
	for j := 1; j < len(s.Users); j++ {
		if bytes.Compare(s.Users[j-1][:], s.Users[j][:]) >= 0 {
			return fmt.Errorf("%w: sighting %d: user hashes not in ascending order or repeated", ErrMalformed, i)
		}
	}
	return nil
}

// checkName allows 1 to MaxNameLen bytes of lowercase letters, digits and
// . _ - (service and kind names are identifiers, not text).
func checkName(what, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s name of %d bytes; use 1 to %d", ErrLimit, what, len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %s name %q; use lowercase letters, digits and . _ -", ErrBadText, what, s)
		}
	}
	return nil
}

func comparePrefix(x, y netip.Prefix) int {
	if c := x.Addr().Compare(y.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(x.Bits(), y.Bits())
}

func compareCount(x, y Count) int {
	if c := cmp.Compare(x.Service, y.Service); c != 0 {
		return c
	}
	return cmp.Compare(x.Kind, y.Kind)
}

// Canonical returns the entries in the order a sighting requires: sources
// ascending, each once (the counts of repeated sources are added up and
// their user hashes merged), counts by (service, kind), each once (the
// numbers added up, at most MaxCount), and user hashes ascending, each
// once. Past MaxSightingCounts counts or MaxSightingUsers hashes per
// source it keeps the first in that order. It does not check names or
// sources (Validate does), and it may reorder and reuse s.
func Canonical(s []Sighting) []Sighting {
	slices.SortStableFunc(s, func(x, y Sighting) int { return comparePrefix(x.Source, y.Source) })
	out := s[:0]
	for _, e := range s {
		if n := len(out); n > 0 && out[n-1].Source == e.Source {
			last := &out[n-1]
			last.Counts = append(last.Counts, e.Counts...)
			last.Users = append(last.Users, e.Users...)
			continue
		}
		out = append(out, Sighting{Source: e.Source, Counts: slices.Clone(e.Counts), Users: slices.Clone(e.Users)})
	}
	for i := range out {
		e := &out[i]
		slices.SortStableFunc(e.Counts, compareCount)
		cs := e.Counts[:0]
		for _, c := range e.Counts {
			if n := len(cs); n > 0 && compareCount(cs[n-1], c) == 0 {
				cs[n-1].N = int(min(int64(cs[n-1].N)+int64(c.N), MaxCount))
				continue
			}
			cs = append(cs, c)
		}
		e.Counts = cs[:min(len(cs), MaxSightingCounts)]
		slices.SortFunc(e.Users, func(x, y UserHash) int { return bytes.Compare(x[:], y[:]) })
		e.Users = slices.Compact(e.Users)
		e.Users = e.Users[:min(len(e.Users), MaxSightingUsers)]
		if len(e.Users) == 0 {
			e.Users = nil
		}
	}
	return out
}

// PackSightings splits canonical entries (Canonical) into consecutive
// groups that each fit one sighting: at most MaxSightings entries and
// MaxSize bytes for a member ID of memberLen bytes. An entry too large for
// any sighting (it fails Validate anyway) gets a group of its own.
func PackSightings(s []Sighting, memberLen int) [][]Sighting {
	fixed := 1 + 1 + 4 + memberLen + 8 + 8 + 8 + 8 + 2 + SigSize
	var out [][]Sighting
	start, size := 0, fixed
	for i := range s {
		n := sightingSize(&s[i])
		if i > start && (i-start == MaxSightings || size+n > MaxSize) {
			out = append(out, s[start:i:i])
			start, size = i, fixed
		}
		size += n
	}
	if start < len(s) {
		out = append(out, s[start:len(s):len(s)])
	}
	return out
}
