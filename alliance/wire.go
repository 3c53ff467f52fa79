package alliance

import "encoding/binary"

// decoder reads a canonical binary encoding field by field; after the first
// error every read returns zeros and the error sticks. It never allocates:
// the slices it returns point into b.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.err = malformed("truncated: a field runs past the end")
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) uint8() uint8 {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if p := d.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// short reads a field with a one-byte length of at most max bytes.
func (d *decoder) short(what string, max int) []byte {
	n := int(d.uint8())
	if d.err == nil && n > max {
		d.err = malformed("%s of %d bytes, the limit is %d", what, n, max)
	}
	return d.take(n)
}

// fixed reads a field with a one-byte length that must be exactly size.
func (d *decoder) fixed(what string, size int) []byte {
	n := int(d.uint8())
	if d.err == nil && n != size {
		d.err = malformed("%s of %d bytes, want %d", what, n, size)
	}
	return d.take(n)
}

// end fails unless every byte was read.
func (d *decoder) end() {
	if d.err == nil && d.off != len(d.b) {
		d.err = malformed("%d unexpected bytes at the end", len(d.b)-d.off)
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
