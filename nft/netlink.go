package nft

// This file speaks just enough nf_tables netlink to add, delete and list set
// elements, because google/nftables v0.3.0 cannot be trusted with big
// batches: it packs a whole call into one attribute whose 16-bit length
// silently wraps past 64 KiB (2,000 interval prefixes stored 740, with no
// error), asks for an acknowledgement per message, and keeps the default
// socket buffers. Here every message stays under the attribute limit, only
// the last message of a batch asks for an acknowledgement (the kernel reports
// every failed message anyway), and the socket buffers grow with the batch.
// The table, chains, rules and sets themselves are made with google/nftables
// (see ruleset.go).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// maxElemsPerMsg and maxElemBytes bound one NEWSETELEM/DELSETELEM
	// message: about 1,000 elements, and well under the 65,535 bytes an
	// attribute length can describe.
	maxElemsPerMsg = 1000
	maxElemBytes   = 60000

	// recvBuf is the socket receive buffer: acknowledgements and errors of a
	// batch queue there until read.
	recvBuf = 8 << 20

	// replyTimeout bounds the wait for the kernel's answer to a batch. The
	// kernel processes a batch inside the send call, so its answer is
	// normally queued before send returns.
	replyTimeout = 30 * time.Second

	msgNewSetElem = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM
	msgDelSetElem = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELSETELEM
	msgGetSetElem = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM
)

// elem is one set element: an address, or for interval sets a range from key
// to end (exclusive; invalid when the range runs to the last address).
type elem struct {
	key     netip.Addr
	end     netip.Addr
	timeout time.Duration // 0: none
}

// sock is a netlink socket of the netfilter family, opened in the network
// namespace the enforcer works in. It is not safe for concurrent use.
type sock struct {
	fd     int
	seq    uint32
	sndbuf int
	buf    []byte
}

// openSock opens the socket inside the namespace nsfd refers to (0: the
// current one).
func openSock(nsfd int) (*sock, error) {
	fd, err := socketIn(nsfd)
	if err != nil {
		return nil, err
	}
	s := &sock{fd: fd, seq: 1, buf: make([]byte, 128<<10)}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	// Errors come back as the failing message's header only, with the
	// kernel's explanation attached when it has one.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuf)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
		s.sndbuf = v
	}
	return s, nil
}

