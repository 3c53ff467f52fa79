package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestDecisionsImport imports a CSV file with one bad row in ten into a
// running daemon: the good rows become manual bans (seen through the API),
// the bad ones are listed by line, and the exit status says some were
// refused. A JSON file on standard input with only good rows exits 0.
func TestDecisionsImport(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "auth.log")
	appendTo(t, logPath, time.Now().Format(time.Stamp)+" web1 sshd[1]: Server listening on 0.0.0.0 port 22.")
	p := startDaemon(t, dataDir, "--enforce", "none", "--source", logPath)
	info := waitServing(t, p, dataDir)

	const rows = 10000
	garbage := []string{
		"not-an-address,4h,junk",
		"127.0.0.9,4h,loopback",
		"10.0.0.0/8,4h,too wide",
		"100.64.250.1,100000h,too long",
		"300.1.2.3,4h,no such address",
		"100.64.250.2,4h,ctl \x07 bell",
		"100.64.250.3,forever,bad duration",
		"100.64.250.4,4h,a,b,too many fields",
		",4h,no value",
		"::1,4h,loopback six",
	}
	var b strings.Builder
	b.WriteString("value,duration,reason\n")
	var bad []int // lines
	good := map[string]bool{}
	for i := range rows {
		line := i + 2
		if i%10 == 9 {
			b.WriteString(garbage[i/10%len(garbage)] + "\n")
			bad = append(bad, line)
			continue
		}
		v := fmt.Sprintf("100.%d.%d.%d", 64+i>>16, i>>8&0xff, i&0xff)
		good[v] = true
		fmt.Fprintf(&b, "%s,%dh,list %d\n", v, 1+i%5, i%3)
	}
	file := filepath.Join(dir, "list.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "decisions", "import", "--data", dataDir, file)
	if code != 1 {
		t.Errorf("exit %d with refused rows, want 1\n%s%s", code, out, errs)
	}
	if want := fmt.Sprintf("imported %d of %d rows (csv)", len(good), rows); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	for _, line := range bad[:20] {
		if !strings.Contains(out, fmt.Sprintf("\n  line %d: ", line)) {
			t.Errorf("refused line %d not listed:\n%s", line, out)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("... and %d more refused rows", len(bad)-20)) || strings.Contains(out, fmt.Sprintf("line %d:", bad[20])) {
		t.Errorf("more than the first 20 refused rows listed, or no count of the rest:\n%s", out)
	}
	if want := fmt.Sprintf("%d of %d rows were refused", len(bad), rows); !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q: %s", want, errs)
	}

	var st daemon.Status
	if err := adminGet(info, "/api/status", &st); err != nil {
		t.Fatal(err)
	}
	if st.Decisions != len(good) {
		t.Errorf("%d decisions active, want %d", st.Decisions, len(good))
	}
	if n := st.Reports["published"]; n < 1 || n > 10 {
		t.Errorf("%d reports published for %d bans; want them batched", n, len(good))
	}
	for _, v := range []string{"100.64.0.0", "100.64.15.200", "100.64.39.14"} {
		d, ok := decisionOn(info, v)
		if !good[v] || !ok || d.Origin != "manual" || d.Scenario != "import" {
			t.Errorf("%s: %+v %v, want a manual ban from the import", v, d, ok)
		}
	}
	for _, v := range []string{"127.0.0.9", "100.64.250.1", "100.64.250.2", "100.64.250.3", "100.64.250.4"} {
		if d, ok := decisionOn(info, v); ok {
			t.Errorf("%s banned by a refused row: %+v", v, d)
		}
	}

	// JSON on standard input, every row good: exit 0, and -o json.
	code, out, errs = runCLI(t, `[{"value": "198.51.100.0/24", "duration": "2h", "scenario": "from-json"}, {"value": "2001:db8:7::/48"}]`,
		"decisions", "import", "--data", dataDir, "-o", "json", "-")
	var sum importSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 {
		t.Fatalf("exit %d, output %q (%v), stderr %s", code, out, err, errs)
	}
	if sum.Format != "json" || sum.Imported != 2 || sum.Refused != 0 || sum.Reports != 1 {
		t.Errorf("summary %+v", sum)
	}
	var ds []daemon.DecisionView
	if err := adminGet(info, "/api/decisions?ip=198.51.100.77", &ds); err != nil || len(ds) != 1 ||
		ds[0].Value != "198.51.100.0/24" || !strings.HasSuffix(ds[0].Reason, ": from-json") {
		t.Errorf("the JSON row's ban: %+v %v", ds, err)
	}

	// Arguments.
	if code, _, errs := runCLI(t, "", "decisions", "import", "--data", dataDir, "--format", "xml", file); code != 2 {
		t.Errorf("--format xml: exit %d, %s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "decisions", "import", "--data", dataDir, filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errs, "open the file") {
		t.Errorf("a missing file: exit %d, %s", code, errs)
	}
}
