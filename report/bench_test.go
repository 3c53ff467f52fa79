package report

import "testing"

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
