package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phalanx"
	"phalanx/identity"
)

func TestSnapshotWireRoundTrip(t *testing.T) {
	o := snapshotOffer{pos: 12345, size: 7 << 20, charter: "ab12cd"}
	got, ok := decodeSnapshotOffer(encodeSnapshotOffer(o))
	if !ok || got != o {
		t.Fatalf("offer: %+v %v, want %+v", got, ok, o)
	}
	if _, ok := decodeSnapshotOffer(nil); ok {
		t.Fatal("an empty answer decoded as an offer")
	}
	op, pos, off, ok := decodeSnapshotRequest(encodeSnapshotRequest(snapOpChunk, 9, peerSnapshotChunk*3))
	if !ok || op != snapOpChunk || pos != 9 || off != peerSnapshotChunk*3 {
		t.Fatalf("chunk request: op %d pos %d off %d ok %v", op, pos, off, ok)
	}
	if op, _, _, ok := decodeSnapshotRequest(encodeSnapshotRequest(snapOpOffer, 0, 0)); !ok || op != snapOpOffer {
		t.Fatalf("offer request: op %d ok %v", op, ok)
	}
	for _, bad := range [][]byte{nil, {2}, {snapOpOffer, 0}, encodeSnapshotRequest(snapOpChunk, 0, 0)} {
		if _, _, _, ok := decodeSnapshotRequest(bad); ok {
			t.Fatalf("request %x accepted", bad)
		}
	}
	data, gone, ok := decodeSnapshotChunk(append([]byte{chunkOK}, "abc"...))
	if !ok || gone || string(data) != "abc" {
		t.Fatalf("chunk: %q %v %v", data, gone, ok)
	}
	if _, gone, ok := decodeSnapshotChunk([]byte{chunkGone}); !ok || !gone {
		t.Fatal("gone chunk not read as gone")
	}
	for _, bad := range [][]byte{nil, {chunkOK}, {chunkGone, 1}, {7, 1}, make([]byte, 2+peerSnapshotChunk)} {
		if _, _, ok := decodeSnapshotChunk(bad); ok {
			t.Fatalf("chunk of %d bytes accepted", len(bad))
		}
	}
}

func TestSamePositions(t *testing.T) {
	for _, tc := range []struct {
		a, b map[string]uint64
		want bool
	}{
		{map[string]uint64{"x": 3}, map[string]uint64{"x": 3, "y": 0}, true},
		{map[string]uint64{"x": 3}, map[string]uint64{"x": 4}, false},
		{map[string]uint64{"x": 3, "y": 1}, map[string]uint64{"x": 3}, false},
		{nil, map[string]uint64{}, true},
	} {
		if got := samePositions(tc.a, tc.b); got != tc.want {
			t.Errorf("samePositions(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

func TestStreamEntries(t *testing.T) {
	in := []entry{
		{What: "alert", Member: "m"},
		{What: "refused", Member: "m"},
		{What: "refused", Member: "o", ReportID: "r1"},
		{What: "decision", Origin: string(phalanx.OriginSelf), Member: "m"},
		{What: "decision", Origin: string(phalanx.OriginAlliance), Member: "m"},
		{What: "enforced", Member: "m"},
		{What: "enforced", Member: "o"},
		{What: "report", Member: "m", ReportID: "r2"},
	}
	got := streamEntries(in, "m")
	var what []string
	for _, e := range got {
		what = append(what, e.What+":"+e.Member)
	}
	if s, want := strings.Join(what, " "), "refused:o decision:m enforced:o report:m"; s != want {
		t.Fatalf("kept %q, want %q", s, want)
	}
}

func FuzzDecodeSnapshotRequest(f *testing.F) {
	f.Add([]byte{snapOpOffer})
	f.Add(encodeSnapshotRequest(snapOpChunk, 7, peerSnapshotChunk))
	f.Add([]byte{snapOpChunk, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, raw []byte) {
		op, pos, off, ok := decodeSnapshotRequest(raw)
		if !ok {
			return
		}
		switch op {
		case snapOpOffer:
			if len(raw) != 1 {
				t.Fatalf("an offer request of %d bytes", len(raw))
			}
		case snapOpChunk:
			if pos == 0 || off >= peerSnapshotMax || !bytes.Equal(encodeSnapshotRequest(op, pos, off), raw) {
				t.Fatalf("chunk request %x: pos %d off %d", raw, pos, off)
			}
		default:
			t.Fatalf("op %d", op)
		}
	})
}

func FuzzDecodeSnapshotAnswers(f *testing.F) {
	f.Add(encodeSnapshotOffer(snapshotOffer{pos: 1, size: 100, charter: "h"}))
	f.Add([]byte{chunkOK, 1, 2, 3})
	f.Add([]byte{chunkGone})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 255})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if o, ok := decodeSnapshotOffer(raw); ok {
			if o.pos == 0 || o.size == 0 || o.size > peerSnapshotMax || o.charter == "" || !bytes.Equal(encodeSnapshotOffer(o), raw) {
				t.Fatalf("offer %x read as %+v", raw, o)
			}
		}
		if data, gone, ok := decodeSnapshotChunk(raw); ok {
			if gone && data != nil || !gone && (len(data) == 0 || len(data) > peerSnapshotChunk) {
				t.Fatalf("chunk %x: %d bytes, gone %v", raw, len(data), gone)
			}
		}
	})
}

