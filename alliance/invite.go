package alliance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"phalanx/atomicfile"
	"phalanx/dirlock"
	"phalanx/identity"
)

// Names of the invite store's files in the data directory.
const (
	InvitesFile = "invites.json"
	LockFile    = "invites.lock"
)

// Limits of the invite store.
const (
	// MaxInvites bounds the invites kept (used and unused, until a week
	// after they expire).
	MaxInvites = 1024
	// InviteRetention is how long after expiry an invite stays recorded
	// (so that "already used" and "expired" can still be told apart).
	InviteRetention = 7 * 24 * time.Hour
	maxInvitesFile  = 1 << 20
	storeVersion    = 1
)

// Invite is the record of one join token in the data directory: the
// daemon accepts a join request on the invite's key only while the invite
// is unused and unexpired, and marks it used.
type Invite struct {
	ID        string    `json:"id"`                // identity.MemberID(PublicKey)
	PublicKey []byte    `json:"public_key"`        // the one-time invite key (ed25519)
	Created   time.Time `json:"created"`           // when the token was made
	Expires   time.Time `json:"expires"`           // the token's expiry
	Used      time.Time `json:"used,omitzero"`     // when a member joined with it; zero while unused
	UsedBy    string    `json:"used_by,omitempty"` // the member ID that joined with it
}

// store is the file format of invites.json.
type store struct {
	Version int      `json:"version"`
	Invites []Invite `json:"invites"`
}

// validate checks a record read from the file or given to AddInvite.
func (inv *Invite) validate() error {
	switch {
	case len(inv.PublicKey) != ed25519.PublicKeySize:
		return malformed("invite %q: public key of %d bytes, want %d", inv.ID, len(inv.PublicKey), ed25519.PublicKeySize)
	case inv.ID != identity.MemberID(inv.PublicKey):
		return malformed("invite %q: id does not match its public key (%s)", inv.ID, identity.MemberID(inv.PublicKey))
	case inv.Expires.IsZero() || inv.Created.IsZero():
		return malformed("invite %s: created and expires must be set", inv.ID)
	case !inv.Created.Before(inv.Expires):
		return malformed("invite %s: expires (%v) is not after created (%v)", inv.ID, inv.Expires, inv.Created)
	case inv.Used.IsZero() != (inv.UsedBy == ""):
		return malformed("invite %s: used and used_by must be set together", inv.ID)
	case inv.UsedBy != "" && !identity.IsID(inv.UsedBy):
		return malformed("invite %s: used_by %q is not a member id", inv.ID, inv.UsedBy)
	}
	return nil
}

// AddInvite records a new, unused invite in dataDir (created with mode
// 0700 if missing). It refuses a duplicate id, an invalid record and more
// than MaxInvites recorded invites; invites that expired more than
// InviteRetention before inv.Created are dropped on the way.
func AddInvite(dataDir string, inv Invite) error {
	if err := inv.validate(); err != nil {
		return fmt.Errorf("add invite: %w", err)
	}
	if !inv.Used.IsZero() {
		return fmt.Errorf("add invite: %w: invite %s is already marked used", ErrMalformed, inv.ID)
	}
	inv.PublicKey = bytes.Clone(inv.PublicKey)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("add invite: create data directory: %w", err)
	}
	return updateStore(dataDir, func(s *store) error {
		s.Invites = prune(s.Invites, inv.Created)
		if slices.ContainsFunc(s.Invites, func(o Invite) bool { return o.ID == inv.ID }) {
			return fmt.Errorf("add invite: %w: invite %s is already recorded; make a new token", ErrMalformed, inv.ID)
		}
		if len(s.Invites) >= MaxInvites {
			return fmt.Errorf("add invite: %d invites are recorded, the limit is %d; wait for unused ones to expire (they are dropped %v after expiry) or make tokens that expire sooner", len(s.Invites), MaxInvites, InviteRetention)
		}
		s.Invites = append(s.Invites, inv)
		return nil
	})
}

