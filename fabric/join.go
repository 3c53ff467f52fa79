package fabric

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"phalanx/identity"
)

const (
	// MaxJoinSize is the largest join request ServeJoin passes on and
	// RequestJoin sends.
	MaxJoinSize = 64 << 10
	// joinTimeout bounds one join request (connect and answer) at one
	// address.
	joinTimeout = 10 * time.Second
	// joinRetry is the pause before asking again when no member answers
	// join requests yet.
	joinRetry = 200 * time.Millisecond
	// servePending bounds the requests waiting for ServeJoin's or Serve's
	// handler; beyond it they are dropped.
	servePending = 64
)

// ServeJoin answers guests' join requests (see Options.Guest and
// RequestJoin) until ctx ends, then returns ctx.Err() (ErrClosed when the
// Fabric closes first). It subscribes to JoinPrefix+"*" on an in-process
// connection and calls h one request at a time with the invite id (the
// subject's last token, identity.MemberID of the invite's key) and the
// request; h's answer goes back to the guest. h returns nil to send no
// answer, for instance for an invite another member issued: in a cluster
// every member that runs ServeJoin sees every join request.
//
// Requests over MaxJoinSize, requests whose subject is not an invite id,
// and requests whose reply subject is not the guest's own inbox are
// dropped and logged (the answer carries the charter, and a guest chooses its
// reply subject). Answers over MaxReplySize are dropped and logged.
func (f *Fabric) ServeJoin(ctx context.Context, h func(inviteID string, req []byte) []byte) error {
	if f.closed() {
		return ErrClosed
	}
	// The stream manager's connection: members have no right to read
	// join requests, nor to answer them.
	nc := f.nc
	if f.adminNC != nil {
		nc = f.adminNC
	}
	// A guest may send as many bad requests as it likes: their warnings
	// are rate-limited, and counted (Noise).
	drops := newWarnLimit(f.log, &f.noise.joinDropped, &f.noise.notLogged)
	return f.serve(ctx, nc, JoinPrefix+"*", "join", func(m *nats.Msg) { f.answerJoin(nc, m, h, drops) })
}

// serve subscribes nc to subject and hands each message to answer, one at
// a time, until ctx ends (ctx.Err()) or the Fabric closes (ErrClosed).
func (f *Fabric) serve(ctx context.Context, nc *nats.Conn, subject, what string, answer func(*nats.Msg)) error {
	ch := make(chan *nats.Msg, servePending)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		return fmt.Errorf("serve %s requests: subscribe: %w", what, err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("serve %s requests: subscribe: %w", what, err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.life.Done():
			return ErrClosed
		case m := <-ch:
			answer(m)
		}
	}
}

func (f *Fabric) answerJoin(nc *nats.Conn, m *nats.Msg, h func(string, []byte) []byte, drops *warnLimit) {
	invite := strings.TrimPrefix(m.Subject, JoinPrefix)
	switch {
	case !identity.IsID(invite):
		drops.warn("fabric dropped a join request on a subject that names no invite", "subject", m.Subject)
		return
	case len(m.Data) > MaxJoinSize:
		drops.warn("fabric dropped an oversized join request", "invite", invite, "bytes", len(m.Data), "limit", MaxJoinSize)
		return
	case !strings.HasPrefix(m.Reply, guestInbox(invite)+"."):
		drops.warn("fabric dropped a join request whose reply subject is not the guest's inbox", "invite", invite, "reply", m.Reply)
		return
	}
	reply := h(invite, m.Data)
	if reply == nil {
		return
	}
	if len(reply) > MaxReplySize {
		f.log.Error("fabric dropped an oversized answer to a join request", "invite", invite, "bytes", len(reply), "limit", MaxReplySize)
		return
	}
	if err := nc.Publish(m.Reply, reply); err != nil {
		f.log.Warn("fabric could not answer a join request", "invite", invite, "err", err)
	}
}

// RequestJoin sends a join request as the guest whose invite key has the
// 32-byte ed25519 seed inviteSeed: it dials each "host:port" of addrs in
// turn (the members' fabric client addresses), authenticated as the
// invite's nkey user, requests on JoinPrefix+identity.MemberID(invite
// key), over TLS, and returns the first answer. It cannot tell a member's
// certificate from another's yet (it knows no member key): whoever answers
// must hold some ed25519 key, and the daemon checks the answer against
// the signed token. Each address gets 10 s, or less when
// ctx ends sooner. The error says which addresses were tried and what
// failed at each.
func RequestJoin(ctx context.Context, addrs []string, inviteSeed []byte, req []byte) ([]byte, error) {
	switch {
	case len(inviteSeed) != ed25519.SeedSize:
		return nil, fmt.Errorf("join request: invite seed has %d bytes, want %d: copy the whole join token", len(inviteSeed), ed25519.SeedSize)
	case len(req) > MaxJoinSize:
		return nil, fmt.Errorf("join request: %d bytes is larger than the limit of %d", len(req), MaxJoinSize)
	case len(addrs) == 0:
		return nil, errors.New("join request: no fabric address to dial: the join token lists none")
	}
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, inviteSeed)
	if err != nil {
		return nil, fmt.Errorf("join request: invite key: %w", err)
	}
	id := identity.MemberID(ed25519.NewKeyFromSeed(inviteSeed).Public().(ed25519.PublicKey))
	var failed []string
	for _, addr := range addrs {
		reply, err := requestJoinAt(ctx, addr, kp, id, req)
		if err == nil {
			return reply, nil
		}
		failed = append(failed, fmt.Sprintf("%s: %v", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("join request as invite %s failed at every address tried (%s): check that the token is current (an invite works once, until it expires) and that this host reaches a member's fabric address",
		id, strings.Join(failed, "; "))
}

// requestJoinAt makes one join request through the server at addr.
func requestJoinAt(ctx context.Context, addr string, kp nkeys.KeyPair, id string, req []byte) ([]byte, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("not host:port: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	dial := joinTimeout
	if d, ok := ctx.Deadline(); ok {
		dial = time.Until(d)
	}
	if dial <= 0 {
		return nil, ctx.Err()
	}
	auth, err := nkeyOption(kp)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect("nats://"+addr, auth,
		nats.Secure(guestTLS()), nats.TLSHandshakeFirst(),
		nats.Name("phalanx join"),
		nats.CustomInboxPrefix(guestInbox(id)),
		nats.NoReconnect(),
		nats.Timeout(dial))
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, errors.New("the member refused the invite key (unknown, already used or expired invite)")
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	m, err := nc.RequestWithContext(ctx, JoinPrefix+id, req)
	// A member that has just started answers joins a moment after its
	// server accepts connections: ask again until the time is up.
	for errors.Is(err, nats.ErrNoResponders) {
		select {
		case <-ctx.Done():
			return nil, errors.New("no member answers join requests there")
		case <-time.After(joinRetry):
		}
		m, err = nc.RequestWithContext(ctx, JoinPrefix+id, req)
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, errors.New("no member answers join requests there")
	case errors.Is(err, context.DeadlineExceeded):
		return nil, errors.New("no answer in time (is the invite this alliance's, and its inviting member up?)")
	case err != nil:
		return nil, fmt.Errorf("request: %w", err)
	case len(m.Data) > MaxReplySize:
		return nil, fmt.Errorf("answer of %d bytes is larger than the limit of %d", len(m.Data), MaxReplySize)
	}
	return m.Data, nil
}
