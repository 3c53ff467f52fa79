package fail2ban

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTree writes files (path relative to dir → content) and returns dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"600", 10 * time.Minute, false},
		{"10m", 10 * time.Minute, false},
		{"1h", time.Hour, false},
		{"48h", 48 * time.Hour, false},
		{"1d", 24 * time.Hour, false},
		{"1w", 7 * 24 * time.Hour, false},
		{"1h 30m", 90 * time.Minute, false},
		{"2mins", 2 * time.Minute, false},
		{"-1", -1, false},
		{"", 0, true},
		{"ten", 0, true},
		{"5 parsecs", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err != nil) != tt.bad || !tt.bad && got != tt.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
	if d, _ := ParseTime("1mo"); d < 30*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("1mo = %v", d)
	}
}

func TestParseFilterSpec(t *testing.T) {
	name, opts, err := ParseFilterSpec(`sshd[mode=aggressive, port="22, 2222", x='y']`)
	if err != nil || name != "sshd" || opts["mode"] != "aggressive" || opts["port"] != "22, 2222" || opts["x"] != "y" {
		t.Errorf("got %q %v %v", name, opts, err)
	}
	if _, _, err := ParseFilterSpec(`sshd[mode]`); err == nil {
		t.Error("an option without '=' was accepted")
	}
}

// TestINI covers the reader: continuation lines, comments, "key: value",
// %(x)s in the section then DEFAULT, %(known/x)s, cross-section, .local
// overlays and include order.
func TestINI(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"base.conf": "[DEFAULT]\nb = base-default\n[s]\nv = base\n",
		"main.conf": `[INCLUDES]
before = base.conf
after = after.conf

# a comment
; another
[DEFAULT]
d = %(b)s!

[s]
multi = one
        two
  # an indented comment inside the value
        three
colon: yes ; inline comment
ref = <%(v)s> %(d)s %%literal
cross = %(other/x)s
[other]
x = from-other
`,
		"main.local": "[s]\nv = local %(known/v)s\n",
		"after.conf": "[s]\nlate = %(__name__)s\n",
	})
	cfg, err := ReadConfig(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"multi": "one\ntwo\nthree",
		"colon": "yes",
		"v":     "local base",
		"ref":   "<local base> base-default! %literal",
		"cross": "from-other",
		"late":  "s",
	}
	for k, w := range want {
		got, _, ok, err := cfg.Get("s", k, nil)
		if err != nil || !ok || got != w {
			t.Errorf("%s = %q (%v, %v), want %q", k, got, ok, err, w)
		}
	}
	var names []string
	for _, f := range cfg.Files() {
		names = append(names, filepath.Base(f))
	}
	if got := strings.Join(names, " "); got != "base.conf main.conf after.conf main.local" {
		t.Errorf("read order %s", got)
	}
	if got, _, _, _ := cfg.Get("s", "v", map[string]string{"V": "var"}); got != "var" {
		t.Errorf("vars do not override: %q", got)
	}
}

func TestINIErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"orphan", "key = value\n", "x.conf:1: option line before any [section]"},
		{"header", "[broken\n", "x.conf:1: section header"},
		{"noeq", "[s]\njust words\n", "x.conf:2: not a \"key = value\" line"},
		{"dupsec", "[s]\na = 1\n[s]\n", "x.conf:3: section [s] appears twice"},
		{"dupopt", "[s]\na = 1\na = 2\n", "x.conf:3: option \"a\" appears twice"},
	}
	for _, tt := range tests {
		dir := writeTree(t, map[string]string{"x.conf": tt.text})
		_, err := ReadConfig(filepath.Join(dir, "x.conf"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	dir := writeTree(t, map[string]string{"x.conf": "[s]\na = %(missing)s\nb = %(b)s\nc = 50%\n"})
	cfg, err := ReadConfig(filepath.Join(dir, "x.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": "x.conf:2", "b": "deeper than", "c": "x.conf:4: option \"c\" in [s]: a lone %"} {
		if _, _, _, err := cfg.Get("s", key, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", key, err, want)
		}
	}
}

// TestIncludeLoop: a loop of includes is an error naming the file and the
// line of the include that closes it.
func TestIncludeLoop(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a.conf": "[INCLUDES]\nbefore = b.conf\n[s]\nx = 1\n",
		"b.conf": "[INCLUDES]\n\nafter = a.conf\n",
	})
	_, err := ReadConfig(filepath.Join(dir, "a.conf"))
	var pe *PosError
	if !errors.As(err, &pe) || !strings.HasSuffix(pe.Pos.File, "b.conf") || pe.Pos.Line != 3 || !strings.Contains(err.Error(), "include loop") {
		t.Fatalf("error %v, want an include loop at b.conf:3", err)
	}
}

const testFilter = `[INCLUDES]
before = common.conf
[Definition]
_daemon = demo
failregex = ^%(__prefix_line)sauth failure for <F-USER>\S+</F-USER> from <HOST>$
ignoreregex = ^%(__prefix_line)sauth failure for ignored from
`

const testCommon = `[DEFAULT]
__prefix_line = \s*(?:\S+\s+)?%(_daemon)s(?:\[\d+\])?:\s+
`

// TestLoadJails: enabled jails load with their settings; a jail whose
// filter is broken, missing, or whose log is missing is an error for that
// jail only; settings that are not honoured are listed.
func TestLoadJails(t *testing.T) {
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "demo.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{
		"filter.d/common.conf": testCommon,
		"filter.d/demo.conf":   testFilter,
		"filter.d/broken.conf": "[Definition]\nfailregex = ^oops (<HOST>\n",
		"filter.d/badtag.conf": "[Definition]\nfailregex = ^x\n            ^login from <HSOT>\n",
		"jail.conf": `[DEFAULT]
enabled = false
maxretry = 5
findtime = 10m
bantime = 1h
filter = %(__name__)s
action = iptables-multiport
port = 0:65535

[demo]
enabled = true
logpath = ` + filepath.Join(logDir, "*.log") + `
          ` + filepath.Join(logDir, "absent.log") + `
maxretry = 3
bantime = -1
bantime.increment = true
bantime.factor = 2
bantime.maxtime = 1w
ignoreip = 127.0.0.1/8 ::1 192.0.2.7 example.org
port = ssh
ignorecommand = /bin/true
colour = blue

[journal]
enabled = true
filter = demo[_daemon=other]
backend = systemd
findtime = 1h 30m

[broken]
enabled = true
logpath = ` + logFile + `

[badtag]
enabled = true
logpath = ` + logFile + `

[nofilter]
enabled = true
logpath = ` + logFile + `

[nolog]
enabled = true
filter = demo
logpath = /nonexistent/*.log

[badtime]
enabled = true
filter = demo
logpath = ` + logFile + `
bantime = soon

[off]
filter = demo
logpath = ` + logFile + `
`,
	})
	s, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jails := map[string]*Jail{}
	for _, j := range s.Jails {
		jails[j.Name] = j
	}
	demo := jails["demo"]
	if demo == nil || len(jails) != 2 || jails["journal"] == nil {
		t.Fatalf("jails %v, errors %v", jails, s.Errors)
	}
	if demo.MaxRetry != 3 || demo.FindTime != 10*time.Minute || demo.BanTime >= 0 ||
		demo.Increment == nil || demo.Increment.Factor != 2 || demo.Increment.MaxTime != 7*24*time.Hour ||
		len(demo.LogPaths) != 1 || demo.LogPaths[0] != logFile || len(demo.IgnoreIP) != 3 || demo.Journal {
		t.Errorf("demo jail: %+v", demo)
	}
	j := jails["journal"]
	if !j.Journal || j.FindTime != 90*time.Minute || j.FilterOptions["_daemon"] != "other" {
		t.Errorf("journal jail: %+v", j)
	}
	streams := s.Streams()
	if len(streams) != 2 || streams[0].Path != logFile || len(streams[0].Jails) != 1 || streams[1].Path != "" || streams[1].Jails[0] != j {
		t.Errorf("streams %+v", streams)
	}
	m := NewMatcher(j.Filter, MatchOptions{})
	if r, o := m.LineAt("host other[12]: auth failure for bob from 192.0.2.1", time.Now()); o != Failure || r.User != "bob" {
		t.Errorf("the [_daemon=other] option is not applied: %v %+v", o, r)
	}
	wantErrs := map[string]string{
		"broken":   "broken.conf:2: failregex",
		"badtag":   "badtag.conf:3: failregex: unknown tag <HSOT>",
		"nofilter": "no file",
		"nolog":    "matches no file",
		"badtime":  `bantime: "soon" is not a time`,
	}
	for _, e := range s.Errors {
		var je *JailError
		if !errors.As(e, &je) {
			t.Errorf("not a JailError: %v", e)
			continue
		}
		want, ok := wantErrs[je.Jail]
		if !ok || !strings.Contains(e.Error(), want) {
			t.Errorf("jail %s: error %v, want %q", je.Jail, e, want)
		}
		delete(wantErrs, je.Jail)
	}
	for j := range wantErrs {
		t.Errorf("jail %s loaded without the expected error", j)
	}
	wantNotices := []string{
		"[DEFAULT] action:", "[demo] port: port = ssh", "[demo] ignorecommand:",
		"[demo] colour: not a fail2ban jail option", "[demo] ignoreip: example.org",
		"[demo] logpath: " + filepath.Join(logDir, "absent.log") + " matches no file now",
	}
	var all []string
	for _, n := range SortedNotices(s.Notices) {
		all = append(all, n.String())
	}
	text := strings.Join(all, "\n")
	for _, w := range wantNotices {
		if !strings.Contains(text, w) {
			t.Errorf("no notice %q in:\n%s", w, text)
		}
	}
	if strings.Count(text, "[DEFAULT] action:") != 1 {
		t.Errorf("the DEFAULT action notice is not listed exactly once:\n%s", text)
	}
}

