// Package nft enforces ban decisions in the Linux kernel with nftables: it
// owns one table (family inet, "phalanx" by default) whose sets hold the
// banned addresses and ranges with per-element timeouts, and whose chains on
// the input and forward hooks accept the allowlist (territory) first and drop
// everything in the ban sets.
//
// Layout of the table:
//
//	set ban4, ban6     exact addresses (hash; timeout)
//	set ban6n          IPv6 /64s, as their first address (hash; timeout)
//	set ban4r, ban6r   other ranges (interval; timeout), cut into disjoint pieces
//	set allow4, allow6 territory (interval), overlapping prefixes merged
//	chain input, forward (filter, priority -10, policy accept):
//	    ip saddr @allow4 accept; ip6 saddr @allow6 accept
//	    ip saddr @ban4 counter drop; ip saddr @ban4r counter drop
//	    ip6 saddr @ban6 counter drop
//	    ip6 saddr & ffff:ffff:ffff:ffff:: @ban6n counter drop
//	    ip6 saddr @ban6r counter drop
//
// Every change is one nftables transaction: it takes effect whole or not at
// all, and the packet path never sees a half-applied change. The kernel
// removes elements when their timeouts pass, so the daemon needs no timer to
// end a ban.
//
// Set elements are sent with the package's own small netlink encoder (see
// netlink.go) on one socket kept open: at most 1,000 elements and 60 KB per
// message (past 64 KiB an attribute length silently wraps and the kernel
// stores a fraction of the elements), many messages per transaction, the
// socket buffers raised to fit. Measured in a network namespace on kernel
// 6.18 (2 shared cores; PHALANX_BENCH=1 go test -run TestBenchEnforcer):
// Reconcile of 100,000 addresses about 0.2 s, of 1,000,000 about 2.5 s
// (ranges: 0.4 s and 5 s); one more address into a set of a million, about
// 10 microseconds; one more range into an interval set of 100,000, 10 ms, of
// a million, 0.1 s, nearly all of it spent in the kernel, whose work per
// change to an interval set grows with the set: range bans are best applied
// in batches. IPv6 /64s — what detection bans for IPv6 sources, and what a
// flood of rotating attackers makes by the hundred thousand — therefore go
// to a hash set matched by the source masked to its /64: one more /64 into
// a set of 100,000 costs about 9 microseconds (TestBenchEnforcer nets6),
// where the interval set took 10 ms.
//
// It must not touch any table but its own, must not run the nft command
// (which reads whole sets to add one element), must not list big sets on a
// hot path (Counts is for tests and status), and decides nothing: it applies
// the decisions it is given.
package nft

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"

	"phalanx"
)

// DefaultTable is the table used when Config.Table is empty.
const DefaultTable = "phalanx"

// maxSpareBatch bounds the batch bytes an enforcer keeps for its next
// Apply: a flood's transactions of a few thousand elements fit.
const maxSpareBatch = 1 << 20

// maxTimeout caps element timeouts; a longer ban is renewed by the next
// Reconcile (every start of the daemon).
const maxTimeout = 10 * 365 * 24 * time.Hour

// Config configures an Enforcer.
type Config struct {
	// Table is the name of the nftables table (family inet) the enforcer
	// owns; DefaultTable when empty. No other table is ever touched.
	Table string
	// Allow is the territory: sources accepted before any drop rule.
	Allow []netip.Prefix
	// NetNS is a file descriptor of the network namespace to work in; 0 is
	// the current one. The caller keeps it open while the enforcer lives.
	NetNS int
	// Logger receives what the enforcer does; nil discards it.
	Logger *slog.Logger
}

// Counts is the number of elements in each set, as the kernel lists them
// (elements whose timeout has passed are not counted).
type Counts struct {
	Ban4, Ban6             int // exact addresses
	Ban6Nets               int // IPv6 /64s (a hash set, matched by the source masked to its /64)
	Ban4Ranges, Ban6Ranges int // intervals: nested ranges are cut into disjoint pieces (see interval.go), so not one per decision
	Allow4, Allow6         int // intervals: overlapping and adjacent prefixes are merged
}

