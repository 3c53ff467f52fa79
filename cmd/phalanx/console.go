package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// loginLink is the daemon's answer to POST /ui/login-link.
type loginLink struct {
	Path    string    `json:"path"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

func cmdConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	readOnly := fs.Bool("read-only", false, "a link that signs in with the read-only role (a wall screen: it may look, never change)")
	usageText(fs, `
Usage: phalanx console [--read-only] [--data DIR | --api ADDR]

Prints the address of the running member's web console and a one-time
login link for it: open the link in a browser to sign in. The link works
once, within 5 minutes; run the command again for another. Without a link,
the console's sign-in page takes the admin token (admin.token in the data
directory) or the read-only one (console-readonly.token).
`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: phalanx console takes no arguments", errUsage)
	}
	c, err := mk()
	if err != nil {
		return err
	}
	role := "admin"
	if *readOnly {
		role = "viewer"
	}
	if strings.HasPrefix(c.at, "unix:") {
		return fmt.Errorf("the API listens on a Unix socket (%s), which a browser cannot open: give the console a TCP address too (daemon.api: 127.0.0.1:8080, reached through an SSH tunnel from elsewhere)", c.at)
	}
	var l loginLink
	if err := c.do(ctx, "POST", "/ui/login-link?role="+role, nil, &l); err != nil || c.json {
		return err
	}
	base := strings.TrimRight(c.base, "/")
	fmt.Fprintf(stdout, "console:    %s/ui/\n", base)
	fmt.Fprintf(stdout, "login link: %s%s\n", base, l.Path)
	fmt.Fprintf(stdout, "            (%s, one use, until %s)\n", l.Role, l.Expires.Local().Format("15:04:05"))
	return nil
}

// showConsole prints each demo member's console and a login link for it,
// then keeps the members running until ctx ends (Ctrl-C).
func (dm *demo) showConsole(ctx context.Context) error {
	dm.p.printf("\nThe members keep running: watch them in a browser.\n")
	for _, m := range dm.members {
		var l loginLink
		if err := m.api.do(ctx, "POST", "/ui/login-link", nil, &l); err != nil {
			return fmt.Errorf("a console login link from %s: %w", m.letter, err)
		}
		base := strings.TrimRight(m.api.base, "/")
		dm.p.printf("  console of %s: %s/ui/\n    login link: %s%s (one use, until %s)\n", m.letter, base, base, l.Path, l.Expires.Local().Format("15:04:05"))
	}
	dm.p.printf("Another link: phalanx console --data %s/a (b, c). Ctrl-C stops the members.\n", dm.base)
	<-ctx.Done()
	return nil
}
