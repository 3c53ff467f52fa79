package postgresql

import (
	"fmt"
	"testing"

	"phalanx/logline"
	"phalanx/parser/parsertest"
)

func benchFrames(n int) []logline.Frame {
	var frames []logline.Frame
	for i := 0; len(frames) < n; i++ {
		pid := 5000 + i
		a := fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1)
		for _, msg := range []string{
			"[unknown]@[unknown] " + a + " LOG:  connection received: host=" + a + " port=50000",
			"postgres@postgres " + a + ` FATAL:  password authentication failed for user "postgres"`,
			"postgres@postgres " + a + ` DETAIL:  Connection matched pg_hba.conf line 99: "host all all 0.0.0.0/0 scram-sha-256"`,
			"app@app 192.0.2.10 LOG:  duration: 0.512 ms  statement: SELECT 1",
		} {
			frames = append(frames, logline.Frame{Program: []byte("postgres"), PID: pid, Message: []byte(msg)})
		}
	}
	return frames[:n]
}

func BenchmarkParse(b *testing.B) { parsertest.Benchmark(b, New(), benchFrames(4096)) }

func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "postgres", "db", []parsertest.Alloc{
		{Msg: `LOG:  connection received: host=203.0.113.6 port=50000`, Want: 0},
		{Msg: `postgres@postgres 203.0.113.5 FATAL:  password authentication failed for user "postgres"`, Want: 0},
		{Msg: `app@app 192.0.2.10 LOG:  duration: 0.512 ms  statement: SELECT 1`, Want: 0},
	})
}
