//go:build !unix

package fabric

// diskFree is unknown where statfs is not available.
func diskFree(string) (int64, bool) { return 0, false }
