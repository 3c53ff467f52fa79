package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"golang.org/x/term"

	"phalanx/config"
	"phalanx/crawler"
	"phalanx/replay"
)

func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `FILE` (default: built-in scenarios and decisions)")
	events := fs.Bool("events", false, "print one JSON object per recognised event instead of alerts and decisions")
	noProgress := fs.Bool("no-progress", false, "never draw the progress bar")
	resolver := fs.String("resolver", "", "confirm claimed search-engine crawlers through the DNS server at `ADDR:PORT` (\"system\" for the system's; default: no lookups, no claim believed)")
	year := fs.Int("year", 0, "the `YEAR` of the first line whose timestamp has none (default: from each file's modification time; for standard input the newest year that puts no line in the future)")
	usageText(fs, `
Usage: phalanx replay [--config FILE] [--events] [--year YEAR] [--resolver ADDR:PORT] SOURCE...

Runs detection over finished log files ("-" reads standard input) and prints
JSON lines: one object per alert, decision and refused decision (or, with
--events, one per recognised event), then one summary object with the counts
of lines, events, alerts, decisions and skipped lines. Evidence adds up across
files, and lines are judged in the order of their written times: rotated files
may come in any order, and a file that merges hosts with skewed clocks loses
nothing (lines that go back in time are counted as out_of_order, not dropped).
A SOURCE is a file or SERVICE:FILE, such as nginx:/var/log/nginx/access.log;
web-server logs are also recognised in files that name no service.
`)
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *year != 0 && (*year < 1970 || *year > 9999) {
		return fmt.Errorf("%w: --year %d is out of range: give a four-digit year such as 2025", errUsage, *year)
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: name at least one log file, or - for standard input", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	pc := cfg.Pipeline()
	if *resolver != "" {
		r := *resolver
		if r == "system" {
			r = ""
		}
		v, err := crawler.New(crawler.Config{Resolver: r}, nil)
		if err != nil {
			return fmt.Errorf("%w: --resolver: %v", errUsage, err)
		}
		defer v.Close()
		pc.HTTP.Crawlers = func(a netip.Addr, domains []string) crawler.Verdict { return v.Verify(ctx, a, domains) }
	}
	opts := replay.Options{
		Pipeline: pc,
		Events:   *events,
		Files:    files,
		Stdin:    stdin,
		Stdout:   stdout,
		Year:     *year,
	}
	if f, ok := stderr.(*os.File); ok && !*noProgress && term.IsTerminal(int(f.Fd())) {
		opts.Progress = stderr
	}
	_, err = replay.Run(ctx, opts)
	return err
}
