// Package remedy turns alerts into ban decisions. It chooses how long a ban
// lasts (doubling for each earlier ban of the same value within a window,
// capped), and it refuses to ban territory: loopback, unspecified and
// multicast addresses and the configured allowlist.
//
// It is pure: no I/O, no clock reads (now is an argument), no goroutines, no
// logging. Its memory of earlier bans is bounded (Config.MaxHistory). It must
// never produce a decision that covers territory.
package remedy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/gaissmai/bart"

	"phalanx"
)

// ErrTerritory is wrapped by Decide's error when the alert's source is (or,
// for a range that cannot be narrowed, overlaps) territory.
var ErrTerritory = errors.New("territory is never banned")

// Bounds that Validate enforces.
const (
	MaxHistoryLimit = 10_000_000
	maxDuration     = 10 * 365 * 24 * time.Hour // keeps now+duration far from overflow
)

// Config configures a Policy. Decode it over DefaultConfig, strictly.
type Config struct {
	// Duration is the first ban's length (default 4h).
	Duration time.Duration `yaml:"duration"`
	// EscalationWindow: each earlier ban of the same value that started
	// within this window before now doubles the duration (default 168h;
	// 0 turns escalation off).
	EscalationWindow time.Duration `yaml:"escalation_window"`
	// MaxDuration caps an escalated ban (default 168h).
	MaxDuration time.Duration `yaml:"max_duration"`
	// Allowlist is territory in addition to the built-in loopback,
	// unspecified and multicast ranges: members' own addresses, monitoring,
	// declared infrastructure. IPv4-mapped IPv6 entries count as IPv4.
	Allowlist []netip.Prefix `yaml:"allowlist"`
	// MaxHistory bounds the remembered earlier bans (default 100000); past
	// it the oldest is forgotten first.
	MaxHistory int `yaml:"max_history"`
	// Scenarios gives some scenarios ban lengths of their own (a fail2ban
	// jail's bantime and bantime.increment), keyed by scenario name; the
	// others use Duration and MaxDuration. Not read from YAML: the daemon
	// fills it.
	Scenarios map[string]ScenarioBan `yaml:"-"`
}

// ScenarioBan is one scenario's ban length: Duration the first time, and
// with Escalate each earlier ban within EscalationWindow doubles it, up to
// MaxDuration.
type ScenarioBan struct {
	Duration, MaxDuration time.Duration
	Escalate              bool
}

// DefaultConfig returns the documented defaults: 4h bans doubling per
// earlier ban within a week, capped at a week, 100000 bans remembered.
func DefaultConfig() Config {
	return Config{
		Duration:         4 * time.Hour,
		EscalationWindow: 168 * time.Hour,
		MaxDuration:      168 * time.Hour,
		MaxHistory:       100_000,
	}
}

// Validate reports every problem in c, each saying what to do.
func (c Config) Validate() error {
	var errs []error
	if c.Duration <= 0 || c.Duration > maxDuration {
		errs = append(errs, fmt.Errorf("duration %v is out of range: use a positive duration up to %v, such as 4h", c.Duration, maxDuration))
	}
	if c.MaxDuration <= 0 || c.MaxDuration > maxDuration {
		errs = append(errs, fmt.Errorf("max_duration %v is out of range: use a positive duration up to %v, such as 168h", c.MaxDuration, maxDuration))
	} else if c.MaxDuration < c.Duration {
		errs = append(errs, fmt.Errorf("max_duration %v is shorter than duration %v; raise max_duration or lower duration", c.MaxDuration, c.Duration))
	}
	if c.EscalationWindow < 0 || c.EscalationWindow > maxDuration {
		errs = append(errs, fmt.Errorf("escalation_window %v is out of range: use 0 (no escalation) up to %v, such as 168h", c.EscalationWindow, maxDuration))
	}
	if c.MaxHistory < 1 || c.MaxHistory > MaxHistoryLimit {
		errs = append(errs, fmt.Errorf("max_history %d is out of range: use 1 to %d (default 100000)", c.MaxHistory, MaxHistoryLimit))
	}
	for i, p := range c.Allowlist {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("allowlist[%d]: not a valid prefix; write an address with its length, such as 192.0.2.10/32 or 2001:db8::/48", i))
		case p.Masked() != p:
			errs = append(errs, fmt.Errorf("allowlist[%d]: %s has address bits beyond its length; write %s for the range, or %s/%d for the one address", i, p, p.Masked(), p.Addr(), p.Addr().BitLen()))
		}
	}
	return errors.Join(errs...)
}

