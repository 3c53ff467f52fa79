package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleCommand runs `phalanx console` against a real daemon: the
// link it prints signs in once.
func TestConsoleCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon")
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", filepath.Join(dir, "auth.log"))
	waitServing(t, p, dataDir)
	for _, ro := range []bool{false, true} {
		args := []string{"console", "--data", dataDir}
		if ro {
			args = append(args, "--read-only")
		}
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 0 {
			t.Fatalf("phalanx console: %d %s", code, errb.String())
		}
		var link string
		for _, l := range strings.Split(out.String(), "\n") {
			if s, ok := strings.CutPrefix(l, "login link: "); ok {
				link = s
			}
		}
		if !strings.Contains(out.String(), "/ui/\n") || !strings.Contains(link, "/ui/login?t=") {
			t.Fatalf("output:\n%s", out.String())
		}
		want := "(admin,"
		if ro {
			want = "(viewer,"
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output without %s:\n%s", want, out.String())
		}
		hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for i, wantCode := range []int{http.StatusSeeOther, http.StatusForbidden} {
			resp, err := hc.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != wantCode {
				t.Fatalf("use %d of the link: %s, want %d", i+1, resp.Status, wantCode)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"console", "extra"}, nil, &out, &errb); code != 2 {
		t.Fatalf("phalanx console extra: exit %d", code)
	}
}
