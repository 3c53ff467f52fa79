package report

import (
	"net/netip"
	"testing"
)

func BenchmarkMarshal(b *testing.B) {
	r := signed(b, alert())
	b.ReportAllocs()
	for b.Loop() {
		_ = Marshal(&r)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	r := signed(b, alert())
	wire := Marshal(&r)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	r := signed(b, alert())
	pub := testIdentity(b, 1).Public
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSighting encodes, decodes and verifies a full sighting: as
// many IPv4 sources as fit (PackSightings), each with two counts and one
// user hash.
func BenchmarkSighting(b *testing.B) {
	r := sighting()
	r.Sightings = nil
	for i := range MaxSightings {
		r.Sightings = append(r.Sightings, Sighting{
			Source: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), 32),
			Counts: []Count{{"sshd", "auth-failure", 2}, {"sshd", "invalid-user", 1}},
			Users:  []UserHash{hash(byte(i))},
		})
	}
	r.Sightings = PackSightings(r.Sightings, 17)[0]
	r = signed(b, r)
	wire := Marshal(&r)
	pub := testIdentity(b, 1).Public
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Marshal(&r)
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unmarshal(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Verify(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Logf("%d entries in %d bytes (%d bytes each)", len(r.Sightings), len(wire), len(wire)/len(r.Sightings))
}
