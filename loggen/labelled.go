package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// CasesConfig says what Cases writes. The output depends on nothing else.
type CasesConfig struct {
	Seed  int64
	Start time.Time // time of the first line; zero means DefaultStart
	Host  string    // syslog host name; empty means DefaultHost
}

// Case is one labelled behaviour in the log Cases writes.
type Case struct {
	Name        string       `json:"name"`
	Attack      bool         `json:"attack"` // true: must be banned; false: must never be
	Addrs       []netip.Addr `json:"addrs,omitempty"`
	Prefix      netip.Prefix `json:"prefix,omitzero"` // an IPv6 attacker's /64, when it rotates addresses
	Description string       `json:"description"`
}

// CaseTruth lists the cases of a Cases log.
type CaseTruth struct {
	Cases []Case `json:"cases"`
}

// Cases writes a day of Debian auth.log lines (RFC 3164) holding named,
// labelled behaviours, interleaved in time order: attacks that fail2ban's
// default sshd jail, sshguard or CrowdSec ban (and that a member must ban
// too), and legitimate traffic that nobody may ban. Each case has addresses
// of its own. It complements Generate's stationary mix: Generate is for
// volume, Cases for judging defaults one behaviour at a time.
func Cases(w io.Writer, c CasesConfig) (CaseTruth, error) {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if !validHost(c.Host) {
		return CaseTruth{}, fmt.Errorf("host %q: use a host name of letters, digits, '.', '-' and '_'", c.Host)
	}
	if c.Start.IsZero() {
		t, err := time.Parse(time.RFC3339, DefaultStart)
		if err != nil {
			return CaseTruth{}, err
		}
		c.Start = t
	}
	b := &caseLog{rng: rand.New(rand.NewPCG(uint64(c.Seed), 0x9e3779b97f4a7c15)), start: c.Start.UTC().Truncate(time.Second), host: c.Host, pid: 20000}
	b.build()
	slices.SortStableFunc(b.lines, func(x, y caseLine) int { return x.at.Compare(y.at) })
	bw := bufio.NewWriter(w)
	for _, l := range b.lines {
		bw.WriteString(l.at.Format(time.Stamp))
		bw.WriteByte(' ')
		bw.WriteString(c.Host)
		bw.WriteByte(' ')
		bw.WriteString(l.text)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return CaseTruth{}, fmt.Errorf("write log: %w", err)
	}
	return CaseTruth{Cases: b.cases}, nil
}

type caseLine struct {
	at   time.Time
	text string
}

type caseLog struct {
	rng   *rand.Rand
	start time.Time
	host  string
	pid   int
	lines []caseLine
	cases []Case
}

// add writes "prog[pid]: msg" at offset d.
func (b *caseLog) add(d time.Duration, prog string, pid int, format string, args ...any) {
	b.lines = append(b.lines, caseLine{at: b.start.Add(d), text: fmt.Sprintf("%s[%d]: ", prog, pid) + fmt.Sprintf(format, args...)})
}

func (b *caseLog) newPID() int {
	b.pid += 1 + b.rng.IntN(40)
	return b.pid
}

func (b *caseLog) port() int { return 32768 + b.rng.IntN(28000) }

func (b *caseLog) jitter(max time.Duration) time.Duration {
	return time.Duration(b.rng.Int64N(int64(max)))
}

func (b *caseLog) attack(name, desc string, addrs ...netip.Addr) {
	b.cases = append(b.cases, Case{Name: name, Attack: true, Addrs: addrs, Description: desc})
}

func (b *caseLog) legit(name, desc string, addrs ...netip.Addr) {
	b.cases = append(b.cases, Case{Name: name, Attack: false, Addrs: addrs, Description: desc})
}

