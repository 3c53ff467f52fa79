// Package config reads phalanx's YAML configuration file strictly (unknown
// keys are errors) over documented defaults, and hands each component only
// its own section. It must not start anything or keep global state.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"phalanx/feed"
	"phalanx/forwardauth"
	"phalanx/httprules"
	"phalanx/parser/httplog"
	"phalanx/pipeline"
	"phalanx/remedy"
	"phalanx/scenario"
	"phalanx/source"
)

// File is the whole configuration file.
type File struct {
	Detection   scenario.Config    `yaml:"detection"`
	Decisions   remedy.Config      `yaml:"decisions"`
	Daemon      Daemon             `yaml:"daemon"`
	Feeds       feed.Config        `yaml:"feeds"`
	ForwardAuth forwardauth.Config `yaml:"forward_auth"`
	HTTP        HTTP               `yaml:"http"`

	// compiled is HTTP made ready for the pipeline by Validate.
	compiled *pipeline.HTTPConfig
}

// HTTP configures the web tier: how web-server logs are read and judged.
type HTTP struct {
	// TrustedProxies are the load balancers, CDNs and reverse proxies in
	// front of the web servers whose logs phalanx reads. A log line whose
	// client address is one of them blames the last untrusted address of
	// its X-Forwarded-For; a line from one of them that names no readable
	// client blames nobody. Default none: every line blames its peer.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// LogFormats are nginx log_format strings by name, pasted from
	// nginx.conf, for sources written "nginx/NAME:PATH".
	LogFormats map[string]string `yaml:"log_formats"`
	// Rules is a rule pack file that replaces the embedded one (the
	// patterns and the HTTP scenarios); see `phalanx rules show`.
	Rules string `yaml:"rules"`
	// Resolver is the DNS server ("ADDR:PORT") asked to confirm claimed
	// search-engine crawlers; "" asks the system's, "off" checks none.
	Resolver string `yaml:"resolver"`
}

// Daemon is the part of the configuration only `phalanx run` reads.
type Daemon struct {
	// Sources are where log lines come from, the same spelling as `run
	// --source`: PATH, SERVICE:PATH, journal:SERVICE, journal:FIELD=VALUE,
	// syslog:udp://ADDR:PORT, syslog:tcp://ADDR:PORT. With none (and no
	// --source flag) the daemon watches /var/log/auth.log or /var/log/secure
	// when one is being written, otherwise sshd's entries in the journal.
	Sources []string `yaml:"sources"`
	// JournalDirectory makes journal: sources read the journal files in this
	// directory (journalctl --directory), such as what systemd-journal-remote
	// collects from other hosts, instead of the system journal.
	JournalDirectory string `yaml:"journal_directory"`
	// SyslogAllow lists the networks whose hosts syslog: sources accept
	// lines from; empty accepts any sender (a receiver listening beyond
	// loopback then warns at start: whoever can send it lines can name
	// addresses to ban).
	SyslogAllow []netip.Prefix `yaml:"syslog_allow"`
	// Fail2ban is a fail2ban configuration directory (/etc/fail2ban) whose
	// enabled jails run as sources and scenarios besides the built-in
	// ones: `run --fail2ban DIR`. "" runs none.
	Fail2ban string `yaml:"fail2ban"`
	// SyslogRate is how many lines a second one sender may send a syslog:
	// source (0: 20000); a busy central relay may need more.
	SyslogRate float64 `yaml:"syslog_rate"`
	// API is the address of the admin API and the console: "host:port", or
	// "unix:/path" for a Unix socket (mode 0600). Without Serve it carries
	// the bouncer API, feeds and forward-auth too.
	API string `yaml:"api"`
	// Serve, when set, is the address of a second listener that carries
	// only what web servers and bouncers need: the bouncer API, feeds,
	// forward-auth and /metrics (behind a token beyond loopback); never the
	// admin API or the console. "" keeps them on API.
	Serve string `yaml:"serve"`
	// APITLS and ServeTLS make their listener speak HTTPS only (TLS 1.2
	// or later) with a PEM certificate chain and key; SIGHUP re-reads the
	// files.
	APITLS   TLS `yaml:"api_tls"`
	ServeTLS TLS `yaml:"serve_tls"`
	// Enforce is "auto" (nftables when possible, otherwise none with a
	// warning), "nftables" (fail when impossible) or "none".
	Enforce string `yaml:"enforce"`
	// Table is the nftables table (family inet) the enforcer owns.
	Table string `yaml:"nftables_table"`
	// Fabric is this member's fabric address "host:port" (as --fabric), for
	// members of a multi-host alliance only: NATS clients and joins at
	// port, cluster routes at port+1, leaf members at port+2. Empty means
	// what the charter says (nothing for a member alone).
	Fabric string `yaml:"fabric"`
	// FabricCA and FabricCert, both or neither, make every link between
	// the members' fabric servers (cluster routes, leaf links) also
	// require a certificate from the operator's own CA, besides the member
	// key the charter pins: FabricCA is a PEM file of the CA's
	// certificates, FabricCert this member's certificate that the CA
	// issued for its identity key (the request: `phalanx alliance csr`),
	// then any intermediates. Every member of the alliance needs them. A
	// member alone ignores them.
	FabricCA   string `yaml:"fabric_ca"`
	FabricCert string `yaml:"fabric_cert"`
	// SyncAlways makes the fabric fsync every write (survives power loss;
	// slower). By default it syncs every second; a process crash loses nothing.
	SyncAlways bool `yaml:"sync_always"`
	// MaxDecisions caps the decisions held (0: 1,000,000): past it the
	// oldest self-defense decisions are dropped, counted and logged;
	// alliance, manual and feed decisions never are.
	MaxDecisions int `yaml:"max_decisions"`
}

