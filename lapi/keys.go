package lapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"phalanx/atomicfile"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits on the keys file.
const (
	maxBouncers   = 10000
	maxNameLen    = 64
	maxKeysFile   = 16 << 20
	saveLastPulls = time.Minute // how stale the file's last-pull times and cursors may get

	// allianceCursorGap is how long an alliance bouncer's cursor on this
	// member stays good without a stream pull here (see Keys). It is
	// longer than the pull interval of common bouncers (10 s for the
	// firewall bouncer, 60 s for Traefik's plugin), so that a bouncer
	// that stays on one member keeps getting deltas.
	allianceCursorGap = 2 * time.Minute
)

// alliancePrefix starts the name under which an alliance bouncer is known
// inside this package and in logs ("alliance/fw-1"). A member-local name
// cannot contain '/', so a member-local bouncer and an alliance bouncer of
// the same name never share a cursor.
const alliancePrefix = "alliance/"

// Bouncer is one registered bouncer as Keys.List shows it.
type Bouncer struct {
	Name     string
	Created  time.Time `json:",omitzero"` // zero for alliance keys (the charter's history says when)
	LastPull time.Time // zero until its first pull (on this member)
	Alliance bool      `json:",omitempty"` // an alliance-wide key, from the charter
}

// AllianceKey is an alliance-wide bouncer key as the charter lists it: a
// name and the SHA-256 of the key.
type AllianceKey struct {
	Name string
	Sum  [sha256.Size]byte
}

// Keys holds the bouncers' API keys, persisted in a JSON file (mode 0600).
// Only the SHA-256 of each key is stored; the key itself is shown once, by
// Add. Each bouncer also has a creation time, the time of its last pull and
// its stream cursor. Changes of keys are written at once; last pulls and
// cursors at most once a minute and by Flush (a cursor from another run of
// the daemon is not used anyway: each Journal has its own epoch).
//
// Besides the member's own keys, Keys accepts the alliance-wide keys that
// the daemon gives it from the charter in force (SetAlliance); the file
// keeps only their last pulls and cursors on this member, and a key the
// charter no longer lists is refused at once. An alliance bouncer may pull
// from any member, and move between them (fail-over, DNS, a load
// balancer), without saying so: it keeps pulling deltas with the same key.
// A cursor is where the bouncer stands in one member's journal, so a member
// serves an alliance bouncer a delta only from a cursor it set itself, at
// a stream pull less than allianceCursorGap ago. Otherwise (its first pull
// here, after a restart, or after an absence) it gets every active
// decision, as for startup=true: the bouncer may have been told of
// deletions elsewhere (another member's own decisions ending earlier, say)
// that this member's delta would not make good, and a full list is the one
// answer right whatever it holds. What it then still holds that this
// member does not ends at the decisions' own timeouts, as for a cursor the
// journal no longer serves. The cost is one full list per move. A balancer
// that alternates every pull between members is not detected (each
// member sees regular pulls); point bouncers at one member with fail-over.
//
// A Keys is safe for concurrent use.
type Keys struct {
	mu      sync.Mutex
	path    string
	recs    []keyRecord
	dirty   bool      // last pulls or cursors changed since the last write
	savedAt time.Time // when they were last written

	// alliance holds the alliance keys: from the file until SetAlliance
	// is first called (then only their pull state, none accepted), and
	// from the charter after.
	alliance    []allianceRecord
	allianceSet bool
}

type keyRecord struct {
	Name     string    `json:"name"`
	Hash     string    `json:"sha256"` // hex SHA-256 of the key
	Created  time.Time `json:"created"`
	LastPull time.Time `json:"last_pull,omitzero"`
	Cursor   cursor    `json:"cursor,omitzero"`

	sum [sha256.Size]byte
}

// allianceRecord is an alliance key and its pull state on this member.
type allianceRecord struct {
	Name     string    `json:"name"`
	Hash     string    `json:"sha256"`
	LastPull time.Time `json:"last_pull,omitzero"`
	Cursor   cursor    `json:"cursor,omitzero"`

	sum      [sha256.Size]byte
	streamed time.Time // when its cursor was last set here, in this run; zero for none
}

type keysFile struct {
	Bouncers []keyRecord      `json:"bouncers"`
	Alliance []allianceRecord `json:"alliance,omitempty"` // pull state of alliance keys on this member
}

