package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phalanx/testenv"
)

const checkFilter = `[Definition]
failregex = ^\s*\S+ demo\[\d+\]: auth failure for <F-USER>\S+</F-USER> from <HOST>$
ignoreregex = for ignored from
`

const checkLogText = `Dec  6 19:01:45 web1 demo[1]: auth failure for alice from 192.0.2.10
Dec  6 19:01:46 web1 demo[1]: auth failure for bob from 192.0.2.10
# a comment line, skipped as fail2ban-regex skips it
Dec  6 19:01:47 web1 demo[1]: auth failure for carol from 2001:db8::7
Dec  6 19:01:48 web1 demo[1]: auth failure for ignored from 192.0.2.99
Dec  6 19:01:49 web1 demo[1]: auth failure for dave from attacker.example
Dec  6 19:01:50 web1 other[2]: something else
`

func fail2banDir(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "filter.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "filter.d", "demo.conf"), []byte(checkFilter), 0o644); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "demo.log")
	if err := os.WriteFile(log, []byte(checkLogText), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

// TestFail2banCheck runs `phalanx fail2ban-check` as a user would: human
// and JSON output, a log on standard input, and its usage errors.
func TestFail2banCheck(t *testing.T) {
	dir, log := fail2banDir(t)
	code, out, errs := runCLI(t, "", "fail2ban-check", "--fail2ban", dir, "demo", log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"Lines: 6 lines, 1 ignored, 4 matched, 1 missed",
		"192.0.2.10", "2001:db8::7", "attacker.example",
		"(a host name: counted, never banned)",
		"Times: first ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = runCLI(t, checkLogText, "fail2ban-check", "demo", "-", "--fail2ban", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errs)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if rep.Lines != 6 || rep.Matched != 4 || rep.Ignored != 1 || rep.Names != 1 || len(rep.Hosts) != 3 ||
		rep.Hosts[0].Host != "192.0.2.10" || rep.Hosts[0].Count != 2 || rep.First == nil || rep.Last == nil {
		t.Errorf("json report: %+v", rep)
	}
	// A filter given by path.
	if code, out, errs = runCLI(t, "", "fail2ban-check", filepath.Join(dir, "filter.d", "demo.conf"), log); code != 0 || !strings.Contains(out, "4 matched") {
		t.Errorf("filter by path: exit %d %s %s", code, out, errs)
	}
	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fail2ban-check", "demo"}, 2, "name a FILTER and a LOG"},
		{[]string{"fail2ban-check", "--fail2ban", dir, "-o", "xml", "demo", log}, 2, "want human or json"},
		{[]string{"fail2ban-check", "--fail2ban", dir, "absent", log}, 1, filepath.Join("filter.d", "absent") + ".conf"},
		{[]string{"fail2ban-check", "--fail2ban", dir, "demo", filepath.Join(dir, "nolog")}, 1, "no such file"},
	}
	for _, b := range bad {
		if code, _, errs := runCLI(t, "", b.args...); code != b.code || !strings.Contains(errs, b.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", b.args, code, errs, b.code, b.want)
		}
	}
}

// TestFail2banCheckDebian runs Debian's sshd filter over fail2ban's own
// sshd sample, when both are installed.
func TestFail2banCheckDebian(t *testing.T) {
	const logs = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/sshd"
	if _, err := os.Stat(logs); err != nil {
		testenv.Missing(t, "fail2ban's samples are not installed: install the Debian package fail2ban")
	}
	code, out, errs := runCLI(t, "", "fail2ban-check", "sshd[mode=aggressive]", logs, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 148 || rep.Matched < 60 || rep.Engines["regexp2"] == 0 {
		t.Errorf("report %+v", rep)
	}
}

// TestRunCheckFail2ban: run --check with --fail2ban lists the jails that
// would run and the settings not honoured, and fails, naming the file and
// line, when a jail cannot run.
func TestRunCheckFail2ban(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, "f2b", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("filter.d/app.conf", "[Definition]\nfailregex = failed from <HOST>$\n")
	write("jail.conf", "[app]\nenabled = true\nfilter = app\nlogpath = "+log+"\naction = iptables\n")
	code, out, errOut := runCLI(t, "", "run", "--check", "--source", log, "--fail2ban", filepath.Join(dir, "f2b"), "--data", filepath.Join(dir, "data"), "--api", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "fail2ban jail app: filter app") || !strings.Contains(out, "jail.conf:5") {
		t.Errorf("a good jail: exit %d\n%s%s", code, out, errOut)
	}
	write("jail.local", "[broken]\nenabled = true\nfilter = missing\nlogpath = "+log+"\n")
	code, out, errOut = runCLI(t, "", "run", "--check", "--source", log, "--fail2ban", filepath.Join(dir, "f2b"), "--data", filepath.Join(dir, "data"), "--api", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "jail.local:3") || !strings.Contains(out, "fail2ban jail app") {
		t.Errorf("a broken jail beside a good one: exit %d\n%s%s", code, out, errOut)
	}
}

// TestFail2banCheckSeveral: several filters run as one group, each with
// its own report; "all" runs every filter of filter.d.
func TestFail2banCheckSeveral(t *testing.T) {
	dir, log := fail2banDir(t)
	other := "[Definition]\nfailregex = other\\[\\d+\\]: something else from <HOST>$\n"
	if err := os.WriteFile(filepath.Join(dir, "filter.d", "other.conf"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"demo,other", "all"} {
		code, out, errOut := runCLI(t, "", "fail2ban-check", "--fail2ban", dir, "-o", "json", arg, log)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errOut)
		}
		var reps []checkReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatalf("%s: %v\n%s", arg, err, out)
		}
		got := map[string]int{}
		for _, r := range reps {
			got[r.Filter] = r.Matched
		}
		if len(reps) != 2 || got["other"] != 0 || got["demo"] != 4 {
			t.Errorf("%s: reports %v; want demo's 4 failures and other's none (its line names no host)", arg, got)
		}
	}
}
