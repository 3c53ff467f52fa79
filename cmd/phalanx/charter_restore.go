package main

import (
	"flag"
	"fmt"
	"io"

	"phalanx/daemon"
)

// cmdCharterRestore writes back the charter an alliance member's signed
// history leads to, after charter.yaml was edited outside the amendments
// (the member then refuses to start).
func cmdCharterRestore(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("charter restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", daemon.DefaultDataDir(), "the member's data `DIR`")
	usageText(fs, `
Usage: phalanx charter restore [--data DIR]

Writes to DIR/charter.yaml the charter that the member's signed charter
history (DIR/charter-chain.json: the alliance's amendments, each signed by
a founding member) leads to, once that history verifies. A member refuses
to start with a charter edited outside the amendments; this undoes the
edit. Change the charter by amendments, on a founding member. A running
member keeps enforcing the charter it verified and shows the edit in its
status until the file is restored.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, rest[0])
	}
	c, err := daemon.RestoreCharter(*dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s/charter.yaml: alliance %s, version %d, charter %s\n", *dataDir, c.Name, c.Version, shortHash(c.Hash()))
	return nil
}
