package daemon

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func TestGaps(t *testing.T) {
	g := newGaps()
	t0 := time.Unix(1_800_000_000, 0)
	g.saw("m", 5, t0) // baseline
	g.saw("m", 6, t0)
	g.saw("m", 9, t0.Add(time.Second)) // 7 and 8 missing
	if got := g.low("m"); got != 6 {
		t.Fatalf("low = %d, want 6", got)
	}
	if want, _, _ := g.missing(t0.Add(time.Second)); len(want) != 0 {
		t.Fatalf("a gap younger than the grace is already missing: %v", want)
	}
	want, lost, _ := g.missing(t0.Add(gapGrace + time.Second))
	if lost != 0 || want["m"] != [2]uint64{7, 8} {
		t.Fatalf("missing = %v, lost %d; want m 7..8", want, lost)
	}
	if got := g.unseen("m", 5, 10, 10); !slicesEqual(got, []uint64{7, 8, 10}) {
		t.Fatalf("unseen 5..10 = %v, want [7 8 10]", got)
	}
	g.saw("m", 8, t0)
	g.saw("m", 7, t0) // fills the gap: low runs on over 8 and 9
	if got := g.low("m"); got != 9 {
		t.Fatalf("low after filling = %d, want 9", got)
	}
	if want, _, _ := g.missing(t0.Add(time.Hour)); len(want) != 0 {
		t.Fatalf("nothing is missing, yet %v", want)
	}
	// A gap nobody fills is given up after gapGiveUp.
	g.saw("m", 12, t0)
	_, lost, jumps := g.missing(t0.Add(gapGiveUp + time.Second))
	if lost != 2 || jumps != 0 || g.low("m") != 12 {
		t.Fatalf("gave up %d, %d jumps (low %d), want 2 (low 12)", lost, jumps, g.low("m"))
	}
	// One report numbered 5,000,000 is a jump, not 5 million lost reports.
	t1 := t0.Add(time.Hour)
	g.saw("m", 5_000_000, t1)
	_, lost, jumps = g.missing(t1.Add(gapGiveUp + time.Second))
	if lost != 0 || jumps != 1 || g.low("m") != 5_000_000 {
		t.Fatalf("a sequence jump: lost %d, jumps %d, low %d; want 0, 1, 5000000", lost, jumps, g.low("m"))
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzSplitReports(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		parts := splitReports(raw)
		n := 0
		var again []byte
		for _, p := range parts {
			n += 4 + len(p)
			again = binary.BigEndian.AppendUint32(again, uint32(len(p)))
			again = append(again, p...)
		}
		if n > len(raw) || !bytes.Equal(again, raw[:n]) {
			t.Fatalf("parts do not re-encode to a prefix of the input")
		}
	})
}

func FuzzDecodeSeqs(f *testing.F) {
	f.Add(make([]byte, 36))
	f.Add(append(make([]byte, 36), 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 7))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _, lows, ok := decodeSeqs(raw)
		if ok && len(lows) > len(raw)/10 {
			t.Fatalf("%d members from %d bytes", len(lows), len(raw))
		}
		for member := range lows {
			if member == "" || len(member) > 255 {
				t.Fatalf("member name of %d bytes", len(member))
			}
		}
	})
}
