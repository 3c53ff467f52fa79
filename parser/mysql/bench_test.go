package mysql

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	for i := 0; len(frames) < n; i++ {
		msg := fmt.Sprintf("2024-05-01 10:00:%02d %d [Warning] Access denied for user 'root'@'203.0.%d.%d' (using password: YES)", i%60, 1000+i, i/250%250, i%250+1)
		if i%3 == 2 {
			msg = fmt.Sprintf("2024-05-01 10:00:%02d %d [Warning] Aborted connection %d to db: 'app' user: 'app' host: 'localhost' (Got timeout reading communication packets)", i%60, 1000+i, i)
		}
		frames = append(frames, logline.Frame{Program: []byte("mariadbd"), PID: 812, Message: []byte(msg)})
	}
	return frames[:n]
}

func BenchmarkParse(b *testing.B) { parsertest.Benchmark(b, New(), benchFrames(4096)) }

// TestAllocs: common lines cost no allocation, an uncommon user its string.
func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "mariadbd", "db", []parsertest.Alloc{
		{Msg: "[Warning] Access denied for user 'root'@'203.0.113.5' (using password: YES)", Want: 0},
		{Msg: "[Warning] Access denied for user 'zyxxy'@'203.0.113.5' (using password: YES)", Want: 1},
		{Msg: "[Note] InnoDB: Buffer pool(s) load completed", Want: 0},
	})
}
