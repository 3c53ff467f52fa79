package daemon_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
)

// TestManualRefusedBeforeSigning: manual bans and pardons the charter
// would refuse are answered at once with 400 and the reason, instead of
// being signed and waited for until a timeout; trailing data after the JSON
// body is refused too. A valid ban afterwards is decided.
func TestManualRefusedBeforeSigning(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"))
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, body string) (int, time.Duration) {
		req, _ := http.NewRequest(method, "http://"+info.Addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+info.Token)
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(began)
	}
	for _, tc := range []struct{ name, body string }{
		{"wider than the charter allows", `{"value":"10.0.0.0/8"}`},
		{"IPv6 wider than the charter allows", `{"value":"2001:db8::/16"}`},
		{"over the manual duration limit", `{"value":"203.0.113.5","duration":"9000h"}`},
		{"control characters in the reason", `{"value":"203.0.113.5","reason":"a\u0007b"}`},
		{"trailing data", `{"value":"203.0.113.5"}{"value":"203.0.113.6"}`},
	} {
		code, took := send("POST", "/api/decisions", tc.body)
		if code != 400 {
			t.Errorf("%s: HTTP %d, want 400", tc.name, code)
		}
		if took > 2*time.Second {
			t.Errorf("%s: answered after %v; a refusal is immediate", tc.name, took)
		}
	}
	if code, _ := send("POST", "/api/decisions", `{"value":"203.0.113.7","duration":"1h"}`); code != 201 {
		t.Fatalf("a valid manual ban: HTTP %d", code)
	}
	if code, _ := send("DELETE", "/api/decisions?value=203.0.113.7&reason=%07", ""); code != 400 {
		t.Errorf("a pardon with a control character in its reason: HTTP %d, want 400", code)
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsWhatHappens: a ban, a pardon and a refusal each leave one fixed,
// greppable INFO line in the daemon's log.
func TestLogsWhatHappens(t *testing.T) {
	dir := t.TempDir()
	var buf syncBuffer
	logPath := filepath.Join(dir, "auth.log")
	m := startWith(t, filepath.Join(dir, "data"), logPath, func(_ *config.File, o *daemon.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	m.waitTailing()
	appendLines(t, logPath, attack("203.0.113.91", 6)...)
	waitFor(t, 10*time.Second, "the ban", func() bool { return banned(m.d, "203.0.113.91") })
	// The pardon follows the alliance's decision on the member's report
	// (a pardon judged before the report it pardons would not lift it).
	waitFor(t, 10*time.Second, "the report to be decided", func() bool {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Reports["decided"] >= 1
	})
	if code := m.admin("DELETE", "/api/decisions?value=203.0.113.91", nil); code != 200 {
		t.Fatalf("pardon: HTTP %d", code)
	}
	m.adminBody("POST", "/api/decisions", map[string]string{"value": "10.0.0.0/8"}, nil)
	for _, want := range []string{
		`level=INFO msg=ban value=203.0.113.91/32 `,
		`scenario=ssh-bf origin=self `,
		`level=INFO msg=pardon value=203.0.113.91/32 `,
		`level=INFO msg="refused a manual ban" value=10.0.0.0/8 `,
	} {
		waitFor(t, 10*time.Second, "a log line with "+want, func() bool { return strings.Contains(buf.String(), want) })
	}
}
