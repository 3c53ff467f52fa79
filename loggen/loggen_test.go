package loggen

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST test needs Europe/Berlin on any machine
)

var update = flag.Bool("update", false, "rewrite golden files")

// gen1 generates lines with seed 1 into memory.
func gen1(t testing.TB, c Config) ([]byte, Truth) {
	t.Helper()
	var buf bytes.Buffer
	tr, err := Generate(&buf, c)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", c, err)
	}
	return buf.Bytes(), tr
}

// lineRE is the RFC 3164 shape of every line; the pid is missing only for
// programs that really log without one.
var lineRE = regexp.MustCompile(`^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 123][0-9]) ([0-2][0-9]):([0-5][0-9]):([0-5][0-9]) (\S+) ([^\s\[\]:]+)(?:\[([0-9]+)\])?: (.*)$`)

type line struct {
	n    int // 1-based line number
	t    time.Time
	host string
	prog string
	pid  int // -1 when the line has none
	msg  string
}

func (l *line) sshd() bool { return l.prog == "sshd" || l.prog == "sshd-session" }

// parseAll parses every line, inferring years from start (the first line's
// year) and the rule that time never runs backwards.
func parseAll(t testing.TB, out []byte, start time.Time) []line {
	t.Helper()
	var lines []line
	year := start.Year()
	var prev time.Time
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		s := sc.Text()
		m := lineRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("line %d does not have the syslog shape: %q", len(lines)+1, s)
		}
		ts, err := time.ParseInLocation(time.Stamp, s[:15], start.Location())
		if err != nil {
			t.Fatalf("line %d: time: %v", len(lines)+1, err)
		}
		ts = ts.AddDate(year, 0, 0)
		if ts.Before(prev) && prev.Sub(ts) > 300*24*time.Hour {
			year++
			ts = ts.AddDate(1, 0, 0)
		}
		prev = ts
		pid := -1
		if m[8] != "" {
			pid, _ = strconv.Atoi(m[8])
		}
		lines = append(lines, line{n: len(lines) + 1, t: ts, host: m[6], prog: m[7], pid: pid, msg: m[9]})
	}
	return lines
}

// lineAddr returns the address a sshd message is about: the one before the
// last " port N", or after "rhost=". Attacker-chosen user names come before
// it, so the rightmost one is the real peer.
func lineAddr(msg string) (netip.Addr, bool) {
	if i := strings.Index(msg, "rhost="); i >= 0 {
		rest := msg[i+len("rhost="):]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		a, err := netip.ParseAddr(rest)
		return a, err == nil
	}
	for end := len(msg); ; {
		i := strings.LastIndex(msg[:end], " port ")
		if i < 0 {
			return netip.Addr{}, false
		}
		end = i
		j := i + len(" port ")
		k := j
		for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
			k++
		}
		if k == j || (k < len(msg) && msg[k] != ':' && msg[k] != ' ') {
			continue
		}
		tok := msg[:i]
		if sp := strings.LastIndexByte(tok, ' '); sp >= 0 {
			tok = tok[sp+1:]
		}
		if a, err := netip.ParseAddr(tok); err == nil {
			return a, true
		}
	}
}

// world is a parsed run: its lines, truth, and each sshd pid's address.
type world struct {
	lines   []line
	truth   Truth
	pidAddr map[int]netip.Addr
}

func newWorld(t testing.TB, c Config) *world {
	t.Helper()
	out, tr := gen1(t, c)
	start := c.Start
	if start.IsZero() {
		start, _ = time.Parse(time.RFC3339, DefaultStart)
	}
	w := &world{lines: parseAll(t, out, start), truth: tr, pidAddr: map[int]netip.Addr{}}
	for i := range w.lines {
		l := &w.lines[i]
		if !l.sshd() {
			continue
		}
		a, ok := lineAddr(l.msg)
		if !ok {
			continue
		}
		if old, seen := w.pidAddr[l.pid]; seen && old != a {
			t.Fatalf("line %d: pid %d names %v, earlier lines of that pid named %v", l.n, l.pid, a, old)
		}
		w.pidAddr[l.pid] = a
	}
	return w
}

