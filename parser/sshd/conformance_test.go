package sshd

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// fail2banLogs holds the annotated sample logs of Debian's fail2ban package.
const fail2banLogs = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"

// conformanceMisses are the sample lines fail2ban matches with an IP address
// where this parser yields no event on purpose, keyed by message (the text
// after "sshd[pid]: "), with the reason.
var conformanceMisses = map[string]string{
	"Accepted password for known from 192.0.2.114 port 52100 ssh2": "a successful log-in is never an event; " +
		"fail2ban uses it to release the PAM failures it held back for the same connection",
	"Accepted password for known from 192.0.2.116 port 52100 ssh2": "a successful log-in is never an event (as above)",
	"Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": "ambiguous: " +
		"OpenSSH appends no info to password failures, so the user name 'test from 127.0.0.1 port 58946 ssh2:' " +
		"from 10.10.1.2 writes this very line; fail2ban's choice (127.0.0.1) lets an attacker blame any address",
}

// conformanceExtras are sample lines annotated as no match where this parser
// yields an event on purpose, keyed by message, with the reason.
var conformanceExtras = map[string]string{
	"Disconnected from authenticating user admin 192.0.2.6 port 33553 [preauth]": "annotated only for fail2ban's " +
		"normal mode ('no failure in normal mode'); its extra and aggressive modes match this shape, as the " +
		"sample 'Disconnected from authenticating user root 192.0.2.6 ...' annotated in extra mode shows",
}

// sampleLine is one log line of a fail2ban sample file and what became of it.
type sampleLine struct {
	file      string
	no        int
	text      string
	msg       string
	annotated bool
	match     bool
	host      string
	events    []phalanx.Event // Parse's, then Next's
}

// blames returns the line's event that blames addr, or nil.
func (l *sampleLine) blames(addr netip.Addr) *phalanx.Event {
	for i := range l.events {
		if l.events[i].Source == addr {
			return &l.events[i]
		}
	}
	return nil
}

// TestFail2banConformance feeds fail2ban's annotated sshd samples through the
// parser, in file order, with one Parser per filterOptions block (the modes of
// a block do not matter: the parser recognises the union of fail2ban's modes).
func TestFail2banConformance(t *testing.T) {
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
	var total struct{ annotated, expected, matched, missed, falsePos, nonIP, fallback int }
	for _, f := range files {
		lines, fallback := readSamples(t, f)
		// A line annotated as matching anywhere in the file (fail2ban tests
		// some lines under several modes) may yield an event everywhere.
		matchesSomewhere := map[string]bool{}
		for _, l := range lines {
			if l.match {
				matchesSomewhere[l.text] = true
			}
		}
		var annotated, expected, matched, missed, falsePos, nonIP, hostless int
		for _, l := range lines {
			if l.annotated {
				annotated++
			}
			where := f + ":" + strconv.Itoa(l.no)
			if !l.match {
				if len(l.events) == 0 || matchesSomewhere[l.text] {
					continue
				}
				if _, ok := conformanceExtras[l.msg]; ok {
					usedExtra[l.msg] = true
					continue
				}
				falsePos++
				for _, ev := range l.events {
					t.Errorf("%s: false positive %v %v user %q: %s", where, ev.Kind, ev.Source, ev.User, l.text)
				}
				continue
			}
			if l.host == "" {
				// fail2ban blames the address an earlier line of the
				// connection named, and the annotation does not say
				// which; TestShapes checks the address for such shapes.
				hostless++
				if len(l.events) == 0 {
					t.Errorf("%s: no event, fail2ban matches it: %s", where, l.text)
				}
				continue
			}
			want, err := netip.ParseAddr(l.host)
			if err != nil {
				// A host name, or an address in a form sshd never writes
				// (192.030.0.6: octal or decimal?): no event.
				nonIP++
				for _, ev := range l.events {
					t.Errorf("%s: host %q is not an IP address, but got an event for %v: %s", where, l.host, ev.Source, l.text)
				}
				continue
			}
			expected++
			want = phalanx.Normalize(want)
			switch {
			case l.blames(want) != nil:
				matched++
			case len(l.events) > 0:
				t.Errorf("%s: blamed %v, fail2ban blames %v: %s", where, l.events[0].Source, want, l.text)
			default:
				if _, ok := conformanceMisses[l.msg]; ok {
					usedMiss[l.msg] = true
					missed++
					continue
				}
				t.Errorf("%s: no event, fail2ban matches %v: %s", where, want, l.text)
			}
		}
		t.Logf("%s: %d annotated lines, %d matches with an IP address expected, %d matched, %d documented misses, "+
			"%d false positives, %d matches with a host name or non-canonical address (no event by design), "+
			"%d matches annotated without address (all yield events), %d lines framed by the test's fallback",
			f, annotated, expected, matched, missed, falsePos, nonIP, hostless, fallback)
		total.annotated += annotated
		total.expected += expected
		total.matched += matched
		total.missed += missed
		total.falsePos += falsePos
		total.nonIP += nonIP
		total.fallback += fallback
	}
	t.Logf("total: %d annotated lines, %d matches expected, %d matched (%.1f%%), %d documented misses, %d false positives, %d non-IP hosts",
		total.annotated, total.expected, total.matched, 100*float64(total.matched)/float64(max(total.expected, 1)),
		total.missed, total.falsePos, total.nonIP)
	for msg := range conformanceMisses {
		if !usedMiss[msg] {
			t.Errorf("documented miss no longer needed (remove it): %q", msg)
		}
	}
	for msg := range conformanceExtras {
		if !usedExtra[msg] {
			t.Errorf("documented extra no longer needed (remove it): %q", msg)
		}
	}
}

