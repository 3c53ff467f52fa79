package fabric

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// skipUnlessCI skips the test for reason, except under CI (which runs as
// root with everything the tests need), where it fails instead.
func skipUnlessCI(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s", reason)
	}
	t.Skip(reason)
}

// tinyDisk mounts a 2 MiB tmpfs for the test and returns its path. It is
// unmounted when the test ends, after the Fabrics started later are closed.
func tinyDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skipUnlessCI(t, "a full disk is simulated with a tmpfs mount, which needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=2m,mode=0700"); err != nil {
		skipUnlessCI(t, fmt.Sprintf("cannot mount a tmpfs: %v", err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return mnt
}

// publishUntilError publishes 4000-byte reports until one fails and returns
// how many succeeded and the error.
func publishUntilError(t *testing.T, f *Fabric) (int, error) {
	t.Helper()
	data := make([]byte, 4000)
	for i := range 2000 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		began := time.Now()
		_, err := f.Publish(ctx, "alpha", fmt.Sprint("fill-", i), data)
		cancel()
		if err != nil {
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("failing Publish took %v, want a prompt error", took)
			}
			return i, err
		}
	}
	t.Fatal("2000 reports of 4000 bytes fit on a 2 MiB disk")
	return 0, nil
}

// TestFullDisk: a store that runs out of room makes Publish fail promptly
// with ErrStoreFull (not retry until its context ends), nothing panics,
// and what was stored before is still there after a restart.
func TestFullDisk(t *testing.T) {
	t.Run("store limit", func(t *testing.T) {
		// JetStream reserves 75% of the free space when it starts and
		// refuses writes beyond that.
		dir := filepath.Join(tinyDisk(t), "data")
		f := start(t, Options{DataDir: dir})
		c := consume(t, f, 1)
		n, err := publishUntilError(t, f)
		if !errors.Is(err, ErrStoreFull) {
			t.Fatalf("publish on a full store: %v, want ErrStoreFull", err)
		}
		t.Logf("stored %d reports, then: %v", n, err)
		if last, err := f.LastSeq(); err != nil || last != uint64(n) {
			t.Fatalf("LastSeq() = %d, %v; want %d", last, err, n)
		}
		c.waitStream(t, n)
	})

	t.Run("disk filled by others", func(t *testing.T) {
		// Another program fills the disk after JetStream started: the
		// write fails with ENOSPC, nats-server stops answering for the
		// stream, and only a restart with free space repairs it.
		mnt := tinyDisk(t)
		dir := filepath.Join(mnt, "data")
		f, err := Start(context.Background(), Options{DataDir: dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		free, ok := diskFree(mnt)
		if !ok {
			t.Fatal("cannot read the free space of the tmpfs")
		}
		filler := filepath.Join(mnt, "filler")
		if err := os.WriteFile(filler, make([]byte, free-40<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := publishUntilError(t, f)
		if !errors.Is(err, ErrStoreFull) {
			t.Fatalf("publish on a full disk: %v, want ErrStoreFull", err)
		}
		t.Logf("stored %d reports, then: %v", n, err)
		if err := f.Close(); err != nil {
			t.Logf("Close on a full disk: %v", err)
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}

		g := start(t, Options{DataDir: dir})
		if last, err := g.LastSeq(); err != nil || last != uint64(n) {
			t.Fatalf("after the restart LastSeq() = %d, %v; want %d", last, err, n)
		}
		msgs := consume(t, g, 1).waitStream(t, n)
		for i, m := range msgs {
			if m.Seq != uint64(i+1) || len(m.Data) != 4000 {
				t.Fatalf("message %d: seq %d, %d bytes", i, m.Seq, len(m.Data))
			}
		}
		if _, err := g.Publish(context.Background(), "alpha", "after", []byte("room again")); err != nil {
			t.Fatalf("Publish after freeing space: %v", err)
		}
	})
}
