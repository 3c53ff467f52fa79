package daemon_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestBanEvidenceEndsWithDecisiveLine appends an attacker's eight failures
// at once: the tail parses all of them before the first is judged
// (feedApart), yet the ban's evidence ends with the sixth, the line that
// decided; the two after it are not evidence of the ban.
func TestBanEvidenceEndsWithDecisiveLine(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	const addr = "203.0.113.81"
	count := regexp.MustCompile(`\(count (\d+)\)`)
	appendLines(t, logPath, attack(addr, 8)...)
	waitFor(t, 10*time.Second, "a ban on "+addr, func() bool { return banned(m.d, addr) })
	var ex daemon.Explanation
	waitFor(t, 10*time.Second, "the ban's evidence in explain", func() bool {
		ex = daemon.Explanation{}
		m.admin("GET", "/api/explain?address="+addr, &ex)
		for _, e := range ex.Timeline {
			if len(e.Evidence) > 0 {
				return true
			}
		}
		return false
	})
	// The report's evidence: the lines counted when the scenario fired,
	// the last of them the one that decided.
	for _, e := range ex.Timeline {
		if len(e.Evidence) == 0 {
			continue
		}
		c := count.FindStringSubmatch(e.Detail)
		if c == nil {
			t.Fatalf("no count in %q", e.Detail)
		}
		n, _ := strconv.Atoi(c[1])
		if len(e.Evidence) != n || !strings.Contains(e.Evidence[n-1], fmt.Sprintf("port %d ", 40000+n-1)) {
			t.Errorf("evidence of a scenario that fired at %d lines is not those lines: %q", n, e.Evidence)
		}
	}
}

// TestTailThroughReloads appends bursts of lines while the configuration
// is reloaded again and again: the tail, parsing apart from the pipeline,
// takes each new pipeline, and every line and every event is counted
// once; once the reloads stop, attackers are banned by the last pipeline.
// (A reload starts detection's state again: an attacker whose lines
// straddle one may not be banned, so the bursts' attackers are not
// checked.)
func TestTailThroughReloads(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	m.waitTailing()
	linesMetric := `phalanx_source_lines_total{source="` + logPath + `"}`
	eventsMetric := `phalanx_parser_events_total{kind="auth-failure",parser="sshd"}`
	linesBefore, eventsBefore := metricOr0(t, m, linesMetric), metricOr0(t, m, eventsMetric)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	reloads := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := m.d.Reload(); err != nil {
				t.Error(err)
				return
			}
			reloads++
		}
	})
	const bursts, perBurst = 20, 10
	appended := 0
	for b := range bursts {
		var lines []string
		for i := range perBurst {
			lines = append(lines, attack(fmt.Sprintf("198.51.%d.%d", 100+b, 1+i), 7)...)
			lines = append(lines, time.Now().Format(time.Stamp)+" web1 CRON[9]: (root) CMD (true)")
		}
		appendLines(t, logPath, lines...)
		appended += len(lines)
	}
	// A reload starts the pipeline's counters again: the per-source and
	// per-parser metrics go on.
	waitFor(t, 30*time.Second, "every line counted", func() bool {
		return metricOr0(t, m, linesMetric)-linesBefore >= float64(appended)
	})
	close(stop)
	wg.Wait()
	if got := metricOr0(t, m, linesMetric) - linesBefore; got != float64(appended) {
		t.Errorf("%d lines counted, %d appended", int(got), appended)
	}
	if got, want := metricOr0(t, m, eventsMetric)-eventsBefore, float64(7*bursts*perBurst); got != want {
		t.Errorf("%d auth failures counted, want %d", int(got), int(want))
	}
	if reloads < 2 {
		t.Logf("only %d reloads during the bursts", reloads)
	}

	var lines, addrs []string
	for i := range 10 {
		a := fmt.Sprintf("192.0.2.%d", 10+i)
		addrs = append(addrs, a)
		lines = append(lines, attack(a, 7)...)
	}
	appendLines(t, logPath, lines...)
	waitFor(t, 30*time.Second, "the attackers after the reloads banned", func() bool {
		for _, a := range addrs {
			if !banned(m.d, a) {
				return false
			}
		}
		return true
	})
}

// metricOr0 reads one metric from m's /metrics, 0 when there is none yet.
func metricOr0(t *testing.T, m *member, name string) float64 {
	t.Helper()
	v, _ := scrapeMetric(t, m, name)
	return v
}
