package sshd

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/parser/parsertest"
)

// feed parses one message as if sshd[pid] on host had logged it at at, and
// returns its events (Parse's, then Next's).
func feed(p *Parser, host string, pid int, at time.Time, msg string) []phalanx.Event {
	return parsertest.Feed(p, "sshd", host, pid, at, msg)
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden parses each testdata/<case>/input.log with one Parser and
// compares its events with testdata/<case>/events.golden (see
// parsertest.Golden; go test -update rewrites them).
func TestGolden(t *testing.T) { parsertest.Golden(t, *update, IsProgram, New) }

// TestShapes covers every message shape the parser knows, and those it must
// ignore, one connection per case.
func TestShapes(t *testing.T) {
	parsertest.Shapes(t, "sshd", 4242, New, []parsertest.Case{
		{Name: "failed password", Steps: []parsertest.Step{{Msg: "Failed password for root from 203.0.113.7 port 52144 ssh2", Want: `auth-failure 203.0.113.7 "root"`}}},
		{Name: "failed password invalid user", Steps: []parsertest.Step{{Msg: "Failed password for invalid user oracle from 203.0.113.7 port 52144 ssh2", Want: `auth-failure 203.0.113.7 "oracle"`}}},
		{Name: "failed password no ssh2 (old)", Steps: []parsertest.Step{{Msg: "Failed password for invalid user oracle from 203.0.113.7 port 52144", Want: `auth-failure 203.0.113.7 "oracle"`}}},
		{Name: "failed password no port (ancient)", Steps: []parsertest.Step{{Msg: "Failed password for bin from 203.0.113.7", Want: `auth-failure 203.0.113.7 "bin"`}}},
		{Name: "failed kbd-interactive ipv6", Steps: []parsertest.Step{{Msg: "Failed keyboard-interactive/pam for invalid user admin from 2001:db8::7 port 40022 ssh2", Want: `auth-failure 2001:db8::7 "admin"`}}},
		{Name: "failed none invalid user", Steps: []parsertest.Step{{Msg: "Failed none for invalid user support from 198.51.100.23 port 4242 ssh2", Want: `auth-failure 198.51.100.23 "support"`}}},
		{Name: "failed none existing user is a probe of methods", Steps: []parsertest.Step{{Msg: "Failed none for alice from 198.51.100.23 port 4242 ssh2"}}},
		{Name: "failed publickey existing user", Steps: []parsertest.Step{{Msg: "Failed publickey for alice from 198.51.100.23 port 4242 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4"}}},
		{Name: "failed publickey invalid user", Steps: []parsertest.Step{{Msg: "Failed publickey for invalid user bob from 198.51.100.23 port 4242 ssh2: RSA SHA256:Zm9vYmFyYmF6cXV4", Want: `auth-failure 198.51.100.23 "bob"`}}},
		{Name: "failed hostbased", Steps: []parsertest.Step{{Msg: `Failed hostbased for alice from 198.51.100.23 port 4242 ssh2: ECDSA SHA256:Zm9v, client user "alice", client host "ws1.example.net"`, Want: `auth-failure 198.51.100.23 "alice"`}}},
		{Name: "failed gssapi", Steps: []parsertest.Step{{Msg: "Failed gssapi-with-mic for invalid user x from 198.51.100.23 port 4242 ssh2", Want: `auth-failure 198.51.100.23 "x"`}}},
		{Name: "failed ssh1 with ruser info", Steps: []parsertest.Step{{Msg: "Failed rhosts-rsa for bob from 198.51.100.23 port 4242 ssh1: ruser alice", Want: `auth-failure 198.51.100.23 "bob"`}}},
		{Name: "failed ipv4-mapped", Steps: []parsertest.Step{{Msg: "Failed password for root from ::ffff:192.0.2.44 port 22 ssh2", Want: `auth-failure 192.0.2.44 "root"`}}},
		{Name: "failed link-local with zone", Steps: []parsertest.Step{{Msg: "Failed password for root from fe80::1%eth0 port 22 ssh2", Want: `auth-failure fe80::1 "root"`}}},
		{Name: "failed host name", Steps: []parsertest.Step{{Msg: "Failed password for root from host.example.net port 22 ssh2"}}},
		{Name: "failed octal-looking address", Steps: []parsertest.Step{{Msg: "Failed password for root from 010.0.0.1 port 22 ssh2"}}},
		{Name: "failed upper-case ipv6", Steps: []parsertest.Step{{Msg: "Failed password for root from 2001:DB8::1 port 22 ssh2"}}},
		{Name: "failed password in preauth", Steps: []parsertest.Step{{Msg: "Failed password for root from 203.0.113.7 port 52144 ssh2 [preauth]", Want: `auth-failure 203.0.113.7 "root"`}}},
		{Name: "accepted is never an event", Steps: []parsertest.Step{
			{Msg: "Accepted password for root from 192.0.2.1 port 22 ssh2"},
			{Msg: "Accepted publickey for root from 192.0.2.1 port 22 ssh2: ED25519 SHA256:Zm9v"},
			{Msg: "Accepted keyboard-interactive/pam for root from 2001:db8::1 port 22 ssh2"},
		}},
		{Name: "postponed and partial", Steps: []parsertest.Step{
			{Msg: "Postponed publickey for git from 192.0.2.1 port 57904 ssh2 [preauth]"},
			{Msg: "Partial publickey for git from 192.0.2.1 port 57904 ssh2: ED25519 SHA256:Zm9v"},
		}},
		{Name: "pam error", Steps: []parsertest.Step{{Msg: "error: PAM: Authentication failure for root from 192.0.2.9", Want: `auth-failure 192.0.2.9 "root"`}}},
		{Name: "pam error illegal user", Steps: []parsertest.Step{{Msg: "error: PAM: Authentication failure for illegal user guest from 192.0.2.9", Want: `auth-failure 192.0.2.9 "guest"`}}},
		{Name: "pam error via (macOS)", Steps: []parsertest.Step{{Msg: "error: PAM: authentication error for carol from 192.0.2.9 via 10.1.1.1", Want: `auth-failure 192.0.2.9 "carol"`}}},
		{Name: "pam error without prefix", Steps: []parsertest.Step{{Msg: "Authentication failed for carol from 192.0.2.9", Want: `auth-failure 192.0.2.9 "carol"`}}},
		{Name: "pam error host name", Steps: []parsertest.Step{{Msg: "error: PAM: Authentication failure for root from mail.example.org"}}},
		{Name: "pam user unknown", Steps: []parsertest.Step{{Msg: "error: PAM: User not known to the underlying authentication module for illegal user nobody2 from 192.0.2.9", Want: `invalid-user 192.0.2.9 "nobody2"`}}},
		{Name: "invalid user", Steps: []parsertest.Step{{Msg: "Invalid user admin from 192.0.2.3 port 51000", Want: `invalid-user 192.0.2.3 "admin"`}}},
		{Name: "invalid user no port", Steps: []parsertest.Step{{Msg: "Invalid user admin from 192.0.2.3", Want: `invalid-user 192.0.2.3 "admin"`}}},
		{Name: "illegal user (old)", Steps: []parsertest.Step{{Msg: "Illegal user test from 192.0.2.3", Want: `invalid-user 192.0.2.3 "test"`}}},
		{Name: "invalid empty user", Steps: []parsertest.Step{{Msg: "Invalid user  from 192.0.2.3 port 51000", Want: `invalid-user 192.0.2.3 ""`}}},
		{Name: "invalid user with spaces", Steps: []parsertest.Step{{Msg: "Invalid user a b c from 192.0.2.3 port 51000", Want: `invalid-user 192.0.2.3 "a b c"`}}},
		{Name: "not allowed AllowUsers", Steps: []parsertest.Step{{Msg: "User root from 192.0.2.4 not allowed because not listed in AllowUsers", Want: `invalid-user 192.0.2.4 "root"`}}},
		{Name: "not allowed DenyUsers", Steps: []parsertest.Step{{Msg: "User root from 192.0.2.4 not allowed because listed in DenyUsers", Want: `invalid-user 192.0.2.4 "root"`}}},
		{Name: "not allowed no group", Steps: []parsertest.Step{{Msg: "User dave from 192.0.2.4 not allowed because not in any group", Want: `invalid-user 192.0.2.4 "dave"`}}},
		{Name: "not allowed DenyGroups", Steps: []parsertest.Step{{Msg: "User dave from 192.0.2.4 not allowed because a group is listed in DenyGroups", Want: `invalid-user 192.0.2.4 "dave"`}}},
		{Name: "not allowed AllowGroups", Steps: []parsertest.Step{{Msg: "User dave from 192.0.2.4 not allowed because none of user's groups are listed in AllowGroups", Want: `invalid-user 192.0.2.4 "dave"`}}},
		{Name: "not allowed host name", Steps: []parsertest.Step{{Msg: "User dave from ws.example.net not allowed because not listed in AllowUsers"}}},
		{Name: "not allowed shell (no address)", Steps: []parsertest.Step{{Msg: "User dave not allowed because shell /bin/false is not executable"}}},
		{Name: "account locked, address later", Steps: []parsertest.Step{
			{Msg: "User root not allowed because account is locked"},
			{Msg: "input_userauth_request: invalid user root [preauth]"},
			{Msg: "Received disconnect from 192.0.2.5 port 40000:11: Bye Bye [preauth]", Want: `invalid-user 192.0.2.5 ""`},
		}},
		{Name: "max auth", Steps: []parsertest.Step{
			{Msg: "error: maximum authentication attempts exceeded for root from 192.0.2.8 port 3333 ssh2 [preauth]", Want: `max-auth 192.0.2.8 "root"`},
			{Msg: "Disconnecting authenticating user root 192.0.2.8 port 3333: Too many authentication failures [preauth]"},
		}},
		{Name: "max auth invalid user", Steps: []parsertest.Step{
			{Msg: "error: maximum authentication attempts exceeded for invalid user admin from 2001:db8:1::8 port 3333 ssh2 [preauth]", Want: `max-auth 2001:db8:1::8 "admin"`},
			{Msg: "Disconnecting invalid user admin 2001:db8:1::8 port 3333: Too many authentication failures [preauth]"},
		}},
		{Name: "max auth then too many failures (OpenSSH 6.8 to 7.x): one event", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.8 port 3333 on 192.0.2.200 port 22"},
			{Msg: "error: maximum authentication attempts exceeded for root from 192.0.2.8 port 3333 ssh2 [preauth]", Want: `max-auth 192.0.2.8 "root"`},
			{Msg: "Disconnecting: Too many authentication failures [preauth]"},
		}},
		{Name: "too many failures (old), address from Connection from", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.8 port 3333 on 192.0.2.200 port 22"},
			{Msg: "Disconnecting: Too many authentication failures for root [preauth]", Want: `max-auth 192.0.2.8 "root"`},
		}},
		{Name: "too many failures (old), address from failed publickey", Steps: []parsertest.Step{
			{Msg: "Failed publickey for git from 192.0.2.111 port 57910 ssh2: ECDSA SHA256:Zm9v"},
			{Msg: "Failed publickey for git from 192.0.2.111 port 57910 ssh2: RSA SHA256:YmFy"},
			{Msg: "Disconnecting: Too many authentication failures [preauth]", Want: `max-auth 192.0.2.111 ""`},
			{Msg: "Connection closed by 192.0.2.111 port 57910 [preauth]", Want: `preauth-close 192.0.2.111 ""`},
		}},
		{Name: "too many failures (old), address after", Steps: []parsertest.Step{
			{Msg: "Disconnecting: Too many authentication failures for root [preauth]"},
			{Msg: "Connection closed by 192.0.2.9 [preauth]", Want: `max-auth 192.0.2.9 ""`},
		}},
		{Name: "change of user", Steps: []parsertest.Step{{
			Msg:  "Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]",
			Want: `auth-failure 192.0.2.117 "admin"`,
		}}},
		{Name: "closed preauth", Steps: []parsertest.Step{{Msg: "Connection closed by 192.0.2.12 port 50001 [preauth]", Want: `preauth-close 192.0.2.12 ""`}}},
		{Name: "closed invalid user", Steps: []parsertest.Step{{Msg: "Connection closed by invalid user pi 192.0.2.12 port 50001 [preauth]", Want: `preauth-close 192.0.2.12 "pi"`}}},
		{Name: "closed authenticating user (key-only server)", Steps: []parsertest.Step{{Msg: "Connection closed by authenticating user root 2001:db8::12 port 50001 [preauth]", Want: `auth-failure 2001:db8::12 "root"`}}},
		{Name: "reset preauth", Steps: []parsertest.Step{{Msg: "Connection reset by 192.0.2.12 port 50001 [preauth]", Want: `preauth-close 192.0.2.12 ""`}}},
		{Name: "disconnected invalid user", Steps: []parsertest.Step{{Msg: "Disconnected from invalid user ubnt 192.0.2.12 port 50001 [preauth]", Want: `preauth-close 192.0.2.12 "ubnt"`}}},
		{Name: "normal log-out is no event", Steps: []parsertest.Step{
			{Msg: "Accepted publickey for alice from 192.0.2.20 port 50002 ssh2: ED25519 SHA256:Zm9v"},
			{Msg: "Received disconnect from 192.0.2.20 port 50002:11: disconnected by user"},
			{Msg: "Disconnected from user alice 192.0.2.20 port 50002"},
			{Msg: "Connection closed by 192.0.2.20 port 50002"},
			{Msg: "Connection reset by 192.0.2.20 port 50002"},
		}},
		{Name: "received disconnect (old sshd)", Steps: []parsertest.Step{{Msg: "error: Received disconnect from 192.0.2.13: 11: Bye Bye [preauth]", Want: `preauth-close 192.0.2.13 ""`}}},
		{Name: "received disconnect then disconnected: one close", Steps: []parsertest.Step{
			{Msg: "Received disconnect from 192.0.2.13 port 41000:11: Bye Bye [preauth]", Want: `preauth-close 192.0.2.13 ""`},
			{Msg: "Disconnected from invalid user admin 192.0.2.13 port 41000 [preauth]"},
			{Msg: "Connection closed by 192.0.2.13 port 41001 [preauth]", Want: `preauth-close 192.0.2.13 ""`},
		}},
		{Name: "received disconnect names the address for a pending failure", Steps: []parsertest.Step{
			{Msg: "Disconnecting: Too many authentication failures for root [preauth]"},
			{Msg: "error: Received disconnect from 192.0.2.13: 11: Bye Bye [preauth]", Want: `max-auth 192.0.2.13 ""`},
		}},
		{Name: "received disconnect auth fail", Steps: []parsertest.Step{{Msg: "Received disconnect from 192.0.2.13 port 41000:3: com.jcraft.jsch.JSchException: Auth fail [preauth]", Want: `auth-failure 192.0.2.13 ""`}}},
		{Name: "received disconnect no methods", Steps: []parsertest.Step{{Msg: "Received disconnect from 2001:db8::13 port 41000:14: No supported authentication methods available [preauth]", Want: `auth-failure 2001:db8::13 ""`}}},
		{Name: "received disconnect ipv6 old format", Steps: []parsertest.Step{
			{Msg: "Connection from 2001:db8::13 port 41000 on 2001:db8::200 port 22"},
			{Msg: "Received disconnect from 2001:db8::13: 11: Bye [preauth]", Want: `preauth-close 2001:db8::13 ""`},
		}},
		{Name: "no identification", Steps: []parsertest.Step{{Msg: "Did not receive identification string from 192.0.2.14 port 60000", Want: `probe 192.0.2.14 ""`}}},
		{Name: "bad protocol version", Steps: []parsertest.Step{{Msg: "Bad protocol version identification 'GET / HTTP/1.1' from 192.0.2.14 port 60000", Want: `protocol-error 192.0.2.14 ""`}}},
		{Name: "banner exchange", Steps: []parsertest.Step{{Msg: "banner exchange: Connection from 192.0.2.14 port 60000: invalid format", Want: `protocol-error 192.0.2.14 ""`}}},
		{Name: "banner exchange other reason", Steps: []parsertest.Step{{Msg: "banner exchange: Connection from 192.0.2.14 port 60000: Connection timed out"}}},
		{Name: "unable to negotiate", Steps: []parsertest.Step{{Msg: "Unable to negotiate with 192.0.2.14 port 60000: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]", Want: `protocol-error 192.0.2.14 ""`}}},
		{Name: "unable to negotiate host key", Steps: []parsertest.Step{{Msg: "Unable to negotiate with 2001:db8::14 port 60000: no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]", Want: `protocol-error 2001:db8::14 ""`}}},
		{Name: "protocol major versions", Steps: []parsertest.Step{{Msg: "Protocol major versions differ for 192.0.2.14 port 60000: SSH-2.0-OpenSSH_9.6 vs. SSH-1.5-Nmap-SSH1-Hostkey", Want: `protocol-error 192.0.2.14 ""`}}},
		{Name: "refused connect (libwrap)", Steps: []parsertest.Step{{Msg: "refused connect from scanner.example.net (192.0.2.15)", Want: `probe 192.0.2.15 ""`}}},
		{Name: "timeout before authentication", Steps: []parsertest.Step{{Msg: "fatal: Timeout before authentication for 192.0.2.16 port 1234", Want: `grace-timeout 192.0.2.16 ""`}}},
		{Name: "root login refused", Steps: []parsertest.Step{{Msg: "ROOT LOGIN REFUSED FROM 192.0.2.17 port 1234", Want: `auth-failure 192.0.2.17 "root"`}}},
		{Name: "kex identification after Connection from", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.18 port 50000 on 192.0.2.200 port 22 rdomain \"\""},
			{Msg: `error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"`, Want: `protocol-error 192.0.2.18 ""`},
			{Msg: "error: kex_exchange_identification: Connection closed by remote host", Want: `probe 192.0.2.18 ""`},
		}},
		{Name: "kex identification before the address", Steps: []parsertest.Step{
			{Msg: "error: kex_exchange_identification: Connection closed by remote host"},
			{Msg: "Connection closed by 192.0.2.19 port 50000", Want: `probe 192.0.2.19 ""`},
		}},
		{Name: "kex reset", Steps: []parsertest.Step{
			{Msg: "Connection from 2001:db8::19 port 50000 on 2001:db8::200 port 22"},
			{Msg: "error: kex_exchange_identification: read: Connection reset by peer", Want: `probe 2001:db8::19 ""`},
			{Msg: "Connection reset by 2001:db8::19 port 50000"},
		}},
		{Name: "kex banner too long is left to the banner exchange line", Steps: []parsertest.Step{
			{Msg: "error: kex_exchange_identification: banner line too long"},
			{Msg: "banner exchange: Connection from 192.0.2.20 port 50000: invalid format", Want: `protocol-error 192.0.2.20 ""`},
		}},
		{Name: "unable to negotiate a method (no address)", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.21 port 39678 on 192.0.2.200 port 22"},
			{Msg: "fatal: Unable to negotiate a key exchange method [preauth]", Want: `protocol-error 192.0.2.21 ""`},
			{Msg: "fatal: no matching mac found: client hmac-md5 server hmac-sha2-256 [preauth]", Want: `protocol-error 192.0.2.21 ""`},
		}},
		{Name: "read from socket (Ltype summary)", Steps: []parsertest.Step{
			{Msg: "SSH: Server;Ltype: Version;Remote: 192.0.2.22-1780;Protocol: 2.0;Client: libssh2_1.4.3"},
			{Msg: "fatal: Read from socket failed: Connection reset by peer [preauth]", Want: `preauth-close 192.0.2.22 ""`},
		}},
		{Name: "read from socket after log-in is no event", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.22 port 1780 on 192.0.2.200 port 22"},
			{Msg: "fatal: Read from socket failed: Connection reset by peer"},
		}},
		{Name: "pam failure then Failed password: one event", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.23  user=root"},
			{Msg: "Failed password for root from 192.0.2.23 port 50000 ssh2", Want: `auth-failure 192.0.2.23 "root"`},
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.23  user=root"},
			{Msg: "Failed password for root from 192.0.2.23 port 50000 ssh2", Want: `auth-failure 192.0.2.23 "root"`},
		}},
		{Name: "pam failure for another user", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24  user=root"},
			{Msg: "pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24 user=admin", Want: `auth-failure 192.0.2.24 "root"`},
			{Msg: "Connection closed by authenticating user admin 192.0.2.24 port 50000 [preauth]", Want: `auth-failure 192.0.2.24 "admin" + preauth-close 192.0.2.24 "admin"`},
		}},
		{Name: "pam failure then success (gh-2070 shape)", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.25  user=eve"},
			{Msg: "Accepted password for eve from 192.0.2.25 port 50000 ssh2"},
			{Msg: "pam_unix(sshd:session): session opened for user eve(uid=1000) by (uid=0)"},
		}},
		{Name: "pam host name", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ws.example.net  user=root"},
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ws.example.net  user=admin"},
		}},
		{Name: "pam without user", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.26"},
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.26  user=admin", Want: `auth-failure 192.0.2.26 ""`},
		}},
		// OpenSSH 9.8+ penalties and grace time, logged by the listening sshd.
		{Name: "drop for a penalty", Steps: []parsertest.Step{
			{Msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime", Want: `grace-timeout 192.0.2.41 ""`, PID: 880},
			{Msg: "drop connection #12 from [2001:db8::41]:50130 on [2001:db8::200]:22 penalty: failed authentication", Want: `probe 2001:db8::41 ""`, PID: 880},
			{Msg: "drop connection #1 from [::ffff:192.0.2.41]:50130 on [::ffff:192.0.2.200]:22 penalty: connections without attempting authentication", Want: `probe 192.0.2.41 ""`, PID: 880},
		}},
		{Name: "drop is the listener's: no connection state", Steps: []parsertest.Step{
			{Msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime", Want: `grace-timeout 192.0.2.41 ""`},
			{Msg: "error: kex_exchange_identification: Connection closed by remote host"},
		}},
		{Name: "drop malformed", Steps: []parsertest.Step{
			{Msg: "drop connection #0 from 192.0.2.41:50130 on [192.0.2.200]:22 penalty: x"},
			{Msg: "drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: "},
			{Msg: "drop connection #0 from [host.example.net]:50130 on [192.0.2.200]:22 penalty: x"},
			{Msg: "drop connection # from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: x"},
		}},
		{Name: "timeout before authentication (newer)", Steps: []parsertest.Step{
			{Msg: "Timeout before authentication for connection from 192.0.2.42 to 198.51.100.87, pid = 1152348", Want: `grace-timeout 192.0.2.42 ""`, PID: 880},
			{Msg: "Timeout before authentication for connection from 2001:db8::42 to 2001:db8::1, pid = 7", Want: `grace-timeout 2001:db8::42 ""`, PID: 880},
			{Msg: "Timeout before authentication for connection from 192.0.2.43 to 198.51.100.87", Want: `grace-timeout 192.0.2.43 ""`, PID: 880},
			{Msg: "Timeout before authentication for connection from 192.0.2.43 to host.example.net, pid = 1", PID: 880},
			{Msg: "Timeout before authentication for connection from 192.0.2.43 to 198.51.100.87, pid = x", PID: 880},
			{Msg: "Timeout before authentication for connection from 192.0.2.43 port 1 to 198.51.100.87, pid = 1", PID: 880},
		}},
		// CVE-2024-6387 and other broken packets before log-in.
		{Name: "dispatch: MAC incorrect", Steps: []parsertest.Step{{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.44 port 55108: message authentication code incorrect [preauth]", Want: `exploit 192.0.2.44 ""`}}},
		{Name: "dispatch: MAC incorrect, authenticating user", Steps: []parsertest.Step{{Msg: "ssh_dispatch_run_fatal: Connection from authenticating user root 192.0.2.44 port 55108: message authentication code incorrect [preauth]", Want: `exploit 192.0.2.44 "root"`}}},
		{Name: "dispatch: MAC incorrect, invalid user", Steps: []parsertest.Step{{Msg: "fatal: ssh_dispatch_run_fatal: Connection from invalid user a: b 2001:db8::44 port 55108: message authentication code incorrect [preauth]", Want: `exploit 2001:db8::44 "a: b"`}}},
		{Name: "dispatch: protocol garbage", Steps: []parsertest.Step{
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: incomplete message [preauth]", Want: `protocol-error 192.0.2.45 ""`},
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: Connection corrupted [preauth]", Want: `protocol-error 192.0.2.45 ""`},
			{Msg: "ssh_dispatch_run_fatal: Connection from authenticating user git 192.0.2.45 port 1: invalid format [preauth]", Want: `protocol-error 192.0.2.45 "git"`},
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.45 port 1: internal error: buffer is read-only [preauth]", Want: `protocol-error 192.0.2.45 ""`},
		}},
		{Name: "dispatch: network errors and after log-in are no events", Steps: []parsertest.Step{
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46 port 1: Broken pipe [preauth]"},
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46 port 1: Connection timed out [preauth]"},
			{Msg: "ssh_dispatch_run_fatal: Connection from user alice 192.0.2.46 port 1: message authentication code incorrect"},
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.46: message authentication code incorrect [preauth]"},
			{Msg: "ssh_dispatch_run_fatal: Connection from host.example.net port 1: message authentication code incorrect [preauth]"},
		}},
		// Accounts refused without the address in the line.
		{Name: "shell does not exist", Steps: []parsertest.Step{
			{Msg: "User nobody not allowed because shell /bin/false does not exist"},
			{Msg: "Connection closed by 192.0.2.47 port 40000 [preauth]", Want: `invalid-user 192.0.2.47 ""`},
		}},
		{Name: "shell not executable, address known", Steps: []parsertest.Step{
			{Msg: "Connection from 192.0.2.48 port 40000 on 192.0.2.200 port 22"},
			{Msg: "User backup not allowed because shell /usr/sbin/nologin x is not executable", Want: `invalid-user 192.0.2.48 "backup"`},
			{Msg: "Connection closed by authenticating user backup 192.0.2.48 port 40000 [preauth]", Want: `preauth-close 192.0.2.48 "backup"`},
		}},
		{Name: "shell reason malformed", Steps: []parsertest.Step{
			{Msg: "User x not allowed because shell  does not exist"},
			{Msg: "Connection closed by 192.0.2.47 port 40000 [preauth]", Want: `preauth-close 192.0.2.47 ""`},
		}},
		{Name: "OpenPAM unknown user", Steps: []parsertest.Step{
			{Msg: "error: PAM: unknown user for illegal user zz from 192.0.2.49", Want: `invalid-user 192.0.2.49 "zz"`},
			{Msg: "error: PAM: unknown user for zz from 2001:db8::49", Want: `invalid-user 2001:db8::49 "zz"`},
			{Msg: "error: PAM: unknown user for zz from host.example.net"},
		}},
		// Closes of existing users that never got in.
		{Name: "key-only bot: disconnected after goodbye", Steps: []parsertest.Step{
			{Msg: "Received disconnect from 192.0.2.50 port 41000:11: Bye Bye [preauth]", Want: `preauth-close 192.0.2.50 ""`},
			{Msg: "Disconnected from authenticating user root 192.0.2.50 port 41000 [preauth]", Want: `auth-failure 192.0.2.50 "root"`},
		}},
		{Name: "key-only bot: reset", Steps: []parsertest.Step{{Msg: "Connection reset by authenticating user root 192.0.2.51 port 1558 [preauth]", Want: `auth-failure 192.0.2.51 "root"`}}},
		{Name: "close after failed password stays a close", Steps: []parsertest.Step{
			{Msg: "Failed password for root from 192.0.2.52 port 50000 ssh2", Want: `auth-failure 192.0.2.52 "root"`},
			{Msg: "Connection closed by authenticating user root 192.0.2.52 port 50000 [preauth]", Want: `preauth-close 192.0.2.52 "root"`},
		}},
		{Name: "disconnected after failed password and goodbye: one close", Steps: []parsertest.Step{
			{Msg: "Failed password for root from 192.0.2.52 port 50000 ssh2", Want: `auth-failure 192.0.2.52 "root"`},
			{Msg: "Received disconnect from 192.0.2.52 port 50000:11: Bye Bye [preauth]", Want: `preauth-close 192.0.2.52 ""`},
			{Msg: "Disconnected from authenticating user root 192.0.2.52 port 50000 [preauth]"},
		}},
		{Name: "close after max-auth stays a close", Steps: []parsertest.Step{
			{Msg: "error: maximum authentication attempts exceeded for root from 192.0.2.53 port 3333 ssh2 [preauth]", Want: `max-auth 192.0.2.53 "root"`},
			{Msg: "Connection reset by authenticating user root 192.0.2.53 port 3333 [preauth]", Want: `preauth-close 192.0.2.53 "root"`},
		}},
		{Name: "close of another address after a failure counts", Steps: []parsertest.Step{
			{Msg: "Failed password for root from 192.0.2.54 port 50000 ssh2", Want: `auth-failure 192.0.2.54 "root"`},
			{Msg: "Connection closed by authenticating user root 192.0.2.55 port 50000 [preauth]", Want: `auth-failure 192.0.2.55 "root"`},
		}},
		{Name: "close of invalid user stays a close", Steps: []parsertest.Step{
			{Msg: "Invalid user pi from 192.0.2.56 port 50000", Want: `invalid-user 192.0.2.56 "pi"`},
			{Msg: "Connection closed by invalid user pi 192.0.2.56 port 50000 [preauth]", Want: `preauth-close 192.0.2.56 "pi"`},
		}},
		{Name: "close after log-in is no event", Steps: []parsertest.Step{
			{Msg: "Connection closed by authenticating user root 192.0.2.57 port 50000"},
			{Msg: "Disconnected from user root 192.0.2.57 port 50000"},
		}},
		// A held PAM failure (package doc, note 2).
		{Name: "pam then close: the PAM failure counts, the close stays a close", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=root"},
			{Msg: "Connection closed by authenticating user root 192.0.2.60 port 50000 [preauth]", Want: `auth-failure 192.0.2.60 "root" + preauth-close 192.0.2.60 "root"`},
		}},
		{Name: "pam then plain close", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=r00t"},
			{Msg: "Connection closed by 192.0.2.60 port 50000 [preauth]", Want: `auth-failure 192.0.2.60 "r00t" + preauth-close 192.0.2.60 ""`},
		}},
		{Name: "pam then log-out close", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=root"},
			{Msg: "Connection closed by 192.0.2.60 port 50000", Want: `auth-failure 192.0.2.60 "root"`},
		}},
		{Name: "pam then max-auth", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.61  user=root"},
			{Msg: "error: maximum authentication attempts exceeded for root from 192.0.2.61 port 3333 ssh2 [preauth]", Want: `auth-failure 192.0.2.61 "root" + max-auth 192.0.2.61 "root"`},
			{Msg: "Disconnecting authenticating user root 192.0.2.61 port 3333: Too many authentication failures [preauth]"},
		}},
		{Name: "pam then PAM more failures", Steps: []parsertest.Step{
			{Msg: "Failed password for root from 192.0.2.62 port 50000 ssh2", Want: `auth-failure 192.0.2.62 "root"`},
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root"},
			{Msg: "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root", Want: `auth-failure 192.0.2.62 "root"`},
			{Msg: "PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root"},
		}},
		{Name: "pam logged twice for one attempt, then success", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63  user=rda"},
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=rda rhost=192.0.2.63 [preauth]"},
			{Msg: "Accepted password for rda from 192.0.2.63 port 52100 ssh2"},
			{Msg: "Connection closed by 192.0.2.63"},
		}},
		{Name: "pam logged twice for one attempt, then Failed: one event", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63  user=root"},
			{Msg: "pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.63 user=root"},
			{Msg: "Failed password for root from 192.0.2.63 port 52100 ssh2", Want: `auth-failure 192.0.2.63 "root"`},
		}},
		{Name: "pam then sshd's PAM error: one event", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.64  user=root"},
			{Msg: "error: PAM: Authentication failure for root from 192.0.2.64", Want: `auth-failure 192.0.2.64 "root"`},
		}},
		{Name: "pam then a line of another address", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.65  user=root"},
			{Msg: "Failed password for root from 192.0.2.67 port 52100 ssh2", Want: `auth-failure 192.0.2.65 "root" + auth-failure 192.0.2.67 "root"`},
		}},
		{Name: "pam then failed publickey: another attempt", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.68  user=git"},
			{Msg: "Failed publickey for git from 192.0.2.68 port 57904 ssh2: ECDSA SHA256:Zm9v", Want: `auth-failure 192.0.2.68 "git"`},
		}},
		{Name: "pam then unrecognised lines keep it held", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.69  user=root"},
			{Msg: "pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily locked"},
			{Msg: "Postponed keyboard-interactive for root from 192.0.2.69 port 57904 ssh2 [preauth]"},
			{Msg: "Failed password for root from 192.0.2.69 port 57904 ssh2", Want: `auth-failure 192.0.2.69 "root"`},
		}},
		{Name: "pam held per connection", Steps: []parsertest.Step{
			{Msg: "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.70  user=root"},
			{Msg: "Failed password for root from 192.0.2.71 port 57904 ssh2", Want: `auth-failure 192.0.2.71 "root"`, PID: 5},
			{Msg: "Failed password for root from 192.0.2.70 port 57904 ssh2", Want: `auth-failure 192.0.2.70 "root"`},
		}},
		{Name: "unrelated lines", Steps: []parsertest.Step{
			{Msg: "Server listening on 0.0.0.0 port 22."},
			{Msg: "Received signal 15; terminating."},
			{Msg: "pam_unix(sshd:session): session closed for user alice"},
			{Msg: "Address 192.0.2.1 maps to x.example.net, but this does not map back to the address [preauth]"},
			{Msg: "reverse mapping checking getaddrinfo for x.example.net [192.0.2.1] failed - POSSIBLE BREAK-IN ATTEMPT!"},
			{Msg: "drop connection #0 from [192.0.2.1]:50000 on [192.0.2.200]:22 past MaxStartups"},
			{Msg: "drop connection #3 from [192.0.2.1]:50000 on [192.0.2.200]:22 past Maxstartups"},
			{Msg: "drop connection #3 from [192.0.2.1]:50000 on [192.0.2.200]:22 too many penalised addresses"},
			{Msg: "srclimit_penalise: ipv4: new 192.0.2.1/32 deferred penalty of 5 seconds for penalty: failed authentication"},
			{Msg: "srclimit_penalise: ipv6: new 2001:db8::/64 active penalty of 30.000 seconds for penalty: exceeded LoginGraceTime"},
			{Msg: "srclimit_penalise: 192.0.2.1/32: activating ipv4 penalty of 16.000 seconds for penalty: connections without attempting authentication"},
			{Msg: "ssh_dispatch_run_fatal: Connection from 192.0.2.1 port 50000: message authentication code incorrect"},
			{Msg: "ssh_dispatch_run_fatal: Connection from user alice 192.0.2.1 port 50000: incomplete message"},
			{Msg: ""},
			{Msg: " [preauth]"},
		}},
	})
}