// builtin returns the territory every policy has.
func builtin() []territoryPfx {
	return []territoryPfx{
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("0.0.0.0/32"), "unspecified"},
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
}

// Policy decides bans. Decide is not safe for concurrent use; IsTerritory
// only reads and may be called concurrently with other IsTerritory calls.
type Policy struct {
	cfg       Config
	territory bart.Lite      // builtin and allowlist, IPv4 entries also in their IPv4-mapped form
	named     []territoryPfx // the same, for explaining refusals

	// Earlier bans in a ring, oldest at hist[start], n of them; counts[v] is
	// how many have value v.
	hist     []ban
	start, n int
	counts   map[netip.Prefix]int32
}

type territoryPfx struct {
	prefix netip.Prefix
	name   string
}

type ban struct {
	value netip.Prefix
	at    int64 // Unix nanoseconds
}

// New validates c and returns a policy for it.
func New(c Config) (*Policy, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{cfg: c, counts: make(map[netip.Prefix]int32)}
	add := func(pfx netip.Prefix, name string) {
		pfx = unmapPrefix(pfx)
		p.named = append(p.named, territoryPfx{pfx, name})
		p.territory.Insert(pfx)
		if pfx.Addr().Is4() {
			// A range decision in ::ffff:0:0/96 would cover IPv4 hosts.
			p.territory.Insert(netip.PrefixFrom(netip.AddrFrom16(pfx.Addr().As16()), pfx.Bits()+96))
		}
	}
	for _, b := range builtin() {
		add(b.prefix, b.name)
	}
	for _, a := range c.Allowlist {
		add(a, "allowlist "+unmapPrefix(a).String())
	}
	return p, nil
}

// IsTerritory reports whether addr must never be banned. IPv4-mapped IPv6
// addresses are judged as IPv4; an invalid address is not territory (and
// cannot be banned either).
func (p *Policy) IsTerritory(addr netip.Addr) bool {
	addr = phalanx.Normalize(addr)
	return addr.IsValid() && p.territory.Contains(addr)
}

// Decide turns an alert into a ban of alert.Source with Origin self, from
// now for Duration × 2^(earlier bans of the same value that started within
// EscalationWindow before now), capped at MaxDuration. The decision's ID is
// left zero for the decision table to assign.
//
// Territory: if Source is territory, or is a single address that is, Decide
// refuses with an error wrapping ErrTerritory. If Source is a range (an IPv6
// /64) that merely overlaps territory, the ban is narrowed to the alert's
// Addr, the address whose event fired, when Addr lies inside Source and is
// not territory itself; otherwise Decide refuses.
//
// now should not go back between calls; if it does, bans recorded later
// still count until they leave the window behind the newest, so escalation
// can only err towards a longer ban.
func (p *Policy) Decide(a phalanx.Alert, now time.Time) (phalanx.Decision, error) {
	if !a.Source.IsValid() {
		return phalanx.Decision{}, fmt.Errorf("alert %q has no valid source; the scenario engine must set it", a.Scenario)
	}
	value := unmapPrefix(a.Source)
	var narrowed string
	if p.territory.OverlapsPrefix(value) {
		addr := phalanx.Normalize(a.Addr)
		switch {
		case value.IsSingleIP():
			return phalanx.Decision{}, p.refuse(a, value, "")
		case !addr.IsValid() || !value.Contains(addr):
			return phalanx.Decision{}, p.refuse(a, value, "and the alert names no address inside it to narrow the ban to")
		case p.IsTerritory(addr):
			return phalanx.Decision{}, p.refuse(a, netip.PrefixFrom(addr, addr.BitLen()), "")
		}
		narrowed = value.String()
		value = netip.PrefixFrom(addr, addr.BitLen())
	}

	t := nanos(now)
	earlier := p.earlier(value, t)
	d := p.duration(a.Scenario, earlier)
	p.record(value, t)

	// Appended, not formatted: a flood of new sources decides once per
	// source, and fmt's reflection cost more than the rest of Decide.
	r := make([]byte, 0, 64+len(a.Scenario)+len(a.Detail))
	r = append(r, a.Scenario...)
	r = append(r, " fired for "...)
	r = a.Source.AppendTo(r)
	r = append(r, " (count "...)
	r = strconv.AppendInt(r, int64(a.Count), 10)
	r = append(r, ')')
	if a.Detail != "" {
		r = append(r, ": "...)
		r = append(r, a.Detail...)
	}
	if earlier > 0 {
		r = append(r, "; "...)
		r = strconv.AppendInt(r, int64(earlier), 10)
		r = append(r, " earlier ban(s) within "...)
		r = append(r, p.cfg.EscalationWindow.String()...)
	}
	if narrowed != "" {
		r = append(r, "; narrowed from "...)
		r = append(r, narrowed...)
		r = append(r, " to the offending address because the range overlaps territory"...)
	}
	reason := string(r)
	return phalanx.Decision{
		Origin:   phalanx.OriginSelf,
		Type:     "ban",
		Value:    value,
		Scenario: a.Scenario,
		Start:    now,
		Until:    now.Add(d),
		Reason:   reason,
	}, nil
}

