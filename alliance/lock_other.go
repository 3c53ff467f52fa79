//go:build !unix

package alliance

// lockStore is a no-op where flock is not available: there, the CLI and
// the daemon must not change the invite store at the same time.
func lockStore(string) (func() error, error) { return func() error { return nil }, nil }
