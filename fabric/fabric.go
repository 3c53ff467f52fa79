// Package fabric is phalanx's only door to NATS: it embeds a nats-server with
// JetStream in the process, keeps the durable report stream "PHALANX" in a
// file store under the data directory, publishes reports on a plain-subject
// fast path and durably on the stream (retrying with the same message id so
// the stream's duplicate window makes retries safe), and delivers both to a
// consumer in stream order.
//
// It must not interpret what it carries: it neither decodes nor verifies
// reports, and it does not decide anything. No other package of phalanx may
// import NATS; they see only the Fabric's methods: Publish, Consume,
// LastSeq and Ready for reports; SetMembers and SetReplicas for charter
// amendments; ServeJoin and RequestJoin for joining; Serve and Request
// between members.
//
// What it does about the pitfalls measured in DESIGN.md ("The fabric"):
//   - the server installs no signal handlers and keeps no global state, so
//     two Fabrics run in one process;
//   - the file store syncs every SyncInterval (1 s by default, not nats'
//     2 minutes), or after every write with SyncAlways;
//   - publishing is synchronous per report and retried with the same
//     Nats-Msg-Id under short timeouts, so a lost ack never loses a report;
//   - consumers are pull consumers with short expiry and 1 s idle
//     heartbeats, recreated from the next sequence after a gap, so a lost
//     connection stalls them for seconds, not 30 s, and a link's return
//     (WaitLinkUp) ends their wait at once;
//   - every server pings its routes, leaf links and clients every second
//     and closes a link silent for 4 (linkPing), so that after a partition
//     the link is dialed again within 1.5 s instead of waiting for TCP's
//     next retransmission (its backoff doubles: 25 s after a 30 s cut);
//   - an out-of-space store (nats-server then disables JetStream) is
//     reported as ErrStoreDisabled at once, not as an endless retry;
//   - a data directory is locked while a Fabric uses it: two servers on one
//     store would corrupt it;
//   - a server stuck on a store or Raft error (JetStream switched off, a
//     Raft node stopped by a failed write, the stream without a leader) is
//     restarted in-process by the health watch (Watch, Health), with
//     backoff, once file descriptors are free again.
//
// Cluster mode (Options.Cluster, Routes, Replicas) joins the members'
// embedded servers into one NATS cluster, ClusterName, with JetStream
// clustering: the stream is created once, by whichever member gets there
// first, with up to Options.Replicas copies, and raised to that many when
// enough members are up. SetReplicas changes the wanted copies while the
// Fabric runs (the alliance grows from one member to three); only it
// lowers them, never a restart with a smaller Options.Replicas. Plain
// fast-path subjects flow over the routes at once; the stream needs a
// JetStream meta leader, that is a majority of the members, so a
// clustered Start returns before the stream is usable and Ready waits
// for it. A member that was down catches up from the stream's
// other replicas when it returns.
//
// Authentication (Options.Members and Seed) is opt-in: with it, only the
// members' nkey users (their ed25519 keys) may use the client listener
// (over TLS, see below),
// each may publish only its own reports, and none may create, change,
// delete or purge the stream. The in-process connection authenticates as
// this member.
//
// Members change while the Fabric runs: SetMembers replaces them (charter
// amendments add and remove members); a removed member's connections are
// closed at once and it cannot connect again, an added one can connect at
// once. To make that possible the server authenticates clients through
// nats-server's CustomClientAuthentication hook (with AlwaysEnableNonce),
// not its static nkey users: the hook verifies the nkey signature of the
// server's nonce itself, looks the key up in the current member set, and
// remembers each member's connections so that SetMembers can close them.
// ReloadOptions could swap static nkey users too, but it re-applies the
// whole server configuration (cluster, JetStream, leaf nodes) to change
// one list, and cannot ask the daemon about an unknown key at connect
// time, which guests need.
//
// Guests join (Options.Guest, ServeJoin, RequestJoin): a new member dials
// a member's fabric address with the invite's key as its nkey; when Guest
// accepts that key, the connection may only publish one subject,
// JoinPrefix+identity.MemberID(invite key), and receive the answer on its
// own inbox, for two minutes. ServeJoin hands those requests to the
// daemon, one at a time, on the in-process stream manager's connection
// (members can neither read nor answer join requests), and answers only
// to the guest's own inbox.
//
// Members ask each other (Serve, Request; gap repair): requests to member
// M of kind K travel on RequestPrefix+M+"."+K. A member may send requests
// to anyone but subscribe only to its own request subjects, and it
// answers through nats-server's response permission (once, within a
// minute, to the reply subject of a request it received), not through a
// right to publish on any inbox. Requests are at most MaxRequestSize,
// answers MaxReplySize.
//
// Every network link is TLS 1.3 when the members are known
// (Options.Members): client connections, cluster routes and leaf
// connections, each with the handshake first, so that not even
// nats-server's INFO (server names, addresses) crosses in clear text.
// Each server presents a self-signed certificate made at Start from its
// member's ed25519 identity (Options.Seed); there is no CA. A link between
// servers is accepted only when the other side's certificate holds the key
// of a member the current member set lists: a hub member's (Member.Hub) for
// a cluster route, either way, and for the hub a leaf member dials; any
// member's for a leaf connection a hub accepts, whose leaf CONNECT must
// then sign with that same key. There is no shared route secret: a route
// is as good as the private key of a hub member. The check reads the
// member set SetMembers swapped in, so a removed member's key is refused
// from the next handshake on; SetMembers also closes the links it has
// (see closeStaleLinks). Clients present no certificate: the nkey gate
// above decides; a guest, who knows no member key yet, accepts any member
// certificate (RequestJoin). nats-server lets a brand-new cluster elect
// its first JetStream meta leader only when every server in Routes is up,
// so a new alliance starts with the routes of the members that exist.
// Without Members nothing is encrypted nor authenticated: keep every
// listener on loopback then.
//
// Leaf nodes scale the fabric out: a hub of a few clustered members keeps
// the stream (Options.LeafListen accepts leaf connections, authenticated
// with member nkeys like clients), and the other members' servers attach
// to it as leaf nodes (Options.Hub) without JetStream of their own. The
// hub's servers run JetStream in the domain HubDomain; a leaf member
// reaches the stream's API as $JS.<HubDomain>.API (nats-server never
// forwards the plain $JS.API over a leaf connection of an ordinary
// account), and its reports, fast-path messages and consumer deliveries
// flow over the leaf connection, which the leaf member opens only to a
// server that proves a hub member's key. A leaf connection has a member's
// permissions, as the leaf sees them; nats-server applies no response
// permissions to leaf connections, so Serve on a leaf member cannot
// answer (its Requests work).
//
// Power loss and damaged files are still possible; phalanx does not rest
// "nothing lost" on the fabric alone (members keep an outbox and detect
// gaps), so a damaged stream delays a decision but must not stop a member
// from starting. Start therefore comes up on a damaged store, keeping what
// nats-server can recover, and logs what it could not.
package fabric

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// Names on the wire. Members publish reports on ReportPrefix+member; the
// stream StreamName stores them. FastPrefix+member carries the same bytes
// on plain NATS, delivered at once and never stored.
const (
	StreamName   = "PHALANX"
	ReportPrefix = "phalanx.report."
	FastPrefix   = "phalanx.fast."
	// JoinPrefix+invite carries a guest's join request (see ServeJoin and
	// RequestJoin); invite is identity.MemberID of the invite's key.
	JoinPrefix = "phalanx.join."
	// RequestPrefix+member+"."+kind carries requests to member (see Serve
	// and Request).
	RequestPrefix = "phalanx.req."
)

