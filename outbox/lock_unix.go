//go:build unix

package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir/outbox.lock so that two daemons
// never share one outbox. The kernel drops the lock when the process dies,
// so a crash leaves nothing to clean up.
func lockDir(dir string) (unlock func() error, err error) {
	name := filepath.Join(dir, "outbox.lock")
	fh, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open outbox lock file: %w", err)
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fh.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("outbox directory %s is in use by another phalanx (lock %s held): stop it or use another data directory: %w", dir, name, ErrInUse)
		}
		return nil, fmt.Errorf("lock outbox directory %s: %w", dir, err)
	}
	return fh.Close, nil // closing the file releases the lock
}

// syncDir makes the directory's entries (created, renamed, removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
