package fabric

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// leafTopology is a hub of three clustered members A, B, C (stream R3,
// leaf listeners) and two leaf members L and M.
type leafTopology struct {
	hub      []*Fabric
	hubLogs  []func(string) bool
	l, m     *Fabric
	members  []Member
	hubLeafs []string
}

func startLeafTopology(t *testing.T) *leafTopology {
	t.Helper()
	tc := newTestCluster(t, 3)
	lk, mk := newTestKey(t, 4), newTestKey(t, 5)
	members := append(slices.Clone(tc.members), Member{ID: "L", PublicKey: lk.pub}, Member{ID: "M", PublicKey: mk.pub})
	top := &leafTopology{members: members}
	for i := range 3 {
		o := tc.options(t, i, 3)
		o.Members = members
		o.LeafListen = "127.0.0.1:0"
		log, logged := recordLogs(t)
		o.Logger = log
		f := startMember(t, o).f
		top.hub = append(top.hub, f)
		top.hubLogs = append(top.hubLogs, logged)
		top.hubLeafs = append(top.hubLeafs, f.LeafURL())
	}
	ready(t, top.hub...)
	waitReplicated(t, top.hub[0], 3)
	top.l = startMember(t, top.leafOptions(t, "L", lk)).f
	top.m = startMember(t, top.leafOptions(t, "M", mk)).f
	ready(t, top.l, top.m)
	return top
}

func (top *leafTopology) leafOptions(t *testing.T, name string, k testKey) Options {
	return Options{DataDir: t.TempDir(), Name: name, Hub: top.hubLeafs, Seed: k.seed, Members: top.members}
}

// fastLinked waits until fast-path messages published by from's member
// reach col (through the hub), then discards what col saw so far.
func fastLinked(t *testing.T, from *Fabric, col *collector) {
	t.Helper()
	subject := FastPrefix + from.self
	waitFor(t, "the fast path from "+from.self, 15*time.Second, func() bool {
		if err := from.nc.Publish(subject, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		return len(col.fastOn(subject)) > 0
	})
	if err := from.nc.Publish(subject, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fast-path marker", 10*time.Second, func() bool {
		fast := col.fastOn(subject)
		return string(fast[len(fast)-1].Data) == "marker"
	})
	col.mu.Lock()
	col.fast = col.fast[:0]
	col.mu.Unlock()
}

// TestLeaf: a report published on one leaf member reaches the other leaf
// member's Consume on the fast path and through the stream kept by the
// hub; a key that is not a member's cannot attach as a leaf node; a
// member removed by SetMembers loses its leaf connection; a leaf member
// that sees its hub server's member removed leaves it for another.
func TestLeaf(t *testing.T) {
	top := startLeafTopology(t)
	l, m := top.l, top.m
	for _, f := range []*Fabric{l, m} {
		if f.srv.NumLeafNodes() != 1 {
			t.Fatalf("%s has %d leaf connections, want 1", f.Name(), f.srv.NumLeafNodes())
		}
		if f.srv.JetStreamEnabled() {
			t.Fatalf("leaf %s runs JetStream: the stream must live in the hub", f.Name())
		}
	}

	cm := consume(t, m, 0)
	fastLinked(t, l, cm)
	publishN(t, l, "L", 1, 20)
	checkSeqs(t, cm.waitStream(t, 20), 1, body)
	fast := cm.waitFast(t, FastPrefix+"L", 20)
	for i, msg := range fast {
		if string(msg.Data) != body(uint64(i+1)) {
			t.Fatalf("fast-path message %d on M is %q, want %q", i, msg.Data, body(uint64(i+1)))
		}
	}
	if last, err := l.LastSeq(); err != nil || last != 20 {
		t.Fatalf("LastSeq through the leaf = %d, %v; want 20", last, err)
	}
	// The hub's own members see the leaf's reports, and the leaves see theirs.
	ca := consume(t, top.hub[0], 0)
	checkSeqs(t, ca.waitStream(t, 20), 1, body)
	publishN(t, top.hub[1], "B", 21, 1)
	checkSeqs(t, cm.waitStream(t, 21), 1, body)
	// A leaf member publishes only its own reports.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.Publish(ctx, "M", "forged", []byte("forged")); err == nil {
		t.Fatal("leaf L published as M")
	}

	// The hub enforces it too: L's server may send only L's subjects.
	if err := l.adminNC.Publish(FastPrefix+"M", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := l.adminNC.Flush(); err != nil { // L's server has sent it on before what follows
		t.Fatal(err)
	}
	if err := l.nc.Publish(FastPrefix+"L", []byte("after the forgery")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message after the forgery", 10*time.Second, func() bool {
		fast := cm.fastOn(FastPrefix + "L")
		return len(fast) > 0 && string(fast[len(fast)-1].Data) == "after the forgery"
	})
	if forged := cm.fastOn(FastPrefix + "M"); len(forged) != 0 {
		t.Fatalf("M received %d messages L's server sent as M", len(forged))
	}

	// A leaf member's requests are answered; its own answers do not
	// pass the hub (no response permissions on leaf connections).
	serve(t, top.hub[0], "gap", func(req []byte) []byte { return []byte("A answers " + string(req)) })
	serve(t, m, "gap", func(req []byte) []byte { return []byte("M answers " + string(req)) })
	if got := request(t, l, "A", "gap", []byte("L")); string(got) != "A answers L" {
		t.Fatalf("L asked A: %q", got)
	}
	qctx, qcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer qcancel()
	if got, err := top.hub[0].Request(qctx, "M", "gap", []byte("A")); err == nil {
		t.Fatalf("leaf M's answer passed the hub: %q", got)
	}

	// A key that is no member's cannot attach as a leaf node.
	stranger := newTestKey(t, 6)
	xo := top.leafOptions(t, "X", stranger)
	xo.Members = append(slices.Clone(top.members), Member{ID: "X", PublicKey: stranger.pub}) // X thinks it is a member
	x := startMember(t, xo).f
	waitFor(t, "the hub to refuse X", clusterReady, func() bool {
		for _, logged := range top.hubLogs {
			if logged("is not a member's") {
				return true
			}
		}
		return false
	})
	if n := x.srv.NumLeafNodes(); n != 0 {
		t.Fatalf("X attached as a leaf node (%d connections)", n)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
	defer rcancel()
	if err := x.Ready(rctx); err == nil {
		t.Fatal("X reached the stream")
	}

	// M is removed: its leaf connection is closed and stays closed.
	var rest []Member
	for _, mem := range top.members {
		if mem.ID != "M" {
			rest = append(rest, mem)
		}
	}
	for _, h := range top.hub {
		if err := h.SetMembers(rest); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "M's leaf connection to close", 10*time.Second, func() bool { return m.srv.NumLeafNodes() == 0 })
	publishN(t, l, "L", 22, 1)
	checkSeqs(t, ca.waitStream(t, 22), 1, body)
	if n := m.srv.NumLeafNodes(); n != 0 {
		t.Fatalf("removed member M attached again (%d leaf connections)", n)
	}

	// The hub member L is attached to is removed, as L sees it: L's link
	// to it is closed and L attaches to another hub member.
	first := hubOf(t, l)
	var without []Member
	for _, mem := range rest {
		if mem.ID != first {
			without = append(without, mem)
		}
	}
	if err := l.SetMembers(without); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "L to leave hub member "+first+" for another", 10*time.Second, func() bool {
		lz, err := l.srv.Leafz(nil)
		return err == nil && len(lz.Leafs) == 1 && lz.Leafs[0].Name != first && lz.Leafs[0].Name != ""
	})
	t.Logf("L moved from %s to %s", first, hubOf(t, l))
}

