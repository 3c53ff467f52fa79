package sshd

import (
	"fmt"
	"testing"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/parsertest"
)

// benchFrames builds n framed lines of a realistic mix for an exposed
// server: dictionary attacks on invalid users and root (the bulk), port
// scanners, old clients, and the odd legitimate session. One in eight user
// names is not a common one, so its event allocates the user string.
func benchFrames(n int) []logline.Frame {
	users := []string{"admin", "test", "oracle", "ubuntu", "user", "postgres", "git", "pi"}
	var msgs []struct {
		pid int
		msg string
	}
	add := func(pid int, format string, args ...any) {
		msgs = append(msgs, struct {
			pid int
			msg string
		}{pid, fmt.Sprintf(format, args...)})
	}
	for conn := 0; len(msgs) < n; conn++ {
		pid := 10000 + conn
		addr := fmt.Sprintf("203.0.%d.%d", conn/250%250, conn%250+1)
		port := 30000 + conn%30000
		user := users[conn%len(users)]
		if conn%8 == 7 {
			user = fmt.Sprintf("u%05d", conn)
		}
		switch conn % 10 {
		case 0, 1, 2, 3: // invalid user, one password
			add(pid, "Invalid user %s from %s port %d", user, addr, port)
			add(pid, "pam_unix(sshd:auth): check pass; user unknown")
			add(pid, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s", addr)
			add(pid, "Failed password for invalid user %s from %s port %d ssh2", user, addr, port)
			add(pid, "Received disconnect from %s port %d:11: Bye Bye [preauth]", addr, port)
			add(pid, "Disconnected from invalid user %s %s port %d [preauth]", user, addr, port)
		case 4, 5: // root, several passwords
			for i := 0; i < 3; i++ {
				add(pid, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", addr)
				add(pid, "Failed password for root from %s port %d ssh2", addr, port)
			}
			add(pid, "Connection closed by authenticating user root %s port %d [preauth]", addr, port)
		case 6: // scanner, or a password bot against a key-only server
			if conn%20 == 6 {
				add(pid, "Connection closed by authenticating user root %s port %d [preauth]", addr, port)
				break
			}
			add(pid, "error: kex_exchange_identification: Connection closed by remote host")
			add(pid, "Connection closed by %s port %d", addr, port)
		case 7: // old client or HTTP on port 22
			add(pid, "Unable to negotiate with 2001:db8:%x::1 port %d: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]", conn, port)
			add(pid, "banner exchange: Connection from %s port %d: invalid format", addr, port)
		case 8: // too many keys
			add(pid, "error: maximum authentication attempts exceeded for root from %s port %d ssh2 [preauth]", addr, port)
			add(pid, "Disconnecting authenticating user root %s port %d: Too many authentication failures [preauth]", addr, port)
		case 9: // a legitimate session
			add(pid, "Accepted publickey for deploy from 192.0.2.10 port %d ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eA", port)
			add(pid, "pam_unix(sshd:session): session opened for user deploy(uid=1000) by deploy(uid=0)")
			add(pid, "Received disconnect from 192.0.2.10 port %d:11: disconnected by user", port)
			add(pid, "Disconnected from user deploy 192.0.2.10 port %d", port)
			add(pid, "pam_unix(sshd:session): session closed for user deploy")
		}
	}
	frames := make([]logline.Frame, n)
	for i := range frames {
		frames[i] = logline.Frame{Host: []byte("web1"), Program: []byte("sshd"), PID: msgs[i].pid, Message: []byte(msgs[i].msg)}
	}
	return frames
}

// BenchmarkParse reports the cost of one line of the mix (ns/op, allocs/op
// per line) and the share of lines that yielded events.
func BenchmarkParse(b *testing.B) {
	parsertest.Benchmark(b, New(), benchFrames(4096))
}

// BenchmarkParseNoise is the cost of lines that are not sshd attacks at all.
func BenchmarkParseNoise(b *testing.B) {
	fr := logline.Frame{Host: []byte("web1"), Program: []byte("sshd"), PID: 1,
		Message: []byte("pam_unix(sshd:session): session opened for user deploy(uid=1000) by deploy(uid=0)")}
	p := New()
	var ev phalanx.Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Parse(&fr, &ev)
	}
}

// TestAllocs checks the allocation budget: none per line, except the user
// string of an event with an uncommon user name.
func TestAllocs(t *testing.T) {
	parsertest.Allocs(t, New(), "sshd", "web1", []parsertest.Alloc{
		{Msg: "Failed password for invalid user admin from 203.0.113.9 port 40000 ssh2", Want: 0},
		{Msg: "Failed password for invalid user zyxxy from 203.0.113.9 port 40000 ssh2", Want: 1},
		{Msg: "Connection closed by 2001:db8::9 port 40000 [preauth]", Want: 0},
		{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root", Want: 0},
		{Msg: "error: kex_exchange_identification: Connection closed by remote host", Want: 0},
		{Msg: "Accepted publickey for deploy from 192.0.2.10 port 22 ssh2: ED25519 SHA256:Zm9v", Want: 0},
		{Msg: "pam_unix(sshd:session): session opened for user deploy(uid=1000) by deploy(uid=0)", Want: 0},
		{Msg: "Connection closed by authenticating user root 203.0.113.9 port 40000 [preauth]", Want: 0},
		{Msg: "drop connection #0 from [203.0.113.9]:40000 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime", Want: 0},
		{Msg: "Timeout before authentication for connection from 203.0.113.9 to 192.0.2.200, pid = 4123", Want: 0},
		{Msg: "ssh_dispatch_run_fatal: Connection from 203.0.113.9 port 40000: message authentication code incorrect [preauth]", Want: 0},
		{Msg: "banner exchange: Connection from 203.0.113.9 port 40000: invalid format", Want: 0},
		// the same attempt logged again: nothing new is held
		{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=zyxxy", Want: 0},
	})
}
