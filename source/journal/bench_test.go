//go:build unix

package journal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user+system) of this process, or of its
// waited-for children.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchInput is a synthetic export stream shaped like journalctl's output
// with this package's --output-fields.
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		r := sshd(i)
		if i%4 == 0 {
			r.message = fmt.Appendf(nil, "Accepted publickey for deploy from 198.51.100.%d port %d ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", i%250, 1024+i%60000)
		}
		b.Write(r.withCursor())
	}
	return b.Bytes()
}

// benchDecode decodes in b.N times and reports entries per CPU-second.
func benchDecode(b *testing.B, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var entries int64
	cpu0 := cpuTime(syscall.RUSAGE_SELF)
	for b.Loop() {
		d := newDecoder(bytes.NewReader(in), DefaultMaxField, &counters{})
		for {
			var e Entry
			if err := d.next(&e); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			entries++
		}
	}
	cpu := cpuTime(syscall.RUSAGE_SELF) - cpu0
	b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
	if cpu > 0 {
		b.ReportMetric(float64(entries)/cpu.Seconds(), "entries/cpu-s")
	}
}

func BenchmarkDecode(b *testing.B) {
	benchDecode(b, benchInput(10000))
}

// BenchmarkDecodeExportFile decodes the export output saved in the file
// that PHALANX_JOURNAL_EXPORT names (bench/journal.sh sets it).
func BenchmarkDecodeExportFile(b *testing.B) {
	path := os.Getenv("PHALANX_JOURNAL_EXPORT")
	if path == "" {
		b.Skip("PHALANX_JOURNAL_EXPORT not set: run bench/journal.sh")
	}
	in, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, in)
}

// BenchmarkJournalDir reads the PHALANX_JOURNAL_ENTRIES entries of the
// journal directory that PHALANX_JOURNAL_DIR names through a Journal
// (journalctl and the decoder together), and reports the CPU time of each
// side.
func BenchmarkJournalDir(b *testing.B) {
	dir := os.Getenv("PHALANX_JOURNAL_DIR")
	want, _ := strconv.Atoi(os.Getenv("PHALANX_JOURNAL_ENTRIES"))
	if dir == "" || want <= 0 {
		b.Skip("PHALANX_JOURNAL_DIR and PHALANX_JOURNAL_ENTRIES not set: run bench/journal.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var self, children time.Duration
	for b.Loop() {
		self0, child0 := cpuTime(syscall.RUSAGE_SELF), cpuTime(syscall.RUSAGE_CHILDREN)
		j, err := Open(Options{Directory: dir, FromStart: true})
		if err != nil {
			b.Fatal(err)
		}
		for range want {
			if _, err := j.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
		_ = j.Close()
		self += cpuTime(syscall.RUSAGE_SELF) - self0
		children += cpuTime(syscall.RUSAGE_CHILDREN) - child0
	}
	b.ReportMetric(float64(want), "entries/op")
	b.ReportMetric(self.Seconds()/float64(b.N), "go-cpu-s/op")
	b.ReportMetric(children.Seconds()/float64(b.N), "journalctl-cpu-s/op")
}
