package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
	"phalanx/sighting"
)

// benchCount reads a positive count from the environment, or def.
func benchCount(t *testing.T, name string, def, least int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		t.Fatalf("%s=%q: give a number of at least %d", name, s, least)
	}
	return n
}

// fleetLatency returns, from m's explanation of addr, the time from the
// sighting that completed the fleet scenario (its decision's time) to m's
// own "enforced" entry; ok is false until both are there.
func fleetLatency(m *nsMember, addr string) (d time.Duration, ok bool, err error) {
	var ex daemon.Explanation
	if err := adminGetVia(m.hc, m.info, "/api/explain?address="+addr, &ex); err != nil {
		return 0, false, err
	}
	var decided, enforced time.Time
	for _, e := range ex.Timeline {
		switch {
		case e.What == "decision" && strings.HasPrefix(e.Scenario, "fleet-") && decided.IsZero():
			decided = e.Time
		case e.What == "enforced" && e.Member == m.id && enforced.IsZero():
			enforced = e.Time
		case e.What == "decision" && e.Origin == "self":
			return 0, false, fmt.Errorf("%s banned %s in self-defense: the attack was meant under its threshold", m.name, addr)
		}
	}
	if decided.IsZero() || enforced.IsZero() {
		return 0, false, nil
	}
	return enforced.Sub(decided), true, nil
}

// TestFleetLatency measures, on a three-member alliance of real processes
// in network namespaces enforcing with nftables, the time from the
// sighting that completes a fleet scenario to the nftables element on
// every member (each member's own "enforced" entry minus the fleet
// decision's time, which is the completing sighting's). Each attacker
// fails 4 log-ins on A, 4 on B and 2 on C (fleet-bf: 10 from 3 members,
// at most 5 from each; every member's own threshold is 5), one attacker
// every 100 ms. A benchmark: PHALANX_BENCH=1, as root;
// PHALANX_BENCH_FLEET sets the attackers (default 300).
func TestFleetLatency(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") != "1" {
		t.Skip("benchmark: set PHALANX_BENCH=1 (as root)")
	}
	n := benchCount(t, "PHALANX_BENCH_FLEET", 300, 10)
	al := formBenchAlliance(t, "a", "b", "c")
	for _, m := range al.members {
		m.waitTailing(t)
	}
	share := []int{4, 4, 2}
	addr := func(i int) string { return fmt.Sprintf("10.120.%d.%d", i/250, 1+i%250) }
	first := time.Now()
	for i := range n {
		time.Sleep(time.Until(first.Add(time.Duration(i) * attackPace))) // pacing the attackers, not waiting for an event
		for k, m := range al.members {
			appendTo(t, m.log, failedLogins(addr(i), "root", share[k])...)
		}
	}
	t.Logf("%d attackers written in %v", n, time.Since(first).Round(time.Millisecond))
	var all []time.Duration
	per := map[string][]time.Duration{}
	var slowest time.Duration
	var slowAddr string
	var slowM *nsMember
	for i := range n {
		for _, m := range al.members {
			var d time.Duration
			waitUntil(t, 30*time.Second, addr(i)+" enforced by "+m.name, func() bool {
				var ok bool
				var err error
				d, ok, err = fleetLatency(m, addr(i))
				if err != nil {
					t.Fatal(err)
				}
				return ok
			})
			all = append(all, d)
			per[m.name] = append(per[m.name], d)
			if d > slowest {
				slowest, slowAddr, slowM = d, addr(i), m
			}
		}
	}
	q := func(d []time.Duration) string { line, _ := durationSummary(d); return line }
	for _, m := range al.members {
		t.Logf("RESULT fleet: completing sighting -> element in %s's nftables set: %s", strings.ToUpper(m.name), q(per[m.name]))
	}
	t.Logf("RESULT fleet: completing sighting -> element on every member: %s", q(all))
	var ex daemon.Explanation
	if err := adminGetVia(slowM.hc, slowM.info, "/api/explain?address="+slowAddr, &ex); err == nil {
		t.Logf("the slowest, %s on %s (%v):", slowAddr, slowM.name, slowest)
		for _, e := range ex.Timeline {
			t.Logf("  %s %-9s %s %s %s", e.Time.Format("15:04:05.000000"), e.What, shortHash(e.Member), e.Scenario, e.Detail)
		}
	}
}

