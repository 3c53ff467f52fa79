package dropbear

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

// fail2banSample is the annotated Dropbear sample log of Debian's fail2ban
// package.
const fail2banSample = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/dropbear"

// TestFail2banConformance feeds fail2ban's annotated Dropbear sample through
// the parser in file order: every line fail2ban matches must yield an event
// blaming fail2ban's address, and no line it does not match may yield one.
func TestFail2banConformance(t *testing.T) {
	fh, err := os.Open(fail2banSample)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("fail2ban's sample logs are missing (%v); CI must install the fail2ban package", err)
		}
		t.Skipf("fail2ban's sample logs are missing (%v); install the fail2ban package to run this test", err)
	}
	defer fh.Close()
	framer := logline.NewFramer(time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC), time.UTC)
	p := New()
	var annotated, expected, matched, fallback int
	var next map[string]any
	sc := bufio.NewScanner(fh)
	for no := 1; sc.Scan(); no++ {
		text := sc.Text()
		if a, ok := strings.CutPrefix(text, "# failJSON:"); ok {
			next = map[string]any{}
			if err := json.Unmarshal([]byte(a), &next); err != nil {
				t.Fatalf("%d: %v", no, err)
			}
			continue
		}
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		ann := next
		next = nil
		var fr logline.Frame
		if err := framer.Frame([]byte(text), &fr); err != nil || !IsProgram(fr.Program) {
			// A host-less "Mmm dd hh:mm:ss dropbear[pid]: " line, for a
			// framer that does not know it yet: split at the tag.
			i := strings.Index(text, "dropbear[")
			j := strings.Index(text, "]: ")
			if i < 0 || j < i {
				t.Fatalf("%d: cannot frame %q", no, text)
			}
			pid, _ := strconv.Atoi(text[i+len("dropbear[") : j])
			fr = logline.Frame{Program: []byte("dropbear"), PID: pid, Message: []byte(text[j+3:])}
			fallback++
		}
		var ev phalanx.Event
		got := p.Parse(&fr, &ev)
		if ann == nil {
			continue
		}
		annotated++
		match, _ := ann["match"].(bool)
		if !match {
			if got {
				t.Errorf("%d: false positive %v %v: %s", no, ev.Kind, ev.Source, text)
			}
			continue
		}
		host, _ := ann["host"].(string)
		want, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("%d: host %q", no, host)
		}
		expected++
		switch {
		case !got:
			t.Errorf("%d: no event, fail2ban matches %v: %s", no, want, text)
		case ev.Source != phalanx.Normalize(want):
			t.Errorf("%d: blamed %v, fail2ban blames %v: %s", no, ev.Source, want, text)
		default:
			matched++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if expected == 0 {
		t.Fatal("no annotated matches in the sample")
	}
	t.Logf("%s: %d annotated lines, %d matches expected, %d matched, %d lines framed by the test's fallback",
		filepath.Base(fail2banSample), annotated, expected, matched, fallback)
}
