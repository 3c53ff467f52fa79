package fail2ban

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Notice is a setting phalanx reads but does not honour (or honours
// differently), with the reason. Jail is empty for a [DEFAULT] setting
// that concerns every jail; it is then listed once.
type Notice struct {
	File   string
	Line   int
	Jail   string
	Key    string
	Reason string
}

func (n Notice) String() string {
	where := Pos{n.File, n.Line}.String()
	if n.Jail == "" {
		return fmt.Sprintf("%s: [DEFAULT] %s: %s", where, n.Key, n.Reason)
	}
	return fmt.Sprintf("%s: [%s] %s: %s", where, n.Jail, n.Key, n.Reason)
}

// JailError is a jail that cannot run; the other jails still load.
type JailError struct {
	Jail string
	Err  error
}

func (e *JailError) Error() string { return fmt.Sprintf("jail %s: %v", e.Jail, e.Err) }
func (e *JailError) Unwrap() error { return e.Err }

// Increment is fail2ban's bantime.increment: each new ban of an address
// lasts longer.
type Increment struct {
	Factor      float64       // bantime.factor (default 1)
	MaxTime     time.Duration // bantime.maxtime; 0 = no limit
	Multipliers []int         // bantime.multipliers; empty = doubling per ban
}

// Jail is one enabled fail2ban jail, ready to run as a source and a
// scenario: failures of one host (Result.Key) counted over FindTime;
// MaxRetry of them ban the host for BanTime.
type Jail struct {
	Name          string
	Pos           Pos // the [name] line
	FilterName    string
	FilterOptions map[string]string
	Filter        *Filter
	Backend       string // as written: auto, polling, pyinotify, systemd…
	Journal       bool   // read from journald (backend = systemd)
	JournalMatch  [][]string
	LogPatterns   []string // logpath lines as written (globs)
	LogPaths      []string // the files they match now
	MaxRetry      int
	FindTime      time.Duration
	BanTime       time.Duration // < 0: for ever
	Increment     *Increment    // nil: no increment
	IgnoreIP      []netip.Prefix
	IgnoreSelf    bool
	Location      *time.Location // logtimezone; nil: local time
}

// Setup is the enabled jails of a fail2ban configuration directory.
type Setup struct {
	Dir     string
	Files   []string // jail files read, in order
	Jails   []*Jail
	Errors  []error // one per jail that cannot run (*JailError)
	Notices []Notice
}

// LoadOptions tune Load.
type LoadOptions struct {
	Filter FilterOptions
	// Glob finds log files; nil means filepath.Glob (tests replace it).
	Glob func(pattern string) ([]string, error)
}

// jailOptions are fail2ban's jail options; the rest of a jail section is
// variables for interpolation.
var jailOptions = map[string]bool{
	"enabled": true, "backend": true, "maxretry": true, "maxmatches": true, "findtime": true,
	"bantime": true, "bantime.increment": true, "bantime.factor": true, "bantime.formula": true,
	"bantime.multipliers": true, "bantime.maxtime": true, "bantime.rndtime": true,
	"bantime.overalljails": true, "ignorecommand": true, "ignoreself": true, "ignoreip": true,
	"ignorecache": true, "filter": true, "logtimezone": true, "logencoding": true, "logpath": true,
	"action": true, "usedns": true, "prefregex": true, "ignoreregex": true, "failregex": true,
	"maxlines": true, "datepattern": true, "journalmatch": true, "mode": true,
	"port": true, "protocol": true,
}

// notHonoured gives the reason for jail options phalanx does not apply.
var notHonoured = map[string]string{
	"action":               "fail2ban actions are not run: phalanx bans through its own enforcer (nftables) and reports the ban to the alliance",
	"ignorecommand":        "external commands are not run; list the addresses in ignoreip or in the charter's territory",
	"ignorecache":          "there is no ignorecommand to cache",
	"maxmatches":           "matched lines are kept as evidence by phalanx's own limits",
	"bantime.formula":      "a Python expression; phalanx uses bantime.factor, bantime.multipliers and bantime.maxtime",
	"bantime.rndtime":      "ban times are not randomised",
	"bantime.overalljails": "ban counts are kept per jail",
}

var trueWords = map[string]bool{"1": true, "yes": true, "true": true, "on": true}
var falseWords = map[string]bool{"0": true, "no": true, "false": true, "off": true, "": true}

// Load reads dir/jail.conf, dir/jail.d/*.conf, dir/jail.local and
// dir/jail.d/*.local (with their includes) in fail2ban's order and builds
// every enabled jail with its filter from dir/filter.d. A jail that cannot
// run is reported in Setup.Errors and the others still load; settings that
// are not honoured are listed in Setup.Notices. The error is for the
// configuration as a whole (no jail.conf, a syntax error, an include loop).
func Load(dir string, o LoadOptions) (*Setup, error) {
	if o.Glob == nil {
		o.Glob = filepath.Glob
	}
	if o.Filter.Cache == nil {
		o.Filter.Cache = NewCache()
	}
	files := configFiles(filepath.Join(dir, "jail"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no %s: is %s a fail2ban configuration directory?", filepath.Join(dir, "jail.conf"), dir)
	}
	cfg, err := ReadConfig(files...)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(dir)
	cfg.defaults.set("fail2ban_version", value{text: "phalanx"})
	cfg.defaults.set("fail2ban_confpath", value{text: abs})
	s := &Setup{Dir: dir, Files: cfg.Files()}
	seen := map[string]bool{}
	notice := func(p Pos, jail, key, reason string) {
		id := p.String() + "|" + jail + "|" + key
		if seen[id] {
			return
		}
		seen[id] = true
		s.Notices = append(s.Notices, Notice{File: p.File, Line: p.Line, Jail: jail, Key: key, Reason: reason})
	}
	for _, name := range cfg.Sections() {
		if name == "INCLUDES" || strings.Contains(name, "?") {
			continue
		}
		enabled, _, _, err := cfg.Get(name, "enabled", nil)
		if err != nil {
			s.Errors = append(s.Errors, &JailError{Jail: name, Err: err})
			continue
		}
		on := strings.ToLower(strings.TrimSpace(enabled))
		if !trueWords[on] {
			if !falseWords[on] {
				s.Errors = append(s.Errors, &JailError{Jail: name, Err: errAt(cfg.Pos(name, "enabled"), "enabled = %q: want true or false", enabled)})
			}
			continue
		}
		j, err := loadJail(cfg, dir, name, o, notice)
		if err != nil {
			s.Errors = append(s.Errors, &JailError{Jail: name, Err: err})
			continue
		}
		s.Jails = append(s.Jails, j)
	}
	return s, nil
}

// jailFrom reports the jail a notice concerns: "" when the setting comes
// from [DEFAULT].
func jailFrom(cfg *Config, name, key string) string {
	if s := cfg.sections[name]; s != nil {
		if _, ok := s.opts[key]; ok {
			return name
		}
	}
	return ""
}

func loadJail(cfg *Config, dir, name string, o LoadOptions, notice func(Pos, string, string, string)) (*Jail, error) {
	sec := cfg.sections[name]
	j := &Jail{Name: name, Pos: sec.pos}
	get := func(key string) (string, Pos, bool, error) { return cfg.Get(name, key, nil) }
	var errs []error
	// Options not honoured, and keys that are no option at all.
	for key, reason := range notHonoured {
		v, p, ok, _ := get(key)
		if ok && strings.TrimSpace(cfg.rawText(name, key, v)) != "" {
			notice(p, jailFrom(cfg, name, key), key, reason)
		}
	}
	for _, key := range sec.order {
		if !jailOptions[key] && !strings.HasPrefix(key, "known/") && !cfg.referenced(key) {
			notice(sec.opts[key].pos, name, key, "not a fail2ban jail option; it is kept only as a variable for %(name)s")
		}
	}
	for _, key := range []string{"port", "protocol"} {
		v, p, ok, _ := get(key)
		v = strings.TrimSpace(v)
		if !ok || key == "port" && (v == "0:65535" || v == "all" || v == "") {
			continue
		}
		notice(p, jailFrom(cfg, name, key), key, fmt.Sprintf("%s = %s: phalanx bans an address on every port and protocol", key, v))
	}
	// Filter.
	fv, fpos, _, err := get("filter")
	if err != nil {
		return nil, err
	}
	fname, fopts, err := ParseFilterSpec(fv)
	if err != nil {
		return nil, errAt(fpos, "filter = %q: %v", fv, err)
	}
	if fname == "" {
		return nil, errAt(sec.pos, "no filter: set filter = NAME (a file in %s)", filepath.Join(dir, "filter.d"))
	}
	j.FilterName, j.FilterOptions = fname, fopts
	backend, _, _, err := get("backend")
	if err != nil {
		return nil, err
	}
	j.Backend = strings.TrimSpace(backend)
	if j.Backend == "" {
		j.Backend = "auto"
	}
	bk := strings.SplitN(j.Backend, "[", 2)[0]
	switch bk {
	case "systemd":
		j.Journal = true
	case "auto", "polling", "pyinotify", "gamin":
	default:
		errs = append(errs, errAt(cfg.Pos(name, "backend"), "backend = %q: phalanx reads files (auto, polling, pyinotify) or the journal (systemd)", j.Backend))
	}
	if strings.Contains(j.Backend, "[") {
		notice(cfg.Pos(name, "backend"), jailFrom(cfg, name, "backend"), "backend", "backend options are not honoured: "+j.Backend)
	}
	init := map[string]string{}
	for k, v := range fopts {
		init[k] = v
	}
	if _, ok := init["logtype"]; !ok {
		if j.Journal {
			init["logtype"] = "journal"
		} else {
			init["logtype"] = "file"
		}
	}
	jailVars := map[string]string{}
	for _, k := range filterKeys {
		if v, _, ok, err := get(k); ok && err == nil {
			jailVars[k] = v
		}
	}
	fo := o.Filter
	if u := strings.ToLower(strings.TrimSpace(jailVars["usedns"])); u == "no" || u == "raw" {
		fo.NoDNS = true
	} else if u == "yes" || u == "warn" {
		notice(cfg.Pos(name, "usedns"), jailFrom(cfg, name, "usedns"), "usedns", "usedns = "+u+": host names are never resolved, as phalanx does not trust names read from a log line; a failure that gives only a name is counted, not banned")
	}
	if f, err := LoadFilter(dir, fname, init, jailVars, fo); err != nil {
		errs = append(errs, fmt.Errorf("filter %s (%s): %w", fname, fpos, err))
	} else {
		j.Filter = f
		j.JournalMatch = f.JournalMatch
	}
	// Logs.
	if j.Journal {
		if len(j.JournalMatch) == 0 {
			notice(sec.pos, name, "journalmatch", "backend = systemd without journalmatch: the jail reads the whole journal")
		}
		if lv, lpos, ok, _ := get("logpath"); ok && strings.TrimSpace(lv) != "" {
			notice(lpos, jailFrom(cfg, name, "logpath"), "logpath", "not read with backend = systemd (as in fail2ban): the jail reads the journal")
		}
	} else {
		lv, lpos, ok, err := get("logpath")
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok || strings.TrimSpace(lv) == "":
			errs = append(errs, errAt(sec.pos, "no logpath (and backend is not systemd)"))
		default:
			var missing []string
			for _, line := range valueLines(lv) {
				f := strings.Fields(line)
				pat := strings.TrimSpace(line)
				if len(f) > 1 && (f[len(f)-1] == "tail" || f[len(f)-1] == "head") {
					pat = strings.TrimSpace(strings.TrimSuffix(pat, f[len(f)-1]))
				}
				j.LogPatterns = append(j.LogPatterns, pat)
				m, err := o.Glob(pat)
				if err != nil {
					errs = append(errs, errAt(lpos, "logpath %q: %v", pat, err))
					continue
				}
				var files []string
				for _, p := range m {
					if st, err := os.Stat(p); err == nil && !st.IsDir() {
						files = append(files, p)
					}
				}
				if len(files) == 0 {
					missing = append(missing, pat)
				}
				j.LogPaths = append(j.LogPaths, files...)
			}
			if len(j.LogPaths) == 0 && len(j.LogPatterns) > 0 {
				errs = append(errs, errAt(lpos, "logpath %s matches no file: point logpath at the service's log, or use backend = systemd", strings.Join(j.LogPatterns, ", ")))
			} else {
				for _, pat := range missing {
					notice(lpos, name, "logpath", fmt.Sprintf("%s matches no file now; the jail reads the others", pat))
				}
			}
		}
	}
	// Counting and banning.
	num := func(key string, def int) int {
		v, p, ok, err := get(key)
		if err != nil {
			errs = append(errs, err)
			return def
		}
		if !ok || strings.TrimSpace(v) == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			errs = append(errs, errAt(p, "%s = %q: want a whole number of at least 1", key, v))
			return def
		}
		return n
	}
	dur := func(key string, def time.Duration) time.Duration {
		v, p, ok, err := get(key)
		if err != nil {
			errs = append(errs, err)
			return def
		}
		if !ok || strings.TrimSpace(v) == "" {
			return def
		}
		d, err := ParseTime(v)
		if err != nil {
			errs = append(errs, errAt(p, "%s: %v", key, err))
			return def
		}
		return d
	}
	j.MaxRetry = num("maxretry", 5)
	j.FindTime = dur("findtime", 10*time.Minute)
	j.BanTime = dur("bantime", 10*time.Minute)
	if j.FindTime <= 0 {
		errs = append(errs, errAt(cfg.Pos(name, "findtime"), "findtime must be positive"))
	}
	if v, p, ok, _ := get("bantime.increment"); ok {
		on := strings.ToLower(strings.TrimSpace(v))
		if trueWords[on] {
			inc := &Increment{Factor: 1}
			if fv, fp, ok, _ := get("bantime.factor"); ok && strings.TrimSpace(fv) != "" {
				f, err := strconv.ParseFloat(strings.TrimSpace(fv), 64)
				if err != nil || f <= 0 {
					errs = append(errs, errAt(fp, "bantime.factor = %q: want a positive number", fv))
				} else {
					inc.Factor = f
				}
			}
			inc.MaxTime = dur("bantime.maxtime", 0)
			if mv, mp, ok, _ := get("bantime.multipliers"); ok {
				for _, w := range strings.Fields(mv) {
					n, err := strconv.Atoi(w)
					if err != nil || n < 1 {
						errs = append(errs, errAt(mp, "bantime.multipliers: %q is not a whole number", w))
						break
					}
					inc.Multipliers = append(inc.Multipliers, n)
				}
			}
			j.Increment = inc
		} else if !falseWords[on] {
			errs = append(errs, errAt(p, "bantime.increment = %q: want true or false", v))
		}
	}
	if v, p, ok, err := get("ignoreip"); ok && err == nil {
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
			pf, err := parseIgnore(w)
			if err != nil {
				notice(p, jailFrom(cfg, name, "ignoreip"), "ignoreip", fmt.Sprintf("%s: %v", w, err))
				continue
			}
			j.IgnoreIP = append(j.IgnoreIP, pf)
		}
	}
	j.IgnoreSelf = true
	if v, p, ok, _ := get("ignoreself"); ok {
		on := strings.ToLower(strings.TrimSpace(v))
		if falseWords[on] && on != "" {
			j.IgnoreSelf = false
			notice(p, jailFrom(cfg, name, "ignoreself"), "ignoreself", "phalanx never bans a member's own addresses (the territory), whatever ignoreself says")
		}
	}
	if v, p, ok, _ := get("logtimezone"); ok && strings.TrimSpace(v) != "" {
		if z, ok := parseZone(strings.TrimSpace(v)); ok {
			j.Location = z
		} else if l, err := time.LoadLocation(strings.TrimSpace(v)); err == nil {
			j.Location = l
		} else {
			errs = append(errs, errAt(p, "logtimezone = %q: not a zone phalanx knows", v))
		}
	}
	if v, p, ok, _ := get("logencoding"); ok {
		e := strings.ToLower(strings.TrimSpace(v))
		if e != "" && e != "auto" && e != "utf-8" && e != "utf8" && e != "ascii" {
			notice(p, jailFrom(cfg, name, "logencoding"), "logencoding", fmt.Sprintf("%s: phalanx reads logs as UTF-8", v))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return j, nil
}

// rawText returns an option as written (before interpolation) when the
// interpolated value v is not wanted.
func (c *Config) rawText(sec, key, v string) string {
	if r, ok := c.raw(sec, key, nil); ok {
		return r.text
	}
	return v
}

// referenced reports whether some value refers to key, as %(key)s or <key>.
func (c *Config) referenced(key string) bool {
	needles := []string{"%(" + key + ")s", "<" + key + ">"}
	check := func(s *section) bool {
		for _, v := range s.opts {
			for _, n := range needles {
				if strings.Contains(strings.ToLower(v.text), n) {
					return true
				}
			}
		}
		return false
	}
	if check(c.defaults) {
		return true
	}
	for _, s := range c.sections {
		if check(s) {
			return true
		}
	}
	return false
}

// parseIgnore reads an ignoreip entry: an address or a CIDR prefix.
func parseIgnore(w string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(w); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(w); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("not an address or prefix (host names are not resolved; write the address)")
}

var reFilterSpec = regexp.MustCompile(`^\s*([^\[\]\s]+)\s*(?:\[(.*)\])?\s*$`)

// ParseFilterSpec reads a jail's filter setting, "name[key=value, key=\"value\"]".
func ParseFilterSpec(s string) (string, map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil, nil
	}
	m := reFilterSpec.FindStringSubmatch(s)
	if m == nil {
		return "", nil, fmt.Errorf("want NAME or NAME[key=value, …]")
	}
	opts := map[string]string{}
	body := m[2]
	for i := 0; i < len(body); {
		for i < len(body) && (body[i] == ' ' || body[i] == ',' || body[i] == '\t') {
			i++
		}
		if i >= len(body) {
			break
		}
		eq := strings.IndexByte(body[i:], '=')
		if eq < 0 {
			return "", nil, fmt.Errorf("option %q lacks '='", body[i:])
		}
		key := strings.TrimSpace(body[i : i+eq])
		i += eq + 1
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var val string
		if i < len(body) && (body[i] == '"' || body[i] == '\'') {
			q := body[i]
			end := strings.IndexByte(body[i+1:], q)
			if end < 0 {
				return "", nil, fmt.Errorf("option %s: unterminated quote", key)
			}
			val = body[i+1 : i+1+end]
			i += end + 2
		} else {
			end := strings.IndexByte(body[i:], ',')
			if end < 0 {
				end = len(body) - i
			}
			val = strings.TrimSpace(body[i : i+end])
			i += end
		}
		if key == "" {
			return "", nil, fmt.Errorf("an option without a name")
		}
		opts[key] = val
	}
	return m[1], opts, nil
}