// TLS is a listener's certificate: both files, or neither for plain HTTP.
type TLS struct {
	// Cert is a PEM file with the certificate, then its intermediates.
	Cert string `yaml:"cert"`
	// Key is a PEM file with the certificate's private key (mode 0600 or
	// 0640: never readable by others).
	Key string `yaml:"key"`
}

// Enabled reports whether t asks for HTTPS.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// validate checks that t names both files or neither, for the listener
// at addr configured under key. TLS for a listener not configured (yet: a
// flag may give its address) is not an error; the daemon warns of it.
func (t TLS) validate(key, addrKey, addr string) error {
	switch {
	case !t.Enabled():
		return nil
	case t.Cert == "" || t.Key == "":
		return fmt.Errorf("%s: give both cert and key (PEM files), or neither for plain HTTP", key)
	case IsUnixAddr(addr):
		return fmt.Errorf("%s: %s %q is a Unix socket, which never leaves this host: remove %s", key, addrKey, addr, key)
	}
	return nil
}

// DefaultDaemon returns the daemon's defaults.
func DefaultDaemon() Daemon {
	return Daemon{API: "127.0.0.1:8080", Enforce: "auto", Table: "phalanx"}
}

// Validate checks the daemon section. Every problem is reported, each as
// one error of the errors.Join it returns.
func (d *Daemon) Validate() error {
	var errs []error
	switch d.Enforce {
	case "auto", "nftables", "none":
	default:
		errs = append(errs, fmt.Errorf("enforce %q: use auto, nftables or none", d.Enforce))
	}
	if d.API == "" {
		errs = append(errs, errors.New("api: give an address such as 127.0.0.1:8080 or unix:/run/phalanx/api.sock"))
	} else if err := CheckListenSpec(d.API); err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
	}
	if d.Serve != "" {
		if err := CheckListenSpec(d.Serve); err != nil {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		} else if d.Serve == d.API {
			errs = append(errs, fmt.Errorf("serve: %q is the api address too: give the serve listener its own address (or leave serve out to keep everything on api)", d.Serve))
		}
	}
	for _, err := range []error{d.APITLS.validate("api_tls", "api", d.API), d.ServeTLS.validate("serve_tls", "serve", d.Serve)} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if (d.FabricCA == "") != (d.FabricCert == "") {
		errs = append(errs, errors.New("fabric_ca, fabric_cert: give both (the operator CA's certificates and this member's certificate it issued, PEM files), or neither"))
	}
	if d.Table == "" || len(d.Table) > 64 {
		errs = append(errs, errors.New("nftables_table: give a table name of at most 64 characters"))
	}
	if d.MaxDecisions < 0 {
		errs = append(errs, fmt.Errorf("max_decisions %d: give the most decisions to hold, or 0 for the default (1,000,000)", d.MaxDecisions))
	}
	if d.SyslogRate < 0 {
		errs = append(errs, fmt.Errorf("syslog_rate %v: give lines per second per sender, or 0 for the default", d.SyslogRate))
	}
	for i, p := range d.SyslogAllow {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("syslog_allow[%d]: not a network; write one such as 192.0.2.0/24", i))
		}
	}
	for i, s := range d.Sources {
		if _, err := source.ParseSpec(s, nil); err != nil {
			errs = append(errs, fmt.Errorf("sources[%d]: %w", i, err))
		}
	}
	return joinProblems(errs)
}

