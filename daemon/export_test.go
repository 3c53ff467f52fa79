package daemon

import (
	"context"

	"phalanx/identity"
)

// IdentityForTest returns the member's identity, private key included, so
// that a test can play the member turning malicious with its real key.
func (d *Daemon) IdentityForTest() *identity.Identity { return d.id }

// PublishForTest publishes data as member's report with msgID through the
// member's own fabric connection, bypassing the outbox and its sequence.
func (d *Daemon) PublishForTest(ctx context.Context, member, msgID string, data []byte) (uint64, error) {
	return d.fab.Publish(ctx, member, msgID, data)
}
