// Package charter is the alliance's policy: one YAML document every member
// holds (and compares by Hash) that lists the members and their public keys,
// the territory that is never banned, when reports turn into bans (decisive
// scenarios, quorum, window), how long bans last and escalate, who may ban
// and pardon by hand, the limits every member enforces on reports, and the
// fleet scenarios that add up what members see below their own thresholds
// (with the alliance's salt for user-name hashes), and the alliance-wide
// bouncer keys (their hashes) that every member accepts.
//
// It decodes strictly (unknown keys are errors), fills documented defaults
// for absent policy and limit fields, and validates before anything uses a
// charter; every validation error says what to write instead. It does not
// apply the policy (the arbiter does) and does no I/O except Load reading
// one file; it reads no clock and starts no goroutines.
package charter

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"phalanx/identity"
)

// Bounds that Validate enforces.
const (
	MaxFileSize       = 1 << 20 // bytes of a charter file
	MaxMembers        = 1024
	MaxAddresses      = 64   // per member
	MaxTerritory      = 4096 // prefixes
	MaxDecisive       = 64
	MaxNameLen        = 64
	MaxScenarioLen    = 64
	MaxReportsPerMin  = 60_000
	MaxSkew           = 24 * time.Hour
	MaxWindow         = 24 * time.Hour
	MaxBanDuration    = 10 * 365 * 24 * time.Hour
	minDuration       = time.Second
	hashDomain        = "phalanx charter v1\x00"
	headerComment     = "phalanx charter: the alliance's policy. Every member holds this same document;\ncompare `phalanx charter show` (its hash) across members. To amend it, edit,\nraise version by one, and give the new file to every member."
	decisiveAll       = "*"
	defaultQuorum     = 2
	defaultWindow     = 10 * time.Minute
	defaultBan        = 4 * time.Hour
	defaultEscalation = 168 * time.Hour
	defaultMaxBan     = 168 * time.Hour
	defaultManualMax  = 8760 * time.Hour
	defaultV4         = 16
	defaultV6         = 32
	defaultAlertV4    = 32 // detection bans single IPv4 addresses
	defaultAlertV6    = 64 // and IPv6 /64s
	defaultRate       = 600
	defaultSkew       = 5 * time.Minute
)

// Who may pardon (Policy.Pardon) and add manual bans (Policy.Manual).
const (
	PardonFounding = "founding" // founding members only
	PardonAny      = "any"      // every member
)

// Charter is the alliance's policy document.
type Charter struct {
	Name      string         `yaml:"name"`      // the alliance's name: letters, digits, - and _
	Version   int            `yaml:"version"`   // amendment counter, from 1
	Members   []Member       `yaml:"members"`   // at least one, at least one founding
	Territory []netip.Prefix `yaml:"territory"` // never banned, besides loopback, link-local, multicast, unspecified and members' addresses
	Policy    Policy         `yaml:"policy"`
	Limits    Limits         `yaml:"limits"`
	// Fleet is the fleet section: the scenarios the arbiter evaluates over
	// members' sightings. Nil (no fleet key, as in charters written before
	// fleet scenarios) turns them off; an empty section is DefaultFleet.
	Fleet *Fleet `yaml:"fleet,omitempty"`
	// Bouncers are the alliance-wide bouncer keys (their hashes): every
	// member accepts them besides its own keys. Absent in charters
	// written before them.
	Bouncers []Bouncer `yaml:"bouncers,omitempty"`
}

// Member is one host of the alliance.
type Member struct {
	ID        string         `yaml:"id"`                  // identity.MemberID of the key
	Name      string         `yaml:"name,omitempty"`      // for people, such as the host name
	PublicKey string         `yaml:"public_key"`          // ed25519 public key, standard base64
	Founding  bool           `yaml:"founding,omitempty"`  // founding members may pardon (by default)
	Addresses []netip.Prefix `yaml:"addresses,omitempty"` // the member's own addresses: territory
	// Fabric is "host:port" where the member's embedded NATS server
	// accepts other members: NATS clients (joining members, leaf nodes)
	// at port and cluster routes at port+1. Empty for a member that
	// accepts no one (it connects to the others).
	Fabric string `yaml:"fabric,omitempty"`
}

