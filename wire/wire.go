// Package wire reads canonical big-endian binary encodings field by field,
// for the decoders of signed messages (package report, package alliance).
// A Decoder checks every read against the end of its input and keeps the
// first error: after it, every read returns zeros, so a decoder can read a
// whole message and check the error once.
//
// It must not allocate (what Take returns points into the input), panic on
// any input, or have errors of its own: the caller supplies the error for a
// field that runs past the end and reports its own errors through Fail, so
// each package keeps its error catalogue. It knows no message formats and
// no limits; those belong to its callers.
package wire

import "encoding/binary"

// Decoder reads b from the front. The zero Decoder reads an empty input.
type Decoder struct {
	b     []byte
	off   int
	err   error
	short error
}

// NewDecoder returns a Decoder for b whose reads past the end fail with
// short.
func NewDecoder(b []byte, short error) Decoder {
	return Decoder{b: b, short: short}
}

// Err returns the first error, nil while every read succeeded.
func (d *Decoder) Err() error { return d.err }

// Fail records err unless an error is recorded already.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Take returns the next n bytes, or nil (recording the short error) when
// fewer are left or n is negative. The result points into the input.
func (d *Decoder) Take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.err = d.short
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// Uint8 reads one byte.
func (d *Decoder) Uint8() uint8 {
	if p := d.Take(1); p != nil {
		return p[0]
	}
	return 0
}

// Uint16 reads a big-endian uint16.
func (d *Decoder) Uint16() uint16 {
	if p := d.Take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// Uint32 reads a big-endian uint32.
func (d *Decoder) Uint32() uint32 {
	if p := d.Take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// Uint64 reads a big-endian uint64.
func (d *Decoder) Uint64() uint64 {
	if p := d.Take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}
