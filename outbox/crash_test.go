package outbox

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv names the directory a re-executed test binary appends to.
const crashEnv = "OUTBOX_TEST_CRASH_CHILD"

// TestMain lets TestKillLoop run this test binary as the child that
// appends until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashBatch = 3 // records in the batches the child appends now and then

// crashChild appends records forever (with fsync, as a daemon does),
// printing "durable N" once Append has returned for N and "published N"
// once MarkPublished has.
func crashChild(dir string) {
	o, err := Open(dir, Options{SegmentBytes: 16 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for seq := o.Last() + 1; ; {
		n := uint64(1)
		if seq%10 == 0 {
			n = crashBatch
		}
		var recs []Record
		for i := range n {
			recs = append(recs, Record{Seq: seq + i, Time: recTime(seq + i), Data: payload(seq + i)})
		}
		if err := o.AppendBatch(recs); err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(3)
		}
		for i := range n {
			fmt.Fprintf(w, "durable %d\n", seq+i)
		}
		seq += n
		if seq%7 == 0 {
			if err := o.MarkPublished(seq - 4); err != nil {
				fmt.Fprintln(os.Stderr, "mark:", err)
				os.Exit(4)
			}
			fmt.Fprintf(w, "published %d\n", seq-4)
		}
		w.Flush()
	}
}

// TestKillLoop kills a child process that appends records with SIGKILL
// at random moments, ten times. After each kill, the outbox must open,
// hold every seq from 1 to Last() intact, and hold every seq the child
// reported durable.
func TestKillLoop(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	dir := t.TempDir()
	var last, published uint64 // as of the previous round
	for round := range 10 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of lines, 0 to 299, so at a random
		// point of the child's loop: writing, syncing, starting a segment.
		killAt := rng.IntN(300)
		killed := false
		kill := func() {
			if !killed {
				cmd.Process.Kill()
				killed = true
			}
		}
		if killAt == 0 {
			kill()
		}
		durable, lines := last, 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines++
			what, num, ok := strings.Cut(sc.Text(), " ")
			n, err := strconv.ParseUint(num, 10, 64)
			if !ok || err != nil {
				continue // a line cut by the kill
			}
			switch what {
			case "durable":
				durable = max(durable, n)
			case "published":
				published = max(published, n)
			}
			if lines >= killAt {
				kill()
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the child exited by itself: %s", round, stderr.String())
		}

		o, err := Open(dir, Options{SegmentBytes: 16 << 10})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		got := o.Last()
		if got < durable || got > durable+crashBatch {
			t.Fatalf("round %d: Last %d, child reported %d durable (a batch of %d may have made it unreported)", round, got, durable, crashBatch)
		}
		if o.Published() < published || o.Published() > got {
			t.Fatalf("round %d: Published %d, want from %d (reported) to %d (Last)", round, o.Published(), published, got)
		}
		if got > 0 {
			checkStored(t, o, seqs(1, got))
		}
		t.Logf("round %d: killed after %d lines; Last %d (reported durable %d), Published %d", round, lines, got, durable, o.Published())
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		last = got
	}
	if last == 0 {
		t.Fatal("the child never appended anything")
	}
}