// readSamples reads and parses one sample file. It returns its log lines and
// how many of them the test's fallback framer had to split.
func readSamples(t *testing.T, name string) ([]sampleLine, int) {
	t.Helper()
	fh, err := os.Open(filepath.Join(fail2banLogs, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	// The journal sample's lines carry no timestamp ("srv sshd[123]: msg"):
	// the test frames them as RFC 3164 lines by prefixing this fixed one.
	const journalStamp = "Jan  1 00:00:00 "
	journal := strings.HasSuffix(name, "-journal")
	framer := logline.NewFramer(time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC), time.UTC)
	p := New()
	var out []sampleLine
	var next *sampleLine
	fallback := 0
	sc := bufio.NewScanner(fh)
	no := 0
	for sc.Scan() {
		no++
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "# filterOptions:"):
			p = New()
			continue
		case strings.HasPrefix(text, "# failJSON:"):
			var a map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(text, "# failJSON:")), &a); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
			next = &sampleLine{annotated: true}
			next.match, _ = a["match"].(bool)
			for _, k := range []string{"host", "ip4", "ip6"} {
				if h, ok := a[k].(string); ok {
					next.host = h
				}
			}
			continue
		case strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#"):
			continue
		}
		l := sampleLine{}
		if next != nil {
			l = *next
			next = nil
		}
		l.file, l.no, l.text = name, no, text
		line := text
		if journal {
			line = journalStamp + text
		}
		var fr logline.Frame
		if err := framer.Frame([]byte(line), &fr); err != nil || !IsProgram(fr.Program) {
			var ok bool
			if fr, ok = fallbackFrame(line); !ok {
				t.Fatalf("%s:%d: cannot frame sample line %q", name, no, line)
			}
			fallback++
		}
		l.msg = string(fr.Message)
		var ev phalanx.Event
		for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
			l.events = append(l.events, ev)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out, fallback
}

// fallbackFrame splits the syslog header off the sample lines whose shapes the
// logline package does not (yet) know: a host-less "Mmm d hh:mm:ss
// sshd[pid]: ", "[sshd]:", RFC 5424. It only finds where the message starts;
// it interprets nothing, and leaves the time zero.
func fallbackFrame(line string) (logline.Frame, bool) {
	if strings.HasPrefix(line, "<") {
		// <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
		f := strings.SplitN(line, " ", 7)
		if len(f) < 7 || f[3] != "sshd" {
			return logline.Frame{}, false
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			return logline.Frame{}, false
		}
		rest := f[6]
		if strings.HasPrefix(rest, "- ") {
			rest = rest[2:]
		} else {
			// Skip [id k="v" ...] elements; values may hold escaped quotes and brackets.
			for strings.HasPrefix(rest, "[") {
				i, quoted := 1, false
				for ; i < len(rest); i++ {
					c := rest[i]
					if c == '\\' && quoted {
						i++
					} else if c == '"' {
						quoted = !quoted
					} else if c == ']' && !quoted {
						break
					}
				}
				if i >= len(rest) {
					return logline.Frame{}, false
				}
				rest = rest[i+1:]
			}
			rest = strings.TrimPrefix(rest, " ")
		}
		return logline.Frame{Host: []byte(f[2]), Program: []byte("sshd"), PID: pid, Message: []byte(rest)}, true
	}
	if i := strings.Index(line, "sshd["); i >= 0 {
		j := strings.IndexByte(line[i:], ']')
		if j < 0 {
			return logline.Frame{}, false
		}
		pid, err := strconv.Atoi(line[i+5 : i+j])
		if err != nil {
			return logline.Frame{}, false
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(line[i+j+1:], ":"), " ")
		return logline.Frame{Program: []byte("sshd"), PID: pid, Message: []byte(rest)}, true
	}
	if i := strings.Index(line, "[sshd]"); i >= 0 {
		rest := strings.TrimPrefix(strings.TrimPrefix(line[i+6:], ":"), " ")
		return logline.Frame{Program: []byte("sshd"), PID: -1, Message: []byte(rest)}, true
	}
	return logline.Frame{}, false
}