// Enforcer applies decisions to the kernel. It is safe for concurrent use;
// calls are serialised.
type Enforcer struct {
	mu      sync.Mutex
	table   string
	log     *slog.Logger
	conn    *nftables.Conn // for the table, chains, rules and sets
	sock    *sock          // for set elements
	refresh bool           // re-adding an element sets its timeout anew
	ranges  [2]rangeSet    // IPv4, IPv6
	netns   int            // Config.NetNS
	allow   []netip.Prefix // what SetAllow was last given (Restore)
	spare   []byte         // the last Apply's batch bytes, reused by the next
	closed  bool
	// looked, when set (tests), hears each generation Watch has looked
	// at, once it has called changed for it if it was to.
	looked func(gen uint32)
}

// New makes the table ready and returns an enforcer working in it.
//
// When the table already exists with the expected sets (the daemon
// restarted) the ban sets keep their elements, so bans stay enforced, and
// only the chains, rules and allowlist are rebuilt; call Reconcile next to
// make the sets match the decisions. Otherwise the table is created (or an
// incompatible one re-created) empty.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if len(cfg.Table) > 64 || strings.ContainsRune(cfg.Table, 0) {
		return nil, fmt.Errorf("nftables table name %q: use at most 64 characters and no NUL", cfg.Table)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(cfg.NetNS))
	if err != nil {
		return nil, explain(err)
	}
	e := &Enforcer{table: cfg.Table, log: log, conn: conn, netns: cfg.NetNS}
	for i := range e.ranges {
		e.ranges[i] = newRangeSet()
	}
	kept, err := e.setup()
	if err != nil {
		return nil, explain(err)
	}
	if e.sock, err = openSock(cfg.NetNS); err != nil {
		return nil, explain(err)
	}
	if e.refresh, err = e.probeRefresh(); err != nil {
		e.sock.close()
		return nil, explain(fmt.Errorf("probe the kernel's nftables behaviour: %w", err))
	}
	if kept {
		if err := e.loadRanges(time.Now()); err != nil {
			e.sock.close()
			return nil, explain(err)
		}
	}
	if err := e.SetAllow(cfg.Allow); err != nil {
		e.sock.close()
		return nil, err
	}
	log.Info("nftables enforcer ready", "table", "inet "+e.table, "kept_existing_sets", kept,
		"timeout_refresh", e.refresh, "allow", len(cfg.Allow))
	return e, nil
}

// explain turns the kernel's refusals into errors that say what to do.
func explain(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	switch {
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, fs.ErrPermission) ||
		strings.Contains(s, "operation not permitted") || strings.Contains(s, "permission denied"):
		return fmt.Errorf("nftables: permission denied: run phalanx as root or with CAP_NET_ADMIN, or pass --enforce none: %w", err)
	case errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		strings.Contains(s, "protocol not supported") || strings.Contains(s, "address family not supported"):
		return fmt.Errorf("nftables is not available in this kernel (load the nf_tables module), or pass --enforce none: %w", err)
	}
	return fmt.Errorf("nftables: %w (phalanx needs root or CAP_NET_ADMIN and a kernel with nf_tables; pass --enforce none to run without)", err)
}

// target says where a decision goes: ok is false for decisions the kernel
// does not enforce (types other than ban, invalid values).
func target(d *phalanx.Decision) (p netip.Prefix, fam int, ok bool) {
	if d.Type != "" && !strings.EqualFold(d.Type, "ban") {
		return netip.Prefix{}, 0, false
	}
	p, ok = phalanx.NormalizePrefix(d.Value)
	if !ok {
		return p, 0, false
	}
	if p.Addr().Is6() {
		fam = 1
	}
	return p, fam, true
}

