package sshd

import (
	"fmt"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// parseAll feeds "sshd[pid]: msg" lines at their offsets and returns every
// event (Parse, then Next).
func parseAll(t *testing.T, lines []heldLine) []phalanx.Event {
	t.Helper()
	p := New()
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var out []phalanx.Event
	for _, l := range lines {
		fr := logline.Frame{Time: base.Add(l.at), Host: []byte("h"), Program: []byte("sshd"), PID: l.pid, Message: []byte(l.msg)}
		var ev phalanx.Event
		for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
			out = append(out, ev)
			ev = phalanx.Event{}
		}
	}
	return out
}

type heldLine struct {
	at  time.Duration
	pid int
	msg string
}

func pam(addr, user string) string {
	return "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=" + addr + "  user=" + user
}

// TestHeldPAMFailures: a pam_unix failure that its connection never
// confirms nor denies counts once its grace has passed, whatever line comes
// next; confirmed by sshd's own line it counts once; followed by a
// successful log-in it never counts.
func TestHeldPAMFailures(t *testing.T) {
	var only []heldLine
	for i := range 6 {
		only = append(only, heldLine{time.Duration(i) * 40 * time.Second, 100 + i, pam("203.0.113.9", "root")})
	}
	evs := parseAll(t, only)
	if len(evs) != 5 {
		t.Fatalf("six PAM-only attempts 40 s apart: %d events, want 5 (the last still within its grace): %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.Kind != phalanx.KindAuthFailure || ev.Source.String() != "203.0.113.9" || ev.User != "root" {
			t.Errorf("event %+v", ev)
		}
	}

	var pairs []heldLine
	for i := range 5 {
		at := time.Duration(i) * 40 * time.Second
		pairs = append(pairs, heldLine{at, 200 + i, pam("203.0.113.10", "root")},
			heldLine{at + 2*time.Second, 200 + i, fmt.Sprintf("Failed password for root from 203.0.113.10 port %d ssh2", 5000+i)})
	}
	pairs = append(pairs, heldLine{10 * time.Minute, 999, "Connection from 192.0.2.1 port 1 on 192.0.2.2 port 22"})
	if evs := parseAll(t, pairs); len(evs) != 5 {
		t.Errorf("five PAM and Failed pairs: %d events, want 5: %+v", len(evs), evs)
	}

	ok := []heldLine{
		{0, 300, pam("192.0.2.77", "alice")},
		{time.Second, 300, "Accepted password for alice from 192.0.2.77 port 6000 ssh2"},
		{5 * time.Minute, 301, "Connection from 192.0.2.1 port 1 on 192.0.2.2 port 22"},
	}
	if evs := parseAll(t, ok); len(evs) != 0 {
		t.Errorf("PAM failure then a successful log-in: %d events, want none: %+v", len(evs), evs)
	}
}
