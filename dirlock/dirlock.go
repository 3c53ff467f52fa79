// Package dirlock takes exclusive advisory locks (flock) on lock files, so
// that two processes never use one store at once: two daemons on one data
// directory, or the CLI and the daemon rewriting one file. The kernel drops
// a lock when its process dies, so a crash leaves nothing to clean up.
//
// It must not be used for anything but mutual exclusion between processes
// (and between separate opens within one process); it holds one open file
// per lock and nothing else.
package dirlock

import "errors"

// ErrLocked means another process (or another open file) holds the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes the lock on the file at path (created if missing) or
// fails at once with ErrLocked when it is held. unlock releases it.
func TryLock(path string) (unlock func() error, err error) { return lock(path, false) }

// Lock takes the lock on the file at path, waiting while another holds it.
func Lock(path string) (unlock func() error, err error) { return lock(path, true) }
