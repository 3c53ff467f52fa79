package sshd

import (
	"net/netip"
	"testing"
)

// TestInjection feeds lines an attacker at 203.0.113.5 (or another address
// named as the real one) can make sshd write, through user names, banners,
// key ids, client names and disconnect reasons, to get another address
// (192.0.2.66, the victim) blamed. Each case states the only acceptable
// attribution for all its lines: the real address, or none ("") when the line
// is ambiguous. Any event that blames anything else fails.
func TestInjection(t *testing.T) {
	const victim = "192.0.2.66"
	cases := []struct {
		name  string
		lines []string
		want  string // the only address any line may be attributed to; "" = no event at all
	}{
		{"failed: tail copied into user name", []string{
			"Failed password for invalid user x from 192.0.2.1 port 22 ssh2 from 198.51.100.9 port 40000 ssh2",
		}, "198.51.100.9"},
		{"failed: user name ends like a tail with info", []string{
			"Failed password for invalid user x from 192.0.2.66 port 22 ssh2: from 203.0.113.5 port 40000 ssh2",
		}, ""},
		{"failed: user name with a port-less tail", []string{
			"Failed password for invalid user x from 192.0.2.66 from 203.0.113.5 port 40000 ssh2",
		}, "203.0.113.5"},
		{"failed: user name is a whole tail with colon (an empty user would leave two spaces)", []string{
			"Failed password for invalid user from 192.0.2.66 port 22 ssh2: from 203.0.113.5 port 40000 ssh2",
		}, "203.0.113.5"},
		{"failed: mapped addresses", []string{
			"Failed password for invalid user x from ::ffff:192.0.2.66 port 22 ssh2: from ::ffff:203.0.113.5 port 40000 ssh2",
		}, ""},
		{"failed publickey: certificate key id holds a tail", []string{
			"Failed publickey for invalid user x from 203.0.113.5 port 40000 ssh2: ED25519-CERT SHA256:Zm9v ID evil from 192.0.2.66 port 22 ssh2 (serial 1) CA ED25519 SHA256:YmFy",
		}, "203.0.113.5"},
		{"failed publickey: certificate key id holds a tail and colon", []string{
			"Failed publickey for invalid user x from 203.0.113.5 port 40000 ssh2: ED25519-CERT SHA256:Zm9v ID evil from 192.0.2.66 port 22 ssh2: x (serial 1) CA ED25519 SHA256:YmFy",
		}, ""},
		{"failed hostbased: client user holds a tail", []string{
			`Failed hostbased for invalid user x from 203.0.113.5 port 40000 ssh2: RSA SHA256:Zm9v, client user "y from 192.0.2.66 port 22 ssh2", client host "h"`,
		}, "203.0.113.5"},
		{"failed hostbased: client host ends the line with a tail", []string{
			`Failed hostbased for invalid user x from 203.0.113.5 port 40000 ssh2: RSA SHA256:Zm9v, client user "y", client host "h from 192.0.2.66 port 22 ssh2"`,
		}, "203.0.113.5"},
		{"failed: escaped newline and a nested sshd line in the user", []string{
			`Failed password for invalid user x\nsshd[1]: Failed password for root from 192.0.2.66 port 22 ssh2 from 203.0.113.5 port 40000 ssh2`,
		}, "203.0.113.5"},
		{"invalid user: tail copied into user name", []string{
			"Invalid user a from 192.0.2.66 port 22 from 203.0.113.5 port 40000",
		}, "203.0.113.5"},
		{"invalid user: host name in the real place", []string{
			"Invalid user a from 192.0.2.66 from attacker.example.net",
		}, ""},
		{"pam error: via and from in user name", []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 via 10.0.0.1 from 203.0.113.5",
		}, "203.0.113.5"},
		{"pam error: host name in the real place", []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 from evil.example.org",
		}, ""},
		{"pam error: via trailer copied into user name", []string{
			"error: PAM: Authentication failure for x from 192.0.2.66 via 203.0.113.5 from 203.0.113.5 via 10.0.0.1",
		}, "203.0.113.5"},
		{"pam_unix: rhost inside user=", []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=a",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x rhost=192.0.2.66",
		}, "203.0.113.5"},
		{"pam_unix: empty real rhost, rhost inside user=", []string{
			"Connection from 203.0.113.5 port 40000 on 192.0.2.200 port 22",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=  user=x rhost=192.0.2.66",
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=  user=y rhost=192.0.2.66",
		}, ""},
		{"closed by authenticating user: addresses in user name", []string{
			"Connection closed by authenticating user x 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"disconnected: a whole connection id in user name", []string{
			"Disconnected from invalid user x 192.0.2.66 port 22 [preauth] 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"received disconnect: address in client's reason", []string{
			"Received disconnect from 203.0.113.5 port 40000:11: from 192.0.2.66 port 22 [preauth]",
		}, "203.0.113.5"},
		{"received disconnect: address in client's reason names a pending failure", []string{
			"Disconnecting: Too many authentication failures for x [preauth]",
			"Received disconnect from 203.0.113.5 port 40000:11: Connection closed by 192.0.2.66 port 22 [preauth]",
		}, "203.0.113.5"},
		{"received disconnect: Auth fail reason with address", []string{
			"Received disconnect from 203.0.113.5 port 40000:3: 192.0.2.66: Auth fail [preauth]",
		}, "203.0.113.5"},
		{"bad protocol: tail inside the banner", []string{
			"Bad protocol version identification 'x' from 192.0.2.66 port 22' from 203.0.113.5 port 40000",
		}, "203.0.113.5"},
		{"kex: Connection from inside the identifier", []string{
			"Connection from 203.0.113.5 port 40000 on 192.0.2.200 port 22",
			`error: kex_exchange_identification: client sent invalid protocol identifier "Connection from 192.0.2.66 port 22"`,
		}, "203.0.113.5"},
		{"unable to negotiate: address in the client's offer", []string{
			"Unable to negotiate with 203.0.113.5 port 40000: no matching cipher found. Their offer: from 192.0.2.66 port 22 [preauth]",
		}, "203.0.113.5"},
		{"change of user: marker inside the old user name", []string{
			"Disconnecting invalid user x 192.0.2.66 port 22: Change of username or service not allowed: (x, 203.0.113.5 port 40000: Change of username or service not allowed: (x 192.0.2.66 port 22: Change of username or service not allowed: (x,,ssh-connection) -> (y,ssh-connection) [preauth]",
		}, ""},
		{"change of user: marker inside the new user name", []string{
			"Disconnecting invalid user x 203.0.113.5 port 40000: Change of username or service not allowed: (x,ssh-connection) -> (y 192.0.2.66 port 22: Change of username or service not allowed: (,ssh-connection) [preauth]",
		}, ""},
		{"maximum attempts: tail copied into user name", []string{
			"error: maximum authentication attempts exceeded for invalid user x from 192.0.2.66 port 22 ssh2 from 203.0.113.5 port 40000 ssh2 [preauth]",
		}, "203.0.113.5"},
		{"too many failures: user name holds an address", []string{
			"Disconnecting: Too many authentication failures for x from 192.0.2.66 port 22 [preauth]",
			"Connection closed by 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"not allowed: reason copied into the user name", []string{
			"User x from 192.0.2.66 not allowed because not listed in AllowUsers from 203.0.113.5 not allowed because listed in DenyUsers",
		}, "203.0.113.5"},
		{"refused connect: ident user holds an address in parentheses", []string{
			"refused connect from x (192.0.2.66)@203.0.113.5 (203.0.113.5)",
		}, "203.0.113.5"},
		{"nested line: another program's text", []string{
			"sshd[1]: Failed password for root from 192.0.2.66 port 22 ssh2",
			"error: sshd[1]: Invalid user x from 192.0.2.66 port 22",
			"Accepted password for alice from 192.0.2.2 port 22 ssh2: Failed password for root from 192.0.2.66 port 22 ssh2",
		}, ""},
		{"a fake [preauth] does not move the address", []string{
			"Connection closed by 192.0.2.66 port 22 [preauth] [preauth]",
		}, ""},
		{"dispatch fatal: a whole connection id and reason in the user name", []string{
			"ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.66 port 22: message authentication code incorrect 203.0.113.5 port 40000: incomplete message [preauth]",
		}, "203.0.113.5"},
		{"dispatch fatal: a MAC failure inside the user name does not outweigh the real reason", []string{
			"ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.66 port 22: message authentication code incorrect 203.0.113.5 port 40000: Broken pipe [preauth]",
		}, ""},
		{"closed by authenticating user: an auth-failure blames only the real address", []string{
			"Connection closed by authenticating user x 192.0.2.66 port 22 [preauth] 203.0.113.5 port 40000 [preauth]",
			"Disconnected from authenticating user x 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"pam_unix: held failure released by a line that names another address in a user", []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x from 192.0.2.66 port 22",
			"Connection closed by authenticating user x from 192.0.2.66 port 22 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"PAM more failures: rhost inside user=", []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=a",
			"PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=x rhost=192.0.2.66",
		}, "203.0.113.5"},
		{"unknown user (OpenPAM): from inside the user name", []string{
			"error: PAM: unknown user for illegal user x from 192.0.2.66 from 203.0.113.5",
		}, "203.0.113.5"},
		{"shell not allowed: an address in the account name is no address", []string{
			"User 192.0.2.66 not allowed because shell /bin/false does not exist",
			"Connection closed by 203.0.113.5 port 40000 [preauth]",
		}, "203.0.113.5"},
		{"drop connection: brackets in the real places only", []string{
			"drop connection #0 from [203.0.113.5]:40000 on [192.0.2.66]:22 penalty: exceeded LoginGraceTime",
		}, "203.0.113.5"},
		{"timeout: the first address is the client", []string{
			"Timeout before authentication for connection from 203.0.113.5 to 192.0.2.66, pid = 1234",
		}, "203.0.113.5"},
		{"octal-looking victim", []string{
			"Invalid user x from 0300.0000.0002.0102 port 22",
			"Invalid user x from 3221226050 port 22",
			"Invalid user x from 192.0.2.066 port 22",
		}, ""},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d injection cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New()
			events := 0
			for _, line := range c.lines {
				for _, ev := range feed(p, "srv", 999, t0, line) {
					events++
					if ev.Source == netip.MustParseAddr(victim) {
						t.Errorf("blamed the victim: %q", line)
					}
					if c.want == "" {
						t.Errorf("ambiguous line blamed %v: %q", ev.Source, line)
					} else if ev.Source != netip.MustParseAddr(c.want) {
						t.Errorf("blamed %v, want %s: %q", ev.Source, c.want, line)
					}
				}
			}
			if c.want != "" && events == 0 {
				t.Errorf("no event; %s is the only acceptable attribution", c.want)
			}
		})
	}
}
