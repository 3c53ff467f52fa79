package fail2ban

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Pos is where a configuration value was written.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return "(built in)"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// PosError is an error at a place in a configuration file.
type PosError struct {
	Pos Pos
	Err error
}

func (e *PosError) Error() string { return e.Pos.String() + ": " + e.Err.Error() }
func (e *PosError) Unwrap() error { return e.Err }

func errAt(p Pos, format string, args ...any) error {
	return &PosError{Pos: p, Err: fmt.Errorf(format, args...)}
}

// value is one option as written.
type value struct {
	text string
	pos  Pos
}

// section is the options of one [name], in the order first written.
type section struct {
	name  string
	pos   Pos
	opts  map[string]value
	order []string
}

func newSection(name string, pos Pos) *section {
	return &section{name: name, pos: pos, opts: map[string]value{}}
}

func (s *section) set(k string, v value) {
	if _, ok := s.opts[k]; !ok {
		s.order = append(s.order, k)
	}
	s.opts[k] = v
}

// iniFile is one parsed file, before includes are followed.
type iniFile struct {
	path     string
	defaults *section
	sections []*section
}

// maxConfigFile bounds the size of one configuration file.
const maxConfigFile = 4 << 20

// parseINI parses text in the dialect of Python's ConfigParser as fail2ban
// configures it: "key = value" or "key: value", indented continuation
// lines, whole-line comments starting with # or ;, inline comments after
// " ;", option names folded to lower case, a duplicate section or option in
// one file is an error.
func parseINI(path string, data []byte) (*iniFile, error) {
	if len(data) > maxConfigFile {
		return nil, errAt(Pos{path, 0}, "file larger than %d bytes", maxConfigFile)
	}
	f := &iniFile{path: path, defaults: newSection("DEFAULT", Pos{path, 0})}
	var cur *section
	seen := map[string]bool{}
	var key string     // option being continued
	var keyIndent int  // its indentation
	var lines []string // its value lines
	var keyPos Pos
	flush := func() {
		if key == "" {
			return
		}
		for len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		cur.set(key, value{text: strings.Join(lines, "\n"), pos: keyPos})
		key, lines = "", nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxConfigFile+1)
	no := 0
	for sc.Scan() {
		no++
		raw := strings.TrimSuffix(sc.Text(), "\r")
		if no == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
			continue
		}
		trimmed = stripInlineComment(trimmed)
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if trimmed == "" {
			if key != "" {
				lines = append(lines, "")
			}
			continue
		}
		if key != "" && indent > keyIndent {
			lines = append(lines, trimmed)
			continue
		}
		flush()
		if strings.HasPrefix(trimmed, "[") {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, errAt(Pos{path, no}, "section header %q lacks its closing bracket", trimmed)
			}
			name := trimmed[1:end]
			if seen[name] {
				return nil, errAt(Pos{path, no}, "section [%s] appears twice in this file", name)
			}
			seen[name] = true
			if name == "DEFAULT" {
				cur = f.defaults
			} else {
				cur = newSection(name, Pos{path, no})
				f.sections = append(f.sections, cur)
			}
			continue
		}
		if cur == nil {
			return nil, errAt(Pos{path, no}, "option line before any [section]: %q", trimmed)
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, errAt(Pos{path, no}, "not a \"key = value\" line: %q", trimmed)
		}
		k := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		if _, dup := cur.opts[k]; dup {
			return nil, errAt(Pos{path, no}, "option %q appears twice in section [%s]", k, cur.name)
		}
		key, keyIndent, keyPos = k, indent, Pos{path, no}
		lines = []string{strings.TrimSpace(trimmed[i+1:])}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, errAt(Pos{path, no}, "read: %v", err)
	}
	return f, nil
}

// stripInlineComment cuts a value at a ";" that follows white space.
func stripInlineComment(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == ';' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

// Config is a set of configuration files merged in order, as fail2ban
// merges them: a later file's options override an earlier file's, and the
// overridden values stay reachable as "known/" values.
type Config struct {
	defaults *section
	sections map[string]*section
	order    []string
	known    map[string]*section
	files    []string
}

func newConfig() *Config {
	return &Config{defaults: newSection("DEFAULT", Pos{}), sections: map[string]*section{}, known: map[string]*section{}}
}

// Files returns the files read, in the order merged.
func (c *Config) Files() []string { return c.files }

// configFiles lists the files fail2ban reads for base (a path without
// extension): base.conf, base.d/*.conf, base.local, base.d/*.local; those
// that exist.
func configFiles(base string) []string {
	var out []string
	add := func(p string) {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, p)
		}
	}
	add(base + ".conf")
	confs, _ := filepath.Glob(filepath.Join(base+".d", "*.conf"))
	sort.Strings(confs)
	for _, p := range confs {
		add(p)
	}
	add(base + ".local")
	locals, _ := filepath.Glob(filepath.Join(base+".d", "*.local"))
	sort.Strings(locals)
	for _, p := range locals {
		add(p)
	}
	return out
}