func (w *world) isAttacker(a netip.Addr) bool {
	if _, ok := slices.BinarySearchFunc(w.truth.Attackers, a, netip.Addr.Compare); ok {
		return true
	}
	for _, p := range w.truth.AttackerPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (w *world) isLegit(a netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(w.truth.Legit, a, netip.Addr.Compare)
	return ok
}

// bigConfig is the run the tests of the whole mix use; each generates its own copy.
var bigConfig = Config{Lines: 300_000, Seed: 7}

func TestDeterministic(t *testing.T) {
	c := Config{Lines: 50_000, Seed: 1}
	a, ta := gen1(t, c)
	b, tb := gen1(t, c)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same config wrote different bytes")
	}
	if !slices.Equal(ta.Attackers, tb.Attackers) || !slices.Equal(ta.Legit, tb.Legit) || !slices.Equal(ta.AttackerPrefixes, tb.AttackerPrefixes) {
		t.Fatal("two runs with the same config returned different truths")
	}
	c.Seed = 2
	if d, _ := gen1(t, c); bytes.Equal(a, d) {
		t.Fatal("seeds 1 and 2 wrote the same bytes")
	}
}

func TestGolden(t *testing.T) {
	out, _ := gen1(t, Config{Lines: 150, Seed: 1})
	path := filepath.Join("testdata", "seed1-150.golden")
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from %s; if the change is intended, run go test ./loggen -run TestGolden -update", path)
	}
}

