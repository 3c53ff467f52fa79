package daemon

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"phalanx"
	"phalanx/report"
)

// TestEvidenceText: a short line is kept whole; a long one (a 64 KB URI)
// keeps its head (method, path) and tail (status, user agent) with the cut
// marked, and is valid UTF-8 within a report's bound even when a cut splits
// a character.
func TestEvidenceText(t *testing.T) {
	short := `198.51.100.7 - - [06/Dec/2026:16:21:43 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"`
	if got := evidenceText(short, ""); got != short {
		t.Errorf("short line changed: %q", got)
	}
	if got := evidenceText(short, "syslog from 192.0.2.7"); got != "[syslog from 192.0.2.7] "+short {
		t.Errorf("via: %q", got)
	}
	long := `198.51.100.7 - - [06/Dec/2026:16:21:43 +0000] "GET /?q=` + strings.Repeat("é", 32<<10) + ` HTTP/1.1" 414 0 "-" "sqlmap/1.8"`
	got := evidenceText(long, "")
	switch {
	case len(got) > report.MaxEvidenceLine || !utf8.ValidString(got):
		t.Errorf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	case !strings.HasPrefix(got, `198.51.100.7 - - [06/Dec/2026:16:21:43 +0000] "GET /?q=`):
		t.Errorf("head lost: %.80q", got)
	case !strings.HasSuffix(got, `" 414 0 "-" "sqlmap/1.8"`):
		t.Errorf("tail lost: %q", got[len(got)-80:])
	case !strings.Contains(got, "bytes cut]"):
		t.Errorf("cut not marked")
	}
}

// TestEvidenceKeptRaw: lines are kept as read and made fit for a report
// only when one takes them; repeats of one line are kept once, and a long
// line is cut when it is kept.
func TestEvidenceKeptRaw(t *testing.T) {
	e := newEvidence(8)
	src := netip.MustParseAddr("198.51.100.9")
	raw := "Failed password for \x1b[31mroot\xff from 198.51.100.9\rport 22"
	for range 2 {
		e.add(&phalanx.Event{Source: src, Raw: []byte(raw), Via: "syslog from 192.0.2.1"})
	}
	long := strings.Repeat("x", 4000)
	e.add(&phalanx.Event{Source: src, Raw: []byte(long)})
	got := e.lines(netip.PrefixFrom(src, 32), src)
	want := []string{evidenceText(raw, "syslog from 192.0.2.1"), evidenceText(long, "")}
	if !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	for _, l := range got {
		if !utf8.ValidString(l) || strings.ContainsAny(l, "\r\n") || len(l) > report.MaxEvidenceLine {
			t.Errorf("line not fit for a report: %q", l)
		}
	}
	if kept := e.bySource[src].head.line; !kept.final || len(kept.text) > report.MaxEvidenceLine {
		t.Errorf("long line kept whole (%d bytes, final %v)", len(kept.text), kept.final)
	}
	if got := e.lines(netip.MustParsePrefix("198.51.100.0/24"), netip.Addr{}); !slices.Equal(got, want) {
		t.Errorf("group lines %q, want %q", got, want)
	}
}

// TestEvidenceTextShortcut: a short line (returned as it is when fit) is
// what report.EvidenceLine makes of it, for lines with and without
// characters it replaces.
func TestEvidenceTextShortcut(t *testing.T) {
	for _, raw := range []string{
		"", "plain ascii line", "tab\there", "esc \x1b[31m kept", "é and ünïcode", "\uFFFD literal",
		"bad \xff byte", "cr\rin", "lf\nin", "é then \xc3", "é then \n", strings.Repeat("y", report.MaxEvidenceLine+1),
		strings.Repeat("é", 600),
	} {
		if got, want := evidenceText(raw, ""), report.EvidenceLine([]byte(raw)); len(raw) <= evidenceHead+evidenceTail+44 && got != want {
			t.Errorf("evidenceText(%.40q) = %.40q, report.EvidenceLine %.40q", raw, got, want)
		}
	}
}

