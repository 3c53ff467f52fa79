// Package phalanx holds the domain types that every part of phalanx shares:
// events parsed from log lines, alerts raised by scenarios, and decisions
// that enforcers apply. It must not do I/O or depend on any other package
// of the module; the packages around it depend on it.
package phalanx

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Kind says what an event is evidence of.
type Kind uint8

// The kinds of events parsers produce.
const (
	KindUnknown      Kind = iota
	KindAuthFailure       // a failed password, public key, keyboard-interactive or PAM attempt
	KindInvalidUser       // a log-in attempt for a user that does not exist
	KindMaxAuth           // the server cut a connection for too many authentication attempts
	KindPreauthClose      // a connection closed or reset before authentication finished
	KindProbe             // a connection that said nothing useful: no banner, closed during key exchange, refused for a penalty
	KindProtocol          // protocol garbage: a malformed banner, no common key exchange or cipher, a broken packet
	KindExploit           // the trace of a known exploit, such as CVE-2024-6387's corrupted packets before log-in
	KindTimeout           // a connection that sat unauthenticated until the server's grace time ran out

	// HTTP kinds: what the web tier's rule pack makes of a request.
	KindHTTPProbe       // a 400, 403 or 404 on a resource that is not a static asset (Event.Path says which)
	KindHTTPSensitive   // a request for a secret or internal file: .env, .git/, backups, keys, dumps
	KindHTTPTraversal   // path traversal: ../ in any encoding, /etc/passwd, win.ini
	KindHTTPSQLi        // SQL injection probing in the URI
	KindHTTPXSS         // cross-site scripting probing in the URI
	KindHTTPWebshell    // a request for a known web shell or backdoor
	KindHTTPAdminScan   // a request for an admin interface that is not there (phpMyAdmin, manager/html, …)
	KindHTTPBadAgent    // a scanner's or attack tool's user agent
	KindHTTPOpenProxy   // an open-proxy attempt: CONNECT, or an absolute URI for another host
	KindHTTPCVE         // a known exploit's probe (log4shell, Spring4Shell, …; Event.Detail names it)
	KindHTTPWPLogin     // a failed WordPress log-in (POST /wp-login.php answered 200)
	KindHTTPXMLRPC      // a POST to WordPress's xmlrpc.php
	KindHTTPLoginFail   // a 401 or 403 answered to a POST on a log-in path
	KindHTTPRateLimited // a request the web server refused for its rate limit (nginx limit_req, 429)
	KindHTTPAuthFailure // a failed HTTP basic authentication (error logs; 401 with a user name)
	KindHTTPBadRequest  // a request line that is not HTTP (a TLS handshake on port 80, binary, a 400 with no request)
	KindHTTPFakeCrawler // a user agent that claims a search engine's crawler from an address that is not the crawler's

	// Mail, FTP, database and firewall kinds (the services of packages
	// postfix, dovecot, exim, ftp, dbauth and netfilter also use the kinds
	// above: auth-failure, invalid-user, protocol-error, preauth-close, probe).
	KindMailReject // a mail server refused a client's command: relay access denied, unknown recipient, bad HELO or sender
	KindDNSBL      // the client's address is listed on a DNS blocklist the mail server consults
	KindPortProbe  // a packet a firewall logged and refused (netfilter LOG); Event.Path names the port, such as "tcp/23"
	kindCount
)

var kindNames = [kindCount]string{
	KindUnknown:      "unknown",
	KindAuthFailure:  "auth-failure",
	KindInvalidUser:  "invalid-user",
	KindMaxAuth:      "max-auth",
	KindPreauthClose: "preauth-close",
	KindProbe:        "probe",
	KindProtocol:     "protocol-error",
	KindExploit:      "exploit",
	KindTimeout:      "grace-timeout",

	KindHTTPProbe:       "http-probe",
	KindHTTPSensitive:   "http-sensitive",
	KindHTTPTraversal:   "http-traversal",
	KindHTTPSQLi:        "http-sqli",
	KindHTTPXSS:         "http-xss",
	KindHTTPWebshell:    "http-webshell",
	KindHTTPAdminScan:   "http-admin-scan",
	KindHTTPBadAgent:    "http-bad-agent",
	KindHTTPOpenProxy:   "http-open-proxy",
	KindHTTPCVE:         "http-cve",
	KindHTTPWPLogin:     "http-wp-login",
	KindHTTPXMLRPC:      "http-xmlrpc",
	KindHTTPLoginFail:   "http-login-failure",
	KindHTTPRateLimited: "http-rate-limited",
	KindHTTPAuthFailure: "http-auth-failure",
	KindHTTPBadRequest:  "http-bad-request",
	KindHTTPFakeCrawler: "http-fake-crawler",

	KindMailReject: "mail-reject",
	KindDNSBL:      "dnsbl",
	KindPortProbe:  "port-probe",
}