// Policy says when reports become bans and how long bans last.
type Policy struct {
	// Decisive scenarios ban alliance-wide on one valid report; "*" makes
	// every scenario decisive. Quote it in YAML: - "*".
	Decisive []string `yaml:"decisive"`
	// Quorum is how many distinct members must report the same address or
	// range within Window for any other scenario (default 2).
	Quorum int           `yaml:"quorum"`
	Window time.Duration `yaml:"window"` // default 10m
	// A ban lasts Duration × 2^(earlier alliance bans of the same value that
	// started within EscalationWindow), capped at MaxDuration (defaults 4h,
	// 168h, 168h; an EscalationWindow of 0 turns escalation off).
	Duration         time.Duration `yaml:"duration"`
	EscalationWindow time.Duration `yaml:"escalation_window"`
	MaxDuration      time.Duration `yaml:"max_duration"`
	// ManualMax caps manual bans (default 8760h).
	ManualMax time.Duration `yaml:"manual_max_duration"`
	// Pardon says who may pardon: "founding" (default) or "any".
	Pardon string `yaml:"pardon"`
	// Manual says who may add manual bans (and import them): "founding"
	// or "any"; unset, whoever may pardon (charters written before it
	// keep their meaning and hash). "any" with pardon "founding" suits a
	// fleet whose members each have their own operator: anyone may ban
	// by hand (within reports_per_minute), only founders lift bans.
	Manual string `yaml:"manual,omitempty"`
}

// Limits are what every member enforces on reports.
type Limits struct {
	// MaxPrefixV4 is the widest IPv4 range that may be banned, as a prefix
	// length: 16 allows a /16 but not a /15 (default 16).
	MaxPrefixV4 int `yaml:"max_prefix_v4"`
	// MaxPrefixV6 likewise for IPv6 (default 32).
	MaxPrefixV6 int `yaml:"max_prefix_v6"`
	// AlertPrefixV4 and AlertPrefixV6 are the widest ranges an alert (a
	// member's detection report) may ban: by default 32 and 64, what
	// detection makes, so that no member bans a whole network
	// alliance-wide with an ordinary alert. Manual bans and pardons keep
	// MaxPrefixV4/V6. A member whose scenarios group IPv6 sources wider
	// than /64 (ipv6_prefix) needs AlertPrefixV6 as wide.
	AlertPrefixV4 int `yaml:"alert_prefix_v4"`
	AlertPrefixV6 int `yaml:"alert_prefix_v6"`
	// ReportsPerMinute is how many reports one member may make per minute,
	// measured on report times (default 600).
	ReportsPerMinute int `yaml:"reports_per_minute"`
	// Skew is how far a report's time may be from when the fabric stored it
	// (default 5m).
	Skew time.Duration `yaml:"skew"`
}

// TooWide reports a range wider than l allows any decision to ban; the
// whole address space always is.
func (l Limits) TooWide(p netip.Prefix) bool {
	if p.Bits() == 0 {
		return true
	}
	if p.Addr().Is4() {
		return p.Bits() < l.MaxPrefixV4
	}
	return p.Bits() < l.MaxPrefixV6
}

// AlertTooWide reports a range wider than an alert may ban (detection bans
// single IPv4 addresses and IPv6 /64s; wider takes a manual ban).
func (l Limits) AlertTooWide(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < l.AlertPrefixV4
	}
	return p.Bits() < l.AlertPrefixV6
}

// DefaultPolicy returns the policy's documented defaults (no scenario
// decisive).
func DefaultPolicy() Policy {
	return Policy{
		Quorum:           defaultQuorum,
		Window:           defaultWindow,
		Duration:         defaultBan,
		EscalationWindow: defaultEscalation,
		MaxDuration:      defaultMaxBan,
		ManualMax:        defaultManualMax,
		Pardon:           PardonFounding,
	}
}

// DefaultLimits returns the limits' documented defaults.
func DefaultLimits() Limits {
	return Limits{MaxPrefixV4: defaultV4, MaxPrefixV6: defaultV6, AlertPrefixV4: defaultAlertV4, AlertPrefixV6: defaultAlertV6,
		ReportsPerMinute: defaultRate, Skew: defaultSkew}
}

// Default returns a one-member charter (version 1) founded by founder, in
// which every scenario is decisive: the alliance of one bans on its own
// reports. founder is marked founding. It holds the default fleet section
// without a salt: whoever creates the alliance sets Fleet.Salt (NewSalt).
func Default(name string, founder Member) Charter {
	founder.Founding = true
	p := DefaultPolicy()
	p.Decisive = []string{decisiveAll}
	f := DefaultFleet()
	return Charter{
		Name:    name,
		Version: 1,
		Members: []Member{founder},
		Policy:  p,
		Limits:  DefaultLimits(),
		Fleet:   &f,
	}
}

