package fabric

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkPublishConsume measures, in process, the time from calling
// Publish to the consumer's callback: on the fast path (fast-p50/p99) and
// through the stream (stream-p50/p99), and until Publish returns with the
// stream's ack (ack-p50/p99). Reports are 300 bytes, one at a time.
func BenchmarkPublishConsume(b *testing.B) {
	f, err := Start(context.Background(), Options{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	type arrival struct {
		data string
		at   time.Time
	}
	fast := make(chan arrival, 1024)
	stream := make(chan time.Time, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Consume(ctx, 1, func(m Msg) {
		if m.Seq == 0 {
			fast <- arrival{string(m.Data), time.Now()}
		} else {
			stream <- time.Now()
		}
	})
	// Wait until the consumer runs: probe the fast path, then drain up to
	// a marker.
	for ready := false; !ready; {
		if err := f.nc.Publish(FastPrefix+"probe", []byte("probe")); err != nil {
			b.Fatal(err)
		}
		select {
		case <-fast:
			ready = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := f.nc.Publish(FastPrefix+"probe", []byte("marker")); err != nil {
		b.Fatal(err)
	}
	for a := range fast {
		if a.data == "marker" {
			break
		}
	}
	data := []byte(strings.Repeat("r", 300))
	var fastLat, streamLat, ackLat []time.Duration
	for i := range 20 { // warm up
		if _, err := f.Publish(ctx, "alpha", fmt.Sprint("warm-", i), data); err != nil {
			b.Fatal(err)
		}
		<-fast
		<-stream
	}
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		if _, err := f.Publish(ctx, "alpha", fmt.Sprint("id-", i), data); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		ft, st := <-fast, <-stream
		fastLat = append(fastLat, ft.at.Sub(began))
		streamLat = append(streamLat, st.Sub(began))
		ackLat = append(ackLat, acked.Sub(began))
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"fast", fastLat}, {"stream", streamLat}, {"ack", ackLat}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds()), m.name+"-p50-µs")
		b.ReportMetric(float64(m.d[len(m.d)*99/100].Microseconds()), m.name+"-p99-µs")
	}
}

// BenchmarkStart measures Start then Close on a fresh data directory.
func BenchmarkStart(b *testing.B) {
	var start time.Duration
	for range b.N {
		dir := b.TempDir()
		began := time.Now()
		f, err := Start(context.Background(), Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		start += time.Since(began)
		f.Close()
	}
	b.ReportMetric(float64(start.Microseconds())/float64(b.N)/1000, "start-ms")
}

// BenchmarkIdleRSS starts a Fabric in a fresh child process and reports its
// resident set size before Start (the test binary alone) and after Start
// and one publish.
func BenchmarkIdleRSS(b *testing.B) {
	var before, after, took int
	for range b.N {
		_, line := runChild(b, "rss", b.TempDir(), 0)
		if _, err := fmt.Sscanf(line, "rss %d %d %d", &before, &after, &took); err != nil {
			b.Fatalf("child said %q: %v", line, err)
		}
	}
	b.ReportMetric(float64(before)/1024, "base-MB")
	b.ReportMetric(float64(after)/1024, "rss-MB")
	b.ReportMetric(float64(after-before)/1024, "fabric-MB")
	b.ReportMetric(float64(took)/1000, "child-start-ms")
}
