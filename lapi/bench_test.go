package lapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
)

// countingWriter is a ResponseWriter that counts and drops the body.
type countingWriter struct {
	h http.Header
	n int64
}

func (c *countingWriter) Header() http.Header         { return c.h }
func (c *countingWriter) WriteHeader(int)             {}
func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkStreamStartup1M streams 1,000,000 active decisions (90% single
// addresses, 10% ranges, mixed origins) with startup=true: the budget is
// 2 s per op.
//
//	go test ./lapi -run XXX -bench StreamStartup1M -benchtime 5x
func BenchmarkStreamStartup1M(b *testing.B) {
	h, key := bigServer(b)
	var bytes int64
	for b.Loop() {
		r := httptest.NewRequest("GET", "/v1/decisions/stream?startup=true", nil)
		r.Header.Set("X-Api-Key", key)
		w := &countingWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		bytes = w.n
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(bigN)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkStreamStartup1MOverHTTP is the same through a loopback TCP
// connection and net/http on both ends, the body read and dropped.
func BenchmarkStreamStartup1MOverHTTP(b *testing.B) {
	h, key := bigServer(b)
	ts := httptest.NewServer(h)
	defer ts.Close()
	var bytes int64
	for b.Loop() {
		r, _ := http.NewRequest("GET", ts.URL+"/v1/decisions/stream?startup=true", nil)
		r.Header.Set("X-Api-Key", key)
		resp, err := ts.Client().Do(r)
		if err != nil {
			b.Fatal(err)
		}
		bytes, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("status %d, %v", resp.StatusCode, err)
		}
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(bigN)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

const bigN = 1_000_000

// bigServer returns a server over bigN active decisions and a bouncer key.
func bigServer(b *testing.B) (http.Handler, string) {
	const n = bigN
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	table := decision.NewTable()
	origins := []phalanx.Origin{phalanx.OriginSelf, phalanx.OriginAlliance, phalanx.OriginFeed, phalanx.OriginManual}
	for i := range n {
		var p netip.Prefix
		if i%10 == 9 {
			j := i / 10
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(100 + j>>16), byte(j >> 8), byte(j), 0}), 24)
		} else {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		}
		table.Add(phalanx.Decision{Origin: origins[i%4], Type: "ban", Value: p, Scenario: "phalanx/sshd-bruteforce",
			Start: now, Until: now.Add(time.Duration(1+i%14400) * time.Second)})
	}
	if table.Len() != n {
		b.Fatalf("table holds %d decisions, want %d", table.Len(), n)
	}
	keys, err := OpenKeys(filepath.Join(b.TempDir(), "k.json"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := keys.Add("bench")
	if err != nil {
		b.Fatal(err)
	}
	return New(Config{}, table, NewJournal(0), keys, func() time.Time { return now }).Handler(), key
}