// TestLoadDebian: Debian's own configuration loads; its one enabled jail
// (sshd) is either ready or fails only for its log file; the notices are
// logged.
func TestLoadDebian(t *testing.T) {
	requireDebian(t)
	s, err := Load(debianConfig, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Errors {
		if !strings.Contains(e.Error(), "matches no file") {
			t.Errorf("unexpected error: %v", e)
		}
	}
	if len(s.Jails)+len(s.Errors) == 0 {
		t.Error("no jail enabled in Debian's configuration")
	}
	for _, n := range SortedNotices(s.Notices) {
		t.Logf("notice: %s", n)
	}
}

// TestLoadEveryDebianJail enables every jail of Debian's jail.conf on the
// journal backend: each loads (its filter compiles) or fails with a
// reason that is listed here.
func TestLoadEveryDebianJail(t *testing.T) {
	requireDebian(t)
	dir := t.TempDir()
	ents, err := os.ReadDir(debianConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "jail.d" || e.Name() == "jail.local" {
			continue
		}
		if err := os.Symlink(filepath.Join(debianConfig, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte("[DEFAULT]\nenabled = true\nbackend = systemd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jails loaded in %v, %d errors, %d notices", len(s.Jails), time.Since(start), len(s.Errors), len(s.Notices))
	// Jails of jail.conf whose filter Debian does not ship, or which need
	// a setting the jail leaves to the user.
	expected := map[string]string{}
	for _, e := range s.Errors {
		var je *JailError
		errors.As(e, &je)
		if reason, ok := expected[je.Jail]; ok {
			t.Logf("expected: %v (%s)", e, reason)
			continue
		}
		t.Errorf("%v", e)
	}
	if len(s.Jails) < 50 {
		t.Errorf("only %d jails loaded", len(s.Jails))
	}
}
