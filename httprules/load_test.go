package httprules

import (
	"strings"
	"testing"

	"phalanx/parser/httplog"
)

// minimal is a valid pack that the error cases below break one way each.
const minimal = `
rules:
  - name: env
    kind: http-sensitive
    match: {path_suffix: [/.env]}
scenarios:
  - {name: http-sensitive-files, kinds: [http-sensitive], type: window, capacity: 3, window: 10m}
`

func TestLoadMinimal(t *testing.T) {
	p, err := Load([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	hits := p.Classify(&httplog.Request{Method: []byte("GET"), URI: []byte("/.env"), Status: 404}, nil)
	if len(hits) != 1 || hits[0].Rule != "env" {
		t.Errorf("hits = %v, want the env rule", hits)
	}
	if _, _, ok := p.Crawler([]byte("Googlebot")); ok {
		t.Error("a pack without crawlers knows a crawler")
	}
	if len(p.Scenarios()) != 1 {
		t.Errorf("scenarios = %v", p.Scenarios())
	}
}

// TestLoadErrors checks that each mistake is an error naming its line and
// saying what to do.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty file", ``, []string{"rule file is empty"}},
		{"two documents", minimal + "---\nrules: []\n", []string{"more than one YAML document"}},
		{"unknown top-level key", minimal + "rulez: []\n", []string{"line 8", "rulez", "the file takes: static, crawlers, rules, scenarios"}},
		{"unknown rule key", `
rules:
  - name: env
    kind: http-sensitive
    mach: {path_suffix: [/.env]}
`, []string{"line 5", "mach", "a rule takes"}},
		{"unknown matcher key", `
rules:
  - name: env
    kind: http-sensitive
    match: {path_sufix: [/.env]}
`, []string{"line 5", "path_sufix", "a matcher takes"}},
		{"unknown kind", `
rules:
  - name: env
    kind: http-secret
    match: {path_suffix: [/.env]}
`, []string{"line 4", `kind "http-secret" is not an HTTP kind`, "http-sensitive"}},
		{"ssh kind in a rule", `
rules:
  - name: env
    kind: auth-failure
    match: {path_suffix: [/.env]}
`, []string{"line 4", "not an HTTP kind"}},
		{"empty pattern", `
rules:
  - name: env
    kind: http-sensitive
    match:
      path_suffix: [/.env, ""]
`, []string{"line 6", "path_suffix[1]", "empty pattern"}},
		{"path without slash", `
rules:
  - name: wp
    kind: http-wp-login
    match:
      path_exact:
        - wp-login.php
`, []string{"line 7", "does not start with /"}},
		{"double slash", `
rules:
  - name: wp
    kind: http-sensitive
    match: {path_contains: [//x]}
`, []string{"line 5", "repeated slashes"}},
		{"long pattern", `
rules:
  - name: long
    kind: http-sensitive
    match: {uri_contains: [` + strings.Repeat("a", MaxPatternLen+1) + `]}
`, []string{"line 5", "longer than 256 bytes"}},
		{"duplicate rule name", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.git]}}
`, []string{"line 4", "already used by rules[0]"}},
		{"no match, no filter", `
rules:
  - {name: all, kind: http-probe}
`, []string{"line 3", "would fire on every request"}},
		{"and without match", `
rules:
  - {name: x, kind: http-probe, status: [404], and: [{path_suffix: [.php]}]}
`, []string{"line 3", "and needs a match"}},
		{"bad status", `
rules:
  - {name: x, kind: http-probe, status: [404, 4x4, 999]}
`, []string{"line 3", `"4x4" is not a status`, `"999" is not a status`}},
		{"bad error kind", `
rules:
  - {name: x, kind: http-probe, error: [missing]}
`, []string{"line 3", `"missing" is not an error-log kind`}},
		{"bad method", `
rules:
  - {name: x, kind: http-probe, method: [post], match: {path_exact: [/login]}}
`, []string{"line 3", "upper-case HTTP method"}},
		{"bad absolute", `
rules:
  - {name: x, kind: http-open-proxy, absolute: other}
`, []string{"line 3", `absolute "other" is unknown`}},
		{"no rules", `
scenarios:
  - {name: http-x, kinds: [http-probe], type: window, capacity: 3, window: 10m}
`, []string{"a pack needs at least one rule"}},
		{"invalid scenario", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
scenarios:
  - {name: http-x, kinds: [http-sensitive], type: window, capacity: 0, window: 10m}
`, []string{"line 5", "capacity 0 is out of range"}},
		{"scenario duration without unit", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
scenarios:
  - {name: http-x, kinds: [http-sensitive], type: window, capacity: 3, window: 10}
`, []string{"line 5", "write durations with a unit"}},
		{"scenario of an unknown kind", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
scenarios:
  - {name: http-x, kinds: [http-secret], type: window, capacity: 3, window: 10m}
`, []string{"line 5", `kind "http-secret" is unknown; use one of http-probe`}},
		{"scenario of an ssh kind", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
scenarios:
  - {name: http-x, kinds: [auth-failure], type: window, capacity: 3, window: 10m}
`, []string{"line 5", "not an HTTP kind"}},
		{"scenario named like an ssh one", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
scenarios:
  - {name: ssh-bf, kinds: [http-sensitive], type: window, capacity: 3, window: 10m}
`, []string{"line 5", "taken by a built-in scenario"}},
		{"crawler without domains", `
crawlers:
  - {name: bot, agent: [bot]}
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
`, []string{"line 3", "domains lists nothing"}},
		{"crawler domain", `
crawlers:
  - {name: bot, agent: [bot], domains: [Bot.Example]}
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
`, []string{"line 3", "not a lower-case DNS name"}},
		{"static prefix without slash", `
static: {prefix: [favicon]}
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [/.env]}}
`, []string{"line 2", "static.prefix[0]", "does not start with /"}},
		{"unquoted alias", `
rules:
  - {name: env, kind: http-sensitive, match: {path_suffix: [*.env]}}
`, []string{"quote the pattern"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load([]byte(c.yaml))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	if _, err := Load(make([]byte, maxFileSize+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v", err)
	}
}
