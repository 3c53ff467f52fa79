package fabric

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Member is a member of the fabric as the charter lists it: its id (the
// subject token it publishes under) and its ed25519 public key, which is
// also its NATS nkey user.
type Member struct {
	ID        string
	PublicKey ed25519.PublicKey
}

// inProcessOnly is nats-server's connection type for in-process
// connections (jwt.ConnectionTypeInProcess).
const inProcessOnly = "IN_PROCESS"

// auth is what Start derives from Options.Seed and Options.Members.
type auth struct {
	self  string        // this member's id
	kp    nkeys.KeyPair // this member's nkey user
	admin nkeys.KeyPair // in-process only user that creates and updates the stream
	users []*server.NkeyUser
}

// newAuth checks o.Seed and o.Members and builds the nkey users: one per
// member with the member's permissions, and a fresh administrative user
// that only in-process connections may use. It returns nil when
// o.Members is empty (no authentication).
func newAuth(o Options) (*auth, error) {
	if len(o.Members) == 0 {
		return nil, nil
	}
	if len(o.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("fabric: Members need this member's identity: set Options.Seed to its %d-byte ed25519 seed (got %d bytes)", ed25519.SeedSize, len(o.Seed))
	}
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("fabric: nkey from seed: %w", err)
	}
	own := ed25519.NewKeyFromSeed(o.Seed).Public().(ed25519.PublicKey)
	a := &auth{kp: kp}
	ids := make(map[string]bool, len(o.Members))
	keys := make(map[string]bool, len(o.Members))
	for _, m := range o.Members {
		if !ValidMember(m.ID) {
			return nil, fmt.Errorf("fabric: invalid member id %q: use 1 to %d letters, digits, '-' or '_'", m.ID, maxMemberLen)
		}
		if len(m.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("fabric: member %s: public key has %d bytes, want %d", m.ID, len(m.PublicKey), ed25519.PublicKeySize)
		}
		pub, err := nkeys.Encode(nkeys.PrefixByteUser, m.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("fabric: member %s: encode nkey: %w", m.ID, err)
		}
		if ids[m.ID] || keys[string(pub)] {
			return nil, fmt.Errorf("fabric: member %s or its key is listed twice in Options.Members: list each member once", m.ID)
		}
		ids[m.ID], keys[string(pub)] = true, true
		if bytes.Equal(m.PublicKey, own) {
			a.self = m.ID
		}
		a.users = append(a.users, &server.NkeyUser{Nkey: string(pub), Permissions: memberPermissions(m.ID)})
	}
	if a.self == "" {
		return nil, errors.New("fabric: the public key of Options.Seed is not in Options.Members: add this member to the list")
	}
	if a.admin, err = nkeys.CreateUser(); err != nil {
		return nil, fmt.Errorf("fabric: create in-process user: %w", err)
	}
	adminPub, err := a.admin.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("fabric: in-process user: %w", err)
	}
	a.users = append(a.users, &server.NkeyUser{
		Nkey:                   adminPub,
		AllowedConnectionTypes: map[string]struct{}{inProcessOnly: {}},
	})
	return a, nil
}

// memberPermissions are what member id may do: publish its own reports and
// what a publisher and an ordered pull consumer of the stream need, read
// everyone's reports, and nothing else (in particular not create, update,
// delete or purge the stream, nor delete its messages).
func memberPermissions(id string) *server.Permissions {
	api := "$JS.API."
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{
				ReportPrefix + id,
				FastPrefix + id,
				api + "INFO",
				api + "STREAM.INFO." + StreamName,
				api + "CONSUMER.CREATE." + StreamName + ".>",
				api + "CONSUMER.INFO." + StreamName + ".>",
				api + "CONSUMER.DELETE." + StreamName + ".>",
				api + "CONSUMER.MSG.NEXT." + StreamName + ".>",
				"$JS.ACK." + StreamName + ".>",
				"$JS.FC." + StreamName + ".>",
			},
			// Not needed with an allow list; kept so that a widened
			// allow list cannot let these through.
			Deny: []string{
				api + "STREAM.DELETE.>", api + "STREAM.PURGE.>", api + "STREAM.UPDATE.>",
				api + "STREAM.CREATE.>", api + "STREAM.MSG.DELETE.>",
			},
		},
		Subscribe: &server.SubjectPermission{
			Allow: []string{ReportPrefix + ">", FastPrefix + ">", "_INBOX.>"},
		},
	}
}

// nkeyOption returns the nats.go option that authenticates a
// connection as kp.
func nkeyOption(kp nkeys.KeyPair) (nats.Option, error) {
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("fabric nkey: %w", err)
	}
	return nats.Nkey(pub, kp.Sign), nil
}
