package fabric

import (
	"errors"
	"fmt"
	"path/filepath"

	"phalanx/dirlock"
)

// lockDir takes an exclusive lock on dir/fabric.lock so that two servers
// never share one store.
func lockDir(dir string) (unlock func() error, err error) {
	name := filepath.Join(dir, "fabric.lock")
	unlock, err = dirlock.TryLock(name)
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, fmt.Errorf("fabric data directory %s is in use by another phalanx (lock %s held): stop it or use another data directory", dir, name)
	}
	if err != nil {
		return nil, fmt.Errorf("lock fabric data directory %s: %w", dir, err)
	}
	return unlock, nil
}