// MaxMessageSize is the largest report the fabric carries, in bytes. The
// stream refuses larger messages, and Consume drops larger fast-path
// messages (anyone who can publish on the fabric can send them).
const MaxMessageSize = 64 << 10

// MaxReplySize is the largest answer Serve sends and Request accepts.
const MaxReplySize = 1 << 20

// maxHeaderSize is the room the stream's size limit leaves for headers
// (Nats-Msg-Id and the like) on top of MaxMessageSize.
const maxHeaderSize = 1 << 10

// Defaults for Options.
const (
	DefaultMaxAge       = 8 * 24 * time.Hour
	DefaultSyncInterval = time.Second
)

const (
	// duplicateWindow is how long the stream remembers message ids. It must
	// outlast Publish's retries; receivers dedupe by report id beyond it.
	duplicateWindow    = 10 * time.Minute
	minDuplicateWindow = 2 * time.Minute
	// readyTimeout bounds how long Start waits for the server when ctx has
	// no deadline.
	readyTimeout = 10 * time.Second
	// apiTimeout bounds one JetStream API request on the in-process
	// connection (stream info, stream create).
	apiTimeout = 5 * time.Second
	// drainTimeout bounds how long Close waits for the client to drain.
	drainTimeout = 5 * time.Second
	// leafReconnect is how soon a leaf member dials the hub again after a
	// failed attempt; nats-server adds up to as much again at random, so
	// the attempts of many leaf members spread out. An attempt at a hub
	// that does not answer lasts the 1 s dial timeout on top: a leaf
	// member that lost its hub tries every 1.25 to 1.5 s, one that is
	// refused at once every 0.25 to 0.5 s. (At 500 ms, a leaf member came
	// back up to 1.9 s after the network did.)
	leafReconnect = 250 * time.Millisecond
	// linkPing and linkMaxPingsOut are how a server notices that a link
	// (a cluster route, a leaf connection, a client's) went silent: a
	// PING every linkPing, the link closed when linkMaxPingsOut are
	// unanswered, 4 to 5 s after the silence began (nats-server's
	// defaults: 2 minutes, at most 30 s on routes, two pings out). A link
	// left open across a partition waits, once the network is back, for
	// TCP's next retransmission, whose backoff doubles: measured in
	// namespaces, 3.3 s after a 10 s cut, 7.1 s after 20 s, 25 s after
	// 30 s. A link closed in time is dialed again every 1.25 s (routes,
	// see routeRedial) or 1.25 to 1.5 s (leaf links, leafReconnect)
	// instead, and heals within one attempt.
	// Generous enough for a PONG queued behind a few seconds of data.
	linkPing        = time.Second
	linkMaxPingsOut = 4
)