// TestConnectionState checks that state stays with its connection: host and
// pid, a time limit, a size limit, and forgetting on success.
func TestConnectionState(t *testing.T) {
	const from = "Connection from 192.0.2.30 port 50000 on 192.0.2.200 port 22"
	const kex = "error: kex_exchange_identification: Connection closed by remote host"
	t.Run("other pid", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, parsertest.T0, from)
		if got := parsertest.Describe(feed(p, "srv", 2, parsertest.T0, kex)); got != "" {
			t.Errorf("pid 2 got %s from pid 1's address", got)
		}
	})
	t.Run("other host", func(t *testing.T) {
		p := New()
		feed(p, "a", 1, parsertest.T0, from)
		if got := parsertest.Describe(feed(p, "b", 1, parsertest.T0, kex)); got != "" {
			t.Errorf("host b got %s from host a's address", got)
		}
	})
	t.Run("no pid", func(t *testing.T) {
		p := New()
		feed(p, "srv", -1, parsertest.T0, from)
		if got := parsertest.Describe(feed(p, "srv", -1, parsertest.T0, kex)); got != "" {
			t.Errorf("lines without a pid share state: %s", got)
		}
	})
	t.Run("stale", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, parsertest.T0, from)
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0.Add(stateTTL*time.Second+time.Second), kex)); got != "" {
			t.Errorf("stale state used: %s", got)
		}
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0.Add(stateTTL*time.Second+2*time.Second), "Connection closed by 192.0.2.31 port 1")); got != `probe 192.0.2.31 ""` {
			t.Errorf("the pending probe after stale state: got %s", parsertest.OrNone(got))
		}
	})
	t.Run("fresh", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, parsertest.T0, from)
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0.Add(stateTTL*time.Second), kex)); got != `probe 192.0.2.30 ""` {
			t.Errorf("got %s", parsertest.OrNone(got))
		}
	})
	t.Run("accepted forgets", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, parsertest.T0, from)
		feed(p, "srv", 1, parsertest.T0, "Accepted publickey for alice from 192.0.2.30 port 50000 ssh2: ED25519 SHA256:Zm9v")
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0, "Disconnecting: Too many authentication failures")); got != "" {
			t.Errorf("state survived a log-in: %s", got)
		}
	})
	t.Run("close forgets", func(t *testing.T) {
		p := New()
		feed(p, "srv", 1, parsertest.T0, from)
		feed(p, "srv", 1, parsertest.T0, "Connection closed by 192.0.2.30 port 50000 [preauth]")
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0, kex)); got != "" {
			t.Errorf("state survived the close: %s", got)
		}
	})
	t.Run("evict oldest", func(t *testing.T) {
		p := newParser(3)
		for pid := 1; pid <= 4; pid++ {
			feed(p, "srv", pid, parsertest.T0, fmt.Sprintf("Connection from 192.0.2.%d port 50000 on 192.0.2.200 port 22", pid))
		}
		if n := p.conns.len(); n != 3 {
			t.Errorf("table holds %d connections, cap 3", n)
		}
		if got := parsertest.Describe(feed(p, "srv", 1, parsertest.T0, kex)); got != "" {
			t.Errorf("evicted connection still known: %s", got)
		}
		for pid := 3; pid <= 4; pid++ {
			want := fmt.Sprintf(`probe 192.0.2.%d ""`, pid)
			if got := parsertest.Describe(feed(p, "srv", pid, parsertest.T0, kex)); got != want {
				t.Errorf("pid %d: got %s, want %s", pid, parsertest.OrNone(got), want)
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
	parsertest.IsProgram(t, IsProgram, map[string]bool{
		"sshd": true, "sshd-session": true, "sshd-auth": true,
		"": false, "ssh": false, "sshd2": false, "[sshd]": false, "sshd[1]": false, "SSHD": false, "cron": false,
	})
}

// TestParseLeavesOtherFields checks that Parse fills only Kind, Source, User
// and leaves the event alone when it returns false.
func TestParseLeavesOtherFields(t *testing.T) {
	parsertest.LeavesOtherFields(t, New(), "sshd", "Server listening on :: port 22.", "Failed password for root from 192.0.2.1 port 22 ssh2")
}

// TestUserBounded checks that a long user name is cut to maxUser bytes.
func TestUserBounded(t *testing.T) {
	parsertest.UserBounded(t, New(), "sshd", "Invalid user %s from 192.0.2.1 port 22", maxUser)
}

// TestLoggedIn: a successful log-in is no event, but LoggedIn names its
// address, for that line only; a forged address in the user name does not
// count (sshd writes the real one last).
func TestLoggedIn(t *testing.T) {
	at := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ msg, want string }{
		{"Accepted password for alice from 198.51.100.23 port 4242 ssh2", "198.51.100.23"},
		{"Accepted publickey for alice from 2001:db8::7 port 4242 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4", "2001:db8::7"},
		{"Accepted keyboard-interactive/pam for bob from 203.0.113.9 port 22", "203.0.113.9"},
		{"Accepted password for alice from 198.51.100.23 port 4242 ssh2 trailing", ""},
		{"Failed password for alice from 198.51.100.23 port 4242 ssh2", ""},
		{"Accepted password for x from 192.0.2.1 port 1 from 198.51.100.24 port 4242 ssh2", "198.51.100.24"},
	} {
		p := New()
		if evs := feed(p, "h", 10, at, tt.msg); strings.HasPrefix(tt.msg, "Accepted") && len(evs) != 0 {
			t.Errorf("%q: events %v, want none", tt.msg, evs)
		}
		a, ok := p.LoggedIn()
		if got := ""; ok {
			got = a.String()
			if got != tt.want {
				t.Errorf("%q: LoggedIn %s, want %q", tt.msg, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%q: LoggedIn none, want %s", tt.msg, tt.want)
		}
		feed(p, "h", 10, at, "Connection closed by 198.51.100.23 port 4242")
		if _, ok := p.LoggedIn(); ok {
			t.Errorf("%q: LoggedIn still set after the next line", tt.msg)
		}
	}
}
