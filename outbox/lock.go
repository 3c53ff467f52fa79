package outbox

import (
	"errors"
	"fmt"
	"path/filepath"

	"phalanx/atomicfile"
	"phalanx/dirlock"
)

// lockDir takes an exclusive lock on dir/outbox.lock so that two daemons
// never share one outbox.
func lockDir(dir string) (unlock func() error, err error) {
	name := filepath.Join(dir, "outbox.lock")
	unlock, err = dirlock.TryLock(name)
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, fmt.Errorf("outbox directory %s is in use by another phalanx (lock %s held): stop it or use another data directory: %w", dir, name, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("lock outbox directory %s: %w", dir, err)
	}
	return unlock, nil
}

// syncDir makes the directory's entries (created, renamed, removed files)
// durable.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