func (b *caseLog) build() {
	h := time.Hour
	m := time.Minute
	s := time.Second

	// 1. Exactly fail2ban's threshold: 5 failures within 9.5 minutes.
	a := netip.MustParseAddr("198.51.100.11")
	for _, d := range []time.Duration{0, 2*m + 10*s, 4 * m, 7*m + 40*s, 9*m + 30*s} {
		pid, p := b.newPID(), b.port()
		b.add(h+d, "sshd", pid, "Failed password for root from %s port %d ssh2", a, p)
		b.add(h+d+3*s, "sshd", pid, "Connection closed by authenticating user root %s port %d [preauth]", a, p)
	}
	b.attack("fail2ban-threshold", "5 failed passwords within 9.5 minutes, one per connection", a)

	// 2. Five failures within 28 seconds, on one connection (OpenSSH 9.8+).
	a = netip.MustParseAddr("198.51.100.12")
	pid, p := b.newPID(), b.port()
	b.add(2*h, "sshd-session", pid, "Connection from %s port %d on 192.0.2.1 port 22 rdomain \"\"", a, p)
	for i := range 5 {
		b.add(2*h+time.Duration(i)*7*s, "sshd-session", pid, "Failed password for root from %s port %d ssh2", a, p)
	}
	b.add(2*h+29*s, "sshd-session", pid, "Connection closed by authenticating user root %s port %d [preauth]", a, p)
	b.attack("five-in-28s", "5 failed passwords within 28 seconds on one connection", a)

	// 3. Invalid users, 5 names within 8 minutes.
	a = netip.MustParseAddr("198.51.100.13")
	for i, u := range []string{"admin", "oracle", "test", "ubuntu", "git"} {
		pid, p := b.newPID(), b.port()
		d := 3*h + time.Duration(i)*90*s + b.jitter(20*s)
		b.add(d, "sshd", pid, "Invalid user %s from %s port %d", u, a, p)
		b.add(d+2*s, "sshd", pid, "Failed password for invalid user %s from %s port %d ssh2", u, a, p)
		b.add(d+3*s, "sshd", pid, "Connection closed by invalid user %s %s port %d [preauth]", u, a, p)
	}
	b.attack("invalid-users", "5 invalid user names within 8 minutes", a)

	// 4. A bot on a key-only server, retrying every 15 s: only preauth
	// closes by an authenticating user.
	a = netip.MustParseAddr("198.51.100.14")
	for i := range 10 {
		pid, p := b.newPID(), b.port()
		d := 4*h + time.Duration(i)*15*s
		if i%2 == 0 {
			b.add(d, "sshd-session", pid, "Connection closed by authenticating user root %s port %d [preauth]", a, p)
		} else {
			b.add(d, "sshd-session", pid, "Disconnected from authenticating user root %s port %d [preauth]", a, p)
		}
	}
	b.attack("key-only-bot", "a bot retrying every 15 s against a key-only server: only preauth closes of an authenticating user", a)

	// 5. Kex and banner garbage, 6 within 50 s.
	a = netip.MustParseAddr("198.51.100.15")
	for i := range 6 {
		pid, p := b.newPID(), b.port()
		d := 5*h + time.Duration(i)*10*s
		if i%2 == 0 {
			b.add(d, "sshd", pid, "banner exchange: Connection from %s port %d: invalid format", a, p)
		} else {
			b.add(d, "sshd", pid, "Unable to negotiate with %s port %d: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1,diffie-hellman-group14-sha1 [preauth]", a, p)
		}
	}
	b.attack("kex-garbage", "6 malformed banners and key exchange mismatches within 50 seconds", a)

	// 6. CVE-2024-6387 (regreSSHion) attempts: connections held until the
	// grace time runs out, and corrupted packets before log-in.
	a = netip.MustParseAddr("198.51.100.16")
	for i := range 3 {
		pid, p := b.newPID(), b.port()
		d := 6*h + time.Duration(i)*2*m
		b.add(d, "sshd", pid, "ssh_dispatch_run_fatal: Connection from %s port %d: message authentication code incorrect [preauth]", a, p)
		pid, p = b.newPID(), b.port()
		b.add(d+m, "sshd", pid, "fatal: Timeout before authentication for %s port %d", a, p)
	}
	b.attack("cve-2024-6387", "corrupted packets before log-in and grace-time timeouts, the traces of regreSSHion attempts", a)

	// 7. rsyslog's repeat folding: one line standing for four more.
	a = netip.MustParseAddr("198.51.100.17")
	pid, p = b.newPID(), b.port()
	b.add(7*h, "sshd", pid, "Failed password for root from %s port %d ssh2", a, p)
	b.add(7*h+20*s, "sshd", pid, "message repeated 4 times: [ Failed password for root from %s port %d ssh2]", a, p)
	b.attack("rsyslog-folded", "5 failures, 4 of them folded into rsyslog's 'message repeated 4 times'", a)

	// 8. PAM's line before each of sshd's.
	a = netip.MustParseAddr("198.51.100.18")
	for i := range 5 {
		pid, p := b.newPID(), b.port()
		d := 8*h + time.Duration(i)*40*s
		b.add(d, "sshd", pid, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", a)
		b.add(d+2*s, "sshd", pid, "Failed password for root from %s port %d ssh2", a, p)
	}
	b.attack("pam-pairs", "5 attempts, each logged by pam_unix and then by sshd: counted once each", a)

	// 9. An IPv6 attacker using a fresh address of its /64 per connection.
	pre := netip.MustParsePrefix("2001:db8:77:1::/64")
	for i := range 5 {
		pid, p := b.newPID(), b.port()
		raw := pre.Addr().As16()
		raw[15], raw[14] = byte(1+b.rng.IntN(250)), byte(i+1)
		b.add(9*h+time.Duration(i)*45*s, "sshd", pid, "Failed password for root from %s port %d ssh2", netip.AddrFrom16(raw), p)
	}
	b.cases = append(b.cases, Case{Name: "ipv6-rotation", Attack: true, Prefix: pre, Description: "5 failures from 5 addresses of one IPv6 /64"})

	// 10. Dropbear.
	a = netip.MustParseAddr("198.51.100.20")
	for i := range 5 {
		pid, p := b.newPID(), b.port()
		d := 10*h + time.Duration(i)*20*s
		b.add(d, "dropbear", pid, "Child connection from %s:%d", a, p)
		b.add(d+s, "dropbear", pid, "Bad password attempt for 'root' from %s:%d", a, p)
		b.add(d+2*s, "dropbear", pid, "Exit before auth from <%s:%d>: Exited normally", a, p)
	}
	b.attack("dropbear", "5 bad passwords against Dropbear within 2 minutes", a)

	// 11. A user who mistypes once or twice, then logs in; a few times a day.
	l := netip.MustParseAddr("192.0.2.31")
	for i := range 6 {
		pid, p := b.newPID(), b.port()
		d := time.Duration(i)*3*h + 30*m + b.jitter(30*m)
		for j := range i % 3 {
			b.add(d+time.Duration(j)*8*s, "sshd", pid, "Failed password for alice from %s port %d ssh2", l, p)
		}
		d += 20 * s
		b.add(d, "sshd", pid, "Accepted password for alice from %s port %d ssh2", l, p)
		b.add(d, "sshd", pid, "pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)")
		b.add(d+40*m, "sshd", pid, "Received disconnect from %s port %d:11: disconnected by user", l, p)
		b.add(d+40*m, "sshd", pid, "Disconnected from user alice %s port %d", l, p)
		b.add(d+40*m, "sshd", pid, "pam_unix(sshd:session): session closed for user alice")
	}
	b.legit("typo-then-success", "a user who mistypes her password once or twice, then logs in, six times a day", l)

	// 12. A monitoring check every 30 s for a day: a TCP connect, or a
	// banner check that closes at once.
	l = netip.MustParseAddr("192.0.2.32")
	for i := range 24 * 120 {
		pid, p := b.newPID(), b.port()
		d := time.Duration(i) * 30 * s
		if i%2 == 0 {
			b.add(d, "sshd", pid, "Connection closed by %s port %d [preauth]", l, p)
		} else {
			b.add(d, "sshd", pid, "Did not receive identification string from %s port %d", l, p)
		}
	}
	b.legit("monitoring", "a check that connects and closes every 30 s for 24 hours", l)

	// 13. An ansible run: 50 sessions within 3 minutes.
	l = netip.MustParseAddr("192.0.2.33")
	for i := range 50 {
		pid, p := b.newPID(), b.port()
		d := 11*h + time.Duration(i)*3*s + b.jitter(s)
		b.add(d, "sshd", pid, "Accepted publickey for deploy from %s port %d ssh2: ED25519 SHA256:q0UwQ3lqz5hp1bZ6v0pV7z3k2R0y8vJk3rV5m0cXyZs", l, p)
		b.add(d, "sshd", pid, "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)")
		b.add(d+2*s, "sshd", pid, "Received disconnect from %s port %d:11: disconnected by user", l, p)
		b.add(d+2*s, "sshd", pid, "Disconnected from user deploy %s port %d", l, p)
		b.add(d+2*s, "sshd", pid, "pam_unix(sshd:session): session closed for user deploy")
	}
	b.legit("ansible", "an ansible run opening 50 sessions within 3 minutes", l)

	// 14. A user whose agent offers three keys before the right one.
	l = netip.MustParseAddr("192.0.2.34")
	for i := range 5 {
		pid, p := b.newPID(), b.port()
		d := 12*h + time.Duration(i)*10*m
		for j := range 3 {
			b.add(d+time.Duration(j)*s/4, "sshd", pid, "Failed publickey for bob from %s port %d ssh2: RSA SHA256:k%dx%d", l, p, i, j)
		}
		b.add(d+s, "sshd", pid, "Accepted publickey for bob from %s port %d ssh2: ED25519 SHA256:bobkey", l, p)
	}
	b.legit("many-keys", "a user whose agent offers three keys before the right one, five log-ins within 50 minutes", l)
}
