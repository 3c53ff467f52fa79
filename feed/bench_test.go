package feed

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// discardWriter is a ResponseWriter that counts and drops the body.
type discardWriter struct {
	h http.Header
	n int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// BenchmarkOut serves 1,000,000 bans in each feed; one op is one whole feed.
func BenchmarkOut(b *testing.B) {
	const n = 1_000_000
	h := newTestOut(bigTable(b, n))
	for _, path := range []string{PathPlain, PathJSON, PathSTIX} {
		b.Run(path[len("/v1/feeds/"):], func(b *testing.B) {
			var size int64
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, requestWithKey(path))
				size = w.n
			}
			b.ReportMetric(float64(size)/float64(n), "bytes/ban")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/ban")
		})
	}
}

// BenchmarkParse parses a list of 1,000,000 entries; one op is one list.
func BenchmarkParse(b *testing.B) {
	const n = 1_000_000
	var list bytes.Buffer
	for i := range n {
		if i%4 == 0 {
			fmt.Fprintf(&list, "%d.%d.%d.0/24 ; SBL%d\n", 1+i>>16&0x7f, i>>8&0xff, i&0xff, i)
		} else {
			fmt.Fprintf(&list, "%d.%d.%d.%d\n", 1+i>>24&0x7f, i>>16&0xff, i>>8&0xff, i&0xff)
		}
	}
	b.SetBytes(int64(list.Len()))
	b.ReportAllocs()
	for b.Loop() {
		entries, _, err := Parse(bytes.NewReader(list.Bytes()), FormatPlain, n)
		if err != nil || len(entries) == 0 {
			b.Fatal(len(entries), err)
		}
	}
}
