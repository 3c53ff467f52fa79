package daemon

import (
	"net/netip"
	"slices"
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
	if kept := e.bySource[src][1]; !kept.final || len(kept.text) > report.MaxEvidenceLine {
		t.Errorf("long line kept whole (%d bytes, final %v)", len(kept.text), kept.final)
	}
	if got := e.lines(netip.MustParsePrefix("198.51.100.0/24"), netip.Addr{}); !slices.Equal(got, want) {
		t.Errorf("group lines %q, want %q", got, want)
	}
}
