package nft

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The sets of the table. Exact addresses go to hash sets (adding one element
// to a hash set of a million costs milliseconds), ranges to interval sets,
// which are slow to change when big but needed for prefixes.
const (
	setBan4   = "ban4"
	setBan6   = "ban6"
	setBan4R  = "ban4r"
	setBan6R  = "ban6r"
	setBan6N  = "ban6n" // IPv6 /64s, matched by the source masked to its /64
	setAllow4 = "allow4"
	setAllow6 = "allow6"
	setProbe  = "probe" // made and deleted by New to learn how the kernel re-adds elements
)

// chainPriority runs our chains before the usual filter chains (priority 0),
// so a ban holds whatever those accept; an accept here only ends our own
// chain, so the allowlist never opens anything the host's rules close.
const chainPriority = -10

type setSpec struct {
	name     string
	v6       bool
	interval bool
	timeout  bool
	id       uint32 // unique within a transaction
}

func setSpecs() []setSpec {
	return []setSpec{
		{setBan4, false, false, true, 1},
		{setBan6, true, false, true, 2},
		{setBan4R, false, true, true, 3},
		{setBan6R, true, true, true, 4},
		{setAllow4, false, true, false, 5},
		{setAllow6, true, true, false, 6},
		{setBan6N, true, false, true, 7},
	}
}

func (s setSpec) set(t *nftables.Table) *nftables.Set {
	kt := nftables.TypeIPAddr
	if s.v6 {
		kt = nftables.TypeIP6Addr
	}
	return &nftables.Set{
		Table:        t,
		ID:           s.id, // set explicitly: the library's own counter is a shared global
		Name:         s.name,
		KeyType:      kt,
		Interval:     s.interval,
		HasTimeout:   s.timeout,
		KeyByteOrder: binaryutil.BigEndian,
	}
}

func (e *Enforcer) tableRef() *nftables.Table {
	return &nftables.Table{Name: e.table, Family: nftables.TableFamilyINet}
}

func (e *Enforcer) chains() []*nftables.Chain {
	t := e.tableRef()
	accept := nftables.ChainPolicyAccept
	mk := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return &nftables.Chain{
			Name: name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityRef(chainPriority), Policy: &accept,
		}
	}
	return []*nftables.Chain{mk("input", nftables.ChainHookInput), mk("forward", nftables.ChainHookForward)}
}

// rules are, in order: saddr in allow → accept; saddr in a ban set → drop
// (counted), for each family; for ban6n the source masked to its /64.
func rules(t *nftables.Table, c *nftables.Chain, ids map[string]uint32) []*nftables.Rule {
	match := func(v6 bool, set string) []expr.Any {
		proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
		if v6 {
			proto, off, n = unix.NFPROTO_IPV6, 8, 16
		}
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Lookup{SourceRegister: 1, SetName: set, SetID: ids[set]},
		}
	}
	var rs []*nftables.Rule
	for _, a := range []struct {
		v6  bool
		set string
	}{{false, setAllow4}, {true, setAllow6}} {
		rs = append(rs, &nftables.Rule{Table: t, Chain: c, Exprs: append(match(a.v6, a.set), &expr.Verdict{Kind: expr.VerdictAccept})})
	}
	for _, b := range []struct {
		v6  bool
		set string
	}{{false, setBan4}, {false, setBan4R}, {true, setBan6}, {true, setBan6N}, {true, setBan6R}} {
		m := match(b.v6, b.set)
		if b.set == setBan6N {
			// ip6 saddr & ffff:ffff:ffff:ffff:: @ban6n: one hash lookup
			// for a /64 ban, however many there are.
			mask := bytes.Repeat([]byte{0xff}, 8)
			mask = append(mask, make([]byte, 8)...)
			m = slices.Insert(m, 3, expr.Any(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: mask, Xor: make([]byte, 16)}))
		}
		rs = append(rs, &nftables.Rule{Table: t, Chain: c, Exprs: append(m, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})})
	}
	return rs
}

