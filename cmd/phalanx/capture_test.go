package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// flowKey names one direction of a TCP connection seen on the bridge.
type flowKey struct {
	src, dst netip.AddrPort
}

// bridgeCapture records every TCP segment the test LAN's bridge forwards:
// an AF_PACKET socket in the hub namespace, which sees each frame as it
// leaves the bridge port towards its receiver (PACKET_OUTGOING: once per
// frame, not again as it entered the bridge). It keeps each flow's payload
// in arrival order and counts payload bytes per server port.
type bridgeCapture struct {
	fd   int
	stop atomic.Bool
	done chan struct{}

	mu     sync.Mutex
	flows  map[flowKey]*bytes.Buffer
	byPort map[uint16]int // TCP payload bytes to or from the port
	frames int
	err    error
}

// captureBridge starts capturing on every port of l's bridge until the
// returned capture's close is called (or the test ends).
func captureBridge(t *testing.T, l *lan) *bridgeCapture {
	t.Helper()
	c := &bridgeCapture{done: make(chan struct{}), flows: map[flowKey]*bytes.Buffer{}, byPort: map[uint16]int{}}
	proto := int(htons(unix.ETH_P_ALL))
	err := l.hub.Do(func() (err error) {
		// A socket stays in the namespace it was made in: made here, it
		// sees the hub's interfaces (the bridge and its veth ports).
		c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		t.Fatalf("open an AF_PACKET socket in %s: %v", l.hub.Name(), err)
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20); err != nil {
		t.Fatalf("capture socket buffer: %v", err)
	}
	// A read timeout lets the reader see stop.
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("capture socket timeout: %v", err)
	}
	go c.read()
	t.Cleanup(func() { c.close() })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read receives frames until stop.
func (c *bridgeCapture) read() {
	defer close(c.done)
	buf := make([]byte, 256<<10) // veth hands over segments up to 64 KiB (GSO)
	for !c.stop.Load() {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
			continue
		}
		c.frame(buf[:n])
	}
}

// frame records one Ethernet frame's TCP payload, if it carries IPv4 TCP.
func (c *bridgeCapture) frame(b []byte) {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_TCP || ihl < 20 || total > len(ip) || total < ihl+20 {
		return
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	tcp := ip[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return
	}
	sport, dport := binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	payload := tcp[off:]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames++
	if len(payload) == 0 {
		return
	}
	k := flowKey{netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)}
	f := c.flows[k]
	if f == nil {
		f = &bytes.Buffer{}
		c.flows[k] = f
	}
	f.Write(payload)
	c.byPort[sport] += len(payload)
	if dport != sport {
		c.byPort[dport] += len(payload)
	}
}

// close stops the capture and returns the kernel's count of frames it
// dropped for want of buffer room (they were not recorded).
func (c *bridgeCapture) close() (dropped uint32, err error) {
	if c.stop.Swap(true) {
		return 0, nil
	}
	<-c.done
	st, serr := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	unix.Close(c.fd)
	c.mu.Lock()
	err = c.err
	c.mu.Unlock()
	if serr != nil {
		return 0, errors.Join(err, fmt.Errorf("capture statistics: %w", serr))
	}
	return st.Drops, err
}

// find returns, for each needle found in some flow's payload, where: the
// flow and the offset.
func (c *bridgeCapture) find(needles ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, f := range c.flows {
		for _, n := range needles {
			if i := bytes.Index(f.Bytes(), []byte(n)); i >= 0 {
				out = append(out, fmt.Sprintf("%q in %v -> %v at byte %d of %d", n, k.src, k.dst, i, f.Len()))
			}
		}
	}
	slices.Sort(out)
	return out
}

// portBytes returns the payload bytes counted on port.
func (c *bridgeCapture) portBytes(port uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byPort[port]
}

