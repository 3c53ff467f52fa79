package fail2ban

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FilterOptions tune how filters are compiled.
type FilterOptions struct {
	// Budget is the time one backtracking match may take; 0 means
	// DefaultBudget.
	Budget time.Duration
	// NoDNS makes <HOST> match addresses only (fail2ban's usedns = no).
	NoDNS bool
	// Cache shares compiled date templates between filters; nil means
	// none. Load shares one between all its jails.
	Cache *Cache
}

// Cache holds compiled date detectors by datepattern, to share between
// filters (most use the same few). It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	dates map[string]*dateDetector
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{dates: map[string]*dateDetector{}} }

func (o FilterOptions) dateDetector(pattern string) (*dateDetector, error) {
	if o.Cache == nil {
		return newDateDetector(pattern, o.budget())
	}
	key := o.budget().String() + "\x00" + pattern
	o.Cache.mu.Lock()
	defer o.Cache.mu.Unlock()
	if d, ok := o.Cache.dates[key]; ok {
		return d, nil
	}
	d, err := newDateDetector(pattern, o.budget())
	if err != nil {
		return nil, err
	}
	o.Cache.dates[key] = d
	return d, nil
}

func (o FilterOptions) budget() time.Duration {
	if o.Budget <= 0 {
		return DefaultBudget
	}
	return o.Budget
}

// Filter is one compiled fail2ban filter.
type Filter struct {
	Name string
	File string // the filter's main file
	// Values are the filter's resolved options (failregex, datepattern, …)
	// after interpolation and tag substitution.
	Values map[string]string
	// JournalMatch holds the journalmatch lines, each split into terms
	// ("_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd").
	JournalMatch [][]string
	MaxLines     int

	pref   *rx
	fail   []*rx
	ignore []*rx
	dates  *dateDetector
}

// Regexes reports how many failregex and ignoreregex lines the filter has.
func (f *Filter) Regexes() (fail, ignore int) { return len(f.fail), len(f.ignore) }

// Backtracking lists the filter's expressions that run on regexp2, each
// with the construct that needs it.
func (f *Filter) Backtracking() []string {
	var out []string
	add := func(kind string, i int, r *rx) {
		if r != nil && r.backtracking() {
			out = append(out, fmt.Sprintf("%s %d: %s", kind, i, r.why))
		}
	}
	add("prefregex", 0, f.pref)
	for i, r := range f.fail {
		add("failregex", i, r)
	}
	for i, r := range f.ignore {
		add("ignoreregex", i, r)
	}
	return out
}

// filterBase finds the files of a filter: a name under dir/filter.d, or a
// path to a .conf or .local file.
func filterBase(dir, name string) string {
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".local") {
		return strings.TrimSuffix(strings.TrimSuffix(name, ".conf"), ".local")
	}
	return filepath.Join(dir, "filter.d", name)
}

// filterKeys are the [Definition] options a filter gives a jail.
var filterKeys = []string{"usedns", "prefregex", "failregex", "ignoreregex", "maxlines", "datepattern", "journalmatch"}

