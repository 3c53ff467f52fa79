package forwardauth

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Load targets of the forward-auth endpoint on a 1,000,000-decision table,
// served over HTTP/1.1 with keep-alive to 64 connections.
const (
	targetRPS = 50_000
	targetP99 = 2 * time.Millisecond
)

// TestLoadWrk measures the endpoint under load with wrk (10 s, 2 threads,
// 64 connections, keep-alive) and logs wrk's report: once with clients
// judged by their connection, once as behind nginx, with X-Real-IP and
// X-Forwarded-For naming addresses of which half are banned. It runs only
// with PHALANX_BENCH=1, by hand: wrk and the server share the machine, so
// the figures depend on what else runs. On two cores, give each its own:
//
//	GOMAXPROCS=1 PHALANX_WRK_CONNS="-t1 -c8" PHALANX_BENCH=1 go test -run TestLoadWrk -v ./forwardauth
//
// (with both on both cores, the scheduler's switching alone puts the p99 of
// an empty net/http handler above 4 ms here).
func TestLoadWrk(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") != "1" {
		t.Skip("a load measurement: run with PHALANX_BENCH=1 (needs wrk: apt-get install -y wrk)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk is not installed: apt-get install -y wrk")
	}
	d := benchTable()
	dir := t.TempDir()

	// The floor: net/http answering 200 with no work at all.
	baselineURL := "http://" + serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })) + DefaultPath

	direct := new(Metrics)
	directURL := "http://" + serve(t, New(DefaultConfig(), d.table, time.Now, direct)) + DefaultPath

	proxied := new(Metrics)
	c := DefaultConfig()
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	proxiedURL := "http://" + serve(t, New(c, d.table, time.Now, proxied)) + DefaultPath

	// The proxied run's addresses: 4,096, alternately banned and not.
	rng := rand.New(rand.NewPCG(7, 7))
	var lua strings.Builder
	lua.WriteString("local addrs = {\n")
	for i := range 4096 {
		a := randAddr(rng, i%4 < 2)
		if i%2 == 0 {
			a = d.banned[rng.IntN(len(d.banned))]
		}
		fmt.Fprintf(&lua, "  %q,\n", a.String())
	}
	lua.WriteString(`}
local i = 0
request = function()
  i = i + 1
  local a = addrs[(i % #addrs) + 1]
  return wrk.format("GET", nil, { ["X-Real-IP"] = a, ["X-Forwarded-For"] = a })
end
`)
	script := filepath.Join(dir, "addrs.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, run := range []struct {
		name string
		url  string
		args []string
		m    *Metrics
	}{
		{"baseline (net/http with an empty handler, no target)", baselineURL, nil, nil},
		{"direct (clean client, judged by its connection)", directURL, nil, direct},
		{"behind nginx (X-Real-IP and X-Forwarded-For, half banned)", proxiedURL, []string{"-s", script}, proxied},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// PHALANX_WRK_CONNS sets wrk's threads and connections, e.g. "-t1 -c8".
		conns := []string{"-t2", "-c64"}
		if v := os.Getenv("PHALANX_WRK_CONNS"); v != "" {
			conns = strings.Fields(v)
		}
		args := append(append(conns, "-d10s", "--latency"), run.args...)
		args = append(args, run.url)
		out, err := exec.Command(wrk, args...).CombinedOutput()
		t.Logf("%s: wrk %s\n%s", run.name, strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("wrk: %v", err)
		}
		runtime.ReadMemStats(&after)
		t.Logf("%s: heap in use %d MiB, %d GC cycles, %v of GC pauses, GC CPU fraction %.3f",
			run.name, after.HeapInuse>>20, after.NumGC-before.NumGC, time.Duration(after.PauseTotalNs-before.PauseTotalNs), after.GCCPUFraction)
		rps, p99, err := parseWrk(string(out))
		if err != nil {
			t.Fatal(err)
		}
		if run.m == nil {
			t.Logf("%s: %.0f requests/s, p99 %v", run.name, rps, p99)
			continue
		}
		counts := run.m.Counts()
		t.Logf("%s: %.0f requests/s, p99 %v; handler counts %+v", run.name, rps, p99, counts)
		if counts.BadHeader != 0 || counts.Allowed == 0 || (run.args != nil && counts.Denied == 0) {
			t.Errorf("%s: unexpected counts %+v", run.name, counts)
		}
		if rps < targetRPS || p99 > targetP99 {
			t.Errorf("%s: %.0f requests/s and p99 %v; the target is >= %d requests/s and p99 <= %v", run.name, rps, p99, targetRPS, targetP99)
		}
	}
}

var (
	wrkRPS = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkP99 = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
)

// parseWrk reads the requests per second and the 99th percentile latency
// from wrk's --latency report.
func parseWrk(out string) (rps float64, p99 time.Duration, err error) {
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no Requests/sec in wrk's output")
	}
	if rps, err = strconv.ParseFloat(m[1], 64); err != nil {
		return 0, 0, err
	}
	m = wrkP99.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no 99%% latency in wrk's output")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, 0, err
	}
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return rps, time.Duration(v * float64(unit)), nil
}

func TestParseWrk(t *testing.T) {
	const sample = `Running 10s test @ http://127.0.0.1:1/v1/forward-auth
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.21us  410.72us  12.33ms   88.45%
    Req/Sec    53.48k     3.01k   60.37k    71.00%
  Latency Distribution
     50%  520.00us
     75%  701.00us
     90%    1.01ms
     99%    2.25ms
  1064276 requests in 10.00s, 77.15MB read
Requests/sec: 106412.03
Transfer/sec:      7.71MB
`
	rps, p99, err := parseWrk(sample)
	if err != nil || rps != 106412.03 || p99 != 2250*time.Microsecond {
		t.Errorf("parseWrk = %v, %v, %v", rps, p99, err)
	}
	if _, _, err := parseWrk("garbage"); err == nil {
		t.Error("parseWrk(garbage) succeeded")
	}
}
