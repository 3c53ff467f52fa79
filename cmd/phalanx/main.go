// Command phalanx is the phalanx member daemon and its command-line client.
// It only wires packages together: parsing flags, building components,
// printing results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `phalanx — collective defense for server fleets

Usage:
  phalanx run [--config FILE] [--data DIR] [--api ADDR] [--serve ADDR] [--enforce nftables|none] [--source PATH]...
                                                       the member daemon (embedded defaults without flags)
  phalanx replay [--config FILE] [--events] SOURCE... detect attacks in log files (- for stdin; nginx:FILE for a web log)
  phalanx status                                       the running daemon's health and counters
  phalanx decisions list|add|delete [--ip A|--range R] [--duration D] [--reason T]
  phalanx decisions import [--format csv|json|values] FILE|-
                                                       ban every address and range of a file (as cscli imports)
  phalanx bouncers add NAME|list|delete NAME          API keys for CrowdSec-compatible bouncers
                                                       --alliance: a key every member accepts (an amendment)
  phalanx explain ADDRESS                              why an address is (not) banned, as a timeline
  phalanx console [--read-only]                        the web console's address and a one-time login link
  phalanx charter show                                 the alliance charter and its hash
  phalanx charter fleet on [--file F]|off              amend the charter's fleet scenarios (founding member)
  phalanx charter restore [--data DIR]                 write back the charter the signed history leads to
  phalanx rules show|check FILE                        the embedded HTTP rule pack; validate a replacement
  phalanx alliance init [--name NAME] [--fabric HOST:PORT]
                                                       found a multi-host alliance (new data dir)
  phalanx alliance invite [--expires 24h]             print a one-time join token
  phalanx alliance csr [--data DIR]                    a certificate request for an operator CA (daemon.fabric_ca)
  phalanx run --join TOKEN [--fabric HOST:PORT]        a new member's first start (without --fabric: a leaf member)
  phalanx demo [--attacker ADDR] [--keep]              see an alliance of three ban an attacker, on loopback
  phalanx fail2ban-check [--fail2ban DIR] FILTER LOG   run a fail2ban filter over a log, like fail2ban-regex
  phalanx version                                      print the version

Client commands find the daemon through --data DIR (default as for run) or
--api ADDR (host:port, https://host:port, unix:/path) with PHALANX_TOKEN;
-o json prints machine-readable output.

Run "phalanx COMMAND --help" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks errors that come from bad arguments (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "replay":
		err = cmdReplay(ctx, args[1:], stdin, stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout, stderr)
	case "decisions":
		if len(args) > 1 && args[1] == "import" {
			err = cmdDecisionsImport(ctx, args[2:], stdin, stdout, stderr)
			break
		}
		err = cmdDecisions(ctx, args[1:], stdout, stderr)
	case "bouncers":
		err = cmdBouncers(ctx, args[1:], stdout, stderr)
	case "explain":
		err = cmdExplain(ctx, args[1:], stdout, stderr)
	case "charter":
		err = cmdCharter(ctx, args[1:], stdout, stderr)
	case "rules":
		err = cmdRules(ctx, args[1:], stdout, stderr)
	case "alliance":
		err = cmdAlliance(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "console":
		err = cmdConsole(ctx, args[1:], stdout, stderr)
	case "fail2ban-check":
		err = cmdFail2banCheck(ctx, args[1:], stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "phalanx", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "phalanx: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "phalanx %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "phalanx %s: %v\n", args[0], err)
		return 1
	}
}

// parseArgs parses flags that may come before, between or after the
// positional arguments; "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		dashdash := -1
		for i, a := range args {
			if a == "--" {
				dashdash = i
				break
			}
		}
		var rest []string
		if dashdash >= 0 {
			rest = args[dashdash+1:]
			args = args[:dashdash]
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		left := fs.Args()
		if len(left) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, left[0])
		args = append(left[1:], func() []string {
			if dashdash >= 0 {
				return append([]string{"--"}, rest...)
			}
			return nil
		}()...)
	}
}
