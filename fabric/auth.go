package fabric

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"phalanx/identity"
)

// Member is a member of the fabric as the charter lists it: its id (the
// subject token it publishes under), its ed25519 public key, which is
// also its NATS nkey user and the key of its servers' TLS certificate,
// and whether it is a hub member.
type Member struct {
	ID        string
	PublicKey ed25519.PublicKey
	// Hub is set for a member whose server keeps the stream (the charter
	// gives it a fabric address): only hub members' servers are accepted
	// as cluster routes, and as the hub a leaf member attaches to. A
	// member without it may attach only as a leaf node.
	Hub bool
}

const (
	// guestLifetime is how long a guest connection may stay: long enough
	// for one join request, short enough that a guest cannot linger.
	guestLifetime = 2 * time.Minute
	// kickGrace is how long SetMembers keeps trying to close a connection
	// it authorized but nats-server has not registered yet (a leaf node
	// is registered only after its CONNECT is authorized).
	kickGrace = 10 * time.Second
	// responseExpiry is how long a member may take to answer a request
	// it received (nats-server's response permission).
	responseExpiry = time.Minute
	// pruneFloor is the size from which the gate forgets connections
	// that have closed.
	pruneFloor = 1024
)

// auth is what Start derives from Options.Seed and Options.Members.
type auth struct {
	self  string        // this member's id
	kp    nkeys.KeyPair // this member's nkey user
	admin nkeys.KeyPair // in-process only user that creates and updates the stream
	gate  *gate
	trust *trust  // the member keys the TLS links accept
	tls   linkTLS // the links' TLS configurations, with this member's certificate
}

// gate decides who may connect (nats-server's CustomClientAuthentication):
// it verifies the nkey signature of the server's nonce itself, then admits
// the in-process stream manager, the current members (with their
// permissions, as clients or as leaf nodes) and guests (Options.Guest). It
// remembers which connection belongs to which member, so that SetMembers
// can close a removed member's connections.
type gate struct {
	admin string                       // the stream manager's nkey
	guest func(ed25519.PublicKey) bool // nil: no guests
	srv   *server.Server               // set before the server starts

	mu      sync.Mutex
	members map[string]string // nkey -> member id
	conns   map[uint64]conn   // client id -> the member it authenticated as
	pruneAt int
}

// conn is a member's connection the gate admitted.
type conn struct {
	nkey, id string
	at       time.Time
}

var _ server.Authentication = (*gate)(nil)

// memberSet checks ms and returns their nkeys mapped to their ids, and the
// id of the member whose key is own (or "").
func memberSet(ms []Member, own ed25519.PublicKey) (map[string]string, string, error) {
	set := make(map[string]string, len(ms))
	ids := make(map[string]bool, len(ms))
	self := ""
	for _, m := range ms {
		if !ValidMember(m.ID) {
			return nil, "", fmt.Errorf("fabric: invalid member id %q: use 1 to %d letters, digits, '-' or '_'", m.ID, maxMemberLen)
		}
		if len(m.PublicKey) != ed25519.PublicKeySize {
			return nil, "", fmt.Errorf("fabric: member %s: public key has %d bytes, want %d", m.ID, len(m.PublicKey), ed25519.PublicKeySize)
		}
		pub, err := nkeys.Encode(nkeys.PrefixByteUser, m.PublicKey)
		if err != nil {
			return nil, "", fmt.Errorf("fabric: member %s: encode nkey: %w", m.ID, err)
		}
		if _, dup := set[string(pub)]; dup || ids[m.ID] {
			return nil, "", fmt.Errorf("fabric: member %s or its key is listed twice in the members: list each member once", m.ID)
		}
		set[string(pub)], ids[m.ID] = m.ID, true
		if bytes.Equal(m.PublicKey, own) {
			self = m.ID
		}
	}
	return set, self, nil
}

