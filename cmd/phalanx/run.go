package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"phalanx/config"
	"phalanx/daemon"
	"phalanx/fail2ban"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `FILE` (default: built-in defaults)")
	dataDir := fs.String("data", daemon.DefaultDataDir(), "data `DIR`: identity, charter, fabric store, admin token")
	api := fs.String("api", "", "admin API and console `ADDR`: host:port or unix:/path (default 127.0.0.1:8080)")
	serve := fs.String("serve", "", "`ADDR` of a listener with only the bouncer API, feeds, forward-auth and /metrics, for other hosts to reach (default: those stay on --api)")
	enforce := fs.String("enforce", "", "enforcement: auto, nftables or none (default auto: nftables when possible)")
	fabricAddr := fs.String("fabric", "", "`HOST:PORT` where this member's fabric accepts other members (port+1: cluster routes, port+2: leaf members); alliance members only")
	join := fs.String("join", "", "join the alliance that issued `TOKEN` (phalanx alliance invite) at this first start; with --fabric the member keeps the report stream with the others, without it it attaches as a leaf node")
	var addrs prefixFlag
	fs.Var(&addrs, "address", "with --join: this member's own `ADDRESS` or prefix, never banned by the alliance (repeatable)")
	check := fs.Bool("check", false, "check what a start needs (configuration, data directory and its file modes, addresses free, sources readable), print every problem and exit: non-zero when a start would fail")
	f2b := fs.String("fail2ban", "", "a fail2ban configuration `DIR` (such as /etc/fail2ban) whose enabled jails run too: their logs, filters, maxretry, findtime and bantime")
	var srcs multiFlag
	fs.Var(&srcs, "source", "where log lines come from (repeatable): PATH, SERVICE:PATH, journal:SERVICE, journal:FIELD=VALUE, syslog:udp://ADDR:PORT, syslog:tcp://ADDR:PORT (default: /var/log/auth.log or /var/log/secure when one is being written, else journal:sshd)")
	usageText(fs, `
Usage: phalanx run [--config FILE] [--data DIR] [--api ADDR] [--serve ADDR] [--enforce MODE] [--source SOURCE]...
                   [--fail2ban DIR] [--fabric HOST:PORT] [--join TOKEN [--address A]...]

Runs the member daemon: reads sshd and Dropbear logs (files, the journal, a
syslog receiver), bans attackers at once (nftables when
run as root), publishes signed reports to the embedded fabric, and serves the
CrowdSec-compatible bouncer API (/v1/decisions, /v1/decisions/stream) and the
admin API that the other phalanx commands use. SIGHUP reloads the
configuration; SIGINT or SIGTERM stop it (bans stay in the kernel).
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *api != "" {
		cfg.Daemon.API = *api
	}
	if *serve != "" {
		cfg.Daemon.Serve = *serve
	}
	if *enforce != "" {
		cfg.Daemon.Enforce = *enforce
	}
	if *fabricAddr != "" {
		cfg.Daemon.Fabric = *fabricAddr
	}
	if len(srcs) > 0 {
		cfg.Daemon.Sources = srcs
	}
	if *f2b != "" {
		cfg.Daemon.Fail2ban = *f2b
	}
	if *check {
		return runCheck(ctx, daemon.Options{DataDir: *dataDir, Config: cfg, ConfigPath: *cfgPath}, *join, stdout, stderr)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *join != "" {
		moved := func(path string) {
			log.Info("this data directory ran as a member alone: kept its identity, outbox (its own bans) and keys; moved its own stream and charter aside", "to", path)
		}
		joined, err := daemon.Join(ctx, *dataDir, daemon.JoinOptions{Token: *join, Fabric: *fabricAddr, Addresses: addrs, Now: time.Now(), Moved: moved})
		if err != nil {
			return err
		}
		if joined {
			log.Info("joined the alliance", "data", *dataDir)
		}
	}
	d, err := daemon.New(ctx, daemon.Options{DataDir: *dataDir, Config: cfg, ConfigPath: *cfgPath, Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := d.Reload(); err != nil {
				log.Error("reload failed; keeping the running configuration", "err", err)
			}
		}
	}()
	return d.Run(ctx)
}

// runCheck prints what a start with opts would meet: the fail2ban jails
// that would run, then one line per problem (on stderr), and fails when
// any is an error; "configuration is valid" only when none is.
func runCheck(ctx context.Context, opts daemon.Options, join string, stdout, stderr io.Writer) error {
	printFail2ban(opts.Config.Daemon.Fail2ban, stdout)
	errs := 0
	for _, p := range daemon.Check(ctx, opts, daemon.CheckOptions{Join: join}) {
		fmt.Fprintln(stderr, p)
		if !p.Warning {
			errs++
		}
	}
	if errs > 0 {
		return fmt.Errorf("%d problem(s) above: the member would not start, or would miss what it should watch; fix them and run --check again", errs)
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return nil
}

// printFail2ban prints what `run` would say of the fail2ban configuration
// in dir (none when ""): the jails that run and every setting not
// honoured. daemon.Check reports the jails that cannot run.
func printFail2ban(dir string, stdout io.Writer) {
	if dir == "" {
		return
	}
	s, err := fail2ban.Load(dir, fail2ban.LoadOptions{})
	if err != nil {
		return
	}
	for _, j := range s.Jails {
		fmt.Fprintf(stdout, "fail2ban jail %s: filter %s, maxretry %d within %v, bantime %v, logs %s\n",
			j.Name, j.FilterName, j.MaxRetry, j.FindTime, j.BanTime, jailLogs(j))
	}
	for _, n := range fail2ban.SortedNotices(s.Notices) {
		fmt.Fprintf(stdout, "fail2ban: not honoured: %s\n", n)
	}
}

func jailLogs(j *fail2ban.Jail) string {
	if j.Journal {
		return "the journal"
	}
	return strings.Join(j.LogPaths, ", ")
}
