package fail2ban

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx/parser/parsertest"
)

// loadSampleFilters compiles every Debian filter that has a sample file,
// with its default options.
func loadSampleFilters(tb testing.TB) []*Filter {
	var out []*Filter
	cache := NewCache()
	for _, n := range sampleFilters(tb) {
		f, err := LoadFilter(debianConfig, n, nil, nil, FilterOptions{Cache: cache})
		if err != nil {
			tb.Fatalf("%s: %v", n, err)
		}
		out = append(out, f)
	}
	return out
}

// mixedLines returns every log line of fail2ban's samples (mail, FTP, web,
// sshd and the rest), comments left out.
func mixedLines(tb testing.TB) []string {
	var out []string
	for _, n := range sampleFilters(tb) {
		fh, err := os.Open(filepath.Join(parsertest.Fail2banLogs, n))
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		fh.Close()
	}
	return out
}

// quietLines are ordinary log lines no fail2ban filter is about.
var quietLines = []string{
	"Dec  6 19:01:45 web1 systemd[1]: Started session-42.scope - Session 42 of User root.",
	"Dec  6 19:01:45 web1 CRON[2211]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
	"Dec  6 19:01:46 web1 kernel: [123456.789012] EXT4-fs (sda1): mounted filesystem with ordered data mode",
	"Dec  6 19:01:47 web1 systemd-timesyncd[512]: Initial clock synchronization to Sun 2026-12-06 19:01:47.123 UTC.",
	`192.0.2.44 - - [06/Dec/2026:19:01:48 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
	"Dec  6 19:01:49 web1 dhclient[733]: bound to 10.0.0.12 -- renewal in 1720 seconds.",
	"Dec  6 19:01:50 web1 rsyslogd: [origin software=\"rsyslogd\" swVersion=\"8.2302.0\"] rsyslogd was HUPed",
	"2026-12-06T19:01:51.123456+00:00 web1 containerd[901]: time=\"2026-12-06T19:01:51Z\" level=info msg=\"loading plugin\"",
}

// BenchmarkCompileAll: start-up with every Debian filter that has a
// sample compiled, and the memory they hold.
func BenchmarkCompileAll(b *testing.B) {
	requireDebian(b)
	var ms0, ms1 runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		fs := loadSampleFilters(b)
		g := groupOf(fs)
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/(1<<20), "MB-held")
		b.ReportMetric(float64(len(fs)), "filters")
		b.ReportMetric(float64(g.set.Literals()), "literals")
		runtime.KeepAlive(g)
	}
}

func groupOf(fs []*Filter) *Group {
	ms := make([]*Matcher, len(fs))
	for i, f := range fs {
		ms[i] = NewMatcher(f, MatchOptions{Location: time.UTC})
	}
	return NewGroup(ms...)
}

// BenchmarkAllFiltersMixed: every filter with a sample over every sample
// line, as one group (one literal scan per line).
func BenchmarkAllFiltersMixed(b *testing.B) {
	requireDebian(b)
	g := groupOf(loadSampleFilters(b))
	lines := mixedLines(b)
	now := time.Unix(1124013600, 0)
	failures := 0
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		g.Line(lines[i%len(lines)], now, func(int, Result, Outcome) { failures++ })
	}
	perLine(b, cpu0)
}

// BenchmarkAllFiltersQuiet: lines no filter matches, through the same
// group: the prefilter's cost.
func BenchmarkAllFiltersQuiet(b *testing.B) {
	requireDebian(b)
	g := groupOf(loadSampleFilters(b))
	now := time.Unix(1124013600, 0)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		g.Line(quietLines[i%len(quietLines)], now, nil)
	}
	perLine(b, cpu0)
}

// BenchmarkAllFiltersQuietLiteral is BenchmarkAllFiltersQuiet without the
// filters that have no literal to look for (3proxy in Debian's set), which
// must run their expressions on every line.
func BenchmarkAllFiltersQuietLiteral(b *testing.B) {
	requireDebian(b)
	var fs []*Filter
	for _, f := range loadSampleFilters(b) {
		s := NewSet(f)
		if !s.unconditional[0] {
			fs = append(fs, f)
		}
	}
	g := groupOf(fs)
	now := time.Unix(1124013600, 0)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		g.Line(quietLines[i%len(quietLines)], now, nil)
	}
	perLine(b, cpu0)
	b.ReportMetric(float64(len(fs)), "filters")
}

// noLiteralLines are the quiet lines that hold no literal of any filter.
var noLiteralLines = []string{quietLines[2], quietLines[3], quietLines[6], quietLines[7]}

// BenchmarkScanOnly: the literal scan of all filters over a quiet line.
func BenchmarkScanOnly(b *testing.B) {
	requireDebian(b)
	s := NewSet(loadSampleFilters(b)...)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		s.scan(quietLines[i%len(quietLines)])
	}
	perLine(b, cpu0)
}

// BenchmarkNoLiteral: lines without a literal of any filter, through the
// group of every filter that has literals (3proxy, which has none, left
// out): the cost of a line no filter can match.
func BenchmarkNoLiteral(b *testing.B) {
	requireDebian(b)
	var fs []*Filter
	for _, f := range loadSampleFilters(b) {
		if s := NewSet(f); !s.unconditional[0] {
			fs = append(fs, f)
		}
	}
	g := groupOf(fs)
	now := time.Unix(1124013600, 0)
	for _, l := range noLiteralLines { // fill the multi-line windows
		for i := 0; i < 30; i++ {
			g.Line(l, now, nil)
		}
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		g.Line(noLiteralLines[i%len(noLiteralLines)], now, nil)
	}
	perLine(b, cpu0)
}

// BenchmarkSSHD: one filter on its own sample.
func BenchmarkSSHD(b *testing.B) {
	requireDebian(b)
	f, err := LoadFilter(debianConfig, "sshd", nil, nil, FilterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for _, l := range mixedLines(b) {
		if strings.Contains(l, "sshd") {
			lines = append(lines, l)
		}
	}
	m := NewMatcher(f, MatchOptions{Location: time.UTC})
	now := time.Unix(1124013600, 0)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		m.Line(lines[i%len(lines)], now)
	}
	perLine(b, cpu0)
}

// TestQuietLinesSkipped: the quiet lines of the benchmark pass no filter's
// prefilter, so their cost is the literal scan alone.
func TestQuietLinesSkipped(t *testing.T) {
	requireDebian(t)
	g := groupOf(loadSampleFilters(t))
	for _, l := range quietLines {
		g.Line(l, time.Now(), func(i int, r Result, o Outcome) {
			t.Errorf("%s: %v on a quiet line %q", g.ms[i].Filter().Name, o, l)
		})
	}
	var ran []string
	for i, m := range g.Matchers() {
		if c := g.Counters(i); c.Skipped != c.Lines || c.Lines != len(quietLines) {
			ran = append(ran, fmt.Sprintf("%s(%d)", m.Filter().Name, c.Lines-c.Skipped))
		}
	}
	t.Logf("filters that ran expressions on quiet lines: %v", ran)
}

// noMatchLines are ordinary lines of a Debian server's logs (cron,
// systemd, the kernel, mail queue, time and network daemons), 80–150
// bytes, that no fail2ban filter matches; some hold a word a filter looks
// for ("from ", "warning", "user").
var noMatchLines = []string{
	"Dec  6 19:02:01 web1 CRON[22871]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
	"Dec  6 19:02:03 web1 systemd[1]: Starting apt-daily.service - Daily apt download activities...",
	"Dec  6 19:02:04 web1 kernel: [183344.120532] e1000e: eno1 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
	"Dec  6 19:02:05 web1 kernel: [183345.002211] EXT4-fs (nvme0n1p2): re-mounted 9c1e2f6a-33b1-4d0e. Quota mode: none.",
	"Dec  6 19:02:06 web1 systemd-logind[845]: New session 4711 of user deploy.",
	"Dec  6 19:02:07 web1 dbus-daemon[712]: [system] Successfully activated service 'org.freedesktop.timedate1'",
	"Dec  6 19:02:08 web1 chronyd[655]: Selected source 192.0.2.123 (2.debian.pool.ntp.org)",
	"Dec  6 19:02:09 web1 rsyslogd[640]: imuxsock: Acquired UNIX socket '/run/systemd/journal/syslog' (fd 3) from systemd.",
	`Dec  6 19:02:10 web1 snapd[1022]: storehelpers.go:773: cannot refresh: snap has no updates available: "core22", "lxd"`,
	`Dec  6 19:02:11 web1 containerd[901]: time="2026-12-06T19:02:11.482913Z" level=info msg="cleaning up dead shim" namespace=moby`,
	"Dec  6 19:02:12 web1 systemd-networkd[488]: eth0: DHCPv4 address 10.0.0.12/24, gateway 10.0.0.1 acquired from 10.0.0.1",
	"Dec  6 19:02:13 web1 postfix/qmgr[1311]: 4F1A22C0B12: from=<root@web1.example.org>, size=2412, nrcpt=1 (queue active)",
	`Dec  6 19:02:14 web1 kernel: [183354.551212] audit: type=1400 audit(1765047734.551:312): apparmor="STATUS" operation="profile_replace"`,
	"Dec  6 19:02:15 web1 smartd[702]: Device: /dev/sda [SAT], SMART Usage Attribute: 194 Temperature_Celsius changed from 38 to 39",
	`2026-12-06T19:02:16.120455+00:00 web1 dockerd[1102]: time="2026-12-06T19:02:16Z" level=warning msg="reference for unknown type"`,
	"Dec  6 19:02:17 web1 systemd[1]: Finished logrotate.service - Rotate log files. Consumed 1.204s CPU time.",
}

// BenchmarkNoMatch: every Debian filter that has a sample (3proxy, which
// has no literal, included) as one group, over ordinary lines that no
// filter matches: the cost of the bulk of a log.
func BenchmarkNoMatch(b *testing.B) {
	requireDebian(b)
	g := groupOf(loadSampleFilters(b))
	now := time.Unix(1124013600, 0)
	for _, l := range noMatchLines { // fill the multi-line windows
		for range 30 {
			g.Line(l, now, nil)
		}
	}
	bytes := 0
	for _, l := range noMatchLines {
		bytes += len(l)
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		g.Line(noMatchLines[i%len(noMatchLines)], now, nil)
	}
	perLine(b, cpu0)
	b.ReportMetric(float64(bytes)/float64(len(noMatchLines)), "bytes/line")
}

// perLine reports a line benchmark's wall and CPU time per line (CPU
// time is less disturbed by other work on the machine).
func perLine(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/line")
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestNoMatchLines: no filter matches the lines of BenchmarkNoMatch; logs
// which filters still ran an expression on them (the prefilter let them
// through).
func TestNoMatchLines(t *testing.T) {
	requireDebian(t)
	g := groupOf(loadSampleFilters(t))
	for _, l := range noMatchLines {
		g.Line(l, time.Now(), func(i int, r Result, o Outcome) {
			t.Errorf("%s: %v on %q", g.ms[i].Filter().Name, o, l)
		})
	}
	var ran []string
	for i, m := range g.Matchers() {
		if c := g.Counters(i); c.Skipped != c.Lines {
			ran = append(ran, fmt.Sprintf("%s(%d)", m.Filter().Name, c.Lines-c.Skipped))
		}
	}
	t.Logf("filters that ran on the %d lines: %v", len(noMatchLines), ran)
}
