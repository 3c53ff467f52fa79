package alliance

import "phalanx/wire"

// errPastEnd is the error of a field that runs past the end of its input.
var errPastEnd = malformed("truncated: a field runs past the end")

// decoder is a wire.Decoder with this package's errors and length-prefixed
// fields. It never allocates: the slices it returns point into its input.
type decoder struct{ wire.Decoder }

// newDecoder returns a decoder for b.
func newDecoder(b []byte) decoder { return decoder{wire.NewDecoder(b, errPastEnd)} }

// short reads a field with a one-byte length of at most max bytes.
func (d *decoder) short(what string, max int) []byte {
	n := int(d.Uint8())
	if d.Err() == nil && n > max {
		d.Fail(malformed("%s of %d bytes, the limit is %d", what, n, max))
	}
	return d.Take(n)
}

// fixed reads a field with a one-byte length that must be exactly size.
func (d *decoder) fixed(what string, size int) []byte {
	n := int(d.Uint8())
	if d.Err() == nil && n != size {
		d.Fail(malformed("%s of %d bytes, want %d", what, n, size))
	}
	return d.Take(n)
}

// end fails unless every byte was read.
func (d *decoder) end() {
	if d.Len() != 0 {
		d.Fail(malformed("%d unexpected bytes at the end", d.Len()))
	}
}

// appendShort appends b with a one-byte length; longer fields are cut to
// 255 bytes, which decoders reject because their limits are lower.
func appendShort(dst, b []byte) []byte {
	if len(b) > 255 {
		b = b[:255]
	}
	dst = append(dst, byte(len(b)))
	return append(dst, b...)
}
