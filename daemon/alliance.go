package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"phalanx/alliance"
	"phalanx/charter"
	"phalanx/fabric"
	"phalanx/identity"
)

// Files of an alliance member in the data directory.
const (
	// fileRouteSecret marks a member of a multi-host alliance: its
	// presence makes the member use the fabric with the other members.
	// Its contents grant nothing any more (fabric links authenticate by
	// the members' TLS certificates, pinned by the charter); a data
	// directory from before keeps its file and starts as it did.
	fileRouteSecret = "fabric.secret"
	// filePendingAmendment holds the amendment that admitted a joining
	// member until the member has published it.
	filePendingAmendment = "amendment.pending"
	// maxReplicas is how many members keep a copy of the report stream.
	maxReplicas = 3
)

// InitOptions configure InitAlliance.
type InitOptions struct {
	Name      string         // the alliance's name; default: the host name
	Fabric    string         // this member's fabric address "host:port" (charter.FabricPorts); may be set later by `run --fabric`
	Addresses []netip.Prefix // this member's own addresses (territory)
	Now       time.Time
	// Moved, when not nil, is told of each file of a plain member (one
	// that ran alone in dir) moved aside; see adopt.go.
	Moved func(path string)
}

// InitAlliance makes the data directory dir the founding member of a new
// alliance: it creates the identity, a charter listing this member alone
// (founding, every scenario decisive), and the fabric.secret file that
// marks a member of a multi-host alliance (random; it authenticates
// nothing). It refuses a data directory that already holds an alliance's
// member; one that ran as a member alone (see adopt.go) becomes the founder.
func InitAlliance(dir string, o InitOptions) (charter.Charter, error) {
	plain, isPlain, err := plainCharter(dir)
	if err != nil {
		return charter.Charter{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return charter.Charter{}, fmt.Errorf("create data directory: %w", err)
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, fileIdentity))
	if err != nil {
		return charter.Charter{}, fmt.Errorf("identity: %w", err)
	}
	host, _ := os.Hostname()
	name := o.Name
	if name == "" {
		name = sanitizeName(host)
	}
	founder := charter.NewMember(host, id.Public, o.Addresses...)
	founder.Fabric = o.Fabric
	c := charter.Default(name, founder)
	if isPlain { // what the operator set for the member alone holds for the alliance
		c.Territory, c.Policy, c.Limits, c.Fleet = plain.Territory, plain.Policy, plain.Limits, plain.Fleet
	}
	if err := setSalt(&c); err != nil {
		return charter.Charter{}, err
	}
	if err := c.Validate(); err != nil {
		return charter.Charter{}, fmt.Errorf("charter: %w", err)
	}
	if isPlain {
		if err := moveAside(dir, o.Now, o.Moved); err != nil {
			return charter.Charter{}, err
		}
	}
	if err := writeCharter(dir, &c); err != nil {
		return charter.Charter{}, err
	}
	if err := seedCharterChain(dir, &c); err != nil { // the start of the signed history (tamper.go)
		return charter.Charter{}, fmt.Errorf("start the signed charter history: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return charter.Charter{}, fmt.Errorf("route secret: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, fileRouteSecret), []byte(hex.EncodeToString(raw[:])+"\n"), 0o600); err != nil {
		return charter.Charter{}, fmt.Errorf("write route secret: %w", err)
	}
	return c, nil
}

// sanitizeName turns a host name into a valid alliance name.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= charter.MaxNameLen {
			break
		}
	}
	if b.Len() == 0 {
		return "phalanx"
	}
	return b.String()
}

func writeCharter(dir string, c *charter.Charter) error {
	data, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("charter: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, fileCharter), data, 0o644); err != nil {
		return fmt.Errorf("write charter: %w", err)
	}
	return nil
}

// readRouteSecret returns the contents of fabric.secret (see
// fileRouteSecret), or "" for a member that is not in a multi-host
// alliance.
func readRouteSecret(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileRouteSecret))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read route secret (run as the daemon's user): %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return "", fmt.Errorf("route secret %s is too short: copy it again from another member", filepath.Join(dir, fileRouteSecret))
	}
	return s, nil
}