// refuse explains which territory value touches.
func (p *Policy) refuse(a phalanx.Alert, value netip.Prefix, why string) error {
	what := "territory"
	for _, t := range p.named {
		if t.prefix.Overlaps(value) {
			what = t.name + " territory"
			if t.prefix != value {
				what += " (" + t.prefix.String() + ")"
			}
			break
		}
	}
	if why != "" {
		why = " " + why
	}
	return fmt.Errorf("refuse to ban %s for %s: it touches %s%s: %w", value, a.Scenario, what, why, ErrTerritory)
}

// duration is Duration doubled per earlier ban, capped at MaxDuration.
func (p *Policy) duration(scenario string, earlier int) time.Duration {
	d, maxD := p.cfg.Duration, p.cfg.MaxDuration
	if sb, ok := p.cfg.Scenarios[scenario]; ok {
		d, maxD = min(sb.Duration, maxDuration), min(sb.MaxDuration, maxDuration)
		if !sb.Escalate {
			earlier = 0
		}
	}
	for i := 0; i < earlier && d < maxD; i++ {
		d *= 2 // d < maxD ≤ 10 years: no overflow
	}
	return max(min(d, maxD), time.Second)
}

// earlier forgets bans that left the window at t and counts the remembered
// bans of value.
func (p *Policy) earlier(value netip.Prefix, t int64) int {
	if p.cfg.EscalationWindow == 0 {
		return 0
	}
	cut := t - int64(p.cfg.EscalationWindow)
	for p.n > 0 && p.hist[p.start].at <= cut {
		p.forgetOldest()
	}
	return int(p.counts[value])
}

func (p *Policy) record(value netip.Prefix, t int64) {
	if p.cfg.EscalationWindow == 0 {
		return
	}
	if p.n == len(p.hist) {
		if p.n >= p.cfg.MaxHistory {
			p.forgetOldest()
		} else {
			// Grow the ring by doubling, never past MaxHistory.
			grown := make([]ban, min(p.cfg.MaxHistory, max(2*len(p.hist), 64)))
			for i := range p.n {
				grown[i] = p.hist[(p.start+i)%len(p.hist)]
			}
			p.hist, p.start = grown, 0
		}
	}
	p.hist[(p.start+p.n)%len(p.hist)] = ban{value: value, at: t}
	p.n++
	p.counts[value]++
}

func (p *Policy) forgetOldest() {
	b := p.hist[p.start]
	p.hist[p.start] = ban{}
	p.start = (p.start + 1) % len(p.hist)
	p.n--
	if c := p.counts[b.value] - 1; c > 0 {
		p.counts[b.value] = c
	} else {
		delete(p.counts, b.value)
	}
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix of /96 or longer into the
// IPv4 prefix it covers, drops any zone, and masks host bits.
func unmapPrefix(pfx netip.Prefix) netip.Prefix {
	addr := pfx.Addr()
	if addr.Is4In6() && pfx.Bits() >= 96 {
		return netip.PrefixFrom(addr.Unmap(), pfx.Bits()-96).Masked()
	}
	return pfx.Masked()
}

// nanos returns t in Unix nanoseconds, clamped to about ±146 years around
// 1970 so that the subtraction of a window cannot overflow.
func nanos(t time.Time) int64 {
	const limit = int64(1) << 62
	const limitSec = limit / int64(time.Second)
	if s := t.Unix(); s >= limitSec {
		return limit
	} else if s <= -limitSec {
		return -limit
	}
	return t.UnixNano()
}