// hubOf returns the name of the server leaf member f is attached to.
func hubOf(t *testing.T, f *Fabric) string {
	t.Helper()
	lz, err := f.srv.Leafz(nil)
	if err != nil || len(lz.Leafs) != 1 {
		t.Fatalf("leaf %s: %v, %d leaf connections; want one", f.Name(), err, len(lz.Leafs))
	}
	return lz.Leafs[0].Name
}

func TestLeafOptionsInvalid(t *testing.T) {
	k := newTestKey(t, 1)
	members := []Member{{ID: "A", PublicKey: k.pub}}
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"leaf listen without members", Options{LeafListen: "127.0.0.1:0"}, "LeafListen needs authentication"},
		{"hub without seed", Options{Hub: []string{"nats://127.0.0.1:7422"}}, "Hub needs this member's identity"},
		{"hub and cluster", Options{Hub: []string{"nats://127.0.0.1:7422"}, Seed: k.seed, Members: members, Cluster: "127.0.0.1:0", Routes: []string{"nats://127.0.0.1:1"}}, "keeps no stream"},
		{"hub and leaf listen", Options{Hub: []string{"nats://127.0.0.1:7422"}, Seed: k.seed, Members: members, LeafListen: "127.0.0.1:0"}, "keeps no stream"},
		{"hub without members", Options{Hub: []string{"nats://127.0.0.1:7422"}, Seed: k.seed}, "Hub needs the members"},
		{"bad hub url", Options{Hub: []string{"127.0.0.1:7422"}, Seed: k.seed, Members: members}, "want nats://host:port"},
		{"hub url with user", Options{Hub: []string{"nats://u:p@127.0.0.1:7422"}, Seed: k.seed, Members: members}, "want nats://host:port"},
		{"bad leaf listen", Options{LeafListen: "127.0.0.1", Seed: k.seed, Members: members}, "leaf address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.DataDir = t.TempDir()
			f, err := Start(context.Background(), tt.o)
			if err == nil {
				f.Close()
				t.Fatal("Start accepted the options")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestLeafLatency measures the fast path from one leaf member through the
// hub to another leaf member's Consume: p50 and p99 over 1000 reports,
// one at a time. It runs with PHALANX_BENCH=1.
func TestLeafLatency(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") != "1" {
		t.Skip("set PHALANX_BENCH=1 to measure leaf -> hub -> leaf latency")
	}
	top := startLeafTopology(t)
	l, m := top.l, top.m
	got := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- m.Consume(ctx, 0, func(msg Msg) {
			if msg.Seq == 0 && strings.HasPrefix(string(msg.Data), "lat-") {
				got <- time.Now()
			}
		})
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "the fast path from L to M", 15*time.Second, func() bool {
		if err := l.nc.Publish(FastPrefix+"L", []byte("lat-probe")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return true
		default:
			return false
		}
	})
	for len(got) > 0 { // a late probe
		<-got
	}
	const n = 1000
	data := []byte("lat-" + strings.Repeat("r", 296)) // 300 bytes, like a report
	var lat []time.Duration
	for i := range n + 50 {
		sent := time.Now()
		if err := l.nc.Publish(FastPrefix+"L", data); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			if i >= 50 { // warm-up
				lat = append(lat, at.Sub(sent))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d did not arrive within 5 s", i)
		}
	}
	slices.Sort(lat)
	t.Logf("leaf -> hub -> leaf fast path, %d messages of %d bytes: p50 %v, p99 %v, max %v",
		n, len(data), lat[n/2], lat[n*99/100], lat[n-1])
	fmt.Fprintf(os.Stderr, "leaf-fast-path p50=%v p99=%v max=%v n=%d\n", lat[n/2], lat[n*99/100], lat[n-1], n)
}
