package daemon_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/testenv"
)

// journalFiles writes journal files with the real systemd-journal-remote,
// from export-format entries of sshd.
type journalFiles struct {
	t      *testing.T
	dir    string
	remote string
	seq    int
}

func newJournalFiles(t *testing.T) *journalFiles {
	testenv.Program(t, "systemd", "journalctl")
	remote := testenv.Program(t, "systemd-journal-remote", "systemd-journal-remote", "/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
	dir := filepath.Join(t.TempDir(), "journal")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &journalFiles{t: t, dir: dir, remote: remote}
}

// write appends sshd messages, one entry each, dated now.
func (j *journalFiles) write(msgs ...string) {
	j.t.Helper()
	var b bytes.Buffer
	now := time.Now()
	for _, m := range msgs {
		j.seq++
		us := now.UnixMicro() + int64(j.seq)
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0f6c7e3b8a9d4c1e9b2a3c4d5e6f7a8b\n", us, us)
		fmt.Fprintf(&b, "_HOSTNAME=deb12\nSYSLOG_IDENTIFIER=sshd-session\n_PID=%d\n_SYSTEMD_UNIT=ssh.service\nPRIORITY=6\nMESSAGE=%s\n\n", 4000+j.seq, m)
	}
	cmd := exec.Command(j.remote, "--output="+filepath.Join(j.dir, "remote.journal"), "--split-mode=none", "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		j.t.Fatalf("systemd-journal-remote: %v: %s", err, out)
	}
}

func failuresFrom(addr string, n, port int) []string {
	var out []string
	for i := range n {
		out = append(out, "Failed password for root from "+addr+" port "+strconv.Itoa(port+i)+" ssh2")
	}
	return out
}

// linesRead reads the daemon's line counter for one source.
func linesRead(t *testing.T, d *daemon.Daemon, src string) int {
	resp, err := http.Get("http://" + d.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^phalanx_source_lines_total\{source="` + regexp.QuoteMeta(src) + `"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestJournalOnStockDebian is a Debian 12-style host: no auth.log, sshd in
// the journal. `phalanx run` with no source chooses the journal's sshd
// entries and bans a brute force written there; entries written while the
// daemon is down are read after its restart, and none twice.
func TestJournalOnStockDebian(t *testing.T) {
	jf := newJournalFiles(t)
	jf.write("Server listening on 0.0.0.0 port 22.")
	dir := t.TempDir()
	start := func() *member {
		return startWith(t, filepath.Join(dir, "data"), "", func(c *config.File, o *daemon.Options) {
			c.Daemon.Sources = nil
			c.Daemon.JournalDirectory = jf.dir
			o.DefaultLogs = []string{filepath.Join(dir, "auth.log"), filepath.Join(dir, "secure")} // neither exists
			o.DefaultWebLogs = []string{}                                                          // nor web servers' logs
		})
	}
	m := start()
	var st daemon.Status
	m.admin("GET", "/api/status", &st)
	if len(st.Sources) != 1 || st.Sources[0] != "journal:sshd" {
		t.Fatalf("sources %v: want the journal's sshd entries", st.Sources)
	}
	// The source starts at the journal's end: write until it reads.
	waitFor(t, 20*time.Second, "the journal source to read an entry", func() bool {
		jf.write("Connection from 192.0.2.10 port 50000 on 192.0.2.1 port 22 rdomain \"\"")
		return linesRead(t, m.d, "journal:sshd") > 0
	})
	jf.write(failuresFrom("203.0.113.90", 5, 40000)...)
	waitFor(t, 10*time.Second, "a ban on 203.0.113.90", func() bool { return banned(m.d, "203.0.113.90") })

	// Down, then up: what was written meanwhile is read, once.
	m.stop()
	jf.write(failuresFrom("203.0.113.91", 5, 41000)...)
	m2 := start()
	waitFor(t, 20*time.Second, "a ban on 203.0.113.91, written while the daemon was down", func() bool { return banned(m2.d, "203.0.113.91") })
	jf.write("Server listening on 0.0.0.0 port 22.")
	waitFor(t, 10*time.Second, "the next entry", func() bool { return linesRead(t, m2.d, "journal:sshd") >= 6 })
	if n := linesRead(t, m2.d, "journal:sshd"); n != 6 {
		t.Errorf("the restarted daemon read %d entries, want 6: the 5 written while it was down and 1 after, none twice", n)
	}
}

// TestJournalctlMissing: a journal source without journalctl fails at start
// and says what to install.
func TestJournalctlMissing(t *testing.T) {
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{"journal:sshd"}
	_, err := daemon.New(t.Context(), daemon.Options{DataDir: t.TempDir(), Config: cfg, Journalctl: filepath.Join(t.TempDir(), "journalctl")})
	if err == nil || !strings.Contains(err.Error(), "install systemd") {
		t.Fatalf("error %v, want one saying to install systemd", err)
	}
}