// timeoutFor is the element timeout for a ban ending at until: 0 when it has
// ended, rounded up to the kernel's millisecond otherwise, at most maxTimeout.
func timeoutFor(until, now time.Time) time.Duration {
	d := until.Sub(now)
	if d <= 0 {
		return 0
	}
	if d > maxTimeout {
		d = maxTimeout
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// exactSet names the hash ban sets: 0 IPv4 addresses, 1 IPv6 addresses, 2
// IPv6 /64s (net64); rangeSetName the interval sets of a family (0 IPv4,
// 1 IPv6).
func exactSet(f int) string     { return [3]string{setBan4, setBan6, setBan6N}[f] }
func rangeSetName(f int) string { return [2]string{setBan4R, setBan6R}[f] }

// net64 is the hash set slot of IPv6 /64 bans.
const net64 = 2

// exactSlot says which hash set holds p, with its key; ok is false for a
// range that goes to an interval set.
func exactSlot(p netip.Prefix, f int) (slot int, key netip.Addr, ok bool) {
	switch {
	case p.IsSingleIP():
		return f, p.Addr(), true
	case f == 1 && p.Bits() == 64:
		return net64, p.Masked().Addr(), true
	}
	return 0, netip.Addr{}, false
}

// Apply adds and removes decisions in one transaction.
//
// Exact addresses go to the hash sets, ranges to the interval sets; element
// timeouts are Until - now, and added decisions that have ended by now are
// skipped. Removes go by value (their Until does not matter) and removing
// what is not there is no error. Removes are applied before adds: a value in
// both stays banned, with the add's timeout. Adding a value that is already banned sets its timeout to the
// new decision's (so a shorter ban can replace a longer one). Only decisions
// of type "ban" (or an empty type) are enforced; others are ignored. When
// Apply fails, nothing changed.
func (e *Enforcer) Apply(add, remove []phalanx.Decision, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("nftables enforcer is closed")
	}
	start := time.Now()
	var (
		exDel [3]map[netip.Addr]bool
		exAdd [3]map[netip.Addr]time.Time
		edits = [2]*rangeEdit{{rs: e.ranges[0]}, {rs: e.ranges[1]}}
	)
	for i := range remove {
		p, f, ok := target(&remove[i])
		if !ok {
			continue
		}
		slot, key, exact := exactSlot(p, f)
		if !exact {
			edits[f].del(p)
			continue
		}
		if exDel[slot] == nil {
			exDel[slot] = map[netip.Addr]bool{}
		}
		exDel[slot][key] = true
	}
	for i := range add {
		p, f, ok := target(&add[i])
		if !ok || !add[i].Until.After(now) {
			continue
		}
		until := add[i].Until
		slot, key, exact := exactSlot(p, f)
		if !exact {
			edits[f].set(p, until)
			continue
		}
		if exAdd[slot] == nil {
			exAdd[slot] = map[netip.Addr]time.Time{}
		}
		if u, ok := exAdd[slot][key]; !ok || until.After(u) {
			exAdd[slot][key] = until
		}
		delete(exDel[slot], key)
	}

	b := reuseBatch(e.table, e.spare)
	nAdd, nDel := 0, 0
	for f := range 3 {
		// A delete fails the whole transaction when the element is not
		// there (never added, or expired), so each is preceded by an add
		// without timeout: the pair always succeeds and leaves nothing
		// behind. On kernels that keep the old timeout of an element added
		// again, a new timeout goes in the same way: add, delete, add.
		var del []elem
		put := make([]elem, 0, len(exAdd[f]))
		for a := range exDel[f] {
			del = append(del, elem{key: a})
		}
		for a, until := range exAdd[f] {
			put = append(put, elem{key: a, timeout: timeoutFor(until, now)})
			if !e.refresh {
				del = append(del, elem{key: a})
			}
		}
		b.add(exactSet(f), del)
		b.del(exactSet(f), del)
		b.add(exactSet(f), put)
		nAdd += len(put)
		nDel += len(exDel[f])
		if f < len(edits) && edits[f].changed() {
			edits[f].plan(b, rangeSetName(f), now)
		}
	}
	err := e.sock.commit(b)
	if cap(b.buf) <= maxSpareBatch {
		e.spare = b.buf
	}
	if err != nil {
		for _, ed := range edits {
			ed.rollback()
		}
		return fmt.Errorf("apply decisions to nftables table inet %s: %w", e.table, err)
	}
	for _, ed := range edits {
		ed.commit()
	}
	e.log.Debug("applied decisions", "add_exact", nAdd, "remove_exact", nDel,
		"range_changes", len(edits[0].touched)+len(edits[1].touched), "elements", b.elems, "took", time.Since(start))
	return nil
}

// Reconcile makes the ban sets hold exactly the given decisions (those
// active at now), in one transaction: each set is flushed and reloaded
// inside it, so the packet path sees the old contents until the commit and
// the new ones after, never an empty set in between. Called at start.
//
// The whole transaction goes to the kernel as one message, so the socket
// send buffer is raised to its size (about 30 bytes per IPv4 address, 40
// per IPv6 address, twice that per range).
func (e *Enforcer) Reconcile(all []phalanx.Decision, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("nftables enforcer is closed")
	}
	start := time.Now()
	ranges := [2]rangeSet{newRangeSet(), newRangeSet()}
	b := newBatch(e.table)
	var exact [3]int
	var nranges, npieces [2]int
	for slot := range 3 {
		b.flush(exactSet(slot))
		for i := range all {
			d := &all[i]
			p, fam, ok := target(d)
			if !ok {
				continue
			}
			t := timeoutFor(d.Until, now)
			if t == 0 {
				continue
			}
			s, key, isExact := exactSlot(p, fam)
			if !isExact {
				if slot == fam { // each range once, with its family
					ranges[fam].items.Modify(p, func(u time.Time, ok bool) (time.Time, bool) {
						if ok && u.After(d.Until) {
							return u, false
						}
						return d.Until, false
					})
				}
				continue
			}
			if s != slot {
				continue
			}
			b.elem(msgNewSetElem, exactSet(slot), elem{key: key, timeout: t})
			exact[slot]++
		}
		b.closeMsg()
	}
	for f := range 2 {
		b.flush(rangeSetName(f))
		ps := ranges[f].fill()
		for _, p := range ps {
			b.elem(msgNewSetElem, rangeSetName(f), p.elem(now))
		}
		b.closeMsg()
		nranges[f], npieces[f] = ranges[f].items.Size(), len(ps)
	}
	built := time.Since(start)
	if err := e.sock.commit(b); err != nil {
		return fmt.Errorf("reconcile nftables table inet %s: %w", e.table, err)
	}
	e.ranges = ranges
	e.log.Info("reconciled nftables sets", "exact_v4", exact[0], "exact_v6", exact[1], "nets_v6_64", exact[net64],
		"ranges_v4", nranges[0], "ranges_v6", nranges[1], "pieces_v4", npieces[0], "pieces_v6", npieces[1],
		"messages", len(b.msgs), "bytes", len(b.buf), "build", built, "took", time.Since(start))
	return nil
}

