package fabric

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// linkTo returns f's link to the server name, if any.
func linkTo(f *Fabric, name string) (Link, bool) {
	for _, l := range f.Links() {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

func streamState(f *Fabric) (StreamState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return f.StreamState(ctx)
}

// replicaOf returns the replica name in st.
func replicaOf(st StreamState, name string) (Replica, bool) {
	for _, r := range st.Replicas {
		if r.Name == name {
			return r, true
		}
	}
	return Replica{}, false
}

// TestPeers: in a hub of three with two leaf members, each server lists
// its links (routes between hub servers, leaf and hub links between a leaf
// and the hub server it attached to) with round trips once measured; the
// stream's leader describes every copy; every member's request
// subscription is visible from everywhere; and a hub server that stops
// loses its links, its subscription and, in the leader's eyes, its copy.
func TestPeers(t *testing.T) {
	top := startLeafTopology(t)
	a, b, c := top.hub[0], top.hub[1], top.hub[2]
	for _, f := range append([]*Fabric{top.l, top.m}, top.hub...) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go f.Serve(ctx, "seqs", func([]byte) []byte { return nil })
	}

	// Routes: every hub server to the two others, with a round trip.
	for _, f := range top.hub {
		for _, g := range top.hub {
			if f == g {
				continue
			}
			waitFor(t, fmt.Sprintf("a measured route from %s to %s", f.Name(), g.Name()), 20*time.Second, func() bool {
				l, ok := linkTo(f, g.Name())
				return ok && l.Kind == LinkRoute && l.RTT > 0
			})
		}
		if _, ok := linkTo(f, f.Name()); ok {
			t.Errorf("%s lists a link to itself", f.Name())
		}
	}
	// Leaf members: one link each, to their hub server, which lists them
	// as its leaves.
	for _, leaf := range []*Fabric{top.l, top.m} {
		links := leaf.Links()
		if len(links) != 1 || links[0].Kind != LinkHub {
			t.Fatalf("leaf %s links %+v; want one hub link", leaf.Name(), links)
		}
		hub := links[0].Name
		var hubF *Fabric
		for _, f := range top.hub {
			if f.Name() == hub {
				hubF = f
			}
		}
		if hubF == nil {
			t.Fatalf("leaf %s's hub %q is not a hub server", leaf.Name(), hub)
		}
		if l, ok := linkTo(hubF, leaf.Name()); !ok || l.Kind != LinkLeaf {
			t.Errorf("hub %s's link to leaf %s: %+v, %v; want a leaf link", hub, leaf.Name(), l, ok)
		}
	}

	// Every member's requests are served, as every server sees it; a
	// member that does not exist is not.
	everyone := []string{"A", "B", "C", "L", "M"}
	for _, f := range append([]*Fabric{top.l, top.m}, top.hub...) {
		for _, id := range everyone {
			waitFor(t, f.Name()+" to see "+id+" serving", 20*time.Second, func() bool { return f.Serving(id, "seqs") })
		}
		if f.Serving("Z", "seqs") || f.Serving("A", "repair") {
			t.Errorf("%s sees a member or a kind served that nobody serves", f.Name())
		}
	}

	// The stream: three copies, the same state through a hub server and
	// through a leaf.
	publishN(t, a, "A", 1, 5)
	for _, f := range []*Fabric{a, top.l} {
		waitFor(t, "the stream's state through "+f.Name(), 20*time.Second, func() bool {
			st, err := streamState(f)
			if err != nil || st.LastSeq != 5 || st.Leader == "" || len(st.Replicas) != 3 {
				return false
			}
			for _, id := range []string{"A", "B", "C"} {
				if r, ok := replicaOf(st, id); !ok || !r.Current || r.Offline || r.Seen > 5*time.Second || r.Leader != (id == st.Leader) {
					return false
				}
			}
			return true
		})
	}

	// C stops: A and B lose their routes to it and its subscription; the
	// leader (A or B, once C is gone) stops hearing from C's copy.
	var stillUp []*Fabric
	for _, f := range top.hub {
		if f != c {
			stillUp = append(stillUp, f)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range stillUp {
		waitFor(t, f.Name()+" to lose its route to C", 20*time.Second, func() bool { _, ok := linkTo(f, "C"); return !ok })
		waitFor(t, f.Name()+" to see C no longer serving", 20*time.Second, func() bool { return !f.Serving("C", "seqs") })
	}
	waitFor(t, "the leader to stop hearing from C's copy", 60*time.Second, func() bool {
		st, err := streamState(b)
		if err != nil {
			return false
		}
		r, ok := replicaOf(st, "C")
		return ok && !r.Leader && (r.Offline || r.Seen > 5*time.Second)
	})
	if _, err := c.StreamState(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("StreamState on a closed Fabric: %v; want ErrClosed", err)
	}
	if c.Links() != nil || c.Serving("A", "seqs") {
		t.Error("a closed Fabric still reports links or subscriptions")
	}
}

// TestPeersAlone: a Fabric that is not clustered has no links, and its
// stream one copy, its own, which leads.
func TestPeersAlone(t *testing.T) {
	f := start(t, Options{DataDir: t.TempDir()})
	if l := f.Links(); len(l) != 0 {
		t.Errorf("links of a lone Fabric: %+v", l)
	}
	publishN(t, f, "m", 1, 3)
	st, err := streamState(f)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != 3 || st.Leader != f.Name() || len(st.Replicas) != 1 || !st.Replicas[0].Leader || st.Replicas[0].Name != f.Name() {
		t.Errorf("lone stream state %+v; want last 3, led by its own copy %s", st, f.Name())
	}
}