func TestLineCount(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 17, 1000, 54_321} {
		out, _ := gen1(t, Config{Lines: n, Seed: int64(n)})
		if got := bytes.Count(out, []byte{'\n'}); got != n {
			t.Errorf("Lines %d: wrote %d lines", n, got)
		}
		if n > 0 && out[len(out)-1] != '\n' {
			t.Errorf("Lines %d: output does not end with a newline", n)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Config
	}{
		{"negative lines", Config{Lines: -1}},
		{"negative attackers", Config{Lines: 1, Attackers: -5}},
		{"too many attackers", Config{Lines: 1, Attackers: MaxAttackers + 1}},
		{"host with space", Config{Lines: 1, Host: "my host"}},
		{"host with colon", Config{Lines: 1, Host: "a:b"}},
		{"host too long", Config{Lines: 1, Host: strings.Repeat("h", 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := Generate(&buf, tt.c); err == nil {
				t.Fatal("no error")
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	_, err := Generate(&failWriter{n: 1 << 20}, Config{Lines: 100_000, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
}

func TestShapeAndTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		start time.Time
	}{
		{"default", time.Time{}},
		{"new year", time.Date(2025, 12, 31, 22, 30, 0, 0, time.FixedZone("CET", 3600))},
		{"dst ends", time.Date(2025, 10, 26, 1, 0, 0, 0, berlin)},
		{"single digit day", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Lines: 40_000, Seed: 3, Start: tt.start, Host: "web-1.example"}
			w := newWorld(t, c)
			start := tt.start
			if start.IsZero() {
				start, _ = time.Parse(time.RFC3339, DefaultStart)
			}
			_, off := start.Zone()
			fixed := start.In(time.FixedZone("", off))
			if got, want := w.lines[0].t.Format(time.DateTime), fixed.Format(time.DateTime); got != want {
				t.Errorf("first line at %s, want %s", got, want)
			}
			for i := 1; i < len(w.lines); i++ {
				if w.lines[i].t.Before(w.lines[i-1].t) {
					t.Fatalf("line %d (%s) is earlier than line %d (%s)", i+1, w.lines[i].t, i, w.lines[i-1].t)
				}
			}
			for _, l := range w.lines {
				if l.host != c.Host {
					t.Fatalf("line %d: host %q, want %q", l.n, l.host, c.Host)
				}
				if l.pid < 0 && l.prog != "kernel" && l.prog != "sudo" {
					t.Fatalf("line %d: %s line without a pid", l.n, l.prog)
				}
			}
		})
	}
}

func TestRate(t *testing.T) {
	w := newWorld(t, Config{Lines: 100_000, Seed: 4})
	span := w.lines[len(w.lines)-1].t.Sub(w.lines[0].t)
	perSec := float64(len(w.lines)) / span.Seconds()
	// About four lines a second: 1,000,000 lines span a few days.
	if perSec < 2.5 || perSec > 6 {
		t.Errorf("%.2f lines per second of log time (span %s), want about 4", perSec, span)
	}
}

// TestPIDs checks one program per pid, and that sshd pids never mix
// addresses (newWorld fails on that).
func TestPIDs(t *testing.T) {
	w := newWorld(t, bigConfig)
	prog := map[int]string{}
	for _, l := range w.lines {
		if l.pid < 0 {
			continue
		}
		if p, ok := prog[l.pid]; ok && p != l.prog {
			t.Fatalf("line %d: pid %d is %s, earlier it was %s", l.n, l.pid, l.prog, p)
		}
		prog[l.pid] = l.prog
	}
	if len(w.pidAddr) < 1000 {
		t.Fatalf("only %d sshd connections", len(w.pidAddr))
	}
}

func TestTruthMatchesText(t *testing.T) {
	w := newWorld(t, bigConfig)
	tr := w.truth
	for _, list := range [][]netip.Addr{tr.Attackers, tr.Legit} {
		if !slices.IsSortedFunc(list, netip.Addr.Compare) {
			t.Error("truth list not sorted")
		}
	}
	seen := map[netip.Addr]bool{}
	seenPrefix := map[netip.Prefix]map[netip.Addr]bool{}
	for _, l := range w.lines {
		if !l.sshd() {
			continue
		}
		a, ok := lineAddr(l.msg)
		if !ok {
			continue
		}
		att, leg := w.isAttacker(a), w.isLegit(a)
		if att == leg {
			t.Fatalf("line %d: address %v: attacker %v, legit %v; want exactly one", l.n, a, att, leg)
		}
		seen[a] = true
		if a.Is6() {
			p := netip.PrefixFrom(a, 64).Masked()
			if seenPrefix[p] == nil {
				seenPrefix[p] = map[netip.Addr]bool{}
			}
			seenPrefix[p][a] = true
		}
	}
	for _, a := range append(slices.Clone(tr.Attackers), tr.Legit...) {
		if !seen[a] {
			t.Errorf("truth lists %v but no sshd line names it", a)
		}
	}
	v6 := 0
	for _, p := range tr.AttackerPrefixes {
		if !p.Addr().Is6() || p.Bits() != 64 || p.Masked() != p {
			t.Errorf("attacker prefix %v is not an IPv6 /64", p)
		}
		if len(seenPrefix[p]) < 2 {
			t.Errorf("rotating attacker %v used %d addresses, want several", p, len(seenPrefix[p]))
		}
		for _, l := range tr.Legit {
			if p.Contains(l) {
				t.Errorf("legit %v inside attacker prefix %v", l, p)
			}
		}
		v6++
	}
	for _, a := range tr.Attackers {
		if a.Is6() {
			v6++
		}
		if w.isLegit(a) {
			t.Errorf("%v is both attacker and legit", a)
		}
	}
	total := len(tr.Attackers) + len(tr.AttackerPrefixes)
	if total < 100 || total > DefaultAttackers {
		t.Errorf("%d attackers appeared, want hundreds of %d", total, DefaultAttackers)
	}
	if frac := float64(v6) / float64(total); frac < 0.05 || frac > 0.15 {
		t.Errorf("%.1f%% of attackers are IPv6, want about 10%%", 100*frac)
	}
	if len(tr.AttackerPrefixes) == 0 {
		t.Error("no rotating IPv6 attacker")
	}
	if len(tr.Legit) < 3 || len(tr.Legit) > 10 {
		t.Errorf("%d legit addresses, want a small set", len(tr.Legit))
	}
}

func TestAllAttackersAppear(t *testing.T) {
	// Every attacker runs one campaign before any runs a second.
	_, tr := gen1(t, Config{Lines: 60_000, Seed: 5, Attackers: 40})
	if got := len(tr.Attackers) + len(tr.AttackerPrefixes); got != 40 {
		t.Errorf("%d of 40 attackers appeared", got)
	}
}

func TestMix(t *testing.T) {
	w := newWorld(t, bigConfig)
	var attack, legit, noise int
	for _, l := range w.lines {
		a, ok := w.pidAddr[l.pid]
		switch {
		case !l.sshd() || !ok:
			noise++
		case w.isAttacker(a):
			attack++
		case w.isLegit(a):
			legit++
		default:
			t.Fatalf("line %d: address %v in no truth list", l.n, a)
		}
	}
	n := float64(len(w.lines))
	fa, fl, fn := float64(attack)/n, float64(legit)/n, float64(noise)/n
	span := w.lines[len(w.lines)-1].t.Sub(w.lines[0].t).Seconds()
	t.Logf("attack %.1f%%, legit sshd %.1f%%, noise %.1f%%; per second %.2f %.2f %.2f", 100*fa, 100*fl, 100*fn, float64(attack)/span, float64(legit)/span, float64(noise)/span)
	if fa < 0.52 || fa > 0.68 || fl < 0.11 || fl > 0.19 || fn < 0.19 || fn > 0.31 {
		t.Errorf("mix attack %.1f%%, legit %.1f%%, noise %.1f%%; want about 60/15/25", 100*fa, 100*fl, 100*fn)
	}
}

// failureTimes returns, per address, the times of lines that record a failed
// password attempt.
func failureTimes(w *world, match func(msg string) bool) map[netip.Addr][]time.Time {
	m := map[netip.Addr][]time.Time{}
	for _, l := range w.lines {
		if !l.sshd() || !match(l.msg) {
			continue
		}
		if a, ok := lineAddr(l.msg); ok {
			m[a] = append(m[a], l.t)
		}
	}
	return m
}

func TestLegitNeverReachThresholds(t *testing.T) {
	w := newWorld(t, bigConfig)
	kinds := map[string]func(string) bool{
		"Failed password": func(m string) bool { return strings.HasPrefix(m, "Failed ") },
		"PAM auth failure": func(m string) bool {
			return strings.Contains(m, "authentication failure") || strings.Contains(m, "more authentication failures")
		},
	}
	for kind, match := range kinds {
		times := failureTimes(w, match)
		withTwo := 0
		for _, a := range w.truth.Legit {
			ts := times[a]
			slices.SortFunc(ts, time.Time.Compare)
			for i := 2; i < len(ts); i++ {
				if ts[i].Sub(ts[i-2]) <= 10*time.Minute {
					t.Errorf("%s: legit %v has 3 within 10 minutes: %s, %s, %s", kind, a, ts[i-2], ts[i-1], ts[i])
				}
			}
			if len(ts) >= 2 {
				withTwo++
			}
		}
		if withTwo == 0 {
			t.Errorf("%s: no legit address ever failed twice; the check proves nothing", kind)
		}
	}
	// Legitimate users never end a connection before authenticating.
	for _, l := range w.lines {
		if a, ok := w.pidAddr[l.pid]; ok && l.sshd() && w.isLegit(a) && strings.Contains(l.msg, "[preauth]") {
			t.Fatalf("line %d: legit preauth line %q", l.n, l.msg)
		}
	}
	// Two mistypes in one connection happen.
	double := false
	perPID := map[int]int{}
	for _, l := range w.lines {
		if a, ok := w.pidAddr[l.pid]; ok && l.sshd() && w.isLegit(a) && strings.HasPrefix(l.msg, "Failed password") {
			perPID[l.pid]++
			double = double || perPID[l.pid] == 2
		}
	}
	if !double {
		t.Error("no legitimate user mistyped twice in one connection")
	}
}

func TestAttackerBehaviours(t *testing.T) {
	w := newWorld(t, bigConfig)
	fails := failureTimes(w, func(m string) bool { return strings.HasPrefix(m, "Failed password") })
	slow := 0
	for a, ts := range fails {
		if !w.isAttacker(a) || len(ts) < 8 {
			continue
		}
		fast := false
		for i := 5; i < len(ts); i++ {
			if ts[i].Sub(ts[i-5]) <= 10*time.Minute {
				fast = true
			}
		}
		if !fast {
			slow++
		}
	}
	if slow < 5 {
		t.Errorf("%d slow attackers (8+ failures, never 6 in 10 minutes), want several", slow)
	}

	names := map[netip.Addr]map[string]bool{}
	for _, l := range w.lines {
		user, ok := strings.CutPrefix(l.msg, "Invalid user ")
		if !l.sshd() || !ok {
			continue
		}
		a, _ := lineAddr(l.msg)
		if names[a] == nil {
			names[a] = map[string]bool{}
		}
		names[a][user[:strings.LastIndex(user, " from ")]] = true
	}
	enumerators := 0
	for _, n := range names {
		if len(n) >= 25 {
			enumerators++
		}
	}
	if enumerators < 5 {
		t.Errorf("%d user enumerators (25+ distinct names), want several", enumerators)
	}

	bursts := 0
	for a, ts := range fails {
		if w.isAttacker(a) && len(ts) >= 50 && ts[49].Sub(ts[0]) < 10*time.Minute {
			bursts++
		}
	}
	if bursts < 5 {
		t.Errorf("%d fast brute-forcers (50 failures in 10 minutes), want several", bursts)
	}
}

// TestMessages checks that every kind of line the generator promises shows up.
func TestMessages(t *testing.T) {
	out, _ := gen1(t, bigConfig)
	want := []string{
		"]: Server listening on 0.0.0.0 port 22.",
		"]: Failed password for root from ",
		"]: Invalid user admin from ",
		"]: Failed password for invalid user admin from ",
		"]: Disconnected from invalid user ",
		"]: Disconnected from authenticating user root ",
		"]: Connection closed by authenticating user root ",
		"]: Connection closed by invalid user ",
		"]: Connection reset by authenticating user root ",
		":11: Bye Bye [preauth]",
		"]: error: maximum authentication attempts exceeded for root from ",
		"]: error: maximum authentication attempts exceeded for invalid user ",
		"]: Disconnecting authenticating user root ",
		"]: Disconnecting invalid user ",
		": Too many authentication failures [preauth]",
		"]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
		"  user=root\n",
		"]: pam_unix(sshd:auth): check pass; user unknown\n",
		" more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
		"]: PAM service(sshd) ignoring max retries; 6 > 3\n",
		": no matching key exchange method found. Their offer: ",
		": no matching host key type found. Their offer: ",
		"]: banner exchange: Connection from ",
		": invalid format\n",
		"]: error: kex_exchange_identification: Connection closed by remote host\n",
		"]: error: kex_exchange_identification: client sent invalid protocol identifier \"",
		"]: fatal: Timeout before authentication for ",
		" sshd-session[",
		" sshd[",
		"]: Accepted password for ",
		"]: Accepted publickey for ",
		": ED25519 SHA256:",
		"]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)\n",
		":11: disconnected by user\n",
		"]: Disconnected from user alice ",
		"]: pam_unix(sshd:session): session closed for user ",
		" CRON[",
		"]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n",
		"]: (root) CMD (",
		"]: pam_unix(cron:session): session closed for user root\n",
		" sudo:    alice : TTY=pts/",
		" sudo: pam_unix(sudo:session): session opened for user root(uid=0) by ",
		" systemd-logind[",
		": New session ",
		" systemd[1]: Started session-",
		" systemd[1]: Starting ",
		".scope: Consumed ",
		" kernel: [",
		"[UFW BLOCK]",
	}
	for _, s := range want {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("no line contains %q", s)
		}
	}
	for _, s := range []string{"%!", "<nil>", "invalid IP", "\x00"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("output contains %q", s)
		}
	}
}

func TestTruthOnlyWrittenLines(t *testing.T) {
	// A run cut short lists only addresses that made it into the text.
	for _, n := range []int{1, 3, 10, 57, 400} {
		w := newWorld(t, Config{Lines: n, Seed: 11})
		named := map[netip.Addr]bool{}
		for _, l := range w.lines {
			if a, ok := lineAddr(l.msg); ok && l.sshd() {
				named[a] = true
			}
		}
		for _, a := range append(slices.Clone(w.truth.Attackers), w.truth.Legit...) {
			if !named[a] {
				t.Errorf("Lines %d: truth lists %v, which no line names", n, a)
			}
		}
	}
}

func FuzzGenerate(f *testing.F) {
	f.Add(int64(1), uint16(100), uint16(0))
	f.Add(int64(-9), uint16(3000), uint16(1))
	f.Add(int64(42), uint16(0), uint16(7))
	f.Fuzz(func(t *testing.T, seed int64, lines, attackers uint16) {
		c := Config{Lines: int(lines), Seed: seed, Attackers: int(attackers)}
		out, _ := gen1(t, c)
		if got := bytes.Count(out, []byte{'\n'}); got != c.Lines {
			t.Fatalf("wrote %d lines, want %d", got, c.Lines)
		}
		newWorld(t, c) // shape, time order and pid consistency
	})
}

func BenchmarkGenerate(b *testing.B) {
	const n = 200_000
	b.SetBytes(0)
	for b.Loop() {
		if _, err := Generate(io.Discard, Config{Lines: n, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func TestExpMS(t *testing.T) {
	g := newGen(io.Discard, Config{Seed: 1, Attackers: 1, Host: "h"})
	for _, mean := range []float64{0, 1, 1000, 200_000, 3e6} {
		const n = 200_000
		var sum float64
		over := 0
		for range n {
			v := g.expMS(mean)
			if v < 0 {
				t.Fatalf("expMS(%v) = %d", mean, v)
			}
			if float64(v) > 3*mean {
				over++
			}
			sum += float64(v)
		}
		got := sum / n
		if mean >= 1000 && (got < 0.98*mean || got > 1.02*mean) {
			t.Errorf("expMS(%v): mean %.1f", mean, got)
		}
		// An exponential exceeds three times its mean with probability e^-3 (5%).
		if mean >= 1000 && (over < n*3/100 || over > n*7/100) {
			t.Errorf("expMS(%v): %.1f%% above 3x the mean, want about 5%%", mean, 100*float64(over)/n)
		}
	}
}

func TestLogUniform(t *testing.T) {
	g := newGen(io.Discard, Config{Seed: 1, Attackers: 1, Host: "h"})
	tests := []struct{ lo, hi, low, high int }{
		// low and high: how many of 10,000 draws fall in the bottom octave.
		{1, 12, 1500, 3500},
		{3, 250, 1000, 2000},
		{25, 250, 2000, 3000},
		{5, 5, 10_000, 10_000},
		{8, 9, 10_000, 10_000},
	}
	for _, tt := range tests {
		bottom := 0
		for range 10_000 {
			v := g.logUniform(tt.lo, tt.hi)
			if v < tt.lo || v > tt.hi {
				t.Fatalf("logUniform(%d, %d) = %d", tt.lo, tt.hi, v)
			}
			if v < 2*tt.lo {
				bottom++
			}
		}
		if bottom < tt.low || bottom > tt.high {
			t.Errorf("logUniform(%d, %d): %d of 10000 in the bottom octave, want %d to %d", tt.lo, tt.hi, bottom, tt.low, tt.high)
		}
	}
}
