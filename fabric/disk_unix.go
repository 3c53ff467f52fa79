//go:build unix

package fabric

import (
	"os"
	"syscall"
)

// diskFree returns the bytes this process can still write on the file
// system holding dir (root may use the blocks reserved for it).
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	blocks := st.Bavail
	if os.Geteuid() == 0 {
		blocks = st.Bfree
	}
	return int64(blocks) * int64(st.Bsize), true
}
