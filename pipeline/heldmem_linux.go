//go:build linux

package pipeline

import (
	"syscall"
	"unsafe"
)

// heldRegion is how much address space one mapping of held blocks takes;
// only what is written to is backed by memory.
const heldRegion = 64 << 20

// madvHugepage is Linux's MADV_HUGEPAGE.
const madvHugepage = 14

// heldMem hands out blocks of held events from anonymous mappings outside
// the Go heap, which the kernel may back with huge pages: a replay holds
// every event of its input (a million sshd lines hold 18 MB), and on
// 4 KiB pages the first touch of each page is a fault that costs more than
// the events written to it (measured: two thirds of a replay's faults, a
// tenth of its CPU). A held event holds no pointer, so the garbage
// collector need not see the blocks.
type heldMem struct {
	regions [][]byte
	off     int // bytes handed out of the last region
}

// block returns room for heldChunk events, or nil when the kernel maps
// nothing (the store then takes the block from the Go heap).
func (m *heldMem) block() []held {
	size := heldChunk * int(unsafe.Sizeof(held{}))
	if len(m.regions) == 0 || m.off+size > heldRegion {
		r, err := syscall.Mmap(-1, 0, heldRegion, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err != nil {
			return nil
		}
		// Refused where huge pages are off: 4 KiB pages then, as on the heap.
		_ = syscall.Madvise(r, madvHugepage)
		m.regions, m.off = append(m.regions, r), 0
	}
	r := m.regions[len(m.regions)-1][m.off : m.off+size]
	m.off += size
	return unsafe.Slice((*held)(unsafe.Pointer(unsafe.SliceData(r))), heldChunk)[:0]
}

// free unmaps every region: no block it handed out may be used after.
func (m *heldMem) free() {
	for _, r := range m.regions {
		_ = syscall.Munmap(r)
	}
	m.regions, m.off = nil, 0
}