// OpenKeys loads the keys file at path. A missing file is an empty set of
// keys; the file is created by the first Add.
func OpenKeys(path string) (*Keys, error) {
	k := &Keys{path: path}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bouncer keys: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	if err != nil {
		return nil, fmt.Errorf("read bouncer keys %s: %w", path, err)
	}
	if len(data) > maxKeysFile {
		return nil, fmt.Errorf("bouncer keys %s: larger than %d bytes; is it the right file?", path, maxKeysFile)
	}
	var kf keysFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(&kf)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		return nil, fmt.Errorf("decode bouncer keys %s: %w (restore the file from a backup, or remove it and add the bouncers again)", path, err)
	}
	seen := make(map[string]bool, len(kf.Bouncers))
	for i := range kf.Bouncers {
		r := &kf.Bouncers[i]
		if err := checkName(r.Name); err != nil {
			return nil, fmt.Errorf("bouncer keys %s: entry %d: %w", path, i, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("bouncer keys %s: the name %q appears twice; remove one entry", path, r.Name)
		}
		seen[r.Name] = true
		sum, err := hex.DecodeString(r.Hash)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("bouncer keys %s: bouncer %q: sha256 must be 64 hex digits; delete and add the bouncer again", path, r.Name)
		}
		copy(r.sum[:], sum)
	}
	if len(kf.Bouncers) > maxBouncers {
		return nil, fmt.Errorf("bouncer keys %s: %d bouncers, more than the limit of %d", path, len(kf.Bouncers), maxBouncers)
	}
	if len(kf.Alliance) > maxBouncers {
		return nil, fmt.Errorf("bouncer keys %s: %d alliance bouncers, more than the limit of %d; remove the alliance list (it holds only their last pulls)", path, len(kf.Alliance), maxBouncers)
	}
	for i := range kf.Alliance {
		r := &kf.Alliance[i]
		sum, err := hex.DecodeString(r.Hash)
		if err := checkName(r.Name); err != nil {
			return nil, fmt.Errorf("bouncer keys %s: alliance entry %d: %w; remove the entry (it holds only the last pull)", path, i, err)
		}
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("bouncer keys %s: alliance bouncer %q: sha256 must be 64 hex digits; remove the entry (it holds only the last pull)", path, r.Name)
		}
		copy(r.sum[:], sum)
	}
	k.recs = kf.Bouncers
	k.alliance = kf.Alliance
	return k, nil
}

// checkName accepts 1 to 64 characters: ASCII letters, digits and . _ - @ :,
// starting with a letter or digit, so that names are safe in logs, file
// names and command lines.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("bouncer name must be 1 to %d characters long", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-@:", rune(c))) {
			return fmt.Errorf("bouncer name %q: use ASCII letters, digits and . _ - @ : only, starting with a letter or digit", name)
		}
	}
	return nil
}

// Add registers a bouncer named name and returns its new API key: 32
// random bytes in hex. The key is not stored, only its hash; it cannot be
// shown again.
func (k *Keys) Add(name string) (key string, err error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	key, sum, err := NewKey()
	if err != nil {
		return "", err
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.recs {
		if r.Name == name {
			return "", fmt.Errorf("a bouncer named %q exists; delete it first or choose another name", name)
		}
	}
	if len(k.recs) >= maxBouncers {
		return "", fmt.Errorf("too many bouncers (%d); delete unused ones first", len(k.recs))
	}
	k.recs = append(k.recs, keyRecord{
		Name:    name,
		Hash:    hex.EncodeToString(sum[:]),
		Created: time.Now().UTC().Truncate(time.Second),
		sum:     sum,
	})
	if err := k.saveLocked(); err != nil {
		k.recs = k.recs[:len(k.recs)-1]
		return "", err
	}
	return key, nil
}

// NewKey returns a new API key, 32 random bytes in hex, and its SHA-256,
// which is all that is stored of it (for an alliance key, in the charter).
func NewKey() (key string, sum [sha256.Size]byte, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", sum, fmt.Errorf("generate key: %w", err)
	}
	key = hex.EncodeToString(raw[:])
	return key, sha256.Sum256([]byte(key)), nil
}

// CheckName reports whether name is a valid bouncer name, with advice.
func CheckName(name string) error { return checkName(name) }

// Delete removes the bouncer named name; its key stops working at once.
func (k *Keys) Delete(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.recs, func(r keyRecord) bool { return r.Name == name })
	if i < 0 {
		if k.allianceSet && slices.ContainsFunc(k.alliance, func(r allianceRecord) bool { return r.Name == name }) {
			return fmt.Errorf("%q is an alliance bouncer: delete it on a founding member with: phalanx bouncers delete --alliance %s", name, name)
		}
		return fmt.Errorf("no bouncer named %q (list them with: phalanx bouncers list)", name)
	}
	old := slices.Clone(k.recs)
	k.recs = slices.Delete(k.recs, i, i+1)
	if err := k.saveLocked(); err != nil {
		k.recs = old
		return err
	}
	return nil
}

