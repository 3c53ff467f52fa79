package netfilter

import (
	"testing"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/parsertest"
)

const (
	ufwSyn  = "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=54321 DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0 "
	nftSyn6 = "nft-drop: IN=ens3 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0005 DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=51 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=3389 WINDOW=64240 RES=0x00 SYN URGP=0"
)

// describe writes a line's event as "kind source path".
func describe(p *Parser, msg string) string {
	fr := logline.Frame{Program: []byte("kernel"), PID: -1, Message: []byte(msg)}
	var ev phalanx.Event
	if !p.Parse(&fr, &ev) {
		return ""
	}
	return ev.Kind.String() + " " + ev.Source.String() + " " + ev.Path
}

// TestShapes covers LOG lines as the kernel writes them (kern.log, ufw.log
// and the journal, with and without the printk time) and lines that must
// not count.
func TestShapes(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"ufw syn", "[12345.678901] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=192.0.2.1 LEN=44 TOS=0x00 PREC=0x00 TTL=243 ID=54321 PROTO=TCP SPT=54321 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0", "port-probe 203.0.113.5 tcp/23"},
		{"journal, no printk time", "[UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.5 DST=192.0.2.1 LEN=44 TTL=243 ID=1 PROTO=TCP SPT=5 DPT=8080 WINDOW=1024 RES=0x00 SYN URGP=0", "port-probe 203.0.113.5 tcp/8080"},
		{"iptables prefix with colon", "iptables-dropped: IN=eth0 OUT= MAC=00 SRC=203.0.113.6 DST=192.0.2.1 LEN=60 PROTO=TCP SPT=1 DPT=22 SYN", "port-probe 203.0.113.6 tcp/22"},
		{"no prefix", "IN=eth0 OUT= SRC=203.0.113.6 DST=192.0.2.1 LEN=60 PROTO=UDP SPT=1 DPT=161 LEN=40", "port-probe 203.0.113.6 udp/161"},
		{"ipv6 full form", nftSyn6, "port-probe 2001:db8::5 tcp/3389"},
		{"ipv4-mapped", "IN=eth0 OUT= SRC=::ffff:203.0.113.7 DST=::ffff:192.0.2.1 PROTO=TCP DPT=25 SYN", "port-probe 203.0.113.7 tcp/25"},
		{"outgoing", "[UFW BLOCK] IN= OUT=eth0 SRC=192.0.2.1 DST=203.0.113.5 PROTO=TCP SPT=1 DPT=25 SYN", ""},
		{"allowed", "[UFW ALLOW] IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=22 SYN", ""},
		{"audit", "[UFW AUDIT] IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=22 SYN", ""},
		{"a reply, not an attempt", "[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.1 DST=192.0.2.1 PROTO=TCP SPT=443 DPT=51234 WINDOW=0 RES=0x00 ACK RST URGP=0", ""},
		{"syn-ack", "[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.1 DST=192.0.2.1 PROTO=TCP SPT=443 DPT=51234 ACK SYN URGP=0", ""},
		{"icmp error quoting a packet", "[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.1 DST=192.0.2.1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.1 DST=198.51.100.1 PROTO=UDP SPT=53 DPT=4000 ]", ""},
		{"icmp", "IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1", ""},
		{"host name", "IN=eth0 OUT= SRC=evil.example DST=192.0.2.1 PROTO=TCP DPT=22 SYN", ""},
		{"port out of range", "IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP DPT=70000 SYN", ""},
		{"IN= inside a word", "XIN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP DPT=22 SYN", ""},
		{"not a LOG line", "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None", ""},
	} {
		if got := describe(New(), c.msg); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// TestInjection: the only text in a LOG line that anyone but the kernel
// chooses is the operator's prefix; fields repeated after the first (an
// ICMP error's quoted header) never name the source.
func TestInjection(t *testing.T) {
	for _, msg := range []string{
		"IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=22 SYN SRC=192.0.2.66",
		"IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=ICMP TYPE=3 [SRC=192.0.2.66 PROTO=TCP DPT=22 SYN]",
		"SRC=192.0.2.66 IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=22 SYN",
	} {
		fr := logline.Frame{Program: []byte("kernel"), Message: []byte(msg)}
		var ev phalanx.Event
		if New().Parse(&fr, &ev) && ev.Source.String() != "203.0.113.5" {
			t.Errorf("blamed %v: %q", ev.Source, msg)
		}
	}
}

func TestIsProgram(t *testing.T) {
	parsertest.IsProgram(t, IsProgram, map[string]bool{"kernel": true, "kern": false, "": false})
}

// TestPortNames: the cache hands out the right name whatever it held.
func TestPortNames(t *testing.T) {
	p := New()
	for round := 0; round < 2; round++ {
		for port := 0; port <= 65535; port += 7 {
			if got, want := p.portPath(port%2 == 0, port), map[bool]string{true: "udp/", false: "tcp/"}[port%2 == 0]+itoa(port); got != want {
				t.Fatalf("port %d: %q, want %q", port, got, want)
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
