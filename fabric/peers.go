package fabric

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// What this member's server knows of the other members' servers, for the
// status: which it is connected to (and how fast they answer), who keeps
// the stream and how far behind each copy is, and whose daemon is attached
// to the fabric at all.

// Kinds of Link.
const (
	LinkRoute = "route" // a cluster route: both servers keep the stream
	LinkLeaf  = "leaf"  // the other server is a leaf node of this one
	LinkHub   = "hub"   // this server is a leaf node of the other
)

// Link is a connection between this server and another member's server.
type Link struct {
	// Name is the other server's name (Options.Name: the member id, in
	// an alliance).
	Name string
	Kind string // LinkRoute, LinkLeaf or LinkHub
	// RTT is the round trip nats-server last measured on the connection
	// (it pings every few tens of seconds); 0 before the first.
	RTT time.Duration
}

// Links returns this server's connections to other servers, one per
// server, in name order. A server that is down or cut off has none: its
// connection ends when it closes, or when it misses nats-server's pings
// (about a minute for routes, a few for leaf connections) when the network
// fails silently. Links reads only the server's memory.
func (f *Fabric) Links() []Link {
	if f.closed() {
		return nil
	}
	best := map[string]Link{}
	add := func(l Link) {
		if l.Name == "" {
			return // the remote has not said its name yet
		}
		if old, ok := best[l.Name]; ok && (old.RTT > 0 && old.RTT <= l.RTT || l.RTT == 0) {
			return // a pool of routes to one server: keep the quickest
		}
		best[l.Name] = l
	}
	if rz, err := f.server().Routez(nil); err == nil {
		for _, r := range rz.Routes {
			add(Link{Name: r.RemoteName, Kind: LinkRoute, RTT: parseRTT(r.RTT)})
		}
	}
	if lz, err := f.server().Leafz(nil); err == nil {
		for _, l := range lz.Leafs {
			kind := LinkLeaf
			if l.IsSpoke {
				kind = LinkHub // this server dialed it: it is our hub
			}
			add(Link{Name: l.Name, Kind: kind, RTT: parseRTT(l.RTT)})
		}
	}
	out := make([]Link, 0, len(best))
	for _, l := range best {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// parseRTT reads nats-server's monitoring RTT ("1.234ms"); 0 when absent
// or unreadable.
func parseRTT(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// Serving reports whether some server of the fabric, this one or one it
// reaches through its links, holds a subscription to member's requests of
// kind (see Serve): whether member's daemon is attached to the fabric and
// reachable from here now, even when its server is not linked to this one
// (a leaf member of another hub server). It reads only this server's
// interest tables, which learn of a subscription, and of its end, from
// the links.
func (f *Fabric) Serving(member, kind string) bool {
	if f.closed() || !ValidMember(member) || !ValidKind(kind) {
		return false
	}
	acc := f.server().GlobalAccount()
	if acc == nil {
		return false
	}
	return acc.SubscriptionInterest(RequestPrefix + member + "." + kind)
}

// Replica is one copy of the stream as the stream's leader sees it.
type Replica struct {
	Name    string // the server's name (the member id, in an alliance)
	Leader  bool
	Current bool // up to date with the leader
	Offline bool // the leader counts it offline
	// Seen is how long ago the leader last heard from it (0 for the
	// leader itself).
	Seen time.Duration
	// Lag is how many entries (reports, mostly) its copy is behind the
	// leader's.
	Lag uint64
}

// StreamState is the report stream as its leader describes it.
type StreamState struct {
	Leader   string // the leader's server name; this server's when not clustered
	LastSeq  uint64 // the last stored message's sequence, 0 when empty
	Replicas []Replica
}

// StreamState asks the stream's leader for the stream's state and its
// copies. It fails when the stream has no leader (this member is cut off
// from a majority of the servers that keep it) or does not answer before
// ctx ends. A stream that is not clustered has one copy, this server's.
func (f *Fabric) StreamState(ctx context.Context) (StreamState, error) {
	if f.closed() {
		return StreamState{}, ErrClosed
	}
	if f.storeDisabled() {
		return StreamState{}, ErrStoreDisabled
	}
	s, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		return StreamState{}, fmt.Errorf("read stream %s: %w", StreamName, err)
	}
	info := s.CachedInfo()
	st := StreamState{LastSeq: info.State.LastSeq}
	if info.State.Msgs == 0 {
		st.LastSeq = 0 // as LastSeq: nothing left to replay
	}
	c := info.Cluster
	if c == nil || c.Leader == "" && len(c.Replicas) == 0 {
		st.Leader = f.name
		st.Replicas = []Replica{{Name: f.name, Leader: true, Current: true}}
		return st, nil
	}
	st.Leader = c.Leader
	if c.Leader != "" {
		st.Replicas = append(st.Replicas, Replica{Name: c.Leader, Leader: true, Current: true})
	}
	for _, p := range c.Replicas {
		if p == nil || p.Name == "" || p.Pending {
			continue
		}
		st.Replicas = append(st.Replicas, Replica{Name: p.Name, Current: p.Current, Offline: p.Offline,
			Seen: p.Active, Lag: p.Lag})
	}
	return st, nil
}
