package charter

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"phalanx"
)

// Bounds of the fleet section that Validate enforces.
const (
	MaxFleetScenarios   = 8
	MaxFleetKinds       = 32 // per scenario
	MaxFleetWindow      = 24 * time.Hour
	MaxMemberCap        = 255 // events one member may add per source and window
	MaxFleetThreshold   = 1_000_000
	MaxStuffingSources  = 32 // a user scenario's sources threshold
	MinFleetTable       = 1024
	MaxFleetTable       = 1 << 20
	MinEntriesPerMinute = 600 // at least one full sighting (512 entries) at once
	MaxEntriesPerMinute = 1_000_000
	MinSaltSize         = 16 // bytes
	MaxSaltSize         = 64
	SaltSize            = 32 // what NewSalt makes
	UserHashSize        = 16 // bytes of UserHash; report.UserHashSize is the same
	fleetPrefix         = "fleet-"
	defaultMaxSources   = 65536
	defaultMaxUsers     = 16384
	defaultEntries      = 6000
)

// What a fleet scenario groups sightings by (FleetScenario.By).
const (
	BySource = "source" // one source across members: ban it
	ByUser   = "user"   // one user-name hash across members and sources: ban those sources
)

// Fleet is the charter's fleet section.
type Fleet struct {
	// Salt keys the user-name hashes members put in sightings (UserHash):
	// standard base64 of 16 to 64 random bytes, the same for every member
	// and secret to everyone else, so that a user name never leaves a
	// member in clear and hashes made for another alliance never match.
	// `phalanx alliance init` writes one (NewSalt). Without a salt, members
	// send no user hashes and the arbiter ignores any: user scenarios never
	// fire.
	Salt string `yaml:"salt,omitempty"`
	// MaxSources caps the sources the arbiter follows at once, MaxUsers the
	// user-name hashes (defaults 65536 and 16384). Past a cap, the least
	// recently sighted entry seen by one member only is forgotten first.
	MaxSources int `yaml:"max_sources"`
	MaxUsers   int `yaml:"max_users"`
	// EntriesPerMinute is how many sighting entries (sources) one member
	// may send per minute, measured on report times (default 6000); each
	// sighting also counts as one report against Limits.ReportsPerMinute.
	EntriesPerMinute int `yaml:"entries_per_minute"`
	// Scenarios are evaluated in order; a source is banned by the first
	// that fires for it.
	Scenarios []FleetScenario `yaml:"scenarios"`
}

// FleetScenario is one rule over members' sightings. Sightings count at
// their report time; a scenario fires when the sightings dated within one
// Window (that holds the newest sighting) meet every threshold.
type FleetScenario struct {
	// Name starts with "fleet-", such as fleet-bf; decisions carry it.
	Name string `yaml:"name"`
	// By is "source" (the default: events from one source) or "user" (one
	// user-name hash failing from several sources).
	By string `yaml:"by,omitempty"`
	// Kinds are the event kinds that count, such as auth-failure.
	Kinds  []string      `yaml:"kinds"`
	Window time.Duration `yaml:"window"`
	// Members is how many distinct members must have sighted it: at least
	// 2, so that no member can cause a fleet ban by itself.
	Members int `yaml:"members"`
	// By source: Events is how many events the members must have sighted
	// in all, each member adding at most MemberCap of them (less than
	// Events, so that no member reaches it alone).
	Events    int `yaml:"events,omitempty"`
	MemberCap int `yaml:"member_cap,omitempty"`
	// By user: Sources is how many distinct sources must have failed with
	// the user name; the sources banned are those that SourceMembers
	// distinct members (at least 2) saw failing with it.
	Sources       int `yaml:"sources,omitempty"`
	SourceMembers int `yaml:"source_members,omitempty"`
}

// IsByUser reports a scenario over user-name hashes.
func (s *FleetScenario) IsByUser() bool { return s.By == ByUser }

// failureKinds are the kinds of a failed log-in.
var failureKinds = []string{
	phalanx.KindAuthFailure.String(),
	phalanx.KindInvalidUser.String(),
	phalanx.KindMaxAuth.String(),
	phalanx.KindHTTPAuthFailure.String(),
	phalanx.KindHTTPLoginFail.String(),
	phalanx.KindHTTPWPLogin.String(),
}