// List returns the bouncers sorted by name, the member's own before an
// alliance key of the same name.
func (k *Keys) List() []Bouncer {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Bouncer, 0, len(k.recs))
	for _, r := range k.recs {
		out = append(out, Bouncer{Name: r.Name, Created: r.Created, LastPull: r.LastPull})
	}
	if k.allianceSet {
		for _, r := range k.alliance {
			out = append(out, Bouncer{Name: r.Name, LastPull: r.LastPull, Alliance: true})
		}
	}
	slices.SortStableFunc(out, func(a, b Bouncer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetAlliance makes keys the alliance keys this member accepts, in place
// of the previous ones: a key no longer listed is refused from now on. The
// last pull and cursor of a key listed before (by its hash) are kept. The
// daemon calls it with the charter in force, at start and at each
// amendment.
func (k *Keys) SetAlliance(keys []AllianceKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := make([]allianceRecord, 0, len(keys))
	for _, a := range keys {
		r := allianceRecord{Name: a.Name, Hash: hex.EncodeToString(a.Sum[:]), sum: a.Sum}
		if i := slices.IndexFunc(k.alliance, func(o allianceRecord) bool { return o.sum == a.Sum }); i >= 0 {
			o := k.alliance[i]
			r.LastPull, r.Cursor, r.streamed = o.LastPull, o.Cursor, o.streamed
		}
		next = append(next, r)
	}
	if len(next) != len(k.alliance) || !k.allianceSet {
		k.dirty = true
	}
	k.alliance = next
	k.allianceSet = true
}

// Flush writes last-pull times and cursors that changed since the last
// write. The daemon calls it when it stops.
func (k *Keys) Flush() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.dirty {
		return nil
	}
	return k.saveLocked()
}

// authenticate returns the name of the bouncer whose key is key: a
// member-local name, or alliancePrefix and an alliance key's name. Every
// stored hash is compared, in constant time, whatever matches; a
// member-local key wins over an alliance key (not that two keys of 32
// random bytes share a hash).
func (k *Keys) authenticate(key string) (name string, ok bool) {
	if key == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.allianceSet {
		for i := range k.alliance {
			if subtle.ConstantTimeCompare(sum[:], k.alliance[i].sum[:]) == 1 {
				name, ok = alliancePrefix+k.alliance[i].Name, true
			}
		}
	}
	for i := range k.recs {
		if subtle.ConstantTimeCompare(sum[:], k.recs[i].sum[:]) == 1 {
			name, ok = k.recs[i].Name, true
		}
	}
	return name, ok
}

// allianceIndexLocked returns the index of the alliance key that
// authenticate named name, or -1.
func (k *Keys) allianceIndexLocked(name string) int {
	an, ok := strings.CutPrefix(name, alliancePrefix)
	if !ok || !k.allianceSet {
		return -1
	}
	return slices.IndexFunc(k.alliance, func(r allianceRecord) bool { return r.Name == an })
}

// cursorOf returns the stream cursor of the bouncer named name at now. An
// alliance bouncer's cursor is the zero cursor (a full list follows) unless
// this member set it at a stream pull less than allianceCursorGap before
// now, in this run (see Keys).
func (k *Keys) cursorOf(name string, now time.Time) cursor {
	k.mu.Lock()
	defer k.mu.Unlock()
	if strings.HasPrefix(name, alliancePrefix) {
		i := k.allianceIndexLocked(name)
		if i < 0 {
			return cursor{}
		}
		r := k.alliance[i]
		if gap := now.Sub(r.streamed); r.streamed.IsZero() || gap < 0 || gap > allianceCursorGap {
			return cursor{}
		}
		return r.Cursor
	}
	for _, r := range k.recs {
		if r.Name == name {
			return r.Cursor
		}
	}
	return cursor{}
}

// pulled notes a pull by the bouncer named name at now, and its new stream
// cursor unless c is nil. It writes the file when the last write of pulls is
// older than saveLastPulls.
func (k *Keys) pulled(name string, c *cursor, now time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if strings.HasPrefix(name, alliancePrefix) {
		i := k.allianceIndexLocked(name)
		if i < 0 {
			return nil // revoked meanwhile
		}
		k.alliance[i].LastPull = now.UTC().Truncate(time.Second)
		if c != nil {
			k.alliance[i].Cursor = *c
			k.alliance[i].streamed = now
		}
	} else {
		i := slices.IndexFunc(k.recs, func(r keyRecord) bool { return r.Name == name })
		if i < 0 {
			return nil // deleted meanwhile
		}
		k.recs[i].LastPull = now.UTC().Truncate(time.Second)
		if c != nil {
			k.recs[i].Cursor = *c
		}
	}
	k.dirty = true
	if now.Sub(k.savedAt) < saveLastPulls {
		return nil
	}
	k.savedAt = now
	return k.saveLocked()
}

// saveLocked writes the file atomically: a temporary file in the same
// directory, synced, then renamed over the old one.
func (k *Keys) saveLocked() error {
	data, err := json.MarshalIndent(keysFile{Bouncers: k.recs, Alliance: k.alliance}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bouncer keys: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(k.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the directory of bouncer keys: %w", err)
	}
	if err := atomicfile.Write(k.path, data, 0o600); err != nil {
		return fmt.Errorf("write bouncer keys: %w", err)
	}
	k.dirty = false
	return nil
}

// Valid reports whether key is a registered bouncer's API key (for other
// routes behind bouncer keys, such as the feeds).
func (k *Keys) Valid(key string) bool {
	_, ok := k.authenticate(key)
	return ok
}