// socketIn creates the socket on a thread switched into the namespace; the
// socket stays there after the thread switches back.
func socketIn(nsfd int) (int, error) {
	if nsfd == 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return -1, fmt.Errorf("open netlink socket: %w", err)
		}
		return fd, nil
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("open current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter network namespace: %w", err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked, so the runtime discards it.
			if serr == nil {
				unix.Close(fd)
			}
			ch <- result{-1, fmt.Errorf("leave network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		if serr != nil {
			ch <- result{-1, fmt.Errorf("open netlink socket: %w", serr)}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	return r.fd, r.err
}

func (s *sock) close() error {
	if s == nil || s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// msgInfo describes one message of a batch, to name it in errors.
type msgInfo struct {
	op    string // "add", "delete", "flush"
	set   string
	first netip.Addr
	count int
}

// batch is one nf_tables transaction under construction: everything in it
// takes effect at once, or nothing does.
type batch struct {
	table string
	buf   []byte
	msgs  []msgInfo
	last  int // offset of the last message's header, -1 if none
	elems int // elements in the batch, for logs
	err   error

	// the message being filled
	open      bool
	openOff   int // header offset
	listOff   int // offset of the ELEMENTS attribute header
	openCount int
}

func newBatch(table string) *batch { return reuseBatch(table, nil) }

// reuseBatch is newBatch writing into buf's array (a batch's bytes once
// committed).
func reuseBatch(table string, buf []byte) *batch {
	b := &batch{table: table, last: -1, buf: buf[:0]}
	b.buf = appendMsgHeader(b.buf, unix.NFNL_MSG_BATCH_BEGIN, unix.NLM_F_REQUEST, 0)
	b.buf = appendNfgen(b.buf, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	b.fixLen(0)
	return b
}

// empty reports whether the batch holds no message.
func (b *batch) empty() bool { return b.last < 0 && !b.open }

// flush empties a set.
func (b *batch) flush(set string) {
	b.closeMsg()
	b.startMsg(msgDelSetElem, unix.NLM_F_REQUEST, set, false)
	b.msgs = append(b.msgs, msgInfo{op: "flush", set: set})
	b.finishMsg()
}

// add adds elements to a set; an element already there is kept (and on
// kernels that support it, its timeout is set anew).
func (b *batch) add(set string, es []elem) {
	for _, e := range es {
		b.elem(msgNewSetElem, set, e)
	}
	b.closeMsg()
}

// del deletes elements; each must be in the set (or be added earlier in the
// same batch), or the whole batch fails.
func (b *batch) del(set string, es []elem) {
	for _, e := range es {
		b.elem(msgDelSetElem, set, elem{key: e.key, end: e.end})
	}
	b.closeMsg()
}

// elemSize is the encoded size of one element attribute (start or end).
func elemSize(key netip.Addr, flags bool, timeout bool) int {
	n := 4 + 4 + 4 + align4(key.BitLen()/8) // LIST_ELEM{ KEY{ DATA_VALUE } }
	if flags {
		n += 8
	}
	if timeout {
		n += 12
	}
	return n
}

// elem appends one element (and its interval end, kept in the same
// message), starting a new message when the current one is full.
func (b *batch) elem(typ uint16, set string, e elem) {
	size := elemSize(e.key, false, e.timeout > 0)
	if e.end.IsValid() {
		size += elemSize(e.end, true, false)
	}
	if b.open {
		if b.openCount >= maxElemsPerMsg || len(b.buf)-b.listOff+size > maxElemBytes ||
			b.msgs[len(b.msgs)-1].set != set || b.msgType() != typ {
			b.closeMsg()
		}
	}
	if !b.open {
		flags := uint16(unix.NLM_F_REQUEST)
		op := "delete"
		if typ == msgNewSetElem {
			flags |= unix.NLM_F_CREATE
			op = "add"
		}
		b.startMsg(typ, flags, set, true)
		b.msgs = append(b.msgs, msgInfo{op: op, set: set, first: e.key})
	}
	b.appendElem(e.key, 0, e.timeout)
	if e.end.IsValid() {
		b.appendElem(e.end, unix.NFT_SET_ELEM_INTERVAL_END, 0)
	}
	b.openCount++
	b.msgs[len(b.msgs)-1].count++
	b.elems++
}

func (b *batch) msgType() uint16 {
	return binary.NativeEndian.Uint16(b.buf[b.openOff+4:])
}

func (b *batch) appendElem(key netip.Addr, flags uint32, timeout time.Duration) {
	start := len(b.buf)
	b.buf = appendAttrHeader(b.buf, unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM)
	if flags != 0 {
		var f [4]byte
		binary.BigEndian.PutUint32(f[:], flags)
		b.buf = appendAttr(b.buf, unix.NFTA_SET_ELEM_FLAGS, f[:])
	}
	k := len(b.buf)
	b.buf = appendAttrHeader(b.buf, unix.NLA_F_NESTED|unix.NFTA_SET_ELEM_KEY)
	a := key.As16() // on the stack, where AsSlice allocates
	if key.Is4() {
		b.buf = appendAttr(b.buf, unix.NFTA_DATA_VALUE, a[12:])
	} else {
		b.buf = appendAttr(b.buf, unix.NFTA_DATA_VALUE, a[:])
	}
	b.fixAttr(k)
	if timeout > 0 {
		var ms [8]byte
		binary.BigEndian.PutUint64(ms[:], uint64(timeout.Milliseconds()))
		b.buf = appendAttr(b.buf, unix.NFTA_SET_ELEM_TIMEOUT, ms[:])
	}
	b.fixAttr(start)
}

func (b *batch) startMsg(typ, flags uint16, set string, elems bool) {
	b.openOff = len(b.buf)
	b.buf = appendMsgHeader(b.buf, typ, flags, 0)
	b.buf = appendNfgen(b.buf, unix.NFPROTO_INET, 0)
	b.buf = appendAttr(b.buf, unix.NFTA_SET_ELEM_LIST_TABLE, cstring(b.table))
	b.buf = appendAttr(b.buf, unix.NFTA_SET_ELEM_LIST_SET, cstring(set))
	if elems {
		b.listOff = len(b.buf)
		b.buf = appendAttrHeader(b.buf, unix.NLA_F_NESTED|unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	}
	b.open = true
	b.openCount = 0
}

func (b *batch) closeMsg() {
	if !b.open {
		return
	}
	b.fixAttr(b.listOff)
	b.finishMsg()
}

func (b *batch) finishMsg() {
	b.fixLen(b.openOff)
	b.last = b.openOff
	b.open = false
}

// bytes finishes the batch: the last message asks for an acknowledgement,
// the batch end follows. Sequence numbers start at seq: the batch begin has
// seq, message i has seq+1+i.
func (b *batch) bytes(seq uint32) []byte {
	b.closeMsg()
	out := b.buf
	// Number the messages.
	for off, i := 0, uint32(0); off < len(out); i++ {
		n := int(binary.NativeEndian.Uint32(out[off:]))
		binary.NativeEndian.PutUint32(out[off+8:], seq+i)
		off += align4(n)
	}
	if b.last >= 0 {
		f := binary.NativeEndian.Uint16(out[b.last+6:])
		binary.NativeEndian.PutUint16(out[b.last+6:], f|unix.NLM_F_ACK)
	}
	end := len(out)
	out = appendMsgHeader(out, unix.NFNL_MSG_BATCH_END, unix.NLM_F_REQUEST, seq+uint32(len(b.msgs))+1)
	out = appendNfgen(out, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	binary.NativeEndian.PutUint32(out[end:], uint32(len(out)-end))
	b.buf = out
	return out
}

func (b *batch) fixLen(off int) {
	binary.NativeEndian.PutUint32(b.buf[off:], uint32(len(b.buf)-off))
}

// fixAttr sets the length of the attribute that starts at off. Lengths
// past 65,535 cannot be expressed; the limits above keep them far below.
func (b *batch) fixAttr(off int) {
	n := len(b.buf) - off
	if n > 0xffff && b.err == nil {
		b.err = fmt.Errorf("nftables message attribute of %d bytes exceeds the netlink limit", n)
	}
	binary.NativeEndian.PutUint16(b.buf[off:], uint16(n))
}

func appendMsgHeader(b []byte, typ, flags uint16, seq uint32) []byte {
	b = binary.NativeEndian.AppendUint32(b, 16) // length, fixed later
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	return binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel's
}

func appendNfgen(b []byte, family uint8, resID uint16) []byte {
	b = append(b, family, unix.NFNETLINK_V0)
	return binary.BigEndian.AppendUint16(b, resID)
}

func appendAttrHeader(b []byte, typ uint16) []byte {
	b = binary.NativeEndian.AppendUint16(b, 4)
	return binary.NativeEndian.AppendUint16(b, typ)
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func cstring(s string) []byte { return append([]byte(s), 0) }

func align4(n int) int { return (n + 3) &^ 3 }

// kernelError is an error the kernel reported for one message.
type kernelError struct {
	errno syscall.Errno
	what  string // "add to set ban4 (1000 elements from 10.0.0.1)"
	msg   string // the kernel's extended explanation, if any
}

func (e *kernelError) Error() string {
	s := e.what + ": " + e.errno.Error()
	if e.msg != "" {
		s += " (" + e.msg + ")"
	}
	return s
}

func (e *kernelError) Unwrap() error { return e.errno }

// commit sends the batch and waits for the kernel's verdict. The batch is
// atomic: on error nothing of it took effect.
func (s *sock) commit(b *batch) error {
	if b.empty() {
		return nil
	}
	s.drain()
	seq := s.seq
	msg := b.bytes(seq)
	if b.err != nil {
		return b.err
	}
	s.seq += uint32(len(b.msgs)) + 2
	if err := s.growSendBuf(len(msg)); err != nil {
		return err
	}
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		if errors.Is(err, unix.EMSGSIZE) {
			return fmt.Errorf("send %d-byte nftables batch: %w (the socket send buffer could not be raised: run with CAP_NET_ADMIN)", len(msg), err)
		}
		return fmt.Errorf("send nftables batch: %w", err)
	}
	lastSeq := seq + uint32(len(b.msgs))
	var errs []error
	for done := false; !done; {
		n, err := s.recv(replyTimeout)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read the kernel's answer to an nftables batch: %w", err))...)
		}
		for m := range messages(s.buf[:n]) {
			if m.seq < seq || m.seq > lastSeq+1 {
				continue // left over from an earlier exchange
			}
			if m.typ != unix.NLMSG_ERROR {
				continue
			}
			errno, text := parseError(m)
			if errno != 0 {
				errs = append(errs, &kernelError{errno: errno, what: b.describe(m.seq - seq), msg: text})
			}
			// The answer ends with the last message's acknowledgement, or
			// with an error blamed on the batch itself (refused whole, or
			// failed at commit), after which nothing else may come.
			if m.seq == lastSeq || (m.seq == seq && errno != 0) {
				done = true
			}
		}
	}
	return errors.Join(errs...)
}

// describe names message i of the batch (0 is the batch begin, which the
// kernel blames for errors at commit).
func (b *batch) describe(i uint32) string {
	if i == 0 || int(i) > len(b.msgs) {
		return "commit nftables batch"
	}
	m := b.msgs[i-1]
	switch m.op {
	case "flush":
		return "flush set " + m.set
	case "add":
		return fmt.Sprintf("add %d elements to set %s (first %v)", m.count, m.set, m.first)
	default:
		return fmt.Sprintf("delete %d elements from set %s (first %v)", m.count, m.set, m.first)
	}
}

// growSendBuf makes room for a batch of n bytes: the kernel takes a batch in
// one piece, so it must fit in the send buffer.
func (s *sock) growSendBuf(n int) error {
	want := n + 64<<10
	if want <= s.sndbuf {
		return nil
	}
	// The kernel doubles the value it is given.
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want/2+1); err != nil {
		_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, want/2+1)
	}
	if v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
		s.sndbuf = v
	}
	return nil
}

// drain discards whatever an earlier, failed exchange left in the socket.
func (s *sock) drain() {
	for {
		_, _, err := unix.Recvfrom(s.fd, s.buf, unix.MSG_DONTWAIT)
		if err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.ENOBUFS) {
			return
		}
	}
}

// recv reads one datagram into s.buf, waiting at most timeout.
func (s *sock) recv(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case err == nil && n > len(s.buf):
			return 0, fmt.Errorf("netlink message of %d bytes truncated", n)
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EAGAIN):
			return 0, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, errors.New("no answer from the kernel in time")
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return 0, err
		}
	}
}