// DefaultFleet returns the fleet section's documented defaults, without a
// salt:
//   - fleet-bf: 10 failures from one source on at least 3 members within
//     10m, at most 5 from each member;
//   - fleet-scan: probes or pre-authentication closes from one source on
//     at least 5 members within 1m, at most 2 from each;
//   - fleet-user-stuffing: one user name failing on at least 5 members
//     from at least 3 sources within 1h bans each source that at least 2
//     members saw failing with it;
//   - fleet-slow-bf: 20 failures from one source on at least 3 members
//     within 24h, at most 8 from each.
func DefaultFleet() Fleet {
	return Fleet{
		MaxSources:       defaultMaxSources,
		MaxUsers:         defaultMaxUsers,
		EntriesPerMinute: defaultEntries,
		Scenarios: []FleetScenario{
			{Name: "fleet-bf", By: BySource, Kinds: slices.Clone(failureKinds), Window: 10 * time.Minute, Members: 3, Events: 10, MemberCap: 5},
			{Name: "fleet-scan", By: BySource, Kinds: []string{
				phalanx.KindProbe.String(), phalanx.KindPreauthClose.String(), phalanx.KindHTTPProbe.String(),
			}, Window: time.Minute, Members: 5, Events: 5, MemberCap: 2},
			{Name: "fleet-user-stuffing", By: ByUser, Kinds: slices.Clone(failureKinds), Window: time.Hour, Members: 5, Sources: 3, SourceMembers: 2},
			{Name: "fleet-slow-bf", By: BySource, Kinds: slices.Clone(failureKinds), Window: 24 * time.Hour, Members: 3, Events: 20, MemberCap: 8},
		},
	}
}

// NewSalt returns a fresh salt for Fleet.Salt: SaltSize bytes from rand
// (crypto/rand.Reader), in standard base64.
func NewSalt(rand io.Reader) (string, error) {
	b := make([]byte, SaltSize)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("make a salt: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// SaltBytes returns the decoded salt; false when there is none (or it does
// not decode, which Validate rejects).
func (f *Fleet) SaltBytes() ([]byte, bool) {
	if f == nil || f.Salt == "" {
		return nil, false
	}
	b, err := decodeSalt(f.Salt)
	if err != nil {
		return nil, false
	}
	return b, true
}

// UserHash returns the hash of user under the fleet's salt; false when
// the fleet has no salt, and then no user hash may be sent.
func (f *Fleet) UserHash(user string) ([UserHashSize]byte, bool) {
	salt, ok := f.SaltBytes()
	if !ok {
		return [UserHashSize]byte{}, false
	}
	return UserHash(salt, user), true
}

// UserHash is the keyed hash of a user name that sightings carry:
// HMAC-SHA-256 keyed by the alliance's salt over a domain string, the
// salt's length (HMAC pads short keys with zeros, so "s" and "s\x00" would
// otherwise be one key) and the user name's exact bytes, cut to
// UserHashSize bytes. Members must hash the same spelling: the daemon
// hashes the name as the log line wrote it.
func UserHash(salt []byte, user string) [UserHashSize]byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("phalanx user v1\x00"))
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(salt))))
	m.Write([]byte(user))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return [UserHashSize]byte(sum[:UserHashSize])
}

func decodeSalt(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64 (%w)", err)
	}
	if len(b) < MinSaltSize || len(b) > MaxSaltSize {
		return nil, fmt.Errorf("%d bytes; use %d to %d random bytes", len(b), MinSaltSize, MaxSaltSize)
	}
	return b, nil
}

