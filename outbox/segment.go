package outbox

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// On-disk format. Everything is big-endian.
//
// A segment file is named after the first sequence number it was created
// for, as 20 decimal digits and ".seg" (so names sort in sequence order),
// and starts with a header:
//
//	magic "phxobx01" (8) | salt (8 random bytes) | crc32c of magic and salt (4)
//
// followed by records:
//
//	length u32 | crc u32 | seq u64 | unix nanos i64 | data (length bytes)
//
// The crc is CRC-32C seeded with the segment's salt, over the length, seq,
// nanos and data (every byte of the record but the crc itself). The salt
// matters because data holds attacker-written text: when Open skips a
// damaged record and searches the following bytes for the next good one, a
// record forged inside some report's data would have to match a checksum
// keyed by 64 random bits the attacker never sees.
const (
	magic         = "phxobx01"
	headerSize    = 20
	recHeaderSize = 24

	// MaxRecordSize is the largest data Append accepts, in bytes. A signed
	// report is at most 32 KiB (report.MaxSize).
	MaxRecordSize = 1 << 20

	minSegmentBytes = 4 << 10
	maxSegmentBytes = 64 << 20
	// readLimit bounds what Open reads of one segment: the largest file
	// phalanx writes (a segment holds at most maxSegmentBytes, or one
	// record when that record alone is larger).
	readLimit = maxSegmentBytes + headerSize + recHeaderSize + MaxRecordSize
)

// castagnoli is the CRC-32C table; it is never written after init.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName returns the file name of a segment created for seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%020d.seg", seq) }

// parseSegmentName returns the sequence number in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// encodeHeader returns a segment header with the given salt.
func encodeHeader(salt [8]byte) []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, magic...)
	b = append(b, salt[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeader checks a segment header and returns the checksum seed its
// salt gives.
func decodeHeader(b []byte) (seed uint32, ok bool) {
	if len(b) < headerSize || string(b[:8]) != magic ||
		crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:20]) {
		return 0, false
	}
	return crc32.Checksum(b[8:16], castagnoli), true
}

// appendRecord appends one encoded record to b.
func appendRecord(b []byte, seed uint32, seq uint64, nanos int64, data []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, 0, 0, 0, 0) // crc, set below
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(nanos))
	b = append(b, data...)
	binary.BigEndian.PutUint32(b[start+4:], recordCRC(seed, b[start:]))
	return b
}

// recordCRC returns the checksum of an encoded record (rec holds exactly
// one record; its crc field is not read).
func recordCRC(seed uint32, rec []byte) uint32 {
	c := crc32.Update(seed, castagnoli, rec[0:4])
	return crc32.Update(c, castagnoli, rec[8:])
}

// recHeader is a decoded record header.
type recHeader struct {
	n     uint32
	seq   uint64
	nanos int64
}

func readRecHeader(b []byte) recHeader {
	return recHeader{
		n:     binary.BigEndian.Uint32(b[0:4]),
		seq:   binary.BigEndian.Uint64(b[8:16]),
		nanos: int64(binary.BigEndian.Uint64(b[16:24])),
	}
}

// fits reports whether a record of h's length starting at p lies within
// buf and respects MaxRecordSize.
func fits(buf []byte, p int, h recHeader) bool {
	return h.n <= MaxRecordSize && int64(p)+recHeaderSize+int64(h.n) <= int64(len(buf))
}

// checkRecord reports whether the record at p, whose header is h and which
// fits, has a good checksum.
func checkRecord(buf []byte, p int, h recHeader, seed uint32) bool {
	rec := buf[p : p+recHeaderSize+int(h.n)]
	return recordCRC(seed, rec) == binary.BigEndian.Uint32(rec[4:8])
}

// found is a good record found by scan.
type found struct {
	seq   uint64
	off   uint32 // offset of the record in the segment
	n     uint32 // data length
	nanos int64
}

// span is a byte range [off, end) of a segment that holds no readable record.
type span struct{ off, end int }

// scanResult is what scan found in one segment.
type scanResult struct {
	recs   []found
	bad    []span // in file order
	end    int    // offset just past the last good record (headerSize when none)
	gaveUp bool   // the resync budget ran out; everything after the last bad span's start is unread
}

// scan reads the records of one segment, held whole in buf (header
// included, already checked). prev is the highest sequence number found in
// earlier segments, nameSeq the one in this segment's file name.
//
// Records follow each other, each seq one more than the one before (the
// first may be anything above prev). When the record at p is damaged (its
// length runs past the end, its checksum fails or its seq is out of place),
// scan looks for the next good record at every later byte offset: one whose
// length fits, whose seq lies in the range the lost records could have
// taken (above the last good seq, by at most one per 24 bytes skipped), and
// whose checksum is good. What lies between is reported in bad. The
// checksums computed while searching are bounded in total, so no input
// makes scan slow; when the budget runs out, the rest of the segment is
// reported bad.
//
// scan is pure: it never panics and allocates in proportion to len(buf).
func scan(buf []byte, seed uint32, prev, nameSeq uint64) scanResult {
	res := scanResult{end: headerSize}
	var last uint64 // last good seq in this segment; 0 when none yet
	budget := 4*int64(len(buf)) + 64<<20
	p := headerSize
	for p < len(buf) {
		if len(buf)-p >= recHeaderSize {
			h := readRecHeader(buf[p:])
			inPlace := h.seq > prev && (last == 0 || h.seq == last+1)
			if inPlace && fits(buf, p, h) && checkRecord(buf, p, h, seed) {
				res.recs = append(res.recs, found{seq: h.seq, off: uint32(p), n: h.n, nanos: h.nanos})
				last = h.seq
				p += recHeaderSize + int(h.n)
				res.end = p
				continue
			}
		}
		base := last
		if base == 0 {
			base = prev
			if nameSeq > 0 && nameSeq-1 > base {
				base = nameSeq - 1
			}
		}
		q, h, gaveUp := resync(buf, p, seed, base, &budget)
		if q < 0 {
			res.bad = append(res.bad, span{p, len(buf)})
			res.gaveUp = gaveUp
			break
		}
		res.bad = append(res.bad, span{p, q})
		res.recs = append(res.recs, found{seq: h.seq, off: uint32(q), n: h.n, nanos: h.nanos})
		last = h.seq
		p = q + recHeaderSize + int(h.n)
		res.end = p
	}
	return res
}

// resync returns the offset and header of the first good record after the
// damaged one at p whose seq could follow base, or -1 when there is none
// (gaveUp when the checksum budget ran out first).
func resync(buf []byte, p int, seed uint32, base uint64, budget *int64) (int, recHeader, bool) {
	for q := p + 1; q+recHeaderSize <= len(buf); q++ {
		h := readRecHeader(buf[q:])
		// At most one lost record per recHeaderSize bytes skipped, plus
		// the one that was damaged.
		maxGap := uint64(q-p)/recHeaderSize + 1
		if h.seq <= base || h.seq-base > maxGap || !fits(buf, q, h) {
			continue
		}
		*budget -= recHeaderSize + int64(h.n)
		if *budget < 0 {
			return -1, recHeader{}, true
		}
		if checkRecord(buf, q, h, seed) {
			return q, h, false
		}
	}
	return -1, recHeader{}, false
}