// ErrClosed is returned by calls on a Fabric after Close.
var ErrClosed = errors.New("fabric is closed")

// ErrStoreDisabled means nats-server switched JetStream off, which it does
// when a write to its store fails for lack of disk space. Nothing more can be
// stored until the health watch (Watch) restarts the embedded server.
var ErrStoreDisabled = errors.New("fabric store is disabled (nats-server turns JetStream off when a write to the store fails, e.g. when the disk under the data directory is full): free disk space; the health watch restarts the embedded server (see phalanx status)")

// Options configure Start. Zero values mean the documented defaults.
type Options struct {
	// DataDir holds the JetStream file store (in DataDir/jetstream) and a
	// lock file. Required. Created if missing.
	DataDir string
	// Listen is "" for no network listener at all (in-process connections
	// only), or "host:port" to also accept NATS clients there; port 0 picks
	// a free port (see ClientURL). A clustered Fabric always listens: ""
	// then means a free port on 127.0.0.1, since nats-server does not
	// start routing without a client listener. Without Members anyone
	// who reaches it may connect and do anything: keep it on loopback
	// then.
	Listen string
	// MaxAge is how long the stream keeps reports; default DefaultMaxAge
	// (longer than the longest ban). At least 2 minutes.
	MaxAge time.Duration
	// SyncAlways fsyncs every write before it is acknowledged. Without it
	// an acknowledged write survives a crash of the process (it is in the
	// page cache) but not a power loss within SyncInterval.
	SyncAlways bool
	// SyncInterval is how often the store is fsynced when SyncAlways is
	// off; default DefaultSyncInterval.
	SyncInterval time.Duration
	// Logger receives the server's warnings and errors (its notices at
	// debug level). Nil discards them.
	Logger *slog.Logger

	// Name is the server's name, unique among the members of a cluster
	// (1 to 128 letters, digits, '-' or '_'); the member id is a good
	// choice. Default: derived from DataDir, so it stays the same across
	// restarts on the same data directory. JetStream's Raft groups know a
	// server by it: do not change it once a member has joined.
	Name string
	// Cluster is "" for a fabric of this member alone, or "host:port"
	// where this server accepts cluster routes from the other members'
	// servers (port 0 picks a free port, see ClusterURL). All members
	// then form the NATS cluster ClusterName with JetStream clustering.
	// With Members, routes run over TLS and are accepted only from hub
	// members' servers (see Member.Hub); without, they are neither
	// encrypted nor authenticated: keep Cluster on loopback then.
	Cluster string
	// Routes are the other members' cluster addresses, e.g.
	// "nats://127.0.0.1:6222"; it may also list this member's own, so
	// every member can be given the same list. Required with Cluster: a
	// clustered JetStream server needs at least one configured route.
	Routes []string
	// Replicas is how many members keep a copy of the stream: 1 by
	// default, 3 once three members exist. The stream is created with as
	// many replicas as the cluster can place (at most Replicas) and
	// updated to Replicas when enough members are up. More than 1 needs
	// Cluster. SetReplicas changes it while the Fabric runs.
	Replicas int
	// Seed is this member's 32-byte ed25519 seed (its identity). It is
	// used only with Members: the in-process connection then
	// authenticates as this member's nkey user, so Publish works only for
	// this member's id, and the server's TLS certificate holds its key.
	Seed []byte
	// Members, when not empty, switches on authentication on the client
	// listener: only these members' nkey users (their ed25519 keys) may
	// connect, and each may publish only its own reports (ReportPrefix+ID
	// and FastPrefix+ID), read stream info, run a few pull consumers of
	// its own on the stream, subscribe to everyone's reports and receive
	// answers on its own inboxes (see memberPermissions). No member may
	// create, update, delete or purge the stream; this Fabric creates and
	// updates it on a separate in-process-only connection. Seed's public
	// key must be among them. SetMembers replaces them while the Fabric
	// runs. With Members every network link runs TLS 1.3 with this
	// member's certificate, and links between servers accept only
	// members' keys (see the package documentation).
	Members []Member
	// Guest, with Members, admits a client whose nkey is not a member's
	// when Guest(its public key) reports true: a guest may only publish
	// its join request on JoinPrefix+identity.MemberID(key) and receive
	// the answer on its own inboxes, for at most 2 minutes (see
	// RequestJoin and ServeJoin). Guest is called on every such connect,
	// from nats-server's goroutines, and must be quick and safe for
	// concurrent use. Nil admits no guests. Guests cannot attach as leaf
	// nodes.
	Guest func(pub ed25519.PublicKey) bool
	// OperatorCA, with Members, makes every link between servers (routes,
	// leaf links) also require a certificate the operator's CA issued for
	// the peer's member key: this server presents the one it issued for
	// Seed's key, and refuses a peer whose chain does not lead to the CA
	// or is not valid now, whatever its key (see tls_ca.go). Nil: the
	// members' keys alone decide.
	OperatorCA *OperatorCA

	// LeafListen is "" for none, or "host:port" where this server accepts
	// leaf node connections from members' servers (their Options.Hub);
	// port 0 picks a free port (see LeafURL). Leaf nodes authenticate
	// with member nkeys and get a member's permissions; needs Members.
	LeafListen string
	// Hub lists the leaf URLs ("nats://host:port") of a hub cluster's
	// servers (their LeafListen). This member's server then connects to
	// the hub as a leaf node, authenticated with Seed's key, and keeps no
	// stream of its own: the stream lives in the hub (JetStream domain
	// HubDomain) and Publish, Consume, LastSeq and Ready go through the
	// leaf connection, over TLS, to a server that proves a hub member's
	// key. Needs Seed and Members; excludes Cluster and LeafListen.
	Hub []string

	// Health paces the health watch (see Watch).
	Health HealthOptions
}

