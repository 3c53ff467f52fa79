package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

const (
	// MaxRequestSize is the largest request Serve passes on and Request
	// sends.
	MaxRequestSize = 64 << 10
	// maxKindLen bounds a request kind.
	maxKindLen = 32
)

// ErrNoResponder means no one answers that kind of request for that
// member: it is down, unreachable, or does not Serve that kind.
var ErrNoResponder = errors.New("the member does not answer this kind of request (is it up, reachable and serving it?)")

// ValidKind reports whether kind can name a kind of request: 1 to 32
// lowercase ASCII letters, digits or '-'.
func ValidKind(kind string) bool {
	if len(kind) == 0 || len(kind) > maxKindLen {
		return false
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// requester is the id requests to this member are addressed to: its
// member id with Options.Members, else the server's name.
func (f *Fabric) requester() string {
	if f.self != "" {
		return f.self
	}
	return f.name
}

// Serve answers other members' requests of one kind (for gap repair, say)
// until ctx ends, then returns ctx.Err() (ErrClosed when the Fabric closes
// first). It subscribes to RequestPrefix+self+"."+kind, where self is this
// member's id (with Options.Members; else Options.Name), and calls h one
// request at a time; h's answer goes back to the requester (nil sends an
// empty answer). Requests over MaxRequestSize and requests whose reply
// subject is not an inbox ("_INBOX.") are dropped and logged, and so are
// answers over MaxReplySize (the requester then times out).
//
// With Options.Members, a member may subscribe only to its own request
// subjects and answers through nats-server's response permission: once,
// within a minute, to the reply subject of a request it received. Every
// requester is then a member (a guest may publish only its join request),
// and a member reads answers only below its own inbox prefix
// (memberInbox): a request whose reply subject is not below a current
// member's prefix is dropped too, so that no member can make this one
// answer into a guest's inbox (where a join answer is awaited) or onto any
// other subject it chose. The drops' warnings are rate-limited; what the
// limit holds back is counted in Noise.LinesNotLogged.
//
// nats-server does not tell a subscriber who published a message, so a
// member can still name another member's prefix as its reply subject; the
// answer then goes where only that member may read (and its client drops
// answers to requests it did not make).
func (f *Fabric) Serve(ctx context.Context, kind string, h func(req []byte) []byte) error {
	if !ValidKind(kind) {
		return fmt.Errorf("serve requests: invalid kind %q: use 1 to %d lowercase letters, digits or '-'", kind, maxKindLen)
	}
	if f.closed() {
		return ErrClosed
	}
	subject := RequestPrefix + f.requester() + "." + kind
	drops := newWarnLimit(f.log, new(atomic.Uint64), &f.noise.notLogged)
	return f.serve(ctx, f.nc, subject, kind, func(m *nats.Msg) { f.answer(kind, m, h, drops) })
}

func (f *Fabric) answer(kind string, m *nats.Msg, h func([]byte) []byte, drops *warnLimit) {
	switch {
	case len(m.Data) > MaxRequestSize:
		drops.warn("fabric dropped an oversized request", "kind", kind, "bytes", len(m.Data), "limit", MaxRequestSize)
		return
	case !strings.HasPrefix(m.Reply, "_INBOX."):
		// The requester chooses the reply subject; answering on anything
		// but an inbox would publish on its behalf (on this member's
		// report subject, say).
		drops.warn("fabric dropped a request whose reply subject is not an inbox", "kind", kind, "reply", m.Reply)
		return
	case !f.memberReply(m.Reply):
		drops.warn("fabric dropped a request whose reply subject is not a member's inbox", "kind", kind, "reply", m.Reply)
		return
	}
	reply := h(m.Data)
	if len(reply) > MaxReplySize {
		f.log.Error("fabric dropped an oversized answer", "kind", kind, "bytes", len(reply), "limit", MaxReplySize)
		return
	}
	if err := f.nc.Publish(m.Reply, reply); err != nil {
		f.log.Warn("fabric could not answer a request", "kind", kind, "err", err)
	}
}

// memberReply reports whether reply may be answered as a member's: below
// the inbox prefix (memberInbox) of a current member, with at least one
// token of its own. Without Options.Members the requesters are not known,
// and any inbox will do.
func (f *Fabric) memberReply(reply string) bool {
	if f.auth == nil || f.auth.gate == nil {
		return true
	}
	rest, ok := strings.CutPrefix(reply, memberInbox("")) // "_INBOX.member."
	if !ok {
		return false
	}
	id, token, ok := strings.Cut(rest, ".")
	if !ok || id == "" || token == "" {
		return false
	}
	if id == f.self {
		return true
	}
	g := f.auth.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, member := range g.members {
		if member == id {
			return true
		}
	}
	return false
}

// Request asks member for kind with req and returns its answer (see
// Serve). ctx bounds the wait; without a deadline, 10 s. It returns an
// error wrapping ErrNoResponder at once when no one serves that kind for
// member.
func (f *Fabric) Request(ctx context.Context, member, kind string, req []byte) ([]byte, error) {
	switch {
	case !ValidMember(member):
		return nil, fmt.Errorf("request: invalid member %q: use 1 to %d letters, digits, '-' or '_'", member, maxMemberLen)
	case !ValidKind(kind):
		return nil, fmt.Errorf("request: invalid kind %q: use 1 to %d lowercase letters, digits or '-'", kind, maxKindLen)
	case len(req) > MaxRequestSize:
		return nil, fmt.Errorf("request %s from %s: %d bytes is larger than the limit of %d", kind, member, len(req), MaxRequestSize)
	}
	if f.closed() {
		return nil, ErrClosed
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, joinTimeout)
		defer cancel()
	}
	m, err := f.nc.RequestWithContext(ctx, RequestPrefix+member+"."+kind, req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("request %s from %s: %w", kind, member, ErrNoResponder)
	case err != nil:
		if f.closed() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("request %s from %s: %w", kind, member, err)
	case len(m.Data) > MaxReplySize:
		return nil, fmt.Errorf("request %s from %s: answer of %d bytes is larger than the limit of %d", kind, member, len(m.Data), MaxReplySize)
	}
	return m.Data, nil
}
