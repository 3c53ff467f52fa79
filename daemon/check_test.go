package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
)

// checkOptions are a start's options on data directory dir, tailing
// logPath, enforcing nothing, the API on a free loopback port.
func checkOptions(dir, logPath string) daemon.Options {
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{logPath}
	return daemon.Options{DataDir: dir, Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func errorsOf(ps []daemon.Problem) []string {
	var out []string
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p.Err.Error())
		}
	}
	return out
}

// TestNewRefusesOpenSecrets: a start refuses a data directory whose
// secrets group or others may read or write, naming the file and the
// chmod that fixes it, before it opens anything; Check says the same.
func TestNewRefusesOpenSecrets(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		mode os.FileMode
	}{
		{"admin.token", 0o644},
		{"admin.token", 0o620},
		{"bouncers.json", 0o604},
		{"fabric.secret", 0o640},
		{"identity.key", 0o644},
		{"console-readonly.token", 0o606},
		{"invites.json", 0o660},
	} {
		t.Run(tc.file+"/"+tc.mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.file)
			content := strings.Repeat("ab", 32) + "\n"
			if tc.file == "bouncers.json" {
				content = `{"bouncers":[]}`
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			opts := checkOptions(dir, logPath)
			d, err := daemon.New(context.Background(), opts)
			if err == nil {
				d.Close()
				t.Fatalf("New started with %s mode %v", tc.file, tc.mode)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Errorf("New: %v; want the file and `chmod 600 %s`", err, path)
			}
			if _, serr := os.Stat(filepath.Join(dir, "fabric")); serr == nil {
				t.Errorf("New opened the fabric store before refusing")
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != tc.mode {
				t.Errorf("New changed the mode to %v", fi.Mode().Perm())
			}
			errs := errorsOf(daemon.Check(context.Background(), opts, daemon.CheckOptions{}))
			if len(errs) != 1 || errs[0] != err.Error() {
				t.Errorf("Check found %q; want New's refusal alone: %q", errs, err)
			}
		})
	}
	t.Run("open data directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(context.Background(), checkOptions(dir, logPath))
		if err == nil {
			d.Close()
			t.Fatal("New started in a data directory others may write")
		}
		if !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Errorf("New: %v; want `chmod 700 %s`", err, dir)
		}
	})
	t.Run("0600 starts", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := checkOptions(dir, logPath)
		if errs := errorsOf(daemon.Check(context.Background(), opts, daemon.CheckOptions{})); len(errs) > 0 {
			t.Errorf("Check: %q", errs)
		}
		d, err := daemon.New(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
	})
}

// TestCheck: Check finds what New would refuse in the data directory and
// the fabric's addresses, and lists every problem.
func TestCheck(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, o *daemon.Options)
		want  []string // a part of each error, in order
		more  bool     // other errors may come first (ports next to the one held may be taken too)
	}{
		{"fresh", func(*testing.T, string, *daemon.Options) {}, nil, false},
		{"fabric without alliance", func(_ *testing.T, _ string, o *daemon.Options) { o.Config.Daemon.Fabric = "127.0.0.1:7422" },
			[]string{"--fabric is for members of a multi-host alliance"}, false},
		{"charter without identity", func(t *testing.T, dir string, _ *daemon.Options) {
			initAlliance(t, dir, "")
			os.Remove(filepath.Join(dir, "identity.key"))
		}, []string{"exists but identity key"}, false},
		{"fabric cluster port in use", func(t *testing.T, dir string, _ *daemon.Options) {
			initAlliance(t, dir, net.JoinHostPort("127.0.0.1", itoa(port-1)))
		}, []string{"fabric cluster address (port+1) 127.0.0.1:" + itoa(port) + " is in use"}, true},
		{"syslog receiver on the API's port", func(t *testing.T, dir string, o *daemon.Options) {
			o.Config.Daemon.API = "127.0.0.1:" + itoa(freePort(t))
			o.Config.Daemon.Sources = append(o.Config.Daemon.Sources, "syslog:tcp://"+o.Config.Daemon.API)
		}, []string{"the same port as the API address"}, false},
		{"short token and bad bouncer keys", func(t *testing.T, dir string, _ *daemon.Options) {
			os.Mkdir(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "admin.token"), []byte("short\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "bouncers.json"), []byte("{}{}"), 0o600)
		}, []string{"admin token", "bouncer keys"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			o := checkOptions(dir, logPath)
			tt.setup(t, dir, &o)
			errs := errorsOf(daemon.Check(context.Background(), o, daemon.CheckOptions{}))
			if tt.more {
				if joined := strings.Join(errs, "\n"); len(tt.want) != 1 || !strings.Contains(joined, tt.want[0]) {
					t.Errorf("errors %q; want one mentioning %q", errs, tt.want)
				}
				return
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %q; want %d, mentioning %q", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i], w) {
					t.Errorf("error %d: %q; want it to mention %q", i, errs[i], w)
				}
			}
		})
	}
}

// TestCheckWhileRunning: a check on the data directory of a running
// member (before a restart) warns of it and takes the addresses it holds
// as free, instead of failing on them.
func TestCheckWhileRunning(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := startMember(t, filepath.Join(dir, "data"), logPath)
	o := checkOptions(m.dir, logPath)
	o.Config.Daemon.API = m.d.Addr()
	ps := daemon.Check(context.Background(), o, daemon.CheckOptions{})
	if errs := errorsOf(ps); len(errs) > 0 {
		t.Errorf("errors %q", errs)
	}
	var said []string
	for _, p := range ps {
		said = append(said, p.String())
	}
	all := strings.Join(said, "\n")
	if !strings.Contains(all, "warning: a phalanx is running with data directory") || !strings.Contains(all, "presumably by the phalanx running") {
		t.Errorf("problems:\n%s", all)
	}
}

func initAlliance(t *testing.T, dir, fabric string) {
	t.Helper()
	if _, err := daemon.InitAlliance(dir, daemon.InitOptions{Name: "check", Fabric: fabric, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func itoa(n int) string { return strconv.Itoa(n) }
