package syslog

import (
	"encoding/binary"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobSize holds the control message with the kernel's drop counter.
const oobSize = 64

// msgTrunc is the flag of a datagram cut short by the read buffer.
const msgTrunc = unix.MSG_TRUNC

// setReadBuffer asks for a receive buffer of want bytes, forcing it past
// net.core.rmem_max if the process may (CAP_NET_ADMIN), and returns what
// the kernel granted in the unit asked for (Linux reports twice the usable
// size, for its bookkeeping).
func setReadBuffer(c *net.UDPConn, want int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var granted int
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, want); serr != nil {
			return
		}
		got, gerr := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF)
		if gerr != nil {
			return
		}
		granted = got / 2
		if granted >= want {
			return
		}
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want) == nil {
			if got, gerr := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF); gerr == nil {
				granted = got / 2
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return granted, serr
}

// enableDropCount asks the kernel to attach its count of dropped datagrams
// to each datagram received after the first drop (SO_RXQ_OVFL).
func enableDropCount(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// parseDropCount finds the SO_RXQ_OVFL counter in a datagram's control
// messages without allocating.
func parseDropCount(oob []byte) (int64, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			return int64(binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):])), true
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			return 0, false
		}
		oob = oob[next:]
	}
	return 0, false
}
