package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"time"

	"phalanx/daemon"
)

// prefixFlag collects repeatable --address flags.
type prefixFlag []netip.Prefix

func (p *prefixFlag) String() string { return fmt.Sprint([]netip.Prefix(*p)) }
func (p *prefixFlag) Set(s string) error {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return fmt.Errorf("%q is neither an address nor a prefix (such as 192.0.2.10 or 192.0.2.0/24)", s)
		}
		pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	*p = append(*p, pfx.Masked())
	return nil
}

func cmdAlliance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: phalanx alliance init|invite|remove|csr (see phalanx alliance init --help)", errUsage)
	}
	switch args[0] {
	case "init":
		return cmdAllianceInit(args[1:], stdout, stderr)
	case "invite":
		return cmdAllianceInvite(args[1:], stdout, stderr)
	case "remove":
		return cmdAllianceRemove(ctx, args[1:], stdout, stderr)
	case "csr":
		return cmdAllianceCSR(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown alliance command %q: use init, invite, remove or csr", errUsage, args[0])
}

func cmdAllianceInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("alliance init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", daemon.DefaultDataDir(), "data `DIR` of the founding member (new, or one that ran alone: its daemon stopped)")
	name := fs.String("name", "", "the alliance's `NAME` (letters, digits, - and _; default the host name)")
	fabricAddr := fs.String("fabric", "", "`HOST:PORT` where this member's fabric accepts the others (port+1 takes cluster routes); may be given to the first run instead")
	var addrs prefixFlag
	fs.Var(&addrs, "address", "this member's own `ADDRESS` or prefix, never banned by the alliance (repeatable)")
	usageText(fs, `
Usage: phalanx alliance init [--data DIR] [--name NAME] [--fabric HOST:PORT] [--address A]...

Makes the data directory the founding member of a new alliance: its identity,
a charter that lists it alone (every scenario decisive), and the file that
marks it a member of a multi-host alliance (fabric links authenticate by the
members' own keys, pinned by the charter, over TLS). Then start it with
phalanx run --fabric HOST:PORT and invite members with phalanx alliance invite.
A data directory that ran as a member alone (phalanx run without an alliance)
may found one once its daemon is stopped: it keeps its identity, its own bans
and its keys; its own stream and charter are moved aside (their settings of
policy, limits and territory carry over).
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	moved := func(path string) {
		fmt.Fprintf(stdout, "this data directory ran as a member alone: kept its identity, outbox (its own bans) and keys; moved its own stream and charter aside to %s\n", path)
	}
	c, err := daemon.InitAlliance(*dataDir, daemon.InitOptions{Name: *name, Fabric: *fabricAddr, Addresses: addrs, Now: time.Now(), Moved: moved})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "alliance %s founded in %s (charter %s)\n", c.Name, *dataDir, shortHash(c.Hash()))
	if *fabricAddr == "" {
		fmt.Fprintf(stdout, "next: phalanx run --data %s --fabric HOST:PORT\n", *dataDir)
	} else {
		fmt.Fprintf(stdout, "next: phalanx run --data %s, then phalanx alliance invite --data %s\n", *dataDir, *dataDir)
	}
	return nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func cmdAllianceInvite(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("alliance invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", daemon.DefaultDataDir(), "data `DIR` of a founding member")
	expires := fs.Duration("expires", 24*time.Hour, "how long the token is valid (`DURATION`)")
	usageText(fs, `
Usage: phalanx alliance invite [--data DIR] [--expires 24h]

Prints a one-time join token for a new member; on the new host run
phalanx run --join TOKEN --fabric HOST:PORT. The token admits one member
and is a secret until used: pass it like a password.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	tok, err := daemon.Invite(*dataDir, *expires, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok.String())
	return nil
}

func cmdAllianceRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("alliance remove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	usageText(fs, `
Usage: phalanx alliance remove MEMBER_ID [-o json]

Asks the running daemon (a founding member) to amend the charter without
MEMBER_ID (phalanx charter show lists the ids). Every member verifies the
amendment; the removed member's reports are ignored from then on and the
fabric no longer lets it connect.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: give one member id", errUsage)
	}
	c, err := mk()
	if err != nil {
		return err
	}
	var out struct {
		Hash    string `json:"hash"`
		Version int    `json:"version"`
		Members int    `json:"members"`
	}
	if err := c.do(ctx, "DELETE", "/api/alliance/members/"+url.PathEscape(rest[0]), nil, &out); err != nil || c.json {
		return err
	}
	fmt.Fprintf(stdout, "removed %s: charter version %d, %d members, hash %s\n", rest[0], out.Version, out.Members, shortHash(out.Hash))
	return nil
}
