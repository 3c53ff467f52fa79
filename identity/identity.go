// Package identity holds a member's ed25519 key pair: the key that signs the
// member's reports, and the member ID derived from its public key.
//
// It keeps the private key to itself: the key leaves an Identity only as
// signatures (Sign), never through an exported field, String or a log line.
// Its only I/O is LoadOrCreate reading or atomically writing one key file;
// it starts no goroutines, reads no clock and does no network I/O. It refuses
// key files that group or others can access, and key files it cannot parse,
// rather than guessing or replacing them.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// IDLen is the length of a member ID: "m" and 16 lowercase hex digits.
const IDLen = 1 + 16

// maxKeyFile bounds how much of a key file is read; a real one is ~120 bytes.
const maxKeyFile = 4096

// pemType is the PEM block type of the key file: PKCS #8, as OpenSSL writes
// it, so `openssl pkey -in FILE -pubout` shows the public key.
const pemType = "PRIVATE KEY"

// Identity is a member's key pair. Use LoadOrCreate or FromSeed; the zero
// Identity cannot sign.
type Identity struct {
	ID     string            // MemberID(Public)
	Public ed25519.PublicKey // the key the charter lists for this member

	private ed25519.PrivateKey
}

// MemberID returns the member ID for a public key: "m" followed by the first
// 16 hex digits of the key's SHA-256. It is stable, short and printable.
func MemberID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "m" + hex.EncodeToString(sum[:8])
}

// IsID reports whether s has the form of a member ID (it does not say that
// any key has that ID).
func IsID(s string) bool {
	if len(s) != IDLen || s[0] != 'm' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FromSeed returns the identity whose private key is derived from the
// 32-byte seed (RFC 8032). Tests use it for reproducible keys.
func FromSeed(seed []byte) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ed25519 seed has %d bytes; it must have %d", len(seed), ed25519.SeedSize)
	}
	return fromPrivate(ed25519.NewKeyFromSeed(seed)), nil
}

// Generate returns a new identity with a key from crypto/rand. It does not
// store it: LoadOrCreate does that.
func Generate() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return fromPrivate(priv), nil
}

func fromPrivate(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{ID: MemberID(pub), Public: pub, private: priv}
}

// Seed returns a copy of the 32-byte private seed, which the fabric turns
// into this member's NATS nkey; nil for an Identity without a private key.
// Handle it like the key file.
func (id *Identity) Seed() []byte {
	if id == nil || len(id.private) != ed25519.PrivateKeySize {
		return nil
	}
	return append([]byte(nil), id.private.Seed()...)
}

// Sign returns the ed25519 signature of msg. It returns nil for an Identity
// without a private key (the zero Identity); such a signature never verifies.
func (id *Identity) Sign(msg []byte) []byte {
	if id == nil || len(id.private) != ed25519.PrivateKeySize {
		return nil
	}
	return ed25519.Sign(id.private, msg)
}

// String returns the member ID; it never shows the private key.
// It has a value receiver so that printing an Identity value is safe too.
func (id Identity) String() string { return id.ID }

// GoString keeps %#v from printing the private key.
func (id Identity) GoString() string {
	return fmt.Sprintf("identity.Identity{ID:%q}", id.ID)
}

// LoadOrCreate reads the identity stored at path, or, when no file exists
// there, generates one and stores it with mode 0600 (created is then true).
// The new file appears whole or not at all: the key is written to a
// temporary file in the same directory, synced, and then linked (or, where
// hard links are unsupported, renamed) into place; if another process
// created the file meanwhile, its key is loaded instead. The directory is
// created with mode 0700 if it is missing.
//
// It refuses a key file that group or others may access, that is not a
// regular file, or that does not hold exactly one PKCS #8 PEM ed25519
// private key; the error says what to do. It never overwrites a file.
func LoadOrCreate(path string) (id *Identity, created bool, err error) {
	id, err = load(path)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	id, err = Generate()
	if err != nil {
		return nil, false, err
	}
	won, err := store(path, id)
	if err != nil {
		return nil, false, err
	}
	if !won {
		// Another process created the file first: its key is the member's.
		id, err = load(path)
		return id, false, err
	}
	return id, true, nil
}

// load reads the key file at path. A missing file gives an error wrapping
// fs.ErrNotExist.
func load(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open identity key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the opened file: no race with a swap of the path
	if err != nil {
		return nil, fmt.Errorf("stat identity key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity key file %s is not a regular file (%v); move it away so that a new key can be created, or point to the real key file", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity key file %s has mode %04o, so group or others can access it; run `chmod 600 %s` (and replace the key if others could have read it)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read identity key file: %w", err)
	}
	id, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("identity key file %s is malformed (%w); restore it from a backup, or move it away to create a new identity (the member ID changes, so the charter must be amended)", path, err)
	}
	return id, nil
}

// parse accepts exactly one PEM block holding a PKCS #8 ed25519 private key,
// with nothing but white space around it.
func parse(data []byte) (*Identity, error) {
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("longer than %d bytes", maxKeyFile)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the PEM block")
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemType)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM block has headers (an encrypted key is not supported)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS #8 key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not ed25519", key)
	}
	return fromPrivate(priv), nil
}

// encode returns the key file's contents for id.
func encode(id *Identity) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.private)
	if err != nil {
		return nil, fmt.Errorf("encode identity key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}

// store writes id's key file at path without ever replacing an existing
// file. It reports false when a file appeared at path meanwhile.
func store(path string, id *Identity) (won bool, err error) {
	data, err := encode(id)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create directory for identity key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return false, fmt.Errorf("create identity key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link (or rename) this is a no-op or drops the extra name
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("create identity key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write identity key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("sync identity key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write identity key file: %w", err)
	}
	switch err := os.Link(tmpName, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return false, nil
	default:
		// A file system without hard links: rename, which is atomic but
		// would replace a file created in the last microseconds.
		if _, serr := os.Lstat(path); serr == nil {
			return false, nil
		}
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("move identity key file into place: %w", err)
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes a new directory entry durable where the platform allows it;
// failure only weakens durability, so it is not reported.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
