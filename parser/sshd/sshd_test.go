package sshd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/logline"
)

// feed parses one message as if sshd[pid] on host had logged it at t, and
// returns its events (Parse's, then Next's).
func feed(p *Parser, host string, pid int, t time.Time, msg string) []phalanx.Event {
	fr := logline.Frame{Time: t, Host: []byte(host), Program: []byte("sshd"), PID: pid, Message: []byte(msg)}
	var evs []phalanx.Event
	var ev phalanx.Event
	for ok := p.Parse(&fr, &ev); ok; ok = p.Next(&ev) {
		evs = append(evs, ev)
		if len(evs) > 2 {
			panic("more than two events for one line")
		}
	}
	return evs
}

// describe writes a line's events as "kind source "user"", joined by " + ".
func describe(evs []phalanx.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = fmt.Sprintf("%v %v %q", ev.Kind, ev.Source, ev.User)
	}
	return strings.Join(s, " + ")
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one line of a connection and the event it must yield ("" = none),
// written as "kind source "user"".
type step struct {
	msg  string
	want string
	pid  int           // 0: the case's connection (pid 4242)
	host string        // "": "srv"
	dt   time.Duration // log time after t0
}

// TestShapes covers every message shape the parser knows, and those it must
// ignore, one connection per case.
func TestShapes(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{"failed password", []step{{msg: "Failed password for root from 203.0.113.7 port 52144 ssh2", want: `auth-failure 203.0.113.7 "root"`}}},
		{"failed password invalid user", []step{{msg: "Failed password for invalid user oracle from 203.0.113.7 port 52144 ssh2", want: `auth-failure 203.0.113.7 "oracle"`}}},
		{"failed password no ssh2 (old)", []step{{msg: "Failed password for invalid user oracle from 203.0.113.7 port 52144", want: `auth-failure 203.0.113.7 "oracle"`}}},
		{"failed password no port (ancient)", []step{{msg: "Failed password for bin from 203.0.113.7", want: `auth-failure 203.0.113.7 "bin"`}}},
		{"failed kbd-interactive ipv6", []step{{msg: "Failed keyboard-interactive/pam for invalid user admin from 2001:db8::7 port 40022 ssh2", want: `auth-failure 2001:db8::7 "admin"`}}},
		{"failed none invalid user", []step{{msg: "Failed none for invalid user support from 198.51.100.23 port 4242 ssh2", want: `auth-failure 198.51.100.23 "support"`}}},
		{"failed none existing user is a probe of methods", []step{{msg: "Failed none for alice from 198.51.100.23 port 4242 ssh2"}}},
		{"failed publickey existing user", []step{{msg: "Failed publickey for alice from 198.51.100.23 port 4242 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4"}}},
		{"failed publickey invalid user", []step{{msg: "Failed publickey for invalid user bob from 198.51.100.23 port 4242 ssh2: RSA SHA256:Zm9vYmFyYmF6cXV4", want: `auth-failure 198.51.100.23 "bob"`}}},
		{"failed hostbased", []step{{msg: `Failed hostbased for alice from 198.51.100.23 port 4242 ssh2: ECDSA SHA256:Zm9v, client user "alice", client host "ws1.example.net"`, want: `auth-failure 198.51.100.23 "alice"`}}},
		{"failed gssapi", []step{{msg: "Failed gssapi-with-mic for invalid user x from 198.51.100.23 port 4242 ssh2", want: `auth-failure 198.51.100.23 "x"`}}},
		{"failed ssh1 with ruser info", []step{{msg: "Failed rhosts-rsa for bob from 198.51.100.23 port 4242 ssh1: ruser alice", want: `auth-failure 198.51.100.23 "bob"`}}},
		{"failed ipv4-mapped", []step{{msg: "Failed password for root from ::ffff:192.0.2.44 port 22 ssh2", want: `auth-failure 192.0.2.44 "root"`}}},
		{"failed link-local with zone", []step{{msg: "Failed password for root from fe80::1%eth0 port 22 ssh2", want: `auth-failure fe80::1 "root"`}}},
		{"failed host name", []step{{msg: "Failed password for root from host.example.net port 22 ssh2"}}},
		{"failed octal-looking address", []step{{msg: "Failed password for root from 010.0.0.1 port 22 ssh2"}}},
		{"failed upper-case ipv6", []step{{msg: "Failed password for root from 2001:DB8::1 port 22 ssh2"}}},
		{"failed password in preauth", []step{{msg: "Failed password for root from 203.0.113.7 port 52144 ssh2 [preauth]", want: `auth-failure 203.0.113.7 "root"`}}},
		{"accepted is never an event", []step{
			{msg: "Accepted password for root from 192.0.2.1 port 22 ssh2"},
			{msg: "Accepted publickey for root from 192.0.2.1 port 22 ssh2: ED25519 SHA256:Zm9v"},
			{msg: "Accepted keyboard-interactive/pam for root from 2001:db8::1 port 22 ssh2"},
		}},
		{"postponed and partial", []step{
			{msg: "Postponed publickey for git from 192.0.2.1 port 57904 ssh2 [preauth]"},
			{msg: "Partial publickey for git from 192.0.2.1 port 57904 ssh2: ED25519 SHA256:Zm9v"},
		}},
		{"pam error", []step{{msg: "error: PAM: Authentication failure for root from 192.0.2.9", want: `auth-failure 192.0.2.9 "root"`}}},
		{"pam error illegal user", []step{{msg: "error: PAM: Authentication failure for illegal user guest from 192.0.2.9", want: `auth-failure 192.0.2.9 "guest"`}}},
		{"pam error via (macOS)", []step{{msg: "error: PAM: authentication error for carol from 192.0.2.9 via 10.1.1.1", want: `auth-failure 192.0.2.9 "carol"`}}},
		{"pam error without prefix", []step{{msg: "Authentication failed for carol from 192.0.2.9", want: `auth-failure 192.0.2.9 "carol"`}}},
		{"pam error host name", []step{{msg: "error: PAM: Authentication failure for root from mail.example.org"}}},
		{"pam user unknown", []step{{msg: "error: PAM: User not known to the underlying authentication module for illegal user nobody2 from 192.0.2.9", want: `invalid-user 192.0.2.9 "nobody2"`}}},
		{"invalid user", []step{{msg: "Invalid user admin from 192.0.2.3 port 51000", want: `invalid-user 192.0.2.3 "admin"`}}},
		{"invalid user no port", []step{{msg: "Invalid user admin from 192.0.2.3", want: `invalid-user 192.0.2.3 "admin"`}}},
		{"illegal user (old)", []step{{msg: "Illegal user test from 192.0.2.3", want: `invalid-user 192.0.2.3 "test"`}}},
		{"invalid empty user", []step{{msg: "Invalid user  from 192.0.2.3 port 51000", want: `invalid-user 192.0.2.3 ""`}}},
		{"invalid user with spaces", []step{{msg: "Invalid user a b c from 192.0.2.3 port 51000", want: `invalid-user 192.0.2.3 "a b c"`}}},
		{"not allowed AllowUsers", []step{{msg: "User root from 192.0.2.4 not allowed because not listed in AllowUsers", want: `invalid-user 192.0.2.4 "root"`}}},
		{"not allowed DenyUsers", []step{{msg: "User root from 192.0.2.4 not allowed because listed in DenyUsers", want: `invalid-user 192.0.2.4 "root"`}}},
		{"not allowed no group", []step{{msg: "User dave from 192.0.2.4 not allowed because not in any group", want: `invalid-user 192.0.2.4 "dave"`}}},
		{"not allowed DenyGroups", []step{{msg: "User dave from 192.0.2.4 not allowed because a group is listed in DenyGroups", want: `invalid-user 192.0.2.4 "dave"`}}},
		{"not allowed AllowGroups", []step{{msg: "User dave from 192.0.2.4 not allowed because none of user's groups are listed in AllowGroups", want: `invalid-user 192.0.2.4 "dave"`}}},
		{"not allowed host name", []step{{msg: "User dave from ws.example.net not allowed because not listed in AllowUsers"}}},
		{"not allowed shell (no address)", []step{{msg: "User dave not allowed because shell /bin/false is not executable"}}},
		{"account locked, address later", []step{
			{msg: "User root not allowed because account is locked"},
			{msg: "input_userauth_request: invalid user root [preauth]"},
			{msg: "Received disconnect from 192.0.2.5 port 40000:11: Bye Bye [preauth]", want: `invalid-user 192.0.2.5 ""`},
		}},
		{"max auth", []step{
			{msg: "error: maximum authentication attempts exceeded for root from 192.0.2.8 port 3333 ssh2 [preauth]", want: `max-auth 192.0.2.8 "root"`},
			{msg: "Disconnecting authenticating user root 192.0.2.8 port 3333: Too many authentication failures [preauth]"},
		}},
		{"max auth invalid user", []step{
			{msg: "error: maximum authentication attempts exceeded for invalid user admin from 2001:db8:1::8 port 3333 ssh2 [preauth]", want: `max-auth 2001:db8:1::8 "admin"`},
			{msg: "Disconnecting invalid user admin 2001:db8:1::8 port 3333: Too many authentication failures [preauth]"},
		}},
		{"max auth then too many failures (OpenSSH 6.8 to 7.x): one event", []step{
			{msg: "Connection from 192.0.2.8 port 3333 on 192.0.2.200 port 22"},
			{msg: "error: maximum authentication attempts exceeded for root from 192.0.2.8 port 3333 ssh2 [preauth]", want: `max-auth 192.0.2.8 "root"`},
			{msg: "Disconnecting: Too many authentication failures [preauth]"},
		}},
		{"too many failures (old), address from Connection from", []step{
			{msg: "Connection from 192.0.2.8 port 3333 on 192.0.2.200 port 22"},
			{msg: "Disconnecting: Too many authentication failures for root [preauth]", want: `max-auth 192.0.2.8 "root"`},
		}},
		{"too many failures (old), address from failed publickey", []step{
			{msg: "Failed publickey for git from 192.0.2.111 port 57910 ssh2: ECDSA SHA256:Zm9v"},
			{msg: "Failed publickey for git from 192.0.2.111 port 57910 ssh2: RSA SHA256:YmFy"},
			{msg: "Disconnecting: Too many authentication failures [preauth]", want: `max-auth 192.0.2.111 ""`},
			{msg: "Connection closed by 192.0.2.111 port 57910 [preauth]", want: `preauth-close 192.0.2.111 ""`},
		}},
		{"too many failures (old), address after", []step{
			{msg: "Disconnecting: Too many authentication failures for root [preauth]"},
			{msg: "Connection closed by 192.0.2.9 [preauth]", want: `max-auth 192.0.2.9 ""`},
		}},
		{"change of user", []step{{
			msg:  "Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]",
			want: `auth-failure 192.0.2.117 "admin"`,
		}}},
		{"closed preauth", []step{{msg: "Connection closed by 192.0.2.12 port 50001 [preauth]", want: `preauth-close 192.0.2.12 ""`}}},
		{"closed invalid user", []step{{msg: "Connection closed by invalid user pi 192.0.2.12 port 50001 [preauth]", want: `preauth-close 192.0.2.12 "pi"`}}},
		{"closed authenticating user (key-only server)", []step{{msg: "Connection closed by authenticating user root 2001:db8::12 port 50001 [preauth]", want: `auth-failure 2001:db8::12 "root"`}}},
		{"reset preauth", []step{{msg: "Connection reset by 192.0.2.12 port 50001 [preauth]", want: `preauth-close 192.0.2.12 ""`}}},
		{"disconnected invalid user", []step{{msg: "Disconnected from invalid user ubnt 192.0.2.12 port 50001 [preauth]", want: `preauth-close 192.0.2.12 "ubnt"`}}},
		{"normal log-out is no event", []step{
			{msg: "Accepted publickey for alice from 192.0.2.20 port 50002 ssh2: ED25519 SHA256:Zm9v"},
			{msg: "Received disconnect from 192.0.2.20 port 50002:11: disconnected by user"},
			{msg: "Disconnected from user alice 192.0.2.20 port 50002"},
			{msg: "Connection closed by 192.0.2.20 port 50002"},
			{msg: "Connection reset by 192.0.2.20 port 50002"},
		}},
		{"received disconnect (old sshd)", []step{{msg: "error: Received disconnect from 192.0.2.13: 11: Bye Bye [preauth]", want: `preauth-close 192.0.2.13 ""`}}},
		{"received disconnect then disconnected: one close", []step{
			{msg: "Received disconnect from 192.0.2.13 port 41000:11: Bye Bye [preauth]", want: `preauth-close 192.0.2.13 ""`},
			{msg: "Disconnected from invalid user admin 192.0.2.13 port 41000 [preauth]"},
			{msg: "Connection closed by 192.0.2.13 port 41001 [preauth]", want: `preauth-close 192.0.2.13 ""`},
		}},
		{"received disconnect names the address for a pending failure", []step{
			{msg: "Disconnecting: Too many authentication failures for root [preauth]"},
			{msg: "error: Received disconnect from 192.0.2.13: 11: Bye Bye [preauth]", want: `max-auth 192.0.2.13 ""`},
		}},
		{"received disconnect auth fail", []step{{msg: "Received disconnect from 192.0.2.13 port 41000:3: com.jcraft.jsch.JSchException: Auth fail [preauth]", want: `auth-failure 192.0.2.13 ""`}}},
		{"received disconnect no methods", []step{{msg: "Received disconnect from 2001:db8::13 port 41000:14: No supported authentication methods available [preauth]", want: `auth-failure 2001:db8::13 ""`}}},
		{"received disconnect ipv6 old format", []step{
			{msg: "Connection from 2001:db8::13 port 41000 on 2001:db8::200 port 22"},
			{msg: "Received disconnect from 2001:db8::13: 11: Bye [preauth]", want: `preauth-close 2001:db8::13 ""`},
		}},
		{"no identification", []step{{msg: "Did not receive identification string from 192.0.2.14 port 60000", want: `probe 192.0.2.14 ""`}}},
		{"bad protocol version", []step{{msg: "Bad protocol version identification 'GET / HTTP/1.1' from 192.0.2.14 port 60000", want: `protocol-error 192.0.2.14 ""`}}},
		{"banner exchange", []step{{msg: "banner exchange: Connection from 192.0.2.14 port 60000: invalid format", want: `protocol-error 192.0.2.14 ""`}}},
		{"banner exchange other reason", []step{{msg: "banner exchange: Connection from 192.0.2.14 port 60000: Connection timed out"}}},
		{"unable to negotiate", []step{{msg: "Unable to negotiate with 192.0.2.14 port 60000: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]", want: `protocol-error 192.0.2.14 ""`}}},
		{"unable to negotiate host key", []step{{msg: "Unable to negotiate with 2001:db8::14 port 60000: no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]", want: `protocol-error 2001:db8::14 ""`}}},
		{"protocol major versions", []step{{msg: "Protocol major versions differ for 192.0.2.14 port 60000: SSH-2.0-OpenSSH_9.6 vs. SSH-1.5-Nmap-SSH1-Hostkey", want: `protocol-error 192.0.2.14 ""`}}},
		{"refused connect (libwrap)", []step{{msg: "refused connect from scanner.example.net (192.0.2.15)", want: `probe 192.0.2.15 ""`}}},
		{"timeout before authentication", []step{{msg: "fatal: Timeout before authentication for 192.0.2.16 port 1234", want: `preauth-close 192.0.2.16 ""`}}},
		{"root login refused", []step{{msg: "ROOT LOGIN REFUSED FROM 192.0.2.17 port 1234", want: `auth-failure 192.0.2.17 "root"`}}},
		{"kex identification after Connection from", []step{
			{msg: "Connection from 192.0.2.18 port 50000 on 192.0.2.200 port 22 rdomain \"\""},
			{msg: `error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"`, want: `protocol-error 192.0.2.18 ""`},
			{msg: "error: kex_exchange_identification: Connection closed by remote host", want: `probe 192.0.2.18 ""`},
		}},
		{"kex identification before the address", []step{
			{msg: "error: kex_exchange_identification: Connection closed by remote host"},
			{msg: "Connection closed by 192.0.2.19 port 50000", want: `probe 192.0.2.19 ""`},
		}},
		{"kex reset", []step{
			{msg: "Connection from 2001:db8::19 port 50000 on 2001:db8::200 port 22"},
			{msg: "error: kex_exchange_identification: read: Connection reset by peer", want: `probe 2001:db8::19 ""`},
			{msg: "Connection reset by 2001:db8::19 port 50000"},
		}},
		{"kex banner too long is left to the banner exchange line", []step{
			{msg: "error: kex_exchange_identification: banner line too long"},
			{msg: "banner exchange: Connection from 192.0.2.20 port 50000: invalid format", want: `protocol-error 192.0.2.20 ""`},
		}},
		{"unable to negotiate a method (no address)", []step{
			{msg: "Connection from 192.0.2.21 port 39678 on 192.0.2.200 port 22"},
			{msg: "fatal: Unable to negotiate a key exchange method [preauth]", want: `protocol-error 192.0.2.21 ""`},
			{msg: "fatal: no matching mac found: client hmac-md5 server hmac-sha2-256 [preauth]", want: `protocol-error 192.0.2.21 ""`},
		}},
		{"read from socket (Ltype summary)", []step{
			{msg: "SSH: Server;Ltype: Version;Remote: 192.0.2.22-1780;Protocol: 2.0;Client: libssh2_1.4.3"},
			{msg: "fatal: Read from socket failed: Connection reset by peer [preauth]", want: `preauth-close 192.0.2.22 ""`},
		}},
		{"read from socket after log-in is no event", []step{
			{msg: "Connection from 192.0.2.22 port 1780 on 192.0.2.200 port 22"},
			{msg: "fatal: Read from socket failed: Connection reset by peer"},
		}},
		{"pam failure then Failed password: one event", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.23  user=root"},
			{msg: "Failed password for root from 192.0.2.23 port 50000 ssh2", want: `auth-failure 192.0.2.23 "root"`},
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.23  user=root"},
			{msg: "Failed password for root from 192.0.2.23 port 50000 ssh2", want: `auth-failure 192.0.2.23 "root"`},
		}},
		{"pam failure for another user", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24  user=root"},
			{msg: "pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24 user=admin", want: `auth-failure 192.0.2.24 "root"`},
			{msg: "Connection closed by authenticating user admin 192.0.2.24 port 50000 [preauth]", want: `auth-failure 192.0.2.24 "admin" + preauth-close 192.0.2.24 "admin"`},
		}},
		{"pam failure then success (gh-2070 shape)", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.25  user=eve"},
			{msg: "Accepted password for eve from 192.0.2.25 port 50000 ssh2"},
			{msg: "pam_unix(sshd:session): session opened for user eve(uid=1000) by (uid=0)"},
		}},
		{"pam host name", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ws.example.net  user=root"},
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ws.example.net  user=admin"},
		}},
		{"pam without user", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.26"},
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.26  user=admin", want: `auth-failure 192.0.2.26 ""`},
		}},
		// OpenSSH 9.8+ penalties and grace time, logged by the listening sshd.
		{"drop for a penalty", []step{
			{msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime", want: `probe 192.0.2.41 ""`, pid: 880},
			{msg: "drop connection #12 from [2001:db8::41]:50130 on [2001:db8::200]:22 penalty: failed authentication", want: `probe 2001:db8::41 ""`, pid: 880},
			{msg: "drop connection #1 from [::ffff:192.0.2.41]:50130 on [::ffff:192.0.2.200]:22 penalty: connections without attempting authentication", want: `probe 192.0.2.41 ""`, pid: 880},
		}},
		{"drop is the listener's: no connection state", []step{
			{msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime", want: `probe 192.0.2.41 ""`},
			{msg: "error: kex_exchange_identification: Connection closed by remote host"},
		}},
		{"drop malformed", []step{
			{msg: "drop connection #0 from 192.0.2.41:50130 on [192.0.2.200]:22 penalty: x"},
			{msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: "},
			{msg: "drop connection #0 from [host.example.net]:50130 on [192.0.2.200]:22 penalty: x"},
			{msg: "drop connection # from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: x"},
		}},
		{"timeout before authentication (newer)", []step{
			{msg: "Timeout before authentication for connection from 192.0.2.42 to 198.51.100.87, pid = 1152348", want: `preauth-close 192.0.2.42 ""`, pid: 880},
			{msg: "Timeout before authentication for connection from 2001:db8::42 to 2001:db8::1, pid = 7", want: `preauth-close 2001:db8::42 ""`, pid: 880},
			{msg: "Timeout before authentication for connection from 192.0.2.43 to 198.51.100.87", want: `preauth-close 192.0.2.43 ""`, pid: 880},
			{msg: "Timeout before authentication for connection from 192.0.2.43 to host.example.net, pid = 1", pid: 880},
			{msg: "Timeout before authentication for connection from 192.0.2.43 to 198.51.100.87, pid = x", pid: 880},
			{msg: "Timeout before authentication for connection from 192.0.2.43 port 1 to 198.51.100.87, pid = 1", pid: 880},
		}},
		// CVE-2024-6387 and other broken packets before log-in.
		{"dispatch: MAC incorrect", []step{{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.44 port 55108: message authentication code incorrect [preauth]", want: `exploit 192.0.2.44 ""`}}},
		{"dispatch: MAC incorrect, authenticating user", []step{{msg: "ssh_dispatch_run_fatal: Connection from authenticating user root 192.0.2.44 port 55108: message authentication code incorrect [preauth]", want: `exploit 192.0.2.44 "root"`}}},
		{"dispatch: MAC incorrect, invalid user", []step{{msg: "fatal: ssh_dispatch_run_fatal: Connection from invalid user a: b 2001:db8::44 port 55108: message authentication code incorrect [preauth]", want: `exploit 2001:db8::44 "a: b"`}}},
		{"dispatch: protocol garbage", []step{
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: incomplete message [preauth]", want: `protocol-error 192.0.2.45 ""`},
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: Connection corrupted [preauth]", want: `protocol-error 192.0.2.45 ""`},
			{msg: "ssh_dispatch_run_fatal: Connection from authenticating user git 192.0.2.45 port 1: invalid format [preauth]", want: `protocol-error 192.0.2.45 "git"`},
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: internal error: buffer is read-only [preauth]", want: `protocol-error 192.0.2.45 ""`},
		}},
		{"dispatch: network errors and after log-in are no events", []step{
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46 port 1: Broken pipe [preauth]"},
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46 port 1: Connection timed out [preauth]"},
			{msg: "ssh_dispatch_run_fatal: Connection from user alice 192.0.2.46 port 1: message authentication code incorrect"},
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46: message authentication code incorrect [preauth]"},
			{msg: "ssh_dispatch_run_fatal: Connection from host.example.net port 1: message authentication code incorrect [preauth]"},
		}},
		// Accounts refused without the address in the line.
		{"shell does not exist", []step{
			{msg: "User nobody not allowed because shell /bin/false does not exist"},
			{msg: "Connection closed by 192.0.2.47 port 40000 [preauth]", want: `invalid-user 192.0.2.47 ""`},
		}},
		{"shell not executable, address known", []step{
			{msg: "Connection from 192.0.2.48 port 40000 on 192.0.2.200 port 22"},
			{msg: "User backup not allowed because shell /usr/sbin/nologin x is not executable", want: `invalid-user 192.0.2.48 "backup"`},
			{msg: "Connection closed by authenticating user backup 192.0.2.48 port 40000 [preauth]", want: `preauth-close 192.0.2.48 "backup"`},
		}},
		{"shell reason malformed", []step{
			{msg: "User x not allowed because shell  does not exist"},
			{msg: "Connection closed by 192.0.2.47 port 40000 [preauth]", want: `preauth-close 192.0.2.47 ""`},
		}},
		{"OpenPAM unknown user", []step{
			{msg: "error: PAM: unknown user for illegal user zz from 192.0.2.49", want: `invalid-user 192.0.2.49 "zz"`},
			{msg: "error: PAM: unknown user for zz from 2001:db8::49", want: `invalid-user 2001:db8::49 "zz"`},
			{msg: "error: PAM: unknown user for zz from host.example.net"},
		}},
		// Closes of existing users that never got in.
		{"key-only bot: disconnected after goodbye", []step{
			{msg: "Received disconnect from 192.0.2.50 port 41000:11: Bye Bye [preauth]", want: `preauth-close 192.0.2.50 ""`},
			{msg: "Disconnected from authenticating user root 192.0.2.50 port 41000 [preauth]", want: `auth-failure 192.0.2.50 "root"`},
		}},
		{"key-only bot: reset", []step{{msg: "Connection reset by authenticating user root 192.0.2.51 port 1558 [preauth]", want: `auth-failure 192.0.2.51 "root"`}}},
		{"close after failed password stays a close", []step{
			{msg: "Failed password for root from 192.0.2.52 port 50000 ssh2", want: `auth-failure 192.0.2.52 "root"`},
			{msg: "Connection closed by authenticating user root 192.0.2.52 port 50000 [preauth]", want: `preauth-close 192.0.2.52 "root"`},
		}},
		{"disconnected after failed password and goodbye: one close", []step{
			{msg: "Failed password for root from 192.0.2.52 port 50000 ssh2", want: `auth-failure 192.0.2.52 "root"`},
			{msg: "Received disconnect from 192.0.2.52 port 50000:11: Bye Bye [preauth]", want: `preauth-close 192.0.2.52 ""`},
			{msg: "Disconnected from authenticating user root 192.0.2.52 port 50000 [preauth]"},
		}},
		{"close after max-auth stays a close", []step{
			{msg: "error: maximum authentication attempts exceeded for root from 192.0.2.53 port 3333 ssh2 [preauth]", want: `max-auth 192.0.2.53 "root"`},
			{msg: "Connection reset by authenticating user root 192.0.2.53 port 3333 [preauth]", want: `preauth-close 192.0.2.53 "root"`},
		}},
		{"close of another address after a failure counts", []step{
			{msg: "Failed password for root from 192.0.2.54 port 50000 ssh2", want: `auth-failure 192.0.2.54 "root"`},
			{msg: "Connection closed by authenticating user root 192.0.2.55 port 50000 [preauth]", want: `auth-failure 192.0.2.55 "root"`},
		}},
		{"close of invalid user stays a close", []step{
			{msg: "Invalid user pi from 192.0.2.56 port 50000", want: `invalid-user 192.0.2.56 "pi"`},
			{msg: "Connection closed by invalid user pi 192.0.2.56 port 50000 [preauth]", want: `preauth-close 192.0.2.56 "pi"`},
		}},
		{"close after log-in is no event", []step{
			{msg: "Connection closed by authenticating user root 192.0.2.57 port 50000"},
			{msg: "Disconnected from user root 192.0.2.57 port 50000"},
		}},
		// A held PAM failure (package doc, note 2).
		{"pam then close: the PAM failure counts, the close stays a close", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=root"},
			{msg: "Connection closed by authenticating user root 192.0.2.60 port 50000 [preauth]", want: `auth-failure 192.0.2.60 "root" + preauth-close 192.0.2.60 "root"`},
		}},
		{"pam then plain close", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=r00t"},
			{msg: "Connection closed by 192.0.2.60 port 50000 [preauth]", want: `auth-failure 192.0.2.60 "r00t" + preauth-close 192.0.2.60 ""`},
		}},
		{"pam then log-out close", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=root"},
			{msg: "Connection closed by 192.0.2.60 port 50000", want: `auth-failure 192.0.2.60 "root"`},
		}},
		{"pam then max-auth", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.61  user=root"},
			{msg: "error: maximum authentication attempts exceeded for root from 192.0.2.61 port 3333 ssh2 [preauth]", want: `auth-failure 192.0.2.61 "root" + max-auth 192.0.2.61 "root"`},
			{msg: "Disconnecting authenticating user root 192.0.2.61 port 3333: Too many authentication failures [preauth]"},
		}},
		{"pam then PAM more failures", []step{
			{msg: "Failed password for root from 192.0.2.62 port 50000 ssh2", want: `auth-failure 192.0.2.62 "root"`},
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root"},
			{msg: "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root", want: `auth-failure 192.0.2.62 "root"`},
			{msg: "PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root"},
		}},
		{"pam logged twice for one attempt, then success", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63  user=rda"},
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=rda rhost=192.0.2.63 [preauth]"},
			{msg: "Accepted password for rda from 192.0.2.63 port 52100 ssh2"},
			{msg: "Connection closed by 192.0.2.63"},
		}},
		{"pam logged twice for one attempt, then Failed: one event", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63  user=root"},
			{msg: "pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63 user=root"},
			{msg: "Failed password for root from 192.0.2.63 port 52100 ssh2", want: `auth-failure 192.0.2.63 "root"`},
		}},
		{"pam then sshd's PAM error: one event", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.64  user=root"},
			{msg: "error: PAM: Authentication failure for root from 192.0.2.64", want: `auth-failure 192.0.2.64 "root"`},
		}},
		{"pam then a line of another address", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.65  user=root"},
			{msg: "Failed password for root from 192.0.2.67 port 52100 ssh2", want: `auth-failure 192.0.2.65 "root" + auth-failure 192.0.2.67 "root"`},
		}},
		{"pam then failed publickey: another attempt", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.68  user=git"},
			{msg: "Failed publickey for git from 192.0.2.68 port 57904 ssh2: ECDSA SHA256:Zm9v", want: `auth-failure 192.0.2.68 "git"`},
		}},
		{"pam then unrecognised lines keep it held", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.69  user=root"},
			{msg: "pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily locked"},
			{msg: "Postponed keyboard-interactive for root from 192.0.2.69 port 57904 ssh2 [preauth]"},
			{msg: "Failed password for root from 192.0.2.69 port 57904 ssh2", want: `auth-failure 192.0.2.69 "root"`},
		}},
		{"pam held per connection", []step{
			{msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.70  user=root"},
			{msg: "Failed password for root from 192.0.2.71 port 57904 ssh2", want: `auth-failure 192.0.2.71 "root"`, pid: 5},
			{msg: "Failed password for root from 192.0.2.70 port 57904 ssh2", want: `auth-failure 192.0.2.70 "root"`},
		}},
		{"unrelated lines", []step{
			{msg: "Server listening on 0.0.0.0 port 22."},
			{msg: "Received signal 15; terminating."},
			{msg: "pam_unix(sshd:session): session closed for user alice"},
			{msg: "Address 192.0.2.1 maps to x.example.net, but this does not map back to the address [preauth]"},
			{msg: "reverse mapping checking getaddrinfo for x.example.net [192.0.2.1] failed - POSSIBLE BREAK-IN ATTEMPT!"},
			{msg: "drop connection #0 from [192.0.2.1]:50000 on [192.0.2.200]:22 past MaxStartups"},
			{msg: "drop connection #3 from [192.0.2.1]:50000 on [192.0.2.200]:22 past Maxstartups"},
			{msg: "drop connection #3 from [192.0.2.1]:50000 on [192.0.2.200]:22 too many penalised addresses"},
			{msg: "srclimit_penalise: ipv4: new 192.0.2.1/32 deferred penalty of 5 seconds for penalty: failed authentication"},
			{msg: "srclimit_penalise: ipv6: new 2001:db8::/64 active penalty of 30.000 seconds for penalty: exceeded LoginGraceTime"},
			{msg: "srclimit_penalise: 192.0.2.1/32: activating ipv4 penalty of 16.000 seconds for penalty: connections without attempting authentication"},
			{msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.1 port 50000: message authentication code incorrect"},
			{msg: "ssh_dispatch_run_fatal: Connection from user alice 192.0.2.1 port 50000: incomplete message"},
			{msg: ""},
			{msg: " [preauth]"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New()
			for i, s := range c.steps {
				pid, host := s.pid, s.host
				if pid == 0 {
					pid = 4242
				}
				if host == "" {
					host = "srv"
				}
				if got := describe(feed(p, host, pid, t0.Add(s.dt), s.msg)); got != s.want {
					t.Errorf("line %d %q:\n got %s\nwant %s", i+1, s.msg, orNone(got), orNone(s.want))
				}
			}
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "no event"
	}
	return s
}

// TestConnectionState checks that state stays with its connection: host and
// pid, a time limit, a size limit, and forgetting on success.
func TestConnectionState(t *testing.T) {
	const from = "Connection from 192.0.2.30 port 50000 on 192.0.2.200 port 22"
	const kex = "error: kex_exchange_identification: Connection closed by remote host"
	t.Run("other pid", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, t0, from)
		if got := describe(feed(p, "srv", 2, t0, kex)); got != "" {
			t.Errorf("pid 2 got %s from pid 1's address", got)
		}
	})
	t.Run("other host", func(t *testing.T) {
		p := New()
		feed(p, "a", 1, t0, from)
		if got := describe(feed(p, "b", 1, t0, kex)); got != "" {
			t.Errorf("host b got %s from host a's address", got)
		}
	})
	t.Run("no pid", func(t *testing.T) {
		p := New()
		feed(p, "srv", -1, t0, from)
		if got := describe(feed(p, "srv", -1, t0, kex)); got != "" {
			t.Errorf("lines without a pid share state: %s", got)
		}
	})
	t.Run("stale", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, t0, from)
		if got := describe(feed(p, "srv", 1, t0.Add(stateTTL*time.Second+time.Second), kex)); got != "" {
			t.Errorf("stale state used: %s", got)
		}
		if got := describe(feed(p, "srv", 1, t0.Add(stateTTL*time.Second+2*time.Second), "Connection closed by 192.0.2.31 port 1")); got != `probe 192.0.2.31 ""` {
			t.Errorf("the pending probe after stale state: got %s", orNone(got))
		}
	})
	t.Run("fresh", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, t0, from)
		if got := describe(feed(p, "srv", 1, t0.Add(stateTTL*time.Second), kex)); got != `probe 192.0.2.30 ""` {
			t.Errorf("got %s", orNone(got))
		}
	})
	t.Run("accepted forgets", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, t0, from)
		feed(p, "srv", 1, t0, "Accepted publickey for alice from 192.0.2.30 port 50000 ssh2: ED25519 SHA256:Zm9v")
		if got := describe(feed(p, "srv", 1, t0, "Disconnecting: Too many authentication failures")); got != "" {
			t.Errorf("state survived a log-in: %s", got)
		}
	})
	t.Run("close forgets", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, t0, from)
		feed(p, "srv", 1, t0, "Connection closed by 192.0.2.30 port 50000 [preauth]")
		if got := describe(feed(p, "srv", 1, t0, kex)); got != "" {
			t.Errorf("state survived the close: %s", got)
		}
	})
	t.Run("evict oldest", func(t *testing.T) {
		p := newParser(3)
		for pid := 1; pid <= 4; pid++ {
			feed(p, "srv", pid, t0, fmt.Sprintf("Connection from 192.0.2.%d port 50000 on 192.0.2.200 port 22", pid))
		}
		if n := p.conns.len(); n != 3 {
			t.Errorf("table holds %d connections, cap 3", n)
		}
		if got := describe(feed(p, "srv", 1, t0, kex)); got != "" {
			t.Errorf("evicted connection still known: %s", got)
		}
		for pid := 3; pid <= 4; pid++ {
			want := fmt.Sprintf(`probe 192.0.2.%d ""`, pid)
			if got := describe(feed(p, "srv", pid, t0, kex)); got != want {
				t.Errorf("pid %d: got %s, want %s", pid, orNone(got), want)
			}
		}
	})
}

