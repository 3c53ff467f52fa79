package forwardauth

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
)

const benchDecisions = 1_000_000

// benchData is a table of 1,000,000 bans on single addresses, half IPv4 and
// half IPv6, from a fixed seed, and the banned addresses.
type benchData struct {
	table  *decision.Table
	banned []netip.Addr
	now    time.Time
}

var benchTable = sync.OnceValue(func() *benchData {
	rng := rand.New(rand.NewPCG(2026, 5))
	// The bans run from a minute ago for a day, so that a handler on the
	// real clock (the load test) sees them too.
	d := &benchData{table: decision.NewTable(), now: time.Now().UTC().Truncate(time.Second)}
	dec := phalanx.Decision{Origin: phalanx.OriginFeed, Type: "ban", Scenario: "bench", Start: d.now.Add(-time.Minute), Until: d.now.Add(24 * time.Hour)}
	for d.table.Len() < benchDecisions {
		a := randAddr(rng, d.table.Len()%2 == 0)
		dec.Value = netip.PrefixFrom(a, a.BitLen())
		if s, _ := d.table.Add(dec); s.ID != 0 {
			d.banned = append(d.banned, a)
		}
	}
	return d
})

// randAddr returns a random public-looking address: IPv4 outside 0/8, 10/8
// and 127/8 (the trusted proxies of the benchmarks), or IPv6 in 2000::/3.
func randAddr(rng *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		for {
			v := rng.Uint32()
			if b := byte(v >> 24); b != 0 && b != 10 && b != 127 {
				return netip.AddrFrom4([4]byte{b, byte(v >> 16), byte(v >> 8), byte(v)})
			}
		}
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[0] = b[0]&0x1f | 0x20
	return netip.AddrFrom16(b)
}

// discardWriter is a ResponseWriter that keeps only the status, so that the
// benchmark measures the handler, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkServeHTTP measures one decision on a table of 1,000,000 bans:
// from the connection's address, and from a trusted proxy's headers.
func BenchmarkServeHTTP(b *testing.B) {
	d := benchTable()
	c := DefaultConfig()
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	h := New(c, d.table, func() time.Time { return d.now }, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	const nreq = 4096
	build := func(banned bool, fill func(r *http.Request, client netip.Addr)) []*http.Request {
		reqs := make([]*http.Request, nreq)
		for i := range reqs {
			client := randAddr(rng, i%2 == 0)
			if banned {
				client = d.banned[rng.IntN(len(d.banned))]
			}
			r := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
			fill(r, client)
			reqs[i] = r
		}
		return reqs
	}
	direct := func(r *http.Request, a netip.Addr) { r.RemoteAddr = netip.AddrPortFrom(a, 40000).String() }
	nginx := func(r *http.Request, a netip.Addr) {
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("X-Real-IP", a.String())
		r.Header.Set("X-Forwarded-For", a.String())
	}
	chain := func(r *http.Request, a netip.Addr) {
		r.RemoteAddr = "10.0.0.1:40000"
		r.Header.Set("X-Forwarded-For", "192.0.2.1, "+a.String()+", 10.0.0.7, 10.0.0.8")
	}
	for _, bc := range []struct {
		name   string
		banned bool
		fill   func(*http.Request, netip.Addr)
		want   int
	}{
		{"direct/clean", false, direct, 200},
		{"direct/banned", true, direct, 403},
		{"nginx/clean", false, nginx, 200},
		{"nginx/banned", true, nginx, 403},
		{"xff-chain/banned", true, chain, 403},
	} {
		reqs := build(bc.banned, bc.fill)
		b.Run(bc.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, reqs[i%nreq])
				i++
			}
			if w.code != bc.want {
				b.Fatalf("status %d, want %d", w.code, bc.want)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				i := rand.IntN(nreq)
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, reqs[i%nreq])
					i++
				}
				if w.code != 0 && w.code != bc.want {
					b.Errorf("status %d, want %d", w.code, bc.want)
				}
			})
		})
	}
}
