package nft

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// decoded is what a test reads back from an encoded batch.
type decoded struct {
	typ   uint16
	flags uint16
	seq   uint32
	set   string
	elems []kelem
}

// decodeBatch walks an encoded batch, checking every length field on the
// way: a wrapped 16-bit attribute length (the silent truncation) shows as a
// mismatch here.
func decodeBatch(t *testing.T, buf []byte) []decoded {
	t.Helper()
	var out []decoded
	total := 0
	for m := range messages(buf) {
		total += unix.NLMSG_HDRLEN + len(m.data)
		d := decoded{typ: m.typ, flags: m.flags, seq: m.seq}
		if m.typ == msgNewSetElem || m.typ == msgDelSetElem {
			if len(m.data) < 4 {
				t.Fatalf("message %d: no nfgenmsg", len(out))
			}
			attrBytes := 0
			for a := range attrs(m.data[4:]) {
				attrBytes += align4(4 + len(a.data))
				switch a.typ {
				case unix.NFTA_SET_ELEM_LIST_SET:
					d.set = string(a.data[:len(a.data)-1])
				case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
					inner := 0
					for le := range attrs(a.data) {
						inner += align4(4 + len(le.data))
					}
					if inner != len(a.data) {
						t.Fatalf("message %d: elements attribute holds %d bytes of elements in %d bytes", len(out), inner, len(a.data))
					}
				}
			}
			if attrBytes != len(m.data)-4 {
				t.Fatalf("message %d: attributes cover %d of %d bytes", len(out), attrBytes, len(m.data)-4)
			}
			parseElems(m.data, func(k kelem) { d.elems = append(d.elems, k) })
		}
		out = append(out, d)
	}
	if total != len(buf) {
		t.Fatalf("messages cover %d of %d bytes", total, len(buf))
	}
	return out
}

func TestBatchEncoding(t *testing.T) {
	const n = 2500
	var exact, ranges, dels []elem
	for i := range n {
		a4 := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		exact = append(exact, elem{key: a4, timeout: time.Duration(i+1) * time.Second})
		var a16 [16]byte
		a16[0], a16[1], a16[14], a16[15] = 0xfd, 0, byte(i>>8), byte(i)
		first := netip.AddrFrom16(a16)
		// IPv6 ranges with timeouts are the biggest elements: 2,500 of them
		// need about 190 KiB, three times what one attribute can hold.
		ranges = append(ranges, elem{key: first, end: first.Next(), timeout: time.Hour})
		dels = append(dels, elem{key: a4})
	}
	b := newBatch("phalanx")
	b.flush(setBan4)
	b.add(setBan4, exact)
	b.del(setBan4, dels)
	b.add(setBan6R, ranges)
	b.add(setBan6R, []elem{{key: netip.MustParseAddr("ffff::"), end: netip.Addr{}, timeout: time.Minute}}) // runs to the top
	buf := b.bytes(100)
	if b.err != nil {
		t.Fatal(b.err)
	}
	msgs := decodeBatch(t, buf)

	if first, last := msgs[0], msgs[len(msgs)-1]; first.typ != unix.NFNL_MSG_BATCH_BEGIN || last.typ != unix.NFNL_MSG_BATCH_END {
		t.Fatalf("batch framed by %d..%d", first.typ, last.typ)
	}
	var gotExact, gotDel, gotRanges []kelem
	for i, m := range msgs {
		if m.seq != 100+uint32(i) {
			t.Errorf("message %d has seq %d, want %d", i, m.seq, 100+i)
		}
		wantAck := i == len(msgs)-2
		if (m.flags&unix.NLM_F_ACK != 0) != wantAck {
			t.Errorf("message %d: ack flag %v, want %v (only the last message asks)", i, m.flags&unix.NLM_F_ACK != 0, wantAck)
		}
		if i == 0 || i == len(msgs)-1 {
			continue
		}
		starts := 0
		for _, e := range m.elems {
			if !e.end {
				starts++
			}
		}
		if starts > maxElemsPerMsg {
			t.Errorf("message %d holds %d elements, more than %d", i, starts, maxElemsPerMsg)
		}
		switch {
		case m.typ == msgNewSetElem && m.set == setBan4:
			gotExact = append(gotExact, m.elems...)
		case m.typ == msgDelSetElem && m.set == setBan4 && i == 1:
			if len(m.elems) != 0 {
				t.Errorf("flush message carries %d elements", len(m.elems))
			}
		case m.typ == msgDelSetElem && m.set == setBan4:
			gotDel = append(gotDel, m.elems...)
		case m.typ == msgNewSetElem && m.set == setBan6R:
			gotRanges = append(gotRanges, m.elems...)
			// a start and its end never straddle two messages
			if len(m.elems) > 0 && m.elems[0].end {
				t.Errorf("message %d starts with an interval end", i)
			}
		default:
			t.Errorf("unexpected message %d: type %#x set %q", i, m.typ, m.set)
		}
	}
	if len(gotExact) != n || len(gotDel) != n {
		t.Fatalf("read back %d adds and %d deletes, want %d each", len(gotExact), len(gotDel), n)
	}
	for i, e := range gotExact {
		if a, _ := netip.AddrFromSlice(e.key); a != exact[i].key || e.timeout != exact[i].timeout || e.end {
			t.Fatalf("element %d read back as %v %v, want %v %v", i, a, e.timeout, exact[i].key, exact[i].timeout)
		}
	}
	for i, e := range gotDel {
		if a, _ := netip.AddrFromSlice(e.key); a != dels[i].key || e.timeout != 0 {
			t.Fatalf("delete %d read back as %v timeout %v", i, a, e.timeout)
		}
	}
	if len(gotRanges) != 2*n+1 {
		t.Fatalf("read back %d range elements, want %d", len(gotRanges), 2*n+1)
	}
	for i := range n {
		s, e := gotRanges[2*i], gotRanges[2*i+1]
		sa, _ := netip.AddrFromSlice(s.key)
		ea, _ := netip.AddrFromSlice(e.key)
		if s.end || !e.end || sa != ranges[i].key || ea != ranges[i].end || s.timeout != time.Hour || e.timeout != 0 {
			t.Fatalf("range %d read back as %v(end %v, %v)..%v(end %v, %v)", i, sa, s.end, s.timeout, ea, e.end, e.timeout)
		}
	}
	if top := gotRanges[2*n]; top.end || len(top.key) != 16 {
		t.Errorf("range to the top read back as %+v", top)
	}
	if b.elems != 3*n+1 {
		t.Errorf("batch counted %d elements, want %d", b.elems, 3*n+1)
	}
}