// setup makes the table ready. When a table of that name already has our
// sets with the right types (a daemon restart), it keeps the sets and their
// elements, so bans stay enforced, and rebuilds the chains and rules in one
// transaction. Otherwise it deletes the table, if any, and creates it anew,
// also in one transaction. It reports whether the sets were kept.
func (e *Enforcer) setup() (kept bool, err error) {
	t := e.tableRef()
	tables, err := e.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	exists := slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == e.table })
	if exists {
		ok, reason, err := e.compatible()
		if err != nil {
			return false, err
		}
		if ok {
			if err := e.rebuildChains(); err == nil {
				return true, nil
			} else {
				e.log.Warn("could not update the existing nftables table in place; re-creating it (bans are re-loaded at once)", "table", e.table, "err", err)
			}
		} else {
			e.log.Info("re-creating the nftables table", "table", e.table, "reason", reason)
		}
	}
	if exists {
		e.conn.DelTable(t)
	}
	e.conn.AddTable(t)
	ids := map[string]uint32{}
	for _, s := range setSpecs() {
		if err := e.conn.AddSet(s.set(t), nil); err != nil {
			return false, fmt.Errorf("nftables set %s: %w", s.name, err)
		}
		ids[s.name] = s.id
	}
	for _, c := range e.chains() {
		e.conn.AddChain(c)
		for _, r := range rules(t, c, ids) {
			e.conn.AddRule(r)
		}
	}
	if err := e.conn.Flush(); err != nil {
		return false, fmt.Errorf("create nftables table inet %s: %w", e.table, err)
	}
	return false, nil
}

// compatible reports whether the existing table can be kept: it holds our
// sets with the right types, and no chain but ours.
func (e *Enforcer) compatible() (bool, string, error) {
	t := e.tableRef()
	sets, err := e.conn.GetSets(t)
	if err != nil {
		return false, "", fmt.Errorf("list sets of nftables table inet %s: %w", e.table, err)
	}
	byName := map[string]*nftables.Set{}
	for _, s := range sets {
		byName[s.Name] = s
	}
	for _, want := range setSpecs() {
		got := byName[want.name]
		ws := want.set(t)
		if got == nil {
			return false, "set " + want.name + " is missing", nil
		}
		if got.KeyType.Bytes != ws.KeyType.Bytes || got.KeyType.GetNFTMagic() != ws.KeyType.GetNFTMagic() ||
			got.Interval != ws.Interval || got.HasTimeout != ws.HasTimeout || got.IsMap {
			return false, "set " + want.name + " has another type or flags", nil
		}
		delete(byName, want.name)
	}
	delete(byName, setProbe)
	for name := range byName {
		return false, "set " + name + " is not ours", nil
	}
	chains, err := e.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, "", fmt.Errorf("list nftables chains: %w", err)
	}
	want := e.chains()
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != e.table {
			continue
		}
		i := slices.IndexFunc(want, func(w *nftables.Chain) bool { return w.Name == c.Name })
		if i < 0 {
			return false, "chain " + c.Name + " is not ours", nil
		}
		w := want[i]
		if c.Hooknum == nil || c.Priority == nil || *c.Hooknum != *w.Hooknum || *c.Priority != *w.Priority || c.Type != w.Type {
			return false, "chain " + c.Name + " has another hook, priority or type", nil
		}
	}
	return true, "", nil
}

// rebuildChains replaces the rules of our chains (creating missing chains)
// in one transaction, leaving the sets and their elements alone.
func (e *Enforcer) rebuildChains() error {
	t := e.tableRef()
	sets, err := e.conn.GetSets(t)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if s.Name == setProbe {
			e.conn.DelSet(s)
		}
	}
	for _, c := range e.chains() {
		e.conn.AddChain(c) // no change when it exists
		e.conn.FlushChain(c)
		for _, r := range rules(t, c, nil) {
			e.conn.AddRule(r)
		}
	}
	return e.conn.Flush()
}

// probeRefresh learns whether adding an element that is already in a set
// sets its timeout anew (recent kernels) or leaves it (older ones), using a
// scratch set in our table.
func (e *Enforcer) probeRefresh() (bool, error) {
	t := e.tableRef()
	set := setSpec{name: setProbe, timeout: true, id: 7}.set(t)
	if err := e.conn.AddSet(set, nil); err != nil {
		return false, err
	}
	if err := e.conn.Flush(); err != nil {
		return false, fmt.Errorf("create scratch set: %w", err)
	}
	defer func() {
		e.conn.DelSet(set)
		if err := e.conn.Flush(); err != nil {
			e.log.Warn("delete the scratch nftables set", "set", setProbe, "err", err)
		}
	}()
	key := netip.AddrFrom4([4]byte{192, 0, 2, 1}) // TEST-NET-1, in a set no rule uses
	for _, d := range []time.Duration{1, 2} {
		b := newBatch(e.table)
		b.add(setProbe, []elem{{key: key, timeout: d * time.Hour}})
		if err := e.sock.commit(b); err != nil {
			return false, err
		}
	}
	var got []kelem
	if err := e.sock.list(e.table, setProbe, func(k kelem) { got = append(got, k) }); err != nil {
		return false, err
	}
	if len(got) != 1 || !bytes.Equal(got[0].key, key.AsSlice()) {
		return false, fmt.Errorf("scratch set listing does not match what was added: %+v", got)
	}
	return got[0].timeout == 2*time.Hour, nil
}
