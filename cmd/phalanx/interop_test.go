package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/netns"
)

const firewallBouncer = "/usr/bin/crowdsec-firewall-bouncer"

// bouncerYAML configures crowdsec-firewall-bouncer for the test: nftables
// mode in its own tables, a pull every second, logs in a temp dir.
const bouncerYAML = `mode: nftables
pid_dir: %[1]s
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: %[1]s
log_level: info
api_url: http://%[2]s/
api_key: %[3]s
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: phx-d4
blacklists_ipv6: phx-d6
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: phx-dtab4
    chain: phx-dchain4
  ipv6:
    enabled: true
    set-only: false
    table: phx-dtab6
    chain: phx-dchain6
prometheus:
  enabled: false
`

// TestBouncerAgainstDaemon runs the real crowdsec-firewall-bouncer against a
// running phalanx member, both inside a network namespace, with a key from
// `phalanx bouncers add`: `phalanx decisions add` reaches the bouncer's
// nftables set, `phalanx decisions delete` removes it.
func TestBouncerAgainstDaemon(t *testing.T) {
	if _, err := os.Stat(firewallBouncer); err != nil {
		msg := "crowdsec-firewall-bouncer is not installed (apt-get install -y --no-install-recommends crowdsec-firewall-bouncer nftables)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ns := netns.New(t)
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := config.Default()
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{filepath.Join(dir, "auth.log")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := daemon.New(ctx, daemon.Options{DataDir: dataDir, Config: cfg, Listener: ln,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	go d.Run(ctx)
	<-d.Ready()

	// The CLI runs inside the namespace, where the API listens.
	cli := func(args ...string) string {
		t.Helper()
		cmd := ns.Exec(ctx, os.Args[0], append(args, "--data", dataDir)...)
		cmd.Env = append(os.Environ(), "PHALANX_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("phalanx %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	var key string
	waitUntil(t, 10*time.Second, "the API to serve", func() bool {
		cmd := ns.Exec(ctx, os.Args[0], "bouncers", "add", "fw1", "--data", dataDir)
		cmd.Env = append(os.Environ(), "PHALANX_TEST_MAIN=1")
		out, err := cmd.Output()
		key = strings.TrimSpace(string(out))
		return err == nil
	})
	if !regexp.MustCompile(`^[0-9a-f]{32,}$`).MatchString(key) {
		t.Fatalf("bouncers add printed %q, want the key alone", key)
	}
	cfgPath := filepath.Join(dir, "bouncer.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, bouncerYAML, dir, ln.Addr(), key), 0o600); err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(ctx)
	b := ns.Exec(bctx, firewallBouncer, "-c", cfgPath)
	blog, _ := os.Create(filepath.Join(dir, "bouncer.out"))
	b.Stdout, b.Stderr = blog, blog
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- b.Wait() }()
	defer func() {
		b.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			bcancel()
			<-exited
		}
		bcancel()
		if t.Failed() {
			for _, f := range []string{"bouncer.out", "crowdsec-firewall-bouncer.log"} {
				out, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, out)
			}
		}
	}()

	inSet := func(family, table, set, addr string) bool {
		out, err := ns.Exec(ctx, "nft", "list", "set", family, table, set).Output()
		if err != nil {
			return false
		}
		return regexp.MustCompile(`[\s{,]` + regexp.QuoteMeta(addr) + `[\s,}]`).Match(out)
	}
	waitBouncer := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("waiting for %s: the bouncer exited: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	out := cli("decisions", "add", "--ip", "192.0.2.55", "--duration", "1h", "--reason", "interop")
	if !strings.Contains(out, "192.0.2.55") {
		t.Fatalf("decisions add printed %q", out)
	}
	waitBouncer("192.0.2.55 in the bouncer's set", func() bool { return inSet("ip", "phx-dtab4", "phx-d4", "192.0.2.55") })
	cli("decisions", "add", "--ip", "2001:db8::55", "--duration", "1h")
	waitBouncer("2001:db8::55 in the bouncer's IPv6 set", func() bool { return inSet("ip6", "phx-dtab6", "phx-d6", "2001:db8::55") })

	cli("decisions", "delete", "--ip", "192.0.2.55")
	waitBouncer("192.0.2.55 to leave the bouncer's set", func() bool { return !inSet("ip", "phx-dtab4", "phx-d4", "192.0.2.55") })
	if !inSet("ip6", "phx-dtab6", "phx-d6", "2001:db8::55") {
		t.Error("deleting 192.0.2.55 also removed 2001:db8::55")
	}
	if list := cli("bouncers", "list"); !strings.Contains(list, "fw1") {
		t.Errorf("bouncers list: %s", list)
	}
}
