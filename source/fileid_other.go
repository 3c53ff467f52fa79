//go:build !unix

package source

import "os"

// fileIdentity returns zeros where files have no inode numbers: the tail
// then tells files apart by size and first line only.
func fileIdentity(os.FileInfo) (dev, ino uint64) { return 0, 0 }