// NewMember returns the charter entry for an identity's public key.
func NewMember(name string, pub ed25519.PublicKey, addresses ...netip.Prefix) Member {
	return Member{
		ID:        identity.MemberID(pub),
		Name:      name,
		PublicKey: base64.StdEncoding.EncodeToString(pub),
		Addresses: addresses,
	}
}

// Load reads, parses and validates the charter file at path.
func Load(path string) (Charter, error) {
	f, err := os.Open(path)
	if err != nil {
		return Charter{}, fmt.Errorf("open charter: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Charter{}, fmt.Errorf("read charter %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return Charter{}, fmt.Errorf("charter %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes one YAML document strictly (unknown or repeated keys are
// errors) over the defaults for policy and limits, and validates it.
func Parse(data []byte) (Charter, error) {
	if len(data) > MaxFileSize {
		return Charter{}, fmt.Errorf("larger than %d bytes; a charter is a short policy document", MaxFileSize)
	}
	// The shape check comes first: the strict decoder's cost grows with the
	// square of a mapping's keys (see readDocument).
	doc, more, err := readDocument(data)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Charter{}, errors.New("empty; write a charter, or create one with `phalanx alliance init`")
		}
		return Charter{}, fmt.Errorf("decode YAML: %w%s", err, hint(err))
	}
	if more {
		return Charter{}, errors.New("more than one YAML document; a charter file holds exactly one (remove the --- separator and what follows)")
	}
	fleet := DefaultFleet()
	c := Charter{Policy: DefaultPolicy(), Limits: DefaultLimits(), Fleet: &fleet}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Charter{}, fmt.Errorf("decode YAML: %w%s", err, hint(err))
	}
	// The fleet section starts from the defaults when it is there (even
	// empty), and is off when it is not.
	switch {
	case !hasKey(doc, "fleet"):
		c.Fleet = nil
	case c.Fleet == nil:
		c.Fleet = &fleet
		*c.Fleet = DefaultFleet()
	}
	if err := c.Validate(); err != nil {
		return Charter{}, err
	}
	return c, nil
}

// hint adds advice to YAML errors people commonly make.
func hint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "ParsePrefix"):
		return " (write addresses with their length, such as 192.0.2.10/32 or 2001:db8::/48)"
	case strings.Contains(s, "time.Duration"):
		return " (write durations with a unit, such as 10m, 4h or 168h)"
	case strings.Contains(s, "a charter holds no"):
		return ""
	case strings.Contains(s, "alias") || strings.Contains(s, "expected alphabetic or numeric character"):
		return " (a * starts a YAML alias: quote it, as in - \"*\")"
	}
	return ""
}