// newAuth checks o.Seed and o.Members and builds the gate: the members
// with their permissions, and a fresh administrative user that only
// in-process connections may use. It returns nil when o.Members is empty
// (no authentication).
func newAuth(o Options) (*auth, error) {
	if len(o.Members) == 0 {
		if o.Guest != nil {
			return nil, errors.New("fabric: Options.Guest needs authentication: set Options.Members and Options.Seed too")
		}
		if o.OperatorCA != nil {
			return nil, errors.New("fabric: Options.OperatorCA needs authentication: set Options.Members and Options.Seed too")
		}
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
	set, self, err := memberSet(o.Members, own)
	if err != nil {
		return nil, err
	}
	if self == "" {
		return nil, errors.New("fabric: the public key of Options.Seed is not in Options.Members: add this member to the list")
	}
	a := &auth{self: self, kp: kp}
	if a.admin, err = nkeys.CreateUser(); err != nil {
		return nil, fmt.Errorf("fabric: create in-process user: %w", err)
	}
	adminPub, err := a.admin.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("fabric: in-process user: %w", err)
	}
	a.gate = &gate{
		admin:   adminPub,
		guest:   o.Guest,
		members: set,
		conns:   make(map[uint64]conn),
		pruneAt: pruneFloor,
	}
	cert, err := linkCertificate(o.Seed, o.OperatorCA)
	if err != nil {
		return nil, err
	}
	a.trust = &trust{}
	a.trust.p.Store(newTrusted(o.Members))
	a.tls = newLinkTLS(cert, a.trust, o.OperatorCA)
	return a, nil
}

// Check implements server.Authentication. It is called for every client
// and leaf node connection's CONNECT, with no server lock held.
func (g *gate) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o == nil || !verifyNonce(o.Nkey, o.Sig, c.GetNonce()) {
		return false
	}
	kind := c.Kind()
	if kind != server.CLIENT && kind != server.LEAF {
		return false
	}
	if o.Nkey == g.admin {
		if kind != server.CLIENT || !inProcess(c.RemoteAddress()) {
			return false
		}
		c.RegisterUser(&server.User{Username: "phalanx-stream-manager"}) // no permissions: all
		return true
	}

	if kind == server.LEAF && !sameKey(c.GetTLSConnectionState(), o.Nkey) {
		return false // a leaf node signs as the member whose certificate it presented
	}
	g.mu.Lock()
	id, isMember := g.members[o.Nkey]
	if isMember {
		g.conns[c.GetID()] = conn{nkey: o.Nkey, id: id, at: time.Now()}
		if len(g.conns) >= g.pruneAt {
			g.pruneLocked()
		}
	}
	g.mu.Unlock()
	if isMember {
		var perms *server.Permissions
		if kind == server.LEAF {
			perms = leafPermissions(id)
		} else {
			perms = memberPermissions(id)
		}
		c.RegisterUser(&server.User{Username: id, Permissions: perms})
		return true
	}

	if g.guest == nil || kind != server.CLIENT {
		return false
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(o.Nkey))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return false
	}
	pub := ed25519.PublicKey(raw)
	if !g.guest(pub) {
		return false
	}
	gid := identity.MemberID(pub)
	c.RegisterUser(&server.User{
		Username:           "guest-" + gid,
		Permissions:        guestPermissions(gid),
		ConnectionDeadline: time.Now().Add(guestLifetime),
	})
	return true
}

// verifyNonce reports whether sig is nkey's signature of nonce, as
// nats-server checks an nkey user (base64 URL encoding, or standard as a
// fallback).
func verifyNonce(nkey, sig string, nonce []byte) bool {
	if nkey == "" || sig == "" || len(nonce) == 0 || !nkeys.IsValidPublicUserKey(nkey) {
		return false
	}
	s, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if s, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	pk, err := nkeys.FromPublicKey(nkey)
	if err != nil {
		return false
	}
	return pk.Verify(nonce, s) == nil
}

// sameKey reports whether the TLS peer of cs presented the key of nkey
// user nkey.
func sameKey(cs *tls.ConnectionState, nkey string) bool {
	pub, err := peerKey(cs)
	if err != nil {
		return false
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(nkey))
	return err == nil && bytes.Equal(raw, pub)
}

// inProcess reports whether a connection's remote address is an in-process
// pipe (nats-server serves in-process connections over net.Pipe).
func inProcess(a net.Addr) bool { return a != nil && a.Network() == "pipe" }

// pruneLocked forgets connections that have closed. g.mu is held.
func (g *gate) pruneLocked() {
	if g.srv != nil {
		for cid, c := range g.conns {
			if time.Since(c.at) > kickGrace && !g.alive(cid) {
				delete(g.conns, cid)
			}
		}
	}
	g.pruneAt = max(pruneFloor, 2*len(g.conns))
}

