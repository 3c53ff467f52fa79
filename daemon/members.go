package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"phalanx/charter"
	"phalanx/fabric"
)

// The members as this member sees them, for the status: whether the
// fabric reaches each (and how fast it answers), how far behind the stream
// it is, and when its last report came. A member that is down or cut off
// must look so: an operator who reads "connected" everywhere must be able
// to trust it.

// MemberStatus is one member of the alliance in the status.
type MemberStatus struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Self     bool   `json:"self,omitempty"`
	Founding bool   `json:"founding,omitempty"`
	// Connected says that this member's fabric reaches the member now;
	// Link says how: "self"; "route" (a cluster route: both keep the
	// stream), "leaf" (its server is a leaf node of this member's), "hub"
	// (this member's server is a leaf node of its), all direct links; or
	// "fabric", through other members' servers (its daemon's subscription
	// is seen across the fabric). Empty when not connected; Note says why.
	Connected bool   `json:"connected"`
	Link      string `json:"link,omitempty"`
	// RTT is the round trip on a direct link, as the fabric last measured
	// it (every few tens of seconds); absent for other links.
	RTT string `json:"rtt,omitempty"`
	// Lag is how many reports the member is behind the stream: for this
	// member, those stored but not judged yet; for a member that keeps a
	// copy of the stream, the entries its copy lacks, as the stream's
	// leader sees it. Absent when this member cannot tell (a leaf member
	// keeps no copy; the stream has no leader).
	Lag *uint64 `json:"lag,omitempty"`
	// LastReport is when the last report this member judged of it was
	// stored (received, for one that came on the fast path or by repair),
	// and LastSeq that report's sequence in the member's numbering.
	// Absent when none came since this member started (the stream is
	// replayed at start, so only a member silent for the stream's whole
	// age has none).
	LastReport *time.Time `json:"last_report,omitempty"`
	LastSeq    uint64     `json:"last_seq,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// Link kinds beyond fabric's.
const (
	linkSelf   = "self"
	linkFabric = "fabric"
)

// replicaSilence is how long the stream's leader may go without hearing
// from a copy before its member counts as cut off, although a link to it
// may still stand (a network that fails silently ends a link only when
// pings go unanswered, a minute or more later). The leader hears from
// every copy about every second.
const replicaSilence = 5 * time.Second

// streamFresh is how old a reading of the stream's state may be and still
// be used; watchLeader reads it every 2 s.
const streamFresh = 6 * time.Second

// memberView is what the roster is made of besides the charter and the
// fabric's links. The zero value is ready to use; it is safe for
// concurrent use.
type memberView struct {
	mu     sync.Mutex
	last   map[string]lastReport
	stream fabric.StreamState
	read   time.Time // when stream was read; zero when the last reading failed
}

type lastReport struct {
	at  time.Time
	seq uint64
}

// saw records an authentic report of member with sequence seq, stored (or
// received) at at.
func (v *memberView) saw(member string, seq uint64, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil {
		v.last = map[string]lastReport{}
	}
	l := v.last[member]
	if at.After(l.at) {
		l.at = at
	}
	l.seq = max(l.seq, seq)
	v.last[member] = l
}

// readStream reads the stream's state from its leader and keeps it for
// the roster, and the leader's name for the status ("" when the stream
// has no leader or did not answer).
func (d *Daemon) readStream(ctx context.Context) {
	st, err := d.fab.StreamState(ctx)
	d.view.mu.Lock()
	if err != nil {
		d.view.stream, d.view.read = fabric.StreamState{}, time.Time{}
	} else {
		d.view.stream, d.view.read = st, time.Now()
	}
	d.view.mu.Unlock()
	d.leader.Store(st.Leader)
}

// roster is every member of c as this member sees it, in the charter's
// order.
func (d *Daemon) roster(c *charter.Charter) []MemberStatus {
	links := map[string]fabric.Link{}
	for _, l := range d.fab.Links() {
		links[l.Name] = l
	}
	d.view.mu.Lock()
	last := make(map[string]lastReport, len(d.view.last))
	for k, v := range d.view.last {
		last[k] = v
	}
	st, fresh := d.view.stream, !d.view.read.IsZero() && time.Since(d.view.read) < streamFresh
	d.view.mu.Unlock()
	replicas := map[string]fabric.Replica{}
	if fresh {
		for _, r := range st.Replicas {
			replicas[r.Name] = r
		}
	}
	out := make([]MemberStatus, 0, len(c.Members))
	for _, m := range c.Members {
		ms := MemberStatus{ID: m.ID, Name: m.Name, Founding: m.Founding}
		if l, ok := last[m.ID]; ok {
			at := l.at.UTC()
			ms.LastReport, ms.LastSeq = &at, l.seq
		}
		l, linked := links[m.ID]
		switch {
		case m.ID == d.id.ID:
			ms.Self, ms.Connected, ms.Link = true, true, linkSelf
			if fresh {
				lag := st.LastSeq - min(st.LastSeq, d.consumed.Load())
				ms.Lag = &lag
			}
			out = append(out, ms)
			continue
		case linked:
			ms.Connected, ms.Link = true, l.Kind
			if l.RTT > 0 {
				ms.RTT = l.RTT.String()
			}
		case d.secret != "" && d.fab.Serving(m.ID, seqsKind):
			ms.Connected, ms.Link = true, linkFabric
		default:
			ms.Note = "not reached: no link between this member's fabric server and its, and its daemon is not seen on the fabric"
		}
		if r, ok := replicas[m.ID]; ok {
			lag := r.Lag
			ms.Lag = &lag
			if !r.Leader && (r.Offline || r.Seen > replicaSilence) {
				ms.Connected, ms.Link, ms.RTT = false, "", ""
				ms.Note = fmt.Sprintf("the stream's leader %s has not heard from its copy of the stream for %s", st.Leader, r.Seen.Round(time.Second))
				if r.Offline {
					ms.Note = fmt.Sprintf("the stream's leader %s counts its copy of the stream offline", st.Leader)
				}
			}
		}
		out = append(out, ms)
	}
	return out
}