// Validate reports every problem in c, each saying what to do.
func (c *Charter) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := checkName(c.Name); err != nil {
		bad("name: %w", err)
	}
	if c.Version < 1 {
		bad("version %d: start at 1 and raise it by one with each amendment", c.Version)
	}

	switch n := len(c.Members); {
	case n == 0:
		bad("members: none; list at least this member (phalanx alliance init writes it)")
	case n > MaxMembers:
		bad("members: %d, the limit is %d", n, MaxMembers)
	}
	ids := make(map[string]int, len(c.Members))
	founding := false
	for i, m := range c.Members {
		where := fmt.Sprintf("members[%d]", i)
		if m.Name != "" {
			where = fmt.Sprintf("members[%d] (%s)", i, m.Name)
		}
		if err := checkText(m.Name, MaxNameLen); err != nil {
			bad("%s: name: %w", where, err)
		}
		pub, err := decodeKey(m.PublicKey)
		if err != nil {
			bad("%s: public_key: %w", where, err)
		} else if want := identity.MemberID(pub); m.ID != want {
			bad("%s: id %q does not match public_key; its id is %s", where, m.ID, want)
		}
		if j, dup := ids[m.ID]; dup && m.ID != "" {
			bad("%s: id %s is already members[%d]; list each member once", where, m.ID, j)
		}
		ids[m.ID] = i
		founding = founding || m.Founding
		if len(m.Addresses) > MaxAddresses {
			bad("%s: %d addresses, the limit is %d; list ranges instead", where, len(m.Addresses), MaxAddresses)
		}
		for j, p := range m.Addresses {
			if err := checkPrefix(p); err != nil {
				bad("%s: addresses[%d]: %w", where, j, err)
			}
		}
		if m.Fabric != "" {
			if _, _, err := FabricPorts(m.Fabric); err != nil {
				bad("%s: fabric: %w", where, err)
			}
		}
	}
	if len(c.Members) > 0 && !founding {
		bad("members: none is founding; mark at least one with founding: true")
	}

	if len(c.Territory) > MaxTerritory {
		bad("territory: %d prefixes, the limit is %d; merge them into wider ranges", len(c.Territory), MaxTerritory)
	}
	for i, p := range c.Territory {
		if err := checkPrefix(p); err != nil {
			bad("territory[%d]: %w", i, err)
		}
	}
	if err := checkTerritoryCover(c); err != nil { // territory.go
		errs = append(errs, err)
	}

	p := c.Policy
	if len(p.Decisive) > MaxDecisive {
		bad("policy.decisive: %d entries, the limit is %d; use \"*\" for every scenario", len(p.Decisive), MaxDecisive)
	}
	seen := map[string]bool{}
	for i, s := range p.Decisive {
		if s != decisiveAll {
			if err := checkScenario(s); err != nil {
				bad("policy.decisive[%d]: %w", i, err)
			}
		}
		if seen[s] {
			bad("policy.decisive[%d]: %q is listed twice", i, s)
		}
		seen[s] = true
	}
	if p.Quorum < 1 || p.Quorum > MaxMembers {
		bad("policy.quorum %d is out of range: use 1 to %d (default %d)", p.Quorum, MaxMembers, defaultQuorum)
	} else if p.Quorum > len(c.Members) && !seen[decisiveAll] && len(c.Members) > 0 {
		bad("policy.quorum %d exceeds the %d member(s), so reports of non-decisive scenarios could never ban; lower quorum, add members, or make every scenario decisive with decisive: [\"*\"]", p.Quorum, len(c.Members))
	}
	checkDuration(&errs, "policy.window", p.Window, minDuration, MaxWindow, "10m")
	checkDuration(&errs, "policy.duration", p.Duration, minDuration, MaxBanDuration, "4h")
	checkDuration(&errs, "policy.max_duration", p.MaxDuration, minDuration, MaxBanDuration, "168h")
	if p.MaxDuration < p.Duration {
		bad("policy.max_duration %v is shorter than policy.duration %v; raise max_duration or lower duration", p.MaxDuration, p.Duration)
	}
	checkDuration(&errs, "policy.escalation_window", p.EscalationWindow, 0, MaxBanDuration, "168h (or 0 for no escalation)")
	checkDuration(&errs, "policy.manual_max_duration", p.ManualMax, minDuration, MaxBanDuration, "8760h")
	if p.Pardon != PardonFounding && p.Pardon != PardonAny {
		bad("policy.pardon %q: use %q (founding members only, the default) or %q", p.Pardon, PardonFounding, PardonAny)
	}
	if p.Manual != "" && p.Manual != PardonFounding && p.Manual != PardonAny {
		bad("policy.manual %q: use %q (founding members only), %q, or leave it out (as policy.pardon)", p.Manual, PardonFounding, PardonAny)
	}

	l := c.Limits
	if l.MaxPrefixV4 < 1 || l.MaxPrefixV4 > 32 {
		bad("limits.max_prefix_v4 %d is out of range: use 1 to 32, the widest IPv4 range as a prefix length (default %d: a /16)", l.MaxPrefixV4, defaultV4)
	}
	if l.MaxPrefixV6 < 1 || l.MaxPrefixV6 > 128 {
		bad("limits.max_prefix_v6 %d is out of range: use 1 to 128, the widest IPv6 range as a prefix length (default %d: a /32)", l.MaxPrefixV6, defaultV6)
	}
	if l.AlertPrefixV4 < 1 || l.AlertPrefixV4 > 32 {
		bad("limits.alert_prefix_v4 %d is out of range: use 1 to 32, the widest IPv4 range an alert may ban (default %d; max_prefix_v4 applies too)", l.AlertPrefixV4, defaultAlertV4)
	}
	if l.AlertPrefixV6 < 1 || l.AlertPrefixV6 > 128 {
		bad("limits.alert_prefix_v6 %d is out of range: use 1 to 128, the widest IPv6 range an alert may ban (default %d; max_prefix_v6 applies too)", l.AlertPrefixV6, defaultAlertV6)
	}
	if l.ReportsPerMinute < 1 || l.ReportsPerMinute > MaxReportsPerMin {
		bad("limits.reports_per_minute %d is out of range: use 1 to %d (default %d)", l.ReportsPerMinute, MaxReportsPerMin, defaultRate)
	}
	checkDuration(&errs, "limits.skew", l.Skew, minDuration, MaxSkew, "5m")
	if c.Fleet != nil {
		c.Fleet.validate(&errs)
	}
	c.validateBouncers(&errs)
	return errors.Join(errs...)
}

