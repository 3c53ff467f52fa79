package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx/daemon"
)

func decisionOn(info daemon.ClientInfo, addr string) (daemon.DecisionView, bool) {
	var ds []daemon.DecisionView
	if adminGet(info, "/api/decisions?ip="+addr, &ds) != nil {
		return daemon.DecisionView{}, false
	}
	for _, d := range ds {
		if d.Value == addr {
			return d, true
		}
	}
	return daemon.DecisionView{}, false
}

// TestReloadOnSIGHUP makes a scenario stricter in the config file, sends
// SIGHUP, and checks that detection follows the new file while bans stay.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "auth.log")
	cfgPath := filepath.Join(dir, "phalanx.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("decisions:\n  duration: 1h\n")
	appendTo(t, logPath, time.Now().Format(time.Stamp)+" web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath, "--config", cfgPath)
	info := waitServing(t, p, dataDir)
	status := func() daemon.Status {
		var st daemon.Status
		adminGet(info, "/api/status", &st)
		return st
	}

	// Three failures: below the default brute-force threshold.
	appendTo(t, logPath, bruteForce("198.51.100.101", 3)...)
	waitUntil(t, 10*time.Second, "three events", func() bool { return status().Pipeline["events"] >= 3 })
	if st := status(); st.Pipeline["alerts"] != 0 {
		t.Fatalf("three failures raised an alert with the default scenarios: %v", st.Pipeline)
	}

	write(`detection:
  scenarios:
    - name: ssh-bf-strict
      type: leaky
      kinds: [auth-failure]
      capacity: 2
      leak: 10s
      blackhole: 1m
`)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, 10*time.Second, "the reload", func() bool { return status().Reloads == 1 })
	appendTo(t, logPath, bruteForce("198.51.100.102", 3)...)
	waitUntil(t, 10*time.Second, "a ban by the reloaded scenario", func() bool {
		d, ok := decisionOn(info, "198.51.100.102")
		return ok && d.Scenario == "ssh-bf-strict"
	})

	// A broken config is refused, named in the log, and the running one kept.
	write("decisions:\n  duraton: 1h\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, 10*time.Second, "the refusal in the log", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		return strings.Contains(string(b), "duraton")
	})
	appendTo(t, logPath, bruteForce("198.51.100.103", 3)...)
	waitUntil(t, 10*time.Second, "a ban after the failed reload", func() bool { _, ok := decisionOn(info, "198.51.100.103"); return ok })
	if n := status().Reloads; n != 1 {
		t.Errorf("%d reloads counted: the broken config must not count", n)
	}
	if _, ok := decisionOn(info, "198.51.100.102"); !ok {
		t.Error("a reload lost a ban")
	}
}

// TestFullDisk puts the data directory on a tiny tmpfs and fills it: the
// daemon keeps banning locally, counts and logs the failed publishes, and
// after a restart with space again nothing is lost.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dataDir).Run() })
	logPath := filepath.Join(dir, "auth.log")
	appendTo(t, logPath, time.Now().Format(time.Stamp)+" web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath)
	info := waitServing(t, p, dataDir)

	// Fill the disk.
	filler := filepath.Join(dataDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	appendTo(t, logPath, bruteForce("198.51.100.201", 8)...)
	waitUntil(t, 15*time.Second, "the self-defense ban despite the full disk", func() bool {
		_, ok := decisionOn(info, "198.51.100.201")
		return ok
	})
	waitUntil(t, 30*time.Second, "a counted publish error", func() bool {
		var st daemon.Status
		return adminGet(info, "/api/status", &st) == nil && st.Reports["publish_errors"] > 0
	})
	var logData []byte
	waitUntil(t, 30*time.Second, "the log to say clearly that storing and publishing failed", func() bool {
		logData, _ = os.ReadFile(filepath.Join(dir, "daemon.log"))
		return strings.Contains(string(logData), "publish report") && strings.Contains(string(logData), "store a report in the outbox")
	})

	// Make room and restart: the ban comes back and is stored this time.
	p.kill()
	os.Remove(filler)
	p = startDaemon(t, dataDir, "--enforce", "none", "--source", logPath)
	info = waitServing(t, p, dataDir)
	waitUntil(t, 30*time.Second, "the ban after the restart", func() bool { _, ok := decisionOn(info, "198.51.100.201"); return ok })
	waitUntil(t, 30*time.Second, "the report to be stored", func() bool {
		var st daemon.Status
		return adminGet(info, "/api/status", &st) == nil && st.Reports["published"] > 0
	})
}
