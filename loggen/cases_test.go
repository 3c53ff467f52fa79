package loggen

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// casesRun is one parsed Cases log: its lines, truth, and each case's lines
// (those naming its addresses, and the address-less lines of their pids).
type casesRun struct {
	text   string
	lines  []line
	truth  CaseTruth
	byCase map[string][]line
}

func runCases(t *testing.T, c CasesConfig) casesRun {
	t.Helper()
	var buf bytes.Buffer
	tr, err := Cases(&buf, c)
	if err != nil {
		t.Fatalf("Cases(%+v): %v", c, err)
	}
	start := c.Start
	if start.IsZero() {
		start, _ = time.Parse(time.RFC3339, DefaultStart)
	}
	r := casesRun{text: buf.String(), truth: tr, byCase: map[string][]line{}}
	r.lines = parseAll(t, buf.Bytes(), start.UTC())
	owner := func(a netip.Addr) []string {
		var names []string
		for _, c := range tr.Cases {
			if slices.Contains(c.Addrs, a) || c.Prefix.IsValid() && c.Prefix.Contains(a) {
				names = append(names, c.Name)
			}
		}
		return names
	}
	pidCase := map[string]string{} // prog[pid] -> case
	for _, l := range r.lines {
		addrs := messageAddrs(l.msg)
		if len(addrs) == 0 {
			continue
		}
		var name string
		for _, a := range addrs {
			names := owner(a)
			if len(names) != 1 {
				t.Fatalf("line %d names %s, which belongs to cases %v (want exactly one): %s", l.n, a, names, l.msg)
			}
			if name != "" && names[0] != name {
				t.Fatalf("line %d names addresses of two cases: %s", l.n, l.msg)
			}
			name = names[0]
		}
		pidCase[fmt.Sprintf("%s[%d]", l.prog, l.pid)] = name
	}
	for _, l := range r.lines {
		if name, ok := pidCase[fmt.Sprintf("%s[%d]", l.prog, l.pid)]; ok {
			r.byCase[name] = append(r.byCase[name], l)
		}
	}
	return r
}

// messageAddrs returns every address a message names, except the server's
// own ("on ADDR port 22" of a VERBOSE "Connection from" line).
func messageAddrs(msg string) []netip.Addr {
	var out []netip.Addr
	fields := strings.Fields(msg)
	for i, f := range fields {
		if i > 0 && fields[i-1] == "on" {
			continue
		}
		if _, after, ok := strings.Cut(f, "="); ok {
			f = after
		}
		f = strings.Trim(f, "[]()<>,:")
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, a)
		} else if ap, err := netip.ParseAddrPort(f); err == nil {
			out = append(out, ap.Addr())
		}
	}
	return out
}

// TestCasesDeterministic: the same config gives the same bytes and truth;
// another seed changes the text (ports, pids, jitter) but not the truth.
func TestCasesDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	ta, err := Cases(&a, CasesConfig{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := Cases(&b, CasesConfig{Seed: 7})
	tc, _ := Cases(&c, CasesConfig{Seed: 8})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed gave different bytes")
	}
	if fmt.Sprint(ta) != fmt.Sprint(tb) || fmt.Sprint(ta) != fmt.Sprint(tc) {
		t.Error("the truth differs between runs")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("seeds 7 and 8 gave the same bytes")
	}
}

// TestCasesShapeAndOrder: every line has the RFC 3164 shape (parseAll fails
// otherwise), names the configured host, and is not earlier than the one
// before it, across a new year too; the first line is at Start; both
// sshd and sshd-session write.
func TestCasesShapeAndOrder(t *testing.T) {
	tests := []struct {
		name  string
		start time.Time
		host  string
	}{
		{"default", time.Time{}, ""},
		{"new year", time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC), "bastion-2.example"},
		{"single digit day", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCases(t, CasesConfig{Seed: 1, Start: tt.start, Host: tt.host})
			start, host := tt.start, tt.host
			if start.IsZero() {
				start, _ = time.Parse(time.RFC3339, DefaultStart)
			}
			if host == "" {
				host = DefaultHost
			}
			if !r.lines[0].t.Equal(start) {
				t.Errorf("first line at %s, want %s", r.lines[0].t, start)
			}
			progs := map[string]int{}
			for i, l := range r.lines {
				if l.host != host {
					t.Fatalf("line %d: host %q, want %q", l.n, l.host, host)
				}
				if l.pid < 0 {
					t.Fatalf("line %d: no pid", l.n)
				}
				if i > 0 && l.t.Before(r.lines[i-1].t) {
					t.Fatalf("line %d (%s) is earlier than line %d (%s)", l.n, l.t, i, r.lines[i-1].t)
				}
				progs[l.prog]++
			}
			for _, p := range []string{"sshd", "sshd-session"} {
				if progs[p] == 0 {
					t.Errorf("no %s lines", p)
				}
			}
			if last := r.lines[len(r.lines)-1].t; last.Sub(start) < 23*time.Hour {
				t.Errorf("the log spans %s, want about a day", last.Sub(start))
			}
		})
	}
}