// TestTable exercises the connection table against a map.
func TestTable(t *testing.T) {
	const capacity = 64
	tab := newTable(capacity)
	model := map[uint64]netip4{}
	var order []uint64
	x := uint64(1)
	for i := 0; i < 20000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		key := x>>54 | 1 // few distinct keys, so that hits, misses and deletes mix
		switch x >> 62 {
		case 0: // delete
			tab.del(key)
			delete(model, key)
		default: // get or insert
			c := tab.get(key)
			if _, ok := model[key]; ok != (c != nil) {
				t.Fatalf("step %d: key %d present in table %v, in model %v", i, key, c != nil, ok)
			}
			if c == nil {
				if len(order) == capacity {
					// the ring evicts the oldest insertion, if still present
					delete(model, order[0])
					order = order[1:]
				}
				tab.put(key)
				model[key] = netip4{}
				order = append(order, key)
			}
		}
		if tab.len() != len(model) {
			t.Fatalf("step %d: table holds %d, model %d", i, tab.len(), len(model))
		}
	}
}

type netip4 struct{}

func TestIsProgram(t *testing.T) {
	for prog, want := range map[string]bool{
		"sshd": true, "sshd-session": true, "sshd-auth": true,
		"": false, "ssh": false, "sshd2": false, "[sshd]": false, "sshd[1]": false, "SSHD": false, "cron": false,
	} {
		if got := IsProgram([]byte(prog)); got != want {
			t.Errorf("IsProgram(%q) = %v", prog, got)
		}
	}
}