// ReadConfig reads files (with their [INCLUDES] and .local overlays) and
// merges them. An include loop is an error naming the file and line.
func ReadConfig(files ...string) (*Config, error) {
	c := newConfig()
	var order []*iniFile
	cache := map[string]*iniFile{}
	for _, f := range withLocals(files) {
		if err := expandIncludes(f, nil, cache, &order); err != nil {
			return nil, err
		}
	}
	for _, f := range order {
		c.merge(f)
	}
	return c, nil
}

// withLocals adds x.local after each x.conf that has one.
func withLocals(files []string) []string {
	in := map[string]bool{}
	for _, f := range files {
		in[f] = true
	}
	var out []string
	for _, f := range files {
		out = append(out, f)
		l := strings.TrimSuffix(f, filepath.Ext(f)) + ".local"
		if !in[l] && l != f {
			if st, err := os.Stat(l); err == nil && !st.IsDir() {
				out = append(out, l)
				in[l] = true
			}
		}
	}
	return out
}

type includeFrame struct {
	file string
	pos  Pos // the before/after line that included the next frame
}

func loadINI(path string, cache map[string]*iniFile) (*iniFile, error) {
	if f, ok := cache[path]; ok {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parseINI(path, data)
	if err != nil {
		return nil, err
	}
	cache[path] = f
	return f, nil
}

// expandIncludes appends path's "before" includes, path, then its "after"
// includes to order. A missing included file is skipped, as fail2ban does
// (common.local is usually absent); a missing top file is an error.
func expandIncludes(path string, stack []includeFrame, cache map[string]*iniFile, order *[]*iniFile) error {
	for _, fr := range stack {
		if fr.file == path {
			var chain []string
			for _, f := range stack {
				chain = append(chain, f.pos.String())
			}
			return errAt(stack[len(stack)-1].pos, "include loop: %s includes %s again (chain: %s)", stack[len(stack)-1].file, path, strings.Join(chain, " -> "))
		}
	}
	f, err := loadINI(path, cache)
	if err != nil {
		if len(stack) > 0 && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		var pe *PosError
		if errors.As(err, &pe) {
			return err
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	var inc *section
	for _, s := range f.sections {
		if s.name == "INCLUDES" {
			inc = s
		}
	}
	list := func(key string) error {
		if inc == nil {
			return nil
		}
		v, ok := inc.opts[key]
		if !ok {
			return nil
		}
		for _, name := range strings.Split(v.text, "\n") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(path), name)
			}
			next := append(append([]includeFrame(nil), stack...), includeFrame{file: path, pos: v.pos})
			for _, n := range withLocals([]string{name}) {
				if err := expandIncludes(n, next, cache, order); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := list("before"); err != nil {
		return err
	}
	*order = append(*order, f)
	return list("after")
}

func (c *Config) merge(f *iniFile) {
	c.files = append(c.files, f.path)
	for _, k := range f.defaults.order {
		c.defaults.set(k, f.defaults.opts[k])
	}
	for _, s := range f.sections {
		old, ok := c.sections[s.name]
		if !ok {
			n := newSection(s.name, s.pos)
			for _, k := range s.order {
				n.set(k, s.opts[k])
			}
			c.sections[s.name] = n
			c.order = append(c.order, s.name)
			continue
		}
		kn := c.known[s.name]
		if kn == nil {
			kn = newSection("KNOWN/"+s.name, s.pos)
			c.known[s.name] = kn
		}
		for _, k := range s.order {
			if v, ok := old.opts[k]; ok {
				kn.set(k, v)
			}
			old.set(k, s.opts[k])
		}
	}
}

// Sections returns the section names in the order first seen.
func (c *Config) Sections() []string { return c.order }

// HasSection reports whether [name] exists.
func (c *Config) HasSection(name string) bool { _, ok := c.sections[name]; return ok }

// Keys returns the options of a section (without DEFAULT's).
func (c *Config) Keys(sec string) []string {
	if s := c.sections[sec]; s != nil {
		return s.order
	}
	return nil
}

// raw finds an option without interpolation: vars, then the section, then
// DEFAULT.
func (c *Config) raw(sec, key string, vars map[string]string) (value, bool) {
	if v, ok := vars[key]; ok {
		return value{text: v}, true
	}
	if s := c.sections[sec]; s != nil {
		if v, ok := s.opts[key]; ok {
			return v, true
		}
	}
	if v, ok := c.defaults.opts[key]; ok {
		return v, true
	}
	return value{}, false
}

// Pos returns where an option was written.
func (c *Config) Pos(sec, key string) Pos {
	v, _ := c.raw(sec, strings.ToLower(key), nil)
	return v.pos
}

// Has reports whether the section (or DEFAULT) sets key.
func (c *Config) Has(sec, key string) bool {
	_, ok := c.raw(sec, strings.ToLower(key), nil)
	return ok
}

// maxInterpolationDepth is ConfigParser's limit.
const maxInterpolationDepth = 10

// Get returns an option of a section with %(name)s references resolved:
// in vars, the section, then DEFAULT; %(section/name)s in another section;
// %(known/name)s in the value this section's option had before the last
// file overrode it; %(__name__)s is the section name; %% is a percent sign.
func (c *Config) Get(sec, key string, vars map[string]string) (string, Pos, bool, error) {
	if sec2, opt, ok := strings.Cut(key, "/"); ok {
		key = sec2 + "/" + strings.ToLower(opt)
	} else {
		key = strings.ToLower(key)
	}
	lv := lowerVars(vars)
	if sec2, opt, ok := strings.Cut(key, "/"); ok {
		if other := strings.ToLower(sec2); other != "known" && other != "default" && c.sections[sec2] != nil {
			if _, ok := c.sections[sec2].opts[opt]; ok {
				return c.Get(sec2, opt, nil)
			}
		}
		v, found := c.crossRaw(sec, sec2, opt)
		if !found {
			v, found = c.raw(sec, key, lv)
		}
		if !found {
			return "", Pos{}, false, nil
		}
		s, err := c.interpolate(sec, key, v, lv, 1)
		return s, v.pos, true, err
	}
	v, found := c.raw(sec, key, lv)
	if !found {
		return "", Pos{}, false, nil
	}
	s, err := c.interpolate(sec, key, v, lv, 1)
	return s, v.pos, true, err
}

func lowerVars(vars map[string]string) map[string]string {
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		out[strings.ToLower(k)] = v
	}
	return out
}

// crossRaw resolves "sec2/opt" seen from section sec.
func (c *Config) crossRaw(sec, sec2, opt string) (value, bool) {
	switch strings.ToLower(sec2) {
	case "known":
		if kn := c.known[sec]; kn != nil {
			if v, ok := kn.opts[opt]; ok {
				return v, true
			}
		}
	case "default":
	default:
		if s := c.sections[sec2]; s != nil {
			if v, ok := s.opts[opt]; ok {
				return v, true
			}
		}
	}
	if v, ok := c.defaults.opts[opt]; ok {
		return v, true
	}
	return value{}, false
}

func (c *Config) interpolate(sec, key string, v value, vars map[string]string, depth int) (string, error) {
	if depth > maxInterpolationDepth {
		return "", errAt(v.pos, "option %q in [%s]: interpolation deeper than %d levels (a reference loop?)", key, sec, maxInterpolationDepth)
	}
	s := v.text
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i += 2
			continue
		}
		if i+1 < len(s) && s[i+1] == '(' {
			end := strings.Index(s[i:], ")s")
			if end < 0 {
				return "", errAt(v.pos, "option %q in [%s]: bad interpolation syntax in %q", key, sec, s[i:])
			}
			name := s[i+2 : i+end]
			if sec2, opt, cross := strings.Cut(name, "/"); cross {
				name = sec2 + "/" + strings.ToLower(opt)
			} else {
				name = strings.ToLower(name)
			}
			i += end + 2
			var ref value
			var ok bool
			if name == "__name__" {
				ref, ok = value{text: sec, pos: v.pos}, true
			} else if sec2, opt, cross := strings.Cut(name, "/"); cross {
				ref, ok = c.crossRaw(sec, sec2, opt)
			} else {
				ref, ok = c.raw(sec, name, vars)
			}
			if !ok {
				return "", errAt(v.pos, "option %q in [%s]: %%(%s)s refers to an option that is not set", key, sec, name)
			}
			if ref.pos.File == "" {
				ref.pos = v.pos
			}
			out, err := c.interpolate(sec, name, ref, vars, depth+1)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			continue
		}
		return "", errAt(v.pos, "option %q in [%s]: a lone %% must be written %%%% (in %q)", key, sec, s)
	}
	return b.String(), nil
}