// TestAllianceCapture captures the frames the test LAN's bridge forwards
// while an alliance of three hub members (A, B, C) and a leaf member (L),
// real `phalanx run` processes in network namespaces, forms (joins
// included) and bans an attacker seen by L alone, with a distinctive user
// name and log line: the report goes over L's leaf link and the hub's
// routes, and every member enforces and publishes its record. Neither the
// attacker's address, the user name nor the log line (nor its parts)
// appears in clear text in any TCP flow, while the capture did carry
// fabric traffic on the client, route and leaf ports. A control string
// sent in clear text over the same bridge (to a member's plain TCP
// service) is found, so the search would see clear text if there were
// some.
func TestAllianceCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an alliance of four members in network namespaces and captures its traffic")
	}
	al := newNSAlliance(t, []string{"a", "b", "c", "l"})
	a, b, l := al.members[0], al.members[1], al.members[3]
	capture := captureBridge(t, al.l)
	al.step("capturing on the bridge's ports in %s", al.l.hub.Name())
	al.formWithLeaves("capturefleet", l)

	const (
		attacker = "198.51.100.213" // outside the LAN: it exists only in L's log
		user     = "zorglub_h9"
		host     = "capthost9"
		control  = "CONTROL-cleartext-h9-4b1d"
	)
	ts := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf("%s %s sshd[%d]: Failed password for invalid user %s from %s port %d ssh2", ts, host, 4242+i, user, attacker, 52144+i))
	}
	l.waitTailing(t)
	published := map[*nsMember]int64{}
	for _, m := range al.members {
		st, err := m.status()
		if err != nil {
			t.Fatal(err)
		}
		published[m] = st.Reports["published"]
	}
	appendTo(t, l.log, lines...)
	wrote := time.Now()
	al.bannedBy(attacker, wrote, 60*time.Second, "seen by L alone", al.members...)
	waitUntil(t, 30*time.Second, "every member to list a decision on "+attacker, func() bool {
		for _, m := range al.members {
			if !m.hasDecision(attacker) {
				return false
			}
		}
		return true
	})
	// The reports have crossed: L's alert and every member's record of
	// its enforcement, acknowledged by the stream.
	for _, m := range al.members {
		want := published[m] + 1
		if m == l {
			want++ // the alert too
		}
		waitUntil(t, 30*time.Second, m.name+"'s reports on "+attacker+" to be acknowledged by the stream", func() bool {
			st, err := m.status()
			return err == nil && st.Reports["published"] >= want
		})
	}

	// The control: clear text over the same bridge, from B to A's service.
	if err := b.ns.Do(func() error {
		conn, err := net.DialTimeout("tcp", a.service(), 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte(control))
		return err
	}); err != nil {
		t.Fatalf("send the control string from B to %s: %v", a.service(), err)
	}
	waitUntil(t, 10*time.Second, "the capture to see the control string", func() bool { return len(capture.find(control)) > 0 })

	dropped, err := capture.close()
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	if dropped > 0 {
		t.Fatalf("the kernel dropped %d frames of the capture: what they held was not searched", dropped)
	}
	port, _ := strconv.Atoi(fabricPort)
	fabricPorts := map[string]uint16{"client (joins)": uint16(port), "cluster routes": uint16(port + 1), "leaf links": uint16(port + 2)}
	var seen []string
	for what, p := range fabricPorts {
		n := capture.portBytes(p)
		if n == 0 {
			t.Errorf("the capture saw no payload on port %d (%s): it did not watch the fabric", p, what)
		}
		seen = append(seen, fmt.Sprintf("%s %d: %d bytes", what, p, n))
	}
	slices.Sort(seen)
	al.step("captured %d frames in %d flows; fabric payload on %s", capture.frames, len(capture.flows), strings.Join(seen, ", "))

	needles := []string{attacker, user, host, lines[5], "Failed password", "invalid user", "sshd[42"}
	if found := capture.find(needles...); len(found) > 0 {
		t.Errorf("clear text on the bridge:\n%s", strings.Join(found, "\n"))
	}
	al.step("none of %q in the captured flows", needles)
}