func checkDuration(errs *[]error, what string, d, lo, hi time.Duration, example string) {
	if d < lo || d > hi {
		*errs = append(*errs, fmt.Errorf("%s %v is out of range: use %v to %v, such as %s", what, d, lo, hi, example))
	}
}

func checkName(s string) error {
	if s == "" {
		return errors.New("empty; name the alliance, such as example-fleet")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("longer than %d bytes; shorten it", MaxNameLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q is not allowed in %q; use letters, digits, - and _", r, s)
		}
	}
	return nil
}

func checkScenario(s string) error {
	if s == "" {
		return errors.New("empty; name a scenario, such as ssh-bf, or \"*\" for all")
	}
	if len(s) > MaxScenarioLen {
		return fmt.Errorf("longer than %d bytes", MaxScenarioLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '/') {
			return fmt.Errorf("%q is not allowed in %q; use letters, digits and . _ - / only", r, s)
		}
	}
	return nil
}

func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes; shorten it", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return fmt.Errorf("control character %q; remove it", r)
		}
	}
	return nil
}

func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("not a valid prefix; write an address with its length, such as 192.0.2.10/32 or 2001:db8::/48")
	case p.Addr().Is4In6():
		return fmt.Errorf("%s is IPv4-mapped; write the IPv4 form, %s", p, unmap(p))
	case p.Masked() != p:
		return fmt.Errorf("%s has address bits beyond its length; write %s for the range, or %s/%d for the one address", p, p.Masked(), p.Addr(), p.Addr().BitLen())
	}
	return nil
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, errors.New("empty; paste the member's public key (phalanx prints it at its first start)")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64 (%w); copy the key again", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%d bytes, an ed25519 public key has %d; copy the key again", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// FabricPorts splits a member's fabric address "host:port" into the
// address NATS clients dial (host:port) and the cluster route address
// (host:port+1); FabricLeaf gives the third, where leaf members attach
// (host:port+2). host must be an IP address or a DNS name, port 1 to 65533.
func FabricPorts(addr string) (client, route string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("%q: write host:port, such as 192.0.2.10:7422", addr)
	}
	if host == "" || len(host) > 253 || strings.ContainsAny(host, " /@?#") {
		return "", "", fmt.Errorf("%q: the host must be this member's address or DNS name, such as 192.0.2.10:7422", addr)
	}
	if a, err := netip.ParseAddr(host); err == nil && (a.IsUnspecified() || a.Zone() != "") {
		return "", "", fmt.Errorf("%q: other members cannot dial %s; write an address they can reach", addr, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65533 {
		return "", "", fmt.Errorf("%q: port must be 1 to 65533 (port+1 takes the cluster routes, port+2 leaf members)", addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// FabricLeaf returns where a member with fabric address addr accepts leaf
// members' servers: host:port+2.
func FabricLeaf(addr string) (string, error) {
	client, _, err := FabricPorts(addr)
	if err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(client)
	p, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(p+2)), nil
}

// Member returns the member with the given ID and its decoded public key.
// It reports false for an unknown ID or a key that does not decode.
func (c *Charter) Member(id string) (Member, ed25519.PublicKey, bool) {
	for _, m := range c.Members {
		if m.ID == id {
			pub, err := decodeKey(m.PublicKey)
			if err != nil {
				return Member{}, nil, false
			}
			return m, pub, true
		}
	}
	return Member{}, nil, false
}

// IsDecisive reports whether one valid report of scenario bans at once.
func (p *Policy) IsDecisive(scenario string) bool {
	for _, s := range p.Decisive {
		if s == decisiveAll || s == scenario {
			return true
		}
	}
	return false
}

// MayPardon reports whether m may pardon.
func (p *Policy) MayPardon(m Member) bool {
	return p.Pardon == PardonAny || m.Founding
}

// MayBan reports whether m may add manual bans (Manual, or Pardon when
// Manual is unset).
func (p *Policy) MayBan(m Member) bool {
	who := p.Manual
	if who == "" {
		who = p.Pardon
	}
	return who == PardonAny || m.Founding
}

// builtinTerritory is never banned whatever the charter says.
func builtinTerritory() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),          // "this network", the unspecified address
		netip.MustParsePrefix("127.0.0.0/8"),        // loopback
		netip.MustParsePrefix("169.254.0.0/16"),     // link-local
		netip.MustParsePrefix("224.0.0.0/4"),        // multicast
		netip.MustParsePrefix("255.255.255.255/32"), // broadcast
		netip.MustParsePrefix("::/128"),             // unspecified
		netip.MustParsePrefix("::1/128"),            // loopback
		netip.MustParsePrefix("fe80::/10"),          // link-local
		netip.MustParsePrefix("ff00::/8"),           // multicast
	}
}