// IsUnixAddr reports whether a listener address names a Unix socket
// ("unix:/path").
func IsUnixAddr(addr string) bool { return strings.HasPrefix(addr, "unix:") }

// CheckListenSpec checks an HTTP listener's address: a TCP address (see
// CheckListenAddr) or "unix:" and an absolute path. It does not try to
// bind.
func CheckListenSpec(addr string) error {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return CheckListenAddr(addr)
	}
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%q: write a Unix socket as unix: and an absolute path, such as unix:/run/phalanx/api.sock", addr)
	case len(path) > 107:
		return fmt.Errorf("%q: a Unix socket's path may have at most 107 bytes: choose a shorter one", addr)
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("%q names a directory: add the socket's file name, such as %sapi.sock", addr, addr)
	}
	return nil
}

// CheckListenAddr checks a TCP address to listen on: "host:port" with a
// numeric port from 0 to 65535 (0: a free port, chosen at each start); an
// empty host means every interface. It does not try to bind.
func CheckListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		example := "127.0.0.1:8080 (this host only) or 0.0.0.0:8080 (every interface)"
		if a, perr := netip.ParseAddr(addr); perr == nil {
			example = netip.AddrPortFrom(a, 8080).String()
		} else if addr != "" && !strings.ContainsAny(addr, ":[]/ ") {
			example = net.JoinHostPort(addr, "8080")
		}
		return fmt.Errorf("%q is not host:port: add the port, such as %s", addr, example)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a port number: use 1 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /@?#") {
		return fmt.Errorf("%q: host %q is not an address or a host name of this host", addr, host)
	}
	return nil
}

// Default returns the configuration used when no file is given.
func Default() File {
	return File{Detection: scenario.DefaultConfig(), Decisions: remedy.DefaultConfig(), Daemon: DefaultDaemon(), Feeds: feed.DefaultConfig(), ForwardAuth: forwardauth.DefaultConfig()}
}

// maxFileSize bounds what is read from a configuration file.
const maxFileSize = 4 << 20

