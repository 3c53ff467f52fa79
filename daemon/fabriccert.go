package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"phalanx/fabric"
	"phalanx/identity"
)

// certRenewal is how long before its fabric certificate expires a member
// warns at start.
const certRenewal = 30 * 24 * time.Hour

// operatorCA loads daemon.fabric_ca and fabric_cert when they are given:
// the operator CA every fabric link requires besides the members' keys,
// and this member's certificate from it (see fabric.OperatorCA).
func (d *Daemon) operatorCA() (*fabric.OperatorCA, error) {
	dc := d.opts.Config.Daemon
	if dc.FabricCA == "" && dc.FabricCert == "" {
		return nil, nil
	}
	now := d.now()
	ca, err := fabric.LoadOperatorCA(dc.FabricCA, dc.FabricCert, d.id.Public, now)
	if err != nil {
		return nil, fmt.Errorf("daemon.fabric_ca, fabric_cert: %w", err)
	}
	if ca.NotAfter().Sub(now) < certRenewal {
		d.log.Warn("this member's fabric certificate expires soon: have the operator CA renew it and restart the member; from then on the other members refuse its links",
			"expires", ca.NotAfter().UTC().Format(time.RFC3339), "certificate", dc.FabricCert)
	}
	return ca, nil
}

// FabricCertificateRequest returns a PEM certificate request for the
// member with data directory dir, for an operator CA to issue its fabric
// certificate (daemon.fabric_cert), and the member's id. A data directory
// without an identity key gets one, as its first start would make it, so
// that a new member's certificate can be issued before it joins.
func FabricCertificateRequest(dir string) (req []byte, member string, err error) {
	idPath := filepath.Join(dir, fileIdentity)
	if _, err := os.Stat(idPath); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, fileCharter)); err == nil {
			return nil, "", fmt.Errorf("%s has a charter but no identity key %s: restore the key from a backup (a new key would be no member's)", dir, idPath)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("create data directory: %w", err)
		}
	}
	id, _, err := identity.LoadOrCreate(idPath)
	if err != nil {
		return nil, "", fmt.Errorf("identity: %w", err)
	}
	req, err = fabric.CertificateRequest(id.Seed())
	if err != nil {
		return nil, "", err
	}
	return req, id.ID, nil
}