// TerritoryPrefixes returns every prefix that must never be banned: the
// built-in ones (unspecified, loopback, link-local, multicast, broadcast),
// Territory and every member's addresses, and for each IPv4 prefix also its
// IPv4-mapped IPv6 form (so that an IPv6 range covering ::ffff:0:0/96 counts
// as touching IPv4 territory). A ban overlapping any of them is refused.
// Invalid prefixes (which Validate rejects) are left out.
func (c *Charter) TerritoryPrefixes() []netip.Prefix {
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if !p.IsValid() {
			return
		}
		p = unmap(p)
		out = append(out, p)
		if p.Addr().Is4() {
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), p.Bits()+96))
		}
	}
	for _, p := range builtinTerritory() {
		add(p)
	}
	for _, p := range c.Territory {
		add(p)
	}
	for _, m := range c.Members {
		for _, p := range m.Addresses {
			add(p)
		}
	}
	return out
}

// IsTerritory reports whether a ban of p would touch territory: whether p
// overlaps any of TerritoryPrefixes. An IPv4-mapped p is judged as IPv4.
// An invalid p is not territory (and cannot be banned either).
func (c *Charter) IsTerritory(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	p = unmap(p)
	for _, t := range c.TerritoryPrefixes() {
		if t.Overlaps(p) {
			return true
		}
	}
	return false
}

// unmap turns an IPv4-mapped IPv6 prefix of /96 or longer into the IPv4
// prefix it covers and masks host bits; other prefixes are only masked.
func unmap(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// Hash returns the hex SHA-256 of a canonical binary encoding of c, the
// same for every document that means the same charter whatever its YAML
// formatting, key order, comments, member and bouncer order, or the order and
// repetition of prefixes and decisive scenarios. Members compare it to make
// sure they hold the same charter.
func (c *Charter) Hash() string {
	b := []byte(hashDomain)
	b = appendString(b, c.Name)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(c.Version)))
	members := slices.Clone(c.Members)
	slices.SortFunc(members, func(x, y Member) int { return strings.Compare(x.ID, y.ID) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(members)))
	for _, m := range members {
		b = appendString(b, m.ID)
		b = appendString(b, m.Name)
		if pub, err := decodeKey(m.PublicKey); err == nil {
			b = appendString(b, string(pub))
		} else {
			b = appendString(b, "\xff"+m.PublicKey) // cannot collide with 32 key bytes
		}
		b = append(b, boolByte(m.Founding))
		b = appendPrefixes(b, m.Addresses)
		b = appendString(b, m.Fabric)
	}
	b = appendPrefixes(b, c.Territory)
	p := c.Policy
	decisive := slices.Clone(p.Decisive)
	slices.Sort(decisive)
	decisive = slices.Compact(decisive)
	b = binary.BigEndian.AppendUint32(b, uint32(len(decisive)))
	for _, s := range decisive {
		b = appendString(b, s)
	}
	for _, v := range []int64{int64(p.Quorum), int64(p.Window), int64(p.Duration), int64(p.EscalationWindow), int64(p.MaxDuration), int64(p.ManualMax)} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = appendString(b, p.Pardon)
	// Manual only when set, so that charters written before it keep their
	// hash.
	if p.Manual != "" {
		b = append(b, "manual\x00"...)
		b = appendString(b, p.Manual)
	}
	l := c.Limits
	for _, v := range []int64{int64(l.MaxPrefixV4), int64(l.MaxPrefixV6), int64(l.ReportsPerMinute), int64(l.Skew)} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	// The alert widths only when they are not the defaults, so that
	// charters written before them keep their hash.
	if l.AlertPrefixV4 != defaultAlertV4 || l.AlertPrefixV6 != defaultAlertV6 {
		b = append(b, "alert-prefix\x00"...)
		b = binary.BigEndian.AppendUint64(b, uint64(l.AlertPrefixV4))
		b = binary.BigEndian.AppendUint64(b, uint64(l.AlertPrefixV6))
	}
	b = c.appendBouncersHash(b) // tagged, and nothing when empty
	// Nothing for a charter without a fleet section, so that charters
	// written before fleet scenarios keep their hash.
	if c.Fleet != nil {
		b = c.Fleet.appendHash(b)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendPrefixes encodes a set of prefixes: normalised, sorted, without
// repeats.
func appendPrefixes(b []byte, ps []netip.Prefix) []byte {
	norm := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			norm = append(norm, unmap(p))
		}
	}
	slices.SortFunc(norm, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	norm = slices.Compact(norm)
	b = binary.BigEndian.AppendUint32(b, uint32(len(norm)))
	for _, p := range norm {
		a := p.Addr().As16()
		b = append(b, byte(p.Addr().BitLen()))
		b = append(b, a[:]...)
		b = append(b, byte(p.Bits()))
	}
	return b
}

