package fabric

import "github.com/nats-io/nats-server/v2/server"

// leafPermissions are what member id's server may do as a leaf node of
// this (hub) server, seen from the leaf as nats-server expects them (it
// reverses them inside the hub): what member id may do as a client,
// through the hub's JetStream domain, but without response permissions,
// which nats-server does not apply to leaf connections. A leaf member's
// Serve answers are therefore refused by the hub; its Requests work.
func leafPermissions(id string) *server.Permissions {
	p := memberPermissions(id)
	p.Response = nil
	return p
}