// nlmsg is one netlink message inside a datagram.
type nlmsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	data  []byte // after the header
}

// messages walks the netlink messages in a datagram, stopping at the first
// malformed one.
func messages(b []byte) func(yield func(nlmsg) bool) {
	return func(yield func(nlmsg) bool) {
		for len(b) >= unix.NLMSG_HDRLEN {
			n := int(binary.NativeEndian.Uint32(b))
			if n < unix.NLMSG_HDRLEN || n > len(b) {
				return
			}
			m := nlmsg{
				typ:   binary.NativeEndian.Uint16(b[4:]),
				flags: binary.NativeEndian.Uint16(b[6:]),
				seq:   binary.NativeEndian.Uint32(b[8:]),
				data:  b[unix.NLMSG_HDRLEN:n],
			}
			if !yield(m) {
				return
			}
			if align4(n) >= len(b) {
				return
			}
			b = b[align4(n):]
		}
	}
}

// parseError decodes an NLMSG_ERROR message: the errno (0 for an
// acknowledgement) and the kernel's explanation, if it sent one.
func parseError(m nlmsg) (syscall.Errno, string) {
	if len(m.data) < 4 {
		return unix.EBADMSG, "short netlink error message"
	}
	code := int32(binary.NativeEndian.Uint32(m.data))
	if code == 0 {
		return 0, ""
	}
	errno := syscall.Errno(-code)
	if m.flags&unix.NLM_F_ACK_TLVS == 0 || len(m.data) < 4+unix.NLMSG_HDRLEN {
		return errno, ""
	}
	// With NETLINK_CAP_ACK the echoed request is its header only, unless
	// the kernel says it sent it whole.
	skip := 4 + unix.NLMSG_HDRLEN
	if m.flags&unix.NLM_F_CAPPED == 0 {
		skip = 4 + int(binary.NativeEndian.Uint32(m.data[4:]))
	}
	if skip > len(m.data) {
		return errno, ""
	}
	var text string
	for a := range attrs(m.data[align4(skip):]) {
		if a.typ == unix.NLMSGERR_ATTR_MSG {
			text = strings.TrimRight(string(a.data), "\x00")
		}
	}
	return errno, text
}