// Invite records a one-time invitation in data directory dir and returns
// its join token. The member must be founding, clustered (InitAlliance or
// a join made it so) and some member must have a fabric address.
func Invite(dir string, ttl time.Duration, now time.Time) (alliance.Token, error) {
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return alliance.Token{}, fmt.Errorf("invite lifetime %v: use 1s to 720h", ttl)
	}
	secret, err := readRouteSecret(dir)
	if err != nil {
		return alliance.Token{}, err
	}
	if secret == "" {
		return alliance.Token{}, fmt.Errorf("%s is not a member of a multi-host alliance: create one with `phalanx alliance init --data DIR --fabric HOST:PORT` in a new data directory", dir)
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, fileIdentity))
	if err != nil {
		return alliance.Token{}, fmt.Errorf("identity: %w", err)
	}
	c, err := charter.Load(filepath.Join(dir, fileCharter))
	if err != nil {
		return alliance.Token{}, err
	}
	me, _, ok := c.Member(id.ID)
	if !ok || !me.Founding {
		return alliance.Token{}, errors.New("only founding members may invite: run `phalanx alliance invite` on a founding member")
	}
	addrs := fabricClients(&c)
	if len(addrs) == 0 {
		return alliance.Token{}, errors.New("no member has a fabric address yet: start this member with `phalanx run --fabric HOST:PORT` first")
	}
	tok, err := alliance.NewToken(id, &c, addrs, now.Add(ttl), rand.Reader)
	if err != nil {
		return alliance.Token{}, err
	}
	err = alliance.AddInvite(dir, alliance.Invite{ID: tok.InviteID(), PublicKey: tok.InviteKey(), Created: now, Expires: tok.Expires})
	if err != nil {
		return alliance.Token{}, fmt.Errorf("record invite: %w", err)
	}
	return tok, nil
}

// fabricClients returns the members' fabric client addresses, founding
// members first.
func fabricClients(c *charter.Charter) []string {
	return fabricAddrs(c, "", func(a string) (string, error) { client, _, err := charter.FabricPorts(a); return client, err })
}

// fabricAddrs returns, for every member with a fabric address, scheme
// followed by what port makes of that address, founding members first.
func fabricAddrs(c *charter.Charter, scheme string, port func(fabric string) (string, error)) []string {
	var first, rest []string
	for _, m := range c.Members {
		if m.Fabric == "" {
			continue
		}
		a, err := port(m.Fabric)
		if err != nil {
			continue
		}
		if m.Founding {
			first = append(first, scheme+a)
		} else {
			rest = append(rest, scheme+a)
		}
	}
	return append(first, rest...)
}

// JoinOptions configure Join.
type JoinOptions struct {
	Token     string
	Name      string         // for people; default the host name
	Fabric    string         // this member's fabric address "host:port"; "" joins as a leaf member, attached to those that have one
	Addresses []netip.Prefix // this member's own addresses (territory)
	Now       time.Time
	Moved     func(path string) // as InitOptions.Moved
}

// joinable checks, without touching the network or dir, that dir may
// join with o: it returns the token, or already when dir belongs to the
// token's alliance (a restart with --join still given).
func joinable(dir string, o JoinOptions) (tok alliance.Token, already bool, err error) {
	tok, err = alliance.ParseToken(o.Token, o.Now)
	if _, plain, perr := plainCharter(dir); plain || perr != nil && !errors.Is(perr, errAllianceMember) {
		if perr != nil {
			return tok, false, perr
		}
		if err != nil {
			return tok, false, fmt.Errorf("join token: %w", err)
		}
		return tok, false, nil // a plain member joins: Join moves its own stream and charter aside
	}
	if c, lerr := charter.Load(filepath.Join(dir, fileCharter)); lerr == nil {
		if c.Name == tok.Alliance || err != nil && strings.Contains(err.Error(), "expired") {
			return tok, true, nil
		}
		return tok, false, fmt.Errorf("%s already belongs to alliance %q: join with a new data directory (--data DIR)", dir, c.Name)
	}
	if err != nil {
		return tok, false, fmt.Errorf("join token: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dirFabric)); err == nil {
		return tok, false, fmt.Errorf("%s has run as a member of its own before: join with a new data directory (--data DIR)", dir)
	}
	if o.Fabric != "" {
		if _, _, err := charter.FabricPorts(o.Fabric); err != nil {
			return tok, false, fmt.Errorf("--fabric: %w", err)
		}
	}
	return tok, false, nil
}

// Join makes data directory dir a new member of the alliance that issued
// the token: it creates the identity, asks a member named in the token to
// admit it, checks the reply against the token, and stores the charter that
// lists it, the fabric.secret marker, and the amendment that admitted it (which the
// daemon publishes when it first runs). A data directory that already
// belongs to the token's alliance is left as it is, so `run --join` may
// stay in a service file.
func Join(ctx context.Context, dir string, o JoinOptions) (joined bool, err error) {
	tok, already, err := joinable(dir, o)
	if already || err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create data directory: %w", err)
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, fileIdentity))
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	name := o.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	req, err := alliance.NewJoinRequest(id, name, o.Addresses, o.Fabric, tok)
	if err != nil {
		return false, err
	}
	raw, err := fabric.RequestJoin(ctx, tok.Fabric, tok.InviteSeed, req.Marshal())
	if err != nil {
		return false, fmt.Errorf("join: %w", err)
	}
	reply, err := alliance.ParseJoinReply(raw)
	if err != nil {
		return false, fmt.Errorf("join reply: %w", err)
	}
	if reply.Error != "" {
		return false, fmt.Errorf("join refused: %s", reply.Error)
	}
	c, am, err := reply.Accept(tok, id)
	if err != nil {
		return false, fmt.Errorf("join reply: %w", err)
	}
	if _, plain, _ := plainCharter(dir); plain {
		if err := moveAside(dir, o.Now, o.Moved); err != nil {
			return false, err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, fileRouteSecret), []byte(reply.RouteSecret+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write route secret: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, filePendingAmendment), am.Marshal(), 0o600); err != nil {
		return false, fmt.Errorf("write amendment: %w", err)
	}
	if err := writeCharter(dir, &c); err != nil {
		return false, err
	}
	if reply.History != nil {
		// Best effort: a history that does not verify is left out, and
		// the console's charter history starts after this member joined.
		keepJoinHistory(dir, reply.History, am)
	}
	if err := sealJoin(dir, &c); err != nil { // tamper.go
		return false, fmt.Errorf("start the signed charter history: %w", err)
	}
	return true, nil
}

