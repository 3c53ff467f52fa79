//go:build !unix

package outbox

// lockDir is a no-op where flock is not available.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

// syncDir is a no-op where directories cannot be opened for syncing.
func syncDir(string) error { return nil }
