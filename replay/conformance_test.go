package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/pipeline"
)

// fail2banLogs holds the annotated sample logs of Debian's fail2ban package.
const fail2banLogs = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"

// replayMisses are sample lines fail2ban matches with an IP address where
// phalanx yields no event on purpose, keyed by the end of the line (the
// message), with the reason. The same list, and its reasoning, as the parser
// level test in parser/sshd/conformance_test.go.
var replayMisses = map[string]string{
	"Accepted password for known from 192.0.2.114 port 52100 ssh2": "a successful log-in is never an event; " +
		"fail2ban uses it to release the PAM failures it held back for the same connection",
	"Accepted password for known from 192.0.2.116 port 52100 ssh2": "a successful log-in is never an event (as above)",
	"Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": "ambiguous: " +
		"OpenSSH appends no info to password failures, so the user name 'test from 127.0.0.1 port 58946 ssh2:' " +
		"from 10.10.1.2 writes this very line; fail2ban's choice (127.0.0.1) lets an attacker blame any address",
}

// replayExtras are sample lines annotated as no match where phalanx yields an
// auth-failure event on purpose, keyed by message, with the reason.
var replayExtras = map[string]string{
	"Disconnected from authenticating user admin 192.0.2.6 port 33553 [preauth]": "annotated only for fail2ban's " +
		"normal mode ('no failure in normal mode'); its extra and aggressive modes match this shape, as the " +
		"sample 'Disconnected from authenticating user root 192.0.2.6 ...' annotated in extra mode shows, and " +
		"phalanx counts such a close of an existing user that never got in as its failure (key-only servers log nothing else)",
}

// sampleEntry is one log line of a fail2ban sample and what the replay made
// of it.
type sampleEntry struct {
	no        int // line number in the sample file
	text      string
	annotated bool
	match     bool
	host      string
	when      time.Time // failJSON's time, zero when absent
	events    []replayEvent
}

// replayEvent is one "type":"event" line of `phalanx replay --events`.
type replayEvent struct {
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	Source  string `json:"source"`
	User    string `json:"user"`
	Line    int    `json:"line"`
	Skipped int64  `json:"skipped"`
	// SkippedBy is the summary's skips by reason.
	SkippedBy map[string]int64 `json:"skipped_by_reason"`
}

// TestFail2banConformanceReplay replays fail2ban's annotated sshd and
// sshd-journal samples, one file each, through replay.Run: the framing,
// parsers and pipeline that `phalanx replay --events` users get, no test
// fallback. The journal sample ("srv sshd[123]: msg") is rendered the way
// `journalctl -o short` prints it, with failJSON's time (in UTC) when it has
// one. Rules: every line fail2ban matches with an IP address yields an event
// blaming that address, every line it matches without saying the address
// yields an event, a line that names a host name or a non-canonical address
// yields none, and no line that fail2ban matches in no mode yields an
// auth-failure event. Exceptions are listed above with their reasons.
//
// Each file is one replay, as a user would run it, so state (fail2ban's per
// pid, phalanx's per host and pid) carries across the sample's filterOptions
// blocks; no exception is needed for that today.
func TestFail2banConformanceReplay(t *testing.T) {
	files := []string{"sshd", "sshd-journal"}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(fail2banLogs, f)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("fail2ban's sample logs are missing (%v); CI must install the fail2ban package", err)
			}
			t.Skipf("fail2ban's sample logs are missing (%v); install the fail2ban package to run this test", err)
		}
	}
	usedMiss, usedExtra := map[string]bool{}, map[string]bool{}
	var total struct{ annotated, expected, matched, missed, falsePos, nonIP, hostless int }
	for _, f := range files {
		entries := readSample(t, f)
		summary := replaySample(t, f, entries)
		matchesSomewhere := map[string]bool{}
		for _, e := range entries {
			if e.match {
				matchesSomewhere[message(e.text)] = true
			}
		}
		var annotated, expected, matched, missed, falsePos, nonIP, hostless int
		for _, e := range entries {
			if e.annotated {
				annotated++
			}
			where := f + ":" + itoa(e.no)
			msg := message(e.text)
			if !e.match {
				if matchesSomewhere[msg] {
					continue
				}
				for _, ev := range e.events {
					if ev.Kind != phalanx.KindAuthFailure.String() {
						continue
					}
					if _, ok := replayExtras[msg]; ok {
						usedExtra[msg] = true
						continue
					}
					falsePos++
					t.Errorf("%s: fail2ban matches this line in no mode, but got %s %s user %q: %s", where, ev.Kind, ev.Source, ev.User, e.text)
				}
				continue
			}
			if e.host == "" {
				hostless++
				if len(e.events) == 0 {
					t.Errorf("%s: no event, fail2ban matches it: %s", where, e.text)
				}
				continue
			}
			want, err := netip.ParseAddr(e.host)
			if err != nil {
				nonIP++
				for _, ev := range e.events {
					t.Errorf("%s: host %q is not an IP address, but got %s %s: %s", where, e.host, ev.Kind, ev.Source, e.text)
				}
				continue
			}
			expected++
			want = phalanx.Normalize(want)
			found := false
			for _, ev := range e.events {
				found = found || ev.Source == want.String()
			}
			switch {
			case found:
				matched++
			case len(e.events) > 0:
				t.Errorf("%s: blamed %s, fail2ban blames %v: %s", where, e.events[0].Source, want, e.text)
			default:
				if _, ok := replayMisses[msg]; ok {
					usedMiss[msg] = true
					missed++
					continue
				}
				t.Errorf("%s: no event, fail2ban matches %v (replay skipped %d lines: %v): %s", where, want, summary.Skipped, summary.SkippedBy, e.text)
			}
		}
		t.Logf("%s: %d annotated lines, %d matches with an IP address expected, %d matched, %d documented misses, "+
			"%d auth-failure false positives, %d matches with a host name or non-canonical address (no event by design), "+
			"%d matches annotated without address; replay skipped %d lines %v",
			f, annotated, expected, matched, missed, falsePos, nonIP, hostless, summary.Skipped, summary.SkippedBy)
		total.annotated += annotated
		total.expected += expected
		total.matched += matched
		total.missed += missed
		total.falsePos += falsePos
		total.nonIP += nonIP
		total.hostless += hostless
	}
	t.Logf("total: %d annotated lines, %d matches expected, %d matched (%.1f%%), %d documented misses, %d false positives, %d non-IP hosts",
		total.annotated, total.expected, total.matched, 100*float64(total.matched)/float64(max(total.expected, 1)),
		total.missed, total.falsePos, total.nonIP)
	if t.Failed() {
		return // an exception may look unused only because its line failed otherwise
	}
	for msg := range replayMisses {
		if !usedMiss[msg] {
			t.Errorf("documented miss no longer needed (remove it): %q", msg)
		}
	}
	for msg := range replayExtras {
		if !usedExtra[msg] {
			t.Errorf("documented extra no longer needed (remove it): %q", msg)
		}
	}
}

