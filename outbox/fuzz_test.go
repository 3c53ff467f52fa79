package outbox

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var fuzzSalt = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}

// fuzzSegment returns a segment file body (no header) of records 1..n,
// checksummed with fuzzSalt.
func fuzzSegment(n uint64) []byte {
	seed, _ := decodeHeader(encodeHeader(fuzzSalt))
	var b []byte
	for seq := uint64(1); seq <= n; seq++ {
		b = appendRecord(b, seed, seq, recTime(seq).UnixNano(), payload(seq))
	}
	return b
}

// goodRecords is the oracle: every record, at any offset of file, whose
// CRC-32C (seeded with the salt in the header) is good. It shares no code
// with the package.
func goodRecords(file []byte) map[uint64][][]byte {
	good := map[uint64][][]byte{}
	if len(file) < 20 {
		return good
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	seed := crc32.Checksum(file[8:16], tab)
	for p := 20; p+24 <= len(file); p++ {
		n := int(binary.BigEndian.Uint32(file[p:]))
		if n > len(file)-p-24 {
			continue
		}
		rec := file[p : p+24+n]
		c := crc32.Update(crc32.Update(seed, tab, rec[:4]), tab, rec[8:])
		if c == binary.BigEndian.Uint32(rec[4:8]) {
			seq := binary.BigEndian.Uint64(rec[8:16])
			good[seq] = append(good[seq], rec[24:])
		}
	}
	return good
}

// FuzzOpen writes fuzzed bytes as a segment (after a valid header when
// withHeader) and opens it. Open must not fail or panic, every record it
// returns must be one with a good checksum in the file, and a second Open
// must find the same records and take the next one.
func FuzzOpen(f *testing.F) {
	body := fuzzSegment(5)
	f.Add(body, true)
	f.Add(body[:len(body)-7], true)
	flipped := bytes.Clone(body)
	flipped[len(fuzzSegment(2))+30] ^= 4
	f.Add(flipped, true)
	f.Add(append(make([]byte, 40), body...), true)
	f.Add([]byte{}, true)
	f.Add(append(encodeHeader(fuzzSalt), body...), false)
	f.Add([]byte("phxobx01 not a header"), false)
	f.Fuzz(func(t *testing.T, data []byte, withHeader bool) {
		file := data
		if withHeader {
			file = append(encodeHeader(fuzzSalt), data...)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), file, 0o600); err != nil {
			t.Fatal(err)
		}
		good := goodRecords(file)
		records := func(o *Outbox) map[uint64][]byte {
			got := map[uint64][]byte{}
			err := o.Range(0, math.MaxUint64, math.MaxInt, func(seq uint64, d []byte) bool {
				found := false
				for _, g := range good[seq] {
					found = found || bytes.Equal(g, d)
				}
				if !found {
					t.Fatalf("seq %d: returned %q, not a record with a good checksum", seq, d)
				}
				if seq > o.Last() {
					t.Fatalf("seq %d is above Last %d", seq, o.Last())
				}
				got[seq] = d
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		opt := Options{NoSync: true, SegmentBytes: minSegmentBytes}
		o, err := Open(dir, opt)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		first := records(o)
		last := o.Last()
		o.Close()
		o, err = Open(dir, opt)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer o.Close()
		second := records(o)
		if len(first) != len(second) || o.Last() != last {
			t.Fatalf("second Open found %d records up to %d, the first %d up to %d", len(second), o.Last(), len(first), last)
		}
		for seq, d := range first {
			if !bytes.Equal(second[seq], d) {
				t.Fatalf("seq %d differs between opens", seq)
			}
		}
		if last == math.MaxUint64 {
			return
		}
		if err := o.Append(last+1, recTime(1), []byte("next")); err != nil {
			t.Fatalf("Append(Last()+1): %v", err)
		}
		if d, ok := o.Get(last + 1); !ok || string(d) != "next" {
			t.Fatalf("Get(%d) after Append: %q, %v", last+1, d, ok)
		}
	})
}

// FuzzScan runs the segment reader on fuzzed bytes, faster than FuzzOpen
// can: it must not panic, and what it returns must be records with good
// checksums, in order, not overlapping, with the damaged spans between.
func FuzzScan(f *testing.F) {
	body := fuzzSegment(6)
	f.Add(body, uint64(0), uint64(1))
	f.Add(body[:len(body)-3], uint64(0), uint64(1))
	flipped := bytes.Clone(body)
	flipped[len(fuzzSegment(3))+2] ^= 0x80
	f.Add(flipped, uint64(0), uint64(1))
	f.Add(body, uint64(2), uint64(3))
	f.Add(append(bytes.Repeat([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 40), body...), uint64(0), uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, prev, nameSeq uint64) {
		file := append(encodeHeader(fuzzSalt), data...)
		seed, _ := decodeHeader(file)
		good := goodRecords(file)
		res := scan(file, seed, prev, nameSeq)
		pos, last := headerSize, prev
		bad := res.bad
		for _, r := range res.recs {
			if len(bad) > 0 && bad[0].off == pos {
				pos = bad[0].end
				bad = bad[1:]
			}
			if int(r.off) != pos {
				t.Fatalf("record %d at %d, want %d (records and damaged spans must tile the segment)", r.seq, r.off, pos)
			}
			if r.seq <= last {
				t.Fatalf("seq %d after %d", r.seq, last)
			}
			d := file[int(r.off)+recHeaderSize : int(r.off)+recHeaderSize+int(r.n)]
			found := false
			for _, g := range good[r.seq] {
				found = found || bytes.Equal(g, d)
			}
			if !found {
				t.Fatalf("seq %d: not a record with a good checksum", r.seq)
			}
			pos = int(r.off) + recHeaderSize + int(r.n)
			last = r.seq
		}
		if pos != res.end {
			t.Fatalf("end %d, want %d", res.end, pos)
		}
		if len(bad) > 1 || len(bad) == 1 && (bad[0].off != pos || bad[0].end != len(file)) {
			t.Fatalf("damaged spans %v left after the last record (which ends at %d of %d)", bad, pos, len(file))
		}
		if len(bad) == 0 && pos != len(file) {
			t.Fatalf("records end at %d of %d with no damaged span", pos, len(file))
		}
	})
}
