package main

import (
	"context"
	"net"
	"regexp"

	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"phalanx/netns"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestMain lets a test start the phalanx command itself: the test binary
// re-executed with PHALANX_TEST_MAIN=1 runs main with the remaining args.
func TestMain(m *testing.M) {
	if os.Getenv("PHALANX_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a `phalanx run` child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(t *testing.T, dataDir string, args ...string) *proc {
	t.Helper()
	return startDaemonIn(t, nil, dataDir, args...)
}

// startDaemonIn starts `phalanx run` inside ns (nil: this namespace).
func startDaemonIn(t *testing.T, ns *netns.NS, dataDir string, args ...string) *proc {
	t.Helper()
	// A stale address file would let the test talk to a dead daemon.
	os.Remove(filepath.Join(dataDir, "api.addr"))
	args = append([]string{"run", "--data", dataDir, "--api", "127.0.0.1:0"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	if ns != nil {
		cmd = ns.Exec(context.Background(), os.Args[0], args...)
	}
	cmd.Env = append(os.Environ(), "PHALANX_TEST_MAIN=1")
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(dataDir), "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func adminGet(info daemon.ClientInfo, path string, out any) error {
	return adminGetVia(http.DefaultClient, info, path, out)
}

// clientIn returns an HTTP client whose connections are made inside ns.
func clientIn(ns *netns.NS) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
}

func adminGetVia(hc *http.Client, info daemon.ClientInfo, path string, out any) error {
	req, _ := http.NewRequest("GET", "http://"+info.Addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitServing waits until the daemon answers its status route.
func waitServing(t *testing.T, p *proc, dataDir string) daemon.ClientInfo {
	t.Helper()
	return waitServingVia(t, http.DefaultClient, p, dataDir)
}

func waitServingVia(t *testing.T, hc *http.Client, p *proc, dataDir string) daemon.ClientInfo {
	t.Helper()
	var info daemon.ClientInfo
	waitUntil(t, 30*time.Second, "the daemon to serve", func() bool {
		select {
		case <-p.done:
			t.Fatalf("daemon exited: see %s", filepath.Join(filepath.Dir(dataDir), "daemon.log"))
		default:
		}
		var err error
		if info, err = daemon.ReadClientInfo(dataDir); err != nil {
			return false
		}
		var st daemon.Status
		return adminGetVia(hc, info, "/api/status", &st) == nil
	})
	return info
}

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Join(lines, "\n") + "\n")
	f.Close()
}

func bruteForce(addr string, n int) []string {
	ts := time.Now().Format(time.Stamp)
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 3000+i, addr, 50000+i))
	}
	return out
}

// killLoop starts `phalanx run` (inside ns; here when ns is nil) rounds
// times; each time it writes a brute force by a new attacker to the tailed
// log and kills the daemon with SIGKILL at a random moment: before, during
// or after the ban is made, published and stored. It returns the attackers.
func killLoop(t *testing.T, ns *netns.NS, hc *http.Client, dataDir, logPath string, rounds int, seed uint64, args ...string) []string {
	t.Helper()
	appendTo(t, logPath, time.Now().Format(time.Stamp)+" web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var attackers []string
	for i := 0; i < rounds; i++ {
		p := startDaemonIn(t, ns, dataDir, args...)
		waitServingVia(t, hc, p, dataDir)
		addr := fmt.Sprintf("198.51.100.%d", 10*int(seed)+i)
		attackers = append(attackers, addr)
		appendTo(t, logPath, bruteForce(addr, 8)...)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		p.kill()
	}
	return attackers
}

// bannedOnce waits until the daemon holds a decision for every attacker and
// checks that each has exactly one and that there are no others.
func bannedOnce(t *testing.T, hc *http.Client, info daemon.ClientInfo, attackers []string) {
	t.Helper()
	var ds []daemon.DecisionView
	deadline := time.Now().Add(60 * time.Second)
	for adminGetVia(hc, info, "/api/decisions", &ds) != nil || len(ds) < len(attackers) {
		if time.Now().After(deadline) {
			have := map[string]bool{}
			for _, d := range ds {
				have[d.Value] = true
			}
			var missing []string
			for _, a := range attackers {
				if !have[a] {
					missing = append(missing, a)
				}
			}
			t.Fatalf("after 60s %d decisions for %d attackers; not banned: %v", len(ds), len(attackers), missing)
		}
		time.Sleep(50 * time.Millisecond) // the poll interval, not synchronisation
	}
	count := map[string]int{}
	for _, d := range ds {
		count[d.Value]++
	}
	for _, a := range attackers {
		if count[a] != 1 {
			t.Errorf("%s has %d decisions, want exactly 1", a, count[a])
		}
	}
	if len(ds) != len(attackers) {
		t.Errorf("%d decisions, want %d: %+v", len(ds), len(attackers), ds)
	}
}

// TestKill9Loop kills the daemon with SIGKILL at random moments while
// attacks are written to its log; after the last restart every attacker is
// banned exactly once: no decision lost, none duplicated.
func TestKill9Loop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the daemon several times")
	}
	dir := t.TempDir()
	dataDir, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "auth.log")
	args := []string{"--enforce", "none", "--source", logPath}
	attackers := killLoop(t, nil, http.DefaultClient, dataDir, logPath, 6, 1, args...)
	p := startDaemonIn(t, nil, dataDir, args...)
	bannedOnce(t, http.DefaultClient, waitServing(t, p, dataDir), attackers)
	// A clean stop keeps everything as well.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM within 20s")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestKill9LoopEnforcing is TestKill9Loop with nftables enforcement inside a
// network namespace: after the last restart the kernel's ban set holds
// exactly the attackers, reconciled with the decision table.
func TestKill9LoopEnforcing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the daemon several times")
	}
	ns := netns.New(t)
	hc := clientIn(ns)
	dir := t.TempDir()
	dataDir, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "auth.log")
	args := []string{"--enforce", "nftables", "--source", logPath}
	attackers := killLoop(t, ns, hc, dataDir, logPath, 5, 3, args...)
	// A stale element the table does not know: reconciling must remove it.
	if out, err := ns.Exec(context.Background(), "nft", "add", "element", "inet", "phalanx", "ban4", "{ 192.0.2.99 timeout 1h }").CombinedOutput(); err != nil {
		t.Fatalf("add a stale element: %v %s", err, out)
	}
	p := startDaemonIn(t, ns, dataDir, args...)
	bannedOnce(t, hc, waitServingVia(t, hc, p, dataDir), attackers)
	elem := regexp.MustCompile(`\d+\.\d+\.\d+\.\d+`)
	var set []string
	waitUntil(t, 10*time.Second, "the kernel set to equal the table", func() bool {
		out, err := ns.Exec(context.Background(), "nft", "list", "set", "inet", "phalanx", "ban4").Output()
		if err != nil {
			return false
		}
		body := string(out)
		if i := strings.Index(body, "elements"); i >= 0 {
			body = body[i:]
		} else {
			body = ""
		}
		set = elem.FindAllString(body, -1)
		return len(set) == len(attackers)
	})
	got := map[string]bool{}
	for _, a := range set {
		got[a] = true
	}
	for _, a := range attackers {
		if !got[a] {
			t.Errorf("%s missing from the kernel set %v", a, set)
		}
	}
	if got["192.0.2.99"] {
		t.Error("the stale element survived reconciliation")
	}
}