// Load reads path over the defaults and validates it. An empty path returns
// the defaults.
func Load(path string) (File, error) {
	f := Default()
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("read config: %w", err)
	}
	if err := Decode(data, &f); err != nil {
		return f, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Decode decodes data over f strictly and validates the result.
func Decode(data []byte, f *File) error {
	if len(data) > maxFileSize {
		return fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("decode: more than one YAML document; keep the configuration in one")
	}
	return f.Validate()
}

// Validate checks every section. Every problem found is reported, each as
// one error of the errors.Join it returns (see Problems), prefixed with
// its section.
func (f *File) Validate() error {
	var errs []error
	add := func(section string, err error) {
		for _, e := range Problems(err) {
			errs = append(errs, fmt.Errorf("%s: %w", section, e))
		}
	}
	detErr := f.Detection.Validate()
	add("detection", detErr)
	add("decisions", f.Decisions.Validate())
	add("daemon", f.Daemon.Validate())
	add("feeds", f.Feeds.Validate())
	add("forward_auth", f.ForwardAuth.Validate())
	hc, err := f.HTTP.compile()
	add("http", err)
	if err == nil {
		f.compiled = hc
	}
	if detErr == nil && err == nil {
		pc := f.Pipeline()
		for i, text := range f.Daemon.Sources {
			if sp, _ := source.ParseSpec(text, nil); sp.Service != "" && sp.Kind != source.KindJournal {
				if err := pc.CheckService(sp.Service); err != nil {
					errs = append(errs, fmt.Errorf("daemon: sources[%d]: %w", i, err))
				}
			}
		}
	}
	if p := f.ForwardAuth.Path; strings.HasPrefix(p, "/api/") || p == "/metrics" || p == "/v1/" ||
		strings.HasPrefix(p, "/v1/decisions") || strings.HasPrefix(p, "/v1/feeds/") || p == "/v1/usage-metrics" {
		errs = append(errs, fmt.Errorf("forward_auth: path %q is taken by another route of the API; choose another, such as /v1/forward-auth", p))
	}
	return joinProblems(errs)
}

// problemList is what the Validate methods return for several problems:
// one line each.
type problemList []error

func (l problemList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (l problemList) Unwrap() []error { return l }

// joinProblems returns nil for none, the error itself for one.
func joinProblems(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return problemList(errs)
}

// Problems splits an error that Validate returned into its problems, one
// error each; nil has none.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if l, ok := err.(problemList); ok {
		return slices.Clone(l)
	}
	return []error{err}
}

// Pipeline returns the detection pipeline's part of the configuration.
// The crawler check (HTTP.Resolver) is the caller's to add.
func (f *File) Pipeline() pipeline.Config {
	c := pipeline.DefaultConfig()
	c.Scenarios = f.Detection
	c.Remedy = f.Decisions
	if f.compiled == nil {
		// Not validated (Default): nothing to compile but the defaults.
		hc, _ := f.HTTP.compile()
		f.compiled = hc
	}
	if f.compiled != nil {
		c.HTTP = *f.compiled
	}
	return c
}

// Bounds on the http section.
const (
	maxLogFormats = 64
	maxRulesFile  = 4 << 20
)

// compile checks h and makes its pipeline configuration: formats compiled,
// the rule pack loaded.
func (h *HTTP) compile() (*pipeline.HTTPConfig, error) {
	var c pipeline.HTTPConfig
	for i, p := range h.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("trusted_proxies[%d]: not a network; write an address or a range such as 10.0.0.0/8", i)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("trusted_proxies[%d]: %s trusts every address, which lets any client choose the address it is blamed under: list your proxies' addresses", i, p)
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if len(h.LogFormats) > maxLogFormats {
		return nil, fmt.Errorf("log_formats: %d formats, at most %d", len(h.LogFormats), maxLogFormats)
	}
	for name, text := range h.LogFormats {
		if !source.IsFormatName(name) {
			return nil, fmt.Errorf("log_formats: name %q: use letters, digits, '-' and '_' (at most 64), as in sources written nginx/NAME:PATH", name)
		}
		f, err := httplog.CompileNginx(text)
		if err != nil {
			return nil, fmt.Errorf("log_formats.%s: %w", name, err)
		}
		if c.Formats == nil {
			c.Formats = map[string]*httplog.Format{}
		}
		c.Formats[name] = f
	}
	if h.Rules != "" {
		fi, err := os.Stat(h.Rules)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if fi.Size() > maxRulesFile {
			return nil, fmt.Errorf("rules: %s is larger than %d bytes", h.Rules, maxRulesFile)
		}
		data, err := os.ReadFile(h.Rules)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		pack, err := httprules.Load(data)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", h.Rules, err)
		}
		c.Pack = pack
	}
	if r := h.Resolver; r != "" && r != "off" {
		if _, err := netip.ParseAddrPort(r); err != nil {
			return nil, fmt.Errorf("resolver %q: write the DNS server as ADDR:PORT, such as 127.0.0.1:53, \"\" for the system's, or off", r)
		}
	}
	return &c, nil
}
