package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestBouncersAllianceCLI: `bouncers add --alliance` on a member alone (its
// own founder) prints the key alone on stdout, the amendment on stderr;
// list --alliance shows it marked; the bouncer API accepts it until
// `bouncers delete --alliance`, and a plain delete points at --alliance.
func TestBouncersAllianceCLI(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "auth.log")
	os.WriteFile(logPath, nil, 0o600)
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath)
	info := waitServing(t, p, dataDir)

	code, out, errs := runCLI(t, "", "bouncers", "add", "--alliance", "edge", "--data", dataDir)
	key := strings.TrimSpace(out)
	if code != 0 || len(key) != 64 || !strings.Contains(errs, "charter amended") {
		t.Fatalf("bouncers add --alliance: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "", "bouncers", "add", "own", "--data", dataDir); code != 0 || errs != "" || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("bouncers add: exit %d, %q %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", "bouncers", "list", "--alliance", "--data", dataDir)
	if code != 0 || !strings.Contains(out, `"Name":"edge"`) || !strings.Contains(out, `"Alliance":true`) || strings.Contains(out, "own") {
		t.Errorf("bouncers list --alliance: exit %d\n%s", code, out)
	}
	if _, out, _ := runCLI(t, "", "bouncers", "list", "--data", dataDir); !strings.Contains(out, `"Name":"own"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("bouncers list:\n%s", out)
	}
	if code := streamStatus(t, info, key); code != 200 {
		t.Fatalf("the alliance key on the stream: HTTP %d", code)
	}
	if code, _, errs := runCLI(t, "", "bouncers", "delete", "edge", "--data", dataDir); code == 0 || !strings.Contains(errs, "--alliance") {
		t.Errorf("bouncers delete of an alliance key without --alliance: exit %d, %q", code, errs)
	}
	if code, out, errs := runCLI(t, "", "bouncers", "delete", "--alliance", "edge", "--data", dataDir); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("bouncers delete --alliance: exit %d, %q %q", code, out, errs)
	}
	waitUntil(t, 10*time.Second, "the deleted alliance key refused", func() bool { return streamStatus(t, info, key) == http.StatusForbidden })
}

func streamStatus(t *testing.T, info daemon.ClientInfo, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+info.Addr+"/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
