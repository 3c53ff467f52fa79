package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"phalanx/httprules"
)

// maxPackFile bounds the rule pack file `rules check` reads.
const maxPackFile = 4 << 20

func cmdRules(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "show" && args[0] != "check" {
		return fmt.Errorf("%w: phalanx rules show | phalanx rules check FILE", errUsage)
	}
	fs := flag.NewFlagSet("rules "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageText(fs, `
Usage: phalanx rules show
       phalanx rules check FILE

show prints the embedded HTTP rule pack: the patterns that turn web requests
into events and the HTTP scenarios that count them. Save it, edit it, and
point http.rules in the configuration at the file to replace the pack.
check validates such a file and summarises it.
`)
	rest, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if args[0] == "show" {
		if len(rest) != 0 {
			return fmt.Errorf("%w: rules show takes no arguments", errUsage)
		}
		_, err := stdout.Write(httprules.DefaultYAML())
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: name one rule pack file", errUsage)
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPackFile+1))
	if err != nil {
		return err
	}
	if len(data) > maxPackFile {
		return fmt.Errorf("%s is larger than %d bytes", rest[0], maxPackFile)
	}
	p, err := httprules.Load(data)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	fmt.Fprintf(stdout, "%s: %d rules, %d scenarios: valid\n", rest[0], len(p.Rules()), len(p.Scenarios()))
	return nil
}
