package lapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "bouncers.json")
	k, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.List()) != 0 {
		t.Fatal("a missing file should be an empty set of keys")
	}
	key1, err := k.Add("fw-1")
	if err != nil {
		t.Fatal(err)
	}
	key2, err := k.Add("nginx@web:2")
	if err != nil {
		t.Fatal(err)
	}
	if len(key1) != 64 || key1 == key2 {
		t.Fatalf("keys %q %q: want two distinct 64-character keys", key1, key2)
	}
	for _, c := range key1 {
		if !strings.ContainsRune("0123456789abcdef", c) {
			t.Fatalf("key %q is not printable hex", key1)
		}
	}
	if _, err := k.Add("fw-1"); err == nil {
		t.Error("a duplicate name was accepted")
	}

	// The file is private and holds hashes only.
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), key1) || strings.Contains(string(data), key2) {
		t.Error("the file contains a key in clear")
	}

	if name, ok := k.authenticate(key2); !ok || name != "nginx@web:2" {
		t.Errorf("authenticate(key2) = %q, %v", name, ok)
	}
	for _, bad := range []string{"", key1[:63], key1 + "0", strings.ToUpper(key1)} {
		if name, ok := k.authenticate(bad); ok {
			t.Errorf("authenticate(%q) = %q, want refusal", bad, name)
		}
	}

	// Pulls are kept; reopening finds keys, names, creation and pull times.
	when := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	c := cursor{Epoch: 5, Version: 9}
	if err := k.pulled("fw-1", &c, when); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(); err != nil {
		t.Fatal(err)
	}
	k2, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	list := k2.List()
	if len(list) != 2 || list[0].Name != "fw-1" || list[1].Name != "nginx@web:2" {
		t.Fatalf("reopened list = %+v", list)
	}
	if !list[0].LastPull.Equal(when) || !list[1].LastPull.IsZero() || list[0].Created.IsZero() {
		t.Errorf("reopened times = %+v", list)
	}
	if got := k2.cursorOf("fw-1", when); got != c {
		t.Errorf("reopened cursor = %+v, want %+v", got, c)
	}
	if name, ok := k2.authenticate(key1); !ok || name != "fw-1" {
		t.Errorf("reopened authenticate(key1) = %q, %v", name, ok)
	}

	if err := k2.Delete("fw-1"); err != nil {
		t.Fatal(err)
	}
	if err := k2.Delete("fw-1"); err == nil {
		t.Error("deleting a missing bouncer succeeded")
	}
	if _, ok := k2.authenticate(key1); ok {
		t.Error("a deleted key still works")
	}
	k3, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if l := k3.List(); len(l) != 1 || l[0].Name != "nginx@web:2" {
		t.Errorf("after delete and reopen: %+v", l)
	}
}

func TestKeysNames(t *testing.T) {
	k, err := OpenKeys(filepath.Join(t.TempDir(), "k.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "-x", ".x", "a b", "a/b", "a\nb", "é", strings.Repeat("a", 65), "a\x00"} {
		if _, err := k.Add(name); err == nil {
			t.Errorf("Add(%q) accepted a bad name", name)
		}
	}
	for _, name := range []string{"a", "cs-firewall-bouncer-1700000000", "A.b_c-d@e:f", strings.Repeat("z", 64)} {
		if _, err := k.Add(name); err != nil {
			t.Errorf("Add(%q): %v", name, err)
		}
	}
}

func TestOpenKeysRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not json":      `{`,
		"unknown field": `{"bouncers":[],"extra":1}`,
		"bad hash":      `{"bouncers":[{"name":"a","sha256":"zz","created":"2025-01-01T00:00:00Z"}]}`,
		"bad name":      `{"bouncers":[{"name":"a b","sha256":"` + strings.Repeat("0", 64) + `","created":"2025-01-01T00:00:00Z"}]}`,
		"duplicate": `{"bouncers":[{"name":"a","sha256":"` + strings.Repeat("0", 64) + `","created":"2025-01-01T00:00:00Z"},` +
			`{"name":"a","sha256":"` + strings.Repeat("1", 64) + `","created":"2025-01-01T00:00:00Z"}]}`,
		"trailing data": `{"bouncers":[]} {}`,
	}
	for name, content := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeys(path); err == nil {
			t.Errorf("%s: OpenKeys accepted %s", name, content)
		}
	}
}