// attr is one netlink attribute.
type attr struct {
	typ  uint16 // flags masked off
	data []byte
}

// attrs walks the attributes in b, stopping at the first malformed one.
func attrs(b []byte) func(yield func(attr) bool) {
	return func(yield func(attr) bool) {
		for len(b) >= 4 {
			n := int(binary.NativeEndian.Uint16(b))
			if n < 4 || n > len(b) {
				return
			}
			if !yield(attr{typ: binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER), data: b[4:n]}) {
				return
			}
			if align4(n) >= len(b) {
				return
			}
			b = b[align4(n):]
		}
	}
}

// kelem is an element as the kernel lists it.
type kelem struct {
	key     []byte
	end     bool          // an interval end
	timeout time.Duration // as set
	expires time.Duration // left
}

// parseElems decodes the elements of a NEWSETELEM message from a listing
// (the payload after the netlink header).
func parseElems(data []byte, fn func(kelem)) {
	if len(data) < 4 {
		return
	}
	for a := range attrs(data[4:]) {
		if a.typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		for le := range attrs(a.data) {
			if le.typ != unix.NFTA_LIST_ELEM {
				continue
			}
			var e kelem
			for f := range attrs(le.data) {
				switch f.typ {
				case unix.NFTA_SET_ELEM_KEY:
					for v := range attrs(f.data) {
						if v.typ == unix.NFTA_DATA_VALUE {
							e.key = slices.Clone(v.data)
						}
					}
				case unix.NFTA_SET_ELEM_FLAGS:
					if len(f.data) == 4 {
						e.end = binary.BigEndian.Uint32(f.data)&unix.NFT_SET_ELEM_INTERVAL_END != 0
					}
				case unix.NFTA_SET_ELEM_TIMEOUT:
					if len(f.data) == 8 {
						e.timeout = msDuration(binary.BigEndian.Uint64(f.data))
					}
				case unix.NFTA_SET_ELEM_EXPIRATION:
					if len(f.data) == 8 {
						e.expires = msDuration(binary.BigEndian.Uint64(f.data))
					}
				}
			}
			fn(e)
		}
	}
}

