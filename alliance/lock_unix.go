//go:build unix

package alliance

import (
	"fmt"
	"os"
	"syscall"
)

// lockStore takes an exclusive flock on the lock file at path, waiting for
// another holder (the CLI or the daemon) to finish. flock locks belong to
// the open file, so two opens conflict even within one process. Closing
// the file releases the lock; the kernel releases it if the process dies.
func lockStore(path string) (unlock func() error, err error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open invite lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(fh.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("lock invite store (%s): %w", path, err)
	}
	return fh.Close, nil
}