func TestEmptyBatch(t *testing.T) {
	b := newBatch("phalanx")
	b.add(setBan4, nil)
	b.del(setBan4, nil)
	if !b.empty() {
		t.Error("a batch with no elements and no flush is not empty")
	}
	b.flush(setBan4)
	if b.empty() {
		t.Error("a batch with a flush is empty")
	}
}

// errorMsg builds an NLMSG_ERROR message as the kernel sends it with
// NETLINK_CAP_ACK and NETLINK_EXT_ACK.
func errorMsg(seq uint32, errno syscall.Errno, text string) []byte {
	var body []byte
	body = binary.NativeEndian.AppendUint32(body, uint32(-int32(errno)))
	body = appendMsgHeader(body, msgNewSetElem, unix.NLM_F_REQUEST, seq)
	if text != "" {
		body = appendAttr(body, unix.NLMSGERR_ATTR_MSG, cstring(text))
	}
	flags := uint16(unix.NLM_F_CAPPED)
	if text != "" {
		flags |= unix.NLM_F_ACK_TLVS
	}
	msg := appendMsgHeader(nil, unix.NLMSG_ERROR, flags, seq)
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

func TestParseError(t *testing.T) {
	buf := append(errorMsg(7, unix.EEXIST, "overlapping interval"), errorMsg(8, 0, "")...)
	var got []string
	for m := range messages(buf) {
		errno, text := parseError(m)
		got = append(got, errno.Error()+"|"+text)
	}
	if len(got) != 2 || got[0] != "file exists|overlapping interval" || got[1] != "errno 0|" {
		t.Errorf("parsed %q", got)
	}
	e := &kernelError{errno: unix.EEXIST, what: "add 3 elements to set ban4r (first 10.0.0.0)", msg: "overlapping interval"}
	if !errors.Is(e, unix.EEXIST) || e.Error() != "add 3 elements to set ban4r (first 10.0.0.0): file exists (overlapping interval)" {
		t.Errorf("kernelError = %q", e.Error())
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unix.EPERM, "run phalanx as root or with CAP_NET_ADMIN, or pass --enforce none"},
		{errors.New("receiveAckAware: netlink receive: operation not permitted"), "run phalanx as root or with CAP_NET_ADMIN"},
		{unix.EPROTONOSUPPORT, "load the nf_tables module"},
		{errors.New("something else"), "pass --enforce none"},
	} {
		got := explain(tc.err).Error()
		if !strings.Contains(got, tc.want) {
			t.Errorf("explain(%v) = %q, want it to say %q", tc.err, got, tc.want)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the netlink decoders: they must never
// panic or read out of bounds.
func FuzzParse(f *testing.F) {
	b := newBatch("phalanx")
	b.add(setBan4R, []elem{{key: netip.MustParseAddr("10.0.0.0"), end: netip.MustParseAddr("10.0.1.0"), timeout: time.Second}})
	f.Add(b.bytes(1))
	f.Add(errorMsg(3, unix.ENOENT, "no such element"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for m := range messages(data) {
			parseError(m)
			parseElems(m.data, func(kelem) {})
		}
		for range attrs(data) {
		}
	})
}
