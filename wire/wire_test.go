package wire

import (
	"errors"
	"testing"
)

var errShort = errors.New("short")

func TestDecoder(t *testing.T) {
	in := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	d := NewDecoder(in, errShort)
	if got := d.Uint8(); got != 0x01 {
		t.Errorf("Uint8 = %#x, want 0x01", got)
	}
	if got := d.Uint16(); got != 0x0203 {
		t.Errorf("Uint16 = %#x, want 0x0203", got)
	}
	if got := d.Uint32(); got != 0x04050607 {
		t.Errorf("Uint32 = %#x, want 0x04050607", got)
	}
	if got := d.Uint64(); got != 0x08090a0b0c0d0e0f {
		t.Errorf("Uint64 = %#x, want 0x08090a0b0c0d0e0f", got)
	}
	if d.Len() != 0 || d.Err() != nil {
		t.Fatalf("after reading everything: Len %d, Err %v; want 0, nil", d.Len(), d.Err())
	}
	if p := d.Take(0); len(p) != 0 || d.Err() != nil {
		t.Errorf("Take(0) at the end = %v, err %v; want empty, nil", p, d.Err())
	}
}

func TestDecoderErrors(t *testing.T) {
	other := errors.New("other")
	tests := []struct {
		name string
		read func(d *Decoder)
		want error
		left int // Len afterwards
	}{
		{"past the end", func(d *Decoder) { d.Take(4) }, errShort, 3},
		{"negative", func(d *Decoder) { d.Take(-1) }, errShort, 3},
		{"uint32 of 3 bytes", func(d *Decoder) { d.Uint32() }, errShort, 3},
		{"sticks", func(d *Decoder) { d.Uint64(); d.Uint8() }, errShort, 3},
		{"first error wins", func(d *Decoder) { d.Fail(other); d.Take(9) }, other, 3},
		{"fail keeps the first", func(d *Decoder) { d.Take(9); d.Fail(other) }, errShort, 3},
		{"reads nothing after an error", func(d *Decoder) { d.Fail(other); d.Uint8() }, other, 3},
		{"fits", func(d *Decoder) { d.Uint16() }, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder([]byte{1, 2, 3}, errShort)
			tt.read(&d)
			if d.Err() != tt.want {
				t.Errorf("Err = %v, want %v", d.Err(), tt.want)
			}
			if d.Len() != tt.left {
				t.Errorf("Len = %d, want %d", d.Len(), tt.left)
			}
			if tt.want != nil {
				if d.Uint8() != 0 || d.Take(0) != nil {
					t.Error("a read after an error returned data")
				}
			}
		})
	}
}

// FuzzDecoder reads b with sizes taken from ops and checks that the
// Decoder never panics, never reads past the end and fails exactly when a
// read does not fit.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, []byte{1, 2})
	f.Add([]byte{}, []byte{0, 8})
	f.Fuzz(func(t *testing.T, b, ops []byte) {
		d := NewDecoder(b, errShort)
		left := len(b)
		for _, op := range ops {
			n := int(op%10) - 1 // -1 to 8
			p := d.Take(n)
			switch {
			case n < 0 || n > left:
				if p != nil || d.Err() != errShort {
					t.Fatalf("Take(%d) with %d left = %v, err %v; want nil, short", n, left, p, d.Err())
				}
				return
			case len(p) != n:
				t.Fatalf("Take(%d) returned %d bytes", n, len(p))
			}
			left -= n
			if d.Len() != left {
				t.Fatalf("Len = %d, want %d", d.Len(), left)
			}
		}
	})
}