// alive reports whether the server still has the client or leaf node cid.
func (g *gate) alive(cid uint64) bool {
	return g.srv.GetClient(cid) != nil || g.srv.GetLeafNode(cid) != nil
}

// swap makes set the members and returns the connections of members that
// are no longer in it (or now under another id), which it forgets, and
// the ids no member has any more.
func (g *gate) swap(set map[string]string) (map[uint64]conn, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	kept := make(map[string]bool, len(set))
	for _, id := range set {
		kept[id] = true
	}
	var gone []string
	for _, id := range g.members {
		if !kept[id] {
			gone = append(gone, id)
		}
	}
	g.members = set
	stale := make(map[uint64]conn)
	for cid, c := range g.conns {
		if set[c.nkey] != c.id {
			stale[cid] = c
			delete(g.conns, cid)
		}
	}
	g.pruneLocked()
	return stale, gone
}

// SetMembers replaces the members while the Fabric runs (a charter
// amendment added or removed some). A removed member's connections, as a
// client or a leaf node, are closed, its consumers on the stream deleted
// (in the background, on hub members), and it can no longer connect; an
// added one can connect at once with a member's permissions. The TLS links
// follow at once too: a key that is no longer a (hub) member's is refused
// in the next handshake, and when a hub member is removed (or stops being
// one) the routes and hub links to its servers are closed in the
// background (see closeStaleLinks). ms must list this
// member (with the id it had at Start). SetMembers needs authentication
// (Options.Members).
func (f *Fabric) SetMembers(ms []Member) error {
	if f.auth == nil {
		return errors.New("fabric: SetMembers needs authentication: start the fabric with Options.Members and Options.Seed")
	}
	if f.closed() {
		return ErrClosed
	}
	own, err := f.auth.kp.PublicKey()
	if err != nil {
		return fmt.Errorf("fabric: own nkey: %w", err)
	}
	set, _, err := memberSet(ms, nil)
	if err != nil {
		return err
	}
	if set[own] != f.self {
		return fmt.Errorf("fabric: the new members do not list this member as %s: keep it in the list with its id (stop the fabric instead if this member was removed)", f.self)
	}
	next := newTrusted(ms)
	if f.auth.trust.p.Swap(next).hubsLost(next) {
		f.tasks.Go(f.closeStaleLinks)
	}
	stale, gone := f.auth.gate.swap(set)
	if len(gone) > 0 && !f.leaf {
		f.tasks.Go(func() { f.deleteConsumers(gone) })
	}
	removed := make(map[string]bool)
	for cid, c := range stale {
		removed[c.id] = true
		if f.server().DisconnectClientByID(cid) == nil || time.Since(c.at) > kickGrace {
			continue
		}
		// Authorized, but not yet registered by the server (a leaf node
		// in its handshake): keep trying for a moment.
		f.tasks.Go(func() { f.kickLater(cid, c.at.Add(kickGrace)) })
	}
	f.log.Info("fabric members changed", "members", len(set), "closed_connections_of", len(removed))
	return nil
}

// deleteConsumers deletes the consumers of members ids (removed ones) on
// the stream: the names permissions allowed them (memberPermissions). A
// consumer nobody pulls from would go after consumerIdle anyway; this
// makes it go at once. In a cluster every hub member does it, and all but
// the first find nothing to delete.
func (f *Fabric) deleteConsumers(ids []string) {
	deleted := 0
	for _, id := range ids {
		for k := range maxConsumers {
			ctx, cancel := context.WithTimeout(f.life, apiTimeout)
			err := f.adminJS.DeleteConsumer(ctx, StreamName, consumerName(id, k))
			cancel()
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
			case f.closed():
				return
			default:
				f.log.Warn("fabric could not delete a removed member's consumer (it goes by itself once idle)",
					"member", id, "consumer", consumerName(id, k), "err", err)
			}
		}
	}
	if deleted > 0 {
		f.log.Info("fabric deleted removed members' consumers", "members", ids, "consumers", deleted)
	}
}

// kickLater closes connection cid once the server has registered it, or
// gives up at deadline (the connection went away on its own).
func (f *Fabric) kickLater(cid uint64, deadline time.Time) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for time.Now().Before(deadline) {
		if f.server().DisconnectClientByID(cid) == nil {
			return
		}
		select {
		case <-f.life.Done():
			return
		case <-t.C:
		}
	}
}

