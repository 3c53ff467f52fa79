//go:build unix

package fabric

import (
	"errors"
	"os"
	"syscall"
)

// descriptorsFree returns how many file descriptors the process may still
// open, and its limit; ok is false when that cannot be known (no
// /proc/self/fd).
func descriptorsFree() (free, limit uint64, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, false
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return 0, rl.Cur, true // not even one left to count them with
	}
	if err != nil {
		return 0, rl.Cur, false
	}
	open := uint64(len(ents))
	if open >= rl.Cur {
		return 0, rl.Cur, true
	}
	return rl.Cur - open, rl.Cur, true
}