// TestEvidenceKeepsNewest: a source's evidence is its newest lines, oldest
// first, however many it sent.
func TestEvidenceKeepsNewest(t *testing.T) {
	e := newEvidence(2)
	src := netip.MustParseAddr("2001:db8::7")
	var sent []string
	for i := range 3*evidencePerSource + 5 {
		line := "Failed password for root from 2001:db8::7 port " + strconv.Itoa(i)
		sent = append(sent, line)
		e.add(&phalanx.Event{Source: src, Raw: []byte(line)})
		want := sent[max(0, len(sent)-evidencePerSource):]
		if got := e.lines(netip.PrefixFrom(src, 128), src); !slices.Equal(got, want) {
			t.Fatalf("after %d lines: %q, want %q", i+1, got, want)
		}
		if n := chainLen(e.bySource[src].head); n > evidenceChain {
			t.Fatalf("after %d lines: a chain of %d lines, for %d kept", i+1, n, evidencePerSource)
		}
	}
	for i := range 3 { // more sources than kept: the oldest is forgotten
		e.add(&phalanx.Event{Source: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Raw: []byte("x")})
	}
	if got := e.lines(netip.PrefixFrom(src, 128), src); got != nil {
		t.Errorf("a forgotten source still has evidence: %q", got)
	}
}

// chainLen counts the nodes of n's chain.
func chainLen(n *evNode) int {
	k := 0
	for ; n != nil; n = n.prev {
		k++
	}
	return k
}

// TestEvidenceOfTheLine: the node kept for a line gives the evidence up to
// that line, whatever is kept after it (a tail that parses apart keeps the
// lines after the one being judged), read while more is kept on another
// goroutine; its chain stays bounded however many lines the source sends.
func TestEvidenceOfTheLine(t *testing.T) {
	e := newEvidence(4)
	src := netip.MustParseAddr("203.0.113.5")
	line := func(i int) string { return "Failed password for root from 203.0.113.5 port " + strconv.Itoa(i) }
	const n = 10 * evidencePerSource
	nodes := make(chan *evNode, n)
	go func() {
		defer close(nodes)
		for i := range n {
			ev := phalanx.Event{Source: src, Line: int64(i + 1), Raw: []byte(line(i))}
			nodes <- e.add(&ev)
			// Other sources come and go meanwhile: src is forgotten and
			// kept again, and its nodes handed out stay whole.
			if i%10 == 9 {
				e.add(&phalanx.Event{Source: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Raw: []byte("x")})
			}
		}
	}()
	var first []string // the lines since src was last forgotten
	i := 0
	for node := range nodes {
		if i%40 == 0 { // kept anew: 4 sources at most, the one kept first forgotten first
			first = nil
		}
		first = append(first, line(i))
		got := evidenceReport(node.lines())
		want := first[max(0, len(first)-evidencePerSource):]
		if !slices.Equal(got, want) {
			t.Fatalf("line %d: evidence %q, want %q", i, got, want)
		}
		if node.line.num != int64(i+1) {
			t.Fatalf("line %d: node of line %d", i, node.line.num)
		}
		if c := chainLen(node); c > evidenceChain {
			t.Fatalf("line %d: a chain of %d nodes", i, c)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d nodes, want %d", i, n)
	}
}

// BenchmarkEvidenceFlood: the evidence of a flood of new sources, six
// lines each, every source's evidence taken once (its ban): on the
// pipeline's goroutine (read), and then made fit for a report too (report,
// banLoop's share).
func BenchmarkEvidenceFlood(b *testing.B) {
	b.Run("read", func(b *testing.B) { benchEvidenceFlood(b, false) })
	b.Run("report", func(b *testing.B) { benchEvidenceFlood(b, true) })
}

func benchEvidenceFlood(b *testing.B, report bool) {
	const sources = 100_000
	lines := make([][]byte, 6)
	addrs := make([]netip.Addr, sources)
	for i := range addrs {
		addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 1, 15: 1})
	}
	for j := range lines {
		lines[j] = []byte("Dec  7 10:00:00 web1 sshd[1000]: Failed password for root from 2001:db8:100:1::1 port " + strconv.Itoa(40000+j) + " ssh2")
	}
	b.ReportAllocs()
	for b.Loop() {
		e := newEvidence(8192)
		var ev phalanx.Event
		for _, a := range addrs {
			ev.Source = a
			for _, l := range lines {
				ev.Raw = l
				e.add(&ev)
			}
			kept := e.raw(netip.PrefixFrom(a, 64), a)
			if report {
				evidenceReport(kept)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sources), "ns/source")
}
