package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"phalanx/config"
	"phalanx/replay"
)

func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `FILE` (default: built-in scenarios and decisions)")
	events := fs.Bool("events", false, "print one JSON object per recognised event instead of alerts and decisions")
	noProgress := fs.Bool("no-progress", false, "never draw the progress bar")
	usageText(fs, `
Usage: phalanx replay [--config FILE] [--events] FILE...

Runs detection over finished log files ("-" reads standard input) and prints
JSON lines: one object per alert, decision and refused decision (or, with
--events, one per recognised event), then one summary object with the counts
of lines, events, alerts, decisions and skipped lines. Give rotated files
oldest first: evidence adds up across files.
`)
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: name at least one log file, or - for standard input", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	opts := replay.Options{
		Pipeline: cfg.Pipeline(),
		Events:   *events,
		Files:    files,
		Stdin:    stdin,
		Stdout:   stdout,
	}
	if f, ok := stderr.(*os.File); ok && !*noProgress && term.IsTerminal(int(f.Fd())) {
		opts.Progress = stderr
	}
	_, err = replay.Run(ctx, opts)
	return err
}
