package sshd

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"phalanx"
	"phalanx/parser/ipaddr"
	"phalanx/parser/parsertest"
)

var fuzzSeeds = []string{
	"Failed password for root from 203.0.113.7 port 52144 ssh2",
	"Failed password for invalid user x from 192.0.2.66 port 22 ssh2: from 203.0.113.5 port 40000 ssh2",
	"Failed publickey for invalid user x from 2001:db8::5 port 40000 ssh2: ED25519-CERT SHA256:Zm9v ID a from 192.0.2.66 port 22 ssh2: (serial 1) CA ED25519 SHA256:YmFy",
	"Invalid user  from ::ffff:192.0.2.3 port 51000",
	"error: PAM: authentication error for carol from 192.0.2.9 via 10.1.1.1",
	"User root from 192.0.2.4 not allowed because not listed in AllowUsers",
	"User root not allowed because account is locked\nReceived disconnect from 192.0.2.5 port 40000:11: Bye Bye [preauth]",
	"error: maximum authentication attempts exceeded for root from 192.0.2.8 port 3333 ssh2 [preauth]",
	"Connection from 192.0.2.8 port 3333 on 192.0.2.200 port 22\nDisconnecting: Too many authentication failures for root [preauth]",
	"Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]",
	"Connection closed by authenticating user root 2001:db8::12 port 50001 [preauth]",
	"Received disconnect from 2001:db8::13: 11: Bye [preauth]",
	"Bad protocol version identification 'x' from 192.0.2.66 port 22' from 203.0.113.5 port 40000",
	"banner exchange: Connection from 192.0.2.14 port 60000: invalid format",
	"Unable to negotiate with 192.0.2.14 port 60000: no matching key exchange method found. Their offer: x",
	"refused connect from x (192.0.2.66)@203.0.113.5 (203.0.113.5)",
	"SSH: Server;Ltype: Version;Remote: 192.0.2.22-1780;Protocol: 2.0\nfatal: Read from socket failed: Connection reset by peer [preauth]",
	"error: kex_exchange_identification: Connection closed by remote host\nConnection closed by 192.0.2.19 port 50000",
	"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24  user=root\npam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.24 user=x rhost=192.0.2.66",
	"ROOT LOGIN REFUSED FROM fe80::1%eth0 port 1",
	"Protocol major versions differ for 192.0.2.14: SSH-2.0-x vs. SSH-1.5-y",
	"fatal: Timeout before authentication for 192.0.2.16 port 1234",
	"Timeout before authentication for connection from 192.0.2.42 to 198.51.100.87, pid = 1152348",
	"drop connection #0 from [192.0.2.41]:50130 on [192.0.2.200]:22 penalty: exceeded LoginGraceTime",
	"ssh_dispatch_run_fatal: Connection from authenticating user root 192.0.2.44 port 55108: message authentication code incorrect [preauth]",
	"ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.66 port 22: message authentication code incorrect 203.0.113.5 port 4: incomplete message [preauth]",
	"User nobody not allowed because shell /bin/false does not exist\nConnection closed by 192.0.2.47 port 40000 [preauth]",
	"error: PAM: unknown user for illegal user zz from 192.0.2.49",
	"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.60  user=root\nConnection closed by authenticating user root 192.0.2.60 port 50000 [preauth]",
	"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root\nPAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.62  user=root",
	"Received disconnect from 192.0.2.50 port 41000:11: Bye Bye [preauth]\nDisconnected from authenticating user root 192.0.2.50 port 41000 [preauth]",
}

// FuzzParse feeds arbitrary messages to one parser over two connections
// (see parsertest.Fuzz), seeded with the messages of fail2ban's sshd samples
// too. A line yields at most two events; an event's user is at most maxUser
// bytes and appears in the connection's lines, or is root (some lines imply
// it).
func FuzzParse(f *testing.F) {
	seeds := slices.Concat(fuzzSeeds, parsertest.SampleMessages("sshd", "sshd", "sshd-journal"))
	newSmall := func() *Parser { return newParser(4) }
	parsertest.Fuzz(f, "sshd", newSmall, seeds, parsertest.Promise{Events: 2, User: maxUser, Implied: "root"})
}

// FuzzParseAddr checks the hand-written address parser against net/netip:
// whatever it accepts, netip reads as the same address written canonically,
// and every canonically written address is accepted.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1", "::ffff:192.0.2.1",
		"fe80::1%eth0", "1:2:3:4:5:6:7:8", "1::", "1:0:0:0:0:0:0:8", "::ffff:1.2.3.4:5", "010.1.1.1",
		"2001:DB8::1", "1.2.3", "1.2.3.4.5", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "[::1]", "1.2.3.256",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok {
			if err != nil {
				t.Fatalf("parseAddr(%q) = %v, netip: %v", s, got, err)
			}
			if got != phalanx.Normalize(want) {
				t.Fatalf("parseAddr(%q) = %v, netip: %v", s, got, want)
			}
			if !strings.Contains(s, got.String()) {
				t.Fatalf("parseAddr(%q) = %v, not in the text", s, got)
			}
			return
		}
		if err == nil && want.String() == s && (want.Zone() == "" || ipaddr.ValidZone([]byte(want.Zone()))) && len(s) <= ipaddr.MaxText {
			t.Fatalf("parseAddr rejects canonical %q", s)
		}
	})
}