// HubDomain is the JetStream domain of the servers that keep the stream;
// leaf members (Options.Hub) reach the stream's API through it.
const HubDomain = "phalanx"

// ClusterName is the name of the NATS cluster the members' servers form.
const ClusterName = "phalanx"

// maxReplicas is JetStream's limit on stream replicas.
const maxReplicas = 5

// Fabric is an embedded NATS server with the report stream, and an
// in-process client connected to it. Its methods are safe for concurrent
// use.
type Fabric struct {
	log        *slog.Logger
	srvMu      sync.RWMutex   // guards srv and so, which a restart replaces (see server)
	srv        *server.Server // the running server; read it with server()
	nc         *nats.Conn
	js         jetstream.JetStream
	adminNC    *nats.Conn          // in-process connection that manages the stream, when auth is on
	adminJS    jetstream.JetStream // creates and updates the stream: js without auth
	self       string              // this member's id with Members, else ""
	auth       *auth
	clientURL  string
	clusterURL string
	name       string
	dataDir    string
	unlock     func() error
	clustered  bool
	leaf       bool // Options.Hub: the stream lives in the hub
	leafURL    string
	so         *server.Options // what the server started with
	opts       Options         // Start's, with the ports bound at Start, for restarts
	healthOpts HealthOptions
	health     healthState
	restartMu  sync.Mutex  // one restart at a time; Close waits for it
	restarting atomic.Bool // a restart is under way: the server is away for a moment
	swapping   atomic.Bool // the old server is shutting down, the new one not in place
	linkMu     sync.Mutex  // one closeStaleLinks at a time

	consumers consumerSlots // this member's consumer names (consume.go)
	noise     noiseCounts   // auth failures and the like, across restarts (log.go)

	cfgMu         sync.Mutex
	streamCfg     jetstream.StreamConfig // the wanted stream; Replicas changes with SetReplicas
	lowerReplicas bool                   // SetReplicas was called: the stream may shrink
	kick          chan struct{}          // wakes keepStream after SetReplicas
	tasks         sync.WaitGroup         // background work Close waits for

	life      context.Context // cancelled by Close
	end       context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	ncClosed  chan struct{} // closed when the client connection is closed
}

// Start runs an embedded nats-server with JetStream on o.DataDir, waits
// until it accepts connections, creates or updates the stream, and connects
// an in-process client. ctx bounds the start-up (10 s when it has no
// deadline); cancelling it later does not stop the Fabric — Close does.
//
// A clustered Fabric (Options.Cluster) does not wait for the stream: it
// creates it in the background once a majority of the members are up. Call
// Ready to wait for that; Publish and Consume wait (retry) on their own.
func Start(ctx context.Context, o Options) (*Fabric, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	au, err := newAuth(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create fabric data directory: %w", err)
	}
	unlock, err := lockDir(o.DataDir)
	if err != nil {
		return nil, err
	}
	life, end := context.WithCancel(context.Background())
	f := &Fabric{
		log:       o.Logger,
		dataDir:   o.DataDir,
		name:      o.Name,
		clustered: o.Cluster != "",
		leaf:      len(o.Hub) > 0,
		streamCfg: streamConfig(o),
		unlock:    unlock,
		life:      life,
		end:       end,
		ncClosed:  make(chan struct{}),
		kick:      make(chan struct{}, 1),
		auth:      au,
	}
	if au != nil {
		f.self = au.self
	}
	if f.healthOpts, err = o.Health.withDefaults(); err != nil {
		end()
		unlock()
		return nil, err
	}
	if err := f.start(ctx, o); err != nil {
		end()
		f.shutdown()
		return nil, err
	}
	return f, nil
}

// server returns the embedded server running now (a restart replaces it).
func (f *Fabric) server() *server.Server {
	f.srvMu.RLock()
	defer f.srvMu.RUnlock()
	return f.srv
}