// UseInvite marks the invite id used by memberID at now and returns it.
// It fails, wrapping ErrUnknownInvite, ErrInviteUsed or ErrInviteExpired,
// when the invite is not recorded, was used before or has expired; of two
// concurrent calls for one invite (even from two processes) at most one
// succeeds. Invites that expired more than InviteRetention before now are
// dropped.
func UseInvite(dataDir, id, memberID string, now time.Time) (Invite, error) {
	if !identity.IsID(memberID) {
		return Invite{}, fmt.Errorf("use invite: %w: %q is not a member id", ErrMalformed, memberID)
	}
	var used Invite
	err := updateStore(dataDir, func(s *store) error {
		s.Invites = prune(s.Invites, now)
		i := slices.IndexFunc(s.Invites, func(o Invite) bool { return o.ID == id })
		if i < 0 {
			return fmt.Errorf("%w %q: it was never made here or is long expired; ask for a new one", ErrUnknownInvite, id)
		}
		inv := &s.Invites[i]
		if !inv.Used.IsZero() {
			return fmt.Errorf("%w (by %s at %s): ask for a new one", ErrInviteUsed, inv.UsedBy, inv.Used.Format(time.RFC3339))
		}
		if !now.Before(inv.Expires) {
			return fmt.Errorf("%w at %s: ask for a new one", ErrInviteExpired, inv.Expires.Format(time.RFC3339))
		}
		inv.Used = now.UTC().Round(0)
		inv.UsedBy = memberID
		used = *inv
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return Invite{}, fmt.Errorf("%w %q: this member has made no invites; ask for a new one", ErrUnknownInvite, id)
	}
	if err != nil {
		return Invite{}, err
	}
	return used, nil
}

// ListInvites returns the recorded invites in the order they were added;
// none when dataDir holds no invite store.
func ListInvites(dataDir string) ([]Invite, error) {
	s, err := readStore(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.Invites, nil
}

// ValidInvite reports whether pub is the key of a recorded invite that is
// unused and unexpired at now. The fabric calls it when a guest connects
// with an invite key; it reports false on any error.
func ValidInvite(dataDir string, pub ed25519.PublicKey, now time.Time) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	s, err := readStore(dataDir)
	if err != nil {
		return false
	}
	id := identity.MemberID(pub)
	for _, inv := range s.Invites {
		if inv.ID == id && bytes.Equal(inv.PublicKey, pub) {
			return inv.Used.IsZero() && now.Before(inv.Expires)
		}
	}
	return false
}

// prune drops invites that expired more than InviteRetention before now.
func prune(invs []Invite, now time.Time) []Invite {
	return slices.DeleteFunc(invs, func(inv Invite) bool {
		return inv.Expires.Add(InviteRetention).Before(now)
	})
}

// updateStore runs change on the store under the lock and writes the result
// atomically if change succeeds. A missing store reads as empty, unless
// dataDir itself is missing (an error wrapping fs.ErrNotExist).
func updateStore(dataDir string, change func(*store) error) error {
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("invite store: %w", err)
	}
	unlock, err := dirlock.Lock(filepath.Join(dataDir, LockFile))
	if err != nil {
		return err
	}
	defer unlock()
	s, err := readStore(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		s, err = &store{Version: storeVersion}, nil
	}
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	return writeStore(dataDir, s)
}

// readStore reads and validates invites.json.
func readStore(dataDir string) (*store, error) {
	path := filepath.Join(dataDir, InvitesFile)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("open invite store: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInvitesFile+1))
	if err != nil {
		return nil, fmt.Errorf("read invite store %s: %w", path, err)
	}
	s, err := decodeStore(data)
	if err != nil {
		return nil, fmt.Errorf("invite store %s is damaged (%w); move it away (pending invites are then lost: make new ones)", path, err)
	}
	return s, nil
}

func decodeStore(data []byte) (*store, error) {
	if len(data) > maxInvitesFile {
		return nil, malformed("larger than %d bytes", maxInvitesFile)
	}
	var s store
	if err := decodeStrict(data, &s); err != nil {
		return nil, err
	}
	if s.Version != storeVersion {
		return nil, malformed("version %d, this build reads %d", s.Version, storeVersion)
	}
	if len(s.Invites) > MaxInvites {
		return nil, malformed("%d invites, the limit is %d", len(s.Invites), MaxInvites)
	}
	for i := range s.Invites {
		if err := s.Invites[i].validate(); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(s.Invites[:i], func(o Invite) bool { return o.ID == s.Invites[i].ID }) {
			return nil, malformed("invite %s is recorded twice", s.Invites[i].ID)
		}
	}
	return &s, nil
}

// writeStore replaces invites.json atomically: a synced temporary file in
// the same directory (mode 0600) renamed over it.
func writeStore(dataDir string, s *store) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode invite store: %w", err)
	}
	data = append(data, '\n')
	if err := atomicfile.Write(filepath.Join(dataDir, InvitesFile), data, 0o600); err != nil {
		return fmt.Errorf("write invite store: %w", err)
	}
	return nil
}
