package main

import (
	"flag"
	"fmt"
	"io"

	"phalanx/daemon"
)

// cmdAllianceCSR prints the certificate request an operator CA signs into
// the member's fabric certificate (daemon.fabric_cert).
func cmdAllianceCSR(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("alliance csr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", daemon.DefaultDataDir(), "the member's data `DIR` (created with its identity key if new)")
	usageText(fs, `
Usage: phalanx alliance csr [--data DIR] > member.csr

Prints a PEM certificate request for this member's fabric certificate,
for an alliance whose operator requires certificates from its own CA on
every fabric link (daemon.fabric_ca and daemon.fabric_cert). The request
holds the member's identity key, is signed with it and names the member
id; nothing secret is in it. Have the CA sign it, for example:

  openssl x509 -req -in member.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -out member.pem

A new member can ask before it joins: a new data directory gets its
identity key now (run as the daemon's user).
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	req, id, err := daemon.FabricCertificateRequest(*dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "certificate request of member %s (common name %s)\n", id, id)
	_, err = stdout.Write(req)
	return err
}