// LoadFilter reads and compiles a filter: name is a file name under
// dir/filter.d without extension, or a path. init holds the options a
// jail passes (filter = name[mode=aggressive]) and overrides the
// filter's [Init]; jail holds the jail's own options, which override the
// filter's [Definition] in %(name)s references (as fail2ban does).
func LoadFilter(dir, name string, init, jail map[string]string, o FilterOptions) (*Filter, error) {
	base := filterBase(dir, name)
	files := configFiles(base)
	if len(files) == 0 {
		return nil, fmt.Errorf("filter %q: no file %s.conf", name, base)
	}
	cfg, err := ReadConfig(files...)
	if err != nil {
		return nil, err
	}
	if !cfg.HasSection("Definition") {
		return nil, errAt(Pos{files[0], 1}, "filter %q has no [Definition] section", name)
	}
	f := &Filter{Name: filepath.Base(base), File: files[0], MaxLines: 1}
	vars := map[string]string{}
	for k, v := range jail {
		vars[strings.ToLower(k)] = v
	}
	initOpts := map[string]string{}
	for k, v := range init {
		vars[strings.ToLower(k)] = v
		initOpts[strings.ToLower(k)] = v
	}
	if cfg.HasSection("Init") {
		for _, k := range cfg.Keys("Init") {
			v, _, _, err := cfg.Get("Init", k, nil)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(k, "known/") {
				initOpts["known/"+k] = v
			}
			if _, ok := initOpts[k]; !ok {
				initOpts[k] = v
			}
		}
	}
	tags := map[string]string{}
	pos := map[string]Pos{}
	for _, k := range filterKeys {
		v, p, ok, err := cfg.Get("Definition", k, vars)
		if err != nil {
			return nil, err
		}
		if ok {
			tags[k], pos[k] = v, p
		}
	}
	for k, v := range initOpts {
		tags[k] = v
		if _, ok := pos[k]; !ok {
			pos[k] = cfg.Pos("Init", k)
		}
	}
	cache := map[string]*string{}
	lookup := func(name string) (string, bool, error) {
		if c, ok := cache[name]; ok {
			if c == nil {
				return "", false, nil
			}
			return *c, true, nil
		}
		v, _, ok, err := cfg.Get("Definition", name, vars)
		if err != nil {
			return "", false, err
		}
		if !ok {
			cache[name] = nil
			return "", false, nil
		}
		cache[name] = &v
		return v, true, nil
	}
	resolved, err := substituteTags(tags, lookup)
	if err != nil {
		return nil, &PosError{Pos: Pos{files[0], 0}, Err: err}
	}
	f.Values = resolved
	if v := strings.TrimSpace(resolved["maxlines"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errAt(pos["maxlines"], "maxlines %q: want a number from 1 to 1000", v)
		}
		f.MaxLines = n
	}
	multi := f.MaxLines > 1
	useDNS := !o.NoDNS
	if v := strings.ToLower(strings.TrimSpace(resolved["usedns"])); v == "no" || v == "raw" {
		useDNS = false
	}
	compile := func(key string, i int, text string) (*rx, error) {
		at := pos[key]
		if at.Line > 0 {
			at.Line += i
		}
		py, err := expandTags(text, useDNS)
		if err != nil {
			return nil, errAt(at, "%s: %v", key, err)
		}
		if strings.TrimSpace(py) == "" {
			return nil, errAt(at, "%s: empty expression", key)
		}
		r, err := compileRx(py, multi, o.budget())
		if err != nil {
			return nil, errAt(at, "%s %q: %v", key, text, err)
		}
		return r, nil
	}
	if v := strings.TrimSpace(resolved["prefregex"]); v != "" {
		if f.pref, err = compile("prefregex", 0, v); err != nil {
			return nil, err
		}
	}
	var errs []error
	for i, line := range valueLines(resolved["failregex"]) {
		r, err := compile("failregex", i, line)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !hasFailureID(r) && !hasFailureID(f.pref) {
			at := pos["failregex"]
			if at.Line > 0 {
				at.Line += i
			}
			errs = append(errs, errAt(at, "failregex %q has no failure id (<HOST>, <ADDR>, <F-ID>…)", line))
			continue
		}
		f.fail = append(f.fail, r)
	}
	for i, line := range valueLines(resolved["ignoreregex"]) {
		r, err := compile("ignoreregex", i, line)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.ignore = append(f.ignore, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(f.fail) == 0 {
		return nil, errAt(Pos{files[0], 0}, "filter %q has no failregex", name)
	}
	if f.dates, err = o.dateDetector(resolved["datepattern"]); err != nil {
		return nil, errAt(pos["datepattern"], "%v", err)
	}
	for _, line := range valueLines(resolved["journalmatch"]) {
		f.JournalMatch = append(f.JournalMatch, strings.Fields(line))
	}
	return f, nil
}

func hasFailureID(r *rx) bool {
	if r == nil {
		return false
	}
	for _, n := range r.names {
		switch n {
		case "fid", "ip4", "ip6", "dns", "mlfid":
			return true
		}
	}
	return false
}

// valueLines splits a multi-line option into its non-empty lines.
func valueLines(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

var reTag = regexp.MustCompile(`<([^ <>]+)>`)

// maxTagReplace bounds how often one tag may be replaced inside one
// value: more means the definitions refer to each other.
const maxTagReplace = 25

// substituteTags resolves <name> references between option values,
// innermost first: from the other values, then through lookup (the
// filter's [Definition], or section/name). Unknown tags (<HOST>, <F-USER>)
// stay.
func substituteTags(in map[string]string, lookup func(string) (string, bool, error)) (map[string]string, error) {
	tags := make(map[string]string, len(in))
	keys := make([]string, 0, len(in))
	for k, v := range in {
		tags[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	counts := map[string]map[string]int{}
	for pass := 0; pass < 100; pass++ {
		changed := false
		for _, tag := range keys {
			val := tags[tag]
			orig := val
			rc := counts[tag]
			if rc == nil {
				rc = map[string]int{}
				counts[tag] = rc
			}
			from := 0
			for from < len(val) {
				loc := reTag.FindStringSubmatchIndex(val[from:])
				if loc == nil {
					break
				}
				st, en := from+loc[0], from+loc[1]
				name := val[from+loc[2] : from+loc[3]]
				if name == tag || rc[name] > maxTagReplace {
					return nil, fmt.Errorf("option %q refers to itself through <%s>", tag, name)
				}
				repl, ok := tags[name]
				if !ok {
					var err error
					repl, ok, err = lookup(name)
					if err != nil {
						return nil, err
					}
				}
				if !ok {
					from = en
					continue
				}
				val = strings.ReplaceAll(val, "<"+name+">", repl)
				rc[name]++
				from = st
			}
			if val != orig {
				tags[tag] = val
				changed = true
			}
		}
		if !changed {
			return tags, nil
		}
	}
	return nil, fmt.Errorf("tag definitions do not settle")
}
