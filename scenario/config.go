package scenario

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"phalanx"
)

// Scenario types.
const (
	// TypeLeaky is a leaky bucket: every counted event pours one unit, one
	// unit drains every Leak, and the scenario fires on the event that makes
	// the level exceed Capacity.
	TypeLeaky = "leaky"
	// TypeDistinct counts distinct user names: the scenario fires on the event
	// that brings the number of remembered distinct users to Capacity. A user
	// is remembered for Capacity×Leak after its latest event.
	TypeDistinct = "distinct"
	// TypeWindow counts events in a sliding window, as fail2ban's maxretry
	// and findtime do: the scenario fires on the event that brings the
	// number of counted events within the last Window to Capacity.
	TypeWindow = "window"
)

// What a distinct scenario counts (Spec.Of).
const (
	OfUser = "user"
	OfPath = "path"
)

// Limits that Validate enforces. They keep per-source memory small and all
// time arithmetic far from overflow.
const (
	MaxScenarios        = 64                  // scenarios in one configuration (Observe keeps a uint64 mask)
	MaxDistinctCapacity = 64                  // users remembered per source by a distinct scenario
	MaxWindowCapacity   = 256                 // events remembered per source by a window scenario
	MaxLeakyCapacity    = 1_000_000           // units in a leaky bucket
	MaxWindow           = 30 * 24 * time.Hour // bound on Capacity×Leak and on Blackhole
	MaxSourcesLimit     = 1 << 24             // bound on Config.MaxSources
	MaxEvidence         = 16                  // line numbers carried by an alert
	maxNameLen          = 64                  // bytes in a scenario name
	defaultMaxSources   = 65536               // Config.MaxSources by default
	defaultIPv6Prefix   = 64                  // Config.IPv6Prefix by default
	minIPv6Prefix       = 32                  // coarsest IPv6 grouping accepted
	defaultBlackhole    = time.Minute         // every default scenario's blackhole
	defaultEnumLeak     = 2 * time.Minute     // ssh-user-enum: 5 users × 2m = a 10-minute memory
	defaultProbeLeak    = 10 * time.Second    // ssh-probe: a check every 10 s or slower never fires
	defaultProbeCap     = 20                  // ssh-probe
	defaultBruteCap     = 5                   // ssh-bf: fail2ban's maxretry
	defaultBruteWindow  = 10 * time.Minute    // ssh-bf: fail2ban's findtime
	defaultSlowCap      = 10                  // ssh-slow-bf
	defaultSlowWindow   = time.Hour           // ssh-slow-bf
	defaultEnumCap      = 5                   // ssh-user-enum
	defaultGarbageCap   = 5                   // ssh-protocol
	defaultGarbageWin   = time.Minute         // ssh-protocol
	defaultExploitCap   = 2                   // ssh-exploit
	defaultExploitWin   = 10 * time.Minute    // ssh-exploit
	defaultGraceCap     = 5                   // ssh-grace
	defaultGraceWin     = 10 * time.Minute    // ssh-grace
	defaultServiceCap   = 5                   // mail-bf, mail-reject, ftp-bf, db-bf: fail2ban's maxretry for their jails
	defaultServiceWin   = 10 * time.Minute    // and its findtime
	defaultDNSBLCap     = 1                   // mail-dnsbl: fail2ban's postfix-rbl jail bans on the first
	defaultScanCap      = 10                  // tcp-scan: distinct ports
	defaultScanLeak     = 30 * time.Second    // tcp-scan: 10 ports × 30 s = each port remembered 5 minutes
)

// Services of the built-in scenarios, as pipeline names them.
var (
	sshServices  = []string{"sshd", "dropbear"}
	mailServices = []string{"postfix", "dovecot", "exim"}
	ftpServices  = []string{"vsftpd", "proftpd", "pure-ftpd"}
	dbServices   = []string{"mysql", "postgresql"}
)