// fabricOptions derives the clustered fabric's options from the charter.
func (d *Daemon) fabricOptions(secret string) (fabric.Options, error) {
	dc := d.opts.Config.Daemon
	o := fabric.Options{
		DataDir:    filepath.Join(d.opts.DataDir, dirFabric),
		SyncAlways: dc.SyncAlways,
		Logger:     d.log.With("component", "fabric"),
	}
	if secret == "" {
		if dc.FabricCA != "" {
			d.log.Warn("daemon.fabric_ca and fabric_cert are not used: this member is alone, its fabric has no links to other hosts")
		}
		o.Listen = dc.Fabric
		return o, nil
	}
	c := &d.charter().c
	me, _, _ := c.Member(d.id.ID)
	o.Name = d.id.ID
	o.Seed = d.id.Seed()
	o.Members = fabricMembers(c)
	ca, err := d.operatorCA()
	if err != nil {
		return o, err
	}
	o.OperatorCA = ca
	if me.Fabric == "" {
		// A leaf member: its server attaches to the members that keep the
		// stream (those with a fabric address) and keeps none itself.
		o.Hub = fabricAddrs(c, "nats://", charter.FabricLeaf)
		if len(o.Hub) == 0 {
			return o, errors.New("no member of the charter has a fabric address: start this member with --fabric HOST:PORT, or give one to a founding member")
		}
		return o, nil
	}
	client, route, err := charter.FabricPorts(me.Fabric)
	if err != nil {
		return o, fmt.Errorf("charter: this member's fabric: %w", err)
	}
	leaf, _ := charter.FabricLeaf(me.Fabric)
	o.Listen, o.Cluster, o.LeafListen = client, route, leaf
	o.Routes = routeURLs(c)
	o.Replicas = replicas(c)
	dir := d.opts.DataDir
	o.Guest = func(pub ed25519.PublicKey) bool { return alliance.ValidInvite(dir, pub, time.Now()) }
	return o, nil
}

func routeURLs(c *charter.Charter) []string {
	return fabricAddrs(c, "nats://", func(a string) (string, error) { _, route, err := charter.FabricPorts(a); return route, err })
}

func replicas(c *charter.Charter) int {
	return max(1, min(maxReplicas, len(routeURLs(c))))
}

func fabricMembers(c *charter.Charter) []fabric.Member {
	out := make([]fabric.Member, 0, len(c.Members))
	for _, m := range c.Members {
		if _, pub, ok := c.Member(m.ID); ok {
			out = append(out, fabric.Member{ID: m.ID, PublicKey: pub, Hub: m.Fabric != ""})
		}
	}
	return out
}

// setOwnFabric records --fabric in the charter of a member that is alone
// in its alliance; a member with others needs an amendment instead.
func (d *Daemon) setOwnFabric(addr string) error {
	next, changed, err := withOwnFabric(d.charter().c, d.id.ID, addr)
	if !changed || err != nil {
		return err
	}
	if err := d.sealOwnFabric(&d.charter().c, &next); err != nil { // tamper.go
		return err
	}
	if err := writeCharter(d.opts.DataDir, &next); err != nil {
		return err
	}
	d.setCharter(next)
	d.log.Info("recorded this member's fabric address in the charter", "fabric", addr, "version", next.Version)
	return nil
}

// withOwnFabric returns charter cur with member id's fabric address set to
// addr (--fabric), and whether that changed it; it refuses a change that
// takes an amendment (other members) or an invalid address.
func withOwnFabric(cur charter.Charter, id, addr string) (charter.Charter, bool, error) {
	me, _, _ := cur.Member(id)
	if addr == "" || me.Fabric == addr {
		return cur, false, nil
	}
	if _, _, err := charter.FabricPorts(addr); err != nil {
		return cur, false, fmt.Errorf("--fabric: %w", err)
	}
	if len(cur.Members) > 1 {
		return cur, false, fmt.Errorf("--fabric %s differs from this member's fabric address in the charter (%s); with other members, that takes a charter amendment: run without --fabric", addr, me.Fabric)
	}
	next := cur
	next.Members = []charter.Member{me}
	next.Members[0].Fabric = addr
	next.Version++
	if err := next.Validate(); err != nil {
		return cur, false, fmt.Errorf("charter: %w", err)
	}
	return next, true, nil
}