// SetAllow replaces the allowlist (territory) in one transaction.
// Overlapping and adjacent prefixes are merged.
func (e *Enforcer) SetAllow(ps []netip.Prefix) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("nftables enforcer is closed")
	}
	norm := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		n, ok := phalanx.NormalizePrefix(p)
		if !ok {
			return fmt.Errorf("allowlist entry %v is not a valid prefix", p)
		}
		norm = append(norm, n)
	}
	v4, v6 := union(norm)
	b := newBatch(e.table)
	for f, pcs := range [2][]piece{v4, v6} {
		set := [2]string{setAllow4, setAllow6}[f]
		b.flush(set)
		for _, p := range pcs {
			b.elem(msgNewSetElem, set, elem{key: p.first, end: p.last.Next()})
		}
		b.closeMsg()
	}
	if err := e.sock.commit(b); err != nil {
		return fmt.Errorf("set the nftables allowlist: %w", err)
	}
	e.allow = norm
	return nil
}

// loadRanges reads the interval ban sets the kernel kept from an earlier run
// and rewrites them in the enforcer's own cut (one transaction; the same
// addresses stay banned until the same times), so changes before the next
// Reconcile build on them instead of clashing. Until Reconcile, the kept
// ranges count as range bans.
func (e *Enforcer) loadRanges(now time.Time) error {
	ranges := [2]rangeSet{newRangeSet(), newRangeSet()}
	b := newBatch(e.table)
	for f := range 2 {
		var ks []kelem
		if err := e.sock.list(e.table, rangeSetName(f), func(k kelem) { ks = append(ks, k) }); err != nil {
			return err
		}
		for _, p := range kernelPieces(ks, f == 1, now) {
			for _, q := range rangePrefixes(p.first, p.last) {
				ranges[f].items.Insert(q, p.until)
			}
		}
		b.flush(rangeSetName(f))
		for _, p := range ranges[f].fill() {
			b.elem(msgNewSetElem, rangeSetName(f), p.elem(now))
		}
		b.closeMsg()
	}
	if err := e.sock.commit(b); err != nil {
		return fmt.Errorf("take over the ranges of nftables table inet %s: %w", e.table, err)
	}
	e.ranges = ranges
	return nil
}

