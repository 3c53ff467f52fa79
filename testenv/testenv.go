// Package testenv tells tests what the machine offers: a program from a
// Debian package, such as journalctl or rsyslogd. Without it a test skips and
// says which package to install, except under CI (the CI variable set),
// which installs every package the tests need, so there the test fails
// instead. It is for tests only: it must not be imported by code the
// binary ships.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Program returns the path of the first of names found (a name on PATH or
// an absolute path), or skips (fails under CI) saying to install pkg.
func Program(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, fmt.Sprintf("%s not found: install the Debian package %s", names[0], pkg))
	return ""
}

// Missing skips the test for what msg says is missing, or fails it under CI.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