var reTimePart = regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*(years?|yy?|months?|mo|weeks?|ww?|days?|dd?|hours?|hh?|minutes?|mins?|mm?|seconds?|secs?|ss?|)\s*`)

// ParseTime reads a fail2ban time value: seconds ("600"), units ("10m",
// "1h", "2d", "1w", "1mo", "1y", also "1h 30m"), or a negative number
// (for ever, returned as a negative duration).
func ParseTime(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return -1, nil
		}
		return 0, fmt.Errorf("%q is not a time (10m, 1h, 600, -1)", s)
	}
	if t == "" {
		return 0, fmt.Errorf("empty time")
	}
	var total float64
	for t != "" {
		m := reTimePart.FindStringSubmatch(t)
		if m == nil || m[0] == "" {
			return 0, fmt.Errorf("%q is not a time (10m, 1h, 600, -1)", s)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := 1.0
		switch u := m[2]; {
		case u == "" || strings.HasPrefix(u, "s"):
		case u == "mo" || strings.HasPrefix(u, "month"):
			unit = 30.4375 * 86400
		case strings.HasPrefix(u, "m"):
			unit = 60
		case strings.HasPrefix(u, "h"):
			unit = 3600
		case strings.HasPrefix(u, "d"):
			unit = 86400
		case strings.HasPrefix(u, "w"):
			unit = 7 * 86400
		case strings.HasPrefix(u, "y"):
			unit = 365.25 * 86400
		}
		total += n * unit
		t = t[len(m[0]):]
	}
	if total > float64(100*365*24*3600) {
		return 0, fmt.Errorf("%q is longer than a century", s)
	}
	return time.Duration(total * float64(time.Second)), nil
}

// SortedNotices returns notices ordered by file and line.
func SortedNotices(ns []Notice) []Notice {
	out := append([]Notice(nil), ns...)
	sort.SliceStable(out, func(i, k int) bool {
		if out[i].File != out[k].File {
			return out[i].File < out[k].File
		}
		return out[i].Line < out[k].Line
	})
	return out
}

// Stream is one log that jails read: a file, or the journal (one stream
// per jail, as journal matches differ). The daemon runs a Group of the
// jails' matchers over each stream, so a line is scanned for literals once
// however many jails watch the file.
type Stream struct {
	Path    string     // the file; empty for the journal
	Journal [][]string // the journal match, for a journal stream
	Jails   []*Jail
}

// Streams groups the jails by the log they read, files in path order.
func (s *Setup) Streams() []Stream {
	byPath := map[string]*Stream{}
	var paths []string
	var out []Stream
	for _, j := range s.Jails {
		if j.Journal {
			out = append(out, Stream{Journal: j.JournalMatch, Jails: []*Jail{j}})
			continue
		}
		seen := map[string]bool{}
		for _, p := range j.LogPaths {
			if seen[p] {
				continue
			}
			seen[p] = true
			st := byPath[p]
			if st == nil {
				st = &Stream{Path: p}
				byPath[p] = st
				paths = append(paths, p)
			}
			st.Jails = append(st.Jails, j)
		}
	}
	sort.Strings(paths)
	files := make([]Stream, 0, len(paths))
	for _, p := range paths {
		files = append(files, *byPath[p])
	}
	return append(files, out...)
}
