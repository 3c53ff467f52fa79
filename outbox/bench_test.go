package outbox

import (
	"testing"
	"time"
)

// BenchmarkAppend appends 1 KiB records, one per call, with and without
// an fsync each.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(c.name, func(b *testing.B) {
			o, err := Open(b.TempDir(), Options{NoSync: c.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			data := make([]byte, 1024)
			t := time.Now()
			var seq uint64
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				seq++
				if err := o.Append(seq, t, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkAppendBatch appends 1 KiB records 64 at a time, one fsync per
// batch.
func BenchmarkAppendBatch(b *testing.B) {
	o, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	data := make([]byte, 1024)
	t := time.Now()
	recs := make([]Record, 64)
	var seq uint64
	b.SetBytes(int64(len(data) * len(recs)))
	for b.Loop() {
		for i := range recs {
			seq++
			recs[i] = Record{Seq: seq, Time: t, Data: data}
		}
		if err := o.AppendBatch(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkOpen opens an outbox of 32 Ki records of 1 KiB (three 16 MiB
// segments), which Open reads whole to rebuild its index.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	o, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	var recs []Record
	for seq := uint64(1); seq <= 32<<10; seq++ {
		recs = append(recs, Record{Seq: seq, Time: time.Now(), Data: data})
	}
	if err := o.AppendBatch(recs); err != nil {
		b.Fatal(err)
	}
	o.Close()
	b.SetBytes(32 << 20)
	for b.Loop() {
		o, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if o.Last() != uint64(len(recs)) {
			b.Fatalf("Last %d", o.Last())
		}
		o.Close()
	}
}
