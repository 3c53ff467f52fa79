package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"phalanx"
	"phalanx/fail2ban"
	"phalanx/logline"
	"phalanx/pipeline"
	"phalanx/remedy"
	"phalanx/scenario"
	"phalanx/source/journal"
)

// fail2ban's jails as the daemon's own sources and scenarios: each enabled
// jail of the configuration directory becomes a scenario (its maxretry
// within findtime, banning for its bantime) over the failures its filter
// finds in its logs, which are watched besides the built-in parsers.

// f2bPrefix starts the names of jails' scenarios and services.
const f2bPrefix = "f2b-"

// loadFail2ban reads the fail2ban configuration in dir, logs every notice
// (what is not honoured, once) and every jail that cannot run (with its
// file and line), and returns the jails that run.
func loadFail2ban(dir string, log *slog.Logger) (*fail2ban.Setup, error) {
	s, err := fail2ban.Load(dir, fail2ban.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("fail2ban configuration %s: %w", dir, err)
	}
	for _, n := range fail2ban.SortedNotices(s.Notices) {
		log.Info("fail2ban: not honoured", "notice", n.String())
	}
	for _, e := range s.Errors {
		log.Warn("fail2ban: a jail cannot run; the others do", "err", e)
	}
	names := make([]string, 0, len(s.Jails))
	for _, j := range s.Jails {
		names = append(names, j.Name)
	}
	log.Info("fail2ban: jails loaded", "dir", dir, "jails", strings.Join(names, ","), "errors", len(s.Errors), "notices", len(s.Notices))
	return s, nil
}

// f2bName is a jail's scenario and service name: "f2b-" and the jail's
// name with characters scenario names refuse replaced.
func f2bName(jail string) string {
	var b strings.Builder
	b.WriteString(f2bPrefix)
	for _, r := range jail {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// addFail2banScenarios adds a window scenario per jail to pc, and its ban
// length to the remedy policy. Jails past the scenario limit are refused,
// each logged.
func addFail2banScenarios(pc *pipeline.Config, s *fail2ban.Setup, log *slog.Logger) {
	if s == nil {
		return
	}
	if pc.Remedy.Scenarios == nil {
		pc.Remedy.Scenarios = map[string]remedy.ScenarioBan{}
	}
	for _, j := range s.Jails {
		if len(pc.Scenarios.Scenarios) >= scenario.MaxScenarios {
			log.Error("fail2ban: too many scenarios; this jail does not run", "jail", j.Name, "limit", scenario.MaxScenarios)
			continue
		}
		name := f2bName(j.Name)
		window := min(max(j.FindTime, time.Second), scenario.MaxWindow)
		pc.Scenarios.Scenarios = append(pc.Scenarios.Scenarios, scenario.Spec{
			Name: name, Kinds: []phalanx.Kind{phalanx.KindAuthFailure}, Services: []string{name},
			Type: scenario.TypeWindow, Capacity: min(max(j.MaxRetry, 1), scenario.MaxWindowCapacity), Window: window,
			Blackhole: time.Minute,
		})
		ban := remedy.ScenarioBan{Duration: j.BanTime, MaxDuration: j.BanTime}
		if j.BanTime < 0 { // for ever: as long as the policy allows
			ban.Duration, ban.MaxDuration = pc.Remedy.MaxDuration, pc.Remedy.MaxDuration
		}
		if j.Increment != nil {
			ban.Escalate = true
			ban.MaxDuration = pc.Remedy.MaxDuration
			if j.Increment.MaxTime > 0 {
				ban.MaxDuration = j.Increment.MaxTime
			}
		}
		ban.Duration = max(ban.Duration, time.Second)
		ban.MaxDuration = max(ban.MaxDuration, ban.Duration)
		pc.Remedy.Scenarios[name] = ban
	}
}

// f2bStream reads one log for the jails that watch it: a fail2ban Group
// of their filters. Not safe for concurrent use: each pipeline stream has
// its own (newF2bStream).
type f2bStream struct {
	g        *fail2ban.Group
	services []string
	ignore   [][]netip.Prefix
}

func newF2bStream(jails []*fail2ban.Jail) *f2bStream {
	x := &f2bStream{}
	ms := make([]*fail2ban.Matcher, len(jails))
	for i, j := range jails {
		ms[i] = fail2ban.NewMatcher(j.Filter, fail2ban.MatchOptions{Location: j.Location})
		x.services = append(x.services, f2bName(j.Name))
		x.ignore = append(x.ignore, j.IgnoreIP)
	}
	x.g = fail2ban.NewGroup(ms...)
	return x
}

// Line implements pipeline.External: every failure naming an address that
// no jail's ignoreip holds is an auth-failure event of the jail's service.
func (x *f2bStream) Line(raw []byte, fr *logline.Frame, framed bool, now time.Time, evs []phalanx.Event) []phalanx.Event {
	x.g.Line(string(raw), now, func(i int, r fail2ban.Result, o fail2ban.Outcome) {
		if o != fail2ban.Failure {
			return
		}
		if !r.Addr.IsValid() {
			return // a host name: never banned (the group counts it)
		}
		addr := phalanx.Normalize(r.Addr)
		for _, p := range x.ignore[i] {
			if p.Contains(addr) {
				return
			}
		}
		ev := phalanx.Event{Kind: phalanx.KindAuthFailure, Source: addr, User: r.User, Service: x.services[i]}
		if r.HasTime {
			ev.Time = r.Time
		}
		evs = append(evs, ev)
	})
	return evs
}

// f2bSources adds the jails' logs to the sources: a file already watched
// gets the jails besides its built-in parsers; a journal jail reads the
// entries its journalmatch names.
func (s *sources) addFail2ban(setup *fail2ban.Setup, o sourceOptions) error {
	for _, st := range setup.Streams() {
		jails := st.Jails
		ext := func() pipeline.External { return newF2bStream(jails) }
		if st.Path != "" {
			abs, err := filepath.Abs(st.Path)
			if err != nil {
				return err
			}
			found := false
			for _, f := range s.files {
				if f.path == abs {
					f.ext, found = ext, true
				}
			}
			if !found {
				s.files = append(s.files, &tailed{path: abs, ext: ext})
				s.specs = append(s.specs, abs)
			}
			continue
		}
		var js journal.Spec
		seen := map[string]bool{}
		for _, group := range st.Journal {
			if len(group) == 0 || seen[group[0]] {
				continue
			}
			seen[group[0]] = true
			field, value, ok := strings.Cut(group[0], "=")
			if !ok {
				continue
			}
			js.Matches = append(js.Matches, journal.Match{Field: field, Value: value})
		}
		if len(js.Matches) == 0 {
			return fmt.Errorf("fail2ban jail %s: backend systemd with no journalmatch: name the unit (journalmatch = _SYSTEMD_UNIT=NAME.service)", jails[0].Name)
		}
		if _, err := lookJournalctl(o.journalctl); err != nil {
			return fmt.Errorf("fail2ban jail %s reads the journal, but journalctl is not found (%v): install systemd", jails[0].Name, err)
		}
		text := js.String()
		s.journals = append(s.journals, &journaled{text: text, spec: js, dir: o.journalDir, journalctl: o.journalctl, ext: ext})
		s.specs = append(s.specs, text+" (fail2ban jail "+jails[0].Name+")")
	}
	return nil
}
