package fabric

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// streamDir is where nats-server keeps the stream under a data directory.
func streamDir(dataDir string) string {
	return filepath.Join(dataDir, "jetstream", "$G", "streams", StreamName)
}

// copyDir copies the regular files and directories under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storeWith20 returns a data directory holding reports 1 to 20, closed.
func storeWith20(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f, err := Start(context.Background(), Options{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, f, "alpha", 1, 20)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func flipBytes(name string, from, n int) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if from+n > len(b) {
		return errors.New("file too short to damage")
	}
	for i := from; i < from+n; i++ {
		b[i] ^= 0xff
	}
	return os.WriteFile(name, b, 0o600)
}

func truncateTo(name string, frac float64) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	return os.Truncate(name, int64(float64(st.Size())*frac))
}

// TestDamagedStoreStillStarts damages the stream's files while the member
// is stopped. The decision (see the package doc): Start comes up with what
// nats-server can recover — a member without its fabric would protect
// nothing, and lost reports come back from members' outboxes — and it
// never delivers a damaged message. Damage to the metadata or index loses
// nothing; damage to a message block loses the messages from the damage on.
func TestDamagedStoreStillStarts(t *testing.T) {
	pristine := storeWith20(t)
	blk := func(d string) string { return filepath.Join(streamDir(d), "msgs", "1.blk") }
	for _, tc := range []struct {
		name    string
		damage  func(dir string) error
		keepAll bool
	}{
		{"index deleted", func(d string) error { return os.Remove(filepath.Join(streamDir(d), "msgs", "index.db")) }, true},
		{"index corrupted", func(d string) error { return flipBytes(filepath.Join(streamDir(d), "msgs", "index.db"), 10, 20) }, true},
		{"meta checksum deleted", func(d string) error { return os.Remove(filepath.Join(streamDir(d), "meta.sum")) }, true},
		{"meta corrupted", func(d string) error { return flipBytes(filepath.Join(streamDir(d), "meta.inf"), 10, 1) }, true},
		{"meta truncated", func(d string) error { return os.Truncate(filepath.Join(streamDir(d), "meta.inf"), 0) }, true},
		{"stray block", func(d string) error {
			return os.WriteFile(filepath.Join(streamDir(d), "msgs", "7.blk"), []byte("not a block"), 0o600)
		}, true},
		{"block truncated to half", func(d string) error { return truncateTo(blk(d), 0.5) }, false},
		{"block truncated to zero", func(d string) error { return truncateTo(blk(d), 0) }, false},
		{"block torn at the end", func(d string) error { return truncateTo(blk(d), 0.98) }, false},
		{"block corrupted in the middle", func(d string) error {
			st, err := os.Stat(blk(d))
			if err != nil {
				return err
			}
			return flipBytes(blk(d), int(st.Size()/2), 40)
		}, false},
		{"block replaced by garbage", func(d string) error {
			return os.WriteFile(blk(d), []byte(strings.Repeat("garbage!", 512)), 0o600)
		}, false},
		{"messages directory replaced by a file", func(d string) error {
			if err := os.RemoveAll(filepath.Join(streamDir(d), "msgs")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(streamDir(d), "msgs"), []byte("x"), 0o600)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, pristine, dir)
			if err := tc.damage(dir); err != nil {
				t.Fatalf("damage: %v", err)
			}
			f := start(t, Options{DataDir: dir})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := f.js.Stream(ctx, StreamName)
			if err != nil {
				t.Fatal(err)
			}
			kept := int(s.CachedInfo().State.Msgs)
			if tc.keepAll && kept != 20 {
				t.Fatalf("kept %d of 20 messages, want all", kept)
			}
			t.Logf("kept %d of 20 messages; last sequence %d", kept, s.CachedInfo().State.LastSeq)

			// What survived is delivered intact and in order.
			all := consume(t, f, 1)
			msgs := all.waitStream(t, kept)
			for i, m := range msgs {
				if i > 0 && m.Seq <= msgs[i-1].Seq {
					t.Fatalf("sequence %d after %d", m.Seq, msgs[i-1].Seq)
				}
				if m.Seq > 20 || string(m.Data) != body(m.Seq) {
					t.Fatalf("delivered damaged message seq %d: %q", m.Seq, m.Data)
				}
			}
			if tc.keepAll {
				checkSeqs(t, msgs, 1, body)
			}

			// A consumer resuming after everything it saw before the damage
			// (cursor 21) still gets what is published now, even when the
			// stream lost its tail and hands out lower sequences again.
			resumed := consume(t, f, 21)
			resumed.fastReady(t, f) // Consume reads LastSeq before it subscribes
			seq, err := f.Publish(ctx, "alpha", "after-damage", []byte("after damage"))
			if err != nil {
				t.Fatalf("Publish after damage: %v", err)
			}
			got := resumed.waitStream(t, 1)
			if got[0].Seq != seq || string(got[0].Data) != "after damage" {
				t.Fatalf("resumed consumer got seq %d %q, want seq %d \"after damage\"", got[0].Seq, got[0].Data, seq)
			}
			if tc.keepAll && seq != 21 {
				t.Fatalf("new report got sequence %d, want 21", seq)
			}
		})
	}
}

// TestUnusableStoreFailsClearly: when JetStream cannot use the store at
// all, Start fails at once and says what to do.
func TestUnusableStoreFailsClearly(t *testing.T) {
	dir := storeWith20(t)
	js := filepath.Join(dir, "jetstream")
	if err := os.RemoveAll(js); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	f, err := Start(context.Background(), Options{DataDir: dir, Logger: testLogger(t)})
	if err == nil {
		f.Close()
		t.Fatal("Start succeeded on a store that is a file")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Start took %v to fail, want it to fail at once", took)
	}
	for _, want := range []string{"not a directory", "move " + js + " aside"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error %q does not say %q", err, want)
		}
	}
	// The lock is released: once the store is moved aside, Start works.
	if err := os.Rename(js, js+".damaged"); err != nil {
		t.Fatal(err)
	}
	g := start(t, Options{DataDir: dir})
	if last, err := g.LastSeq(); err != nil || last != 0 {
		t.Fatalf("fresh store LastSeq() = %d, %v", last, err)
	}
}
