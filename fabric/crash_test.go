package fabric

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary runs as a child when childEnv is set; childDirEnv and
// childCountEnv pass it the data directory and the number of reports.
const (
	childEnv      = "PHALANX_FABRIC_TEST_CHILD"
	childDirEnv   = "PHALANX_FABRIC_TEST_DIR"
	childCountEnv = "PHALANX_FABRIC_TEST_COUNT"
)

// childMain runs in the child process. Mode "crash" publishes the reports,
// prints "acked N" and waits to be killed. Mode "rss" prints the resident
// set size before and after Start, in kB.
func childMain(mode string) int {
	dir := os.Getenv(childDirEnv)
	switch mode {
	case "crash":
		n, err := strconv.Atoi(os.Getenv(childCountEnv))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: bad count:", err)
			return 2
		}
		f, err := Start(context.Background(), Options{DataDir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: start:", err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for seq := uint64(1); seq <= uint64(n); seq++ {
			got, err := f.Publish(ctx, "alpha", fmt.Sprintf("id-%d", seq), []byte(body(seq)))
			if err != nil || got != seq {
				fmt.Fprintf(os.Stderr, "child: publish %d: seq %d, %v\n", seq, got, err)
				return 1
			}
		}
		fmt.Printf("acked %d\n", n)
		select {} // until SIGKILL
	case "rss":
		before := rssKB()
		began := time.Now()
		f, err := Start(context.Background(), Options{DataDir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: start:", err)
			return 1
		}
		took := time.Since(began)
		if _, err := f.Publish(context.Background(), "alpha", "one", []byte("x")); err != nil {
			fmt.Fprintln(os.Stderr, "child: publish:", err)
			return 1
		}
		runtime.GC()
		fmt.Printf("rss %d %d %d\n", before, rssKB(), took.Microseconds())
		f.Close()
		return 0
	}
	if mode == "member" {
		return clusterChild(dir)
	}
	fmt.Fprintln(os.Stderr, "child: unknown mode", mode)
	return 2
}

// rssKB returns this process's resident set size from /proc, or 0.
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				n, _ := strconv.Atoi(fs[0])
				return n
			}
		}
	}
	return 0
}

// runChild starts the test binary as a child in mode and returns its first
// stdout line; the caller owns the returned command.
func runChild(t testing.TB, mode, dir string, n int) (*exec.Cmd, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir, childCountEnv+"="+strconv.Itoa(n))
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("child %s exited without a report", mode)
		}
		return cmd, line
	case <-time.After(60 * time.Second):
		t.Fatalf("child %s said nothing for 60 s", mode)
	}
	return nil, ""
}

// TestAcknowledgedWritesSurviveSIGKILL kills a member's process right after
// the stream acknowledged its reports, and restarts on the same store.
//
// An acknowledged write is in the kernel's page cache before the ack (a
// single-replica file store writes before it acks), so it survives the
// death of the process with the default SyncInterval. It does not survive a
// power loss or kernel crash within SyncInterval: that needs
// Options.SyncAlways (fsync before every ack) or replication — and phalanx's
// outbox, which republishes what the stream lost.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	cmd, line := runChild(t, "crash", dir, n)
	if line != fmt.Sprintf("acked %d", n) {
		t.Fatalf("child said %q, want \"acked %d\"", line, n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	f := start(t, Options{DataDir: dir})
	if last, err := f.LastSeq(); err != nil || last != n {
		t.Fatalf("after SIGKILL LastSeq() = %d, %v; want %d", last, err, n)
	}
	checkSeqs(t, consume(t, f, 1).waitStream(t, n), 1, body)
	// The dedupe window survived as well: a member that retries a report
	// it never saw acknowledged does not store it twice.
	if seq, err := f.Publish(context.Background(), "alpha", fmt.Sprintf("id-%d", n), []byte(body(n))); err != nil || seq != n {
		t.Fatalf("retrying the last report after the crash = %d, %v; want %d", seq, err, n)
	}
}
