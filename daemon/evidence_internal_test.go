package daemon

import (
	"strings"
	"testing"
	"unicode/utf8"

	"phalanx/report"
)

// TestEvidenceText: a short line is kept whole; a long one (a 64 KB URI)
// keeps its head (method, path) and tail (status, user agent) with the cut
// marked, and is valid UTF-8 within a report's bound even when a cut splits
// a character.
func TestEvidenceText(t *testing.T) {
	short := `198.51.100.7 - - [06/Dec/2026:16:21:43 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"`
	if got := evidenceText([]byte(short), ""); got != short {
		t.Errorf("short line changed: %q", got)
	}
	if got := evidenceText([]byte(short), "syslog from 192.0.2.7"); got != "[syslog from 192.0.2.7] "+short {
		t.Errorf("via: %q", got)
	}
	long := `198.51.100.7 - - [06/Dec/2026:16:21:43 +0000] "GET /?q=` + strings.Repeat("é", 32<<10) + ` HTTP/1.1" 414 0 "-" "sqlmap/1.8"`
	got := evidenceText([]byte(long), "")
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
