package daemon

import (
	"crypto/sha256"
	"sync"
)

// signedByMe remembers, by sequence, a hash of each report this process
// signed and wrote, until the report comes back on the fabric: bytes equal
// to what the member signed itself carry a valid signature, so the
// arbiter need not verify it again (about 60 µs a report; in a flood of
// self-defense bans, a fifth of the member's CPU). Anything else — bytes
// that differ, a sequence it has forgotten or never had — is verified as
// every report is.
type signedByMe struct {
	mu sync.Mutex
	m  map[uint64][sha256.Size]byte
}

// signedByMeMax bounds what signedByMe holds: past it, reports are
// verified on their way back as any other member's.
const signedByMeMax = 1 << 16

// add remembers the signed bytes of this member's report seq.
func (s *signedByMe) add(seq uint64, data []byte) {
	h := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[uint64][sha256.Size]byte{}
	}
	if len(s.m) < signedByMeMax {
		s.m[seq] = h
	}
}

// take reports whether data is exactly what this member signed as seq,
// and forgets seq.
func (s *signedByMe) take(seq uint64, data []byte) bool {
	s.mu.Lock()
	h, ok := s.m[seq]
	if ok {
		delete(s.m, seq)
	}
	s.mu.Unlock()
	return ok && h == sha256.Sum256(data)
}
