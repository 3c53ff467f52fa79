package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"phalanx/testenv"
)

// TestRunCheck: run --check finds what would stop a start (or leave the
// member blind), one line each, all of them at once, and exits non-zero;
// it says "configuration is valid" only when a start would succeed.
func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, []byte(attackLog(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	free := "127.0.0.1:" + strconv.Itoa(testenv.FreePorts(t, 1)[0])
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	// openToken is a data directory whose admin token group and others
	// may read.
	openToken := func(t *testing.T) string {
		d := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "admin.token")
		if err := os.WriteFile(p, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // past the umask
			t.Fatal(err)
		}
		return d
	}
	fresh := func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }

	tests := []struct {
		name    string
		data    func(*testing.T) string
		args    []string
		code    int
		want    []string // lines (or parts) stderr must hold
		wantOut string   // a part of stdout
	}{
		{name: "valid", data: fresh, args: []string{"--source", logFile, "--api", free},
			code: 0, wantOut: "configuration is valid"},
		{name: "log not written yet", data: fresh, args: []string{"--source", filepath.Join(dir, "later.log"), "--api", free},
			code: 0, want: []string{"warning: source " + filepath.Join(dir, "later.log") + " does not exist yet"}, wantOut: "configuration is valid"},
		{name: "missing source in missing directory", data: fresh, args: []string{"--source", filepath.Join(dir, "nope", "auth.log"), "--api", free},
			code: 1, want: []string{"error: source " + filepath.Join(dir, "nope", "auth.log") + ": neither the file nor its directory"}},
		{name: "bare host as API", data: fresh, args: []string{"--source", logFile, "--api", "0.0.0.0"},
			code: 1, want: []string{`error: configuration: daemon: api: "0.0.0.0" is not host:port: add the port, such as 0.0.0.0:8080`}},
		{name: "API port out of range", data: fresh, args: []string{"--source", logFile, "--api", ":99999"},
			code: 1, want: []string{`error: configuration: daemon: api: ":99999": port "99999" is not a port number: use 1 to 65535`}},
		{name: "API port in use", data: fresh, args: []string{"--source", logFile, "--api", busy.Addr().String()},
			code: 1, want: []string{"error: API address " + busy.Addr().String() + " is in use"}},
		{name: "world-readable admin token", data: openToken, args: []string{"--source", logFile, "--api", free},
			code: 1, want: []string{"error: admin token ", "admin.token has mode 0644", "run `chmod 600 "}},
		{name: "every problem at once", data: openToken, args: []string{"--source", filepath.Join(dir, "nope", "auth.log"), "--api", "0.0.0.0"},
			code: 1, want: []string{"error: configuration: daemon: api:", "error: admin token", "error: source " + filepath.Join(dir, "nope", "auth.log"), "3 problem(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "--check", "--data", tt.data(t)}, tt.args...)
			code, out, errs := runCLI(t, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if tt.code != 0 && strings.Contains(out, "configuration is valid") {
				t.Errorf("a failed check says the configuration is valid:\n%s", out)
			}
			if tt.wantOut != "" && !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s\nstderr: %s", tt.wantOut, out, errs)
			}
			if tt.code == 0 && strings.Contains(errs, "error:") {
				t.Errorf("a passing check printed errors:\n%s", errs)
			}
		})
	}
}

// TestRunCheckFabric: for a member of an alliance, run --check binds the
// fabric's ports as the start would, and names the one in use.
func TestRunCheckFabric(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The cluster port (fabric port+1) is the one held.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	fab := "127.0.0.1:" + strconv.Itoa(port-1)
	data := filepath.Join(dir, "data")
	if code, _, errs := runCLI(t, "", "alliance", "init", "--data", data, "--name", "check", "--fabric", fab); code != 0 {
		t.Fatalf("alliance init: exit %d: %s", code, errs)
	}
	api := "127.0.0.1:" + strconv.Itoa(testenv.FreePorts(t, 1)[0])
	code, out, errs := runCLI(t, "", "run", "--check", "--data", data, "--source", logFile, "--api", api)
	want := "error: fabric cluster address (port+1) 127.0.0.1:" + strconv.Itoa(port) + " is in use"
	if code != 1 || !strings.Contains(errs, want) || strings.Contains(out, "configuration is valid") {
		t.Errorf("exit %d, want 1 and %q\nstdout: %s\nstderr: %s", code, want, out, errs)
	}
}
