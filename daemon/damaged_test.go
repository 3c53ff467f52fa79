package daemon_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
)

// streamStore is where a member's fabric keeps the report stream.
func streamStore(dataDir string) string {
	return filepath.Join(dataDir, "fabric", "jetstream", "$G", "streams", "PHALANX")
}

// lastBlock is the stream's last message block file.
func lastBlock(t *testing.T, dataDir string) string {
	t.Helper()
	blks, err := filepath.Glob(filepath.Join(streamStore(dataDir), "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		t.Fatalf("no message block under %s: %v", streamStore(dataDir), err)
	}
	slices.SortFunc(blks, func(a, b string) int {
		var x, y int
		fmt.Sscanf(filepath.Base(a), "%d.blk", &x)
		fmt.Sscanf(filepath.Base(b), "%d.blk", &y)
		return x - y
	})
	return blks[len(blks)-1]
}

// TestDamagedStoreComesBack: a member whose copy of the report stream was
// damaged while it was down (its last message block truncated, or the
// stream's directory deleted) comes back serving, with the stream as far as
// the others have it and the same bans. Clustered members get the stream
// back from the other replicas, their own copy rebuilt; a leaf member
// holds no replica and reads the hub's.
func TestDamagedStoreComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a := al.members[0]
	al.members = append(al.members, al.joinLeaf(t))
	al.sameCharter(t, 4)

	a.waitTailing()
	addrs := []string{"203.0.113.140", "203.0.113.141", "203.0.113.142"}
	for _, addr := range addrs {
		appendLines(t, a.log, attack(addr, 6)...)
	}
	everyBan := func(m *member) bool {
		for _, addr := range addrs {
			if !banned(m.d, addr) {
				return false
			}
		}
		return true
	}
	for _, m := range al.members {
		waitFor(t, 30*time.Second, "every ban on "+m.dir, func() bool { return everyBan(m) })
	}
	status := func(m *member) daemon.Status {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st
	}
	var seq uint64
	waitFor(t, 30*time.Second, "every member at the same stream position", func() bool {
		seq = status(a).FabricSeq
		for _, m := range al.members {
			if status(m).FabricSeq != seq {
				return false
			}
		}
		return seq > 0
	})
	t.Logf("stream at %d", seq)

	restart := func(i int) {
		m := al.members[i]
		c, err := charter.Load(filepath.Join(m.dir, "charter.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		me, _, _ := c.Member(m.d.ID())
		fab := me.Fabric
		began := time.Now()
		al.members[i] = startWith(t, m.dir, m.log, func(c *config.File, _ *daemon.Options) { c.Daemon.Fabric = fab })
		t.Logf("%s serving %v after restart", filepath.Base(m.dir), time.Since(began).Round(time.Millisecond))
	}
	// held reports whether the member's copy of the stream (its message
	// blocks: the reports' evidence lines are stored as they are) holds a
	// report on each attacked address.
	held := func(dir string) bool {
		blks, _ := filepath.Glob(filepath.Join(streamStore(dir), "msgs", "*.blk"))
		var all []byte
		for _, b := range blks {
			data, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, data...)
		}
		for _, addr := range addrs {
			if !bytes.Contains(all, []byte(addr)) {
				return false
			}
		}
		return true
	}
	for _, tc := range []struct {
		name    string
		member  int
		replica bool // the member keeps a copy of the stream
		damage  func(dir string) error
	}{
		{"clustered member, last block truncated", 2, true, func(dir string) error { return os.Truncate(lastBlock(t, dir), 0) }},
		{"clustered member, stream directory deleted", 1, true, func(dir string) error { return os.RemoveAll(streamStore(dir)) }},
		{"clustered member, fabric directory deleted", 2, true, func(dir string) error { return os.RemoveAll(filepath.Join(dir, "fabric")) }},
		{"leaf member, fabric directory deleted", 3, false, func(dir string) error { return os.RemoveAll(filepath.Join(dir, "fabric")) }},
	} {
		m := al.members[tc.member]
		if tc.replica {
			// A follower replica may trail the stream's position (two
			// replicas of three make a quorum): damage a complete copy.
			waitFor(t, 30*time.Second, tc.name+": the member's copy of the stream holds every report before the damage", func() bool { return held(m.dir) })
		}
		m.stop()
		if tc.replica && !held(m.dir) {
			t.Fatalf("%s: the stream copy lacked the reports once the member stopped", tc.name)
		}
		if err := tc.damage(m.dir); err != nil {
			t.Fatalf("%s: damage: %v", tc.name, err)
		}
		if tc.replica && held(m.dir) {
			t.Fatalf("%s: the damage left every report in place", tc.name)
		}
		restart(tc.member)
		m = al.members[tc.member]
		waitFor(t, 60*time.Second, tc.name+": the stream back to "+fmt.Sprint(seq), func() bool { return status(m).FabricSeq >= seq })
		waitFor(t, 30*time.Second, tc.name+": every ban back", func() bool { return everyBan(m) })
		st := status(m)
		t.Logf("%s: fabric seq %d, decisions %d, health ok %v", tc.name, st.FabricSeq, st.Decisions, st.FabricHealth.OK)
		if tc.replica {
			// The member's own copy is rebuilt from the other replicas:
			// it serves the position and bans at once (read from the
			// leader), and its copy follows within seconds.
			began := time.Now()
			waitFor(t, 60*time.Second, tc.name+": the member's copy of the stream rebuilt from the others", func() bool { return held(m.dir) })
			t.Logf("%s: the member's copy of the stream held every report again %v after the bans", tc.name, time.Since(began).Round(time.Millisecond))
			m.stop()
			if !held(m.dir) {
				t.Fatalf("%s: the rebuilt copy of the stream lost reports when the member stopped", tc.name)
			}
			restart(tc.member)
		}
		// New reports still reach it.
		addr := fmt.Sprintf("203.0.113.%d", 150+tc.member*10+len(addrs))
		appendLines(t, a.log, attack(addr, 6)...)
		waitFor(t, 30*time.Second, tc.name+": a new ban", func() bool { return banned(al.members[tc.member].d, addr) })
		addrs = append(addrs, addr)
	}
}