// TestParseLeavesOtherFields checks that Parse fills only Kind, Source, User
// and leaves the event alone when it returns false.
func TestParseLeavesOtherFields(t *testing.T) {
	p := New()
	ev := phalanx.Event{Time: t0, Service: "sshd", Line: 7, User: "keep"}
	fr := logline.Frame{Time: t0, Host: []byte("srv"), Program: []byte("sshd"), PID: 1, Message: []byte("Server listening on :: port 22.")}
	if p.Parse(&fr, &ev) || ev.User != "keep" || ev.Kind != phalanx.KindUnknown {
		t.Fatalf("unrecognised line changed the event: %+v", ev)
	}
	fr.Message = []byte("Failed password for root from 192.0.2.1 port 22 ssh2")
	if !p.Parse(&fr, &ev) {
		t.Fatal("no event")
	}
	if ev.Time != t0 || ev.Service != "sshd" || ev.Line != 7 || ev.User != "root" {
		t.Errorf("event fields: %+v", ev)
	}
}

func TestUserBounded(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	evs := feed(New(), "srv", 1, t0, "Invalid user "+long+" from 192.0.2.1 port 22")
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if len(ev.User) > maxUser || !strings.HasPrefix(long, ev.User) || len(ev.User) < maxUser-3 {
		t.Errorf("user of %d bytes: %q", len(ev.User), ev.User)
	}
}