// memberPermissions are what member id may do as a client: publish its
// own reports and what a publisher and its own stream consumers need
// (directly, or in the hub's JetStream domain for a leaf member), read
// everyone's reports, send requests to any member and answer the requests
// sent to itself (through nats-server's response permission: a one-time
// right to publish on the reply subject of a request it received, not a
// blanket right to publish on inboxes), receive answers only on its own
// inboxes (memberInbox), and nothing else (in particular not create,
// update, delete or purge the stream, nor delete its messages, nor answer
// join requests, nor read other members' or guests' inboxes).
//
// Consumers: a member may create, read, pull from and delete only the
// consumers named consumerName(id, 0..maxConsumers-1), so it has at most
// maxConsumers on the stream, and they are found by name when it is
// removed (see SetMembers). nats-server's permissions see subjects, not
// the request's body, so they cannot tell an ephemeral consumer from a
// durable one created under the same name; what bounds a durable one is
// that name, the count, and the stream's ConsumerLimits (streamConfig):
// nats-server deletes any consumer of the stream, durable or not, after
// consumerIdle without a pull, and refuses a longer InactiveThreshold.
// nats-server's JetStream account limits (MaxConsumers) would bound all
// members together, not each one: one member could then use up what the
// others need to catch up. The durable-only API and the filtered and
// unnamed forms of consumer creation are not allowed at all.
func memberPermissions(id string) *server.Permissions {
	allow := []string{
		ReportPrefix + id,
		FastPrefix + id,
		RequestPrefix + "*.*",
	}
	var deny []string
	for _, api := range []string{"$JS.API.", "$JS." + HubDomain + ".API."} {
		allow = append(allow, api+"INFO", api+"STREAM.INFO."+StreamName)
		for k := range maxConsumers {
			name := StreamName + "." + consumerName(id, k)
			allow = append(allow,
				api+"CONSUMER.CREATE."+name,
				api+"CONSUMER.INFO."+name,
				api+"CONSUMER.DELETE."+name,
				api+"CONSUMER.MSG.NEXT."+name)
		}
		// Not needed with an allow list; kept so that a widened allow
		// list cannot let these through.
		deny = append(deny,
			api+"STREAM.DELETE.>", api+"STREAM.PURGE.>", api+"STREAM.UPDATE.>",
			api+"STREAM.CREATE.>", api+"STREAM.MSG.DELETE.>",
			api+"CONSUMER.DURABLE.CREATE.>")
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: allow, Deny: deny},
		Subscribe: &server.SubjectPermission{
			Allow: []string{ReportPrefix + ">", FastPrefix + ">", memberInbox(id) + ".>", RequestPrefix + id + ".>"},
		},
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: responseExpiry},
	}
}

// memberInbox is the inbox prefix of member id (nats.go's
// CustomInboxPrefix): the answers to its JetStream API calls, its
// consumers' deliveries and the answers to its requests arrive below it,
// and only it may subscribe there. Its second token, "member", is never a
// guest's invite id (identity.IsID), so no member's inboxes are a
// guest's (guestInbox) or the other way round.
func memberInbox(id string) string { return "_INBOX.member." + id }

// inbox is the inbox prefix of this Fabric's in-process connection: the
// member's own with Members, else nats.go's default.
func (f *Fabric) inbox() string {
	if f.self == "" {
		return "_INBOX"
	}
	return memberInbox(f.self)
}

// guestPermissions are what a guest with member id id (the id of its
// invite key) may do: publish its join request and receive the answer on
// its own inboxes ("_INBOX."+id+".>", which RequestJoin uses), nothing
// else. Its inboxes are its own so that no other guest can read the
// answer, which carries the alliance's charter.
func guestPermissions(id string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{JoinPrefix + id}},
		Subscribe: &server.SubjectPermission{Allow: []string{guestInbox(id) + ".>"}},
	}
}

// guestInbox is the inbox prefix of the guest with invite id id.
func guestInbox(id string) string { return "_INBOX." + id }

// nkeyOption returns the nats.go option that authenticates a
// connection as kp.
func nkeyOption(kp nkeys.KeyPair) (nats.Option, error) {
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("fabric nkey: %w", err)
	}
	return nats.Nkey(pub, kp.Sign), nil
}