// Config configures an Engine. Decode it over DefaultConfig, strictly.
type Config struct {
	// IPv6Prefix groups IPv6 sources by this prefix length (32 to 128): an
	// attacker usually controls a whole /64, so by default one /64 is one
	// source. 128 tracks each address alone. IPv4 sources are always
	// tracked per address.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// MaxSources is the hard cap on tracked source groups (1 to 16777216).
	// A source's state is kept per family of scenarios (those with the
	// same services) that its events use: with the default scenarios about
	// 1.1 KB for a source seen by one service (about 70 MiB for a full table
	// at the default of 65536) and at most about 2.5 KB for a source seen
	// by every service (about 165 MiB).
	MaxSources int `yaml:"max_sources"`
	// Scenarios are the detection rules, at least one.
	Scenarios []Spec `yaml:"scenarios"`
}

// Spec is one detection rule.
type Spec struct {
	// Name identifies the scenario in alerts and decisions, such as "ssh-bf":
	// letters, digits and . _ - / only.
	Name string `yaml:"name"`
	// Kinds are the event kinds that count, at least one.
	Kinds []phalanx.Kind `yaml:"kinds"`
	// Services limits the scenario to events of these services; empty means
	// any service.
	Services []string `yaml:"services"`
	// Type is TypeLeaky, TypeDistinct or TypeWindow.
	Type string `yaml:"type"`
	// Of says what a distinct scenario counts: OfUser (the default, when
	// empty) counts distinct user names, OfPath distinct HTTP paths.
	Of string `yaml:"of"`
	// Capacity: a leaky bucket fires on the event that makes its level
	// exceed Capacity (the Capacity+1st event of an instant burst); a
	// distinct scenario fires on the event that brings the remembered
	// distinct users to Capacity.
	Capacity int `yaml:"capacity"`
	// Leak: a leaky bucket drains one unit per Leak, continuously; a distinct
	// scenario forgets a user Capacity×Leak after that user's latest event.
	// A window scenario has no leak.
	Leak time.Duration `yaml:"leak"`
	// Window is how far back a window scenario counts (its only time
	// setting): it fires on the event that brings the events counted within
	// the last Window to Capacity.
	Window time.Duration `yaml:"window"`
	// Blackhole is how long after an alert the same source and scenario
	// raise no new alert (0 = none). Events still count meanwhile, but a
	// bucket's level stays at Capacity until the blackhole ends.
	Blackhole time.Duration `yaml:"blackhole"`
}

// DefaultConfig returns the documented defaults: sources grouped per IPv4
// address and per IPv6 /64, at most 65536 of them, and DefaultScenarios.
func DefaultConfig() Config {
	return Config{
		IPv6Prefix: defaultIPv6Prefix,
		MaxSources: defaultMaxSources,
		Scenarios:  DefaultScenarios(),
	}
}