// readSample reads one annotated sample file: its log lines with the
// failJSON annotation before each.
func readSample(t *testing.T, name string) []*sampleEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fail2banLogs, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*sampleEntry
	var next *sampleEntry
	for i, text := range strings.Split(string(data), "\n") {
		if a, ok := strings.CutPrefix(text, "# failJSON:"); ok {
			var ann struct {
				Match bool   `json:"match"`
				Time  string `json:"time"`
				Host  string `json:"host"`
				IP4   string `json:"ip4"`
				IP6   string `json:"ip6"`
			}
			if err := json.Unmarshal([]byte(a), &ann); err != nil {
				t.Fatalf("%s:%d: %v", name, i+1, err)
			}
			next = &sampleEntry{annotated: true, match: ann.Match, host: ann.Host}
			for _, h := range []string{ann.IP4, ann.IP6} {
				if h != "" {
					next.host = h
				}
			}
			if ann.Time != "" {
				if next.when, err = time.ParseInLocation("2006-01-02T15:04:05", ann.Time, time.UTC); err != nil {
					t.Fatalf("%s:%d: time: %v", name, i+1, err)
				}
			}
			continue
		}
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		e := &sampleEntry{}
		if next != nil {
			e, next = next, nil
		}
		e.no, e.text = i+1, text
		out = append(out, e)
	}
	return out
}

// replaySample writes the sample's log lines to a file, replays it with
// events, and attaches each event to its line. It returns the summary.
func replaySample(t *testing.T, name string, entries []*sampleEntry) replayEvent {
	t.Helper()
	journal := strings.HasSuffix(name, "-journal")
	var in bytes.Buffer
	when := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range entries {
		if journal {
			// journalctl -o short: "Jan 03 12:34:56 srv sshd[123]: msg".
			if !e.when.IsZero() {
				when = e.when
			}
			in.WriteString(when.Format("Jan 02 15:04:05 "))
		}
		in.WriteString(e.text)
		in.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), name+".log")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), Options{
		Events: true, Files: []string{path}, Stdout: &out, Location: time.UTC, Pipeline: pipeline.DefaultConfig(),
	}); err != nil {
		t.Fatal(err)
	}
	var summary replayEvent
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev replayEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("output line is not JSON: %v: %q", err, sc.Text())
		}
		switch ev.Type {
		case "summary":
			summary = ev
		case "event":
			if ev.Line < 1 || ev.Line > len(entries) {
				t.Fatalf("event for line %d of %d: %q", ev.Line, len(entries), sc.Text())
			}
			e := entries[ev.Line-1]
			e.events = append(e.events, ev)
		}
	}
	if summary.Type != "summary" {
		t.Fatal("no summary line")
	}
	return summary
}

// message returns the sample line's text after its syslog tag (the first
// "]: " or "]" with a space), for the exception lists.
func message(text string) string {
	if i := strings.Index(text, "]: "); i >= 0 {
		return text[i+3:]
	}
	if i := strings.Index(text, "] "); i >= 0 {
		return text[i+2:]
	}
	return text
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}
