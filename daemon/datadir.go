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
	path := filepath.Join(dir, fileToken)
	tok, err := readToken(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok = hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return tok, nil
}

// readToken reads the admin token at path; a missing file gives an error
// wrapping os.ErrNotExist.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("read admin token (run as the daemon's user): %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("admin token %s is too short: delete it and restart to make a new one", path)
	}
	return tok, nil
}

// ClientInfo is what client commands need to reach a running daemon.
type ClientInfo struct {
	Addr  string
	Token string
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
	return ClientInfo{Addr: strings.TrimSpace(string(addr)), Token: strings.TrimSpace(string(tok))}, nil
}
