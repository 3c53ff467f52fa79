package config

import (
	"os"

	"gopkg.in/yaml.v3"
	"strings"
	"testing"
)

// TestDistConfigIsTheDefaults keeps dist/phalanx.yaml honest: it must parse
// strictly and say exactly what the built-in defaults are.
func TestDistConfigIsTheDefaults(t *testing.T) {
	f, err := Load("../dist/phalanx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Compare as YAML, so that an empty list and no list are the same.
	got, _ := yaml.Marshal(f)
	want, _ := yaml.Marshal(Default())
	if string(got) != string(want) {
		t.Errorf("dist/phalanx.yaml is not the defaults:\n--- file\n%s\n--- code\n%s", got, want)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"detection:\n  ipv6_prefx: 64\n", "ipv6_prefx"},
		{"daemon:\n  enforce: maybe\n", "enforce"},
		{"decisions:\n  duration: -1h\n", "duration"},
		{"detection: {}\n---\ndecisions: {}\n", "more than one YAML document"},
		{"detection: [1, 2]\n", "decode"},
		{"http:\n  trusted_proxies: [0.0.0.0/0]\n", "trusts every address"},
		{"http:\n  trusted_proxies: [\"::/0\"]\n", "trusts every address"},
		{"http:\n  log_formats: {main: '$status only'}\n", "log_formats.main"},
		{"http:\n  log_formats: {'bad name': '$remote_addr \"$request\"'}\n", "bad name"},
		{"daemon:\n  sources: [nginx/main:/var/log/nginx/access.log]\n", "log format \"main\" is not defined"},
		{"daemon:\n  sources: [sshd/main:/var/log/auth.log]\n", "only a web server"},
		{"http:\n  rules: /nonexistent/pack.yaml\n", "rules"},
		{"http:\n  resolver: dns.example\n", "resolver"},
	} {
		f := Default()
		err := Decode([]byte(tc.yaml), &f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.yaml, err, tc.want)
		}
	}
	big := strings.Repeat("#", maxFileSize+1)
	f := Default()
	if err := Decode([]byte(big), &f); err == nil {
		t.Error("an oversized file was accepted")
	}
	if _, err := Load("/nonexistent/phalanx.yaml"); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzDecode: configuration files are written by people, and by mistakes;
// decoding must never panic.
func FuzzDecode(f *testing.F) {
	b, _ := os.ReadFile("../dist/phalanx.yaml")
	f.Add(b)
	f.Add([]byte("decisions:\n  allowlist: [10.0.0.0/8, '::1/128']\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		_ = Decode(data, &c)
	})
}

// TestHTTPSection: a pasted log_format makes nginx/NAME sources valid, and a
// rule pack file replaces the embedded pack.
func TestHTTPSection(t *testing.T) {
	dir := t.TempDir()
	pack := dir + "/pack.yaml"
	if err := os.WriteFile(pack, []byte("rules:\n  - {name: only, kind: http-cve, match: {anywhere: [\"evil-marker\"]}}\nscenarios:\n  - {name: only-cve, kinds: [http-cve], type: window, capacity: 1, window: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := Default()
	err := Decode([]byte(`http:
  trusted_proxies: [10.0.0.0/8]
  log_formats:
    main: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"'
  rules: `+pack+`
daemon:
  sources: ["nginx/main:/var/log/nginx/access.log"]
`), &f)
	if err != nil {
		t.Fatal(err)
	}
	pc := f.Pipeline()
	if pc.HTTP.Formats["main"] == nil || len(pc.HTTP.TrustedProxies) != 1 || pc.HTTP.Pack == nil {
		t.Fatalf("http config %+v: want the format, the proxy and the pack", pc.HTTP)
	}
	specs := pc.HTTP.Pack.Scenarios()
	if len(specs) != 1 || specs[0].Name != "only-cve" {
		t.Errorf("pack scenarios %v: want the file's only one", specs)
	}
}
