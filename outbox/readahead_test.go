package outbox

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
)

// TestRangeReadsAhead: Range, which reads records through a window of a
// segment, returns what Get returns for every record: records of many
// sizes, one larger than the window, across segments; a record damaged on
// disk after it was appended is skipped and logged, its neighbours served.
func TestRangeReadsAhead(t *testing.T) {
	dir := t.TempDir()
	log, lb := newLog()
	o := mustOpen(t, dir, Options{SegmentBytes: 300 << 10, NoSync: true, Logger: log})
	const n = 3000
	data := func(seq uint64) []byte {
		size := int(seq * 7919 % 900)
		if seq == 1234 {
			size = readAheadSize + 100 // larger than the window
		}
		return bytes.Repeat([]byte{byte(seq)}, size+1)
	}
	for seq := uint64(1); seq <= n; seq++ {
		if err := o.Append(seq, recTime(seq), data(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if len(segFiles(t, dir)) < 3 {
		t.Fatalf("%d segments, want several", len(segFiles(t, dir)))
	}
	check := func(skip uint64) {
		t.Helper()
		next := uint64(1)
		err := o.Range(1, math.MaxUint64, math.MaxInt, func(seq uint64, d []byte) bool {
			if next == skip {
				next++
			}
			if seq != next {
				t.Fatalf("seq %d, want %d", seq, next)
			}
			if !bytes.Equal(d, data(seq)) {
				t.Fatalf("seq %d: %d bytes, not what was appended", seq, len(d))
			}
			next++
			return true
		})
		if err != nil || next != n+1 {
			t.Fatalf("Range ended at %d of %d: %v", next-1, n, err)
		}
	}
	check(0)

	// Damage record 2000 in its segment (after the header, in the data).
	o.mu.RLock()
	var path string
	var off int64
	for _, s := range o.segs {
		if l, ok := s.lookup(2000); ok {
			path, off = s.path, int64(l.off)+recHeaderSize
		}
	}
	o.mu.RUnlock()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	check(2000)
	if !strings.Contains(lb.String(), "cannot be read back") {
		t.Error("the damaged record was not logged")
	}
}