// procCPU returns the user+system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// ethBytes returns the bytes received and sent on eth0 in m's namespace:
// all its fabric traffic (the API is on loopback).
func ethBytes(t *testing.T, m *nsMember) (rx, tx int64) {
	t.Helper()
	out, err := exec.Command("ip", "-n", m.ns.Name(), "-j", "-s", "link", "show", "dev", "eth0").Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Stats struct {
			RX struct{ Bytes int64 } `json:"rx"`
			TX struct{ Bytes int64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show: %v: %s", err, out)
	}
	return links[0].Stats.RX.Bytes, links[0].Stats.TX.Bytes
}

// TestFleetCost measures what sightings cost each member of a three-member
// alliance (real processes in network namespaces) when 1,000 suspicious
// sources a second are seen alliance-wide: each member's log gets 333 lines
// a second, each a failed log-in from a new source (under every
// threshold), for PHALANX_BENCH_SECONDS (default 30). It measures each
// member's CPU and fabric bytes (eth0 of its namespace) while idle, under
// that load with the fleet scenarios on, and under the same load with them
// off (`phalanx charter fleet off`): the difference is the sightings' cost.
// The charter allows 60,000 sighting entries a minute per member
// (`phalanx charter fleet on --file`): the default 6,000 is sized for more
// members sharing the load. A benchmark: PHALANX_BENCH=1, as root.
func TestFleetCost(t *testing.T) {
	if os.Getenv("PHALANX_BENCH") != "1" {
		t.Skip("benchmark: set PHALANX_BENCH=1 (as root)")
	}
	secs := benchCount(t, "PHALANX_BENCH_SECONDS", 30, 5)
	al := formBenchAlliance(t, "a", "b", "c")
	for _, m := range al.members {
		m.waitTailing(t)
	}
	a := al.members[0]
	fleetFile := t.TempDir() + "/fleet.yaml"
	if err := os.WriteFile(fleetFile, []byte("entries_per_minute: 60000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// amend runs `phalanx charter fleet ARGS` on A and waits until every
	// member holds the new charter.
	amend := func(args ...string) {
		st, err := a.status()
		if err != nil {
			t.Fatal(err)
		}
		old := st.Charter
		args = append(append([]string{"charter", "fleet"}, args...), "--data", a.data)
		if out, err := phalanxIn(a.ns, args...); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		waitUntil(t, 30*time.Second, "every member to hold the amended charter", func() bool {
			var h string
			for _, m := range al.members {
				st, err := m.status()
				if err != nil || st.Charter == old || h != "" && st.Charter != h {
					return false
				}
				h = st.Charter
			}
			return true
		})
	}
	amend("on", "--file", fleetFile)

	type sample struct {
		cpu    time.Duration
		rx, tx int64
	}
	measure := func() []sample {
		out := make([]sample, len(al.members))
		for k, m := range al.members {
			out[k].cpu = procCPU(t, m.p.cmd.Process.Pid)
			out[k].rx, out[k].tx = ethBytes(t, m)
		}
		return out
	}
	const perMember, tick = 333, 100 * time.Millisecond
	load := func(run int) {
		first := time.Now()
		ticks := secs * int(time.Second/tick)
		for i := range ticks {
			time.Sleep(time.Until(first.Add(time.Duration(i) * tick))) // pacing the load, not waiting for an event
			for k, m := range al.members {
				var lines []string
				for j := range perMember / 10 {
					s := i*(perMember/10) + j
					lines = append(lines, failedLogins(fmt.Sprintf("10.%d.%d.%d", 130+run*3+k, s/250, 1+s%250), "root", 1)...)
				}
				appendTo(t, m.log, lines...)
			}
		}
	}
	report := func(what string, before, after []sample, elapsed time.Duration) {
		for k, m := range al.members {
			cpu := after[k].cpu - before[k].cpu
			t.Logf("RESULT fleet cost, %s: %s: CPU %.1f%% of a core, eth0 rx %.1f kB/s tx %.1f kB/s",
				what, strings.ToUpper(m.name), 100*cpu.Seconds()/elapsed.Seconds(),
				float64(after[k].rx-before[k].rx)/1000/elapsed.Seconds(), float64(after[k].tx-before[k].tx)/1000/elapsed.Seconds())
		}
	}
	run := func(what string, f func()) {
		before, t0 := measure(), time.Now()
		f()
		// Let the last entries go out (they wait sighting.Hold) and be
		// judged: the measured window's tail.
		time.Sleep(sighting.Hold + 2*time.Second)
		report(what, before, measure(), time.Since(t0))
	}
	run("idle", func() { time.Sleep(time.Duration(secs) * time.Second) }) // the idle baseline's length
	run("1,000 sources/s, fleet on", func() { load(0) })
	for _, m := range al.members {
		st, err := m.status()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: sightings %v, reports %v", strings.ToUpper(m.name), st.Sightings, st.Reports)
		if st.Reports["rejected"] != 0 {
			t.Errorf("%s rejected reports: %v", m.name, st.Reports)
		}
	}
	amend("off")
	run("1,000 sources/s, fleet off", func() { load(1) })
}