// Marshal returns c as a YAML document with a header comment, durations
// written short (4h, not 4h0m0s). Parse reads it back to an equal charter.
func (c *Charter) Marshal() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode charter: %w", err)
	}
	doc.HeadComment = headerComment
	annotate(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode charter: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode charter: %w", err)
	}
	return buf.Bytes(), nil
}

// isDurationKey reports the charter's duration fields.
func isDurationKey(k string) bool {
	switch k {
	case "window", "duration", "escalation_window", "max_duration", "manual_max_duration", "skew":
		return true
	}
	return false
}

// annotate writes durations short and explains the fields people edit
// (not inside the list of fleet scenarios, whose keys repeat and some of
// which share a name with a top-level key).
func annotate(n *yaml.Node) { annotateNode(n, true) }

func annotateNode(n *yaml.Node, comment bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isDurationKey(k.Value) && v.Kind == yaml.ScalarNode {
				if d, err := time.ParseDuration(v.Value); err == nil {
					v.Value = shortDuration(d)
				}
			}
			if k.Value == "kinds" && v.Kind == yaml.SequenceNode {
				v.Style = yaml.FlowStyle
			}
			if c := keyComment(k.Value); c != "" && comment {
				k.HeadComment = c
			}
			annotateNode(v, comment && k.Value != "scenarios")
		}
		return
	}
	for _, c := range n.Content {
		annotateNode(c, comment)
	}
}

// keyComment explains a key that appears once in a charter.
func keyComment(k string) string {
	switch k {
	case "version":
		return "Raise by one with every amendment."
	case "members":
		return "Each member's id is derived from its public key; founding members may pardon."
	case "territory":
		return "Never banned, besides loopback, link-local, multicast and members' addresses."
	case "decisive":
		return "Scenarios that ban alliance-wide on one report; \"*\" = every scenario."
	case "quorum":
		return "Other scenarios ban when this many members report the same address within window."
	case "duration":
		return "Ban length, doubled per earlier ban within escalation_window, capped at max_duration."
	case "pardon":
		return "Who may pardon: founding or any; manual: who may ban by hand (unset: as pardon)."
	case "max_prefix_v4":
		return "Widest ranges that may be banned, as prefix lengths."
	case "alert_prefix_v4":
		return "Widest ranges an alert (a member's detection report) may ban."
	case "reports_per_minute":
		return "Per member; skew: how far a report's time may be from its arrival."
	case "fleet":
		return "Fleet scenarios add up members' sightings (events below each member's own\nthresholds); each needs several members, and a member's share is capped."
	case "salt":
		return "Keys the user-name hashes in sightings; the same for every member, secret to others."
	case "entries_per_minute":
		return "Per member: sighting entries, besides one report per sighting."
	case "scenarios":
		return "by: source bans the source; by: user bans the sources that tried one user name."
	case "bouncers":
		return "Alliance-wide bouncer keys, accepted by every member: only each key's SHA-256\n(phalanx bouncers add --alliance NAME; delete --alliance NAME)."
	}
	return ""
}

// shortDuration drops zero minute and second parts: 4h0m0s → 4h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
