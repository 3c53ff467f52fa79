// Command loggen writes a deterministic, realistic sshd log (Debian auth.log
// lines) for tests and benchmarks:
//
//	go run ./cmd/loggen -lines 1000000 -seed 1 -o auth.log
//
// With -truth FILE it also writes the attacker and legitimate addresses as
// JSON. With -cases it writes instead a day of labelled behaviours (attacks
// that must be banned, legitimate traffic that must not be; -truth gets the
// cases; -lines and -attackers are refused with it):
//
//	go run ./cmd/loggen -cases -seed 1 -o cases.log -truth cases.json
//
// With -http it writes instead an nginx access log ("combined" format) of a
// shop: browsers, customers, NAT gateways, monitors, crawlers and API
// clients, and web attacks among them; -truth gets each address's behaviour
// in three lists (attackers to ban, legitimate clients, evasive attackers),
// -clients sets the legitimate clients and -attackers the attackers
// (default 300), and -host is refused:
//
//	go run ./cmd/loggen -http -lines 1000000 -seed 1 -o access.log -truth access.json
//
// It only writes text; it never contacts any address.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"phalanx/loggen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loggen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loggen", flag.ContinueOnError)
	lines := fs.Int("lines", 1_000_000, "number of lines to write")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same bytes")
	out := fs.String("o", "", "output file (default: standard output)")
	attackers := fs.Int("attackers", loggen.DefaultAttackers, fmt.Sprintf("number of attacking hosts (about 10%% IPv6); with -http the default is %d", loggen.DefaultHTTPAttackers))
	start := fs.String("start", loggen.DefaultStart, "time of the first line, RFC 3339")
	host := fs.String("host", loggen.DefaultHost, "syslog host name")
	truth := fs.String("truth", "", "also write the attacker and legitimate addresses as JSON to this file")
	cases := fs.Bool("cases", false, "write the labelled cases (attacks to ban, legitimate traffic to leave alone) instead of the stationary mix; -lines and -attackers are refused with it")
	httpLog := fs.Bool("http", false, "write an nginx access log (combined format) with web attacks instead of sshd lines; -truth gets who is who")
	clients := fs.Int("clients", loggen.DefaultHTTPClients, "number of legitimate client addresses (-http only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: loggen takes flags only (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *httpLog && *cases:
		return errors.New("-http and -cases write different logs: give one of them")
	case *httpLog && set["host"]:
		return errors.New("-host does not apply to -http, whose lines name no host: drop it")
	case !*httpLog && set["clients"]:
		return errors.New("-clients applies to -http only: add -http, or drop -clients")
	}
	if *cases {
		var extra []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "lines" || f.Name == "attackers" {
				extra = append(extra, "-"+f.Name)
			}
		})
		if len(extra) > 0 {
			return fmt.Errorf("%s does not apply to -cases, which writes a fixed day of cases: drop it, or drop -cases for the stationary mix", strings.Join(extra, " and "))
		}
	}
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("-start %q: give a time like %s: %w", *start, loggen.DefaultStart, err)
	}
	cfg := loggen.Config{Lines: *lines, Seed: *seed, Start: t, Attackers: *attackers, Host: *host}

	w := stdout
	var f *os.File
	if *out != "" && *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer f.Close()
		w = f
	}
	var tr any
	switch {
	case *httpLog:
		hc := loggen.HTTPConfig{Lines: *lines, Seed: *seed, Start: t, Clients: *clients}
		if set["attackers"] {
			hc.Attackers = *attackers
		}
		tr, err = loggen.HTTP(w, hc)
	case *cases:
		tr, err = loggen.Cases(w, loggen.CasesConfig{Seed: *seed, Start: t, Host: *host})
	default:
		tr, err = loggen.Generate(w, cfg)
	}
	if err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("close output: %w", err)
		}
	}
	if *truth != "" {
		if err := writeTruth(*truth, tr); err != nil {
			return err
		}
	}
	return nil
}

func writeTruth(path string, tr any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create truth file: %w", err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tr); err != nil {
		f.Close()
		return fmt.Errorf("write truth file: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write truth file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close truth file: %w", err)
	}
	return nil
}
