package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
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
		{"metrics.token", 0o644},
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

// TestCheckListeners: --check finds what would stop the listeners: a
// serve address on the API's port or in use, a Unix socket that cannot be
// made or is served already, TLS files missing, not PEM, not a pair,
// expired, or a key others can read; a good setup passes, and an API
// reachable from other hosts in plain HTTP is a warning.
func TestCheckListeners(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	cert, key, _ := testCert(t, certDir, "good")
	otherCert, _, _ := testCert(t, certDir, "other")
	expired, expiredKey := expiredCert(t, certDir)
	openKey := filepath.Join(certDir, "open.key")
	data, _ := os.ReadFile(key)
	os.WriteFile(openKey, data, 0o644)
	os.Chmod(openKey, 0o644)
	groupKey := filepath.Join(certDir, "group.key")
	os.WriteFile(groupKey, data, 0o640)
	garbage := filepath.Join(certDir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate\n"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sockDir := t.TempDir()
	live, err := net.Listen("unix", filepath.Join(sockDir, "live.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	os.WriteFile(filepath.Join(sockDir, "file"), nil, 0o600)
	tests := []listenerCase{
		{"serve and TLS", func(d *config.Daemon) {
			d.API = "127.0.0.1:" + itoa(freePort(t))
			d.Serve = "127.0.0.1:" + itoa(freePort(t))
			d.ServeTLS = config.TLS{Cert: cert, Key: key}
		}, nil, ""},
		{"key readable by the group", func(d *config.Daemon) {
			d.APITLS = config.TLS{Cert: cert, Key: groupKey}
		}, nil, ""},
		{"Unix socket API", func(d *config.Daemon) { d.API = "unix:" + filepath.Join(sockDir, "new", "api.sock") }, nil, ""},
		{"serve on the API's port", func(d *config.Daemon) {
			d.API = "127.0.0.1:" + itoa(freePort(t))
			d.Serve = "[::]:" + strings.TrimPrefix(d.API, "127.0.0.1:")
		}, []string{"the same port as the API address"}, ""},
		{"serve address in use", func(d *config.Daemon) { d.Serve = busy.Addr().String() },
			[]string{"serve address " + busy.Addr().String() + " is in use"}, ""},
		{"live socket", func(d *config.Daemon) { d.API = "unix:" + live.Addr().String() },
			[]string{"API address unix:" + live.Addr().String() + " is in use"}, ""},
		{"socket over a file", func(d *config.Daemon) { d.API = "unix:" + filepath.Join(sockDir, "file") },
			[]string{"exists and is not a socket"}, ""},
		{"missing certificate", func(d *config.Daemon) {
			d.APITLS = config.TLS{Cert: filepath.Join(certDir, "nope.pem"), Key: key}
		}, []string{"daemon.api_tls: certificate " + filepath.Join(certDir, "nope.pem")}, ""},
		{"not PEM", func(d *config.Daemon) {
			d.Serve = "127.0.0.1:0"
			d.ServeTLS = config.TLS{Cert: garbage, Key: key}
		}, []string{"daemon.serve_tls: certificate " + garbage}, "serve address 127.0.0.1:0: port 0 is a different free port"},
		{"not a pair", func(d *config.Daemon) { d.APITLS = config.TLS{Cert: otherCert, Key: key} },
			[]string{"private key does not match public key"}, ""},
		{"world-readable key", func(d *config.Daemon) { d.APITLS = config.TLS{Cert: cert, Key: openKey} },
			[]string{"key " + openKey + " has mode 0644, so others can read (or its group change) the private key: run `chmod 600 " + openKey}, ""},
		{"expired", func(d *config.Daemon) { d.APITLS = config.TLS{Cert: expired, Key: expiredKey} },
			[]string{"certificate " + expired + " expired on"}, ""},
		{"half a pair", func(d *config.Daemon) { d.APITLS = config.TLS{Cert: cert} },
			[]string{"api_tls: give both cert and key"}, ""},
		{"serve_tls without serve", func(d *config.Daemon) { d.ServeTLS = config.TLS{Cert: cert, Key: key} },
			nil, "so it is not used"},
		{"API beyond loopback in plain HTTP", func(d *config.Daemon) { d.API = "0.0.0.0:" + itoa(freePort(t)) },
			nil, "reachable from other hosts in plain HTTP"},
	}
	if os.Geteuid() != 0 {
		readOnly := filepath.Join(sockDir, "ro")
		os.Mkdir(readOnly, 0o500)
		tests = append(tests, listenerCase{"socket directory not writable", func(d *config.Daemon) { d.API = "unix:" + filepath.Join(readOnly, "api.sock") },
			[]string{"cannot make a socket in " + readOnly}, ""})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := checkOptions(filepath.Join(t.TempDir(), "data"), logPath)
			o.Config.Daemon.API = "127.0.0.1:" + itoa(freePort(t))
			tt.setup(&o.Config.Daemon)
			ps := daemon.Check(context.Background(), o, daemon.CheckOptions{})
			errs := errorsOf(ps)
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %q; want %d, mentioning %q", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i], w) {
					t.Errorf("error %d: %q; want it to mention %q", i, errs[i], w)
				}
			}
			var warned []string
			for _, p := range ps {
				if p.Warning {
					warned = append(warned, p.Err.Error())
				}
			}
			if tt.warn != "" && !strings.Contains(strings.Join(warned, "\n"), tt.warn) {
				t.Errorf("warnings %q; want one mentioning %q", warned, tt.warn)
			}
			if tt.warn == "" && len(warned) > 0 {
				t.Errorf("warnings %q; want none", warned)
			}
		})
	}
}

// listenerCase is a case of TestCheckListeners.
type listenerCase struct {
	name  string
	setup func(d *config.Daemon)
	want  []string // a part of each error, in order
	warn  string   // a part of a warning, if any is expected
}

// expiredCert writes a certificate that expired yesterday and its key.
func expiredCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "expired"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "expired.pem"), filepath.Join(dir, "expired.key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certPath, keyPath
}