func (f *Fleet) validate(errs *[]error) {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Errorf(format, args...)) }
	if f.Salt != "" {
		if _, err := decodeSalt(f.Salt); err != nil {
			bad("fleet.salt: %v; make one with: head -c %d /dev/urandom | base64", err, SaltSize)
		}
	}
	if f.MaxSources < MinFleetTable || f.MaxSources > MaxFleetTable {
		bad("fleet.max_sources %d is out of range: use %d to %d (default %d)", f.MaxSources, MinFleetTable, MaxFleetTable, defaultMaxSources)
	}
	if f.MaxUsers < MinFleetTable || f.MaxUsers > MaxFleetTable {
		bad("fleet.max_users %d is out of range: use %d to %d (default %d)", f.MaxUsers, MinFleetTable, MaxFleetTable, defaultMaxUsers)
	}
	if f.EntriesPerMinute < MinEntriesPerMinute || f.EntriesPerMinute > MaxEntriesPerMinute {
		bad("fleet.entries_per_minute %d is out of range: use %d to %d (default %d)", f.EntriesPerMinute, MinEntriesPerMinute, MaxEntriesPerMinute, defaultEntries)
	}
	if len(f.Scenarios) > MaxFleetScenarios {
		bad("fleet.scenarios: %d, the limit is %d", len(f.Scenarios), MaxFleetScenarios)
	}
	names := map[string]int{}
	for i, s := range f.Scenarios {
		where := fmt.Sprintf("fleet.scenarios[%d]", i)
		if s.Name != "" {
			where += " (" + s.Name + ")"
		}
		if err := checkScenario(s.Name); err != nil {
			bad("%s: name: %w", where, err)
		} else if !strings.HasPrefix(s.Name, fleetPrefix) || len(s.Name) == len(fleetPrefix) {
			bad("%s: name %q: start fleet scenario names with %q, such as fleet-bf", where, s.Name, fleetPrefix)
		}
		if j, dup := names[s.Name]; dup {
			bad("%s: name %q is already fleet.scenarios[%d]", where, s.Name, j)
		}
		names[s.Name] = i
		switch n := len(s.Kinds); {
		case n == 0:
			bad("%s: kinds: none; list the event kinds that count, such as [auth-failure, invalid-user]", where)
		case n > MaxFleetKinds:
			bad("%s: kinds: %d, the limit is %d", where, n, MaxFleetKinds)
		}
		seen := map[string]bool{}
		for j, k := range s.Kinds {
			if _, err := phalanx.ParseKind(k); err != nil {
				bad("%s: kinds[%d]: %v", where, j, err)
			}
			if seen[k] {
				bad("%s: kinds[%d]: %q is listed twice", where, j, k)
			}
			seen[k] = true
		}
		checkDuration(errs, where+": window", s.Window, minDuration, MaxFleetWindow, "10m")
		if s.Members < 2 || s.Members > MaxMembers {
			bad("%s: members %d is out of range: use 2 to %d (no single member may cause a fleet ban)", where, s.Members, MaxMembers)
		}
		switch s.By {
		case "", BySource:
			if s.Events < 1 || s.Events > MaxFleetThreshold {
				bad("%s: events %d is out of range: use 1 to %d", where, s.Events, MaxFleetThreshold)
			}
			if s.MemberCap < 1 || s.MemberCap > MaxMemberCap {
				bad("%s: member_cap %d is out of range: use 1 to %d, the most events one member adds", where, s.MemberCap, MaxMemberCap)
			} else if s.Events >= 1 && s.MemberCap >= s.Events {
				bad("%s: member_cap %d is not below events %d; one member's share must never reach the threshold, lower member_cap", where, s.MemberCap, s.Events)
			}
			if s.Sources != 0 || s.SourceMembers != 0 {
				bad("%s: sources and source_members are for by: user; remove them", where)
			}
		case ByUser:
			if s.Sources < 1 || s.Sources > MaxStuffingSources {
				bad("%s: sources %d is out of range: use 1 to %d", where, s.Sources, MaxStuffingSources)
			}
			if s.SourceMembers < 2 || s.SourceMembers > max(s.Members, 2) {
				bad("%s: source_members %d is out of range: use 2 to members (%d); a source one member names alone is never banned", where, s.SourceMembers, s.Members)
			}
			if s.Events != 0 || s.MemberCap != 0 {
				bad("%s: events and member_cap are for by: source; remove them", where)
			}
		default:
			bad("%s: by %q: use %q (the default) or %q", where, s.By, BySource, ByUser)
		}
	}
}

// appendHash appends the fleet section's canonical encoding: kinds as
// sets, scenarios in order (the order decides which one bans a source).
func (f *Fleet) appendHash(b []byte) []byte {
	b = append(b, "fleet v1\x00"...)
	if salt, err := decodeSalt(f.Salt); err == nil {
		b = appendString(b, string(salt))
	} else {
		b = appendString(b, "\xff"+f.Salt) // cannot collide with a valid salt's bytes
	}
	for _, v := range []int64{int64(f.MaxSources), int64(f.MaxUsers), int64(f.EntriesPerMinute)} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Scenarios)))
	for _, s := range f.Scenarios {
		b = appendString(b, s.Name)
		by := s.By
		if by == "" {
			by = BySource
		}
		b = appendString(b, by)
		kinds := slices.Clone(s.Kinds)
		slices.Sort(kinds)
		kinds = slices.Compact(kinds)
		b = binary.BigEndian.AppendUint32(b, uint32(len(kinds)))
		for _, k := range kinds {
			b = appendString(b, k)
		}
		for _, v := range []int64{int64(s.Window), int64(s.Members), int64(s.Events), int64(s.MemberCap), int64(s.Sources), int64(s.SourceMembers)} {
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
	}
	return b
}

// ParseFleet decodes a fleet section on its own (the YAML under a charter's
// fleet: key), strictly, over DefaultFleet, and validates it: what
// `phalanx charter fleet on --file` amends an alliance's charter with.
func ParseFleet(data []byte) (Fleet, error) {
	if len(data) > MaxFileSize {
		return Fleet{}, fmt.Errorf("larger than %d bytes; a fleet section is a few scenarios", MaxFileSize)
	}
	f := DefaultFleet()
	if len(bytes.TrimSpace(data)) > 0 {
		// As in Parse, the shape check keeps large mappings and aliases
		// from the strict decoder.
		if _, _, err := readDocument(data); err != nil && !errors.Is(err, io.EOF) {
			return Fleet{}, fmt.Errorf("decode YAML: %w%s", err, hint(err))
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return Fleet{}, fmt.Errorf("decode YAML: %w%s", err, hint(err))
		}
	}
	var errs []error
	f.validate(&errs)
	if err := errors.Join(errs...); err != nil {
		return Fleet{}, err
	}
	return f, nil
}
