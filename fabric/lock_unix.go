//go:build unix

package fabric

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir/fabric.lock so that two servers
// never share one store. The kernel drops the lock when the process dies,
// so a crash leaves nothing to clean up.
func lockDir(dir string) (unlock func() error, err error) {
	name := filepath.Join(dir, "fabric.lock")
	fh, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open fabric lock file: %w", err)
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fh.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("fabric data directory %s is in use by another phalanx (lock %s held): stop it or use another data directory", dir, name)
		}
		return nil, fmt.Errorf("lock fabric data directory %s: %w", dir, err)
	}
	return fh.Close, nil // closing the file releases the lock
}