// DefaultScenarios returns the built-in scenarios of the services that
// package pipeline knows, but for the web tier's (its rule pack holds them).
// The ssh scenarios count the events of sshd and dropbear alike.
// They ban at least what fail2ban's default sshd jail bans, and more:
//
//   - ssh-bf: window, 5 events within 10 minutes over auth-failure,
//     invalid-user and max-auth, as fail2ban's default jail (maxretry 5,
//     findtime 10m) counts them. It fires on the 5th.
//   - ssh-slow-bf: window, 10 of the same events within an hour: an attacker
//     pacing itself under ssh-bf.
//   - ssh-user-enum: distinct, capacity 5, leak 2m over invalid-user and
//     auth-failure events that carry a user: the 5th distinct user name, each
//     remembered for 10 minutes after its latest attempt.
//   - ssh-probe: leaky, capacity 20, leak 10s over preauth-close, probe and
//     grace-timeout: a burst of 21, or a source connecting steadily more
//     often than every 10 s. A monitoring check every 10 s or slower never
//     fires.
//   - ssh-protocol: window, 5 protocol-error events (garbage banners, no
//     common key exchange, broken packets) within a minute.
//   - ssh-exploit: window, 2 exploit events (the corrupted packets before
//     log-in that CVE-2024-6387 attempts leave) within 10 minutes.
//   - ssh-grace: window, 5 grace-timeout events (connections held open,
//     unauthenticated, until sshd's LoginGraceTime ran out: what
//     CVE-2024-6387 attempts do, one or a MaxStartups burst a minute or two)
//     within 10 minutes. A user who leaves a password prompt open times out
//     once.
//
// The ssh scenarios count the events of sshd and dropbear only.
//
// The scenarios of the other built-in services (see package pipeline) are
// at least as strict as fail2ban's jail for each (Debian's jail.conf:
// maxretry 5 within a findtime of 10 minutes, postfix-rbl's maxretry 1),
// and each counts the events of its family of services together:
//
//   - mail-bf: window, 5 auth-failure, invalid-user or max-auth events of
//     postfix, dovecot and exim within 10 minutes (fail2ban's postfix-sasl,
//     dovecot and exim jails: 5 in 10m each).
//   - mail-slow-bf: window, 10 of them within an hour.
//   - mail-user-enum: distinct, capacity 5, leak 2m over their
//     invalid-user and auth-failure events that carry a user.
//   - mail-reject: window, 5 mail-reject or protocol-error events
//     (relay access denied, unknown recipients, bad HELO, pipelining, too
//     many errors, postscreen's PREGREET) within 10 minutes (fail2ban's
//     postfix jail: 5 in 10m).
//   - mail-dnsbl: window, the first dnsbl event (a reject that names a
//     blocklist, postscreen's DNSBL rank) within 10 minutes (fail2ban's
//     postfix-rbl jail: maxretry 1).
//   - mail-probe: leaky, capacity 20, leak 10s over preauth-close and probe
//     (lost connection after CONNECT/AUTH, postscreen HANGUP, dovecot's
//     connections without a log-in attempt): fail2ban matches these only
//     in modes its default jails do not enable.
//   - ftp-bf: window, 5 auth-failure, invalid-user or max-auth events of
//     vsftpd, proftpd and pure-ftpd within 10 minutes (fail2ban: 5 in 10m).
//   - db-bf: window, 5 auth-failure or invalid-user events of mysql and
//     postgresql within 10 minutes (fail2ban's mysqld-auth: 5 in 10m;
//     it has no PostgreSQL jail).
//   - tcp-scan: distinct over Event.Path (of: path), capacity 10, leak
//     30s, over netfilter's port-probe events, whose Path names the
//     protocol and port ("tcp/23"): the 10th distinct TCP or UDP
//     destination port that one source's refused, logged packets tried,
//     each port remembered 5 minutes. fail2ban has no such jail on kernel
//     logs (its portsentry jail bans on the first line of portsentry's
//     own log).
//
// Every default scenario has a blackhole of one minute.
func DefaultScenarios() []Spec {
	auth := []phalanx.Kind{phalanx.KindAuthFailure, phalanx.KindInvalidUser, phalanx.KindMaxAuth}
	enum := []phalanx.Kind{phalanx.KindInvalidUser, phalanx.KindAuthFailure}
	ssh := func() []string { return slices.Clone(sshServices) }
	mail := func() []string { return slices.Clone(mailServices) }
	return []Spec{
		{Name: "ssh-bf", Kinds: auth, Services: ssh(), Type: TypeWindow, Capacity: defaultBruteCap, Window: defaultBruteWindow, Blackhole: defaultBlackhole},
		{Name: "ssh-slow-bf", Kinds: slices.Clone(auth), Services: ssh(), Type: TypeWindow, Capacity: defaultSlowCap, Window: defaultSlowWindow, Blackhole: defaultBlackhole},
		{Name: "ssh-user-enum", Kinds: slices.Clone(enum), Services: ssh(), Type: TypeDistinct, Capacity: defaultEnumCap, Leak: defaultEnumLeak, Blackhole: defaultBlackhole},
		{Name: "ssh-probe", Kinds: []phalanx.Kind{phalanx.KindPreauthClose, phalanx.KindProbe, phalanx.KindTimeout}, Services: ssh(), Type: TypeLeaky, Capacity: defaultProbeCap, Leak: defaultProbeLeak, Blackhole: defaultBlackhole},
		{Name: "ssh-protocol", Kinds: []phalanx.Kind{phalanx.KindProtocol}, Services: ssh(), Type: TypeWindow, Capacity: defaultGarbageCap, Window: defaultGarbageWin, Blackhole: defaultBlackhole},
		{Name: "ssh-exploit", Kinds: []phalanx.Kind{phalanx.KindExploit}, Services: ssh(), Type: TypeWindow, Capacity: defaultExploitCap, Window: defaultExploitWin, Blackhole: defaultBlackhole},
		{Name: "ssh-grace", Kinds: []phalanx.Kind{phalanx.KindTimeout}, Services: ssh(), Type: TypeWindow, Capacity: defaultGraceCap, Window: defaultGraceWin, Blackhole: defaultBlackhole},

		{Name: "mail-bf", Kinds: slices.Clone(auth), Services: mail(), Type: TypeWindow, Capacity: defaultServiceCap, Window: defaultServiceWin, Blackhole: defaultBlackhole},
		{Name: "mail-slow-bf", Kinds: slices.Clone(auth), Services: mail(), Type: TypeWindow, Capacity: defaultSlowCap, Window: defaultSlowWindow, Blackhole: defaultBlackhole},
		{Name: "mail-user-enum", Kinds: slices.Clone(enum), Services: mail(), Type: TypeDistinct, Capacity: defaultEnumCap, Leak: defaultEnumLeak, Blackhole: defaultBlackhole},
		{Name: "mail-reject", Kinds: []phalanx.Kind{phalanx.KindMailReject, phalanx.KindProtocol}, Services: mail(), Type: TypeWindow, Capacity: defaultServiceCap, Window: defaultServiceWin, Blackhole: defaultBlackhole},
		{Name: "mail-dnsbl", Kinds: []phalanx.Kind{phalanx.KindDNSBL}, Services: mail(), Type: TypeWindow, Capacity: defaultDNSBLCap, Window: defaultServiceWin, Blackhole: defaultBlackhole},
		{Name: "mail-probe", Kinds: []phalanx.Kind{phalanx.KindPreauthClose, phalanx.KindProbe}, Services: mail(), Type: TypeLeaky, Capacity: defaultProbeCap, Leak: defaultProbeLeak, Blackhole: defaultBlackhole},
		{Name: "ftp-bf", Kinds: slices.Clone(auth), Services: slices.Clone(ftpServices), Type: TypeWindow, Capacity: defaultServiceCap, Window: defaultServiceWin, Blackhole: defaultBlackhole},
		{Name: "db-bf", Kinds: slices.Clone(enum), Services: slices.Clone(dbServices), Type: TypeWindow, Capacity: defaultServiceCap, Window: defaultServiceWin, Blackhole: defaultBlackhole},
		{Name: "tcp-scan", Kinds: []phalanx.Kind{phalanx.KindPortProbe}, Services: []string{"netfilter"}, Type: TypeDistinct, Of: OfPath, Capacity: defaultScanCap, Leak: defaultScanLeak, Blackhole: defaultBlackhole},
	}
}