// String returns the kind's stable name, as it appears in JSON and config.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the kind with the given name.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s && Kind(k) != KindUnknown {
			return Kind(k), nil
		}
	}
	return KindUnknown, fmt.Errorf("unknown event kind %q (known: %s)", s, strings.Join(kindNames[1:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Event is one recognised log line.
type Event struct {
	// Time is when the event is judged to have happened: the time written in
	// the line when a finished file is replayed, the time the line arrived
	// when a live source (a tailed file, the journal, a syslog receiver)
	// delivered it, so that a line dated in the future or the past cannot
	// blind a source.
	Time    time.Time
	Written time.Time  // the time written in the line, kept as evidence; zero when it has none
	Service string     // the service whose parser recognised it, such as "sshd"
	Kind    Kind       // what it is evidence of
	Source  netip.Addr // the remote address the line blames (unmapped: never an IPv4-mapped IPv6 address)
	User    string     // the user name tried, if any; attacker-controlled
	Line    int64      // 1-based line number in its source
	Raw     []byte     // the whole line; valid only during the call that hands the event over
	Via     string     // how the line arrived when that is evidence too, such as "syslog from 192.0.2.7"; "" for files
	// Path is the HTTP request's path (without its query) for HTTP
	// events, and the protocol and destination port ("tcp/23") for
	// port-probe events; distinct scenarios may count distinct paths.
	// Attacker-controlled.
	Path string
	// Detail names the rule that recognised the line when a kind covers
	// many (the CVE an http-cve probe is for, such as "log4shell").
	Detail string
	// Kept is what a live pipeline's ParseSink kept of the line as it was
	// parsed (its Parsed may set it), handed back with the event when the
	// event is judged, on whatever goroutine judges; nil for nothing.
	Kept any
}

// Alert is a scenario that fired for one source.
type Alert struct {
	Scenario string       // name of the scenario
	Source   netip.Prefix // the source address, or its aggregate (an IPv6 /64 by default)
	Addr     netip.Addr   // the address (inside Source) of the event that made it fire; zero if unknown
	First    time.Time    // time of the first event in the evidence window
	Last     time.Time    // time of the event that made the scenario fire
	Count    int          // events counted by the scenario when it fired
	Evidence []int64      // line numbers of the evidence, most recent last (bounded)
	Detail   string       // the Detail of the event that made it fire (the rule, such as a CVE's name); "" for none
}

// Origin says who caused a decision.
type Origin string

// Decision origins.
const (
	OriginSelf     Origin = "self"     // this member's own scenario fired
	OriginAlliance Origin = "alliance" // the charter's arbiter decided from reports
	OriginManual   Origin = "manual"   // an operator added it
	OriginFeed     Origin = "feed"     // a subscribed blocklist
)

// Decision is a remedy applied to an address or range for a time.
type Decision struct {
	ID       uint64
	Origin   Origin
	Type     string       // "ban"
	Value    netip.Prefix // a single address is a full-length prefix
	Scenario string
	Start    time.Time
	Until    time.Time
	Reason   string // free text for people, such as the alert that caused it
}

// Scope is "Ip" for a single address and "Range" otherwise, as CrowdSec spells them.
func (d *Decision) Scope() string {
	if d.Value.IsSingleIP() {
		return "Ip"
	}
	return "Range"
}

// Duration is the decision's whole length.
func (d *Decision) Duration() time.Duration { return d.Until.Sub(d.Start) }

// Active reports whether the decision applies at now.
func (d *Decision) Active(now time.Time) bool { return !now.Before(d.Start) && now.Before(d.Until) }

// Normalize returns addr with an IPv4-mapped IPv6 address turned into IPv4 and
// any zone dropped, so that one host has one key everywhere.
func Normalize(addr netip.Addr) netip.Addr {
	return addr.Unmap().WithZone("")
}

// NormalizePrefix returns p with a zone dropped, an IPv4-mapped IPv6 prefix
// of /96 or longer turned into its IPv4 prefix, and host bits masked; false
// for an invalid prefix. Every table and enforcer keys values this way.
func NormalizePrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}