func TestCasesErrors(t *testing.T) {
	for _, host := range []string{"my host", "a:b", strings.Repeat("h", 256)} {
		var buf bytes.Buffer
		if _, err := Cases(&buf, CasesConfig{Host: host}); err == nil {
			t.Errorf("host %q: no error", host)
		}
		if buf.Len() != 0 {
			t.Errorf("host %q: wrote %d bytes despite the error", host, buf.Len())
		}
	}
	if _, err := Cases(&failWriter{n: 100}, CasesConfig{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

// TestCasesTruth: the truth and the text agree. Cases are named once, each
// has addresses of its own, in documentation ranges (never loopback,
// private, unspecified or multicast, which are never banned by design), and
// lines; every line naming an address belongs to one case (runCases fails
// otherwise); and each case's lines do what its label says.
func TestCasesTruth(t *testing.T) {
	docs := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	inDocs := func(a netip.Addr) bool {
		return slices.ContainsFunc(docs, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	for seed := int64(1); seed <= 5; seed++ {
		r := runCases(t, CasesConfig{Seed: seed})
		names := map[string]bool{}
		attacks, legit := 0, 0
		for _, c := range r.truth.Cases {
			if names[c.Name] {
				t.Fatalf("case %q is named twice", c.Name)
			}
			names[c.Name] = true
			if c.Attack {
				attacks++
			} else {
				legit++
			}
			if c.Description == "" {
				t.Errorf("case %q has no description", c.Name)
			}
			if len(c.Addrs) == 0 && !c.Prefix.IsValid() {
				t.Errorf("case %q has no address", c.Name)
			}
			for _, a := range c.Addrs {
				if !inDocs(a) || a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
					t.Errorf("case %q: address %s is not in a documentation range", c.Name, a)
				}
				if !strings.Contains(r.text, a.String()) {
					t.Errorf("case %q: address %s is not in the log", c.Name, a)
				}
			}
			if c.Prefix.IsValid() && (!inDocs(c.Prefix.Addr()) || c.Prefix.Bits() != 64 || c.Prefix != c.Prefix.Masked()) {
				t.Errorf("case %q: prefix %s is not a masked documentation /64", c.Name, c.Prefix)
			}
			ls := r.byCase[c.Name]
			if len(ls) == 0 {
				t.Errorf("case %q has no lines", c.Name)
				continue
			}
			check, ok := caseChecks[c.Name]
			if !ok {
				t.Errorf("case %q: no check that its lines match its label; add one to caseChecks", c.Name)
				continue
			}
			if err := check(c, ls); err != nil {
				t.Errorf("seed %d, case %q (%s): %v", seed, c.Name, c.Description, err)
			}
		}
		if attacks < 9 || legit < 4 {
			t.Errorf("%d attack and %d legitimate cases, want at least 9 and 4", attacks, legit)
		}
	}
}

// having returns the lines whose message contains sub.
func having(ls []line, sub string) []line {
	var out []line
	for _, l := range ls {
		if strings.Contains(l.msg, sub) {
			out = append(out, l)
		}
	}
	return out
}

func span(ls []line) time.Duration { return ls[len(ls)-1].t.Sub(ls[0].t) }

// maxIn is the most lines within any window of length w.
func maxIn(ls []line, w time.Duration) int {
	most := 0
	for i := range ls {
		n := 0
		for j := i; j < len(ls) && ls[j].t.Sub(ls[i].t) <= w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

// followedOnPID reports whether every line of first is followed, on its pid
// and at most within, by a line containing sub.
func followedOnPID(all, first []line, sub string, within time.Duration) bool {
	for _, f := range first {
		ok := false
		for _, l := range all {
			if l.n > f.n && l.pid == f.pid && strings.Contains(l.msg, sub) && l.t.Sub(f.t) <= within {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// caseChecks check each case's lines against its label.
var caseChecks = map[string]func(c Case, ls []line) error{
	"fail2ban-threshold": func(c Case, ls []line) error {
		f := having(ls, "Failed password for root from ")
		pids := map[int]bool{}
		for _, l := range f {
			pids[l.pid] = true
		}
		switch {
		case len(f) != 5:
			return fmt.Errorf("%d failures, want exactly 5", len(f))
		case span(f) > 9*time.Minute+30*time.Second || span(f) < 5*time.Minute:
			return fmt.Errorf("failures span %s, want 5 to 9.5 minutes", span(f))
		case len(pids) < 3:
			return fmt.Errorf("failures on %d connections, want several", len(pids))
		}
		return nil
	},
	"five-in-28s": func(c Case, ls []line) error {
		f := having(ls, "Failed password for ")
		if len(f) != 5 || span(f) > 28*time.Second {
			return fmt.Errorf("%d failures in %s, want 5 within 28 s", len(f), span(f))
		}
		return nil
	},
	"invalid-users": func(c Case, ls []line) error {
		inv := having(ls, "Invalid user ")
		switch {
		case len(inv) != 5 || span(inv) > 10*time.Minute:
			return fmt.Errorf("%d invalid users in %s, want 5 within 10 minutes", len(inv), span(inv))
		case !followedOnPID(ls, inv, "Failed password for invalid user ", 5*time.Second):
			return fmt.Errorf("an invalid user is not followed by its failed password")
		case !followedOnPID(ls, inv, "Connection closed by invalid user ", 5*time.Second):
			return fmt.Errorf("an invalid user is not followed by its preauth close")
		}
		return nil
	},
	"key-only-bot": func(c Case, ls []line) error {
		closed := having(ls, "Connection closed by authenticating user root ")
		disc := having(ls, "Disconnected from authenticating user root ")
		switch {
		case len(closed)+len(disc) != len(ls) || len(ls) < 10:
			return fmt.Errorf("%d lines, %d of them preauth closes of an authenticating user; want 10 or more, all such", len(ls), len(closed)+len(disc))
		case len(closed) == 0 || len(disc) == 0:
			return fmt.Errorf("want both the close and the disconnect wording")
		case len(having(ls, "[preauth]")) != len(ls):
			return fmt.Errorf("a close lacks [preauth]")
		}
		for i := 1; i < len(ls); i++ {
			if d := ls[i].t.Sub(ls[i-1].t); d != 15*time.Second {
				return fmt.Errorf("retries %s apart, want every 15 s", d)
			}
		}
		return nil
	},
	"kex-garbage": func(c Case, ls []line) error {
		banner := having(ls, "banner exchange: Connection from ")
		kex := having(ls, "no matching key exchange method found")
		if len(banner) == 0 || len(kex) == 0 || len(banner)+len(kex) != len(ls) {
			return fmt.Errorf("%d banner and %d kex lines of %d, want both kinds and nothing else", len(banner), len(kex), len(ls))
		}
		if n := maxIn(ls, time.Minute); n < 5 {
			return fmt.Errorf("at most %d within a minute, want 5", n)
		}
		return nil
	},
	"cve-2024-6387": func(c Case, ls []line) error {
		mac := having(ls, "ssh_dispatch_run_fatal: Connection from ")
		mac = having(mac, ": message authentication code incorrect [preauth]")
		if maxIn(mac, 10*time.Minute) < 2 {
			return fmt.Errorf("%d corrupted MACs, want 2 or more within 10 minutes", len(mac))
		}
		if len(having(ls, "Timeout before authentication for ")) == 0 {
			return fmt.Errorf("no grace-time timeouts")
		}
		return nil
	},
	"rsyslog-folded": func(c Case, ls []line) error {
		n := 0
		for _, l := range ls {
			var k int
			var rest string
			switch {
			case strings.HasPrefix(l.msg, "Failed password for root from "):
				n++
			case strings.HasPrefix(l.msg, "message repeated "):
				if _, err := fmt.Sscanf(l.msg, "message repeated %d times: [ %s", &k, &rest); err != nil || !strings.Contains(l.msg, "[ Failed password for root from ") {
					return fmt.Errorf("line %d: %q is not a folded failure", l.n, l.msg)
				}
				n += k
			}
		}
		if len(having(ls, "message repeated ")) == 0 || n != 5 {
			return fmt.Errorf("%d failures counting the folded ones, want 5 with a folded line", n)
		}
		return nil
	},
	"pam-pairs": func(c Case, ls []line) error {
		pam := having(ls, "pam_unix(sshd:auth): authentication failure; ")
		if len(pam) != 5 || !followedOnPID(ls, pam, "Failed password for root from ", 5*time.Second) {
			return fmt.Errorf("%d PAM failures, want 5, each followed by sshd's", len(pam))
		}
		if len(having(ls, "Failed password")) != 5 {
			return fmt.Errorf("want 5 sshd failures")
		}
		return nil
	},
	"ipv6-rotation": func(c Case, ls []line) error {
		f := having(ls, "Failed password for ")
		seen := map[netip.Addr]bool{}
		for _, l := range f {
			for _, a := range messageAddrs(l.msg) {
				seen[a] = true
			}
		}
		switch {
		case !c.Prefix.IsValid() || c.Prefix.Addr().Is4():
			return fmt.Errorf("no IPv6 prefix")
		case len(f) != 5 || span(f) > 10*time.Minute:
			return fmt.Errorf("%d failures in %s, want 5 within 10 minutes", len(f), span(f))
		case len(seen) < 2:
			return fmt.Errorf("%d addresses, want several inside the /64", len(seen))
		}
		return nil
	},
	"dropbear": func(c Case, ls []line) error {
		f := having(ls, "Bad password attempt for ")
		if len(f) != 5 || span(f) > 10*time.Minute {
			return fmt.Errorf("%d bad passwords in %s, want 5 within 10 minutes", len(f), span(f))
		}
		return nil
	},
	"typo-then-success": func(c Case, ls []line) error {
		f := having(ls, "Failed password for alice ")
		acc := having(ls, "Accepted password for alice ")
		switch {
		case len(acc) < 3:
			return fmt.Errorf("%d log-ins, want a few", len(acc))
		case len(f) == 0:
			return fmt.Errorf("no typos")
		case maxIn(f, 10*time.Minute) > 2:
			return fmt.Errorf("%d typos within 10 minutes, want at most 2", maxIn(f, 10*time.Minute))
		case !followedOnPID(ls, f, "Accepted password for alice ", time.Minute):
			return fmt.Errorf("a typo is not followed by a log-in within a minute")
		case len(having(ls, "session opened for user alice")) != len(acc) || len(having(ls, "session closed for user alice")) != len(acc):
			return fmt.Errorf("want a session opened and closed per log-in")
		}
		return nil
	},
	"monitoring": func(c Case, ls []line) error {
		if len(having(ls, "Failed ")) > 0 || len(having(ls, "Invalid user ")) > 0 {
			return fmt.Errorf("a monitoring check tried to log in")
		}
		if span(ls) < 24*time.Hour-30*time.Second {
			return fmt.Errorf("checks span %s, want a day", span(ls))
		}
		for i := 1; i < len(ls); i++ {
			if d := ls[i].t.Sub(ls[i-1].t); d != 30*time.Second {
				return fmt.Errorf("lines %d and %d are %s apart, want one check every 30 s", ls[i-1].n, ls[i].n, d)
			}
		}
		return nil
	},
	"ansible": func(c Case, ls []line) error {
		acc := having(ls, "Accepted publickey for deploy from ")
		switch {
		case len(acc) != 50 || span(acc) > 5*time.Minute:
			return fmt.Errorf("%d sessions in %s, want 50 within a few minutes", len(acc), span(acc))
		case len(having(ls, "Failed")) > 0:
			return fmt.Errorf("an ansible run failed to log in")
		case len(having(ls, "session closed for user deploy")) != 50 || len(having(ls, "Disconnected from user deploy ")) != 50:
			return fmt.Errorf("want each session opened, disconnected and closed")
		}
		return nil
	},
	"many-keys": func(c Case, ls []line) error {
		f := having(ls, "Failed publickey for bob from ")
		acc := having(ls, "Accepted publickey for bob from ")
		if len(acc) == 0 || len(having(ls, "Failed password")) > 0 {
			return fmt.Errorf("want key log-ins only")
		}
		for _, a := range acc {
			n := 0
			for _, l := range f {
				if l.pid == a.pid && l.n < a.n {
					n++
				}
			}
			if n < 3 {
				return fmt.Errorf("log-in on line %d follows %d refused keys, want several", a.n, n)
			}
		}
		return nil
	},
}
