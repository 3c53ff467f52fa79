package replay

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"phalanx/loggen"
	"phalanx/pipeline"
)

// BenchmarkReplay replays 200,000 lines of loggen's mix, the path of
// `phalanx replay` minus the process: go test -bench Replay -cpuprofile.
func BenchmarkReplay(b *testing.B) {
	var log bytes.Buffer
	if _, err := loggen.Generate(&log, loggen.Config{Lines: 200_000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "auth.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(log.Len()))
	b.ResetTimer()
	for range b.N {
		_, err := Run(context.Background(), Options{Pipeline: pipeline.DefaultConfig(), Files: []string{path}, Stdout: io.Discard, Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200_000*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReplayHTTP replays 200,000 lines of loggen's mixed nginx access
// log through the whole HTTP path (parse, rule pack, scenarios), as
// `phalanx replay nginx:access.log` does.
func BenchmarkReplayHTTP(b *testing.B) {
	var log bytes.Buffer
	if _, err := loggen.HTTP(&log, loggen.HTTPConfig{Lines: 200_000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "access.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(log.Len()))
	b.ResetTimer()
	for range b.N {
		_, err := Run(context.Background(), Options{Pipeline: pipeline.DefaultConfig(), Files: []string{"nginx:" + path}, Stdout: io.Discard, Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200_000*b.N)/b.Elapsed().Seconds(), "lines/s")
}
