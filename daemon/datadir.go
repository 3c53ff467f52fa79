package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"phalanx/atomicfile"
	"strings"
)

// Files in the data directory.
const (
	fileIdentity  = "identity.key"
	fileCharter   = "charter.yaml"
	fileToken     = "admin.token"
	fileAPIAddr   = "api.addr"
	fileAPICert   = "api.pem"       // the certificate the API serves over TLS, for the CLI to pin
	fileMetrics   = "metrics.token" // the bearer token of /metrics beyond loopback
	fileBouncers  = "bouncers.json"
	filePositions = "positions.json"
	fileCursors   = "journal-cursors.json"
	dirFabric     = "fabric"
	dirOutbox     = "outbox"
)

// DefaultDataDir is where the daemon keeps its state when --data is not
// given: /var/lib/phalanx for root, otherwise under the user's state home.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/phalanx"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "phalanx")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "phalanx")
	}
	return filepath.Join(os.TempDir(), "phalanx-"+fmt.Sprint(os.Getuid()))
}

// writeFileAtomic writes data to path so that a crash leaves either the
// old or the new content.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

// loadOrCreateToken returns the admin token, creating it on first start.
func loadOrCreateToken(dir string) (string, error) {
	return loadOrCreateTokenFile(filepath.Join(dir, fileToken), "admin token")
}

// loadOrCreateTokenFile returns the token in path, creating it (mode
// 0600) when there is none; what names it in errors.
func loadOrCreateTokenFile(path, what string) (string, error) {
	tok, err := readTokenFile(path, what)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok = hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", what, err)
	}
	return tok, nil
}

// readToken reads the admin token at path; a missing file gives an error
// wrapping os.ErrNotExist.
func readToken(path string) (string, error) { return readTokenFile(path, "admin token") }

// readTokenFile reads the token (what) at path; a missing file gives an
// error wrapping os.ErrNotExist.
func readTokenFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("read %s (run as the daemon's user): %w", what, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("%s %s is too short: delete it and restart to make a new one", what, path)
	}
	return tok, nil
}

// ClientInfo is what client commands need to reach a running daemon.
type ClientInfo struct {
	// Addr is the API's address: "host:port" (plain HTTP),
	// "https://host:port" or "unix:/path".
	Addr  string
	Token string
	// Cert is the PEM certificate the API serves over HTTPS, as the
	// daemon last loaded it; clients pin it. Empty without TLS.
	Cert []byte
}

// ReadClientInfo reads the API address and admin token a daemon left in dir.
func ReadClientInfo(dir string) (ClientInfo, error) {
	addr, err := os.ReadFile(filepath.Join(dir, fileAPIAddr))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ClientInfo{}, fmt.Errorf("no daemon has run with data directory %s: start `phalanx run --data %s`, or give --api and PHALANX_TOKEN", dir, dir)
		}
		return ClientInfo{}, fmt.Errorf("read api address: %w", err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, fileToken))
	if err != nil {
		return ClientInfo{}, fmt.Errorf("read admin token (run as the daemon's user, or give PHALANX_TOKEN): %w", err)
	}
	info := ClientInfo{Addr: strings.TrimSpace(string(addr)), Token: strings.TrimSpace(string(tok))}
	if strings.HasPrefix(info.Addr, "https://") {
		if info.Cert, err = os.ReadFile(filepath.Join(dir, fileAPICert)); err != nil {
			return ClientInfo{}, fmt.Errorf("read the API's certificate (written by the daemon at start): %w", err)
		}
	}
	return info, nil
}
