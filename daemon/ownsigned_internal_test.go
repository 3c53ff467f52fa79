package daemon

import "testing"

// TestSignedByMe: only the very bytes written as a sequence pass, once;
// other bytes, other sequences and a second look do not.
func TestSignedByMe(t *testing.T) {
	var s signedByMe
	s.add(7, []byte("signed report seven"))
	s.add(8, []byte("signed report eight"))
	if s.take(7, []byte("signed report seveN")) {
		t.Fatal("different bytes passed as this member's own")
	}
	if s.take(7, []byte("signed report seven")) {
		t.Fatal("a sequence passed after a mismatch forgot it: a forgery would make the real copy pass unverified? it must be verified instead")
	}
	if s.take(9, []byte("signed report eight")) {
		t.Fatal("bytes passed under another sequence")
	}
	if !s.take(8, []byte("signed report eight")) {
		t.Fatal("the signed bytes of sequence 8 did not pass")
	}
	if s.take(8, []byte("signed report eight")) {
		t.Fatal("sequence 8 passed twice")
	}
	for i := range uint64(signedByMeMax + 10) {
		s.add(100+i, []byte{byte(i)})
	}
	if len(s.m) > signedByMeMax {
		t.Fatalf("holds %d, more than %d", len(s.m), signedByMeMax)
	}
}
