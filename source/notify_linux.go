//go:build linux

package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	dirMask  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE
	fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
)

// notifier wakes a tail through inotify: one watch on the directory (for the
// file at the path appearing, being replaced or written) and one on the open
// file itself (for writes to it after it was renamed away). It only signals;
// the tail finds out what changed by looking at the files.
type notifier struct {
	f      *os.File // the inotify descriptor, pollable so Close ends the read
	dir    string
	base   string
	dirWd  atomic.Int32 // -1 while the directory is not watched
	fileWd atomic.Int32 // -1 while no file is watched
	wake   chan<- struct{}
	wg     sync.WaitGroup
}

func newNotifier(path string, wake chan<- struct{}) (*notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	n := &notifier{
		f:    os.NewFile(uintptr(fd), "inotify"),
		dir:  filepath.Dir(path),
		base: filepath.Base(path),
		wake: wake,
	}
	n.dirWd.Store(-1)
	n.fileWd.Store(-1)
	n.wg.Add(1)
	go n.run()
	return n, nil
}

// watchDir adds the directory watch if it is missing (the directory may not
// exist yet, or may have been removed and recreated). It reports whether the
// directory is watched.
func (n *notifier) watchDir() bool {
	if n.dirWd.Load() >= 0 {
		return true
	}
	wd, err := n.addWatch(n.dir, dirMask|unix.IN_ONLYDIR)
	if err != nil {
		return false
	}
	n.dirWd.Store(int32(wd))
	return true
}

// watchFile replaces the file watch with one on f (nil: none). It watches the
// open file through /proc so that it cannot catch a different file that
// replaced the path meanwhile; without /proc it falls back to path, which the
// tail's periodic re-check covers.
func (n *notifier) watchFile(f *os.File, path string) {
	if old := n.fileWd.Swap(-1); old >= 0 {
		n.control(func(fd int) { _, _ = unix.InotifyRmWatch(fd, uint32(old)) })
	}
	if f == nil {
		return
	}
	wd, err := n.addWatch("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), fileMask)
	if err != nil {
		wd, err = n.addWatch(path, fileMask)
	}
	if err == nil {
		n.fileWd.Store(int32(wd))
	}
}

func (n *notifier) addWatch(path string, mask uint32) (wd int, err error) {
	err = unix.EBADF
	n.control(func(fd int) { wd, err = unix.InotifyAddWatch(fd, path, mask) })
	return wd, err
}

// control runs fn with the inotify descriptor. It goes through SyscallConn
// because (*os.File).Fd would put the descriptor into blocking mode, and then
// closing it could no longer end the pending read.
func (n *notifier) control(fn func(fd int)) {
	rc, err := n.f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// close stops the notifier and waits for its goroutine to end.
func (n *notifier) close() {
	_ = n.f.Close()
	n.wg.Wait()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run reads events until the descriptor is closed.
func (n *notifier) run() {
	defer n.wg.Done()
	buf := make([]byte, 16<<10)
	for {
		k, err := n.f.Read(buf)
		if err != nil {
			return
		}
		if n.relevant(buf[:k]) {
			n.signal()
		}
	}
}

// relevant parses a batch of events and reports whether any concerns the
// tailed path or the open file.
func (n *notifier) relevant(b []byte) bool {
	hit := false
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		if nameLen < 0 || nameLen > len(b)-unix.SizeofInotifyEvent {
			return true // malformed: let the tail look for itself
		}
		name := b[unix.SizeofInotifyEvent : unix.SizeofInotifyEvent+nameLen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[unix.SizeofInotifyEvent+nameLen:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			hit = true
		case wd == n.fileWd.Load():
			if mask&unix.IN_IGNORED != 0 {
				n.fileWd.CompareAndSwap(wd, -1)
			}
			hit = true
		case wd == n.dirWd.Load():
			if mask&unix.IN_IGNORED != 0 {
				n.dirWd.CompareAndSwap(wd, -1)
				hit = true
			} else if string(name) == n.base {
				hit = true
			}
		}
	}
	return hit
}