// TestPeerSnapshotServeAndVerify: a member's snapshot file, served in
// chunks, comes back byte for byte; read as another member's snapshot it
// loads only when signed by that member's key under a charter this member
// knows.
func TestPeerSnapshotServeAndVerify(t *testing.T) {
	a, d, _, good := writtenSnapshot(t)

	// Served: an offer, then chunks by offset.
	o, ok := decodeSnapshotOffer(d.serveSnapshot(encodeSnapshotRequest(snapOpOffer, 0, 0)))
	if !ok || o.pos != d.snap.pos.Load() || o.size != uint64(len(good)) || o.charter != d.charter().hash {
		t.Fatalf("offer %+v (ok %v), want position %d, %d bytes", o, ok, d.snap.pos.Load(), len(good))
	}
	var got []byte
	for off := uint64(0); off < o.size; {
		data, gone, ok := decodeSnapshotChunk(d.serveSnapshot(encodeSnapshotRequest(snapOpChunk, o.pos, off)))
		if !ok || gone {
			t.Fatalf("chunk at %d: ok %v, gone %v", off, ok, gone)
		}
		got = append(got, data...)
		off += uint64(len(data))
	}
	if !bytes.Equal(got, good) {
		t.Fatalf("served %d bytes, not the file's %d", len(got), len(good))
	}
	for _, req := range [][]byte{encodeSnapshotRequest(snapOpChunk, o.pos+1, 0), encodeSnapshotRequest(snapOpChunk, o.pos, o.size)} {
		if _, gone, ok := decodeSnapshotChunk(d.serveSnapshot(req)); !ok || !gone {
			t.Fatalf("request %x: ok %v, gone %v; want gone", req, ok, gone)
		}
	}

	// Read as member m0's snapshot.
	m0 := a.others[0]
	stranger, _ := identity.Generate()
	src := snapshotSource{member: m0.ID, pub: m0.Public, charter: d.chartersUpTo(d.charter()), peer: true}
	asM0 := func(h *snapshotHeader) { h.member = m0.ID }
	for _, c := range []struct {
		name, reason string
		data         []byte
	}{
		{"this member's own", "bad signature", good},
		{"signed by a key outside the charter", "bad signature", resign(t, good, stranger, asM0)},
		{"flipped byte", "bad signature", func() []byte { b := resign(t, good, m0, asM0); b[len(b)/2] ^= 0x40; return b }()},
		{"unknown charter", "made under charter", resign(t, good, m0, func(h *snapshotHeader) { asM0(h); h.charter = strings.Repeat("ab", 32) })},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, arb := d.table.Len(), d.arb
			if _, _, err := d.readSnapshot(t.Context(), writeTemp(t, c.data), src); err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err %v, want one saying %q", err, c.reason)
			}
			if d.table.Len() != before || d.arb != arb {
				t.Fatal("a refused snapshot changed the member's state")
			}
		})
	}
	if _, _, err := d.readSnapshot(t.Context(), writeTemp(t, resign(t, good, m0, asM0)), src); err != nil {
		t.Fatalf("m0's snapshot: %v", err)
	}
}

func writeTemp(t *testing.T, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