// Validate reports every problem in c, each saying where it is and what to
// do.
func (c Config) Validate() error {
	var errs []error
	if c.IPv6Prefix < minIPv6Prefix || c.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("ipv6_prefix %d is out of range: use %d to 128 (64 groups each /64, 128 tracks single addresses)", c.IPv6Prefix, minIPv6Prefix))
	}
	if c.MaxSources < 1 || c.MaxSources > MaxSourcesLimit {
		errs = append(errs, fmt.Errorf("max_sources %d is out of range: use 1 to %d (default %d)", c.MaxSources, MaxSourcesLimit, defaultMaxSources))
	}
	if len(c.Scenarios) == 0 {
		errs = append(errs, errors.New("scenarios: none configured; add at least one, or leave the key out to use the defaults"))
	}
	if len(c.Scenarios) > MaxScenarios {
		errs = append(errs, fmt.Errorf("scenarios: %d configured, at most %d are supported", len(c.Scenarios), MaxScenarios))
	}
	seen := make(map[string]int, len(c.Scenarios))
	for i := range c.Scenarios {
		s := &c.Scenarios[i]
		if j, dup := seen[s.Name]; dup && s.Name != "" {
			errs = append(errs, fmt.Errorf("scenarios[%d]: name %q is already used by scenarios[%d]; give each scenario its own name", i, s.Name, j))
		}
		seen[s.Name] = i
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("scenarios[%d] (%q): %w", i, s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Spec) validate() error {
	var errs []error
	if err := checkName(s.Name); err != nil {
		errs = append(errs, err)
	}
	if len(s.Kinds) == 0 {
		errs = append(errs, errors.New("kinds: none listed; list the event kinds that count, such as [auth-failure, invalid-user]"))
	}
	for j, k := range s.Kinds {
		if _, err := phalanx.ParseKind(k.String()); err != nil {
			errs = append(errs, fmt.Errorf("kinds[%d]: %w", j, err))
		}
	}
	for j, svc := range s.Services {
		if svc == "" {
			errs = append(errs, fmt.Errorf("services[%d]: empty; name a service such as sshd, or leave services out to match any", j))
		}
	}
	switch s.Type {
	case TypeLeaky:
		if s.Capacity < 1 || s.Capacity > MaxLeakyCapacity {
			errs = append(errs, fmt.Errorf("capacity %d is out of range: a leaky bucket needs 1 to %d", s.Capacity, MaxLeakyCapacity))
		}
	case TypeDistinct:
		if s.Capacity < 1 || s.Capacity > MaxDistinctCapacity {
			errs = append(errs, fmt.Errorf("capacity %d is out of range: a distinct scenario needs 1 to %d users", s.Capacity, MaxDistinctCapacity))
		}
	case TypeWindow:
		if s.Capacity < 1 || s.Capacity > MaxWindowCapacity {
			errs = append(errs, fmt.Errorf("capacity %d is out of range: a window scenario needs 1 to %d events", s.Capacity, MaxWindowCapacity))
		}
		if s.Leak != 0 {
			errs = append(errs, fmt.Errorf("leak %v: a window scenario has no leak; set window, such as 10m", s.Leak))
		}
		if s.Window <= 0 || s.Window > MaxWindow {
			errs = append(errs, fmt.Errorf("window %v is out of range: use more than 0 up to %v, such as 10m", s.Window, MaxWindow))
		}
	default:
		errs = append(errs, fmt.Errorf("type %q is unknown: use %q, %q or %q", s.Type, TypeLeaky, TypeDistinct, TypeWindow))
	}
	switch {
	case s.Of == "" || s.Of == OfUser || s.Of == OfPath && s.Type == TypeDistinct:
	case s.Of == OfPath:
		errs = append(errs, fmt.Errorf("of %q: only a distinct scenario counts distinct values; leave it out for %q", s.Of, s.Type))
	default:
		errs = append(errs, fmt.Errorf("of %q is unknown: use %q or %q", s.Of, OfUser, OfPath))
	}
	if s.Type != TypeWindow && s.Window != 0 {
		errs = append(errs, fmt.Errorf("window %v: only a window scenario has one; use leak for %q", s.Window, s.Type))
	}
	switch {
	case s.Type == TypeWindow: // no leak; checked above
	case s.Leak <= 0:
		errs = append(errs, fmt.Errorf("leak %v must be positive, such as 10s", s.Leak))
	case s.Capacity >= 1 && s.Capacity <= MaxLeakyCapacity && s.Leak > MaxWindow/time.Duration(s.Capacity):
		errs = append(errs, fmt.Errorf("capacity × leak = %d × %v exceeds %v; lower one of them", s.Capacity, s.Leak, MaxWindow))
	}
	if s.Blackhole < 0 || s.Blackhole > MaxWindow {
		errs = append(errs, fmt.Errorf("blackhole %v is out of range: use 0 (none) to %v", s.Blackhole, MaxWindow))
	}
	return errors.Join(errs...)
}

func checkName(name string) error {
	if name == "" {
		return errors.New("name: empty; name the scenario, such as ssh-bf")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("name: longer than %d bytes; shorten it", maxNameLen)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '/'
		if !ok {
			return fmt.Errorf("name %q: %q is not allowed; use letters, digits and . _ - / only", name, r)
		}
	}
	return nil
}