func msDuration(ms uint64) time.Duration {
	if ms > uint64(maxTimeout/time.Millisecond) {
		return maxTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// list calls fn for every element of a set, as the kernel lists them
// (expired elements are left out). A listing the kernel reports as
// interrupted by a concurrent change is started again, up to three times.
func (s *sock) list(table, set string, fn func(kelem)) error {
	for attempt := 0; ; attempt++ {
		var got []kelem
		intr, err := s.listOnce(table, set, func(e kelem) { got = append(got, e) })
		if err != nil {
			return err
		}
		if !intr || attempt == 2 {
			for _, e := range got {
				fn(e)
			}
			return nil
		}
	}
}

func (s *sock) listOnce(table, set string, fn func(kelem)) (interrupted bool, err error) {
	s.drain()
	seq := s.seq
	s.seq++
	var b []byte
	b = appendMsgHeader(b, msgGetSetElem, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	b = appendNfgen(b, unix.NFPROTO_INET, 0)
	b = appendAttr(b, unix.NFTA_SET_ELEM_LIST_TABLE, cstring(table))
	b = appendAttr(b, unix.NFTA_SET_ELEM_LIST_SET, cstring(set))
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	if err := unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("list set %s: %w", set, err)
	}
	for {
		n, err := s.recv(replyTimeout)
		if err != nil {
			return false, fmt.Errorf("list set %s: %w", set, err)
		}
		for m := range messages(s.buf[:n]) {
			if m.seq != seq {
				continue
			}
			if m.flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.typ {
			case unix.NLMSG_DONE:
				return interrupted, nil
			case unix.NLMSG_ERROR:
				errno, text := parseError(m)
				if errno == 0 {
					return interrupted, nil
				}
				return false, &kernelError{errno: errno, what: "list set " + set, msg: text}
			case msgNewSetElem:
				parseElems(m.data, fn)
			}
		}
	}
}
