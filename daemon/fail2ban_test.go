package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/parser/parsertest"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startFail2ban starts a member that runs the fail2ban configuration in
// f2b besides tailing logPath.
func startFail2ban(t *testing.T, dir, logPath, f2b string) *member {
	t.Helper()
	return startWith(t, filepath.Join(dir, "data"), logPath, func(c *config.File, _ *daemon.Options) { c.Daemon.Fail2ban = f2b })
}

// selfDefense returns the scenario and length of the member's own
// (self-defense) decision on addr; the alliance's decision that follows
// lasts what the charter says.
func selfDefense(m *member, addr string) (string, time.Duration) {
	var ex daemon.Explanation
	m.admin("GET", "/api/explain?address="+addr, &ex)
	for _, e := range ex.Timeline {
		if e.What == "decision" && e.Origin == "self" {
			return e.Scenario, e.Until.Sub(e.Time)
		}
	}
	return "", 0
}

// TestFail2banJails: a hand-written fail2ban configuration's jail runs as
// the daemon's own: its filter finds the failures in its log, its maxretry
// bans for its bantime, its ignoreip is never banned, and a jail whose
// filter is missing does not stop it.
func TestFail2banJails(t *testing.T) {
	dir := t.TempDir()
	f2b := filepath.Join(dir, "fail2ban")
	appLog := filepath.Join(dir, "myapp.log")
	writeFile(t, appLog, "")
	writeFile(t, filepath.Join(f2b, "jail.conf"), `[DEFAULT]
bantime = 1h
findtime = 10m
maxretry = 5
ignoreip = 127.0.0.1/8 203.0.113.181

[myapp]
enabled = true
filter = myapp
logpath = `+appLog+`
maxretry = 3
bantime = 2h

[broken]
enabled = true
filter = nosuchfilter
logpath = `+appLog+`
`)
	writeFile(t, filepath.Join(f2b, "filter.d", "myapp.conf"), `[Definition]
failregex = myapp\[\d+\]: login failed for <F-USER>\S+</F-USER> from <HOST>$
ignoreregex =
`)
	m := startFail2ban(t, dir, filepath.Join(dir, "auth.log"), f2b)
	waitFor(t, 10*time.Second, "the jail's log to be watched", func() bool {
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return strings.Contains(strings.Join(st.Sources, " "), appLog)
	})
	line := func(addr string, i int) string {
		return fmt.Sprintf("%s web1 myapp[%d]: login failed for bob from %s", time.Now().Format(time.Stamp), 100+i, addr)
	}
	// The tail begins at the end of the file: wait until it reads.
	waitFor(t, 10*time.Second, "the tail to read the jail's log", func() bool {
		appendLines(t, appLog, time.Now().Format(time.Stamp)+" web1 myapp[1]: started")
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["lines"] > 0
	})
	const attacker, ignored, below = "203.0.113.180", "203.0.113.181", "203.0.113.182"
	var lines []string
	for i := range 3 {
		lines = append(lines, line(ignored, i), line(attacker, i))
	}
	lines = append(lines, line(below, 0), line(below, 1))
	appendLines(t, appLog, lines...)
	waitFor(t, 10*time.Second, "the jail's ban", func() bool { return banned(m.d, attacker) })
	if sc, d := selfDefense(m, attacker); sc != "f2b-myapp" || d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("the self-defense ban is by %q for %v; want f2b-myapp for the jail's 2h", sc, d)
	}
	if banned(m.d, ignored) {
		t.Errorf("the jail's ignoreip address is banned")
	}
	if banned(m.d, below) {
		t.Errorf("two failures banned under maxretry 3")
	}
}

// TestDebianFail2ban: Debian's own fail2ban configuration, as installed,
// with a jail.local that points its sshd and postfix jails at test logs:
// both jails run with Debian's filters and ban.
func TestDebianFail2ban(t *testing.T) {
	parsertest.RequireSamples(t, "sshd") // the fail2ban package
	dir := t.TempDir()
	f2b := filepath.Join(dir, "fail2ban")
	if out, err := exec.Command("cp", "-a", "/etc/fail2ban", f2b).CombinedOutput(); err != nil {
		t.Fatalf("copy /etc/fail2ban: %v: %s", err, out)
	}
	authLog, mailLog := filepath.Join(dir, "auth.log"), filepath.Join(dir, "mail.log")
	writeFile(t, authLog, "")
	writeFile(t, mailLog, "")
	writeFile(t, filepath.Join(f2b, "jail.d", "zz-test.local"), `[sshd]
enabled = true
backend = polling
logpath = `+authLog+`

[postfix-sasl]
enabled = true
backend = polling
logpath = `+mailLog+`
`)
	// The member's own source is another file: the jails' logs are
	// watched because of the jails.
	m := startFail2ban(t, dir, filepath.Join(dir, "other.log"), f2b)
	waitFor(t, 10*time.Second, "the tails to read", func() bool {
		appendLines(t, authLog, time.Now().Format(time.Stamp)+" web1 CRON[9]: (root) CMD (true)")
		appendLines(t, mailLog, time.Now().Format(time.Stamp)+" mx1 postfix/qmgr[9]: warning: nothing")
		var st daemon.Status
		m.admin("GET", "/api/status", &st)
		return st.Pipeline["lines"] >= 2
	})
	const sshAttacker, mailAttacker = "203.0.113.190", "203.0.113.191"
	ts := time.Now().Format(time.Stamp)
	var ssh, mail []string
	for i := range 6 {
		ssh = append(ssh, fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 500+i, sshAttacker, 40000+i))
		mail = append(mail, fmt.Sprintf("%s mx1 postfix/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", ts, 600+i, mailAttacker))
	}
	appendLines(t, authLog, ssh...)
	appendLines(t, mailLog, mail...)
	for _, a := range []string{sshAttacker, mailAttacker} {
		waitFor(t, 10*time.Second, a+" banned", func() bool { return banned(m.d, a) })
	}
	// The built-in parsers read the same lines: the first scenario to fire
	// bans; both the jail's and the built-in one are in the alerts.
	var alerts []map[string]any
	m.admin("GET", "/api/alerts", &alerts)
	seen := map[string]bool{}
	for _, a := range alerts {
		seen[fmt.Sprint(a["scenario"])] = true
	}
	for _, want := range []string{"f2b-sshd", "f2b-postfix-sasl"} {
		if !seen[want] {
			t.Errorf("no alert of %s; alerts %v", want, seen)
		}
	}
}