// kernelPieces pairs the start and end elements of an interval set listing
// into pieces.
func kernelPieces(ks []kelem, v6 bool, now time.Time) []piece {
	n := 4
	if v6 {
		n = 16
	}
	ks = slices.DeleteFunc(ks, func(k kelem) bool { return len(k.key) != n })
	slices.SortFunc(ks, func(a, b kelem) int {
		if c := strings.Compare(string(a.key), string(b.key)); c != 0 {
			return c
		}
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1 // an end before a start at the same key
		}
		return 1
	})
	var (
		out []piece
		cur *kelem
	)
	untilOf := func(k *kelem) time.Time {
		if k.timeout == 0 && k.expires == 0 {
			return now.Add(maxTimeout)
		}
		return now.Add(k.expires)
	}
	for i := range ks {
		k := &ks[i]
		a, _ := netip.AddrFromSlice(k.key)
		if !k.end {
			cur = k
			continue
		}
		if cur != nil {
			first, _ := netip.AddrFromSlice(cur.key)
			if a.Prev().IsValid() && !a.Prev().Less(first) {
				out = append(out, piece{first: first, last: a.Prev(), until: untilOf(cur)})
			}
			cur = nil
		}
	}
	if cur != nil { // runs to the last address
		first, _ := netip.AddrFromSlice(cur.key)
		out = append(out, piece{first: first, last: lastAddr(netip.PrefixFrom(first, 0)), until: untilOf(cur)})
	}
	return out
}

// rangePrefixes returns the fewest prefixes that cover first..last exactly.
func rangePrefixes(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for first.IsValid() && !last.Less(first) {
		bits := first.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(first, bits-1)
			if p.Masked().Addr() != first || last.Less(lastAddr(p.Masked())) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(first, bits)
		out = append(out, p)
		first = lastAddr(p).Next()
	}
	return out
}

// Counts lists every set and counts its elements. The kernel's listing cost
// grows with the square of a set's size (0.4 s for 100,000 addresses, 40 s
// for a million, 100 s for a million ranges): for tests and for status on
// small sets, never for hot paths.
func (e *Enforcer) Counts() (Counts, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Counts{}, errors.New("nftables enforcer is closed")
	}
	var c Counts
	if err := e.count(&c, nil); err != nil {
		return Counts{}, err
	}
	return c, nil
}

// count lists every set into c, calling exact (when not nil) with each
// hash set element's slot and key. The caller holds e.mu.
func (e *Enforcer) count(c *Counts, exact func(slot int, key netip.Addr)) error {
	for slot, s := range []struct {
		set string
		n   *int
	}{{setBan4, &c.Ban4}, {setBan6, &c.Ban6}, {setBan6N, &c.Ban6Nets}, {setBan4R, &c.Ban4Ranges}, {setBan6R, &c.Ban6Ranges}, {setAllow4, &c.Allow4}, {setAllow6, &c.Allow6}} {
		err := e.sock.list(e.table, s.set, func(k kelem) {
			if k.end {
				return
			}
			*s.n++
			if exact != nil && slot <= net64 {
				if key, ok := netip.AddrFromSlice(k.key); ok {
					exact(slot, key)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("count nftables set elements: %w", err)
		}
	}
	return nil
}

// Close releases the enforcer's sockets and leaves the table in place, so
// bans stay enforced while the daemon restarts (New keeps them).
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.sock.close()
}

// Remove deletes the table, lifting every ban it holds, and closes the
// enforcer.
func (e *Enforcer) Remove() error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return errors.New("nftables enforcer is closed")
	}
	e.conn.DelTable(e.tableRef())
	err := e.conn.Flush()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("delete nftables table inet %s: %w", e.table, err)
	}
	return nil
}
