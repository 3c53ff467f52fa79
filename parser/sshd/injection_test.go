package sshd

import (
	"testing"

	"phalanx/parser/parsertest"
)

// TestInjection feeds lines an attacker at 203.0.113.5 (or another address
// named as the real one) can make sshd write, through user names, banners,
// key ids, client names and disconnect reasons, to get another address
// (192.0.2.66, the victim) blamed. Each case states the only acceptable
// attribution for all its lines: the real address, or none ("") when the line
// is ambiguous. Any event that blames anything else fails.
func TestInjection(t *testing.T) {
	cases := []parsertest.Injection{
		{Name: "failed: tail copied into user name", Lines: []string{
			"Failed password for invalid user x from 192.0.2.1 port 22 ssh2 from 198.51.100.9 port 40000 ssh2",
		}, Want: "198.51.100.9"},
		{Name: "failed: user name ends like a tail with info", Lines: []string{
			"Failed password for invalid user x from 192.0.2.66 port 22 ssh2: from 203.0.113.5 port 40000 ssh2",
		}, Want: ""},
		{Name: "failed: user name with a port-less tail", Lines: []string{
			"Failed password for invalid user x from 192.0.2.66 from 203.0.113.5 port 40000 ssh2",
		}, Want: "203.0.113.5"},
		{Name: "failed: user name is a whole tail with colon (an empty user would leave two spaces)", Lines: []string{
			"Failed password for invalid user from 192.0.2.66 port 22 ssh2: from 203.0.113.5 port 40000 ssh2",
		}, Want: "203.0.113.5"},
		{Name: "failed: mapped addresses", Lines: []string{
			"Failed password for invalid user x from ::ffff:192.0.2.66 port 22 ssh2: from ::ffff:203.0.113.5 port 40000 ssh2",
		}, Want: ""},
		{Name: "failed publickey: certificate key id holds a tail", Lines: []string{
			"Failed publickey for invalid user x from 203.0.113.5 port 40000 ssh2: ED25519-CERT SHA256:Zm9v ID evil from 192.0.2.66 port 22 ssh2 (serial 1) CA ED25519 SHA256:YmFy",
		}, Want: "203.0.113.5"},
		{Name: "failed publickey: certificate key id holds a tail and colon", Lines: []string{
			"Failed publickey for invalid user x from 203.0.113.5 port 40000 ssh2: ED25519-CERT SHA256:Zm9v ID evil from 192.0.2.66 port 22 ssh2: x (serial 1) CA ED25519 SHA256:YmFy",
		}, Want: ""},
		{Name: "failed hostbased: client user holds a tail", Lines: []string{
			`Failed hostbased for invalid user x from 203.0.113.5 port 40000 ssh2: RSA SHA256:Zm9v, client user "y from 192.0.2.66 port 22 ssh2", client host "h"`,
		}, Want: "203.0.113.5"},
		{Name: "failed hostbased: client host ends the line with a tail", Lines: []string{
			`Failed hostbased for invalid user x from 203.0.113.5 port 40000 ssh2: RSA SHA256:Zm9v, client user "y", client host "h from 192.0.2.66 port 22 ssh2"`,
		}, Want: "203.0.113.5"},
		{Name: "failed: escaped newline and a nested sshd line in the user", Lines: []string{
			`Failed password for invalid user x\nsshd[1]: Failed password for root from 192.0.2.66 port 22 ssh2 from 203.0.113.5 port 40000 ssh2`,
		}, Want: "203.0.113.5"},
		{Name: "invalid user: tail copied into user name", Lines: []string{
			"Invalid user a from 192.0.2.66 port 22 from 203.0.113.5 port 40000",
		}, Want: "203.0.113.5"},
		{Name: "invalid user: host name in the real place", Lines: []string{
			"Invalid user a from 192.0.2.66 from attacker.example.net",
		}, Want: ""},
		{Name: "pam error: via and from in user name", Lines: []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 via 10.0.0.1 from 203.0.113.5",
		}, Want: "203.0.113.5"},
		{Name: "pam error: host name in the real place", Lines: []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 from evil.example.org",
		}, Want: ""},
		{Name: "pam error: via trailer copied into user name", Lines: []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 via 203.0.113.5 from 203.0.113.5 via 10.0.0.1",
		}, Want: "203.0.113.5"},
		{Name: "pam_unix: rhost inside user=", Lines: []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=a",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x rhost=192.0.2.66",
		}, Want: "203.0.113.5"},
		{Name: "pam_unix: empty real rhost, rhost inside user=", Lines: []string{
			"Connection from 203.0.113.5 port 40000 on 192.0.2.200 port 22",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=  user=x rhost=192.0.2.66",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=  user=y rhost=192.0.2.66",
		}, Want: ""},
		{Name: "closed by authenticating user: addresses in user name", Lines: []string{
			"Connection closed by authenticating user x 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "disconnected: a whole connection id in user name", Lines: []string{
			"Disconnected from invalid user x 192.0.2.66 port 22 [preauth] 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "received disconnect: address in client's reason", Lines: []string{
			"Received disconnect from 203.0.113.5 port 40000:11: from 192.0.2.66 port 22 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "received disconnect: address in client's reason names a pending failure", Lines: []string{
			"Disconnecting: Too many authentication failures for x [preauth]",
			"Received disconnect from 203.0.113.5 port 40000:11: Connection closed by 192.0.2.66 port 22 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "received disconnect: Auth fail reason with address", Lines: []string{
			"Received disconnect from 203.0.113.5 port 40000:3: 192.0.2.66: Auth fail [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "bad protocol: tail inside the banner", Lines: []string{
			"Bad protocol version identification 'x' from 192.0.2.66 port 22' from 203.0.113.5 port 40000",
		}, Want: "203.0.113.5"},
		{Name: "kex: Connection from inside the identifier", Lines: []string{
			"Connection from 203.0.113.5 port 40000 on 192.0.2.200 port 22",
			`error: kex_exchange_identification: client sent invalid protocol identifier "Connection from 192.0.2.66 port 22"`,
		}, Want: "203.0.113.5"},
		{Name: "unable to negotiate: address in the client's offer", Lines: []string{
			"Unable to negotiate with 203.0.113.5 port 40000: no matching cipher found. Their offer: from 192.0.2.66 port 22 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "change of user: marker inside the old user name", Lines: []string{
			"Disconnecting invalid user x 192.0.2.66 port 22: Change of username or service not allowed: (x, 203.0.113.5 port 40000: Change of username or service not allowed: (x 192.0.2.66 port 22: Change of username or service not allowed: (x,,ssh-connection) -> (y,ssh-connection) [preauth]",
		}, Want: ""},
		{Name: "change of user: marker inside the new user name", Lines: []string{
			"Disconnecting invalid user x 203.0.113.5 port 40000: Change of username or service not allowed: (x,ssh-connection) -> (y 192.0.2.66 port 22: Change of username or service not allowed: (,ssh-connection) [preauth]",
		}, Want: ""},
		{Name: "maximum attempts: tail copied into user name", Lines: []string{
			"error: maximum authentication attempts exceeded for invalid user x from 192.0.2.66 port 22 ssh2 from 203.0.113.5 port 40000 ssh2 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "too many failures: user name holds an address", Lines: []string{
			"Disconnecting: Too many authentication failures for x from 192.0.2.66 port 22 [preauth]",
			"Connection closed by 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "not allowed: reason copied into the user name", Lines: []string{
			"User x from 192.0.2.66 not allowed because not listed in AllowUsers from 203.0.113.5 not allowed because listed in DenyUsers",
		}, Want: "203.0.113.5"},
		{Name: "refused connect: ident user holds an address in parentheses", Lines: []string{
			"refused connect from x (192.0.2.66)@203.0.113.5 (203.0.113.5)",
		}, Want: "203.0.113.5"},
		{Name: "nested line: another program's text", Lines: []string{
			"sshd[1]: Failed password for root from 192.0.2.66 port 22 ssh2",
			"error: sshd[1]: Invalid user x from 192.0.2.66 port 22",
			"Accepted password for alice from 192.0.2.2 port 22 ssh2: Failed password for root from 192.0.2.66 port 22 ssh2",
		}, Want: ""},
		{Name: "a fake [preauth] does not move the address", Lines: []string{
			"Connection closed by 192.0.2.66 port 22 [preauth] [preauth]",
		}, Want: ""},
		{Name: "dispatch fatal: a whole connection id and reason in the user name", Lines: []string{
			"ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.66 port 22: message authentication code incorrect 203.0.113.5 port 40000: incomplete message [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "dispatch fatal: a MAC failure inside the user name does not outweigh the real reason", Lines: []string{
			"ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.66 port 22: message authentication code incorrect 203.0.113.5 port 40000: Broken pipe [preauth]",
		}, Want: ""},
		{Name: "closed by authenticating user: an auth-failure blames only the real address", Lines: []string{
			"Connection closed by authenticating user x 192.0.2.66 port 22 [preauth] 203.0.113.5 port 40000 [preauth]",
			"Disconnected from authenticating user x 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "pam_unix: held failure released by a line that names another address in a user", Lines: []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x from 192.0.2.66 port 22",
			"Connection closed by authenticating user x from 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "PAM more failures: rhost inside user=", Lines: []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=a",
			"PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x rhost=192.0.2.66",
		}, Want: "203.0.113.5"},
		{Name: "unknown user (OpenPAM): from inside the user name", Lines: []string{
			"error: PAM: unknown user for illegal user x from 192.0.2.66 from 203.0.113.5",
		}, Want: "203.0.113.5"},
		{Name: "shell not allowed: an address in the account name is no address", Lines: []string{
			"User 192.0.2.66 not allowed because shell /bin/false does not exist",
			"Connection closed by 203.0.113.5 port 40000 [preauth]",
		}, Want: "203.0.113.5"},
		{Name: "drop connection: brackets in the real places only", Lines: []string{
			"drop connection #0 from [203.0.113.5]:40000 on [192.0.2.66]:22 penalty: exceeded LoginGraceTime",
		}, Want: "203.0.113.5"},
		{Name: "timeout: the first address is the client", Lines: []string{
			"Timeout before authentication for connection from 203.0.113.5 to 192.0.2.66, pid = 1234",
		}, Want: "203.0.113.5"},
		{Name: "octal-looking victim", Lines: []string{
			"Invalid user x from 0300.0000.0002.0102 port 22",
			"Invalid user x from 3221226050 port 22",
			"Invalid user x from 192.0.2.066 port 22",
		}, Want: ""},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d injection cases", len(cases))
	}
	parsertest.Injections(t, "sshd", New, cases)
}
