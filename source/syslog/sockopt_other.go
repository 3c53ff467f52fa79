//go:build !linux

package syslog

import (
	"errors"
	"net"
)

const oobSize = 0

// msgTrunc is unknown here; the read buffer is larger than any datagram.
const msgTrunc = 0

func setReadBuffer(c *net.UDPConn, want int) (int, error) {
	return 0, c.SetReadBuffer(want) // 0: the kernel does not say what it granted
}

func enableDropCount(*net.UDPConn) error {
	return errors.New("kernel drop counts are available on Linux only")
}

func parseDropCount([]byte) (int64, bool) { return 0, false }