// pinPorts makes o listen where the first server bound (port 0 picks a
// free port once), so that a restarted server is found where the other
// members and clients knew it.
func (f *Fabric) pinPorts(o Options) Options {
	srv := f.server()
	pin := func(addr string, port int) string {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || port <= 0 {
			return addr
		}
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	if a, ok := srv.Addr().(*net.TCPAddr); ok && !f.so.DontListen {
		listen := o.Listen
		if listen == "" {
			listen = "127.0.0.1:0" // see serverOptions
		}
		o.Listen = pin(listen, a.Port)
	}
	if a := srv.ClusterAddr(); a != nil && o.Cluster != "" {
		o.Cluster = pin(o.Cluster, a.Port)
	}
	if u, err := url.Parse(f.leafURL); err == nil && o.LeafListen != "" {
		p, _ := strconv.Atoi(u.Port())
		o.LeafListen = pin(o.LeafListen, p)
	}
	return o
}

func (o Options) withDefaults() (Options, error) {
	if o.DataDir == "" {
		return o, errors.New("fabric: no data directory given: set Options.DataDir")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return o, fmt.Errorf("fabric data directory %q: %w", o.DataDir, err)
	}
	o.DataDir = abs
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxAge < minDuplicateWindow {
		return o, fmt.Errorf("fabric: MaxAge %v is shorter than the %v duplicate window: use at least %v", o.MaxAge, minDuplicateWindow, minDuplicateWindow)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.SyncInterval < 0 {
		return o, fmt.Errorf("fabric: negative SyncInterval %v: use a positive duration or 0 for the default", o.SyncInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		sum := sha256.Sum256([]byte(o.DataDir))
		o.Name = "phalanx-" + hex.EncodeToString(sum[:6])
	}
	if !ValidMember(o.Name) {
		return o, fmt.Errorf("fabric: invalid server name %q: use 1 to %d letters, digits, '-' or '_'", o.Name, maxMemberLen)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 1 || o.Replicas > maxReplicas {
		return o, fmt.Errorf("fabric: Replicas %d out of range: use 1 to %d", o.Replicas, maxReplicas)
	}
	if o.Cluster == "" && (o.Replicas > 1 || len(o.Routes) > 0) {
		return o, errors.New("fabric: Replicas above 1 and Routes need clustering: set Options.Cluster to the address this member accepts cluster routes on")
	}
	if o.Cluster != "" && len(o.Routes) == 0 {
		return o, errors.New("fabric: clustering needs the other members' cluster addresses: set Options.Routes (it may include this member's own)")
	}
	for _, r := range o.Routes {
		if _, ok := hostURL(r, "nats-route"); !ok {
			return o, fmt.Errorf("fabric: route %q: want nats://host:port, e.g. nats://10.0.0.2:6222", r)
		}
	}
	if o.LeafListen != "" && len(o.Members) == 0 {
		return o, errors.New("fabric: LeafListen needs authentication: set Options.Members and Options.Seed, so that only members attach as leaf nodes")
	}
	if len(o.Hub) > 0 {
		switch {
		case len(o.Seed) != ed25519.SeedSize:
			return o, fmt.Errorf("fabric: Hub needs this member's identity: set Options.Seed to its %d-byte ed25519 seed", ed25519.SeedSize)
		case len(o.Members) == 0:
			return o, errors.New("fabric: Hub needs the members: set Options.Members, so that the hub's servers can be told from others")
		case o.Cluster != "" || o.LeafListen != "":
			return o, errors.New("fabric: a leaf member (Options.Hub) keeps no stream: leave Cluster and LeafListen empty")
		}
		for _, h := range o.Hub {
			if u, ok := hostURL(h, "nats-leaf"); !ok || u.User != nil {
				return o, fmt.Errorf("fabric: hub %q: want nats://host:port (a hub server's leaf address), e.g. nats://10.0.0.2:7422", h)
			}
		}
	}
	return o, nil
}

// hostURL parses s and reports whether it is a URL "nats://host:port" (or
// with scheme alt instead of nats) with no path.
func hostURL(s, alt string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, false
	}
	return u, u.Host != "" && u.Port() != "" && (u.Scheme == "nats" || u.Scheme == alt) && (u.Path == "" || u.Path == "/")
}

// hostPort splits a listen address "host:port" for nats-server: an empty
// host means all interfaces, port 0 a free port.
func hostPort(what, addr, example string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("fabric %s address %q: %w (want host:port, e.g. %s)", what, addr, err, example)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("fabric %s address %q: port must be a number from 0 to 65535", what, addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if p == 0 {
		return host, server.RANDOM_PORT, nil // nats-server reads port 0 as its default port
	}
	return host, int(p), nil
}

// serverOptions builds the nats-server options for o.
func serverOptions(o Options, au *auth) (*server.Options, error) {
	so := &server.Options{
		ServerName:   o.Name,
		JetStream:    true,
		StoreDir:     o.DataDir,
		SyncInterval: o.SyncInterval,
		SyncAlways:   o.SyncAlways,
		NoSigs:       true, // the daemon owns signals; handlers are process-global
		MaxPayload:   MaxReplySize + maxHeaderSize,
		PingInterval: linkPing, // leaf links and clients (see linkPing)
		MaxPingsOut:  linkMaxPingsOut,
	}
	so.Cluster.PingInterval, so.Cluster.MaxPingsOut = linkPing, linkMaxPingsOut
	if len(o.Hub) > 0 {
		so.JetStream = false // the stream lives in the hub
		kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, o.Seed)
		if err != nil {
			return nil, fmt.Errorf("fabric: nkey from seed: %w", err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("fabric: nkey seed: %w", err)
		}
		// No compression on leaf links: nats-server's automatic mode picks
		// heavier levels as round trips grow, which under load turns a
		// busy member's CPU into more load (measured: s2_best on loopback
		// links took 14% of a 50-member simulation's CPU). Reports are
		// small and already dense.
		remote := &server.RemoteLeafOpts{Nkey: string(seed), Compression: server.CompressionOpts{Mode: server.CompressionOff},
			TLSConfig: au.tls.leafDial, TLSTimeout: tlsTimeout, TLSHandshakeFirst: true}
		for _, h := range o.Hub {
			u, _ := url.Parse(h) // checked by withDefaults
			remote.URLs = append(remote.URLs, u)
		}
		so.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
		so.LeafNode.ReconnectInterval = leafReconnect
	} else {
		so.JetStreamDomain = HubDomain
	}
	if o.LeafListen != "" {
		host, port, err := hostPort("leaf", o.LeafListen, "127.0.0.1:7422")
		if err != nil {
			return nil, err
		}
		so.LeafNode.Host = host
		so.LeafNode.Port = port
		so.LeafNode.Compression = server.CompressionOpts{Mode: server.CompressionOff}
		so.LeafNode.TLSConfig = au.tls.leafAccept
		so.LeafNode.TLSTimeout = tlsTimeout
		so.LeafNode.TLSHandshakeFirst = true // no INFO in clear text before it
	}
	if au != nil {
		so.CustomClientAuthentication = au.gate
		so.AlwaysEnableNonce = true // the gate verifies nkey signatures of the nonce
		so.TLSConfig = au.tls.client
		so.TLSTimeout = tlsTimeout
		// The handshake comes first: nats-server's INFO names the server
		// and the members' addresses. In-process connections, which do
		// no TLS, get it after a 50 ms wait.
		so.TLSHandshakeFirst = true
	}
	if o.Cluster != "" {
		host, port, err := hostPort("cluster", o.Cluster, "127.0.0.1:6222")
		if err != nil {
			return nil, err
		}
		so.Cluster.Name = ClusterName
		so.Cluster.Host = host
		so.Cluster.Port = port
		so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
		if au != nil {
			so.Cluster.TLSConfig = au.tls.route
			so.Cluster.TLSTimeout = tlsTimeout
			so.CustomRouterAuthentication = routeGate{au.trust}
		}
	}
	listen := o.Listen
	if listen == "" && (o.Cluster != "" || len(o.Hub) > 0) {
		// nats-server starts routing only once its client listener is up
		// (with DontListen it never does, and Shutdown then hangs).
		listen = "127.0.0.1:0"
	}
	if listen == "" {
		so.DontListen = true
		return so, nil
	}
	host, port, err := hostPort("listen", listen, "127.0.0.1:4222")
	if err != nil {
		return nil, err
	}
	so.Host = host
	so.Port = port
	return so, nil
}

func (f *Fabric) start(ctx context.Context, o Options) error {
	began := time.Now()
	srv, so, err := f.launch(ctx, o)
	if err != nil {
		return err
	}
	f.srvMu.Lock()
	f.srv, f.so = srv, so
	f.srvMu.Unlock()
	if err := f.connect(ctx, o, began); err != nil {
		return err
	}
	f.opts = f.pinPorts(o)
	return nil
}

// launch starts a server on o and waits until it accepts connections with
// JetStream on; on an error it shuts down what it started.
func (f *Fabric) launch(ctx context.Context, o Options) (*server.Server, *server.Options, error) {
	so, err := serverOptions(o, f.auth)
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, nil, fmt.Errorf("configure embedded nats-server: %w", err)
	}
	if f.auth != nil {
		f.auth.gate.reset(srv)
	}
	logs := newServerLogger(o.Logger, &f.noise)
	srv.SetLoggerV2(logs, o.Logger.Enabled(ctx, slog.LevelDebug), false, false)

	began := time.Now()
	srv.Start()
	fail := func(err error) (*server.Server, *server.Options, error) {
		srv.Shutdown()
		return nil, nil, err
	}
	deadline := time.Now().Add(readyTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	// Poll rather than wait once: when JetStream cannot start, nats-server
	// logs why and never becomes ready, and Start should say so at once.
	for !srv.ReadyForConnections(20 * time.Millisecond) {
		if msg := logs.fatal(); msg != "" {
			advice := storeAdvice(o.DataDir)
			if strings.Contains(strings.ToLower(msg), "listen") {
				advice = fmt.Sprintf("choose a free fabric listen address instead of %q", o.Listen)
				if o.Cluster != "" {
					advice = fmt.Sprintf("choose a free fabric listen address instead of %q and a free cluster address instead of %q", o.Listen, o.Cluster)
				}
			}
			return fail(fmt.Errorf("start embedded nats-server in %s: %s: %s", o.DataDir, msg, advice))
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("start embedded nats-server: %w", ctx.Err()))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("embedded nats-server in %s not ready after %v: check the log and that the listen address is free", o.DataDir, time.Since(began).Round(time.Millisecond)))
		}
	}
	if !srv.JetStreamEnabled() && !f.leaf {
		msg := logs.fatal()
		if msg == "" {
			msg = "jetstream is not enabled"
		}
		return fail(fmt.Errorf("start jetstream in %s: %s: %s", o.DataDir, msg, storeAdvice(o.DataDir)))
	}
	return srv, so, nil
}

// connect connects the in-process clients to the new server and creates
// the stream (a clustered Fabric: starts keeping it in the background).
func (f *Fabric) connect(ctx context.Context, o Options, began time.Time) error {
	srv, so := f.srv, f.so
	if a, ok := srv.Addr().(*net.TCPAddr); ok && !so.DontListen {
		f.clientURL = dialURL(a)
		if !a.IP.IsLoopback() && f.auth == nil {
			f.log.Warn("fabric listens beyond loopback without authentication: anyone who reaches it can read and publish reports",
				"listen", a.String())
		}
	}

	var self, admin nkeys.KeyPair
	if f.auth != nil {
		self, admin = f.auth.kp, f.auth.admin
	}
	nc, err := connectInProcess(currentServer{f}, "phalanx fabric", self,
		nats.CustomInboxPrefix(f.inbox()), // the member's own inboxes (auth.go)
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			f.log.Warn("fabric client error", "subject", subj, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(f.ncClosed) }),
	)
	if err != nil {
		return fmt.Errorf("connect to embedded nats-server: %w", err)
	}
	f.nc = nc
	var js jetstream.JetStream
	if f.leaf {
		js, err = jetstream.NewWithDomain(nc, HubDomain, jetstream.WithDefaultTimeout(apiTimeout))
	} else {
		js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(apiTimeout))
	}
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	f.js, f.adminJS = js, js
	if f.auth != nil {
		anc, err := connectInProcess(currentServer{f}, "phalanx fabric admin", admin)
		if err != nil {
			return fmt.Errorf("connect to embedded nats-server (stream manager): %w", err)
		}
		f.adminNC = anc
		if f.adminJS, err = jetstream.New(anc, jetstream.WithDefaultTimeout(apiTimeout)); err != nil {
			return fmt.Errorf("open jetstream (stream manager): %w", err)
		}
	}

	if o.LeafListen != "" {
		// nats-server has no accessor for the leaf listener's address; its
		// monitoring data carries the bound port.
		v, err := srv.Varz(&server.VarzOptions{})
		if err != nil {
			return fmt.Errorf("read leaf node address: %w", err)
		}
		f.leafURL = dialURL(&net.TCPAddr{IP: net.ParseIP(v.LeafNode.Host), Port: v.LeafNode.Port})
	}
	if f.leaf {
		// The hub keeps the stream: nothing to create here. Ready waits
		// until it is reachable through the leaf connection.
		f.log.Info("fabric started as a leaf of the hub",
			"name", o.Name, "data", o.DataDir, "listen", f.clientURL, "hub", o.Hub,
			"took", time.Since(began).Round(time.Millisecond))
		return nil
	}
	if f.clustered {
		if a := srv.ClusterAddr(); a != nil {
			f.clusterURL = dialURL(a)
			if !a.IP.IsLoopback() && f.auth == nil {
				f.log.Warn("fabric accepts cluster routes beyond loopback without authentication: anyone who reaches it can join the fabric",
					"cluster", a.String())
			}
		}
		// The stream can be created only once a JetStream meta leader is
		// elected, which needs a majority of the members: do it in the
		// background so that members can start in any order.
		f.tasks.Go(f.keepStream)
		f.log.Info("fabric started in cluster mode",
			"name", o.Name, "data", o.DataDir, "listen", f.clientURL, "cluster", f.clusterURL,
			"routes", o.Routes, "replicas", o.Replicas, "took", time.Since(began).Round(time.Millisecond))
		return nil
	}

	sctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	stream, err := f.createStream(sctx, streamConfig(o))
	if err != nil {
		return fmt.Errorf("create stream %s in %s: %w: %s", StreamName, o.DataDir, err, storeAdvice(o.DataDir))
	}
	st := stream.CachedInfo().State
	f.log.Info("fabric started",
		"data", o.DataDir, "listen", f.clientURL, "first_seq", st.FirstSeq, "last_seq", st.LastSeq,
		"messages", st.Msgs, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// connectInProcess connects to srv in-process, reconnecting for ever (to
// the server running then: see currentServer), as nkey user kp (nil: no
// authentication), with extra options.
func connectInProcess(srv nats.InProcessConnProvider, name string, kp nkeys.KeyPair, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.InProcessServer(srv),
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
	}
	if kp != nil {
		auth, err := nkeyOption(kp)
		if err != nil {
			return nil, err
		}
		opts = append(opts, auth)
	}
	return nats.Connect("", append(opts, extra...)...)
}

// createStream creates the stream or updates its configuration. When
// nats-server could not load a damaged stream at start-up it removes the
// stream's directory, and creating the stream again can fail while that is
// under way; so failures are retried until ctx ends.
func (f *Fabric) createStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	wait := firstRetryWait
	for {
		stream, err := f.adminJS.CreateOrUpdateStream(ctx, cfg)
		if err == nil {
			return stream, nil
		}
		f.log.Warn("fabric stream create failed; retrying", "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// storeAdvice says what to do when the store under dir cannot be used.
func storeAdvice(dir string) string {
	return fmt.Sprintf("check that %s is a writable directory on a disk with free space; if its contents are damaged beyond repair, move %s aside and start again (members republish their reports from their outboxes)",
		dir, filepath.Join(dir, "jetstream"))
}

func streamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "phalanx signed reports",
		Subjects:    []string{ReportPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxMsgSize:  MaxMessageSize + maxHeaderSize,
		Duplicates:  min(duplicateWindow, o.MaxAge),
		Replicas:    o.Replicas,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		// No consumer outlives a minute without a pull (see
		// memberPermissions).
		ConsumerLimits: jetstream.StreamConsumerLimits{InactiveThreshold: consumerIdle},
	}
}

// dialURL returns a URL a client on this host can dial to reach a listener
// bound to a: an unspecified address (0.0.0.0, ::) becomes loopback.
func dialURL(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		if ip.To4() == nil && ip != nil {
			ip = net.IPv6loopback
		} else {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	u := url.URL{Scheme: "nats", Host: net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))}
	return u.String()
}

// ClientURL returns the URL NATS clients on this host can connect to, or ""
// when the Fabric does not listen on the network.
func (f *Fabric) ClientURL() string { return f.clientURL }

// ClusterURL returns the URL other members' servers can route to (for
// their Options.Routes), or "" when the Fabric is not clustered.
func (f *Fabric) ClusterURL() string { return f.clusterURL }

// LeafURL returns the URL leaf members' servers can connect to (for their
// Options.Hub), or "" without Options.LeafListen.
func (f *Fabric) LeafURL() string { return f.leafURL }

// storeDisabled reports whether nats-server switched this member's
// JetStream off (a leaf member has none: its stream is the hub's).
// While the health watch restarts the server, it is not: callers retry.
func (f *Fabric) storeDisabled() bool {
	return !f.leaf && !f.restarting.Load() && !f.server().JetStreamEnabled()
}

// Name returns the server's name (Options.Name or its default).
func (f *Fabric) Name() string { return f.name }

// LastSeq returns the stream sequence of the last stored message, 0 when
// the stream is empty.
func (f *Fabric) LastSeq() (uint64, error) {
	e, err := f.extent(context.Background())
	return e.last, err
}

// extent is how far the stream reaches, as its leader says.
type extent struct {
	first, last uint64 // last is 0 when the stream holds nothing
	deleted     uint64 // messages deleted between first and last
}

// holdsFrom is the fewest messages the stream holds at or after seq.
func (e extent) holdsFrom(seq uint64) uint64 {
	lo := max(seq, e.first, 1)
	if e.last == 0 || lo > e.last {
		return 0
	}
	n := e.last - lo + 1
	return n - min(n, e.deleted)
}

// extent asks the stream's leader how far the stream reaches, until ctx
// ends or apiTimeout passes.
func (f *Fabric) extent(ctx context.Context) (extent, error) {
	if f.closed() {
		return extent{}, ErrClosed
	}
	if f.storeDisabled() {
		return extent{}, ErrStoreDisabled
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var s jetstream.Stream
	err := briefly(ctx, func(ctx context.Context) (err error) {
		s, err = f.js.Stream(ctx, StreamName)
		return err
	})
	if err != nil {
		return extent{}, fmt.Errorf("read stream %s: %w", StreamName, err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		// Everything aged out or was purged: no message carries LastSeq,
		// and there is nothing to replay.
		return extent{}, nil
	}
	return extent{first: st.FirstSeq, last: st.LastSeq, deleted: uint64(max(st.NumDeleted, 0))}, nil
}

// StreamLeader returns the name (Options.Name) of the server that leads
// the stream's replicas, this one's for a Fabric that is not clustered, or
// "" when the stream has no leader or does not answer before ctx ends.
func (f *Fabric) StreamLeader(ctx context.Context) string {
	if f.closed() || f.storeDisabled() {
		return ""
	}
	s, err := f.js.Stream(ctx, StreamName)
	if err != nil {
		return ""
	}
	if c := s.CachedInfo().Cluster; c != nil {
		return c.Leader
	}
	return f.name
}

func (f *Fabric) closed() bool { return f.life.Err() != nil }

// Close stops consumers, drains the client connection, shuts the server
// down (it flushes the store) and releases the data directory. Calls to
// Consume return; a callback already running finishes on its own.
func (f *Fabric) Close() error {
	f.closeOnce.Do(func() {
		f.end()
		f.tasks.Wait()
		f.restartMu.Lock() // a restart under way ends first (it sees Close)
		defer f.restartMu.Unlock()
		f.closeErr = f.shutdown()
	})
	return f.closeErr
}

func (f *Fabric) shutdown() error {
	var errs []error
	if f.adminNC != nil {
		f.adminNC.Close()
	}
	if f.nc != nil {
		if err := f.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			f.nc.Close()
		}
		select {
		case <-f.ncClosed:
		case <-time.After(drainTimeout):
			errs = append(errs, fmt.Errorf("drain fabric client: not done after %v", drainTimeout))
			f.nc.Close()
		}
	}
	if srv := f.server(); srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	if f.unlock != nil {
		if err := f.unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
