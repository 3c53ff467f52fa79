package fabric

import (
	"time"
	_ "unsafe" // go:linkname

	"github.com/nats-io/nats-server/v2/server"
)

// How soon a hub member dials a cluster route again after a failed
// attempt. nats-server fixes it at 1 s (its package variable
// routeConnectDelay, which it changes only in its own tests; no option
// sets it) on top of the attempt itself, which lasts up to the 1 s dial
// timeout when the peer does not answer: a member cut off tries each peer
// every 2 s, and after the network returns its routes come back up to
// 2 s later (measured in namespaces: 1.75 s; the reports follow within
// 0.1 s). routeRedial shortens the wait between attempts, so the network's
// return is seen within routeRedial plus the dial timeout (1.25 s); the
// dial timeout stays, so that a distant peer whose handshake takes close to
// a second still connects.
//
// An attempt at a peer that does not answer costs a SYN; one at a host
// whose fabric is down, a refused connection. nats-server logs each failed
// attempt, and the fabric's server log limits them (serverLogger).
const routeRedial = 250 * time.Millisecond

// routeConnectDelay is nats-server's wait between two failed attempts at
// a route. It is set once, in init, before any server of the process
// starts (nats-server reads it when an attempt fails), and never again;
// every nats-server of the process then shares the value.
//
//go:linkname routeConnectDelay github.com/nats-io/nats-server/v2/server.routeConnectDelay
var routeConnectDelay time.Duration

// The server package must be linked in for the name above to resolve.
var _ = server.VERSION

func init() {
	// Only ever shortened: a nats-server that waits less already (a later
	// version) keeps its own wait.
	if routeConnectDelay > routeRedial {
		routeConnectDelay = routeRedial
	}
}
